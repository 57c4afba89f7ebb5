// Package server is the events service's HTTP API (internal/eventsapi):
// the gateway hands over Event invocations here, and each is answered only
// once it is stored.
package server

import (
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/esb-dev/esb/internal/eventsapi"
	"github.com/esb-dev/esb/services/events/queue"
)

// Server serves eventsapi.
type Server struct {
	store *queue.Store
	log   *slog.Logger
	now   func() time.Time
}

// New returns the API over store.
func New(store *queue.Store, log *slog.Logger) *Server {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Server{store: store, log: log, now: time.Now}
}

// Handler routes the API.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/async/{function}", s.enqueue)
	mux.HandleFunc("GET /v1/health", s.health)
	return mux
}

func (s *Server) enqueue(w http.ResponseWriter, r *http.Request) {
	fn := r.PathValue("function")
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, eventsapi.MaxAsyncPayload))
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		writeError(w, http.StatusRequestEntityTooLarge, "payload over the asynchronous invocation limit")
		return
	case err != nil:
		writeError(w, http.StatusBadRequest, "read payload: "+err.Error())
		return
	case len(body) == 0:
		body = []byte("{}")
	case !json.Valid(body):
		writeError(w, http.StatusBadRequest, "payload is not JSON")
		return
	}
	now := s.now()
	ev := queue.Event{
		Kind:      queue.KindInvoke,
		Function:  fn,
		RequestID: r.Header.Get(eventsapi.HeaderRequestID),
		Payload:   body,
		Source:    "invoke",
		Received:  now,
		Due:       now,
	}
	added, err := s.store.Add(ev)
	if err != nil {
		s.log.Error("event not stored", "function", fn, "request_id", ev.RequestID, "error", err.Error())
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	s.log.Info("event accepted", "function", fn, "request_id", ev.RequestID, "event", added[0].ID, "bytes", len(body))
	w.WriteHeader(http.StatusAccepted)
}

func (s *Server) health(w http.ResponseWriter, _ *http.Request) {
	n, err := s.store.Len()
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"status": "ok", "pending": n}) // the client may be gone
}

func writeError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(eventsapi.Error{Message: msg}) // the client may be gone
}
