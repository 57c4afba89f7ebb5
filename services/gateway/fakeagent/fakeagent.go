// Package fakeagent is a test double of the agent: it speaks the agentapi
// contract over a real HTTP server, so tests exercise the gateway through
// agentapi.Client exactly as production does, and it records what the
// gateway asked for.
package fakeagent

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/esb-dev/esb/internal/agentapi"
)

// Released is one lease the gateway returned.
type Released struct {
	LeaseID string
	agentapi.ReleaseRequest
}

// Agent is the fake. Endpoint decides where each acquired lease points;
// returning "" answers NotFound.
type Agent struct {
	Server *httptest.Server

	endpoint    func(spec agentapi.FunctionSpec) string
	acquires    chan agentapi.FunctionSpec
	releases    chan Released
	desired     chan agentapi.Desired
	failDesired atomic.Int64 // answer this many PUTs with 503 first
	failAcquire atomic.Bool
	leases      atomic.Int64
	generation  atomic.Uint64 // of the last desired state accepted; 0 after Restart
	// PeakBytes is what /v1/leases/{id}/memory reports of every lease.
	PeakBytes atomic.Int64

	mu    sync.Mutex
	seen  map[string]bool // functions started at least once: later leases are warm
	exits map[string]*exit
}

// exit is the end of one lease's container, once Exit is called.
type exit struct {
	done      chan struct{}
	lines     []string
	container string
}

// New starts a fake agent, stopped when t ends.
func New(t testing.TB, endpoint func(spec agentapi.FunctionSpec) string) *Agent {
	a := &Agent{
		endpoint: endpoint,
		acquires: make(chan agentapi.FunctionSpec, 1024),
		releases: make(chan Released, 1024),
		desired:  make(chan agentapi.Desired, 1024),
		seen:     make(map[string]bool),
		exits:    make(map[string]*exit),
	}
	mux := http.NewServeMux()
	mux.HandleFunc("PUT /v1/functions", a.setDesired)
	mux.HandleFunc("POST /v1/functions/{name}/acquire", a.acquire)
	mux.HandleFunc("POST /v1/leases/{id}/release", a.release)
	mux.HandleFunc("GET /v1/leases/{id}/exit", a.waitExit)
	mux.HandleFunc("GET /v1/leases/{id}/memory", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, agentapi.Memory{MaxBytes: a.PeakBytes.Load()})
	})
	mux.HandleFunc("GET /v1/health", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, agentapi.Health{Status: "ok", Runtime: "fake", Generation: a.generation.Load()})
	})
	a.Server = httptest.NewServer(mux)
	t.Cleanup(a.Server.Close)
	return a
}

// Client is an agentapi.Client talking to the fake.
func (a *Agent) Client() *agentapi.Client {
	return &agentapi.Client{BaseURL: a.Server.URL, HTTP: a.Server.Client()}
}

// Acquires reports every acquired spec, in order.
func (a *Agent) Acquires() <-chan agentapi.FunctionSpec { return a.acquires }

// Releases reports every returned lease, in order.
func (a *Agent) Releases() <-chan Released { return a.releases }

// Desired reports every desired state the gateway pushed and the fake
// accepted, in order.
func (a *Agent) Desired() <-chan agentapi.Desired { return a.desired }

// FailDesired makes the next n PUT /v1/functions answer 503, as an agent
// that is still starting.
func (a *Agent) FailDesired(n int) { a.failDesired.Store(int64(n)) }

// Restart forgets the desired state, as a restarted agent does.
func (a *Agent) Restart() { a.generation.Store(0) }

// FailAcquire makes every acquire answer 502 ImagePullFailed while on.
func (a *Agent) FailAcquire(on bool) { a.failAcquire.Store(on) }

// Exit makes the container of lease leaseID exit, as a crash would, having
// printed lines last.
func (a *Agent) Exit(leaseID string, lines ...string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if e, ok := a.exits[leaseID]; ok {
		e.lines = lines
		close(e.done)
	}
}

func (a *Agent) waitExit(w http.ResponseWriter, r *http.Request) {
	a.mu.Lock()
	e, ok := a.exits[r.PathValue("id")]
	a.mu.Unlock()
	if !ok {
		writeJSON(w, http.StatusNotFound, agentapi.Error{Code: agentapi.CodeUnknownLease, Message: r.PathValue("id")})
		return
	}
	select {
	case <-e.done:
		writeJSON(w, http.StatusOK, agentapi.Exit{Container: e.container, LastLines: e.lines})
	case <-r.Context().Done():
	}
}

func (a *Agent) setDesired(w http.ResponseWriter, r *http.Request) {
	if a.failDesired.Add(-1) >= 0 {
		writeJSON(w, http.StatusServiceUnavailable, agentapi.Error{Code: agentapi.CodeUnavailable, Message: "agent is starting"})
		return
	}
	var d agentapi.Desired
	if err := json.NewDecoder(r.Body).Decode(&d); err != nil {
		writeJSON(w, http.StatusBadRequest, agentapi.Error{Code: agentapi.CodeBadRequest, Message: err.Error()})
		return
	}
	a.generation.Store(d.Generation)
	a.desired <- d
	w.WriteHeader(http.StatusNoContent)
}

func (a *Agent) acquire(w http.ResponseWriter, r *http.Request) {
	var req agentapi.AcquireRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		writeJSON(w, http.StatusBadRequest, agentapi.Error{Code: agentapi.CodeBadRequest, Message: err.Error()})
		return
	}
	if req.Spec.Name != r.PathValue("name") {
		writeJSON(w, http.StatusBadRequest, agentapi.Error{Code: agentapi.CodeBadRequest, Message: "spec name does not match the path"})
		return
	}
	a.acquires <- req.Spec
	if a.failAcquire.Load() {
		writeJSON(w, http.StatusBadGateway, agentapi.Error{Code: agentapi.CodeImagePullFailed, Message: "pull " + req.Spec.Function.Image + ": not found"})
		return
	}
	ep := a.endpoint(req.Spec)
	if ep == "" {
		writeJSON(w, http.StatusNotFound, agentapi.Error{Code: agentapi.CodeNotFound, Message: req.Spec.Name})
		return
	}
	n := a.leases.Add(1)
	lease := agentapi.Lease{
		ID:        fmt.Sprintf("lease-%d", n),
		Endpoint:  ep,
		Container: fmt.Sprintf("%s-%d", req.Spec.Name, n),
	}
	a.mu.Lock()
	lease.Cold = !a.seen[req.Spec.Name]
	a.seen[req.Spec.Name] = true
	a.exits[lease.ID] = &exit{done: make(chan struct{}), container: lease.Container}
	a.mu.Unlock()
	writeJSON(w, http.StatusOK, lease)
}

func (a *Agent) release(w http.ResponseWriter, r *http.Request) {
	var req agentapi.ReleaseRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		writeJSON(w, http.StatusBadRequest, agentapi.Error{Code: agentapi.CodeBadRequest, Message: err.Error()})
		return
	}
	a.releases <- Released{LeaseID: r.PathValue("id"), ReleaseRequest: req}
	w.WriteHeader(http.StatusNoContent)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v) // the test client reports a broken answer itself
}

// Function starts a fake function container whose Runtime Interface
// Emulator answers with h, stopped when t ends. Other paths answer 404, as
// RIE does.
func Function(t testing.TB, h http.HandlerFunc) *httptest.Server {
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+agentapi.Invocations, h)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}
