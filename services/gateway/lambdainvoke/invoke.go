// Package lambdainvoke runs one Lambda invocation the way Lambda does: it
// holds the function's concurrency limit, leases a container from the
// agent, hands the event to the container's runtime (through the
// gateway's Runtime API when Options.Runtimes is set, else by posting it to
// the container's Runtime Interface Emulator), enforces the function's
// timeout itself, and returns the container, asking for it to be discarded
// when it timed out or crashed.
//
// A container that finished well is not returned at once: while Run runs,
// its lease is held for the next invocation of the same function spec, so
// a warm invocation costs no round trip to the agent, only the one to the
// container. Held leases go back after HoldIdle without use, and are never
// reused past agentapi.MaxLeaseHold after the agent granted them.
package lambdainvoke

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/esb-dev/esb/internal/agentapi"
	"github.com/esb-dev/esb/services/gateway/runtimeapi"
)

// MaxPayload is Lambda's limit for a synchronous invocation's request and
// response payloads (6 MB).
const MaxPayload = 6 * 1024 * 1024

// FunctionErrorUnhandled is the X-Amz-Function-Error value of a failed
// invocation.
const FunctionErrorUnhandled = "Unhandled"

// Defaults for the zero values of Options.
const (
	DefaultMaxQueueWait   = 10 * time.Second
	DefaultTimeoutGrace   = 500 * time.Millisecond
	DefaultReleaseTimeout = 5 * time.Second
	DefaultHoldIdle       = 5 * time.Second
	DefaultDialTimeout    = 5 * time.Second
	// DefaultInitTimeout is Lambda's bound on a runtime's init phase.
	DefaultInitTimeout = 10 * time.Second
	// DefaultAcquireMargin covers what a cold start may take besides the
	// function's own time: a first pull of the image by the engine (docker
	// mode pulls on first use; a Java image is hundreds of MB), creating
	// the container, and the agent's START_TIMEOUT (10 s) for its runtime
	// to accept, on a busy node.
	DefaultAcquireMargin = 60 * time.Second
)

// Sentinel errors of Invoke, matched with errors.Is.
var (
	// ErrThrottled: the function's max_concurrency was reached and no slot
	// freed up within the queue wait.
	ErrThrottled = errors.New("function concurrency limit reached")
	// ErrAccountThrottled (which wraps ErrThrottled): the account's
	// concurrency, or the node's memory for functions, was exhausted for
	// the whole queue wait.
	ErrAccountThrottled = fmt.Errorf("%w: account concurrency or node memory exhausted", ErrThrottled)
	// ErrTimeout: the function ran past its timeout; its container is discarded.
	ErrTimeout = errors.New("function timed out")
	// ErrCrashed: the container dropped the connection or its runtime
	// exited; the container is discarded.
	ErrCrashed = errors.New("function runtime crashed")
	// ErrAgent: the agent did not provide a container.
	ErrAgent = errors.New("no container from the agent")
	// ErrResponseTooLarge: the function's result exceeded MaxPayload.
	ErrResponseTooLarge = errors.New("function response too large")
)

// Leaser is the gateway's seam to the agent: a container of a function for
// one invocation, and its return. *agentapi.Client implements it.
type Leaser interface {
	Acquire(ctx context.Context, spec agentapi.FunctionSpec) (agentapi.Lease, error)
	Release(ctx context.Context, leaseID string, req agentapi.ReleaseRequest) error
}

