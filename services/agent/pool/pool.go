// Package pool leases function containers, one invocation per container at
// a time as in Lambda. It keeps released containers warm, retires those a
// redeploy made stale, reaps idle ones and keeps min_warm per function.
// Decisions come from package plan; this package applies them and owns the
// background work they need.
package pool

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/esb-dev/esb/internal/agentapi"
	"github.com/esb-dev/esb/services/agent/agentmetrics"
	"github.com/esb-dev/esb/services/agent/engine"
	"github.com/esb-dev/esb/services/agent/launcher"
	"github.com/esb-dev/esb/services/agent/plan"
)

// Errors the HTTP layer maps to agentapi codes.
var (
	ErrUnknownLease = errors.New("unknown lease")
	ErrClosed       = errors.New("pool closed")
	// ErrNoCapacity: a new container would take the node's memory for
	// functions past its budget, and no idle container was left to evict.
	ErrNoCapacity = errors.New("no node memory for another container")
	// ErrOverBudget: a desired state's min_warm containers do not fit the
	// node's budget.
	ErrOverBudget = errors.New("min_warm beyond the node's budget")
)

// adoptSlack is added to an adopted container's quarantine (see
// popIdleLocked) for what MaxLeaseHold plus the timeout leaves out: the
// gateway's grace past a function's timeout before it gives up on a call.
const adoptSlack = 5 * time.Second

// removeTimeout bounds one container removal; removals run detached from
// requests so a lease released by a cancelled request still goes.
const removeTimeout = 30 * time.Second

// Launcher makes, finds and removes containers; *launcher.Launcher
// implements it.
type Launcher interface {
	Identity(spec agentapi.FunctionSpec) plan.Identity
	Start(ctx context.Context, spec agentapi.FunctionSpec) (launcher.Instance, error)
	Adopt(ctx context.Context, o launcher.Observed) (launcher.Instance, error)
	Remove(ctx context.Context, id string) error
	List(ctx context.Context) ([]launcher.Observed, error)
	ImageRef(spec agentapi.FunctionSpec) string
	RemoveImage(ctx context.Context, ref string) error
	WaitExit(ctx context.Context, inst launcher.Instance) ([]string, error)
	PeakMemory(ctx context.Context, inst launcher.Instance) (int64, error)
}

// Options tune a Pool; zero values are safe.
type Options struct {
	DefaultIdleTimeout time.Duration // for functions without scaling.idle_timeout; default 300 s
	// LeaseGrace is how long past the function's timeout a lease may stay
	// unreleased before its container is reclaimed; default 2 min, and
	// never under twice agentapi.MaxLeaseHold, as the gateway holds warm
	// leases that long. Only a gateway that crashed or restarted leaves
	// one behind.
	LeaseGrace time.Duration
	// MemoryBudget is the node's memory for function containers, in MB:
	// a start that would take the pool past it evicts idle containers of
	// any function, least recently used first, or fails with
	// ErrNoCapacity. 0: no bound.
	MemoryBudget int
	// AccountConcurrency bounds the sum of min_warm of a desired state
	// (Lambda's ProvisionedConcurrentExecutions come out of the account's
	// concurrency). 0: no bound.
	AccountConcurrency int
	// Metrics records starts, removals and images removed; nil records
	// nothing.
	Metrics *agentmetrics.Metrics
	Logger  *slog.Logger
	Now     func() time.Time
}

// Pool is the set of function containers this agent owns.
type Pool struct {
	launcher Launcher
	opts     Options
	ctx      context.Context // bounds background work; see New
	cancel   context.CancelFunc
	wg       sync.WaitGroup

	mu         sync.Mutex
	closed     bool
	entries    map[string]*entry                // by container ID
	idle       map[plan.Identity][]*entry       // LIFO stacks, so few containers stay hot
	leases     map[string]*entry                // by lease ID
	starting   map[plan.Identity]int            // starts in flight
	startingMB int                              // memory of the starts in flight
	desired    map[string]plan.Want             // nil until the first desired state
	specs      map[string]agentapi.FunctionSpec // of the desired state, for min_warm starts
	backoff    map[plan.Identity]backoff        // failed min_warm starts
	prewarm    map[plan.Identity]prewarm        // context of min_warm starts, per identity
	generation uint64
	seq        uint64 // registration counter, to tell a fresh entry from a vanished one
}

