package lambdainvoke

import (
	"context"
	"fmt"
	"time"

	"github.com/esb-dev/esb/internal/agentapi"
)

// starvedRetry is how soon a start the node had no memory for is tried
// again, unless a container given back to the agent makes room sooner.
const starvedRetry = 200 * time.Millisecond

// SetReserved sets apart the reserved concurrency of the live config's
// functions (their max_concurrency) from the account's: the functions
// without a reservation share what is left, never less than 100 (or the
// whole account limit, when it is smaller), as Lambda keeps 100 unreserved.
func (i *Invoker) SetReserved(specs []agentapi.FunctionSpec) {
	reserved := 0
	for _, s := range specs {
		reserved += s.Function.Scaling.MaxConcurrency
	}
	account := i.opts.AccountConcurrency
	i.admit.setLimit(max(account-reserved, min(minUnreserved, account)))
}

// fnLocked is the scheduler's state of spec, whose key is key: a
// container of one spec never serves another (a redeploy or a config
// change must reach the next invocation), so each spec has its own
// waiting requests and containers. i.smu is held.
func (i *Invoker) fnLocked(spec agentapi.FunctionSpec, key specKey) *fnState {
	f, ok := i.fns[key]
	if !ok {
		f = &fnState{spec: spec, key: key}
		i.fns[key] = f
	}
	return f
}

// forgetLocked drops f's state once nothing of it is left, unless it is
// its function's current spec, whose measures the next burst uses.
func (i *Invoker) forgetLocked(f *fnState) {
	if f.waiters.Len() == 0 && f.busy == 0 && f.starting == 0 && f.initializing == 0 && i.latest[f.spec.Name] != f.key {
		i.setStarvedLocked(f, false)
		delete(i.fns, f.key)
	}
}

// lease finds a container for spec: a held warm lease of the same spec at
// once, else the next container of the function that finishes or starts,
// in order of arrival. A request waits for a container at most the
// function's timeout plus AcquireMargin, and, while the node has no memory
// for another container of the function, at most wait (negative: no
// bound). Held leases of the function that must not be reused go back
// first, so the agent can retire their containers.
func (i *Invoker) lease(ctx context.Context, spec agentapi.FunctionSpec, key specKey, wait time.Duration) (held, bool, error) {
	name := spec.Name
	now := i.opts.Now()
	i.smu.Lock()
	f := i.fnLocked(spec, key)
	i.latest[name] = key
	h, ok, stale := i.held.take(name, key, now, i.opts.MaxLeaseAge)
	if ok {
		f.busy++
		i.smu.Unlock()
		i.releaseAll(ctx, stale)
		return h, true, nil
	}
	w := &waiter{since: now, got: make(chan grant, 1)}
	w.el = f.waiters.PushBack(w)
	i.scheduleLocked(ctx, spec, f)
	i.smu.Unlock()
	i.releaseAll(ctx, stale)
	return i.await(ctx, spec, f, w, wait)
}

// await waits for w's container.
func (i *Invoker) await(ctx context.Context, spec agentapi.FunctionSpec, f *fnState, w *waiter, wait time.Duration) (held, bool, error) {
	// A little past the bound of a start's acquire, so that the start's
	// own error (a hung agent) reaches the request first.
	limit := spec.Timeout() + i.opts.AcquireMargin + 500*time.Millisecond
	deadline := time.NewTimer(limit)
	defer deadline.Stop()
	// The start decision is taken again now and then for the oldest
	// request: a start may be due because it has waited a cold start's
	// time, or because the node has room again.
	recheck := time.NewTicker(100 * time.Millisecond)
	defer recheck.Stop()
	var err error
	for err == nil {
		select {
		case g := <-w.got:
			return g.h, g.reused, g.err
		case <-ctx.Done():
			err = fmt.Errorf("wait for a container: %w", ctx.Err())
		case <-deadline.C:
			err = fmt.Errorf("%w: no container within %s", ErrAgent, limit)
		case <-recheck.C:
			i.smu.Lock()
			if w.el != nil && f.starved && wait >= 0 && i.opts.Now().Sub(w.since) >= wait {
				err = fmt.Errorf("%w: no node memory for another container of %s within %s", ErrAccountThrottled, spec.Name, wait)
			} else if w.el != nil {
				i.scheduleLocked(ctx, spec, f)
			}
			i.smu.Unlock()
		}
	}
	// Given up: a container granted meanwhile goes to the next request.
	i.smu.Lock()
	var out []held
	if w.el != nil {
		f.waiters.Remove(w.el)
		w.el = nil
	} else if g := <-w.got; g.err == nil {
		f.busy--
		out = i.handLocked(f, g.h, g.reused)
	}
	i.forgetLocked(f)
	i.smu.Unlock()
	i.releaseAll(ctx, out)
	return held{}, false, err
}

