package dispatch

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/esb-dev/esb/internal/lambdaclient"
	"github.com/esb-dev/esb/internal/runtimeconfig"
	"github.com/esb-dev/esb/services/events/queue"
)

type functions map[string]runtimeconfig.Function

func (f functions) Function(name string) (runtimeconfig.Function, bool) {
	fn, ok := f[name]
	return fn, ok
}

type call struct {
	function string
	payload  string
}

// invoker answers from a script per function and reports every call.
type invoker struct {
	mu      sync.Mutex
	answers map[string][]func() (lambdaclient.Result, error)
	calls   chan call
}

func (i *invoker) Invoke(_ context.Context, function string, payload []byte) (lambdaclient.Result, error) {
	i.calls <- call{function, string(payload)}
	i.mu.Lock()
	defer i.mu.Unlock()
	script := i.answers[function]
	if len(script) == 0 {
		return lambdaclient.Result{StatusCode: 200, Payload: []byte(`"ok"`)}, nil
	}
	next := script[0]
	i.answers[function] = script[1:]
	return next()
}

func failed() (lambdaclient.Result, error) {
	return lambdaclient.Result{StatusCode: 200, FunctionError: "Unhandled", Payload: []byte(`{"errorMessage":"boom"}`)}, nil
}

func throttled() (lambdaclient.Result, error) {
	return lambdaclient.Result{}, fmt.Errorf("invoke: %w", lambdaclient.ErrThrottled)
}

func retries(n int) *int { return &n }

func start(t *testing.T, fns functions, inv *invoker) *queue.Store {
	t.Helper()
	store, err := queue.Open(filepath.Join(t.TempDir(), "q.db"))
	require.NoError(t, err)
	d := New(store, fns, inv, Options{RetryBackoff: 20 * time.Millisecond, ThrottleBackoff: 10 * time.Millisecond, Poll: 10 * time.Millisecond})
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { defer close(done); _ = d.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done; store.Close() })
	return store
}

func enqueue(t *testing.T, store *queue.Store, fn, payload string) {
	t.Helper()
	now := time.Now()
	_, err := store.Add(queue.Event{Kind: queue.KindInvoke, Function: fn, RequestID: "req-1", Payload: []byte(payload), Received: now, Due: now})
	require.NoError(t, err)
}

func next(t *testing.T, inv *invoker) call {
	t.Helper()
	select {
	case c := <-inv.calls:
		return c
	case <-time.After(5 * time.Second):
		t.Fatal("no invocation")
		return call{}
	}
}

func quiet(t *testing.T, inv *invoker) {
	t.Helper()
	select {
	case c := <-inv.calls:
		t.Fatalf("unexpected invocation of %s", c.function)
	case <-time.After(200 * time.Millisecond):
	}
}

func TestDispatch(t *testing.T) {
	dest := "arn:aws:lambda:us-east-1:123456789012:function:dest"
	tests := []struct {
		name    string
		async   *runtimeconfig.Async
		script  []func() (lambdaclient.Result, error)
		calls   []string // functions invoked, in order
		record  string   // condition of the destination record, if any
		attempt int      // its approximateInvokeCount
	}{
		{name: "retries exhausted go to OnFailure", async: &runtimeconfig.Async{MaximumRetryAttempts: retries(1), OnFailure: dest},
			script: []func() (lambdaclient.Result, error){failed, failed, failed}, calls: []string{"f", "f", "dest"}, record: "RetriesExhausted", attempt: 2},
		{name: "default two retries", async: &runtimeconfig.Async{OnFailure: dest},
			script: []func() (lambdaclient.Result, error){failed, failed, failed}, calls: []string{"f", "f", "f", "dest"}, record: "RetriesExhausted", attempt: 3},
		{name: "success goes to OnSuccess", async: &runtimeconfig.Async{OnSuccess: dest, OnFailure: "arn:aws:lambda:us-east-1:123456789012:function:other"},
			calls: []string{"f", "dest"}, record: "Success", attempt: 1},
		{name: "throttles are not attempts", async: &runtimeconfig.Async{MaximumRetryAttempts: retries(0), OnSuccess: dest},
			script: []func() (lambdaclient.Result, error){throttled, throttled}, calls: []string{"f", "f", "f", "dest"}, record: "Success", attempt: 1},
		{name: "no retry, no destination", async: &runtimeconfig.Async{MaximumRetryAttempts: retries(0)},
			script: []func() (lambdaclient.Result, error){failed}, calls: []string{"f"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inv := &invoker{answers: map[string][]func() (lambdaclient.Result, error){"f": tt.script}, calls: make(chan call, 16)}
			store := start(t, functions{"f": {Async: tt.async}, "dest": {}, "other": {}}, inv)
			enqueue(t, store, "f", `{"n":1}`)
			var last call
			for _, want := range tt.calls {
				last = next(t, inv)
				require.Equal(t, want, last.function)
			}
			quiet(t, inv)
			if tt.record == "" {
				return
			}
			var rec Record
			require.NoError(t, json.Unmarshal([]byte(last.payload), &rec))
			assert.Equal(t, "1.0", rec.Version)
			assert.Equal(t, tt.record, rec.RequestContext.Condition)
			assert.Equal(t, tt.attempt, rec.RequestContext.ApproximateInvokeCount)
			assert.Equal(t, "req-1", rec.RequestContext.RequestID)
			assert.Equal(t, "arn:aws:lambda:us-east-1:123456789012:function:f:$LATEST", rec.RequestContext.FunctionArn)
			assert.JSONEq(t, `{"n":1}`, string(rec.RequestPayload))
			require.NotNil(t, rec.ResponseContext)
			assert.Equal(t, 200, rec.ResponseContext.StatusCode)
			assert.Equal(t, "$LATEST", rec.ResponseContext.ExecutedVersion)
			if tt.record == "Success" {
				assert.Empty(t, rec.ResponseContext.FunctionError)
				assert.JSONEq(t, `"ok"`, string(rec.ResponsePayload))
			} else {
				assert.Equal(t, "Unhandled", rec.ResponseContext.FunctionError)
				assert.JSONEq(t, `{"errorMessage":"boom"}`, string(rec.ResponsePayload))
			}
			n, err := store.Len()
			require.NoError(t, err)
			assert.Zero(t, n, "the queue is empty once the destination ran")
		})
	}
}

