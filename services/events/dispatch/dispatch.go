// Package dispatch runs the queued events with Lambda's asynchronous
// semantics: each event is invoked through the gateway, retried after a
// function error (MaximumRetryAttempts, backoff growing per attempt),
// retried without counting an attempt when it could not run (throttled,
// gateway down), given up after MaximumEventAgeInSeconds, and then handed
// to its destinations (OnSuccess, OnFailure) and dead-letter queue with
// Lambda's destination record. The handover replaces the event in the
// queue in one transaction, so nothing is lost or sent twice by a crash
// between the two.
package dispatch

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/esb-dev/esb/internal/awsid"
	"github.com/esb-dev/esb/internal/lambdaclient"
	"github.com/esb-dev/esb/internal/runtimeconfig"
	"github.com/esb-dev/esb/services/events/queue"
)

// Lambda's asynchronous defaults and bounds.
const (
	DefaultMaxRetries  = 2
	DefaultMaxEventAge = 6 * time.Hour
	// DefaultRetryBackoff is the wait before the first retry; the n-th
	// retry waits n times as long (about 1 then 2 minutes, as Lambda).
	DefaultRetryBackoff = time.Minute
	maxThrottleBackoff  = 5 * time.Minute
	// leaseMargin is added to a function's timeout to get how long a
	// claimed event is held before it is run again (a crash mid-run).
	leaseMargin = time.Minute
	// sendTimeout bounds one delivery to SQS or SNS.
	sendTimeout = 30 * time.Second
)

// Functions gives the deployed functions.
type Functions interface {
	Function(name string) (runtimeconfig.Function, bool)
}

// Invoker runs one invocation synchronously; *lambdaclient.Client is one.
type Invoker interface {
	Invoke(ctx context.Context, function string, payload []byte) (lambdaclient.Result, error)
}

// Sender delivers a record to an SQS queue or SNS topic by ARN, with
// message attributes.
type Sender interface {
	Send(ctx context.Context, arn string, body []byte, attrs map[string]string) error
}

// Options tunes a Dispatcher. The zero value is ready to use.
type Options struct {
	Region       string        // for ARNs; us-east-1 when empty
	AccountID    string        // for ARNs; 123456789012 when empty
	RetryBackoff time.Duration // DefaultRetryBackoff when zero
	// ThrottleBackoff is the first wait after an invocation that did not
	// run; it doubles each time, up to 5 minutes. 1 s when zero.
	ThrottleBackoff time.Duration
	Concurrency     int           // events run at once; 16 when zero
	Poll            time.Duration // how often due events are looked for; 1 s when zero
	// Senders deliver to SQS ("sqs") and SNS ("sns") targets by ARN
	// service; a target without a sender is logged and dropped.
	Senders map[string]Sender
	Now     func() time.Time // time.Now when nil
	Logger  *slog.Logger     // nil discards
}

// Dispatcher runs a queue's due events.
type Dispatcher struct {
	store *queue.Store
	fns   Functions
	inv   Invoker
	opts  Options

	mu       sync.Mutex
	inflight map[uint64]bool
}

// New returns a Dispatcher; Run starts it.
func New(store *queue.Store, fns Functions, inv Invoker, opts Options) *Dispatcher {
	if opts.Region == "" {
		opts.Region = awsid.DefaultRegion
	}
	if opts.AccountID == "" {
		opts.AccountID = awsid.DefaultAccountID
	}
	if opts.RetryBackoff <= 0 {
		opts.RetryBackoff = DefaultRetryBackoff
	}
	if opts.ThrottleBackoff <= 0 {
		opts.ThrottleBackoff = time.Second
	}
	if opts.Concurrency <= 0 {
		opts.Concurrency = 16
	}
	if opts.Poll <= 0 {
		opts.Poll = time.Second
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &Dispatcher{store: store, fns: fns, inv: inv, opts: opts, inflight: map[uint64]bool{}}
}

// Run dispatches until ctx ends, then waits for the runs in flight (their
// invocations are cut off and the events put back as due).
func (d *Dispatcher) Run(ctx context.Context) error {
	var runs sync.WaitGroup
	defer runs.Wait()
	finished := make(chan struct{}, 1)
	for {
		if err := d.startDue(ctx, &runs, finished); err != nil {
			d.opts.Logger.Error("queue unreadable", "error", err.Error())
		}
		t := time.NewTimer(d.opts.Poll)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-d.store.Added():
		case <-finished:
		case <-t.C:
		}
		t.Stop()
	}
}

