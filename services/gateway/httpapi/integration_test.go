package httpapi

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Routes with short integration timeouts; Slow runs 10 s, far past them.
const timeoutFunctionsYML = `
functions:
  Hello: {image: img/hello}
  Slow: {image: img/slow, timeout: 10}
`

const timeoutRoutingYML = `
routes:
  - {path: /hello, method: GET, function: Hello, payload: "1.0"}
  - {path: /rest-slow, method: GET, function: Slow, payload: "1.0", kind: rest, timeout_ms: 100}
  - {path: /http-slow, method: GET, function: Slow, payload: "2.0", kind: http, timeout_ms: 100}
  - {path: /http-v1-slow, method: GET, function: Slow, payload: "1.0", kind: http, timeout_ms: 100}
  - {path: /rest-fast, method: GET, function: Hello, payload: "1.0", kind: rest, timeout_ms: 2000}
`

// A function that outlives its route's integration timeout: the client
// gets API Gateway's answer for the API's kind at the timeout, not when
// the function ends; the function runs on in its container, which stays
// leased until it finishes and then goes back warm; its late result is
// dropped, and the answer already sent is not touched.
func TestIntegrationTimeout(t *testing.T) {
	tests := []struct {
		name, path string
		wantStatus int
		wantBody   string
	}{
		{"REST API", "/rest-slow", http.StatusGatewayTimeout, `{"message": "Endpoint request timed out"}`},
		{"HTTP API", "/http-slow", http.StatusServiceUnavailable, `{"message":"Service Unavailable"}`},
		{"HTTP API, payload 1.0", "/http-v1-slow", http.StatusServiceUnavailable, `{"message":"Service Unavailable"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, timeoutFunctionsYML, timeoutRoutingYML, harnessOptions{hold: true})
			g := newGate(`{"statusCode":200,"body":"late"}`)
			h.function("Slow", g.handler)

			start := time.Now()
			resp, body := h.do(t, "GET", tt.path, nil, nil)
			took := time.Since(start)
			assert.Equal(t, tt.wantStatus, resp.StatusCode)
			assert.Equal(t, tt.wantBody, body)
			assert.Equal(t, "application/json", resp.Header.Get("Content-Type"))
			assert.NotEmpty(t, resp.Header.Get("X-Amzn-Requestid"))
			assert.Less(t, took, 5*time.Second, "answered at the integration timeout, not when the function ended")
			<-g.entered // the event reached the function, which still runs

			// The function's container is still leased: another request
			// gets a container of its own, and nothing went back yet.
			assert.Len(t, h.agent.Releases(), 0, "the running function's container was given back early")
			// Other requests keep being answered while the late call
			// runs (echo recycles the answered request's context: with
			// -race, a late write to it would show here).
			var wg sync.WaitGroup
			for range 8 {
				wg.Go(func() {
					resp, _, err := h.tryDo(t.Context(), "GET", "/hello", nil, nil)
					if assert.NoError(t, err) {
						assert.Equal(t, http.StatusOK, resp.StatusCode)
					}
				})
			}
			wg.Wait()

			close(g.open) // the function ends now, past its route's timeout
			rec := h.log.Wait(t, "after its route's integration timeout", 1)
			assert.Equal(t, "Slow", rec.Attrs["function"])
			assert.Equal(t, resp.Header.Get("X-Amzn-Requestid"), rec.Attrs["request_id"])
			assert.Nil(t, rec.Attrs["error"], "the function finished well")

			// Its container went back warm: the next request reuses it.
			h.function("Slow", answer(http.StatusOK, nil, `{"statusCode":200,"body":"warm"}`))
			before := len(h.agent.Acquires())
			resp, body = h.do(t, "GET", "/rest-slow", nil, nil)
			assert.Equal(t, http.StatusOK, resp.StatusCode)
			assert.Equal(t, "warm", body)
			assert.Len(t, h.agent.Acquires(), before, "the container the late call ran in was not reused")
			assert.Equal(t, 0, h.srv.calls.Late(), "a call past its timeout is still counted")
		})
	}
}

// A function that answers within its route's timeout is answered as usual.
func TestIntegrationTimeoutNotReached(t *testing.T) {
	h := newHarness(t, timeoutFunctionsYML, timeoutRoutingYML, harnessOptions{})
	h.function("Hello", answer(http.StatusOK, nil, `{"statusCode":201,"body":"in time"}`))
	resp, body := h.do(t, "GET", "/rest-fast", nil, nil)
	assert.Equal(t, http.StatusCreated, resp.StatusCode)
	assert.Equal(t, "in time", body)
	assert.Zero(t, h.log.Count("integration timeout"))
}

// The server's drain waits for calls running past their timeout: the
// gateway stops only once their containers are given back.
func TestWaitCoversLateCalls(t *testing.T) {
	h := newHarness(t, timeoutFunctionsYML, timeoutRoutingYML, harnessOptions{})
	g := newGate(`{"statusCode":200}`)
	h.function("Slow", g.handler)
	resp, _ := h.do(t, "GET", "/rest-slow", nil, nil)
	require.Equal(t, http.StatusGatewayTimeout, resp.StatusCode)
	<-g.entered

	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	assert.Error(t, h.srv.Wait(ctx), "Wait returned while a call was still running")
	close(g.open)
	require.NoError(t, h.srv.Wait(t.Context()))
	rel := <-h.agent.Releases()
	assert.False(t, rel.Discard, "the container finished well: kept, not discarded")
}
