package lambdainvoke

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/esb-dev/esb/internal/agentapi"
	"github.com/esb-dev/esb/services/gateway/runtimeapi"
)

// ExitWatcher is the agent's word that a leased container exited, the one
// sign of a crash when the runtime talks to the gateway's Runtime API (no
// RIE in the container answers 502 for it). *agentapi.Client implements it.
type ExitWatcher interface {
	WaitExit(ctx context.Context, leaseID string) (agentapi.Exit, error)
}

// errNotDelivered marks an exchange whose container was gone before its
// runtime took the event: like a refused connection, nothing reached it.
var errNotDelivered = errors.New("event not delivered")

// exitWatch follows one lease's container until the lease goes back.
type exitWatch struct {
	gone   chan struct{} // closed when the container exited
	cancel context.CancelFunc
	mu     sync.Mutex
	exit   agentapi.Exit
}

// watchExit starts watching lease's container; nil when the leaser cannot
// tell (the exchange then ends at its deadline).
func (i *Invoker) watchExit(lease agentapi.Lease) *exitWatch {
	w, ok := i.leaser.(ExitWatcher)
	if !ok || i.opts.Runtimes == nil {
		return nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	ew := &exitWatch{gone: make(chan struct{}), cancel: cancel}
	go func() {
		exit, err := w.WaitExit(ctx, lease.ID)
		if err != nil {
			// Watching stopped (the lease went back) or the agent forgot
			// the lease (it restarted): nothing is known of an exit.
			if ctx.Err() == nil {
				i.opts.Logger.Debug("watch container exit", "lease", lease.ID, "container", lease.Container, "error", err.Error())
			}
			return
		}
		ew.mu.Lock()
		ew.exit = exit
		ew.mu.Unlock()
		close(ew.gone)
	}()
	return ew
}

func (w *exitWatch) stop() {
	if w != nil {
		w.cancel()
	}
}

func (w *exitWatch) goneCh() <-chan struct{} {
	if w == nil {
		return nil
	}
	return w.gone
}

// epitaph is what the container printed last, for the crash report.
func (w *exitWatch) epitaph() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.exit.LastLines) == 0 {
		return "container exited; it printed nothing"
	}
	return "container exited; last log lines:\n" + strings.Join(w.exit.LastLines, "\n")
}

// addrOf is the address a lease's runtime talks to the Runtime API from:
// its container's own.
func addrOf(endpoint string) (netip.Addr, error) {
	u, err := url.Parse(endpoint)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("container endpoint %q: %w", endpoint, err)
	}
	addr, err := netip.ParseAddr(u.Hostname())
	if err != nil {
		return netip.Addr{}, fmt.Errorf("container endpoint %q: want an IP address: %w", endpoint, err)
	}
	return addr, nil
}

// MemoryReader is the agent's word on a leased container's peak memory,
// for the REPORT line's Max Memory Used. *agentapi.Client implements it.
type MemoryReader interface {
	Memory(ctx context.Context, leaseID string) (agentapi.Memory, error)
}

// Bounds of the peak memory reads behind REPORT lines. They run beside
// the request path, never on it; when maxMemoryReads are in flight (a
// burst), a REPORT line goes out without Max Memory Used rather than
// queueing reads on the agent and its container engine.
const (
	// memoryReadTimeout leaves a busy container engine room: with 2 s, a
	// REPORT line on a loaded host went out without Max Memory Used. The
	// REPORT line waits for it, never the caller.
	memoryReadTimeout = 5 * time.Second
	maxMemoryReads    = 4
)

// report is one REPORT line's figures.
type report struct {
	id       string
	duration time.Duration
	memoryMB int
	maxBytes int64         // 0: unknown
	init     time.Duration // 0: a warm start
}

// String formats the line as Lambda does, leaving out what is unknown.
func (r report) String() string {
	billed := (r.duration + time.Millisecond - 1) / time.Millisecond
	line := fmt.Sprintf("REPORT RequestId: %s\tDuration: %.2f ms\tBilled Duration: %d ms\tMemory Size: %d MB",
		r.id, float64(r.duration.Microseconds())/1000, billed, r.memoryMB)
	if r.maxBytes > 0 {
		line += fmt.Sprintf("\tMax Memory Used: %d MB", (r.maxBytes+1<<20-1)>>20)
	}
	if r.init > 0 {
		line += fmt.Sprintf("\tInit Duration: %.2f ms", float64(r.init.Microseconds())/1000)
	}
	return line
}

