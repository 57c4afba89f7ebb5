// Package sqssource runs the SQS event source mappings of the deployed
// functions, and the queues of their SNS subscriptions, as Lambda's
// pollers do: it long-polls each mapped queue on the
// env's messaging service, hands batches to the function through the
// gateway's Invoke API (synchronously, as Lambda does for SQS), deletes
// what the function processed and leaves the rest to the queue's
// visibility timeout, so a failed message is read again and, after the
// queue's maxReceiveCount, moved to its dead-letter queue by the service.
//
// An SNS event's queue holds SNS notifications: each one becomes an
// asynchronous invocation in the events service's durable queue (SNS
// invokes Lambda asynchronously, with Lambda's retries and destinations),
// and is deleted from the SQS queue once stored.
//
// Delivery is at least once. A FIFO queue is read by one poller at a time
// and a failed message holds back the later messages of its group in the
// same batch, so each message group is handled in order.
package sqssource

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/esb-dev/esb/internal/lambdaclient"
	"github.com/esb-dev/esb/internal/runtimeconfig"
	"github.com/esb-dev/esb/services/events/queue"
	"github.com/esb-dev/esb/services/events/snsevent"
)

// SQS is the part of the SQS API the pollers call; *sqs.Client
// implements it.
type SQS interface {
	GetQueueUrl(ctx context.Context, in *sqs.GetQueueUrlInput, optFns ...func(*sqs.Options)) (*sqs.GetQueueUrlOutput, error)
	ReceiveMessage(ctx context.Context, in *sqs.ReceiveMessageInput, optFns ...func(*sqs.Options)) (*sqs.ReceiveMessageOutput, error)
	DeleteMessageBatch(ctx context.Context, in *sqs.DeleteMessageBatchInput, optFns ...func(*sqs.Options)) (*sqs.DeleteMessageBatchOutput, error)
}

// Invoker runs a function synchronously.
type Invoker interface {
	Invoke(ctx context.Context, function string, payload []byte) (lambdaclient.Result, error)
}

// Async stores asynchronous invocations; *queue.Store implements it.
type Async interface {
	Add(evs ...queue.Event) ([]queue.Event, error)
}

// Functions serves the current runtime config.
type Functions interface {
	Config() *runtimeconfig.Config
}

// Options tunes a Manager; the zero value is ready to use.
type Options struct {
	Region string // awsRegion of the records (default us-east-1)
	// Reconcile is how often the mappings are compared with the config
	// (default 1s).
	Reconcile time.Duration
	// WaitTime is the long poll of each receive (default 20s, SQS's most).
	WaitTime time.Duration
	// Concurrency is the number of pollers of a standard queue whose
	// mapping sets no MaximumConcurrency (default 2).
	Concurrency int
	// Retry is the pause after a failed receive or a missing queue
	// (default 2s).
	Retry  time.Duration
	Logger *slog.Logger
}

// Manager keeps one poller group per SQS mapping of the config.
type Manager struct {
	sqs     SQS
	invoker Invoker
	async   Async
	fns     Functions
	opts    Options
}