// startDue claims and starts the due events that are not running yet.
func (d *Dispatcher) startDue(ctx context.Context, runs *sync.WaitGroup, finished chan struct{}) error {
	now := d.opts.Now()
	due, err := d.store.Due(now, 4*d.opts.Concurrency)
	if err != nil {
		return err
	}
	for _, ev := range due {
		d.mu.Lock()
		busy := d.inflight[ev.ID] || len(d.inflight) >= d.opts.Concurrency
		if !busy {
			d.inflight[ev.ID] = true
		}
		d.mu.Unlock()
		if busy {
			continue
		}
		// The claim is a write checked against the stored revision: an
		// event settled since the listing is not run again.
		claimed, err := d.store.Claim(ev, now.Add(d.lease(ev)))
		if err != nil {
			d.done(ev.ID)
			if !errors.Is(err, queue.ErrStale) {
				return err
			}
			continue
		}
		runs.Go(func() {
			defer func() {
				d.done(claimed.ID)
				select {
				case finished <- struct{}{}:
				default:
				}
			}()
			d.run(ctx, claimed)
		})
	}
	return nil
}

func (d *Dispatcher) done(id uint64) {
	d.mu.Lock()
	delete(d.inflight, id)
	d.mu.Unlock()
}

func (d *Dispatcher) lease(ev queue.Event) time.Duration {
	timeout := 15 * time.Minute // Lambda's maximum, for a function not known
	if fn, ok := d.fns.Function(ev.Function); ok && fn.Timeout > 0 {
		timeout = time.Duration(fn.Timeout) * time.Second
	}
	return timeout + leaseMargin
}

func (d *Dispatcher) run(ctx context.Context, ev queue.Event) {
	log := d.opts.Logger.With("event", ev.ID, "request_id", ev.RequestID, "source", ev.Source)
	var err error
	switch ev.Kind {
	case queue.KindDeliver:
		err = d.deliver(ctx, ev, log.With("target", ev.Target))
	default:
		err = d.invoke(ctx, ev, log.With("function", ev.Function))
	}
	if err != nil {
		log.Error("event not settled; it runs again when its claim ends", "error", err.Error())
	}
}

// asyncConfig is the function's asynchronous settings, defaults applied.
type asyncConfig struct {
	maxRetries int
	maxAge     time.Duration
	onSuccess  string
	onFailure  string
	deadLetter string
}

func configOf(fn runtimeconfig.Function) asyncConfig {
	c := asyncConfig{maxRetries: DefaultMaxRetries, maxAge: DefaultMaxEventAge}
	if a := fn.Async; a != nil {
		if a.MaximumRetryAttempts != nil {
			c.maxRetries = *a.MaximumRetryAttempts
		}
		if a.MaximumEventAge > 0 {
			c.maxAge = time.Duration(a.MaximumEventAge) * time.Second
		}
		c.onSuccess, c.onFailure, c.deadLetter = a.OnSuccess, a.OnFailure, a.DeadLetter
	}
	return c
}

