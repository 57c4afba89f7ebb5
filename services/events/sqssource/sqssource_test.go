package sqssource

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/esb-dev/esb/internal/lambdaclient"
	"github.com/esb-dev/esb/internal/runtimeconfig"
	"github.com/esb-dev/esb/services/events/queue"
)

func msg(id, group string) types.Message {
	m := types.Message{MessageId: aws.String(id), ReceiptHandle: aws.String("rh-" + id), Body: aws.String("body-" + id)}
	if group != "" {
		m.Attributes = map[string]string{"MessageGroupId": group}
	}
	return m
}

func ids(ms []types.Message) []string {
	out := []string{}
	for _, m := range ms {
		out = append(out, aws.ToString(m.MessageId))
	}
	return out
}

func TestHandled(t *testing.T) {
	batch := []types.Message{msg("a", "g1"), msg("b", "g1"), msg("c", "g2"), msg("d", "g1")}
	tests := []struct {
		name   string
		answer string
		fifo   bool
		want   []string
	}{
		{name: "no answer is a success", answer: "", want: []string{"a", "b", "c", "d"}},
		{name: "null is a success", answer: "null", want: []string{"a", "b", "c", "d"}},
		{name: "an object without failures is a success", answer: `{"statusCode":200}`, want: []string{"a", "b", "c", "d"}},
		{name: "an empty failure list is a success", answer: `{"batchItemFailures":[]}`, want: []string{"a", "b", "c", "d"}},
		{name: "only the failed message stays", answer: `{"batchItemFailures":[{"itemIdentifier":"b"}]}`, want: []string{"a", "c", "d"}},
		{name: "FIFO: a failure holds back the rest of its group", answer: `{"batchItemFailures":[{"itemIdentifier":"b"}]}`, fifo: true, want: []string{"a", "c"}},
		{name: "an unknown identifier fails the batch", answer: `{"batchItemFailures":[{"itemIdentifier":"zz"}]}`, want: []string{}},
		{name: "an empty identifier fails the batch", answer: `{"batchItemFailures":[{"itemIdentifier":""}]}`, want: []string{}},
		{name: "a wrong key fails the batch", answer: `{"batchItemFailures":[{"id":"a"}]}`, want: []string{}},
		{name: "an answer that is not an object fails the batch", answer: `"done"`, want: []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, ids(Handled(batch, []byte(tt.answer), tt.fifo)))
		})
	}
}

func TestEventShape(t *testing.T) {
	m := msg("a", "")
	m.MD5OfBody = aws.String("md5")
	m.Attributes = map[string]string{"ApproximateReceiveCount": "1", "SentTimestamp": "1700000000000"}
	m.MessageAttributes = map[string]types.MessageAttributeValue{
		"kind": {DataType: aws.String("String"), StringValue: aws.String("order")},
		"blob": {DataType: aws.String("Binary"), BinaryValue: []byte("hi")},
	}
	data, err := json.Marshal(Event([]types.Message{m}, "arn:aws:sqs:us-east-1:123456789012:q", "us-east-1"))
	require.NoError(t, err)
	assert.JSONEq(t, `{"Records":[{
		"messageId":"a","receiptHandle":"rh-a","body":"body-a","md5OfBody":"md5",
		"attributes":{"ApproximateReceiveCount":"1","SentTimestamp":"1700000000000"},
		"messageAttributes":{
			"kind":{"stringValue":"order","stringListValues":[],"binaryListValues":[],"dataType":"String"},
			"blob":{"binaryValue":"aGk=","stringListValues":[],"binaryListValues":[],"dataType":"Binary"}},
		"eventSource":"aws:sqs","eventSourceARN":"arn:aws:sqs:us-east-1:123456789012:q","awsRegion":"us-east-1"}]}`, string(data))
}

