// Package logwait is a test helper: an slog.Handler that keeps every record
// so a test can wait for the one that marks an asynchronous step (a reload
// rejected, a retry scheduled) instead of sleeping.
package logwait

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
)

// Record is one log record, flattened.
type Record struct {
	Level   slog.Level
	Message string
	Attrs   map[string]any
}

// String renders the record for failure messages.
func (r Record) String() string { return fmt.Sprintf("%s %q %v", r.Level, r.Message, r.Attrs) }

// Recorder collects records. Create it with New.
type Recorder struct {
	mu      sync.Mutex
	records []Record
	changed chan struct{} // closed and replaced on every record
	attrs   []slog.Attr
	shared  *Recorder // the root, which holds the records
}

// New returns a Recorder and a logger writing to it at every level.
func New() (*Recorder, *slog.Logger) {
	r := &Recorder{changed: make(chan struct{})}
	r.shared = r
	return r, slog.New(r)
}

// Enabled implements slog.Handler: everything is recorded.
func (r *Recorder) Enabled(context.Context, slog.Level) bool { return true }

// Handle implements slog.Handler.
func (r *Recorder) Handle(_ context.Context, rec slog.Record) error {
	attrs := make(map[string]any)
	for _, a := range r.attrs {
		attrs[a.Key] = a.Value.Any()
	}
	rec.Attrs(func(a slog.Attr) bool {
		attrs[a.Key] = a.Value.Any()
		return true
	})
	root := r.shared
	root.mu.Lock()
	root.records = append(root.records, Record{Level: rec.Level, Message: rec.Message, Attrs: attrs})
	close(root.changed)
	root.changed = make(chan struct{})
	root.mu.Unlock()
	return nil
}

// WithAttrs implements slog.Handler.
func (r *Recorder) WithAttrs(as []slog.Attr) slog.Handler {
	return &Recorder{attrs: append(append([]slog.Attr(nil), r.attrs...), as...), shared: r.shared}
}

// WithGroup implements slog.Handler; groups are flattened away.
func (r *Recorder) WithGroup(string) slog.Handler { return r }

// Records returns a copy of everything recorded so far.
func (r *Recorder) Records() []Record {
	root := r.shared
	root.mu.Lock()
	defer root.mu.Unlock()
	return append([]Record(nil), root.records...)
}

// Count is how many records so far have a message containing msg.
func (r *Recorder) Count(msg string) int {
	n := 0
	for _, rec := range r.Records() {
		if strings.Contains(rec.Message, msg) {
			n++
		}
	}
	return n
}

// Wait blocks until the n-th record (1-based) whose message contains msg
// exists, and returns it. The guard only turns a hang into a readable
// failure; nothing is timed.
func (r *Recorder) Wait(t testing.TB, msg string, n int) Record {
	t.Helper()
	guard := time.NewTimer(30 * time.Second)
	defer guard.Stop()
	for {
		root := r.shared
		root.mu.Lock()
		seen := 0
		for _, rec := range root.records {
			if strings.Contains(rec.Message, msg) {
				seen++
				if seen == n {
					root.mu.Unlock()
					return rec
				}
			}
		}
		changed := root.changed
		root.mu.Unlock()
		select {
		case <-changed:
		case <-guard.C:
			t.Fatalf("no record %d containing %q; got:\n%v", n, msg, r.Records())
		}
	}
}
