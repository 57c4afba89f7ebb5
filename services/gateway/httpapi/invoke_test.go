package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/esb-dev/esb/internal/agentapi"
	"github.com/esb-dev/esb/internal/eventsapi"
	"github.com/esb-dev/esb/services/gateway/lambdainvoke"
)

func TestInvokeAPI(t *testing.T) {
	tests := []struct {
		name       string
		function   string // path segment, escaped by the test
		query      string
		header     http.Header
		body       string
		handler    http.HandlerFunc // Hello's container
		wantStatus int
		wantHeader map[string]string
		wantBody   string
	}{
		{
			name: "by name", function: "Hello", body: `{"a":1}`,
			handler:    answer(200, nil, `{"got":"it"}`),
			wantStatus: 200, wantBody: `{"got":"it"}`,
			wantHeader: map[string]string{"X-Amz-Executed-Version": "$LATEST", "Content-Type": "application/json", "X-Amz-Function-Error": ""},
		},
		{name: "by name and qualifier", function: "Hello:live", handler: answer(200, nil, `1`), wantStatus: 200, wantBody: `1`},
		{name: "by partial ARN", function: "123456789012:function:Hello", handler: answer(200, nil, `2`), wantStatus: 200, wantBody: `2`},
		{name: "by full ARN", function: "arn:aws:lambda:us-east-1:123456789012:function:Hello", handler: answer(200, nil, `3`), wantStatus: 200, wantBody: `3`},
		{name: "by full ARN with qualifier", function: "arn:aws:lambda:us-east-1:123456789012:function:Hello:$LATEST", handler: answer(200, nil, `4`), wantStatus: 200, wantBody: `4`},
		{
			name: "payload passed through", function: "Hello", body: `{"deep":{"x":[1,2]}}`,
			handler: func(w http.ResponseWriter, r *http.Request) {
				b, _ := io.ReadAll(r.Body)
				_, _ = w.Write(b)
			},
			wantStatus: 200, wantBody: `{"deep":{"x":[1,2]}}`,
		},
		{
			name: "no payload is an empty object", function: "Hello",
			handler: func(w http.ResponseWriter, r *http.Request) {
				b, _ := io.ReadAll(r.Body)
				_, _ = w.Write(b)
			},
			wantStatus: 200, wantBody: `{}`,
		},
		{
			name: "function error", function: "Hello",
			handler:    answer(200, nil, `{"errorMessage":"boom","errorType":"ValueError","stackTrace":[]}`),
			wantStatus: 200, wantHeader: map[string]string{"X-Amz-Function-Error": "Unhandled", "X-Amz-Executed-Version": "$LATEST"},
			wantBody: `{"errorMessage":"boom","errorType":"ValueError","stackTrace":[]}`,
		},
		{
			name: "crash", function: "Hello",
			handler: func(w http.ResponseWriter, r *http.Request) {
				_, _ = io.ReadAll(r.Body)
				w.WriteHeader(http.StatusBadGateway)
				_, _ = io.WriteString(w, `{"errorType":"Runtime.ExitError","errorMessage":"RequestId: x Error: Runtime exited with error: signal: killed"}`)
			},
			wantStatus: 200, wantHeader: map[string]string{"X-Amz-Function-Error": "Unhandled"},
			wantBody: `{"errorType":"Runtime.ExitError","errorMessage":"RequestId: x Error: Runtime exited with error: signal: killed"}`,
		},
		{
			name: "unknown function", function: "Nope",
			wantStatus: 404, wantHeader: map[string]string{"X-Amzn-Errortype": "ResourceNotFoundException"},
			wantBody: `{"Type":"User","Message":"Function not found: arn:aws:lambda:us-east-1:123456789012:function:Nope"}`,
		},
		{
			name: "unknown function by ARN with qualifier", function: "arn:aws:lambda:us-east-1:123456789012:function:Nope:prod",
			wantStatus: 404, wantHeader: map[string]string{"X-Amzn-Errortype": "ResourceNotFoundException"},
			wantBody: `{"Type":"User","Message":"Function not found: arn:aws:lambda:us-east-1:123456789012:function:Nope:prod"}`,
		},
		{
			name: "DryRun", function: "Hello", header: http.Header{"X-Amz-Invocation-Type": {"DryRun"}},
			handler:    answer(500, nil, "must not run"),
			wantStatus: 204, wantBody: "",
		},
		{
			name: "unknown invocation type", function: "Hello", header: http.Header{"X-Amz-Invocation-Type": {"Later"}},
			wantStatus: 400, wantHeader: map[string]string{"X-Amzn-Errortype": "ValidationException"},
			wantBody: `{"message":"1 validation error detected: Value 'Later' at 'invocationType' failed to satisfy constraint: Member must satisfy enum value set: [Event, RequestResponse, DryRun]"}`,
		},
		{
			name: "payload not JSON", function: "Hello", body: `not json`,
			wantStatus: 400, wantHeader: map[string]string{"X-Amzn-Errortype": "InvalidRequestContentException"},
			wantBody: `{"Type":"User","message":"Could not parse request body into json: Could not parse payload into json: Unexpected character"}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, functionsYML, routingYML, harnessOptions{})
			if tt.handler != nil {
				h.function("Hello", tt.handler)
			}
			path := "/2015-03-31/functions/" + url.PathEscape(tt.function) + "/invocations" + tt.query
			resp, body := h.do(t, "POST", path, strings.NewReader(tt.body), tt.header)
			assert.Equal(t, tt.wantStatus, resp.StatusCode, "body: %s", body)
			for k, v := range tt.wantHeader {
				assert.Equal(t, v, resp.Header.Get(k), "header %s", k)
			}
			assert.Equal(t, tt.wantBody, body)
		})
	}
}

func TestInvokeAPITimeout(t *testing.T) {
	h := newHarness(t, functionsYML, routingYML, harnessOptions{invoker: lambdainvoke.Options{
		Deadline: func(agentapi.FunctionSpec) time.Duration { return 20 * time.Millisecond },
	}})
	h.function("Slow", newGate("").handler)
	resp, body := h.do(t, "POST", "/2015-03-31/functions/Slow/invocations", strings.NewReader(`{}`), nil)
	assert.Equal(t, 200, resp.StatusCode)
	assert.Equal(t, "Unhandled", resp.Header.Get("X-Amz-Function-Error"))
	var got map[string]string
	require.NoError(t, json.Unmarshal([]byte(body), &got))
	assert.Len(t, got, 1)
	id := regexp.QuoteMeta(resp.Header.Get("X-Amzn-Requestid"))
	assert.Regexp(t, `^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z `+id+` Task timed out after 1\.00 seconds$`, got["errorMessage"])
	assert.True(t, (<-h.agent.Releases()).Discard)
}

func TestInvokeAPIEventRunsInTheBackground(t *testing.T) {
	h := newHarness(t, functionsYML, routingYML, harnessOptions{})
	g := newGate(`"done"`)
	h.function("Hello", g.handler)

	resp, body := h.do(t, "POST", "/2015-03-31/functions/Hello/invocations", strings.NewReader(`{"e":1}`),
		http.Header{"X-Amz-Invocation-Type": {"Event"}})
	// The answer is back while the function is still held at the gate: it
	// runs under the server's context, not the finished request's.
	assert.Equal(t, http.StatusAccepted, resp.StatusCode)
	assert.Equal(t, "", body)
	assert.JSONEq(t, `{"e":1}`, string(<-g.entered))
	close(g.open)
	assert.False(t, (<-h.agent.Releases()).Discard, "finished normally after the client was long gone")
	require.NoError(t, h.srv.Wait(t.Context()))
	h.log.Wait(t, "event invocation done", 1)
}

func TestParseFunctionName(t *testing.T) {
	tests := []struct {
		name, in, wantName, wantQualifier string
	}{
		{name: "name", in: "fn", wantName: "fn"},
		{name: "name and version", in: "fn:1", wantName: "fn", wantQualifier: "1"},
		{name: "partial ARN", in: "123456789012:function:fn", wantName: "fn"},
		{name: "partial ARN with alias", in: "123456789012:function:fn:live", wantName: "fn", wantQualifier: "live"},
		{name: "ARN", in: "arn:aws:lambda:eu-west-1:123456789012:function:fn", wantName: "fn"},
		{name: "ARN with qualifier", in: "arn:aws:lambda:eu-west-1:123456789012:function:fn:$LATEST", wantName: "fn", wantQualifier: "$LATEST"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, q := parseFunctionName(tt.in)
			assert.Equal(t, tt.wantName, n)
			assert.Equal(t, tt.wantQualifier, q)
		})
	}
}

// queue is an AsyncQueue that records what it was given.
type queue struct {
	mu   sync.Mutex
	err  error
	got  []string // function and payload
	reqs []string
}

func (q *queue) Enqueue(_ context.Context, function, requestID string, payload []byte) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.err != nil {
		return q.err
	}
	q.got = append(q.got, function+" "+string(payload))
	q.reqs = append(q.reqs, requestID)
	return nil
}

func TestInvokeAPIEventGoesToTheQueue(t *testing.T) {
	q := &queue{}
	h := newHarness(t, functionsYML, routingYML, harnessOptions{server: Options{AsyncQueue: q}})
	event := http.Header{"X-Amz-Invocation-Type": {"Event"}}

	resp, body := h.do(t, "POST", "/2015-03-31/functions/Hello/invocations", strings.NewReader(`{"e":1}`), event)
	assert.Equal(t, http.StatusAccepted, resp.StatusCode, body)
	assert.Equal(t, []string{`Hello {"e":1}`}, q.got, "stored, not run here")
	assert.Equal(t, []string{resp.Header.Get("X-Amzn-Requestid")}, q.reqs)

	big := `{"pad":"` + strings.Repeat("x", eventsapi.MaxAsyncPayload) + `"}`
	resp, _ = h.do(t, "POST", "/2015-03-31/functions/Hello/invocations", strings.NewReader(big), event)
	assert.Equal(t, http.StatusRequestEntityTooLarge, resp.StatusCode)
	assert.Equal(t, "RequestTooLargeException", resp.Header.Get("X-Amzn-Errortype"))

	q.err = errors.New("disk full")
	resp, _ = h.do(t, "POST", "/2015-03-31/functions/Hello/invocations", strings.NewReader(`{}`), event)
	assert.Equal(t, http.StatusInternalServerError, resp.StatusCode, "not accepted when not stored")
	assert.Equal(t, "ServiceException", resp.Header.Get("X-Amzn-Errortype"))
	assert.Len(t, q.got, 1)
}