func TestMappings(t *testing.T) {
	off := false
	cfg := &runtimeconfig.Config{Functions: runtimeconfig.FunctionsFile{Functions: map[string]runtimeconfig.Function{
		"B": {Timeout: 5, EventSources: []runtimeconfig.EventSource{{Type: "sqs", Queue: "arn:aws:sqs:us-east-1:1:q", MaxBatchingWindow: 2, ReportBatchItemFailures: true, MaxConcurrency: 3}}},
		"A": {EventSources: []runtimeconfig.EventSource{{Type: "sqs", Queue: "arn:aws:sqs:us-east-1:1:off", Enabled: &off}, {Type: "sqs", Queue: "arn:aws:sqs:us-east-1:1:x.fifo"}}},
	}}}
	got := Mappings(cfg)
	assert.Equal(t, []Mapping{
		{Type: "sqs", Function: "A", Timeout: 3, QueueArn: "arn:aws:sqs:us-east-1:1:x.fifo", BatchSize: 10},
		{Type: "sqs", Function: "B", Timeout: 5, QueueArn: "arn:aws:sqs:us-east-1:1:q", BatchSize: 10, Window: 2 * time.Second, Report: true, Concurrency: 3},
	}, got, "disabled mappings are left out, defaults filled in")
	assert.True(t, got[0].fifo())
	assert.Equal(t, "q", got[1].queueName())
}

// fakeSQS holds one queue's messages; a received message is gone until
// deleted or redelivered by the test.
type fakeSQS struct {
	mu       sync.Mutex
	ready    []types.Message
	deleted  []string
	receives int
}

func (f *fakeSQS) GetQueueUrl(_ context.Context, in *sqs.GetQueueUrlInput, _ ...func(*sqs.Options)) (*sqs.GetQueueUrlOutput, error) {
	return &sqs.GetQueueUrlOutput{QueueUrl: aws.String("http://messaging:4566/1/" + aws.ToString(in.QueueName))}, nil
}

func (f *fakeSQS) ReceiveMessage(ctx context.Context, in *sqs.ReceiveMessageInput, _ ...func(*sqs.Options)) (*sqs.ReceiveMessageOutput, error) {
	f.mu.Lock()
	f.receives++
	n := min(int(in.MaxNumberOfMessages), len(f.ready))
	out := f.ready[:n]
	f.ready = f.ready[n:]
	f.mu.Unlock()
	if n == 0 {
		// A long poll that finds nothing waits, as SQS does.
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
	return &sqs.ReceiveMessageOutput{Messages: out}, nil
}

func (f *fakeSQS) DeleteMessageBatch(_ context.Context, in *sqs.DeleteMessageBatchInput, _ ...func(*sqs.Options)) (*sqs.DeleteMessageBatchOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, e := range in.Entries {
		f.deleted = append(f.deleted, aws.ToString(e.ReceiptHandle))
	}
	return &sqs.DeleteMessageBatchOutput{}, nil
}

type fakeInvoker struct {
	mu      sync.Mutex
	batches [][]string
	answer  func(ids []string) lambdaclient.Result
}

func (f *fakeInvoker) Invoke(_ context.Context, function string, payload []byte) (lambdaclient.Result, error) {
	var ev struct {
		Records []struct {
			MessageID string `json:"messageId"`
		}
	}
	if err := json.Unmarshal(payload, &ev); err != nil {
		return lambdaclient.Result{}, err
	}
	var got []string
	for _, r := range ev.Records {
		got = append(got, r.MessageID)
	}
	f.mu.Lock()
	f.batches = append(f.batches, got)
	f.mu.Unlock()
	return f.answer(got), nil
}

type staticConfig struct{ cfg runtimeconfig.Config }

func (s staticConfig) Config() *runtimeconfig.Config { return &s.cfg }

func TestManagerDeletesWhatTheFunctionHandled(t *testing.T) {
	q := &fakeSQS{}
	for i := range 5 {
		q.ready = append(q.ready, msg(fmt.Sprint(i), ""))
	}
	inv := &fakeInvoker{answer: func(ids []string) lambdaclient.Result {
		return lambdaclient.Result{StatusCode: 200, Payload: []byte(`{"batchItemFailures":[{"itemIdentifier":"3"}]}`)}
	}}
	cfg := staticConfig{runtimeconfig.Config{Functions: runtimeconfig.FunctionsFile{Functions: map[string]runtimeconfig.Function{
		"Worker": {Timeout: 3, EventSources: []runtimeconfig.EventSource{{Type: "sqs", Queue: "arn:aws:sqs:us-east-1:1:jobs", BatchSize: 5, MaxBatchingWindow: 1, ReportBatchItemFailures: true, MaxConcurrency: 2}}},
	}}}}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		done <- New(q, inv, nil, cfg, Options{WaitTime: 50 * time.Millisecond, Reconcile: 10 * time.Millisecond}).Run(ctx)
	}()
	require.Eventually(t, func() bool {
		q.mu.Lock()
		defer q.mu.Unlock()
		return len(q.deleted) == 4
	}, 5*time.Second, 10*time.Millisecond)
	cancel()
	require.NoError(t, <-done)

	assert.ElementsMatch(t, []string{"rh-0", "rh-1", "rh-2", "rh-4"}, q.deleted, "the reported failure stays on the queue")
	inv.mu.Lock()
	defer inv.mu.Unlock()
	var all []string
	for _, b := range inv.batches {
		all = append(all, b...)
	}
	assert.ElementsMatch(t, []string{"0", "1", "2", "3", "4"}, all, "every message reached the function once")
}