// scheduleLocked starts as many containers of spec's function as the burst
// policy asks for; i.smu is held.
func (i *Invoker) scheduleLocked(ctx context.Context, spec agentapi.FunctionSpec, f *fnState) {
	now := i.opts.Now()
	if f.waiters.Len() == 0 || f.starved && now.Before(f.retryAt) {
		return
	}
	n := startsNeeded(demand{
		Queued:           f.waiters.Len(),
		Busy:             f.busy,
		Starting:         f.starting,
		NodeStarting:     i.nodeStarting,
		Initializing:     f.initializing,
		NodeInitializing: i.nodeInitializing,
		PerFunction:      i.opts.StartsPerFunction,
		PerNode:          i.opts.StartsPerNode,
		Duration:         f.dur.v,
		ColdStart:        f.coldEstimate(),
		OldestWait:       now.Sub(f.waiters.Front().Value.(*waiter).since),
	})
	sctx := i.startCtx
	if sctx.Err() != nil {
		// Run ended (the gateway stops, or a test runs without Run): the
		// start is bounded by its acquire's deadline alone.
		sctx = context.WithoutCancel(ctx)
	}
	for range n {
		f.starting++
		i.nodeStarting++
		i.starts.Go(func() { i.start(sctx, spec, f) })
	}
}

// start asks the agent for a container of spec (an idle one of its own, or
// a new one) for the oldest waiting request of the function. It runs
// apart from the request that caused it, under the Invoker's own context
// (which Run's end cancels): a request that gives up leaves the container
// to the next.
func (i *Invoker) start(ctx context.Context, spec agentapi.FunctionSpec, f *fnState) {
	key := keyOf(spec)
	h, err := i.acquire(ctx, spec, key)
	i.smu.Lock()
	f.starting--
	i.nodeStarting--
	var out []held
	switch {
	case err != nil && agentapi.IsCode(err, agentapi.CodeNoCapacity):
		// The node's memory for functions is taken: idle containers held
		// here go back so the agent may evict them, other functions give
		// containers back as they finish, and the start is tried again.
		if !f.starved {
			i.opts.Logger.Info("no node memory for another container; waiting for room", "function", spec.Name, "waiting", f.waiters.Len())
		}
		i.setStarvedLocked(f, true)
		f.retryAt = i.opts.Now().Add(starvedRetry)
		out = i.held.takeAllBut(spec.Name)
	case err != nil:
		// The agent's error goes to the request that has waited longest,
		// so no failure is silent; the others get a new start.
		i.setStarvedLocked(f, false)
		if el := f.waiters.Front(); el != nil {
			w := f.waiters.Remove(el).(*waiter)
			w.el = nil
			w.got <- grant{err: err}
		} else {
			i.opts.Logger.Warn("container start failed", "function", spec.Name, "error", err.Error())
		}
	default:
		i.setStarvedLocked(f, false)
		if h.lease.Cold {
			// Its start is over when its runtime asks for an event
			// (endInit): a runtime booting is work on the node's CPUs,
			// and a start bound that let it go at the grant let a burst
			// boot more runtimes at once than the node could init in
			// their init timeout, which were discarded and started again.
			h.initializing = true
			f.initializing++
			i.nodeInitializing++
		}
		out = i.handLocked(f, h, false)
	}
	i.scheduleAllLocked(ctx, f)
	i.smu.Unlock()
	i.releaseAll(ctx, out)
}

// scheduleAllLocked takes the start decisions again after the node got
// room for a start: other functions' first, then f's. i.smu is held.
func (i *Invoker) scheduleAllLocked(ctx context.Context, f *fnState) {
	for _, g := range i.fns {
		if g != f && g.waiters.Len() > 0 {
			i.scheduleLocked(ctx, g.spec, g)
		}
	}
	if f != nil {
		i.scheduleLocked(ctx, f.spec, f)
		i.forgetLocked(f)
	}
}

