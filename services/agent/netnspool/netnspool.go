// Package netnspool keeps network namespaces ready for cold starts.
//
// Most of what a container start costs the node, past the function's own
// init, is its network: Docker builds a network sandbox (two re-execs of
// dockerd, a veth, embedded-DNS rules); containerd mode makes a namespace
// and runs the CNI plugins into it. A burst of cold starts waits on
// exactly that CPU. A namespace prepared while the node is quiet moves it
// out of the burst. Each runtime says what a prepared namespace is (a
// holder container, a held namespace with its CNI address); this package
// only keeps them: filled up to a size, refilled once takes have stopped,
// emptied when the pool stops.
//
// A prepared namespace serves exactly one function container and goes
// with it: no rule or connection state passes from one function container
// to the next.
package netnspool

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// Pool keeps up to Size prepared namespaces of type T.
type Pool[T any] struct {
	size    int
	idle    time.Duration
	prepare func(context.Context) (T, error)
	discard func(context.Context, T)
	logger  *slog.Logger

	ready chan T
	taken chan struct{}
}

// Options shape a Pool.
type Options[T any] struct {
	// Size is how many namespaces the pool keeps ready.
	Size int
	// Idle is how long after the last take the pool waits before it
	// refills: a refill during a burst would take the CPU the burst's
	// own starts need. Zero means 5 s.
	Idle time.Duration
	// Prepare makes one namespace ready; Discard undoes it (also when its
	// context has ended: it must clean up all the same).
	Prepare func(context.Context) (T, error)
	Discard func(context.Context, T)
	// Logger gets each failed Prepare (starts then go without the pool).
	Logger *slog.Logger
}

// New returns an empty pool; Run fills it.
func New[T any](opts Options[T]) *Pool[T] {
	if opts.Idle <= 0 {
		opts.Idle = 5 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &Pool[T]{size: opts.Size, idle: opts.Idle, prepare: opts.Prepare, discard: opts.Discard, logger: opts.Logger,
		ready: make(chan T, opts.Size), taken: make(chan struct{}, 1)}
}

// The pause after a failed Prepare (the engine may be busy or down)
// doubles from retryFirst up to retryMost while Prepare keeps failing.
const (
	retryFirst = time.Second
	retryMost  = time.Minute
)

// Run fills the pool until ctx ends, then discards what was not taken.
func (p *Pool[T]) Run(ctx context.Context) {
	defer p.discardReady(ctx)
	retry := retryFirst
	for {
		for len(p.ready) < p.size {
			v, err := p.prepare(ctx)
			if err != nil {
				if ctx.Err() != nil {
					return
				}
				p.logger.Warn("prepare a network namespace for cold starts; starts make their own meanwhile", "error", err, "retry_in", retry)
				select {
				case <-ctx.Done():
					return
				case <-time.After(retry):
				}
				retry = min(2*retry, retryMost)
				continue
			}
			retry = retryFirst
			p.ready <- v
		}
		select {
		case <-ctx.Done():
			return
		case <-p.taken:
		}
		// Refill once takes have stopped for a while.
		for quiet := false; !quiet; {
			select {
			case <-ctx.Done():
				return
			case <-p.taken:
			case <-time.After(p.idle):
				quiet = true
			}
		}
	}
}

// discardReady discards the namespaces not taken, several at a time: one
// by one, 16 Docker holders took longer than the agent's stop grace.
func (p *Pool[T]) discardReady(ctx context.Context) {
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	for {
		select {
		case v := <-p.ready:
			sem <- struct{}{}
			wg.Go(func() {
				defer func() { <-sem }()
				p.discard(ctx, v)
			})
		default:
			wg.Wait()
			return
		}
	}
}

// Take returns a ready namespace, or false when none is: the caller then
// makes its own, as without a pool.
func (p *Pool[T]) Take() (T, bool) {
	select {
	case v := <-p.ready:
		select {
		case p.taken <- struct{}{}:
		default:
		}
		return v, true
	default:
		var zero T
		return zero, false
	}
}

// Offer adds a namespace prepared outside Run; false when the pool is
// full.
func (p *Pool[T]) Offer(v T) bool {
	select {
	case p.ready <- v:
		return true
	default:
		return false
	}
}

// Ready is how many namespaces wait in the pool.
func (p *Pool[T]) Ready() int { return len(p.ready) }