type entry struct {
	inst        launcher.Instance
	phase       plan.Phase
	state       engine.State // last reported by the runtime
	retired     bool
	lastUsed    time.Time // idle: released at; busy: leased at
	idleTimeout time.Duration
	lease       string
	leaseTTL    time.Duration
	seq         uint64
	adopted     time.Time // set until first leased, for a container of a previous agent process
	memoryMB    int       // of the node's budget
}

type backoff struct {
	failures int
	until    time.Time
}

// prewarm scopes the min_warm starts of one identity: when a desired state
// makes the identity stale, its starts in flight are cancelled rather than
// finished only to be retired.
type prewarm struct {
	ctx    context.Context
	cancel context.CancelFunc
}

// New returns a Pool. Work that must outlive the request that caused it (a
// start whose caller gave up, a removal, a min_warm start) runs under ctx;
// Close cancels it and waits for that work.
func New(ctx context.Context, l Launcher, opts Options) *Pool {
	if opts.DefaultIdleTimeout <= 0 {
		opts.DefaultIdleTimeout = 300 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.LeaseGrace <= 0 {
		opts.LeaseGrace = 2 * time.Minute
	}
	opts.LeaseGrace = max(opts.LeaseGrace, 2*agentapi.MaxLeaseHold)
	ctx, cancel := context.WithCancel(ctx)
	return &Pool{
		launcher: l,
		opts:     opts,
		ctx:      ctx,
		cancel:   cancel,
		entries:  map[string]*entry{},
		idle:     map[plan.Identity][]*entry{},
		leases:   map[string]*entry{},
		starting: map[plan.Identity]int{},
		backoff:  map[plan.Identity]backoff{},
		prewarm:  map[plan.Identity]prewarm{},
	}
}

// Close stops background work and waits for it. Containers stay in the
// runtime for the next agent process to adopt; see Drain for a stop that
// removes them.
func (p *Pool) Close() {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	p.cancel()
	p.wg.Wait()
}

// Drain stops the pool and removes every function container of its env,
// known to the pool or not: on a graceful stop (`docker compose down`)
// nothing of the env is left running on its network. An agent that dies
// without draining leaves its containers for the next one to adopt.
func (p *Pool) Drain(ctx context.Context) error {
	p.Close()
	found, err := p.launcher.List(ctx)
	if err != nil {
		return fmt.Errorf("drain: %w", err)
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(8)
	for _, o := range found {
		g.Go(func() error { return p.launcher.Remove(gctx, o.ID) })
	}
	if err := g.Wait(); err != nil {
		return fmt.Errorf("drain: %w", err)
	}
	p.mu.Lock()
	clear(p.entries)
	clear(p.idle)
	clear(p.leases)
	p.mu.Unlock()
	p.opts.Logger.Info("drained function containers", "removed", len(found))
	return nil
}

// Adopt takes over the containers a previous agent process left: running
// ones become idle (leases are not carried over), the others are removed.
// Only a failure to list fails it: a container that cannot be adopted is
// removed instead.
func (p *Pool) Adopt(ctx context.Context) error {
	found, err := p.launcher.List(ctx)
	if err != nil {
		return fmt.Errorf("adopt containers: %w", err)
	}
	byID := make(map[string]launcher.Observed, len(found))
	observed := make([]plan.Container, 0, len(found))
	for _, o := range found {
		byID[o.ID] = o
		observed = append(observed, plan.Container{ID: o.ID, Identity: o.Identity, Phase: plan.Unknown, State: o.State})
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(8)
	for _, a := range plan.Startup(observed) {
		o := byID[a.ID]
		g.Go(func() error {
			if a.Kind == plan.Adopt {
				inst, err := p.launcher.Adopt(gctx, o)
				if err == nil {
					p.adopt(inst)
					p.opts.Logger.Info("adopted container", "container", inst.Name, "function", inst.Identity.Function)
					return nil
				}
				p.opts.Logger.Warn("container not adoptable, removing", "container", o.Name, "error", err)
				a.Reason = "not ready"
			}
			if err := p.launcher.Remove(gctx, o.ID); err != nil {
				p.opts.Logger.Error("remove leftover container", "container", o.Name, "error", err)
				return nil
			}
			p.opts.Logger.Info("removed leftover container", "container", o.Name, "reason", a.Reason)
			return nil
		})
	}
	return g.Wait()
}

// Acquire leases a container running spec: the most recently released idle
// one, else a new one. A new container is started under the pool's
// context, not ctx: if the caller gives up, the start goes on and the
// container joins the pool idle, so the retry that usually follows finds
// it warm instead of paying a second cold start.
func (p *Pool) Acquire(ctx context.Context, spec agentapi.FunctionSpec) (agentapi.Lease, error) {
	ident := p.launcher.Identity(spec)
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return agentapi.Lease{}, ErrClosed
	}
	if e := p.popIdleLocked(ident, agentapi.MaxLeaseHold+spec.Timeout()+adoptSlack); e != nil {
		lease := p.leaseLocked(e, p.leaseTTL(spec), false)
		p.mu.Unlock()
		return lease, nil
	}
	if !p.makeRoomLocked(spec.MemoryMB()) {
		used := p.memoryLocked()
		p.mu.Unlock()
		return agentapi.Lease{}, fmt.Errorf("%w: %s needs %d MB, %d of %d MB in use by busy containers", ErrNoCapacity, spec.Name, spec.MemoryMB(), used, p.opts.MemoryBudget)
	}
	w := &waiter{result: make(chan startResult, 1)}
	p.startLocked(spec, ident, w)
	p.mu.Unlock()

	select {
	case r := <-w.result:
		return r.lease, r.err
	case <-ctx.Done():
		p.mu.Lock()
		w.abandoned = true
		p.mu.Unlock()
		// The start may have finished between ctx.Done and the lock: its
		// lease is then ours to hand back.
		select {
		case r := <-w.result:
			if r.err == nil {
				_ = p.Release(r.lease.ID, false) // ours, so never unknown
			}
		default:
		}
		return agentapi.Lease{}, ctx.Err()
	}
}

// Release ends a lease. The container goes back to the idle pool unless
// discard is set or a redeploy retired it meanwhile; then it is removed.
func (p *Pool) Release(leaseID string, discard bool) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	e, ok := p.leases[leaseID]
	if !ok {
		return fmt.Errorf("lease %s: %w", leaseID, ErrUnknownLease)
	}
	delete(p.leases, leaseID)
	e.lease = ""
	switch {
	case discard:
		p.removeLocked(e, agentmetrics.ReasonDiscarded)
	case e.retired:
		p.removeLocked(e, plan.ReasonRetired)
	default:
		e.phase = plan.Idle
		e.lastUsed = p.opts.Now()
		p.idle[e.inst.Identity] = append(p.idle[e.inst.Identity], e)
	}
	return nil
}

// leased returns the container of lease leaseID, or ErrUnknownLease.
func (p *Pool) leased(leaseID string) (launcher.Instance, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	e, ok := p.leases[leaseID]
	if !ok {
		return launcher.Instance{}, fmt.Errorf("lease %s: %w", leaseID, ErrUnknownLease)
	}
	return e.inst, nil
}

// Memory reports the peak memory of lease leaseID's container; MaxBytes
// is 0 when the engine does not report it.
func (p *Pool) Memory(ctx context.Context, leaseID string) (agentapi.Memory, error) {
	inst, err := p.leased(leaseID)
	if err != nil {
		return agentapi.Memory{}, err
	}
	peak, err := p.launcher.PeakMemory(ctx, inst)
	if errors.Is(err, engine.ErrNoMetric) {
		return agentapi.Memory{}, nil
	}
	if err != nil {
		return agentapi.Memory{}, fmt.Errorf("lease %s: %w", leaseID, err)
	}
	return agentapi.Memory{MaxBytes: peak}, nil
}

// WaitExit returns once the container of lease leaseID has exited, with
// its last output lines, or with ctx's error.
func (p *Pool) WaitExit(ctx context.Context, leaseID string) (agentapi.Exit, error) {
	inst, err := p.leased(leaseID)
	if err != nil {
		return agentapi.Exit{}, err
	}
	lines, err := p.launcher.WaitExit(ctx, inst)
	if err != nil {
		return agentapi.Exit{}, fmt.Errorf("lease %s: %w", leaseID, err)
	}
	return agentapi.Exit{Container: inst.ID, LastLines: lines}, nil
}

// SetDesired replaces the desired state. Stale idle containers go at once,
// stale busy ones on release; functions below min_warm get starts. A
// function missing from d keeps its containers until they idle out. A
// desired state whose min_warm containers take more than the node's
// memory budget or account concurrency is refused (ErrOverBudget) and the
// previous one stays.
func (p *Pool) SetDesired(d agentapi.Desired) error {
	if err := p.checkBudget(d); err != nil {
		return err
	}
	wants := make(map[string]plan.Want, len(d.Functions))
	specs := make(map[string]agentapi.FunctionSpec, len(d.Functions))
	for _, s := range d.Functions {
		wants[s.Name] = plan.Want{
			Identity:    p.launcher.Identity(s),
			MinWarm:     s.Function.Scaling.MinWarm,
			IdleTimeout: seconds(s.Function.Scaling.IdleTimeout),
		}
		specs[s.Name] = s
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	old := p.specs
	p.desired, p.specs, p.generation = wants, specs, d.Generation
	for name, s := range old {
		if now, ok := specs[name]; ok && now.Function.Digest != s.Function.Digest {
			// A function with no container left would otherwise keep its
			// old image for good.
			p.dropImageLocked(name, s.Function.Digest, p.launcher.ImageRef(s))
		}
	}
	for ident, pw := range p.prewarm {
		if want, ok := wants[ident.Function]; !ok || want.Identity != ident {
			pw.cancel()
			delete(p.prewarm, ident)
		}
	}
	p.applyLocked(plan.Reconcile(p.inputLocked(nil)))
	return nil
}

// checkBudget refuses a desired state whose min_warm containers alone
// exceed the node's memory for functions or the account's concurrency.
func (p *Pool) checkBudget(d agentapi.Desired) error {
	problems := p.Budget().Check(d.Functions)
	if len(problems) == 0 {
		return nil
	}
	return overBudget(problems)
}

// overBudget is ErrOverBudget with its problems: its text is theirs
// alone, as the agent's answer carries it to `esb deploy`.
type overBudget []agentapi.BudgetProblem

func (e overBudget) Error() string {
	lines := make([]string, len(e))
	for i, p := range e {
		lines[i] = p.String()
	}
	return strings.Join(lines, "; ")
}

func (e overBudget) Is(target error) bool { return target == ErrOverBudget }

// Budget is what the node gives function containers.
func (p *Pool) Budget() agentapi.Budget {
	return agentapi.Budget{MemoryMB: p.opts.MemoryBudget, Concurrency: p.opts.AccountConcurrency}
}

// memoryLocked is the memory the pool's containers take, starting ones
// included; containers being removed no longer count.
func (p *Pool) memoryLocked() int {
	mb := p.startingMB
	for _, e := range p.entries {
		if e.phase != plan.Removing {
			mb += e.memoryMB
		}
	}
	return mb
}

// makeRoomLocked reports whether a container of mb fits the budget,
// evicting idle containers, least recently used first, until it does.
// Containers adopted from a previous agent process and still in
// quarantine are not evicted: the gateway may still be using them.
func (p *Pool) makeRoomLocked(mb int) bool {
	budget := p.opts.MemoryBudget
	if budget <= 0 {
		return true
	}
	used := p.memoryLocked()
	if used+mb <= budget {
		return true
	}
	var idle []*entry
	for _, stack := range p.idle {
		for _, e := range stack {
			if e.adopted.IsZero() {
				idle = append(idle, e)
			}
		}
	}
	slices.SortFunc(idle, func(a, b *entry) int { return a.lastUsed.Compare(b.lastUsed) })
	var evict []*entry
	for _, e := range idle {
		if used+mb <= budget {
			break
		}
		used -= e.memoryMB
		evict = append(evict, e)
	}
	if used+mb > budget {
		return false // evicting would not be enough: keep them warm
	}
	for _, e := range evict {
		p.removeLocked(e, agentmetrics.ReasonEvicted)
	}
	return true
}

// Run reconciles with the runtime every interval until ctx ends.
func (p *Pool) Run(ctx context.Context, interval time.Duration) error {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			if err := p.Reconcile(ctx); err != nil && ctx.Err() == nil {
				p.opts.Logger.Warn("reconcile", "error", err)
			}
		}
	}
}

