package netnspool

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fake counts what is prepared and discarded.
type fake struct {
	mu        sync.Mutex
	next      int
	live      map[int]bool
	discarded []int
	fail      atomic.Int32 // Prepare calls still to fail
}

func (f *fake) prepare(context.Context) (int, error) {
	if f.fail.Add(-1) >= 0 {
		return 0, errors.New("engine busy")
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.next++
	f.live[f.next] = true
	return f.next, nil
}

func (f *fake) discard(_ context.Context, v int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.live, v)
	f.discarded = append(f.discarded, v)
}

func (f *fake) made() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.next
}

func start(t *testing.T, f *fake, size int, idle time.Duration) (*Pool[int], func()) {
	t.Helper()
	p := New(Options[int]{Size: size, Idle: idle, Prepare: f.prepare, Discard: f.discard})
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { defer close(done); p.Run(ctx) }()
	return p, func() { cancel(); <-done }
}

func TestThePoolFillsRefillsAfterAQuietSpellAndEmptiesWhenItStops(t *testing.T) {
	f := &fake{live: map[int]bool{}}
	p, stop := start(t, f, 4, 300*time.Millisecond)
	require.Eventually(t, func() bool { return p.Ready() == 4 }, 2*time.Second, time.Millisecond)

	var got []int
	for range 3 {
		v, ok := p.Take()
		require.True(t, ok)
		got = append(got, v)
	}
	assert.Equal(t, []int{1, 2, 3}, got, "the oldest first, each once")
	// A burst's takes must not compete with a refill: nothing new yet.
	time.Sleep(100 * time.Millisecond)
	assert.Equal(t, 4, f.made(), "no refill during the takes")
	assert.Equal(t, 1, p.Ready())
	require.Eventually(t, func() bool { return p.Ready() == 4 }, 2*time.Second, time.Millisecond, "refilled after the quiet spell")
	assert.Equal(t, 7, f.made())

	stop()
	assert.Zero(t, p.Ready())
	assert.ElementsMatch(t, []int{4, 5, 6, 7}, f.discarded, "what was not taken is discarded, nothing else")
	_, ok := p.Take()
	assert.False(t, ok, "an empty pool says so: the caller makes its own")
}

func TestAFailedPrepareIsRetried(t *testing.T) {
	f := &fake{live: map[int]bool{}}
	f.fail.Store(2)
	p, stop := start(t, f, 1, time.Second)
	defer stop()
	require.Eventually(t, func() bool { return p.Ready() == 1 }, 5*time.Second, 10*time.Millisecond)
}

func TestStopDiscardsManyAtOnce(t *testing.T) {
	var inFlight, most atomic.Int32
	release := make(chan struct{})
	p := New(Options[int]{Size: 16, Prepare: func(context.Context) (int, error) { return 1, nil },
		Discard: func(context.Context, int) {
			n := inFlight.Add(1)
			for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
			}
			<-release
			inFlight.Add(-1)
		}})
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { defer close(done); p.Run(ctx) }()
	require.Eventually(t, func() bool { return p.Ready() == 16 }, 2*time.Second, time.Millisecond)
	cancel()
	require.Eventually(t, func() bool { return inFlight.Load() == 8 }, 2*time.Second, time.Millisecond, "eight discards run side by side")
	close(release)
	<-done
	assert.Equal(t, int32(8), most.Load(), "and no more")
}
