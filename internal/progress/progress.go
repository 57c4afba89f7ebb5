// Package progress carries what long steps report while they run. Steps
// emit typed events to a Sink passed in; rendering them (live lines on a
// terminal, plain lines in CI, nothing with --quiet) is the CLI's job.
package progress

import "time"

// Status is where a step stands.
type Status string

// Statuses, in the order a step goes through them.
const (
	Working Status = "working"
	Done    Status = "done"
	Skipped Status = "skipped" // nothing to do, e.g. an unchanged function
	Warning Status = "warning" // done, with something the user should read
	Failed  Status = "failed"
)

// Event is one update of one step.
type Event struct {
	ID     string // stable per step, e.g. "build HelloFunction"
	Parent string // phase the step belongs to, "" for a phase itself
	Status Status
	Text   string // short, for people
	At     time.Time
}

// Sink receives events. Implementations must be safe for concurrent use:
// functions build in parallel.
type Sink interface {
	Event(Event)
}

// Discard drops every event.
type Discard struct{}

// Event implements Sink.
func (Discard) Event(Event) {}

// SinkFunc adapts a function to a Sink.
type SinkFunc func(Event)

// Event implements Sink.
func (f SinkFunc) Event(e Event) { f(e) }
