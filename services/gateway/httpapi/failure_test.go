package httpapi

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/esb-dev/esb/internal/agentapi"
	"github.com/esb-dev/esb/services/gateway/lambdainvoke"
)

const failureURLID = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa9"

// Fn is reached by every front: REST API and HTTP API routes (the HTTP
// API's with both payloads) and a function URL. Slow is Fn behind routes
// whose integration timeout passes before it ends.
const failureFunctionsYML = `
functions:
  Fn:
    image: img/fn
    scaling: {max_concurrency: 1}
    url: {id: ` + failureURLID + `, auth_type: NONE}
  Slow: {image: img/slow, timeout: 10}
`

const failureRoutingYML = `
routes:
  - {path: /rest, method: GET, function: Fn, payload: "1.0", kind: rest}
  - {path: /rest-default, method: GET, function: Fn, payload: "1.0"}
  - {path: /http, method: GET, function: Fn, payload: "2.0", kind: http}
  - {path: /http-v1, method: GET, function: Fn, payload: "1.0", kind: http}
  - {path: /rest-slow, method: GET, function: Slow, payload: "1.0", kind: rest, timeout_ms: 100}
  - {path: /http-slow, method: GET, function: Slow, payload: "2.0", kind: http, timeout_ms: 100}
`

// wantAnswer is an answer byte for byte: status, Content-Type, body.
type wantAnswer struct {
	status      int
	contentType string
	body        string
}

// The answers AWS gives, per front (sources in failure.go).
var (
	wantRESTFunction = wantAnswer{502, "application/json", `{"message": "Internal server error"}`}
	wantRESTRefused  = wantAnswer{500, "application/json", `{"message": "Internal server error"}`}
	wantRESTTimedOut = wantAnswer{504, "application/json", `{"message": "Endpoint request timed out"}`}
	wantHTTPFailed   = wantAnswer{500, "application/json", `{"message":"Internal Server Error"}`}
	wantHTTPTimedOut = wantAnswer{503, "application/json", `{"message":"Service Unavailable"}`}
	wantURLFunction  = wantAnswer{502, "text/plain; charset=UTF-8", "Internal Server Error"}
	wantURLThrottled = wantAnswer{429, "application/json", `{"message":"Too Many Requests"}`}
	wantURLService   = wantAnswer{502, "application/json", `{"message":"Internal server error"}`}
)

// TestFailureAnswers provokes each way an invocation can fail and checks
// what every front answers, byte for byte: a REST API, an HTTP API (with
// either payload), and a function URL.
func TestFailureAnswers(t *testing.T) {
	// Fn's own timeout: a call of Fn may run 50 ms.
	deadline := func(spec agentapi.FunctionSpec) time.Duration {
		if spec.Name == "Fn" {
			return 50 * time.Millisecond
		}
		return 0
	}
	tooLarge := `"` + strings.Repeat("a", lambdainvoke.MaxPayload) + `"`
	tests := []struct {
		name string
		// provoke sets Fn up to fail; it returns a func that ends what it
		// started, nil when nothing needs ending.
		provoke func(t *testing.T, h *harness) (done func())
		rest    wantAnswer
		http    wantAnswer
		url     wantAnswer
	}{
		{
			name: "unhandled error",
			provoke: func(t *testing.T, h *harness) func() {
				h.function("Fn", answer(200, map[string]string{"X-Amz-Function-Error": "Unhandled"}, `{"errorType":"Error","errorMessage":"boom"}`))
				return nil
			},
			rest: wantRESTFunction, http: wantHTTPFailed, url: wantURLFunction,
		},
		{
			name: "malformed proxy response",
			provoke: func(t *testing.T, h *harness) func() {
				h.function("Fn", answer(200, nil, `{"statusCode":"abc"}`))
				return nil
			},
			rest: wantRESTFunction, http: wantHTTPFailed, url: wantURLFunction,
		},
		{
			name: "function runs past its own timeout",
			provoke: func(t *testing.T, h *harness) func() {
				g := newGate(`{"statusCode":200}`) // never opened
				h.function("Fn", g.handler)
				return nil
			},
			rest: wantRESTFunction, http: wantHTTPFailed, url: wantURLFunction,
		},
		{
			name: "runtime crashes",
			provoke: func(t *testing.T, h *harness) func() {
				h.function("Fn", func(w http.ResponseWriter, r *http.Request) {
					if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
						_ = conn.Close()
					}
				})
				return nil
			},
			rest: wantRESTFunction, http: wantHTTPFailed, url: wantURLFunction,
		},
		{
			name: "result over Lambda's size limit",
			provoke: func(t *testing.T, h *harness) func() {
				h.function("Fn", answer(200, nil, tooLarge))
				return nil
			},
			rest: wantRESTFunction, http: wantHTTPFailed, url: wantURLFunction,
		},
		{
			name: "throttled",
			provoke: func(t *testing.T, h *harness) func() {
				// Fn's one slot is held by a request that waits for the
				// gate; the queue wait is 10 ms.
				g := newGate(`{"statusCode":200,"body":"held"}`)
				h.function("Fn", g.handler)
				var wg sync.WaitGroup
				wg.Go(func() {
					resp, _, err := h.tryDo(t.Context(), "GET", "/rest", nil, nil)
					if assert.NoError(t, err) {
						assert.Equal(t, http.StatusOK, resp.StatusCode)
					}
				})
				<-g.entered
				return func() { close(g.open); wg.Wait() }
			},
			rest: wantRESTRefused, http: wantHTTPFailed, url: wantURLThrottled,
		},
		{
			name: "no container",
			provoke: func(t *testing.T, h *harness) func() {
				h.agent.Server.Close()
				return nil
			},
			rest: wantRESTRefused, http: wantHTTPFailed, url: wantURLService,
		},
	}
	fronts := []struct {
		name string
		send func(t *testing.T, h *harness) (*http.Response, string)
		want func(rest, http, url wantAnswer) wantAnswer
	}{
		{"REST API", get("/rest"), func(r, _, _ wantAnswer) wantAnswer { return r }},
		{"REST API by payload 1.0", get("/rest-default"), func(r, _, _ wantAnswer) wantAnswer { return r }},
		{"HTTP API", get("/http"), func(_, h, _ wantAnswer) wantAnswer { return h }},
		{"HTTP API, payload 1.0", get("/http-v1"), func(_, h, _ wantAnswer) wantAnswer { return h }},
		{"function URL", func(t *testing.T, h *harness) (*http.Response, string) {
			return h.doHost(t, http.MethodGet, failureURLID+".lambda-url.us-east-1.localhost", "/", nil)
		}, func(_, _, u wantAnswer) wantAnswer { return u }},
	}
	for _, tt := range tests {
		for _, f := range fronts {
			t.Run(tt.name+"/"+f.name, func(t *testing.T) {
				h := newHarness(t, failureFunctionsYML, failureRoutingYML, harnessOptions{invoker: lambdainvoke.Options{
					Deadline: deadline, MaxQueueWait: 10 * time.Millisecond,
				}})
				if done := tt.provoke(t, h); done != nil {
					defer done()
				}
				resp, body := f.send(t, h)
				assertAnswer(t, f.want(tt.rest, tt.http, tt.url), resp, body)
			})
		}
	}
}

