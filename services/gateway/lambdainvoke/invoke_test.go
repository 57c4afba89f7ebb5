package lambdainvoke

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/esb-dev/esb/internal/agentapi"
	"github.com/esb-dev/esb/internal/runtimeconfig"
	"github.com/esb-dev/esb/services/gateway/fakeagent"
)

func spec(name string, maxConcurrency int) agentapi.FunctionSpec {
	return agentapi.FunctionSpec{Name: name, Function: runtimeconfig.Function{
		Image: "img", Timeout: 3, Scaling: runtimeconfig.Scaling{MaxConcurrency: maxConcurrency},
	}}
}

// setup starts a fake function answering with h and a fake agent leasing it.
func setup(t *testing.T, h http.HandlerFunc) *fakeagent.Agent {
	t.Helper()
	fn := fakeagent.Function(t, h)
	return fakeagent.New(t, func(agentapi.FunctionSpec) string { return fn.URL })
}

func TestInvokeOutcomes(t *testing.T) {
	tests := []struct {
		name        string
		handler     http.HandlerFunc
		opts        Options
		wantErr     error
		wantFnErr   string
		wantPayload string
		wantDiscard bool
	}{
		{
			name: "result",
			handler: func(w http.ResponseWriter, r *http.Request) {
				body, _ := io.ReadAll(r.Body)
				_, _ = w.Write(body)
			},
			wantPayload: `{"in":1}`,
		},
		{
			name: "function error by header",
			handler: func(w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("X-Amz-Function-Error", "Unhandled")
				_, _ = io.WriteString(w, `{"errorMessage":"boom"}`)
			},
			wantFnErr:   "Unhandled",
			wantPayload: `{"errorMessage":"boom"}`,
		},
		{
			name: "function error by error object",
			handler: func(w http.ResponseWriter, _ *http.Request) {
				_, _ = io.WriteString(w, `{"errorMessage":"bad value","errorType":"ValueError","requestId":"r","stackTrace":["a"]}`)
			},
			wantFnErr:   "Unhandled",
			wantPayload: `{"errorMessage":"bad value","errorType":"ValueError","requestId":"r","stackTrace":["a"]}`,
		},
		{
			name: "data that merely contains errorType is a result",
			handler: func(w http.ResponseWriter, _ *http.Request) {
				_, _ = io.WriteString(w, `{"errorType":"none","items":[]}`)
			},
			wantPayload: `{"errorType":"none","items":[]}`,
		},
		{
			name: "runtime error discards the container",
			handler: func(w http.ResponseWriter, _ *http.Request) {
				_, _ = io.WriteString(w, `{"errorType":"Runtime.ExitError","errorMessage":"RequestId: r Error: Runtime exited with error: exit status 1"}`)
			},
			wantFnErr:   "Unhandled",
			wantPayload: `{"errorType":"Runtime.ExitError","errorMessage":"RequestId: r Error: Runtime exited with error: exit status 1"}`,
			wantDiscard: true,
		},
		{
			name: "runtime exited: RIE answers 502",
			handler: func(w http.ResponseWriter, _ *http.Request) {
				w.WriteHeader(http.StatusBadGateway)
				_, _ = io.WriteString(w, `{"errorType":"Runtime.ExitError","errorMessage":"exit status 137"}`)
			},
			wantErr:     ErrCrashed,
			wantPayload: `{"errorType":"Runtime.ExitError","errorMessage":"exit status 137"}`,
			wantDiscard: true,
		},
		{
			name: "connection dropped",
			handler: func(w http.ResponseWriter, _ *http.Request) {
				conn, _, err := http.NewResponseController(w).Hijack()
				if err == nil {
					_ = conn.Close()
				}
			},
			wantErr:     ErrCrashed,
			wantDiscard: true,
		},
		{
			name: "RIE reports the timeout",
			handler: func(w http.ResponseWriter, _ *http.Request) {
				_, _ = io.WriteString(w, "Task timed out after 3.00 seconds")
			},
			wantErr:     ErrTimeout,
			wantPayload: "Task timed out after 3.00 seconds",
			wantDiscard: true,
		},
		{
			name: "gateway enforces the deadline",
			handler: func(_ http.ResponseWriter, r *http.Request) {
				// net/http notices the caller hanging up only once the body is read.
				_, _ = io.ReadAll(r.Body)
				<-r.Context().Done() // runs until the gateway gives up on it
			},
			opts:        Options{Deadline: func(agentapi.FunctionSpec) time.Duration { return 20 * time.Millisecond }},
			wantErr:     ErrTimeout,
			wantDiscard: true,
		},
		{
			name: "response too large",
			handler: func(w http.ResponseWriter, _ *http.Request) {
				_, _ = io.WriteString(w, strings.Repeat("x", 11))
			},
			opts:    Options{MaxResponse: 10},
			wantErr: ErrResponseTooLarge,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			agent := setup(t, tt.handler)
			inv := New(agent.Client(), tt.opts)
			res, err := inv.Invoke(t.Context(), Request{Function: spec("F", 0), Payload: []byte(`{"in":1}`), RequestID: "req-1"})
			if tt.wantErr != nil {
				require.Error(t, err)
				assert.ErrorIs(t, err, tt.wantErr)
			} else {
				require.NoError(t, err)
			}
			assert.Equal(t, tt.wantFnErr, res.FunctionError)
			if tt.wantPayload != "" {
				assert.Equal(t, tt.wantPayload, string(res.Payload))
			}
			assert.True(t, res.Cold, "first lease of the function")
			rel := <-agent.Releases()
			assert.Equal(t, "lease-1", rel.LeaseID)
			assert.Equal(t, tt.wantDiscard, rel.Discard)
			if tt.wantDiscard {
				assert.NotEmpty(t, rel.Reason)
			}
		})
	}
}

