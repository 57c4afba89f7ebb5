package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/esb-dev/esb/internal/progress"
)

func TestLineRendererOneLinePerEvent(t *testing.T) {
	var out bytes.Buffer
	r := newLineRenderer(&out)
	r.Event(progress.Event{ID: "build", Status: progress.Working, Text: "building 2 function images"})
	r.Event(progress.Event{ID: "Hello", Parent: "build", Status: progress.Done, Text: "published sha256:abc"})
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	assert.Len(t, lines, 2)
	assert.Contains(t, lines[0], "[..] build: building 2 function images")
	assert.Contains(t, lines[1], "    [ok] Hello: published sha256:abc")
}

func TestTTYRendererRedrawsTheBlockInPlace(t *testing.T) {
	var out bytes.Buffer
	r := newTTYRenderer(&out)
	at := time.Now()
	r.Event(progress.Event{ID: "build", Status: progress.Working, Text: "building", At: at})
	r.Event(progress.Event{ID: "A", Parent: "build", Status: progress.Working, Text: "building python3.13", At: at})
	r.Event(progress.Event{ID: "A", Parent: "build", Status: progress.Done, Text: "published", At: at})

	frames := strings.Split(out.String(), "\x1b[")
	last := out.String()[strings.LastIndex(out.String(), "\x1b[2A"):]
	assert.Greater(t, len(frames), 3)
	assert.Contains(t, last, "[..] build: building")
	assert.Contains(t, last, "    [ok] A: published")
	assert.NotContains(t, last, "building python3.13", "the step's line was replaced, not appended")
}

func TestSelectRenderer(t *testing.T) {
	assert.IsType(t, progress.Discard{}, selectRenderer(&bytes.Buffer{}, true, true))
	assert.IsType(t, &ttyRenderer{}, selectRenderer(&bytes.Buffer{}, true, false))
	assert.IsType(t, &lineRenderer{}, selectRenderer(&bytes.Buffer{}, false, false))
	assert.False(t, isTerminal(&bytes.Buffer{}))
}
