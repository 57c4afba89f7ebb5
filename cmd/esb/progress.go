package main

import (
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/esb-dev/esb/internal/progress"
)

// lineRenderer prints one line per progress event to stderr: phases flush
// left, steps of a phase (functions) indented under it, with the time since
// the start. It suits terminals and CI logs alike.
type lineRenderer struct {
	mu    sync.Mutex
	w     io.Writer
	start time.Time
}

func newLineRenderer(w io.Writer) *lineRenderer {
	return &lineRenderer{w: w, start: time.Now()}
}

func statusMark(s progress.Status) string {
	switch s {
	case progress.Working:
		return ".."
	case progress.Done:
		return "ok"
	case progress.Skipped:
		return "--"
	case progress.Warning:
		return "!!"
	default:
		return "XX"
	}
}

// Event implements progress.Sink.
func (r *lineRenderer) Event(e progress.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	at := e.At
	if at.IsZero() {
		at = time.Now()
	}
	indent := ""
	if e.Parent != "" {
		indent = "    "
	}
	fmt.Fprintf(r.w, "%6.1fs %s[%s] %s: %s\n", at.Sub(r.start).Seconds(), indent, statusMark(e.Status), e.ID, e.Text)
}