// Reconcile lists the runtime's containers and applies one plan: idle
// reaping, min_warm, and the removal of containers that stopped.
func (p *Pool) Reconcile(ctx context.Context) error {
	p.mu.Lock()
	listedAt := p.seq
	p.mu.Unlock()
	found, err := p.launcher.List(ctx)
	if err != nil {
		return fmt.Errorf("list containers: %w", err)
	}
	states := make(map[string]engine.State, len(found))
	for _, o := range found {
		states[o.ID] = o.State
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	var unknown []plan.Container
	for _, o := range found {
		if _, ok := p.entries[o.ID]; !ok {
			unknown = append(unknown, plan.Container{ID: o.ID, Identity: o.Identity, Phase: plan.Unknown, State: o.State})
		}
	}
	for id, e := range p.entries {
		// An entry registered after the list began may simply not be in
		// it yet; only older ones missing from the list have vanished.
		if e.seq <= listedAt {
			e.state = states[id]
		}
	}
	p.applyLocked(plan.Reconcile(p.inputLocked(unknown)))
	return nil
}

// Health reports the pool's size and the desired generation; Runtime is
// left to the caller.
func (p *Pool) Health() agentapi.Health {
	p.mu.Lock()
	defer p.mu.Unlock()
	b := p.Budget()
	h := agentapi.Health{Status: "ok", Generation: p.generation, MemoryMB: p.memoryLocked(), MemoryBudgetMB: b.MemoryMB, AccountConcurrency: b.Concurrency}
	for _, n := range p.starting {
		h.Starting += n
	}
	for _, e := range p.entries {
		switch e.phase {
		case plan.Removing:
			h.Removing++
		case plan.Idle:
			h.Containers++
			if h.IdleByFunction == nil {
				h.IdleByFunction = map[string]int{}
			}
			h.IdleByFunction[e.inst.Identity.Function]++
		case plan.Busy:
			h.Containers++
			h.Busy++
		}
	}
	return h
}

type waiter struct {
	result    chan startResult // buffered: the starter never blocks on it
	abandoned bool             // guarded by Pool.mu
}

type startResult struct {
	lease agentapi.Lease
	err   error
}

// startLocked starts a container in the background; w, when set, receives
// a lease on it unless it has been abandoned.
func (p *Pool) startLocked(spec agentapi.FunctionSpec, ident plan.Identity, w *waiter) {
	ctx := p.ctx
	if w == nil {
		pw, ok := p.prewarm[ident]
		if !ok {
			pw.ctx, pw.cancel = context.WithCancel(p.ctx)
			p.prewarm[ident] = pw
		}
		ctx = pw.ctx
	}
	p.starting[ident]++
	p.startingMB += spec.MemoryMB()
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		began := time.Now()
		inst, err := p.launcher.Start(ctx, spec)
		p.opts.Metrics.Started(spec.Name, time.Since(began), err)
		p.mu.Lock()
		if p.starting[ident]--; p.starting[ident] == 0 {
			delete(p.starting, ident)
		}
		p.startingMB -= spec.MemoryMB()
		if err != nil {
			if w == nil {
				b := p.backoff[ident]
				b.failures++
				b.until = p.opts.Now().Add(min(time.Duration(1<<min(b.failures, 8))*time.Second, 5*time.Minute))
				p.backoff[ident] = b
			}
			p.mu.Unlock()
			switch {
			case w != nil:
				w.result <- startResult{err: err}
			case ctx.Err() == nil:
				p.opts.Logger.Warn("min_warm start", "function", spec.Name, "error", err)
			}
			return
		}
		delete(p.backoff, ident)
		e := p.registerLocked(inst, seconds(spec.Function.Scaling.IdleTimeout))
		e.memoryMB = spec.MemoryMB()
		if w != nil && !w.abandoned {
			lease := p.leaseLocked(e, p.leaseTTL(spec), true)
			p.mu.Unlock()
			w.result <- startResult{lease: lease}
			return
		}
		p.releaseNewLocked(e)
		p.mu.Unlock()
	}()
}