// New returns a Manager.
func New(client SQS, invoker Invoker, async Async, fns Functions, opts Options) *Manager {
	if opts.Region == "" {
		opts.Region = "us-east-1"
	}
	if opts.Reconcile <= 0 {
		opts.Reconcile = time.Second
	}
	if opts.WaitTime <= 0 {
		opts.WaitTime = 20 * time.Second
	}
	if opts.Concurrency <= 0 {
		opts.Concurrency = 2
	}
	if opts.Retry <= 0 {
		opts.Retry = 2 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &Manager{sqs: client, invoker: invoker, async: async, fns: fns, opts: opts}
}

// Mapping is one SQS event source of one function, with everything that
// changes how it is polled: a change of any field restarts its pollers.
type Mapping struct {
	Type        string // runtimeconfig.EventSourceSQS or EventSourceSNS
	Topic       string // EventSourceSNS: the topic's ARN
	Function    string
	Timeout     int // the function's, in seconds
	QueueArn    string
	BatchSize   int
	Window      time.Duration
	Report      bool
	Concurrency int
}

// Mappings lists the enabled SQS and SNS mappings of cfg.
func Mappings(cfg *runtimeconfig.Config) []Mapping {
	var out []Mapping
	for _, name := range slices.Sorted(maps.Keys(cfg.Functions.Functions)) {
		fn := cfg.Functions.Functions[name]
		for _, src := range fn.EventSources {
			known := src.Type == runtimeconfig.EventSourceSQS || src.Type == runtimeconfig.EventSourceSNS
			if !known || src.Queue == "" || (src.Enabled != nil && !*src.Enabled) {
				continue
			}
			m := Mapping{
				Type: src.Type, Topic: src.Topic, Function: name, Timeout: fn.Timeout, QueueArn: src.Queue, BatchSize: src.BatchSize,
				Window: time.Duration(src.MaxBatchingWindow) * time.Second, Report: src.ReportBatchItemFailures,
				Concurrency: src.MaxConcurrency,
			}
			if m.BatchSize <= 0 {
				m.BatchSize = 10
			}
			if m.Timeout <= 0 {
				m.Timeout = 3
			}
			out = append(out, m)
		}
	}
	return out
}

// fifo reports whether the mapping reads a FIFO queue.
func (m Mapping) fifo() bool { return strings.HasSuffix(m.QueueArn, ".fifo") }

// queueName is the last field of the queue's ARN.
func (m Mapping) queueName() string { return m.QueueArn[strings.LastIndex(m.QueueArn, ":")+1:] }

// Run reconciles the pollers with the config until ctx ends, then stops
// them and waits for them.
func (m *Manager) Run(ctx context.Context) error {
	type running struct {
		cancel context.CancelFunc
		done   chan struct{}
	}
	pollers := map[Mapping]running{}
	stop := func(mp Mapping) {
		r := pollers[mp]
		r.cancel()
		<-r.done
		delete(pollers, mp)
	}
	defer func() {
		for mp := range pollers {
			stop(mp)
		}
	}()
	t := time.NewTicker(m.opts.Reconcile)
	defer t.Stop()
	for {
		want := map[Mapping]bool{}
		for _, mp := range Mappings(m.fns.Config()) {
			want[mp] = true
		}
		for mp := range pollers {
			if !want[mp] {
				m.opts.Logger.Info("sqs mapping stopped", "function", mp.Function, "queue", mp.QueueArn)
				stop(mp)
			}
		}
		for mp := range want {
			if _, ok := pollers[mp]; ok {
				continue
			}
			pctx, cancel := context.WithCancel(ctx)
			done := make(chan struct{})
			pollers[mp] = running{cancel: cancel, done: done}
			m.opts.Logger.Info("sqs mapping started", "function", mp.Function, "queue", mp.QueueArn, "batch_size", mp.BatchSize)
			go func() {
				defer close(done)
				m.poll(pctx, mp)
			}()
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// poll runs the mapping's pollers until ctx ends.
func (m *Manager) poll(ctx context.Context, mp Mapping) {
	url, ok := m.queueURL(ctx, mp)
	if !ok {
		return
	}
	n := m.opts.Concurrency
	if mp.Concurrency > 0 {
		n = mp.Concurrency
	}
	if mp.fifo() {
		n = 1
	}
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			for ctx.Err() == nil {
				batch, err := m.collect(ctx, mp, url)
				if err != nil {
					if ctx.Err() == nil {
						m.opts.Logger.Warn("sqs receive failed", "function", mp.Function, "queue", mp.QueueArn, "error", err.Error())
						sleep(ctx, m.opts.Retry)
					}
					continue
				}
				if len(batch) > 0 {
					m.process(ctx, mp, url, batch)
				}
			}
		})
	}
	wg.Wait()
}

// queueURL asks the service for the queue's URL until it exists (the
// provisioner may still be creating it) or ctx ends.
func (m *Manager) queueURL(ctx context.Context, mp Mapping) (string, bool) {
	for {
		out, err := m.sqs.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String(mp.queueName())})
		if err == nil {
			return aws.ToString(out.QueueUrl), true
		}
		if ctx.Err() != nil {
			return "", false
		}
		m.opts.Logger.Warn("sqs mapping waits for its queue", "function", mp.Function, "queue", mp.QueueArn, "error", err.Error())
		if !sleep(ctx, m.opts.Retry) {
			return "", false
		}
	}
}

