package httpapi

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
)

// accessQueue is how many access log lines may wait for the writer; past
// that a request writes its own line (later, never lost).
const accessQueue = 1024

// accessLine is one request's access log line, taken from the request
// before its echo.Context is recycled.
type accessLine struct {
	level  slog.Level
	msg    string
	start  time.Time
	fields []slog.Attr
	synced chan struct{} // a flush marker: closed once the lines before it are written
}

// accessWriter writes access log lines off the request path: encoding
// JSON and writing to stdout (a pipe to Docker's log driver) cost as much
// as a proxy hop, and a client waiting on keep-alive for its next answer
// should not pay for the previous request's log. Lines are queued and
// written in order by one goroutine until the server's context ends; a
// full queue, or an ended one, makes the request write its own line.
type accessWriter struct {
	write func(accessLine)
	lines chan accessLine
	// ending is closed when the context ends, before ended is set: it
	// frees a sync waiting on a full queue, which holds mu.
	ending   chan struct{}
	finished chan struct{} // closed once the last queued line is written
	mu       sync.RWMutex
	ended    bool // no line is queued any more
}

func newAccessWriter(ctx context.Context, write func(accessLine)) *accessWriter {
	w := &accessWriter{
		write:    write,
		lines:    make(chan accessLine, accessQueue),
		ending:   make(chan struct{}),
		finished: make(chan struct{}),
	}
	go w.run(ctx)
	return w
}

// log queues l, or writes it at once when the queue is full or ended.
func (w *accessWriter) log(l accessLine) {
	w.mu.RLock()
	if !w.ended {
		select {
		case w.lines <- l:
			w.mu.RUnlock()
			return
		default:
		}
	}
	w.mu.RUnlock()
	w.write(l)
}

// sync returns once every line queued before it is written, or ctx ends.
func (w *accessWriter) sync(ctx context.Context) error {
	done := make(chan struct{})
	w.mu.RLock()
	if w.ended {
		done = w.finished // the last drain writes what is queued
	} else {
		select {
		case w.lines <- accessLine{synced: done}:
		case <-w.ending:
			done = w.finished
		case <-ctx.Done():
			w.mu.RUnlock()
			return fmt.Errorf("flush access log: %w", ctx.Err())
		}
	}
	w.mu.RUnlock()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("flush access log: %w", ctx.Err())
	}
}

func (w *accessWriter) run(ctx context.Context) {
	for {
		select {
		case l := <-w.lines:
			w.handle(l)
		case <-ctx.Done():
			// No line is queued after this; write those already queued.
			close(w.ending)
			w.mu.Lock()
			w.ended = true
			w.mu.Unlock()
			for {
				select {
				case l := <-w.lines:
					w.handle(l)
				default:
					close(w.finished)
					return
				}
			}
		}
	}
}

func (w *accessWriter) handle(l accessLine) {
	if l.synced != nil {
		close(l.synced)
		return
	}
	w.write(l)
}

// accessLog logs one JSON line per request, to Logger and to AccessLog when
// set, after the answer has left.
func (s *Server) accessLog(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		err := next(c)
		if err != nil {
			c.Error(err) // answer now, so the line below has the real status
		}
		req, res := c.Request(), c.Response()
		// The answer leaves before the line is written. Only a sized answer
		// is flushed; flushing an unsized one would switch it to chunked
		// encoding.
		if res.Committed && res.Header().Get(echo.HeaderContentLength) != "" {
			res.Flush()
		}
		start, _ := c.Get(keyStart).(time.Time)
		ai := info(c)
		level := slog.LevelInfo
		if ai.kind == "health" {
			level = slog.LevelDebug // container healthchecks every few seconds are noise
		}
		if !s.opts.Logger.Enabled(req.Context(), level) && (s.opts.AccessLog == nil || level < slog.LevelInfo) {
			return nil
		}
		// Built in a fixed order so stdout lines read the same way every time.
		fields := []slog.Attr{
			slog.String("kind", ai.kind),
			slog.String("method", req.Method),
			slog.String("path", req.URL.Path),
			slog.Int("status", res.Status),
			slog.Float64("duration_ms", float64(time.Since(start).Microseconds())/1000),
			slog.Int64("bytes_in", req.ContentLength),
			slog.Int64("bytes_out", res.Size),
			slog.String("remote_ip", c.RealIP()),
			slog.String("user_agent", req.UserAgent()),
			slog.String("request_id", requestID(c)),
			slog.String("trace_id", traceID(c)),
		}
		if ai.function != "" {
			fields = append(fields, slog.String("function", ai.function))
		}
		if ai.route != "" {
			fields = append(fields, slog.String("route", ai.route))
		}
		if ai.invoked {
			fields = append(fields, slog.Bool("cold", ai.cold), slog.Float64("invoke_ms", float64(ai.invokeDur.Microseconds())/1000))
		}
		if ai.caller != "" {
			fields = append(fields, slog.String("caller", ai.caller))
		}
		if ai.outcome != "" {
			fields = append(fields, slog.String("outcome", ai.outcome))
		}
		s.access.log(accessLine{
			level:  level,
			msg:    fmt.Sprintf("%s %s %d", req.Method, req.URL.Path, res.Status),
			start:  start,
			fields: fields,
		})
		return nil
	}
}

// writeAccess writes one access log line to Logger and AccessLog.
func (s *Server) writeAccess(l accessLine) {
	s.opts.Logger.LogAttrs(context.Background(), l.level, l.msg, l.fields...)
	if s.opts.AccessLog == nil || l.level < slog.LevelInfo {
		return
	}
	entry := make(map[string]any, len(l.fields)+5)
	for _, f := range l.fields {
		entry[f.Key] = f.Value.Any()
	}
	entry["time"] = l.start.UTC().Format(time.RFC3339Nano)
	entry["service"] = "gateway"
	entry["env"] = s.opts.Env
	entry["level"] = strings.ToLower(l.level.String())
	entry["message"] = l.msg
	s.opts.AccessLog(entry)
}