// endInit ends h's init phase, if it is in one: its runtime took an event
// (or the container went without taking one). The whole cold start, from
// the acquire's request (h.acquired) through the agent's start and the
// runtime's init, is a sample of the function's cold start, and the bounds
// have room for another start.
func (i *Invoker) endInit(ctx context.Context, h *held) {
	if !h.initializing {
		return
	}
	h.initializing = false
	took := time.Since(h.acquired)
	if !h.delivered.IsZero() {
		took = h.delivered.Sub(h.acquired)
	}
	i.smu.Lock()
	defer i.smu.Unlock()
	i.nodeInitializing--
	f, ok := i.fns[h.key]
	if !ok {
		i.scheduleAllLocked(ctx, nil)
		return
	}
	f.initializing--
	f.cold.add(max(took, 0))
	i.scheduleAllLocked(ctx, f)
}

// handLocked gives h, a container of f's spec that finished well or just
// started, to the spec's oldest waiting request, or holds it for the next
// one; it returns what must go back to the agent instead: a lease too old
// to reuse, or one that another function needs the memory of. i.smu is
// held.
func (i *Invoker) handLocked(f *fnState, h held, reused bool) []held {
	now := i.opts.Now()
	if now.Sub(h.acquired) >= i.opts.MaxLeaseAge {
		return []held{h}
	}
	if reused && i.starvedBut(f) && (f.waiters.Len() == 0 || f.busy > 0) {
		// Fairness under memory pressure: a function waiting for memory
		// gets this container's room (the agent evicts it once idle),
		// as long as this function keeps another running container or
		// has nobody waiting.
		return []held{h}
	}
	if reused {
		h.lease.Cold = false // whoever gets it next finds it warm
	}
	if el := f.waiters.Front(); el != nil {
		w := f.waiters.Remove(el).(*waiter)
		w.el = nil
		f.busy++
		w.got <- grant{h: h, reused: reused}
		return nil
	}
	if i.opts.HoldIdle > 0 {
		h.idle = now
		if i.held.put(f.spec.Name, h) {
			return nil
		}
	}
	return []held{h}
}

// setStarvedLocked marks whether f waits for node memory; i.smu is held.
func (i *Invoker) setStarvedLocked(f *fnState, starved bool) {
	switch {
	case starved && !f.starved:
		i.starved++
	case !starved && f.starved:
		i.starved--
	}
	f.starved = starved
}

// starvedBut reports whether a function other than f's waits for node
// memory; i.smu is held. Every finished invocation asks, so the usual
// answer (nobody waits for memory) costs no walk over the functions.
func (i *Invoker) starvedBut(f *fnState) bool {
	if i.starved == 0 {
		return false
	}
	for _, g := range i.fns {
		if g.spec.Name != f.spec.Name && g.starved && g.waiters.Len() > 0 {
			return true
		}
	}
	return false
}

// finish accounts for an invocation's end: its container goes to the next
// waiting request, is held, or goes back to the agent (discarded when
// discard is set).
func (i *Invoker) finish(ctx context.Context, spec agentapi.FunctionSpec, h held, discard bool, reason string, took time.Duration) {
	i.smu.Lock()
	f := i.fnLocked(spec, h.key)
	f.busy--
	var out []held
	if discard {
		i.smu.Unlock()
		i.release(ctx, h, true, reason)
		i.smu.Lock()
	} else {
		if took > 0 {
			f.dur.add(took)
		}
		out = i.handLocked(f, h, true)
	}
	i.scheduleLocked(ctx, f.spec, f)
	i.forgetLocked(f)
	given := len(out) > 0
	i.smu.Unlock()
	i.releaseAll(ctx, out)
	if given || discard {
		i.kickStarved(ctx)
	}
}

// kickStarved tries the starts of functions waiting for node memory again
// now: a container just went back to the agent, which may have room.
func (i *Invoker) kickStarved(ctx context.Context) {
	i.smu.Lock()
	defer i.smu.Unlock()
	if i.starved == 0 {
		return
	}
	for _, f := range i.fns {
		if f.starved && f.waiters.Len() > 0 {
			f.retryAt = time.Time{}
			i.scheduleLocked(ctx, f.spec, f)
		}
	}
}

// releaseAll returns leases to the agent.
func (i *Invoker) releaseAll(ctx context.Context, hs []held) {
	for _, h := range hs {
		i.release(ctx, h, false, "")
	}
}
