// Package server is the agent's HTTP API, exactly the endpoints of
// internal/agentapi. It decodes and validates requests, calls the pool and
// maps errors onto agentapi error codes; it holds no logic of its own.
package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"

	"github.com/esb-dev/esb/internal/agentapi"
	"github.com/esb-dev/esb/services/agent/engine"
	"github.com/esb-dev/esb/services/agent/launcher"
	"github.com/esb-dev/esb/services/agent/pool"
)

// maxBody bounds every request body; a desired state of a few hundred
// functions is far below it.
const maxBody = 1 << 20

// Pool is what the API needs from the pool; *pool.Pool implements it.
type Pool interface {
	Acquire(ctx context.Context, spec agentapi.FunctionSpec) (agentapi.Lease, error)
	Release(leaseID string, discard bool) error
	WaitExit(ctx context.Context, leaseID string) (agentapi.Exit, error)
	Memory(ctx context.Context, leaseID string) (agentapi.Memory, error)
	SetDesired(d agentapi.Desired) error
	Health() agentapi.Health
}

// Options are optional; the zero value reports an empty runtime name and
// logs nothing.
type Options struct {
	Runtime string // reported by /v1/health
	Logger  *slog.Logger
	// Polls, when done, ends the long polls (exit watches) in progress and
	// answers new ones Unavailable: a graceful shutdown waits for running
	// requests, and a watch of a healthy container would never end.
	Polls context.Context
	// Token, when set, is required (Authorization: Bearer) on every call
	// but /v1/health; a call without it gets 401 and is logged.
	Token string
	// Metrics, when set, serves GET /v1/metrics (Prometheus text format),
	// behind the token like every call but health: the gateway scrapes it
	// for the env's admin listener.
	Metrics http.Handler
	// Prepared, when set, reports the network namespaces the runtime
	// holds ready for cold starts (Health.Prepared).
	Prepared func() int
}

type server struct {
	pool Pool
	opts Options
}

// New returns the API handler.
func New(p Pool, opts Options) http.Handler {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	s := &server{pool: p, opts: opts}
	mux := http.NewServeMux()
	mux.HandleFunc("PUT /v1/functions", s.setDesired)
	mux.HandleFunc("POST /v1/functions/{name}/acquire", s.acquire)
	mux.HandleFunc("POST /v1/leases/{id}/release", s.release)
	mux.HandleFunc("GET /v1/leases/{id}/exit", s.waitExit)
	mux.HandleFunc("GET /v1/leases/{id}/memory", s.memory)
	mux.HandleFunc("GET /v1/health", s.health)
	if opts.Metrics != nil {
		mux.Handle("GET /v1/metrics", opts.Metrics)
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, agentapi.CodeNotFound, fmt.Sprintf("no endpoint %s %s", r.Method, r.URL.Path))
	})
	if opts.Token == "" {
		return mux
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Health stays open: the container's healthcheck has no token,
		// and it reveals the runtime's name alone.
		if r.URL.Path != "/v1/health" && !agentapi.Authorized(r, opts.Token) {
			opts.Logger.Warn("unauthenticated agent call refused", "method", r.Method, "path", r.URL.Path, "remote", r.RemoteAddr)
			writeError(w, http.StatusUnauthorized, agentapi.CodeUnauthorized, "the env's agent token is required")
			return
		}
		mux.ServeHTTP(w, r)
	})
}

func (s *server) setDesired(w http.ResponseWriter, r *http.Request) {
	var d agentapi.Desired
	if !decode(w, r, &d) {
		return
	}
	seen := make(map[string]bool, len(d.Functions))
	for i, f := range d.Functions {
		if err := validSpec(f); err != nil {
			writeError(w, http.StatusBadRequest, agentapi.CodeBadRequest, fmt.Sprintf("functions[%d]: %s", i, err))
			return
		}
		if seen[f.Name] {
			writeError(w, http.StatusBadRequest, agentapi.CodeBadRequest, fmt.Sprintf("functions[%d]: duplicate function %s", i, f.Name))
			return
		}
		seen[f.Name] = true
	}
	if err := s.pool.SetDesired(d); err != nil {
		s.fail(w, r, "desired state", err)
		return
	}
	s.opts.Logger.Info("desired state", "generation", d.Generation, "functions", len(d.Functions))
	w.WriteHeader(http.StatusNoContent)
}

func (s *server) acquire(w http.ResponseWriter, r *http.Request) {
	var req agentapi.AcquireRequest
	if !decode(w, r, &req) {
		return
	}
	if name := r.PathValue("name"); req.Spec.Name != name {
		writeError(w, http.StatusBadRequest, agentapi.CodeBadRequest, fmt.Sprintf("spec name %q does not match path %q", req.Spec.Name, name))
		return
	}
	if err := validSpec(req.Spec); err != nil {
		writeError(w, http.StatusBadRequest, agentapi.CodeBadRequest, err.Error())
		return
	}
	lease, err := s.pool.Acquire(r.Context(), req.Spec)
	if err != nil {
		s.fail(w, r, "acquire", err)
		return
	}
	writeJSON(w, http.StatusOK, lease)
}

