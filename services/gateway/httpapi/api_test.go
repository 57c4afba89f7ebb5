package httpapi

import (
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/esb-dev/esb/internal/agentapi"
	"github.com/esb-dev/esb/services/gateway/lambdainvoke"
)

func TestAPIRoutes(t *testing.T) {
	type event = map[string]any
	tests := []struct {
		name       string
		method     string
		path       string
		body       string
		header     http.Header
		fn         string           // function whose container answers with handler
		handler    http.HandlerFunc // nil: echo the event in a 1.0 response
		wantStatus int
		wantHeader map[string]string
		wantBody   string // exact, unless check is set
		check      func(t *testing.T, resp *http.Response, ev event)
	}{
		{
			name: "1.0 event reaches the function", method: "GET", path: "/hello?x=1&x=2",
			wantStatus: 200, wantHeader: map[string]string{"X-Fn": "echo", "Content-Type": "application/json"},
			check: func(t *testing.T, resp *http.Response, ev event) {
				assert.Equal(t, "/hello", ev["resource"])
				assert.Equal(t, "GET", ev["httpMethod"])
				assert.Equal(t, map[string]any{"x": "2"}, ev["queryStringParameters"])
				assert.Equal(t, map[string]any{"x": []any{"1", "2"}}, ev["multiValueQueryStringParameters"])
				rc := ev["requestContext"].(map[string]any)
				assert.Equal(t, resp.Header.Get("X-Amzn-Requestid"), rc["requestId"], "the event and the answer share the request id")
				assert.Equal(t, "Prod", rc["stage"])
				assert.Equal(t, "123456789012", rc["accountId"])
				assert.Equal(t, resp.Header.Get("X-Amzn-Trace-Id"), ev["headers"].(map[string]any)["X-Amzn-Trace-Id"])
			},
		},
		{
			name: "2.0 event with path parameter", method: "DELETE", path: "/items/42", fn: "Items",
			handler: func(w http.ResponseWriter, r *http.Request) {
				ev, _ := io.ReadAll(r.Body)
				resp, _ := json.Marshal(map[string]any{"statusCode": 200, "body": string(ev), "cookies": []string{"a=1", "b=2"}})
				_, _ = w.Write(resp)
			},
			wantStatus: 200,
			check: func(t *testing.T, resp *http.Response, ev event) {
				assert.Equal(t, "2.0", ev["version"])
				assert.Equal(t, "ANY /items/{id}", ev["routeKey"])
				assert.Equal(t, map[string]any{"id": "42"}, ev["pathParameters"])
				assert.Equal(t, "DELETE", ev["requestContext"].(map[string]any)["http"].(map[string]any)["method"])
				assert.Equal(t, []string{"a=1", "b=2"}, resp.Header.Values("Set-Cookie"))
				assert.Equal(t, resp.Header.Get("X-Amzn-Requestid"), resp.Header.Get("Apigw-Requestid"))
			},
		},
		{
			name: "2.0 shortcut response", method: "GET", path: "/items/7", fn: "Items",
			handler:    answer(200, nil, `{"id":7}`),
			wantStatus: 200, wantHeader: map[string]string{"Content-Type": "application/json"}, wantBody: `{"id":7}`,
		},
		{
			name: "1.0 binary response", method: "GET", path: "/hello", fn: "Hello",
			handler:    answer(200, nil, `{"statusCode":200,"headers":{"Content-Type":"image/png"},"body":"iVBORw0KGgoA/w==","isBase64Encoded":true}`),
			wantStatus: 200, wantHeader: map[string]string{"Content-Type": "image/png"},
			wantBody: "\x89PNG\r\n\x1a\n\x00\xff",
		},
		{
			name: "1.0 multi-value headers", method: "GET", path: "/hello", fn: "Hello",
			handler:    answer(200, nil, `{"statusCode":201,"multiValueHeaders":{"Set-Cookie":["a=1","b=2"]},"body":"made"}`),
			wantStatus: 201, wantBody: "made",
			check: func(t *testing.T, resp *http.Response, _ event) {
				assert.Equal(t, []string{"a=1", "b=2"}, resp.Header.Values("Set-Cookie"))
			},
		},
		{
			name: "HEAD falls back to GET and sends no body", method: "HEAD", path: "/hello",
			wantStatus: 200, wantHeader: map[string]string{"X-Fn": "echo"}, wantBody: "",
		},
		{name: "unknown route", method: "GET", path: "/nope", wantStatus: 404, wantBody: `{"message":"Not Found"}`},
		{name: "wrong method on a known path", method: "POST", path: "/hello", wantStatus: 404, wantBody: `{"message":"Not Found"}`},
		{name: "gateway paths answer only their own method", method: "GET", path: "/2015-03-31/functions/Hello/invocations", wantStatus: 404, wantBody: `{"message":"Not Found"}`},
		{
			name: "function error", method: "GET", path: "/hello", fn: "Hello",
			handler:    answer(200, nil, `{"errorType":"Error","errorMessage":"boom","trace":[]}`),
			wantStatus: 502, wantBody: `{"message": "Internal server error"}`,
		},
		{
			name: "function error by header, HTTP API", method: "GET", path: "/items/1", fn: "Items",
			handler:    answer(200, map[string]string{"X-Amz-Function-Error": "Unhandled"}, `{"errorMessage":"boom"}`),
			wantStatus: 500, wantBody: `{"message":"Internal Server Error"}`,
		},
		{
			name: "malformed 1.0 response", method: "GET", path: "/hello", fn: "Hello",
			handler:    answer(200, nil, `{"body":"no status"}`),
			wantStatus: 502, wantBody: `{"message": "Internal server error"}`,
		},
		{
			name: "1.0 result that is not an object", method: "GET", path: "/hello", fn: "Hello",
			handler:    answer(200, nil, `"just a string"`),
			wantStatus: 502, wantBody: `{"message": "Internal server error"}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, functionsYML, routingYML, harnessOptions{})
			if tt.handler != nil {
				h.function(tt.fn, tt.handler)
			}
			var body io.Reader
			if tt.body != "" {
				body = strings.NewReader(tt.body)
			}
			resp, got := h.do(t, tt.method, tt.path, body, tt.header)
			assert.Equal(t, tt.wantStatus, resp.StatusCode, "body: %s", got)
			for k, v := range tt.wantHeader {
				assert.Equal(t, v, resp.Header.Get(k), "header %s", k)
			}
			if tt.check != nil {
				var ev map[string]any
				if got != "" && got[0] == '{' && tt.wantBody == "" {
					require.NoError(t, json.Unmarshal([]byte(got), &ev))
				}
				tt.check(t, resp, ev)
			} else {
				assert.Equal(t, tt.wantBody, got)
			}
		})
	}
}

func TestEveryResponseCarriesRequestAndTraceIDs(t *testing.T) {
	h := newHarness(t, functionsYML, routingYML, harnessOptions{})
	traceRe := regexp.MustCompile(`^Root=1-[0-9a-f]{8}-[0-9a-f]{24}$`)
	uuidRe := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	tests := []struct {
		name, method, path string
	}{
		{name: "route", method: "GET", path: "/hello"},
		{name: "not found", method: "GET", path: "/nope"},
		{name: "health", method: "GET", path: "/health"},
		{name: "invoke API", method: "POST", path: "/2015-03-31/functions/Hello/invocations"},
		{name: "invoke API, unknown function", method: "POST", path: "/2015-03-31/functions/Nope/invocations"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, _ := h.do(t, tt.method, tt.path, nil, nil)
			assert.Regexp(t, uuidRe, resp.Header.Get("X-Amzn-Requestid"))
			assert.Regexp(t, traceRe, resp.Header.Get("X-Amzn-Trace-Id"))
		})
	}
	t.Run("an incoming trace id is kept", func(t *testing.T) {
		const trace = "Root=1-5e5ff1b5-0123456789abcdef01234567"
		resp, _ := h.do(t, "GET", "/hello", nil, http.Header{"X-Amzn-Trace-Id": {trace}})
		assert.Equal(t, trace, resp.Header.Get("X-Amzn-Trace-Id"))
	})
}

// TestHealthDoesNotAskTheAgent: the harness signs /health with the root
// key, which sees what the gateway serves.
func TestHealthDoesNotAskTheAgent(t *testing.T) {
	h := newHarness(t, functionsYML, routingYML, harnessOptions{})
	h.agent.Server.Close() // an agent that is down changes nothing here
	resp, body := h.do(t, "GET", "/health", nil, nil)
	assert.Equal(t, 200, resp.StatusCode)
	assert.JSONEq(t, `{"status":"ok","generation":1,"functions":4,"routes":4,"warm_leases":0}`, body)

	h.apply(t, functionsYML, "routes: []\n")
	_, body = h.do(t, "GET", "/health", nil, nil)
	assert.JSONEq(t, `{"status":"ok","generation":2,"functions":4,"routes":0,"warm_leases":0}`, body)
}

func TestHealthCountsWarmLeases(t *testing.T) {
	h := newHarness(t, functionsYML, routingYML, harnessOptions{hold: true, invoker: lambdainvoke.Options{HoldIdle: time.Hour}})
	require.Eventually(t, func() bool {
		resp, _ := h.do(t, "GET", "/hello", nil, nil)
		require.Equal(t, http.StatusOK, resp.StatusCode)
		_, body := h.do(t, "GET", "/health", nil, nil)
		var got healthBody
		require.NoError(t, json.Unmarshal([]byte(body), &got))
		return got.WarmLeases == 1
	}, 5*time.Second, 10*time.Millisecond, "the container of /hello is held after its invocation")
	for len(h.agent.Acquires()) > 0 {
		<-h.agent.Acquires()
	}
	for range 3 {
		resp, _ := h.do(t, "GET", "/hello", nil, nil)
		require.Equal(t, http.StatusOK, resp.StatusCode)
	}
	assert.Empty(t, h.agent.Acquires(), "warm calls reuse the held container without asking the agent")
}

// A function that runs past its own timeout failed, as Lambda's "Task
// timed out" is a function error: a REST API answers 502, not its
// integration timeout's 504.
func TestAPITimeout(t *testing.T) {
	h := newHarness(t, functionsYML, routingYML, harnessOptions{invoker: lambdainvoke.Options{
		Deadline: func(agentapi.FunctionSpec) time.Duration { return 20 * time.Millisecond },
	}})
	g := newGate(`{"statusCode":200}`) // never opened: runs until the gateway gives up
	h.function("Slow", g.handler)
	resp, body := h.do(t, "GET", "/slow", nil, nil)
	assert.Equal(t, http.StatusBadGateway, resp.StatusCode)
	assert.Equal(t, `{"message": "Internal server error"}`, body)
	rel := <-h.agent.Releases()
	assert.True(t, rel.Discard, "a timed-out container may still run the function: it is not reused")
}

func TestAPICrashDiscardsTheContainer(t *testing.T) {
	h := newHarness(t, functionsYML, routingYML, harnessOptions{})
	h.function("Hello", func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.ReadAll(r.Body)
		conn, _, err := http.NewResponseController(w).Hijack()
		if err == nil {
			_ = conn.Close() // the runtime died mid-invocation
		}
	})
	resp, body := h.do(t, "GET", "/hello", nil, nil)
	assert.Equal(t, http.StatusBadGateway, resp.StatusCode)
	assert.Equal(t, `{"message": "Internal server error"}`, body)
	rel := <-h.agent.Releases()
	assert.True(t, rel.Discard)
	assert.Contains(t, rel.Reason, "crashed")

	h.function("Hello", nil) // the replacement container works
	resp, _ = h.do(t, "GET", "/hello", nil, nil)
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Len(t, h.agent.Acquires(), 2, "the second request leased again")
	assert.False(t, (<-h.agent.Releases()).Discard)
}

func TestAccountConcurrencyThrottles(t *testing.T) {
	h := newHarness(t, functionsYML, routingYML, harnessOptions{invoker: lambdainvoke.Options{MaxQueueWait: 10 * time.Millisecond, AccountConcurrency: 1}})
	g := newGate(`{"statusCode":200,"body":"first"}`)
	h.function("Hello", g.handler)

	var wg sync.WaitGroup
	wg.Go(func() {
		resp, body, err := h.tryDo(t.Context(), "GET", "/hello", nil, nil)
		if assert.NoError(t, err) {
			assert.Equal(t, 200, resp.StatusCode)
			assert.Equal(t, "first", body)
		}
	})
	<-g.entered // the account's one slot is used up

	// A REST API never passes Lambda's 429 on: Lambda refused the
	// invocation, which API Gateway answers 500.
	resp, body := h.do(t, "GET", "/hello", nil, nil)
	assert.Equal(t, http.StatusInternalServerError, resp.StatusCode)
	assert.Equal(t, `{"message": "Internal server error"}`, body)

	resp, body = h.do(t, "POST", "/2015-03-31/functions/Hello/invocations", strings.NewReader(`{}`), nil)
	assert.Equal(t, http.StatusTooManyRequests, resp.StatusCode)
	assert.Equal(t, "TooManyRequestsException", resp.Header.Get("X-Amzn-Errortype"))
	assert.JSONEq(t, `{"Reason":"ConcurrentInvocationLimitExceeded","Type":"User","message":"Rate Exceeded."}`, body)

	close(g.open)
	wg.Wait()
}

func TestThrottledAfterMaxQueueWait(t *testing.T) {
	h := newHarness(t, functionsYML, routingYML, harnessOptions{invoker: lambdainvoke.Options{MaxQueueWait: 10 * time.Millisecond}})
	g := newGate(`{"statusCode":200,"body":"first"}`)
	h.function("Limited", g.handler)

	var wg sync.WaitGroup
	wg.Go(func() {
		resp, body, err := h.tryDo(t.Context(), "GET", "/limited", nil, nil)
		if assert.NoError(t, err) {
			assert.Equal(t, 200, resp.StatusCode)
			assert.Equal(t, "first", body)
		}
	})
	<-g.entered // max_concurrency 1 is used up

	resp, body := h.do(t, "GET", "/limited", nil, nil)
	assert.Equal(t, http.StatusInternalServerError, resp.StatusCode)
	assert.Equal(t, `{"message": "Internal server error"}`, body)

	resp, body = h.do(t, "POST", "/2015-03-31/functions/Limited/invocations", strings.NewReader(`{}`), nil)
	assert.Equal(t, http.StatusTooManyRequests, resp.StatusCode)
	assert.Equal(t, "TooManyRequestsException", resp.Header.Get("X-Amzn-Errortype"))
	assert.JSONEq(t, `{"Reason":"ReservedFunctionConcurrentInvocationLimitExceeded","Type":"User","message":"Rate Exceeded."}`, body)

	close(g.open)
	wg.Wait()
}

func TestBodyLimit(t *testing.T) {
	h := newHarness(t, functionsYML, routingYML, harnessOptions{})
	h.function("Items", answer(200, nil, `"ok"`))
	h.function("Hello", answer(200, nil, `"ok"`))
	atLimit := `"` + strings.Repeat("a", lambdainvoke.MaxPayload-2) + `"`
	over := atLimit + " "
	tests := []struct {
		name       string
		method     string
		path       string
		body       string
		wantStatus int
		wantType   string
		wantBody   string
	}{
		{name: "API route at 6 MB", method: "POST", path: "/items/1", body: atLimit, wantStatus: 200, wantBody: "ok"},
		{name: "API route over 6 MB", method: "POST", path: "/items/1", body: over, wantStatus: 413, wantBody: `{"message":"Request Too Long"}`},
		{name: "Invoke API at 6 MB", method: "POST", path: "/2015-03-31/functions/Hello/invocations", body: atLimit, wantStatus: 200, wantBody: `"ok"`},
		{
			name: "Invoke API over 6 MB", method: "POST", path: "/2015-03-31/functions/Hello/invocations", body: over,
			wantStatus: 413, wantType: "RequestTooLargeException",
			wantBody: `{"Type":"User","message":"Request must be smaller than 6291456 bytes for the InvokeFunction operation"}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := h.do(t, tt.method, tt.path, strings.NewReader(tt.body), nil)
			assert.Equal(t, tt.wantStatus, resp.StatusCode)
			assert.Equal(t, tt.wantType, resp.Header.Get("X-Amzn-Errortype"))
			assert.Equal(t, tt.wantBody, body)
		})
	}
}

