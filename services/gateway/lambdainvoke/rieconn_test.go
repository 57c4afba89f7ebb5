package lambdainvoke

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/esb-dev/esb/internal/agentapi"
	"github.com/esb-dev/esb/services/gateway/fakeagent"
)

// countingFunction is a fake function that counts the connections made to
// it and those closed.
func countingFunction(t *testing.T, h http.HandlerFunc) (srv *httptest.Server, opened, closed *atomic.Int64) {
	t.Helper()
	opened, closed = new(atomic.Int64), new(atomic.Int64)
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+agentapi.Invocations, h)
	srv = httptest.NewUnstartedServer(mux)
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		switch s {
		case http.StateNew:
			opened.Add(1)
		case http.StateClosed:
			closed.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	return srv, opened, closed
}

func TestHeldLeaseKeepsOneConnection(t *testing.T) {
	fn, opened, closed := countingFunction(t, echo)
	agent := fakeagent.New(t, func(agentapi.FunctionSpec) string { return fn.URL })
	inv := New(agent.Client(), Options{HoldIdle: time.Hour})
	stop := running(t, inv)

	for range 5 {
		invokeOK(t, inv, spec("F", 0))
	}
	assert.Len(t, agent.Acquires(), 1)
	assert.Equal(t, int64(1), opened.Load(), "warm invocations of a held lease share its connection")

	stop() // returns the held lease
	require.Eventually(t, func() bool { return closed.Load() == 1 }, 5*time.Second, time.Millisecond,
		"a returned lease closes its connection")
}

func TestConnectionReusedAfterItsDeadlinePassed(t *testing.T) {
	fn, opened, _ := countingFunction(t, echo)
	agent := fakeagent.New(t, func(agentapi.FunctionSpec) string { return fn.URL })
	inv := New(agent.Client(), Options{HoldIdle: time.Hour, Deadline: func(agentapi.FunctionSpec) time.Duration { return 20 * time.Millisecond }})
	running(t, inv)

	invokeOK(t, inv, spec("F", 0))
	time.Sleep(30 * time.Millisecond) // the first call's deadline, still set on the connection, passes
	invokeOK(t, inv, spec("F", 0))
	assert.Equal(t, int64(1), opened.Load(), "an idle connection outlives the deadline of its last call")
}

func TestConnectionCloseAnswerIsNotReused(t *testing.T) {
	// The function says Connection: close but keeps the socket open, as a
	// slow peer would: reusing it would send the next event into a
	// connection nobody reads, and that call would time out.
	var kept []net.Conn
	var mu sync.Mutex
	t.Cleanup(func() {
		mu.Lock()
		defer mu.Unlock()
		for _, c := range kept {
			c.Close()
		}
	})
	fn, opened, _ := countingFunction(t, func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		conn, buf, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Error(err)
			return
		}
		fmt.Fprintf(buf, "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
		_ = buf.Flush()
		mu.Lock()
		kept = append(kept, conn)
		mu.Unlock()
	})
	agent := fakeagent.New(t, func(agentapi.FunctionSpec) string { return fn.URL })
	inv := New(agent.Client(), Options{HoldIdle: time.Hour, Deadline: func(agentapi.FunctionSpec) time.Duration { return 2 * time.Second }})
	running(t, inv)

	for range 3 {
		invokeOK(t, inv, spec("F", 0))
	}
	assert.Len(t, agent.Acquires(), 1, "a closed connection is no reason to give up the container")
	assert.Equal(t, int64(3), opened.Load())
}

func TestOversizedResponseSpoilsOnlyTheConnection(t *testing.T) {
	// The oversized answer is far larger than the socket buffers: the
	// function's writes fail once the gateway drops the connection, and
	// succeed only if the gateway reads the answer to its end.
	const huge = 64 << 20
	var big atomic.Bool
	wrote := make(chan error, 1)
	fn, opened, _ := countingFunction(t, func(w http.ResponseWriter, r *http.Request) {
		if !big.Load() {
			echo(w, r)
			return
		}
		w.Header().Set("Content-Length", strconv.Itoa(huge))
		chunk := make([]byte, 1<<20)
		var err error
		for n := 0; n < huge && err == nil; n += len(chunk) {
			_, err = w.Write(chunk)
		}
		wrote <- err
	})
	agent := fakeagent.New(t, func(agentapi.FunctionSpec) string { return fn.URL })
	inv := New(agent.Client(), Options{HoldIdle: time.Hour, MaxResponse: 32})
	running(t, inv)

	invokeOK(t, inv, spec("F", 0))
	big.Store(true)
	_, err := inv.Invoke(t.Context(), Request{Function: spec("F", 0), Payload: []byte(`{}`)})
	require.ErrorIs(t, err, ErrResponseTooLarge)
	assert.Error(t, <-wrote, "the gateway read the oversized answer on instead of dropping it")
	big.Store(false)
	invokeOK(t, inv, spec("F", 0))
	assert.Len(t, agent.Acquires(), 1, "the container stays warm")
	assert.Equal(t, int64(2), opened.Load(), "the half-read connection is not reused")
}