func TestInvokeAgentFailure(t *testing.T) {
	agent := setup(t, func(http.ResponseWriter, *http.Request) {})
	agent.FailAcquire(true)
	_, err := New(agent.Client(), Options{}).Invoke(t.Context(), Request{Function: spec("F", 0)})
	require.Error(t, err)
	assert.ErrorIs(t, err, ErrAgent)
	assert.True(t, agentapi.IsCode(err, agentapi.CodeImagePullFailed), "the agent's answer stays inspectable: %v", err)
	assert.Empty(t, agent.Releases(), "nothing leased, nothing to return")
}

// A hung agent (or a container engine hanging under it) must not hang the
// request: the acquire ends at the function's timeout plus AcquireMargin
// with ErrAgent, which the HTTP layer answers with a 5xx.
func TestInvokeAgentHangs(t *testing.T) {
	unblock := make(chan struct{})
	hung := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		select {
		case <-r.Context().Done():
		case <-unblock:
		}
	}))
	t.Cleanup(hung.Close)
	t.Cleanup(func() { close(unblock) }) // runs first: Close waits for the handler
	agent := &agentapi.Client{BaseURL: hung.URL, HTTP: hung.Client()}
	fn := spec("F", 0)
	fn.Function.Timeout = 1
	start := time.Now()
	_, err := New(agent, Options{AcquireMargin: 200 * time.Millisecond}).Invoke(t.Context(), Request{Function: fn})
	took := time.Since(start)
	require.ErrorIs(t, err, ErrAgent)
	assert.Contains(t, err.Error(), "the agent gave no container within 1.2s")
	assert.GreaterOrEqual(t, took, 1200*time.Millisecond)
	assert.Less(t, took, 3*time.Second)
}

// blocking is a function whose invocations run until the test lets them go,
// reporting each start and the highest concurrency it saw.
type blocking struct {
	started chan struct{}
	release chan struct{}
	running atomic.Int64
	peak    atomic.Int64
}

func newBlocking() *blocking {
	return &blocking{started: make(chan struct{}, 16), release: make(chan struct{})}
}

func (b *blocking) handler(w http.ResponseWriter, _ *http.Request) {
	n := b.running.Add(1)
	for {
		p := b.peak.Load()
		if n <= p || b.peak.CompareAndSwap(p, n) {
			break
		}
	}
	b.started <- struct{}{}
	<-b.release
	b.running.Add(-1)
	_, _ = io.WriteString(w, `"ok"`)
}