// Options tunes an Invoker. The zero value is ready to use.
type Options struct {
	// DialTimeout bounds connecting to a container. DefaultDialTimeout
	// when zero.
	DialTimeout time.Duration
	// MaxQueueWait is how long a request waits for a concurrency slot
	// before ErrThrottled. DefaultMaxQueueWait when zero.
	MaxQueueWait time.Duration
	// TimeoutGrace is added to the function's timeout before the gateway
	// gives up, so that the runtime's own timeout report usually arrives
	// first. DefaultTimeoutGrace when zero.
	TimeoutGrace time.Duration
	// Deadline overrides how long one call of spec may run. Nil means
	// spec's timeout (seconds) plus TimeoutGrace.
	Deadline func(spec agentapi.FunctionSpec) time.Duration
	// MaxResponse bounds the function's result. MaxPayload when zero.
	MaxResponse int64
	// ReleaseTimeout bounds returning a lease. DefaultReleaseTimeout when zero.
	ReleaseTimeout time.Duration
	// AcquireMargin bounds asking the agent for a container: the function's
	// timeout plus AcquireMargin, so that a hung agent or container engine
	// yields ErrAgent instead of a request that hangs as long as its
	// client waits. DefaultAcquireMargin when zero.
	AcquireMargin time.Duration
	// HoldIdle is how long a warm lease stays with the gateway after an
	// invocation, while Run runs, before it goes back to the agent (whose
	// idle reaping starts then). Negative: every lease goes back at the end
	// of its invocation. DefaultHoldIdle when zero.
	HoldIdle time.Duration
	// MaxLeaseAge is how long after the agent granted it a held lease may
	// still be reused. agentapi.MaxLeaseHold when zero, and never more: the
	// agent counts on that bound.
	MaxLeaseAge time.Duration
	// AccountConcurrency bounds the invocations in flight of all functions
	// together; functions with max_concurrency (reserved concurrency) have
	// their own share, set apart from it (see Invoker.SetReserved).
	// DefaultAccountConcurrency when zero.
	AccountConcurrency int
	// StartsPerFunction and StartsPerNode bound the container starts in
	// flight for one function and for all; DefaultStartBounds of this
	// machine's CPUs when zero.
	StartsPerFunction int
	StartsPerNode     int
	// Now is the scheduler's clock; time.Now when nil.
	Now func() time.Time
	// Runtimes, when set, is the gateway's Runtime API: invocations go to
	// the runtime's session there instead of to the container's RIE, and
	// a leaser that is an ExitWatcher reports crashes.
	Runtimes *runtimeapi.Server
	// InitTimeout is the init phase's share of the wait for a runtime's
	// first poll of the Runtime API: it may poll until InitTimeout plus
	// the function's timeout after the offer, as Lambda, whose init that
	// runs past its 10 s is run again inside the invocation, under the
	// function's timeout. DefaultInitTimeout when zero.
	InitTimeout time.Duration
	// FunctionLog, when set, receives the lines Lambda writes into a
	// function's log stream around each invocation its runtime took
	// (START, END, REPORT, and a timeout's notice), with when each
	// happened. Runtime API only: an RIE writes them into the container's
	// own output.
	FunctionLog func(spec agentapi.FunctionSpec, container string, at time.Time, line string)
	Logger      *slog.Logger // nil discards
}

// Request is one invocation.
type Request struct {
	Function  agentapi.FunctionSpec
	Payload   []byte
	RequestID string
	TraceID   string
	// FunctionARN is what the runtime reports as the invoked function's
	// ARN (Runtime API only; RIE makes one up).
	FunctionARN string
	// Async marks an Event invocation: Lambda queues those, so it waits
	// for a concurrency slot as long as ctx lasts instead of MaxQueueWait.
	Async bool
}

// Result is what the function answered.
type Result struct {
	// Payload is the function's result, or its error object when
	// FunctionError is set, or what the runtime reported when it crashed.
	Payload       []byte
	FunctionError string // FunctionErrorUnhandled when the function failed
	Cold          bool
	Container     string
	Duration      time.Duration // of the call to the container
	// QueueWait is how long the invocation waited for a concurrency slot
	// and a container, the container's own start left out.
	QueueWait time.Duration
	// StartDuration is, for a cold invocation, how long the agent took to
	// hand over the new container (start and runtime init); 0 when warm.
	StartDuration time.Duration
}