// adopt registers a running container of a previous agent process as idle.
// See popIdleLocked for when it may be leased.
func (p *Pool) adopt(inst launcher.Instance) {
	p.mu.Lock()
	defer p.mu.Unlock()
	e := p.registerLocked(inst, 0)
	e.adopted = e.lastUsed
	// The spec it was started from is gone with the previous process: the
	// desired state's, when it is known, else Lambda's default.
	e.memoryMB = agentapi.DefaultMemoryMB
	if s, ok := p.specs[inst.Identity.Function]; ok {
		e.memoryMB = s.MemoryMB()
	}
	p.releaseNewLocked(e)
}

// registerLocked records a ready container as busy-to-be; the caller makes
// it idle or leases it. A container whose identity a desired update made
// stale while it started is marked retired at once.
func (p *Pool) registerLocked(inst launcher.Instance, idleTimeout time.Duration) *entry {
	p.seq++
	e := &entry{
		inst:        inst,
		phase:       plan.Busy,
		state:       engine.StateRunning,
		lastUsed:    p.opts.Now(),
		idleTimeout: idleTimeout,
		seq:         p.seq,
	}
	if want, ok := p.desired[inst.Identity.Function]; ok && want.Identity != inst.Identity {
		e.retired = true
	}
	p.entries[inst.ID] = e
	return e
}

