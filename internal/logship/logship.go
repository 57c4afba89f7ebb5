// Package logship ships structured log entries to the platform's log store
// (VictoriaLogs) in batches, without ever blocking the code that logs: the
// gateway's access log and the agent's function logs both go through it.
//
// Entries travel as JSON lines to
//
//	<base>/insert/jsonline?_stream_fields=service,env&_msg_field=message&_time_field=time
//
// so every entry should carry "service", "env" and "message"; Send adds
// "time" when it is missing.
package logship

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"time"
)

// InsertPath is VictoriaLogs' JSON-lines ingestion endpoint with the field
// mapping every ESB component uses.
const InsertPath = "/insert/jsonline?_stream_fields=service,env&_msg_field=message&_time_field=time"

// Defaults for the zero values of Options.
const (
	DefaultBufferSize = 4096
	DefaultBatchSize  = 500
	// DefaultFlushInterval is short because people wait on it: `esb logs -f`
	// and `esb invoke` read REPORT lines back from the store, and a line may
	// wait a whole interval here. Four small POSTs a second cost the store
	// nothing; batches still fill to BatchSize under load.
	DefaultFlushInterval = 250 * time.Millisecond
	DefaultFlushTimeout  = 5 * time.Second
)

// Options tunes a Shipper. The zero value is ready to use.
type Options struct {
	BufferSize    int           // entries held while the store is slow; more are dropped. DefaultBufferSize when zero
	BatchSize     int           // entries per POST at most. DefaultBatchSize when zero
	FlushInterval time.Duration // how long an entry may wait for a fuller batch. DefaultFlushInterval when zero
	FlushTimeout  time.Duration // bound on one POST, and on the final flush. DefaultFlushTimeout when zero
	HTTP          *http.Client  // http.DefaultClient when nil
	// Logger reports failed POSTs. It must not write back into this Shipper,
	// or a down log store would feed itself. Nil discards.
	Logger *slog.Logger
}

// Shipper buffers entries and POSTs them in batches. Send may be called
// from any goroutine; Run must be running for anything to be shipped.
type Shipper struct {
	url     string
	opts    Options
	lines   chan []byte
	dropped atomic.Uint64
	failed  atomic.Uint64
	shipped atomic.Uint64
}

// FunctionLine is the entry of one line of a function's log stream: what
// its container printed (shipped by the agent) or what Lambda writes
// around each invocation (START, END, REPORT; written by the gateway when
// no RIE in the container does). A zero at means now.
func FunctionLine(env, function, container, stream, line string, at time.Time) map[string]any {
	e := map[string]any{
		"service":   "function",
		"env":       env,
		"function":  function,
		"container": container,
		"stream":    stream,
		"message":   line,
	}
	if !at.IsZero() {
		e["time"] = at.UTC().Format(time.RFC3339Nano)
	}
	return e
}

// New returns a Shipper posting to the VictoriaLogs instance at baseURL,
// e.g. http://logs:9428.
func New(baseURL string, opts Options) *Shipper {
	if opts.BufferSize <= 0 {
		opts.BufferSize = DefaultBufferSize
	}
	if opts.BatchSize <= 0 {
		opts.BatchSize = DefaultBatchSize
	}
	if opts.FlushInterval <= 0 {
		opts.FlushInterval = DefaultFlushInterval
	}
	if opts.FlushTimeout <= 0 {
		opts.FlushTimeout = DefaultFlushTimeout
	}
	if opts.HTTP == nil {
		opts.HTTP = http.DefaultClient
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &Shipper{
		url:   strings.TrimSuffix(baseURL, "/") + InsertPath,
		opts:  opts,
		lines: make(chan []byte, opts.BufferSize),
	}
}

// Send queues one entry and returns at once. The entry is encoded before
// Send returns, so the caller may reuse the map. When the buffer is full
// the entry is dropped and counted (see Dropped): losing log lines beats
// slowing the request path down to the log store's pace.
func (s *Shipper) Send(entry map[string]any) {
	if _, ok := entry["time"]; !ok {
		withTime := make(map[string]any, len(entry)+1)
		for k, v := range entry {
			withTime[k] = v
		}
		withTime["time"] = time.Now().UTC().Format(time.RFC3339Nano)
		entry = withTime
	}
	line, err := json.Marshal(entry)
	if err != nil {
		s.dropped.Add(1)
		return
	}
	// VictoriaLogs silently ignores a last line without its newline.
	line = append(line, '\n')
	select {
	case s.lines <- line:
	default:
		s.dropped.Add(1)
	}
}

// Dropped counts entries lost: buffer full, not encodable, or part of a
// batch the log store did not accept.
func (s *Shipper) Dropped() uint64 { return s.dropped.Load() }

// Shipped counts entries the log store accepted.
func (s *Shipper) Shipped() uint64 { return s.shipped.Load() }

// Run ships batches until ctx ends, then flushes what is buffered (bounded
// by FlushTimeout) and returns. It returns nil: a log store that is down is
// not a reason to stop the service that logs.
func (s *Shipper) Run(ctx context.Context) error {
	ticker := time.NewTicker(s.opts.FlushInterval)
	defer ticker.Stop()
	var batch bytes.Buffer
	n := 0
	flush := func(ctx context.Context) {
		if n == 0 {
			return
		}
		s.post(ctx, batch.Bytes(), n)
		batch.Reset()
		n = 0
	}
	for {
		select {
		case line := <-s.lines:
			batch.Write(line)
			n++
			if n >= s.opts.BatchSize {
				flush(ctx)
			}
		case <-ticker.C:
			flush(ctx)
		case <-ctx.Done():
			// The owner is stopping: ship what is left.
		drain:
			for {
				select {
				case line := <-s.lines:
					batch.Write(line)
					n++
					if n >= s.opts.BatchSize {
						flush(ctx)
					}
				default:
					break drain
				}
			}
			flush(ctx)
			return nil
		}
	}
}

// post sends one batch of n lines. A batch already cut is sent even when
// ctx ends meanwhile (bounded by FlushTimeout): cancelling it half-way would
// drop lines that were about to be stored.
func (s *Shipper) post(ctx context.Context, body []byte, n int) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.opts.FlushTimeout)
	defer cancel()
	if err := s.do(ctx, body); err != nil {
		s.dropped.Add(uint64(n))
		// Log the first failure and then every 100th, so a log store that is
		// down for an hour does not flood the fallback log.
		if f := s.failed.Add(1); f == 1 || f%100 == 0 {
			s.opts.Logger.Warn("logship: batch dropped", "entries", n, "failures", f, "error", err.Error())
		}
		return
	}
	s.shipped.Add(uint64(n))
}

func (s *Shipper) do(ctx context.Context, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.url, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("log store request: %w", err)
	}
	req.Header.Set("Content-Type", "application/stream+json")
	resp, err := s.opts.HTTP.Do(req)
	if err != nil {
		return fmt.Errorf("log store post: %w", err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 1024)) // only for the error text
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("log store post: %w", &statusError{status: resp.StatusCode, body: strings.TrimSpace(string(msg))})
	}
	return nil
}

// statusError is a non-2xx answer of the log store.
type statusError struct {
	status int
	body   string
}

// Error gives the status and the start of the store's answer.
func (e *statusError) Error() string {
	return fmt.Sprintf("status %d: %s", e.status, e.body)
}