// collect gathers up to BatchSize messages: one long poll, then, with a
// batching window, more receives until the window closes or the batch is
// full.
func (m *Manager) collect(ctx context.Context, mp Mapping, url string) ([]types.Message, error) {
	var batch []types.Message
	var deadline time.Time
	for len(batch) < mp.BatchSize {
		wait := m.opts.WaitTime
		if len(batch) > 0 {
			left := time.Until(deadline)
			if left <= 0 {
				break
			}
			wait = min(wait, left)
		}
		out, err := m.sqs.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
			QueueUrl:                    aws.String(url),
			MaxNumberOfMessages:         int32(min(10, mp.BatchSize-len(batch))),
			WaitTimeSeconds:             int32(max(wait/time.Second, 0)),
			MessageSystemAttributeNames: []types.MessageSystemAttributeName{types.MessageSystemAttributeNameAll},
			MessageAttributeNames:       []string{"All"},
		})
		if err != nil {
			if len(batch) > 0 && ctx.Err() == nil {
				break // hand over what was received
			}
			return batch, err
		}
		if len(batch) == 0 && len(out.Messages) > 0 {
			deadline = time.Now().Add(mp.Window)
		}
		batch = append(batch, out.Messages...)
		if mp.Window <= 0 && len(batch) > 0 {
			break
		}
	}
	return batch, nil
}

// process invokes the function with batch and deletes what it handled.
func (m *Manager) process(ctx context.Context, mp Mapping, url string, batch []types.Message) {
	if mp.Type == runtimeconfig.EventSourceSNS {
		m.accept(ctx, mp, url, batch)
		return
	}
	payload, err := json.Marshal(Event(batch, mp.QueueArn, m.opts.Region))
	if err != nil {
		m.opts.Logger.Error("sqs batch not encoded", "function", mp.Function, "error", err.Error())
		return
	}
	// The gateway bounds the run by the function's timeout; this bounds
	// the wait for an answer should the gateway not.
	ictx, cancel := context.WithTimeout(ctx, time.Duration(mp.Timeout)*time.Second+time.Minute)
	res, err := m.invoker.Invoke(ictx, mp.Function, payload)
	cancel()
	log := m.opts.Logger.With("function", mp.Function, "queue", mp.QueueArn, "records", len(batch))
	switch {
	case err != nil:
		log.Warn("sqs batch not handled; its messages return after the visibility timeout", "error", err.Error())
		return
	case res.FunctionError != "":
		log.Warn("sqs batch failed; its messages return after the visibility timeout", "function_error", res.FunctionError)
		return
	}
	done := batch
	if mp.Report {
		done = Handled(batch, res.Payload, mp.fifo())
		if len(done) < len(batch) {
			log.Info("sqs batch partly failed", "failed", len(batch)-len(done))
		}
	}
	if err := m.delete(ctx, url, done); err != nil {
		log.Warn("sqs messages not deleted; they will be delivered again", "error", err.Error())
	}
}

// accept stores each SNS notification of batch as an asynchronous
// invocation, then deletes what was stored.
func (m *Manager) accept(ctx context.Context, mp Mapping, url string, batch []types.Message) {
	log := m.opts.Logger.With("function", mp.Function, "topic", mp.Topic)
	var done []types.Message
	for _, msg := range batch {
		payload, err := snsevent.Event([]byte(aws.ToString(msg.Body)), mp.Topic+":"+mp.queueName())
		if err != nil {
			// Nothing but SNS writes to this queue; a stray message would
			// otherwise come back forever.
			log.Warn("message on an SNS subscription queue dropped", "message", aws.ToString(msg.MessageId), "error", err.Error())
			done = append(done, msg)
			continue
		}
		now := time.Now()
		_, err = m.async.Add(queue.Event{
			Kind: queue.KindInvoke, Function: mp.Function, RequestID: aws.ToString(msg.MessageId),
			Payload: payload, Source: "sns", Received: now, Due: now,
		})
		if err != nil {
			log.Error("sns notification not stored; it returns after the visibility timeout", "error", err.Error())
			continue
		}
		done = append(done, msg)
	}
	if err := m.delete(ctx, url, done); err != nil {
		log.Warn("sns notifications not deleted; they will be delivered again", "error", err.Error())
	}
}