func TestInvokeThrottlesAfterQueueWait(t *testing.T) {
	b := newBlocking()
	agent := setup(t, b.handler)
	t.Cleanup(func() { close(b.release) }) // before the servers close: they wait for handlers
	inv := New(agent.Client(), Options{MaxQueueWait: 10 * time.Millisecond})

	var wg sync.WaitGroup
	wg.Go(func() {
		_, err := inv.Invoke(t.Context(), Request{Function: spec("F", 1)})
		assert.NoError(t, err)
	})
	<-b.started // the only slot is taken

	_, err := inv.Invoke(t.Context(), Request{Function: spec("F", 1)})
	require.Error(t, err)
	assert.ErrorIs(t, err, ErrThrottled)
	b.release <- struct{}{}
	wg.Wait()

	go func() { <-b.started; b.release <- struct{}{} }()
	_, err = inv.Invoke(t.Context(), Request{Function: spec("F", 1)})
	assert.NoError(t, err, "the freed slot is usable again")
}

func TestInvokeQueuedRequestRunsWhenSlotFrees(t *testing.T) {
	b := newBlocking()
	agent := setup(t, b.handler)
	inv := New(agent.Client(), Options{MaxQueueWait: time.Hour})

	var wg sync.WaitGroup
	for range 3 {
		wg.Go(func() {
			res, err := inv.Invoke(t.Context(), Request{Function: spec("F", 1)})
			assert.NoError(t, err)
			assert.Equal(t, `"ok"`, string(res.Payload))
		})
	}
	for range 3 {
		<-b.started
		b.release <- struct{}{}
	}
	wg.Wait()
	assert.EqualValues(t, 1, b.peak.Load(), "max_concurrency 1 never ran two at once")
}

func TestInvokeAsyncWaitsPastQueueWait(t *testing.T) {
	b := newBlocking()
	agent := setup(t, b.handler)
	inv := New(agent.Client(), Options{MaxQueueWait: time.Nanosecond})

	var wg sync.WaitGroup
	wg.Go(func() {
		_, err := inv.Invoke(t.Context(), Request{Function: spec("F", 1)})
		assert.NoError(t, err)
	})
	<-b.started
	wg.Go(func() {
		_, err := inv.Invoke(t.Context(), Request{Function: spec("F", 1), Async: true})
		assert.NoError(t, err, "an Event invocation queues instead of throttling")
	})
	b.release <- struct{}{}
	<-b.started
	b.release <- struct{}{}
	wg.Wait()
}

func TestInvokeCallerGoneKeepsContainerWarm(t *testing.T) {
	b := newBlocking()
	agent := setup(t, b.handler)
	inv := New(agent.Client(), Options{})

	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		_, err := inv.Invoke(ctx, Request{Function: spec("F", 0)})
		done <- err
	}()
	<-b.started
	cancel() // the client went away mid-invocation
	b.release <- struct{}{}
	require.NoError(t, <-done, "the function finished; its result is simply not wanted")
	rel := <-agent.Releases()
	assert.False(t, rel.Discard, "a function that finished keeps its container warm")
}

func TestInvokeCallerGoneWhileQueued(t *testing.T) {
	b := newBlocking()
	agent := setup(t, b.handler)
	t.Cleanup(func() { close(b.release) })
	inv := New(agent.Client(), Options{MaxQueueWait: time.Hour})
	go func() { _, _ = inv.Invoke(t.Context(), Request{Function: spec("F", 1)}) }()
	<-b.started

	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := inv.Invoke(ctx, Request{Function: spec("F", 1)})
	assert.True(t, errors.Is(err, context.Canceled), "got %v", err)
}

func TestErrorType(t *testing.T) {
	tests := []struct {
		name, body, want string
	}{
		{name: "python", body: `{"errorMessage":"m","errorType":"KeyError","requestId":"r","stackTrace":[]}`, want: "KeyError"},
		{name: "node", body: `{"errorType":"Error","errorMessage":"m","trace":["Error: m"]}`, want: "Error"},
		{name: "extra field", body: `{"errorType":"Error","statusCode":500}`, want: ""},
		{name: "no errorType", body: `{"errorMessage":"m"}`, want: ""},
		{name: "not an object", body: `"errorType"`, want: ""},
		{name: "errorType not a string", body: `{"errorType":1}`, want: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, errorType([]byte(tt.body)))
		})
	}
}
