package integration

import (
	"context"
	"errors"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCallWithinTimeout(t *testing.T) {
	var c Calls
	got, err := Call(&c, t.Context(), time.Second, func(context.Context) (string, error) {
		time.Sleep(10 * time.Millisecond)
		return "ok", nil
	}, func(string, error, time.Duration) { t.Error("a call within its timeout is not late") })
	require.NoError(t, err)
	assert.Equal(t, "ok", got)
	assert.Equal(t, 0, c.Late())
	require.NoError(t, c.Wait(t.Context()))
}

func TestCallErrorWithinTimeout(t *testing.T) {
	var c Calls
	boom := errors.New("boom")
	_, err := Call(&c, t.Context(), time.Second, func(context.Context) (int, error) { return 0, boom }, nil)
	assert.ErrorIs(t, err, boom)
	assert.NotErrorIs(t, err, ErrTimeout)
}

// A call past its timeout: the caller gets ErrTimeout at the timeout, not
// when the call ends; the call runs on to its end under the same context
// and its late result goes to late, not to the caller.
func TestCallPastTimeout(t *testing.T) {
	var c Calls
	release := make(chan struct{})
	lateGot := make(chan string, 1)
	type ctxKey struct{}
	ctx := context.WithValue(t.Context(), ctxKey{}, "request")
	var sawCtx atomic.Value
	start := time.Now()
	got, err := Call(&c, ctx, 50*time.Millisecond, func(ctx context.Context) (string, error) {
		sawCtx.Store(ctx.Value(ctxKey{}))
		<-release
		return "late result", nil
	}, func(v string, err error, took time.Duration) {
		assert.NoError(t, err)
		assert.GreaterOrEqual(t, took, 50*time.Millisecond)
		lateGot <- v
	})
	waited := time.Since(start)
	require.ErrorIs(t, err, ErrTimeout)
	assert.Empty(t, got)
	assert.Less(t, waited, 2*time.Second, "the caller waited for the call, not the timeout")
	assert.Equal(t, 1, c.Late())

	// The call is still running: a drain waits for it.
	short, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
	defer cancel()
	assert.ErrorIs(t, c.Wait(short), context.DeadlineExceeded)

	close(release)
	select {
	case v := <-lateGot:
		assert.Equal(t, "late result", v)
	case <-time.After(5 * time.Second):
		t.Fatal("the late result never reached late")
	}
	require.NoError(t, c.Wait(t.Context()))
	assert.Equal(t, 0, c.Late())
	assert.Equal(t, "request", sawCtx.Load(), "the call runs under the caller's context")
}

// No goroutine outlives its call, whether it ended in time or late.
func TestCallLeavesNoGoroutine(t *testing.T) {
	var c Calls
	before := runtime.NumGoroutine()
	for i := range 200 {
		timeout := time.Second
		if i%2 == 0 {
			timeout = time.Millisecond // these outlive their timeout
		}
		_, _ = Call(&c, t.Context(), timeout, func(context.Context) (int, error) {
			time.Sleep(5 * time.Millisecond)
			return i, nil
		}, nil)
	}
	require.NoError(t, c.Wait(t.Context()))
	// Polled by hand: assert.Eventually runs its condition on a goroutine
	// of its own.
	deadline := time.Now().Add(2 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	assert.LessOrEqual(t, runtime.NumGoroutine(), before, "goroutines left behind")
}

// Without a timeout the call runs on the caller's goroutine, unbounded.
func TestCallUnbounded(t *testing.T) {
	var c Calls
	got, err := Call(&c, t.Context(), 0, func(context.Context) (int, error) {
		time.Sleep(20 * time.Millisecond)
		return 7, nil
	}, nil)
	require.NoError(t, err)
	assert.Equal(t, 7, got)
}

// BenchmarkCall is what the bound adds to a call that ends in time (a
// warm invocation): a goroutine, a timer and a channel, against calling
// directly.
func BenchmarkCall(b *testing.B) {
	var c Calls
	call := func(context.Context) (int, error) { return 1, nil }
	b.Run("direct", func(b *testing.B) {
		for b.Loop() {
			_, _ = call(b.Context())
		}
	})
	b.Run("bounded", func(b *testing.B) {
		for b.Loop() {
			_, _ = Call(&c, b.Context(), 29*time.Second, call, nil)
		}
	})
}