// logInvocation writes Lambda's lines around one invocation into the
// function's log stream. Duration counts from the moment the runtime took
// the event (delivered; the offer when unknown). For a container started
// for this invocation, Init Duration runs from the agent's grant to that
// moment: the runtime's start up to its first ask for an event. The
// REPORT line waits for the container's peak memory from the agent, off
// the request path.
func (i *Invoker) logInvocation(h *held, spec agentapi.FunctionSpec, id string, start, delivered time.Time, timeout time.Duration, err error) {
	if i.opts.FunctionLog == nil {
		return
	}
	end := time.Now()
	// REPORT follows END, as on Lambda: a microsecond later, so a log
	// store that orders by time (and not by arrival) keeps the order.
	reportAt := end.Add(time.Microsecond)
	container := h.lease.Container
	log := func(at time.Time, format string, args ...any) {
		i.opts.FunctionLog(spec, container, at, fmt.Sprintf(format, args...))
	}
	log(start, "START RequestId: %s Version: $LATEST", id)
	if errors.Is(err, runtimeapi.ErrNoAnswer) {
		log(end, "%s %s Task timed out after %.2f seconds", end.UTC().Format("2006-01-02T15:04:05.000Z"), id, timeout.Seconds())
	}
	log(end, "END RequestId: %s", id)
	r := report{id: id, duration: end.Sub(start), memoryMB: spec.Function.MemorySize}
	if !delivered.IsZero() {
		r.duration = end.Sub(delivered)
		if h.lease.Cold && !h.acquired.IsZero() {
			r.init = max(delivered.Sub(h.acquired), 0)
		}
	}
	mem, ok := i.leaser.(MemoryReader)
	if !ok {
		log(reportAt, "%s", r)
		return
	}
	select {
	case i.memoryReads <- struct{}{}:
	default:
		log(reportAt, "%s", r)
		return
	}
	leaseID := h.lease.ID
	i.reports.Go(func() {
		defer func() { <-i.memoryReads }()
		ctx, cancel := context.WithTimeout(i.startCtx, memoryReadTimeout)
		defer cancel()
		if m, err := mem.Memory(ctx, leaseID); err == nil {
			r.maxBytes = m.MaxBytes
		} else {
			i.opts.Logger.Debug("peak memory for REPORT", "lease", leaseID, "container", container, "error", err.Error())
		}
		log(reportAt, "%s", r)
	})
}

// exchange runs the invocation through the runtime's session with the
// gateway's Runtime API. The runtime has InitTimeout plus the function's
// timeout to ask for the event (see Options.InitTimeout); then the
// function's timeout runs from the moment it took it.
func (i *Invoker) exchange(h *held, req Request, timeout time.Duration) (res Result, discard bool, err error) {
	addr, err := addrOf(h.lease.Endpoint)
	if err != nil {
		return Result{}, true, fmt.Errorf("%w: %w", ErrAgent, err)
	}
	id := req.RequestID
	if id == "" {
		id = rand.Text()
	}
	inv := &runtimeapi.Invocation{ID: id, Payload: req.Payload, FunctionARN: req.FunctionARN, TraceID: req.TraceID, Timeout: timeout}
	sess := i.opts.Runtimes.Session(addr, h.lease.Container, h.acquired, h.lease.RuntimeSecret)
	var epitaph func() string
	if h.exit != nil {
		epitaph = h.exit.epitaph
	}
	start := time.Now()
	initWait := i.opts.InitTimeout + timeout
	o, err := sess.Exchange(inv, start.Add(initWait), i.opts.TimeoutGrace, h.exit.goneCh(), epitaph)
	h.delivered = o.Delivered
	var ee *runtimeapi.ExchangeError
	if err == nil || errors.As(err, &ee) && ee.Delivered {
		i.logInvocation(h, req.Function, id, start, o.Delivered, timeout, err)
	}
	if errors.As(err, &ee) {
		switch {
		case errors.Is(err, runtimeapi.ErrGone) && !ee.Delivered:
			return Result{}, true, fmt.Errorf("%w: %w: %w", ErrCrashed, errNotDelivered, err)
		case errors.Is(err, runtimeapi.ErrGone):
			return Result{}, true, fmt.Errorf("%w: %w", ErrCrashed, err)
		case errors.Is(err, runtimeapi.ErrNotReady):
			return Result{}, true, fmt.Errorf("%w: the runtime did not ask for an event within %s", ErrTimeout, initWait)
		default:
			return Result{}, true, fmt.Errorf("%w: %w", ErrTimeout, err)
		}
	}
	if err != nil {
		return Result{}, true, fmt.Errorf("%w: %w", ErrCrashed, err)
	}
	res = Result{Payload: o.Payload}
	switch o.Kind {
	case runtimeapi.TooLarge:
		// The function finished; only its answer is unusable.
		return Result{}, false, fmt.Errorf("%w: more than %d bytes", ErrResponseTooLarge, i.opts.MaxResponse)
	case runtimeapi.Response:
		return res, false, nil
	case runtimeapi.InitError:
		// The runtime exits after reporting it.
		res.FunctionError = FunctionErrorUnhandled
		return res, true, nil
	default:
		res.FunctionError = FunctionErrorUnhandled
		et := o.ErrorType
		if et == "" {
			et = errorType(o.Payload)
		}
		// A Runtime.* error leaves the runtime in no state to take the
		// next event.
		return res, strings.HasPrefix(et, "Runtime."), nil
	}
}