func (d *Dispatcher) invoke(ctx context.Context, ev queue.Event, log *slog.Logger) error {
	fn, ok := d.fns.Function(ev.Function)
	if !ok {
		log.Error("event dropped: the function is not deployed")
		return d.store.Settle(ev, nil)
	}
	cfg := configOf(fn)
	now := d.opts.Now()
	if now.Sub(ev.Received) > cfg.maxAge {
		return d.fail(ev, cfg, "EventAgeExceeded", nil, log)
	}
	// Bounded like the claim: past it, the event would run again anyway.
	callCtx, cancel := context.WithTimeout(ctx, d.lease(ev))
	res, err := d.inv.Invoke(callCtx, ev.Function, ev.Payload)
	cancel()
	now = d.opts.Now()
	switch {
	case ctx.Err() != nil:
		// Shutting down: the event did not finish; it is due again at once.
		next := ev
		next.Due = now
		return d.store.Settle(ev, &next)
	case errors.Is(err, lambdaclient.ErrNotFound):
		log.Error("event dropped: the gateway does not know the function")
		return d.store.Settle(ev, nil)
	case err != nil:
		// Throttled or not run: retry with backoff, not an attempt.
		next := ev
		next.Throttles++
		wait := min(d.opts.ThrottleBackoff<<min(next.Throttles-1, 16), maxThrottleBackoff)
		next.Due = now.Add(wait)
		if next.Due.Sub(ev.Received) > cfg.maxAge {
			return d.fail(ev, cfg, "EventAgeExceeded", nil, log)
		}
		log.Warn("event invocation did not run; retrying", "error", err.Error(), "retry_in", wait.String())
		return d.store.Settle(ev, &next)
	}
	ev.Attempts++
	if res.FunctionError == "" {
		log.Info("event invocation succeeded", "attempts", ev.Attempts)
		if cfg.onSuccess == "" {
			return d.store.Settle(ev, nil)
		}
		rec := d.record(ev, "Success", &res)
		dest, err := d.destination(ev, cfg.onSuccess, rec)
		if err != nil {
			log.Error("OnSuccess destination not sent", "destination", cfg.onSuccess, "error", err.Error())
			return d.store.Settle(ev, nil)
		}
		return d.store.Settle(ev, nil, dest)
	}
	if ev.Attempts <= cfg.maxRetries {
		next := ev
		wait := time.Duration(ev.Attempts) * d.opts.RetryBackoff
		next.Due = now.Add(wait)
		if next.Due.Sub(ev.Received) <= cfg.maxAge {
			log.Warn("event invocation failed; retrying", "function_error", res.FunctionError, "attempts", ev.Attempts, "retry_in", wait.String())
			return d.store.Settle(ev, &next)
		}
		return d.fail(ev, cfg, "EventAgeExceeded", &res, log)
	}
	return d.fail(ev, cfg, "RetriesExhausted", &res, log)
}

// fail hands a failed event to its OnFailure destination and dead-letter
// queue, in the transaction that removes it.
func (d *Dispatcher) fail(ev queue.Event, cfg asyncConfig, condition string, res *lambdaclient.Result, log *slog.Logger) error {
	var add []queue.Event
	if cfg.onFailure != "" {
		dest, err := d.destination(ev, cfg.onFailure, d.record(ev, condition, res))
		if err != nil {
			log.Error("OnFailure destination not sent", "destination", cfg.onFailure, "error", err.Error())
		} else {
			add = append(add, dest)
		}
	}
	if cfg.deadLetter != "" {
		// A dead-letter queue gets the event itself, as Lambda sends it,
		// with what went wrong in the message attributes.
		dlq, err := d.destination(ev, cfg.deadLetter, ev.Payload)
		if err == nil {
			dlq.Attributes = deadLetterAttributes(ev, res)
		}
		if err != nil {
			log.Error("dead-letter queue not sent", "dead_letter", cfg.deadLetter, "error", err.Error())
		} else {
			add = append(add, dlq)
		}
	}
	log.Warn("event invocation given up", "condition", condition, "attempts", ev.Attempts, "handed_to", len(add))
	return d.store.Settle(ev, nil, add...)
}

// deadLetterAttributes are the attributes Lambda gives a dead letter:
// RequestID, ErrorCode (the status code) and ErrorMessage.
func deadLetterAttributes(ev queue.Event, res *lambdaclient.Result) map[string]string {
	attrs := map[string]string{"RequestID": ev.RequestID, "ErrorCode": "200", "ErrorMessage": "Event age exceeded"}
	if res != nil {
		attrs["ErrorCode"] = fmt.Sprint(res.StatusCode)
		var fe struct {
			ErrorMessage string `json:"errorMessage"`
		}
		if json.Unmarshal(res.Payload, &fe) == nil && fe.ErrorMessage != "" {
			attrs["ErrorMessage"] = fe.ErrorMessage
		} else {
			attrs["ErrorMessage"] = string(res.Payload)
		}
		if len(attrs["ErrorMessage"]) > 1024 {
			attrs["ErrorMessage"] = attrs["ErrorMessage"][:1024]
		}
	}
	return attrs
}

// Record is Lambda's destination record.
type Record struct {
	Version         string           `json:"version"`
	Timestamp       string           `json:"timestamp"`
	RequestContext  RequestContext   `json:"requestContext"`
	RequestPayload  json.RawMessage  `json:"requestPayload"`
	ResponseContext *ResponseContext `json:"responseContext,omitempty"`
	ResponsePayload json.RawMessage  `json:"responsePayload,omitempty"`
}