func TestManagerLeavesAFailedBatch(t *testing.T) {
	q := &fakeSQS{ready: []types.Message{msg("a", ""), msg("b", "")}}
	inv := &fakeInvoker{answer: func([]string) lambdaclient.Result {
		return lambdaclient.Result{StatusCode: 200, FunctionError: "Unhandled", Payload: []byte(`{"errorMessage":"boom"}`)}
	}}
	cfg := staticConfig{runtimeconfig.Config{Functions: runtimeconfig.FunctionsFile{Functions: map[string]runtimeconfig.Function{
		"Worker": {EventSources: []runtimeconfig.EventSource{{Type: "sqs", Queue: "arn:aws:sqs:us-east-1:1:jobs"}}},
	}}}}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- New(q, inv, nil, cfg, Options{WaitTime: 50 * time.Millisecond}).Run(ctx) }()
	require.Eventually(t, func() bool {
		inv.mu.Lock()
		defer inv.mu.Unlock()
		return len(inv.batches) > 0
	}, 5*time.Second, 10*time.Millisecond)
	cancel()
	require.NoError(t, <-done)
	assert.Empty(t, q.deleted, "a function error deletes nothing: the queue redelivers and, past maxReceiveCount, dead-letters")
}

type fakeAsync struct {
	mu  sync.Mutex
	evs []queue.Event
}

func (f *fakeAsync) Add(evs ...queue.Event) ([]queue.Event, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.evs = append(f.evs, evs...)
	return evs, nil
}

func TestManagerStoresSNSNotificationsAsAsyncInvocations(t *testing.T) {
	note := msg("n1", "")
	note.Body = aws.String(`{"Type":"Notification","MessageId":"sns-1","TopicArn":"arn:aws:sns:us-east-1:1:alerts","Message":"hello"}`)
	stray := msg("n2", "")
	q := &fakeSQS{ready: []types.Message{note, stray}}
	async := &fakeAsync{}
	cfg := staticConfig{runtimeconfig.Config{Functions: runtimeconfig.FunctionsFile{Functions: map[string]runtimeconfig.Function{
		"Fan": {EventSources: []runtimeconfig.EventSource{{Type: "sns", Queue: "arn:aws:sqs:us-east-1:1:esb-sns-Fan-Alerts", Topic: "arn:aws:sns:us-east-1:1:alerts"}}},
	}}}}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- New(q, &fakeInvoker{}, async, cfg, Options{WaitTime: 50 * time.Millisecond}).Run(ctx) }()
	require.Eventually(t, func() bool {
		q.mu.Lock()
		defer q.mu.Unlock()
		return len(q.deleted) == 2
	}, 5*time.Second, 10*time.Millisecond)
	cancel()
	require.NoError(t, <-done)

	require.Len(t, async.evs, 1, "the stray message is dropped, not invoked")
	ev := async.evs[0]
	assert.Equal(t, queue.KindInvoke, ev.Kind)
	assert.Equal(t, "Fan", ev.Function)
	assert.Equal(t, "n1", ev.RequestID)
	assert.Equal(t, "sns", ev.Source)
	assert.Contains(t, string(ev.Payload), `"EventSource":"aws:sns"`)
	assert.Contains(t, string(ev.Payload), `"Message":"hello"`)
}