// Invoker runs invocations. It is safe for concurrent use.
type Invoker struct {
	leaser Leaser
	opts   Options

	mu       sync.Mutex
	limiters map[string]*limiter
	admit    *admission

	held   heldLeases
	dialer *net.Dialer

	// smu guards the scheduler's state: every function's waiting requests,
	// busy containers and starts (see scheduler.go).
	smu          sync.Mutex
	fns          map[specKey]*fnState
	latest       map[string]specKey // each function's current spec
	nodeStarting int
	// nodeInitializing counts the node's granted cold containers whose
	// runtimes are still starting.
	nodeInitializing int
	starved          int // functions whose last start found no node memory
	// starts are the container starts in flight; they run under startCtx,
	// which Run cancels as it ends, then waits for them.
	starts     sync.WaitGroup
	startCtx   context.Context
	stopStarts context.CancelFunc
	// reports are REPORT lines waiting for a container's peak memory
	// (see logInvocation); memoryReads bounds them.
	reports     sync.WaitGroup
	memoryReads chan struct{}
}

// New returns an Invoker that leases containers from leaser.
func New(leaser Leaser, opts Options) *Invoker {
	if opts.InitTimeout <= 0 {
		opts.InitTimeout = DefaultInitTimeout
	}
	if opts.DialTimeout <= 0 {
		opts.DialTimeout = DefaultDialTimeout
	}
	if opts.MaxQueueWait <= 0 {
		opts.MaxQueueWait = DefaultMaxQueueWait
	}
	if opts.TimeoutGrace <= 0 {
		opts.TimeoutGrace = DefaultTimeoutGrace
	}
	if opts.MaxResponse <= 0 {
		opts.MaxResponse = MaxPayload
	}
	if opts.ReleaseTimeout <= 0 {
		opts.ReleaseTimeout = DefaultReleaseTimeout
	}
	if opts.AcquireMargin <= 0 {
		opts.AcquireMargin = DefaultAcquireMargin
	}
	if opts.HoldIdle == 0 {
		opts.HoldIdle = DefaultHoldIdle
	}
	if opts.MaxLeaseAge <= 0 || opts.MaxLeaseAge > agentapi.MaxLeaseHold {
		opts.MaxLeaseAge = agentapi.MaxLeaseHold
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.AccountConcurrency <= 0 {
		opts.AccountConcurrency = DefaultAccountConcurrency
	}
	if opts.StartsPerFunction <= 0 || opts.StartsPerNode <= 0 {
		perFunction, perNode := DefaultStartBounds(runtime.NumCPU())
		if opts.StartsPerFunction <= 0 {
			opts.StartsPerFunction = perFunction
		}
		if opts.StartsPerNode <= 0 {
			opts.StartsPerNode = perNode
		}
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	// Not a request's context: a start outlives the request that asked
	// for it. Run ends them.
	startCtx, stopStarts := context.WithCancel(context.Background())
	return &Invoker{
		startCtx:    startCtx,
		stopStarts:  stopStarts,
		memoryReads: make(chan struct{}, maxMemoryReads),
		leaser:      leaser,
		opts:        opts,
		limiters:    make(map[string]*limiter),
		admit:       newAdmission(opts.AccountConcurrency),
		dialer:      &net.Dialer{Timeout: opts.DialTimeout, KeepAlive: 30 * time.Second},
		fns:         make(map[specKey]*fnState),
		latest:      make(map[string]specKey),
	}
}

// Invoke runs one invocation. Errors wrap ErrThrottled, ErrAgent,
// ErrTimeout, ErrCrashed or ErrResponseTooLarge, or ctx's error when the
// caller gave up while waiting for a slot or a container. A function that
// failed is not an error: see Result.FunctionError.
//
// Once the event is posted, the call no longer follows ctx's cancellation:
// like Lambda, a function keeps running when its caller goes away, and its
// container is returned warm when it finishes.
func (i *Invoker) Invoke(ctx context.Context, req Request) (Result, error) {
	name := req.Function.Name
	began := time.Now()
	wait := i.opts.MaxQueueWait
	if req.Async {
		wait = -1
	}
	if reserved := req.Function.Function.Scaling.MaxConcurrency; reserved > 0 {
		lim := i.limiter(name)
		if err := lim.acquire(ctx, reserved, wait); err != nil {
			return Result{}, fmt.Errorf("invoke %s: %w", name, err)
		}
		defer lim.release()
	} else {
		if err := i.admit.acquire(ctx, name, wait); err != nil {
			return Result{}, fmt.Errorf("invoke %s: %w", name, err)
		}
		defer i.admit.release()
	}

	key := keyOf(req.Function)
	h, reused, err := i.lease(ctx, req.Function, key, wait)
	if err != nil {
		return Result{}, fmt.Errorf("invoke %s: %w", name, err)
	}
	leased := time.Since(began)
	res, discard, err := i.call(ctx, &h, req)
	i.endInit(ctx, &h)
	if reused && unreachable(err) {
		// The container went away while the gateway held its lease (its
		// agent stopped, or someone removed it by hand): the event never
		// reached it, so it goes to a container the agent vouches for.
		i.release(ctx, h, true, err.Error())
		if h, err = i.acquire(ctx, req.Function, key); err != nil {
			return Result{}, fmt.Errorf("invoke %s: %w", name, err)
		}
		res, discard, err = i.call(ctx, &h, req)
	}
	res.Cold, res.Container = h.lease.Cold, h.lease.Container
	if h.lease.Cold {
		res.StartDuration = h.startTook
	}
	res.QueueWait = max(leased-res.StartDuration, 0)
	reason := ""
	if discard && err != nil {
		reason = err.Error()
	} else if discard {
		reason = "runtime error " + errorType(res.Payload)
	}
	i.finish(ctx, req.Function, h, discard, reason, res.Duration)
	if err != nil {
		return res, fmt.Errorf("invoke %s: %w", name, err)
	}
	return res, nil
}

// acquire leases a container from the agent, within the function's
// timeout plus AcquireMargin.
func (i *Invoker) acquire(ctx context.Context, spec agentapi.FunctionSpec, key specKey) (held, error) {
	granted := time.Now()
	limit := spec.Timeout() + i.opts.AcquireMargin
	actx, cancel := context.WithTimeout(ctx, limit)
	lease, err := i.leaser.Acquire(actx, spec)
	late := errors.Is(actx.Err(), context.DeadlineExceeded)
	cancel()
	if err != nil {
		if ctx.Err() != nil {
			return held{}, fmt.Errorf("acquire container: %w", ctx.Err())
		}
		if late {
			return held{}, fmt.Errorf("%w: the agent gave no container within %s: %w", ErrAgent, limit, err)
		}
		return held{}, fmt.Errorf("%w: %w", ErrAgent, err)
	}
	if lease.Endpoint == "" {
		i.release(ctx, held{lease: lease}, true, "lease without endpoint")
		return held{}, fmt.Errorf("%w: lease %s has no endpoint", ErrAgent, lease.ID)
	}
	// The agent's lease clock started no later than the request went out.
	h := held{lease: lease, key: key, acquired: granted, exit: i.watchExit(lease)}
	if lease.Cold {
		h.startTook = time.Since(granted)
	}
	return h, nil
}

// Run holds warm leases between invocations until ctx ends, returning each
// to the agent once idle for HoldIdle or too old to reuse; then it returns
// every held lease and returns nil. Without Run, every lease goes back at
// the end of its invocation.
func (i *Invoker) Run(ctx context.Context) error {
	defer i.reports.Wait()
	if i.opts.HoldIdle < 0 {
		<-ctx.Done()
		return nil
	}
	i.held.setOpen(true)
	tick := time.NewTicker(max(i.opts.HoldIdle/4, 10*time.Millisecond))
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			// Returned even though ctx is done: a lease never returned
			// keeps its container busy until the agent's lease clock runs out.
			for _, h := range i.held.setOpen(false) {
				i.release(ctx, h, false, "")
			}
			// Starts in flight are cut (the agent finishes them and keeps
			// their containers idle); nothing is held any more.
			i.stopStarts()
			i.starts.Wait()
			return nil
		case now := <-tick.C:
			for _, h := range i.held.expire(now, i.opts.HoldIdle, i.opts.MaxLeaseAge) {
				i.release(ctx, h, false, "")
			}
		}
	}
}