// releaseNewLocked makes a freshly registered container idle, or removes it
// when it is already retired.
func (p *Pool) releaseNewLocked(e *entry) {
	if e.retired {
		p.removeLocked(e, plan.ReasonRedeploy)
		return
	}
	e.phase = plan.Idle
	p.idle[e.inst.Identity] = append(p.idle[e.inst.Identity], e)
}

// popIdleLocked takes the most recently released idle container of ident.
// It passes over a container adopted less than quarantine ago: the
// previous agent process may have leased it to the gateway, which may
// still be running an invocation on it or holding it for the next one (up
// to agentapi.MaxLeaseHold, plus the function's timeout for the last
// invocation), and a container runs one invocation at a time.
func (p *Pool) popIdleLocked(ident plan.Identity, quarantine time.Duration) *entry {
	stack := p.idle[ident]
	now := p.opts.Now()
	for i := len(stack) - 1; i >= 0; i-- {
		e := stack[i]
		if !e.adopted.IsZero() && now.Sub(e.adopted) < quarantine {
			continue
		}
		if len(stack) == 1 {
			delete(p.idle, ident)
		} else {
			p.idle[ident] = slices.Delete(stack, i, i+1)
		}
		return e
	}
	return nil
}

func (p *Pool) leaseLocked(e *entry, ttl time.Duration, cold bool) agentapi.Lease {
	id := rand.Text()
	e.adopted = time.Time{}
	e.phase = plan.Busy
	e.lease = id
	e.leaseTTL = ttl
	e.lastUsed = p.opts.Now()
	p.leases[id] = e
	return agentapi.Lease{ID: id, Endpoint: e.inst.Endpoint, Container: e.inst.Name, Cold: cold, RuntimeSecret: e.inst.RuntimeSecret}
}