func (s *server) release(w http.ResponseWriter, r *http.Request) {
	var req agentapi.ReleaseRequest
	if !decode(w, r, &req) {
		return
	}
	if err := s.pool.Release(r.PathValue("id"), req.Discard); err != nil {
		s.fail(w, r, "release", err)
		return
	}
	if req.Discard {
		s.opts.Logger.Info("lease discarded", "lease", r.PathValue("id"), "reason", req.Reason)
	}
	w.WriteHeader(http.StatusNoContent)
}

// waitExit answers once the leased container exited: the gateway's sign
// that the runtime it talks to is gone.
func (s *server) waitExit(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	if s.opts.Polls != nil {
		defer context.AfterFunc(s.opts.Polls, cancel)()
	}
	exit, err := s.pool.WaitExit(ctx, r.PathValue("id"))
	switch {
	case r.Context().Err() != nil:
		return // the gateway stopped watching
	case ctx.Err() != nil:
		writeError(w, http.StatusServiceUnavailable, agentapi.CodeUnavailable, "agent shutting down")
		return
	}
	if err != nil {
		s.fail(w, r, "wait for exit", err)
		return
	}
	writeJSON(w, http.StatusOK, exit)
}

func (s *server) memory(w http.ResponseWriter, r *http.Request) {
	m, err := s.pool.Memory(r.Context(), r.PathValue("id"))
	if err != nil {
		s.fail(w, r, "memory", err)
		return
	}
	writeJSON(w, http.StatusOK, m)
}

func (s *server) health(w http.ResponseWriter, _ *http.Request) {
	h := s.pool.Health()
	h.Runtime = s.opts.Runtime
	if s.opts.Prepared != nil {
		h.Prepared = s.opts.Prepared()
	}
	writeJSON(w, http.StatusOK, h)
}

// fail maps an error onto its code; errors without one are the agent's own
// fault and logged as such.
func (s *server) fail(w http.ResponseWriter, r *http.Request, op string, err error) {
	status, code := http.StatusInternalServerError, agentapi.CodeInternal
	switch {
	case errors.Is(err, pool.ErrUnknownLease):
		status, code = http.StatusNotFound, agentapi.CodeUnknownLease
	case errors.Is(err, launcher.ErrInvalidSpec):
		status, code = http.StatusBadRequest, agentapi.CodeBadRequest
	case errors.Is(err, launcher.ErrImagePull):
		status, code = http.StatusBadGateway, agentapi.CodeImagePullFailed
	case errors.Is(err, launcher.ErrStartTimeout):
		status, code = http.StatusGatewayTimeout, agentapi.CodeStartTimeout
	case errors.Is(err, engine.ErrEngineTimeout):
		status, code = http.StatusGatewayTimeout, agentapi.CodeEngineTimeout
	case errors.Is(err, pool.ErrNoCapacity):
		status, code = http.StatusTooManyRequests, agentapi.CodeNoCapacity
	case errors.Is(err, pool.ErrOverBudget):
		status, code = http.StatusUnprocessableEntity, agentapi.CodeOverBudget
	case errors.Is(err, pool.ErrClosed), r.Context().Err() != nil:
		status, code = http.StatusServiceUnavailable, agentapi.CodeUnavailable
	}
	level := slog.LevelWarn
	if code == agentapi.CodeInternal {
		level = slog.LevelError
	}
	s.opts.Logger.Log(r.Context(), level, op, "path", r.URL.Path, "code", code, "error", err)
	writeError(w, status, code, err.Error())
}

func validSpec(f agentapi.FunctionSpec) error {
	switch {
	case f.Name == "":
		return errors.New("function name is empty")
	case f.Function.Image == "":
		return fmt.Errorf("function %s: image is empty", f.Name)
	}
	return nil
}

// decode reads a bounded JSON body into v, answering BadRequest itself when
// it cannot. An empty body decodes as the zero value. Unknown fields are
// ignored, as every reader of the contract must.
func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeError(w, http.StatusRequestEntityTooLarge, agentapi.CodeBadRequest, fmt.Sprintf("body larger than %d bytes", maxBody))
			return false
		}
		writeError(w, http.StatusBadRequest, agentapi.CodeBadRequest, "read body: "+err.Error())
		return false
	}
	if len(data) == 0 {
		return true
	}
	if err := json.Unmarshal(data, v); err != nil {
		writeError(w, http.StatusBadRequest, agentapi.CodeBadRequest, "decode body: "+err.Error())
		return false
	}
	return true
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	// The status is sent; a write error means the client left.
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, agentapi.Error{Code: code, Message: msg})
}
