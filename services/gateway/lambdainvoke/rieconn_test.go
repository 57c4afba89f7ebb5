package lambdainvoke

import (
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/esb-dev/esb/internal/agentapi"
	"github.com/esb-dev/esb/services/gateway/fakeagent"
)

// countingFunction is a fake function that counts the connections made to it.
func countingFunction(t *testing.T, h http.HandlerFunc) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var conns atomic.Int64
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+agentapi.Invocations, h)
	srv := httptest.NewUnstartedServer(mux)
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	return srv, &conns
}

func TestHeldLeaseKeepsOneConnection(t *testing.T) {
	fn, conns := countingFunction(t, echo)
	agent := fakeagent.New(t, func(agentapi.FunctionSpec) string { return fn.URL })
	inv := New(agent.Client(), Options{HoldIdle: time.Hour})
	running(t, inv)

	for range 5 {
		invokeOK(t, inv, spec("F", 0))
	}
	assert.Len(t, agent.Acquires(), 1)
	assert.Equal(t, int64(1), conns.Load(), "warm invocations of a held lease share its connection")
}

func TestConnectionClosedByContainerIsRedialed(t *testing.T) {
	fn, conns := countingFunction(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Connection", "close")
		echo(w, r)
	})
	agent := fakeagent.New(t, func(agentapi.FunctionSpec) string { return fn.URL })
	inv := New(agent.Client(), Options{HoldIdle: time.Hour})
	running(t, inv)

	for range 3 {
		invokeOK(t, inv, spec("F", 0))
	}
	assert.Len(t, agent.Acquires(), 1, "a closed connection is no reason to give up the container")
	assert.Equal(t, int64(3), conns.Load())
}

func TestOversizedResponseSpoilsOnlyTheConnection(t *testing.T) {
	var big atomic.Bool
	fn, conns := countingFunction(t, func(w http.ResponseWriter, r *http.Request) {
		if big.Load() {
			_, _ = w.Write(make([]byte, 64))
			return
		}
		echo(w, r)
	})
	agent := fakeagent.New(t, func(agentapi.FunctionSpec) string { return fn.URL })
	inv := New(agent.Client(), Options{HoldIdle: time.Hour, MaxResponse: 32})
	running(t, inv)

	invokeOK(t, inv, spec("F", 0))
	big.Store(true)
	_, err := inv.Invoke(t.Context(), Request{Function: spec("F", 0), Payload: []byte(`{}`)})
	require.ErrorIs(t, err, ErrResponseTooLarge)
	big.Store(false)
	invokeOK(t, inv, spec("F", 0))
	assert.Len(t, agent.Acquires(), 1, "the container stays warm")
	assert.Equal(t, int64(2), conns.Load(), "the half-read connection is not reused")
}