// removeLocked takes e out of service now and removes its container in the
// background. After Close nothing is removed: the next agent process
// adopts or removes what is left.
func (p *Pool) removeLocked(e *entry, reason string) {
	if stack := p.idle[e.inst.Identity]; len(stack) > 0 {
		if i := slices.Index(stack, e); i >= 0 {
			stack = slices.Delete(stack, i, i+1)
			if len(stack) == 0 {
				delete(p.idle, e.inst.Identity)
			} else {
				p.idle[e.inst.Identity] = stack
			}
		}
	}
	if e.lease != "" {
		delete(p.leases, e.lease)
		e.lease = ""
	}
	e.phase = plan.Removing
	if p.closed {
		return
	}
	p.cleanup(func(ctx context.Context) {
		err := p.launcher.Remove(ctx, e.inst.ID)
		p.mu.Lock()
		defer p.mu.Unlock()
		if err != nil {
			// Back as idle and retired: the next reconcile tries again.
			p.opts.Logger.Error("remove container", "container", e.inst.Name, "error", err)
			e.phase, e.retired = plan.Idle, true
			return
		}
		delete(p.entries, e.inst.ID)
		p.opts.Metrics.Removed(reason)
		p.opts.Logger.Info("removed container", "container", e.inst.Name, "function", e.inst.Identity.Function, "reason", reason)
		p.dropImageLocked(e.inst.Identity.Function, e.inst.Identity.Digest, e.inst.Image)
	})
}