// delete removes msgs from the queue, ten at a time.
func (m *Manager) delete(ctx context.Context, url string, msgs []types.Message) error {
	var errs []error
	for chunk := range slices.Chunk(msgs, 10) {
		entries := make([]types.DeleteMessageBatchRequestEntry, len(chunk))
		for i, msg := range chunk {
			entries[i] = types.DeleteMessageBatchRequestEntry{Id: aws.String(fmt.Sprint(i)), ReceiptHandle: msg.ReceiptHandle}
		}
		// Deletes finish even when the service is stopping: the
		// function has run, and a second delivery is what we avoid.
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		out, err := m.sqs.DeleteMessageBatch(dctx, &sqs.DeleteMessageBatchInput{QueueUrl: aws.String(url), Entries: entries})
		cancel()
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, f := range out.Failed {
			errs = append(errs, fmt.Errorf("delete %s: %s", aws.ToString(f.Id), aws.ToString(f.Message)))
		}
	}
	return errors.Join(errs...)
}

// Handled is the part of batch a function that reports batch item
// failures processed, as Lambda reads its answer: an empty answer, or one
// without failures, is a success; an answer that is not a JSON object, or
// a failure without a valid itemIdentifier of the batch, fails the whole
// batch. On a FIFO queue a failed message also holds back the later
// messages of its group.
func Handled(batch []types.Message, answer []byte, fifo bool) []types.Message {
	var report struct {
		BatchItemFailures []struct {
			ItemIdentifier *string `json:"itemIdentifier"`
		} `json:"batchItemFailures"`
	}
	trimmed := strings.TrimSpace(string(answer))
	if trimmed == "" || trimmed == "null" {
		return batch // no report: everything succeeded
	}
	if err := json.Unmarshal(answer, &report); err != nil {
		return nil
	}
	ids := map[string]bool{}
	for _, m := range batch {
		ids[aws.ToString(m.MessageId)] = true
	}
	failed := map[string]bool{}
	for _, f := range report.BatchItemFailures {
		id := aws.ToString(f.ItemIdentifier)
		if id == "" || !ids[id] {
			return nil
		}
		failed[id] = true
	}
	var done []types.Message
	held := map[string]bool{} // FIFO groups with a failure so far
	for _, m := range batch {
		group := m.Attributes[string(types.MessageSystemAttributeNameMessageGroupId)]
		switch {
		case failed[aws.ToString(m.MessageId)]:
			held[group] = true
		case fifo && held[group]:
		default:
			done = append(done, m)
		}
	}
	return done
}

// Event is the event Lambda gives a function for batch.
func Event(batch []types.Message, queueArn, region string) map[string]any {
	records := make([]map[string]any, len(batch))
	for i, msg := range batch {
		attrs := map[string]string{}
		maps.Copy(attrs, msg.Attributes)
		r := map[string]any{
			"messageId":         aws.ToString(msg.MessageId),
			"receiptHandle":     aws.ToString(msg.ReceiptHandle),
			"body":              aws.ToString(msg.Body),
			"attributes":        attrs,
			"messageAttributes": messageAttributes(msg.MessageAttributes),
			"md5OfBody":         aws.ToString(msg.MD5OfBody),
			"eventSource":       "aws:sqs",
			"eventSourceARN":    queueArn,
			"awsRegion":         region,
		}
		if msg.MD5OfMessageAttributes != nil {
			r["md5OfMessageAttributes"] = aws.ToString(msg.MD5OfMessageAttributes)
		}
		records[i] = r
	}
	return map[string]any{"Records": records}
}

// messageAttributes is SQS's message attributes in the event's shape
// (lower-case keys, binary values in base64, list fields always present).
func messageAttributes(in map[string]types.MessageAttributeValue) map[string]any {
	out := map[string]any{}
	for name, v := range in {
		a := map[string]any{
			"stringListValues": nonNil(v.StringListValues),
			"binaryListValues": b64List(v.BinaryListValues),
			"dataType":         aws.ToString(v.DataType),
		}
		if v.StringValue != nil {
			a["stringValue"] = *v.StringValue
		}
		if v.BinaryValue != nil {
			a["binaryValue"] = base64.StdEncoding.EncodeToString(v.BinaryValue)
		}
		out[name] = a
	}
	return out
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func b64List(bs [][]byte) []string {
	out := make([]string, len(bs))
	for i, b := range bs {
		out[i] = base64.StdEncoding.EncodeToString(b)
	}
	return out
}

// sleep waits d or until ctx ends; false when ctx ended.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