// TestIntegrationTimeoutAnswers: past a route's integration timeout a
// REST API answers 504 and an HTTP API 503, while the function runs on.
func TestIntegrationTimeoutAnswers(t *testing.T) {
	for _, tt := range []struct {
		path string
		want wantAnswer
	}{
		{"/rest-slow", wantRESTTimedOut},
		{"/http-slow", wantHTTPTimedOut},
	} {
		t.Run(tt.path, func(t *testing.T) {
			h := newHarness(t, failureFunctionsYML, failureRoutingYML, harnessOptions{})
			g := newGate(`{"statusCode":200}`)
			h.function("Slow", g.handler)
			defer close(g.open)
			resp, body := h.do(t, "GET", tt.path, nil, nil)
			assertAnswer(t, tt.want, resp, body)
		})
	}
}

// TestHandlerErrorAnswers: an error no handler answered is answered in
// the words of the matched route's kind; elsewhere (the Invoke API, a
// function URL, no route yet) as before.
func TestHandlerErrorAnswers(t *testing.T) {
	srv := New(t.Context(), nil, nil, Options{})
	for _, tt := range []struct {
		name  string
		front front
		want  wantAnswer
	}{
		{"REST API route", frontREST, wantRESTRefused},
		{"HTTP API route", frontHTTPAPI, wantHTTPFailed},
		{"function URL", frontURL, wantAnswer{500, "application/json", `{"message":"Internal server error"}`}},
		{"no route", frontLambda, wantAnswer{500, "application/json", `{"message":"Internal server error"}`}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			c := srv.echo.NewContext(httptest.NewRequest(http.MethodGet, "/x", nil), rec)
			c.Set(keyLog, &accessInfo{front: tt.front})
			srv.handleError(errors.New("event not built"), c)
			assert.Equal(t, tt.want.status, rec.Code)
			assert.Equal(t, tt.want.body, rec.Body.String())
			assert.Equal(t, tt.want.contentType, rec.Header().Get("Content-Type"))
		})
	}
	t.Run("an HTTP error keeps its status", func(t *testing.T) {
		rec := httptest.NewRecorder()
		c := srv.echo.NewContext(httptest.NewRequest(http.MethodGet, "/x", nil), rec)
		c.Set(keyLog, &accessInfo{front: frontHTTPAPI})
		srv.handleError(echo.NewHTTPError(http.StatusMethodNotAllowed), c)
		assert.Equal(t, http.StatusNotFound, rec.Code)
		assert.Equal(t, `{"message":"Not Found"}`, rec.Body.String())
	})
}

func get(path string) func(t *testing.T, h *harness) (*http.Response, string) {
	return func(t *testing.T, h *harness) (*http.Response, string) {
		return h.do(t, http.MethodGet, path, nil, nil)
	}
}

func assertAnswer(t *testing.T, want wantAnswer, resp *http.Response, body string) {
	t.Helper()
	require.Equal(t, want.status, resp.StatusCode, "body: %s", body)
	assert.Equal(t, want.body, body)
	assert.Equal(t, want.contentType, resp.Header.Get("Content-Type"))
	assert.Equal(t, strconv.Itoa(len(want.body)), resp.Header.Get("Content-Length"))
	assert.NotEmpty(t, resp.Header.Get("X-Amzn-Requestid"))
}
