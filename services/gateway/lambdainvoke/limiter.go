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

	var expired <-chan time.Time
	if wait >= 0 {
		t := time.NewTimer(wait)
		defer t.Stop()
		expired = t.C
	}
	var err error
	select {
	case <-ready:
		return nil
	case <-expired:
		err = ErrThrottled
	case <-ctx.Done():
		err = ctx.Err()
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
