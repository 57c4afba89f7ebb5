package logship

import (
	"context"
	"log/slog"
)

// Handler passes every record on to the next handler and also sends those
// at Info and above to the log store, so a service's own lines sit beside
// the access log and the function logs. Groups are flattened.
type Handler struct {
	next    slog.Handler
	send    func(map[string]any)
	service string
	env     string
	attrs   []slog.Attr
}

// NewHandler tees next's records to send (a Shipper's Send) as entries of
// service in env. The Shipper's own Logger must not use it: a down log
// store would feed itself.
func NewHandler(next slog.Handler, send func(map[string]any), service, env string) *Handler {
	return &Handler{next: next, send: send, service: service, env: env}
}

// Enabled follows the next handler.
func (h *Handler) Enabled(ctx context.Context, l slog.Level) bool { return h.next.Enabled(ctx, l) }

// Handle sends the record and passes it on.
func (h *Handler) Handle(ctx context.Context, r slog.Record) error {
	if r.Level >= slog.LevelInfo {
		entry := make(map[string]any, len(h.attrs)+r.NumAttrs()+5)
		add := func(a slog.Attr) bool {
			v := a.Value.Resolve()
			switch v.Kind() {
			case slog.KindString, slog.KindInt64, slog.KindUint64, slog.KindFloat64, slog.KindBool:
				entry[a.Key] = v.Any()
			default:
				entry[a.Key] = v.String()
			}
			return true
		}
		for _, a := range h.attrs {
			add(a)
		}
		r.Attrs(add)
		// The stream fields and the message win over attributes of the
		// same name.
		entry["service"], entry["env"], entry["message"] = h.service, h.env, r.Message
		entry["level"] = levelName(r.Level)
		if !r.Time.IsZero() {
			entry["time"] = r.Time.UTC().Format("2006-01-02T15:04:05.999999999Z07:00")
		}
		h.send(entry)
	}
	return h.next.Handle(ctx, r)
}

// WithAttrs keeps the attributes for both sides.
func (h *Handler) WithAttrs(as []slog.Attr) slog.Handler {
	c := *h
	c.next = h.next.WithAttrs(as)
	c.attrs = append(append([]slog.Attr(nil), h.attrs...), as...)
	return &c
}

// WithGroup groups on the next handler only.
func (h *Handler) WithGroup(name string) slog.Handler {
	c := *h
	c.next = h.next.WithGroup(name)
	return &c
}

func levelName(l slog.Level) string {
	switch {
	case l >= slog.LevelError:
		return "error"
	case l >= slog.LevelWarn:
		return "warn"
	}
	return "info"
}
