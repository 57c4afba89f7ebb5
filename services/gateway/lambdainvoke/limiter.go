package lambdainvoke

import (
	"container/list"
	"context"
	"sync"
	"time"
)

// limiter bounds the concurrent invocations of one function. Waiters are
// served first come, first served. The limit travels with each acquire, so
// a reload that changes max_concurrency takes effect on the next request,
// without a new limiter that would forget who is running.
type limiter struct {
	mu      sync.Mutex
	limit   int // 0: unlimited
	active  int
	waiters list.List // of chan struct{}, closed when granted
}

// acquire takes a slot under limit (0 = unlimited), waiting up to wait
// (negative: as long as ctx lasts). It fails with ErrThrottled when wait
// runs out, or ctx's error.
func (l *limiter) acquire(ctx context.Context, limit int, wait time.Duration) error {
	l.mu.Lock()
	l.limit = limit
	l.grant() // a raised limit frees waiters
	if l.waiters.Len() == 0 && (l.limit <= 0 || l.active < l.limit) {
		l.active++
		l.mu.Unlock()
		return nil
	}
	ready := make(chan struct{})
	el := l.waiters.PushBack(ready)
	l.mu.Unlock()

	err := awaitReady(ctx, ready, wait, ErrThrottled)
	if err == nil {
		return nil
	}
	l.mu.Lock()
	select {
	case <-ready:
		// Granted while giving up: hand the slot on.
		l.active--
		l.grant()
	default:
		l.waiters.Remove(el)
	}
	l.mu.Unlock()
	return err
}

// release frees a slot taken by acquire.
func (l *limiter) release() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.active--
	l.grant()
}

// grant hands free slots to waiters in order; l.mu must be held.
func (l *limiter) grant() {
	for l.waiters.Len() > 0 && (l.limit <= 0 || l.active < l.limit) {
		ready := l.waiters.Remove(l.waiters.Front()).(chan struct{})
		l.active++
		close(ready)
	}
}

// awaitReady waits until ready closes (nil), wait passes (throttled; a
// negative wait never passes) or ctx ends (its error). The limiter and the
// account admission queue both wait this way; the caller then takes its
// lock and settles a grant that raced the give-up.
func awaitReady(ctx context.Context, ready <-chan struct{}, wait time.Duration, throttled error) error {
	var expired <-chan time.Time
	if wait >= 0 {
		t := time.NewTimer(wait)
		defer t.Stop()
		expired = t.C
	}
	select {
	case <-ready:
		return nil
	case <-expired:
		return throttled
	case <-ctx.Done():
		return ctx.Err()
	}
}