// dropImageLocked removes image ref, which function fn ran at digest, in
// the background once nothing needs it: the desired state runs another
// digest of fn and no function at this one, and no container of the
// pool, started or starting, runs it. Every deploy that changes a function
// pins a new digest, so without this each one would leave an image on the
// node's disk for good. Containers of other envs are the engine's to
// protect (ErrInUse).
//
// Only a reference the agent pulled, repo@digest, is removed. A container
// created from a bare image ID ran an image that never left this engine:
// the user's own build, which is theirs to remove.
func (p *Pool) dropImageLocked(fn, digest, ref string) {
	if p.closed || digest == "" || !pulledRef(ref) {
		return
	}
	if _, ok := p.specs[fn]; !ok {
		return
	}
	for _, s := range p.specs {
		if s.Function.Digest == digest {
			return
		}
	}
	for _, e := range p.entries {
		if e.inst.Identity.Digest == digest || e.inst.Image == ref {
			return
		}
	}
	for ident := range p.starting {
		if ident.Digest == digest {
			return
		}
	}
	p.cleanup(func(ctx context.Context) {
		switch err := p.launcher.RemoveImage(ctx, ref); {
		case err == nil:
			p.opts.Metrics.ImageRemoved()
			p.opts.Logger.Info("removed image", "function", fn, "image", ref, "reason", "digest no longer deployed")
		case errors.Is(err, engine.ErrNotFound), errors.Is(err, engine.ErrInUse):
			p.opts.Logger.Debug("image left in place", "function", fn, "image", ref, "why", err)
		default:
			p.opts.Logger.Warn("remove image", "function", fn, "image", ref, "error", err)
		}
	})
}

