package main

import (
	"fmt"
	"io"
	"os"
	"strings"
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

// ttyRenderer keeps one live line per phase and per function on a
// terminal: each event redraws the block in place, so a long build shows
// which functions are still working.
type ttyRenderer struct {
	mu    sync.Mutex
	w     io.Writer
	start time.Time
	order []string                  // step ids, in first-seen order
	steps map[string]progress.Event // latest event per step
	drawn int                       // lines drawn by the last frame
}

func newTTYRenderer(w io.Writer) *ttyRenderer {
	return &ttyRenderer{w: w, start: time.Now(), steps: map[string]progress.Event{}}
}

// Event implements progress.Sink.
func (r *ttyRenderer) Event(e progress.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if e.At.IsZero() {
		e.At = time.Now()
	}
	key := e.Parent + "/" + e.ID
	if _, ok := r.steps[key]; !ok {
		r.order = append(r.order, key)
	}
	r.steps[key] = e
	var b strings.Builder
	if r.drawn > 0 {
		fmt.Fprintf(&b, "\x1b[%dA", r.drawn) // back to the top of the block
	}
	for _, k := range r.order {
		s := r.steps[k]
		indent := ""
		if s.Parent != "" {
			indent = "    "
		}
		fmt.Fprintf(&b, "\x1b[2K%6.1fs %s[%s] %s: %s\n", s.At.Sub(r.start).Seconds(), indent, statusMark(s.Status), s.ID, s.Text)
	}
	r.drawn = len(r.order)
	_, _ = io.WriteString(r.w, b.String())
}

// selectRenderer picks how progress is shown: nothing with --quiet, live
// lines on a terminal, one line per event otherwise (CI logs, pipes).
func selectRenderer(w io.Writer, terminal, quiet bool) progress.Sink {
	switch {
	case quiet:
		return progress.Discard{}
	case terminal:
		return newTTYRenderer(w)
	default:
		return newLineRenderer(w)
	}
}

// isTerminal reports whether f is a character device, as a terminal is.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