// Held is how many warm leases the gateway holds now.
func (i *Invoker) Held() int { return i.held.count() }

// unreachable reports whether a call failed before anything reached the
// container: no connection could be made.
func unreachable(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial" || errors.Is(err, errNotDelivered)
}

// call posts the event over h's connection, dialing it first when h has
// none or the one it has can no longer carry a request, and classifies the
// outcome; discard tells whether the container must not be reused.
func (i *Invoker) call(ctx context.Context, h *held, req Request) (res Result, discard bool, err error) {
	deadline := req.Function.Timeout() + i.opts.TimeoutGrace
	if i.opts.Deadline != nil {
		deadline = i.opts.Deadline(req.Function)
	}
	start := time.Now()
	if i.opts.Runtimes != nil {
		timeout := req.Function.Timeout()
		if i.opts.Deadline != nil {
			timeout = deadline
		}
		res, discard, err = i.exchange(h, req, timeout)
		res.Duration = time.Since(start)
		return res, discard, err
	}
	res, discard, reusable, err := i.roundTrip(ctx, h, req, start.Add(deadline))
	res.Duration = time.Since(start)
	if !reusable && h.conn != nil {
		h.conn.Close()
		h.conn = nil
	}
	return res, discard, err
}

// roundTrip is call's exchange with the RIE; reusable tells whether h's
// connection may carry the next one.
func (i *Invoker) roundTrip(ctx context.Context, h *held, req Request, deadline time.Time) (res Result, discard, reusable bool, err error) {
	if h.conn != nil && !h.conn.usable() {
		h.conn.Close()
		h.conn = nil
	}
	if h.conn == nil {
		dctx, cancel := context.WithDeadline(context.WithoutCancel(ctx), deadline)
		h.conn, err = dialRIE(dctx, i.dialer, h.lease.Endpoint)
		late := errors.Is(dctx.Err(), context.DeadlineExceeded)
		cancel()
		if err != nil && late {
			return Result{}, true, false, fmt.Errorf("%w: %w", ErrTimeout, err)
		}
		if err != nil {
			return Result{}, true, false, fmt.Errorf("%w: %w", ErrCrashed, err)
		}
	}
	hreq := h.conn.invocation(req.Payload)
	if req.TraceID != "" {
		hreq.Header.Set("X-Amzn-Trace-Id", req.TraceID)
	}
	if req.RequestID != "" {
		hreq.Header.Set("X-Amz-Request-Id", req.RequestID)
	}
	// Past the deadline the connection fails on its own: like Lambda, the
	// call does not follow ctx, a function keeps running when its caller
	// goes away.
	resp, err := h.conn.roundTrip(hreq, deadline)
	if err != nil {
		return Result{}, true, false, classify(err)
	}
	// The body is not closed on the way out: closing reads what is left of
	// it, and an oversized answer must not be read on; its connection is
	// dropped instead.
	body, err := io.ReadAll(io.LimitReader(resp.Body, i.opts.MaxResponse+1))
	res = Result{Payload: body}
	if err != nil {
		return res, true, false, classify(err)
	}
	if int64(len(body)) > i.opts.MaxResponse {
		// The function finished; only its answer is unusable, so its
		// container stays warm (the unread rest spoils the connection).
		res.Payload = nil
		return res, false, false, fmt.Errorf("%w: more than %d bytes", ErrResponseTooLarge, i.opts.MaxResponse)
	}
	resp.Body.Close() // read to its end already: frees it without reading
	reusable = !resp.Close
	switch {
	case resp.StatusCode == http.StatusOK:
	case resp.StatusCode == http.StatusBadGateway:
		// RIE's answer when the runtime process exited mid-invocation.
		return res, true, false, fmt.Errorf("%w: runtime exited: %s", ErrCrashed, snippet(body))
	default:
		return res, true, false, fmt.Errorf("%w: runtime interface answered %d: %s", ErrCrashed, resp.StatusCode, snippet(body))
	}
	if bytes.HasPrefix(body, []byte("Task timed out after")) {
		// RIE enforced the timeout before the gateway did.
		return res, true, false, fmt.Errorf("%w: %s", ErrTimeout, snippet(body))
	}
	fnErr := resp.Header.Get("X-Amz-Function-Error")
	et := errorType(body)
	if fnErr == "" && et != "" {
		fnErr = FunctionErrorUnhandled
	}
	res.FunctionError = fnErr
	// A Runtime.* error (exit, unknown state, failed init) leaves the
	// runtime in no state to take the next event.
	runtimeErr := strings.HasPrefix(et, "Runtime.")
	return res, runtimeErr, reusable && !runtimeErr, nil
}