func TestEventAgeExceeded(t *testing.T) {
	dest := "arn:aws:lambda:us-east-1:123456789012:function:dest"
	inv := &invoker{answers: map[string][]func() (lambdaclient.Result, error){}, calls: make(chan call, 4)}
	store := start(t, functions{"f": {Async: &runtimeconfig.Async{MaximumEventAge: 60, OnFailure: dest}}, "dest": {}}, inv)
	old := time.Now().Add(-2 * time.Minute)
	_, err := store.Add(queue.Event{Kind: queue.KindInvoke, Function: "f", RequestID: "r", Payload: []byte(`{}`), Received: old, Due: time.Now()})
	require.NoError(t, err)
	c := next(t, inv)
	require.Equal(t, "dest", c.function, "a too old event is not run")
	var rec Record
	require.NoError(t, json.Unmarshal([]byte(c.payload), &rec))
	assert.Equal(t, "EventAgeExceeded", rec.RequestContext.Condition)
	assert.Zero(t, rec.RequestContext.ApproximateInvokeCount)
	assert.Nil(t, rec.ResponseContext)
}

func TestDeliveryWithoutSenderIsDropped(t *testing.T) {
	inv := &invoker{answers: map[string][]func() (lambdaclient.Result, error){"f": {failed}}, calls: make(chan call, 4)}
	store := start(t, functions{"f": {Async: &runtimeconfig.Async{MaximumRetryAttempts: retries(0), DeadLetter: "arn:aws:sqs:us-east-1:123456789012:dlq"}}}, inv)
	enqueue(t, store, "f", `{}`)
	next(t, inv)
	require.Eventually(t, func() bool { n, _ := store.Len(); return n == 0 }, 5*time.Second, 10*time.Millisecond)
}

type sender struct {
	sent chan string
}

func (s *sender) Send(_ context.Context, arn string, body []byte, attrs map[string]string) error {
	s.sent <- fmt.Sprintf("%s %s %s %s %s", arn, body, attrs["RequestID"], attrs["ErrorCode"], attrs["ErrorMessage"])
	return nil
}

func TestDeadLetterAndSQSDestination(t *testing.T) {
	dlq := "arn:aws:sqs:us-east-1:123456789012:dlq"
	topic := "arn:aws:sns:us-east-1:123456789012:failures"
	inv := &invoker{answers: map[string][]func() (lambdaclient.Result, error){"f": {failed}}, calls: make(chan call, 4)}
	store, err := queue.Open(filepath.Join(t.TempDir(), "q.db"))
	require.NoError(t, err)
	out := &sender{sent: make(chan string, 4)}
	d := New(store, functions{"f": {Async: &runtimeconfig.Async{MaximumRetryAttempts: retries(0), DeadLetter: dlq, OnFailure: topic}}}, inv,
		Options{Poll: 10 * time.Millisecond, Senders: map[string]Sender{"sqs": out, "sns": out}})
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { defer close(done); _ = d.Run(ctx) }()
	defer func() { cancel(); <-done; store.Close() }()

	enqueue(t, store, "f", `{"n":2}`)
	next(t, inv)
	got := []string{<-out.sent, <-out.sent}
	var toDLQ, toTopic string
	for _, g := range got {
		if strings.HasPrefix(g, dlq) {
			toDLQ = g
		} else {
			toTopic = g
		}
	}
	assert.Equal(t, dlq+` {"n":2} req-1 200 boom`, toDLQ, "the dead letter is the event, what failed in its attributes")
	assert.Contains(t, toTopic, `"condition":"RetriesExhausted"`)
	require.Eventually(t, func() bool { n, _ := store.Len(); return n == 0 }, 5*time.Second, 10*time.Millisecond)
}
