package lambdainvoke

import (
	"container/list"
	"context"
	"sync"
	"time"
)

// DefaultAccountConcurrency is Lambda's default account concurrency limit.
const DefaultAccountConcurrency = 1000

// minUnreserved is what reservations always leave to the other functions,
// as Lambda keeps 100 of an account's concurrency unreserved.
const minUnreserved = 100

// admission bounds the invocations in flight of the functions without
// reserved concurrency, as the account limit minus the reservations does
// on Lambda. Past it, requests wait in a fair queue: one queue per
// function, served in turn (round robin), so a hot function with hundreds
// of waiting requests does not starve one with a single request.
type admission struct {
	mu     sync.Mutex
	limit  int
	active int
	queues map[string]*list.List // of chan struct{}, closed when admitted
	ring   []string              // functions with waiting requests, in turn order
	next   int                   // index in ring of the next to admit
}

func newAdmission(limit int) *admission {
	return &admission{limit: limit, queues: map[string]*list.List{}}
}

// setLimit changes the bound (a new config's reservations); a raised one
// admits waiting requests at once.
func (a *admission) setLimit(limit int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.limit = limit
	a.grantLocked()
}

// acquire admits one invocation of function name, waiting up to wait
// (negative: as long as ctx lasts). It fails with ErrAccountThrottled when
// wait runs out, or ctx's error.
func (a *admission) acquire(ctx context.Context, name string, wait time.Duration) error {
	a.mu.Lock()
	if len(a.ring) == 0 && a.active < a.limit {
		a.active++
		a.mu.Unlock()
		return nil
	}
	ready := make(chan struct{})
	q := a.queues[name]
	if q == nil {
		q = list.New()
		a.queues[name] = q
		a.ring = append(a.ring, name)
	}
	el := q.PushBack(ready)
	a.grantLocked()
	a.mu.Unlock()

	err := awaitReady(ctx, ready, wait, ErrAccountThrottled)
	if err == nil {
		return nil
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	select {
	case <-ready:
		// Admitted while giving up: hand the slot on.
		a.active--
		a.grantLocked()
	default:
		q.Remove(el)
		if q.Len() == 0 {
			a.dropLocked(name)
		}
	}
	return err
}

// release ends an invocation admitted by acquire.
func (a *admission) release() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.active--
	a.grantLocked()
}

// grantLocked admits waiting requests while there is room, one function
// at a time in turn.
func (a *admission) grantLocked() {
	for a.active < a.limit && len(a.ring) > 0 {
		if a.next >= len(a.ring) {
			a.next = 0
		}
		name := a.ring[a.next]
		q := a.queues[name]
		close(q.Remove(q.Front()).(chan struct{}))
		a.active++
		if q.Len() == 0 {
			a.dropLocked(name) // the next function slides into a.next
		} else {
			a.next++
		}
	}
}

// dropLocked removes name, whose queue is empty, from the turn order.
func (a *admission) dropLocked(name string) {
	delete(a.queues, name)
	for i, n := range a.ring {
		if n == name {
			a.ring = append(a.ring[:i], a.ring[i+1:]...)
			if i < a.next {
				a.next--
			}
			break
		}
	}
}