// classify names a failed call: past the deadline it is a timeout, anything
// else (reset, refused, EOF) a crash.
func classify(err error) error {
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return fmt.Errorf("%w: %w", ErrTimeout, err)
	}
	return fmt.Errorf("%w: %w", ErrCrashed, err)
}

// isErrorKey reports whether k is a field Lambda runtimes put in an error
// object.
func isErrorKey(k string) bool {
	switch k {
	case "errorType", "errorMessage", "stackTrace", "trace", "requestId", "cause":
		return true
	}
	return false
}

// errorType returns the errorType of a Lambda error object, or "" when
// body is not one. A result only counts as an error object when it has a
// string errorType and nothing but error fields, so a function that returns
// data which happens to contain "errorType" is not taken for a failure.
func errorType(body []byte) string {
	trimmed := bytes.TrimSpace(body)
	// Most results are not errors: skip decoding them. (Runtimes write the
	// key plainly; one spelled with JSON escapes is not taken for an error.)
	if len(trimmed) == 0 || trimmed[0] != '{' || !bytes.Contains(trimmed, []byte(`"errorType"`)) {
		return ""
	}
	var obj map[string]json.RawMessage
	if json.Unmarshal(trimmed, &obj) != nil {
		return ""
	}
	for k := range obj {
		if !isErrorKey(k) {
			return ""
		}
	}
	var t string
	if json.Unmarshal(obj["errorType"], &t) != nil {
		return ""
	}
	return t
}