func TestAccessLogEntries(t *testing.T) {
	var mu sync.Mutex
	var entries []map[string]any
	h := newHarness(t, functionsYML, routingYML, harnessOptions{server: Options{AccessLog: func(e map[string]any) {
		mu.Lock()
		defer mu.Unlock()
		entries = append(entries, e)
	}}})
	resp, _ := h.do(t, "GET", "/hello", nil, nil)
	h.do(t, "GET", "/health", nil, nil) // health checks stay out of the log store

	// The line is written after the answer left, so it may trail it.
	require.Eventually(t, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(entries) > 0
	}, 5*time.Second, time.Millisecond)
	mu.Lock()
	defer mu.Unlock()
	require.Len(t, entries, 1)
	e := entries[0]
	assert.Equal(t, "gateway", e["service"])
	assert.Equal(t, "test", e["env"])
	assert.Equal(t, "GET /hello 200", e["message"])
	assert.Equal(t, resp.Header.Get("X-Amzn-Requestid"), e["request_id"])
	assert.Equal(t, "Hello", e["function"])
	assert.Equal(t, "GET /hello", e["route"])
	assert.Equal(t, true, e["cold"])
	assert.NotEmpty(t, e["time"])
	assert.EqualValues(t, 200, e["status"])
}

// TestAnswerLeavesBeforeAccessLog checks that a client has its answer, sized
// as AWS sizes it, before the gateway writes the access log line: a slow
// log never adds to a request's latency.
func TestAnswerLeavesBeforeAccessLog(t *testing.T) {
	for _, c := range []struct{ method, path, body string }{
		{method: "GET", path: "/hello"},
		{method: "POST", path: "/2015-03-31/functions/Hello/invocations", body: `{}`},
	} {
		t.Run(c.method+" "+c.path, func(t *testing.T) {
			received := make(chan struct{})
			var waited atomic.Bool // the log line waited in vain for the client
			h := newHarness(t, functionsYML, routingYML, harnessOptions{server: Options{AccessLog: func(map[string]any) {
				select {
				case <-received:
				case <-time.After(5 * time.Second):
					waited.Store(true)
				}
			}}})
			resp, body := h.do(t, c.method, c.path, strings.NewReader(c.body), nil)
			close(received)
			require.Equal(t, http.StatusOK, resp.StatusCode, body)
			assert.False(t, waited.Load(), "the access log held the answer back")
			assert.EqualValues(t, len(body), resp.ContentLength, "sized")
			assert.Empty(t, resp.TransferEncoding, "not chunked")
		})
	}
}
