// Package fnlogs follows the output of function containers: every line is
// shipped to the log store and the last lines of each container are kept
// in memory, so a container that never became ready can be reported with
// what it printed before it was removed.
package fnlogs

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/esb-dev/esb/internal/logship"
)

// Sink receives one entry per log line. *logship.Shipper implements it;
// Send must not block for long, as it runs on the container's log stream.
type Sink interface {
	Send(entry map[string]any)
}

// Follower streams a container's output; engine.Runtime implements it.
type Follower interface {
	FollowLogs(ctx context.Context, id string, since time.Time, stdout, stderr io.Writer) error
}

// Options tune a Collector; the zero value keeps 50 lines per container and
// ships nothing.
type Options struct {
	Sink         Sink   // nil: lines are only kept in memory
	Env          string // the env field of every shipped entry
	TailLines    int    // lines kept per container
	MaxLineBytes int    // longer lines are split, so one runaway line cannot grow memory
	Logger       *slog.Logger
}

// Source names the container a stream belongs to in shipped entries.
type Source struct {
	Function  string
	Container string // the container's readable name
}

// Collector owns one follower goroutine per container.
type Collector struct {
	ctx      context.Context
	follower Follower
	opts     Options

	wg      sync.WaitGroup
	mu      sync.Mutex
	streams map[string]*stream
}

type stream struct {
	done   chan struct{}
	cancel context.CancelFunc

	mu   sync.Mutex
	tail []string
}

// New returns a Collector whose followers run until ctx ends, their
// container stops, or Forget is called; Wait waits for them.
func New(ctx context.Context, follower Follower, opts Options) *Collector {
	if opts.TailLines <= 0 {
		opts.TailLines = 50
	}
	if opts.MaxLineBytes <= 0 {
		opts.MaxLineBytes = 16 << 10
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &Collector{ctx: ctx, follower: follower, opts: opts, streams: map[string]*stream{}}
}

// Follow starts following container id from since (zero: from its start).
// The returned channel is closed when the stream ends, which for a running
// container means it exited.
func (c *Collector) Follow(id string, src Source, since time.Time) <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	if s, ok := c.streams[id]; ok {
		return s.done
	}
	ctx, cancel := context.WithCancel(c.ctx)
	s := &stream{done: make(chan struct{}), cancel: cancel}
	c.streams[id] = s
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		defer close(s.done)
		defer cancel()
		stdout := c.writer(s, src, "stdout")
		stderr := c.writer(s, src, "stderr")
		err := c.follower.FollowLogs(ctx, id, since, stdout, stderr)
		stdout.flush()
		stderr.flush()
		if err != nil && ctx.Err() == nil {
			c.opts.Logger.Warn("follow function logs", "container", src.Container, "error", err)
		}
	}()
	return s.done
}

// Done returns the channel Follow returned for container id, closed when
// its stream ended; nil when id is not followed.
func (c *Collector) Done(id string) <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	if s, ok := c.streams[id]; ok {
		return s.done
	}
	return nil
}

// Tail returns the last lines container id printed, oldest first.
func (c *Collector) Tail(id string) []string {
	c.mu.Lock()
	s, ok := c.streams[id]
	c.mu.Unlock()
	if !ok {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.tail...)
}

// Forget stops following container id and drops its lines; call it once
// the container is removed.
func (c *Collector) Forget(id string) {
	c.mu.Lock()
	s, ok := c.streams[id]
	delete(c.streams, id)
	c.mu.Unlock()
	if ok {
		s.cancel()
	}
}

// Wait blocks until every follower has ended; cancel the Collector's
// context first.
func (c *Collector) Wait() { c.wg.Wait() }

func (c *Collector) writer(s *stream, src Source, name string) *lineWriter {
	return &lineWriter{max: c.opts.MaxLineBytes, emit: func(line string) {
		s.mu.Lock()
		if len(s.tail) == c.opts.TailLines {
			copy(s.tail, s.tail[1:])
			s.tail = s.tail[:len(s.tail)-1]
		}
		s.tail = append(s.tail, line)
		s.mu.Unlock()
		if c.opts.Sink != nil {
			c.opts.Sink.Send(logship.FunctionLine(c.opts.Env, src.Function, src.Container, name, line, time.Time{}))
		}
	}}
}

// lineWriter cuts a byte stream into lines. Writes come from one goroutine
// (the follower), so it needs no lock of its own.
type lineWriter struct {
	max  int
	buf  []byte
	emit func(string)
}

// Write implements io.Writer. It always takes all of p: an error would end
// the log stream of a container that is still running.
func (w *lineWriter) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			w.buf = append(w.buf, p...)
			break
		}
		w.buf = append(w.buf, p[:i]...)
		w.line()
		p = p[i+1:]
	}
	for len(w.buf) >= w.max {
		w.emit(string(w.buf[:w.max]))
		w.buf = append(w.buf[:0], w.buf[w.max:]...)
	}
	return n, nil
}

func (w *lineWriter) line() {
	for len(w.buf) > w.max {
		w.emit(string(w.buf[:w.max]))
		w.buf = w.buf[w.max:]
	}
	w.emit(string(bytes.TrimSuffix(w.buf, []byte("\r"))))
	w.buf = w.buf[:0]
}

func (w *lineWriter) flush() {
	if len(w.buf) > 0 {
		w.line()
	}
}