// RequestContext says which invocation a Record is about.
type RequestContext struct {
	RequestID              string `json:"requestId"`
	FunctionArn            string `json:"functionArn"`
	Condition              string `json:"condition"`
	ApproximateInvokeCount int    `json:"approximateInvokeCount"`
}

// ResponseContext is the last attempt's answer.
type ResponseContext struct {
	StatusCode      int    `json:"statusCode"`
	ExecutedVersion string `json:"executedVersion"`
	FunctionError   string `json:"functionError,omitempty"`
}

func (d *Dispatcher) record(ev queue.Event, condition string, res *lambdaclient.Result) []byte {
	rec := Record{
		Version:   "1.0",
		Timestamp: d.opts.Now().UTC().Format("2006-01-02T15:04:05.000Z"),
		RequestContext: RequestContext{
			RequestID:              ev.RequestID,
			FunctionArn:            d.functionARN(ev.Function) + ":$LATEST",
			Condition:              condition,
			ApproximateInvokeCount: ev.Attempts,
		},
		RequestPayload: ev.Payload,
	}
	if res != nil {
		rec.ResponseContext = &ResponseContext{StatusCode: res.StatusCode, ExecutedVersion: "$LATEST", FunctionError: res.FunctionError}
		if len(res.Payload) > 0 {
			if json.Valid(res.Payload) {
				rec.ResponsePayload = res.Payload
			} else {
				rec.ResponsePayload, _ = json.Marshal(string(res.Payload)) // a string always encodes
			}
		}
	}
	out, _ := json.Marshal(rec) // raw fields are valid JSON, checked above or at enqueue
	return out
}

func (d *Dispatcher) functionARN(name string) string {
	return fmt.Sprintf("arn:aws:lambda:%s:%s:function:%s", d.opts.Region, d.opts.AccountID, name)
}

// destination is the queued event that sends body to target: an
// asynchronous invocation for a Lambda function, a delivery for SQS or
// SNS.
func (d *Dispatcher) destination(ev queue.Event, target string, body []byte) (queue.Event, error) {
	out := queue.Event{
		RequestID: ev.RequestID,
		Payload:   body,
		Received:  d.opts.Now(),
		Due:       d.opts.Now(),
		Source:    "destination of " + ev.Function,
	}
	service, resource, ok := parseARN(target)
	switch {
	case !ok:
		return queue.Event{}, fmt.Errorf("destination %q is not an ARN", target)
	case service == "lambda":
		name, ok := strings.CutPrefix(resource, "function:")
		if !ok {
			return queue.Event{}, fmt.Errorf("destination %q is not a function ARN", target)
		}
		name, _, _ = strings.Cut(name, ":") // a qualifier runs $LATEST here
		out.Kind, out.Function = queue.KindInvoke, name
	case service == "sqs" || service == "sns":
		out.Kind, out.Target = queue.KindDeliver, target
	default:
		return queue.Event{}, fmt.Errorf("destination %q: service %s is not a Lambda destination", target, service)
	}
	return out, nil
}

// parseARN splits arn:partition:service:region:account:resource.
func parseARN(arn string) (service, resource string, ok bool) {
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" {
		return "", "", false
	}
	return parts[2], parts[5], true
}

// deliver sends a record to an SQS queue or SNS topic; it is retried
// until it goes through.
func (d *Dispatcher) deliver(ctx context.Context, ev queue.Event, log *slog.Logger) error {
	service, _, _ := parseARN(ev.Target)
	sender := d.opts.Senders[service]
	if sender == nil {
		log.Error("record dropped: this platform has no " + strings.ToUpper(service) + " service to deliver to")
		return d.store.Settle(ev, nil)
	}
	sendCtx, cancel := context.WithTimeout(ctx, sendTimeout)
	err := sender.Send(sendCtx, ev.Target, ev.Payload, ev.Attributes)
	cancel()
	if err != nil {
		if ctx.Err() != nil {
			next := ev
			next.Due = d.opts.Now()
			return d.store.Settle(ev, &next)
		}
		next := ev
		next.Failures++
		wait := min(d.opts.ThrottleBackoff<<min(next.Failures-1, 16), maxThrottleBackoff)
		next.Due = d.opts.Now().Add(wait)
		log.Warn("delivery failed; retrying", "error", err.Error(), "retry_in", wait.String())
		return d.store.Settle(ev, &next)
	}
	log.Info("record delivered")
	return d.store.Settle(ev, nil)
}