// release closes h's connection and returns its lease. It runs even when
// the caller's ctx is done: a lease never returned would hold its
// container busy forever.
func (i *Invoker) release(ctx context.Context, h held, discard bool, reason string) {
	i.endInit(ctx, &h) // a cold container held and given back unused
	if h.conn != nil {
		h.conn.Close()
	}
	h.exit.stop()
	lease := h.lease
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), i.opts.ReleaseTimeout)
	defer cancel()
	err := i.leaser.Release(rctx, lease.ID, agentapi.ReleaseRequest{Discard: discard, Reason: reason})
	switch {
	case err == nil:
	case agentapi.IsCode(err, agentapi.CodeUnknownLease):
		// The agent already reclaimed it (expired, or the agent restarted).
		i.opts.Logger.Debug("release lease: unknown to the agent", "lease", lease.ID, "container", lease.Container)
	default:
		i.opts.Logger.Warn("release lease", "lease", lease.ID, "container", lease.Container, "discard", discard, "error", err.Error())
	}
}

func (i *Invoker) limiter(name string) *limiter {
	i.mu.Lock()
	defer i.mu.Unlock()
	l, ok := i.limiters[name]
	if !ok {
		l = &limiter{}
		i.limiters[name] = l
	}
	return l
}

func snippet(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	return s
}