func (p *Pool) inputLocked(unknown []plan.Container) plan.Input {
	in := plan.Input{
		Desired:            p.desired,
		Now:                p.opts.Now(),
		DefaultIdleTimeout: p.opts.DefaultIdleTimeout,
		Containers:         make([]plan.Container, 0, len(p.entries)+len(unknown)),
	}
	for id, e := range p.entries {
		in.Containers = append(in.Containers, plan.Container{
			ID:          id,
			Identity:    e.inst.Identity,
			Phase:       e.phase,
			State:       e.state,
			Retired:     e.retired,
			LastUsed:    e.lastUsed,
			IdleTimeout: e.idleTimeout,
			LeaseTTL:    e.leaseTTL,
		})
	}
	n := 0
	for ident, count := range p.starting {
		for range count {
			n++
			in.Containers = append(in.Containers, plan.Container{ID: fmt.Sprintf("starting-%d", n), Identity: ident, Phase: plan.Starting})
		}
	}
	in.Containers = append(in.Containers, unknown...)
	return in
}

func (p *Pool) applyLocked(actions []plan.Action) {
	for _, a := range actions {
		switch a.Kind {
		case plan.Remove:
			if e, ok := p.entries[a.ID]; ok {
				p.removeLocked(e, a.Reason)
			} else {
				p.removeUnknownLocked(a.ID, a.Reason)
			}
		case plan.Retire:
			if e, ok := p.entries[a.ID]; ok {
				e.retired = true
			}
		case plan.Start:
			spec, ok := p.specs[a.Function]
			if !ok || p.closed {
				continue
			}
			ident := p.desired[a.Function].Identity
			if b, ok := p.backoff[ident]; ok && p.opts.Now().Before(b.until) {
				continue
			}
			for range a.Count {
				if !p.makeRoomLocked(spec.MemoryMB()) {
					p.opts.Logger.Warn("min_warm start skipped: no node memory for functions", "function", spec.Name, "memory_mb", spec.MemoryMB(), "budget_mb", p.opts.MemoryBudget)
					break
				}
				p.startLocked(spec, ident, nil)
			}
		}
	}
}

func (p *Pool) removeUnknownLocked(id, reason string) {
	if p.closed {
		return
	}
	p.cleanup(func(ctx context.Context) {
		if err := p.launcher.Remove(ctx, id); err != nil {
			p.opts.Logger.Error("remove container", "container", id, "error", err)
			return
		}
		p.opts.Metrics.Removed(reason)
		p.opts.Logger.Info("removed container", "container", id, "reason", reason)
	})
}

// ContainersByState counts the pool's containers by state: starting,
// idle, busy and removing.
func (p *Pool) ContainersByState() map[string]int {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := map[string]int{"starting": 0, "idle": 0, "busy": 0, "removing": 0}
	for _, n := range p.starting {
		out["starting"] += n
	}
	for _, e := range p.entries {
		switch e.phase {
		case plan.Idle:
			out["idle"]++
		case plan.Busy:
			out["busy"]++
		case plan.Removing:
			out["removing"]++
		}
	}
	return out
}

// pulledRef reports whether ref names an image by repository and digest,
// as the launcher pulls it, rather than by a bare image ID.
func pulledRef(ref string) bool {
	repo, _, ok := strings.Cut(ref, "@")
	return ok && repo != ""
}

// cleanup runs f in the background, outliving the request that asked for
// it but bounded by removeTimeout; Close waits for it.
func (p *Pool) cleanup(f func(ctx context.Context)) {
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		ctx, cancel := context.WithTimeout(context.WithoutCancel(p.ctx), removeTimeout)
		defer cancel()
		f(ctx)
	}()
}

// leaseTTL is how long a lease on a container of spec may last: the
// function's timeout (Lambda's default when unset) plus the grace.
func (p *Pool) leaseTTL(spec agentapi.FunctionSpec) time.Duration {
	return spec.Timeout() + p.opts.LeaseGrace
}

func seconds(n int) time.Duration { return time.Duration(n) * time.Second }
