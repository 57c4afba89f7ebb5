// Package integration bounds a route's call to its function by API
// Gateway's integration timeout: past it the client gets API Gateway's
// answer at once, while the function runs on to its own end, as on AWS
// (Lambda does not stop a function whose caller gave up). The call that
// outlives its request keeps its container until it ends; its result is
// dropped here and never reaches the answered request.
package integration

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// ErrTimeout reports that the call outlived the integration timeout.
var ErrTimeout = errors.New("integration timed out")

// Calls runs bounded calls and tracks those still running past their
// timeout, so that a drain can wait for them. The zero value is ready to
// use.
type Calls struct {
	running sync.WaitGroup
	late    atomic.Int64
}

// The states of one call: who took its outcome.
const (
	pending   int32 = iota
	delivered       // the caller got the result
	abandoned       // the caller answered the timeout; the result is late
)

// Call runs call and returns its result if it ends within timeout, else
// ErrTimeout at the timeout (timeout <= 0: no bound, call runs on the
// caller's goroutine). ctx is passed to call as it is: a call that
// outlives its timeout still runs under it, so it ends the way a call
// whose client went away ends. late, when not nil, receives the result
// of a call that ended after its caller got ErrTimeout, on the call's
// goroutine; it must not touch the answered request.
func Call[T any](c *Calls, ctx context.Context, timeout time.Duration, call func(context.Context) (T, error), late func(T, error, time.Duration)) (T, error) {
	if timeout <= 0 {
		return call(ctx)
	}
	type outcome struct {
		v   T
		err error
	}
	var state atomic.Int32
	// Buffered: the call's goroutine never waits for a caller that left.
	done := make(chan outcome, 1)
	start := time.Now()
	c.running.Add(1)
	go func() { // ends with call; c.running counts it
		defer c.running.Done()
		v, err := call(ctx)
		done <- outcome{v, err}
		if !state.CompareAndSwap(pending, delivered) {
			c.late.Add(-1)
			if late != nil {
				late(v, err, time.Since(start))
			}
		}
	}()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case o := <-done:
		return o.v, o.err
	case <-timer.C:
	}
	// Counted before the swap, so the call's goroutine, which uncounts it
	// once the swap is done, never takes the count below zero.
	c.late.Add(1)
	if !state.CompareAndSwap(pending, abandoned) {
		// The call ended as the timer fired: its result is in done.
		c.late.Add(-1)
		o := <-done
		return o.v, o.err
	}
	var zero T
	return zero, fmt.Errorf("%w after %s", ErrTimeout, timeout)
}

// Late is how many calls are running past their timeout now.
func (c *Calls) Late() int { return int(c.late.Load()) }

// Wait blocks until every call has ended, or ctx ends.
func (c *Calls) Wait(ctx context.Context) error {
	done := make(chan struct{})
	go func() { // ends when the calls do; nothing else waits on it
		c.running.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("wait for calls past their integration timeout (%d running): %w", c.Late(), ctx.Err())
	}
}
