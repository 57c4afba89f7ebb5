package lambdainvoke

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/esb-dev/esb/internal/agentapi"
)

func TestStartsNeeded(t *testing.T) {
	base := demand{PerFunction: 4, PerNode: 8, ColdStart: time.Second}
	with := func(f func(*demand)) demand {
		d := base
		f(&d)
		return d
	}
	tests := []struct {
		name string
		in   demand
		want int
	}{
		{"nothing waits", base, 0},
		{"cold function: starts up to the per-function bound", with(func(d *demand) { d.Queued = 200 }), 4},
		{"one request, nothing runs", with(func(d *demand) { d.Queued = 1 }), 1},
		{"starts in flight cover the waiting", with(func(d *demand) { d.Queued = 3; d.Starting = 3 }), 0},
		{"node bound", with(func(d *demand) { d.Queued = 200; d.NodeStarting = 6 }), 2},
		{"node bound reached", with(func(d *demand) { d.Queued = 200; d.NodeStarting = 8 }), 0},
		{"runtimes still booting count against the bounds", with(func(d *demand) { d.Queued = 200; d.Initializing = 3 }), 1},
		{"the node's booting runtimes too", with(func(d *demand) { d.Queued = 200; d.NodeStarting = 2; d.NodeInitializing = 5 }), 1},
		{"duration unknown: start", with(func(d *demand) { d.Queued = 2; d.Busy = 1 }), 2},
		{"fast function: wait for a busy container", with(func(d *demand) {
			d.Queued, d.Busy, d.Duration = 10, 5, 100*time.Millisecond // 2 rounds, 200 ms < 1 s
		}), 0},
		{"slow function: start", with(func(d *demand) {
			d.Queued, d.Busy, d.Duration = 1, 1, 3*time.Second
		}), 1},
		{"burst: start until the rest wait less than a cold start", with(func(d *demand) {
			// 200 ms each on 10 containers: 60 waiting take 6 rounds (1.2 s);
			// after 4 starts 56 take 6 rounds still: the bound stops it.
			d.Queued, d.Busy, d.Duration = 60, 10, 200*time.Millisecond
		}), 4},
		{"burst nearly absorbed", with(func(d *demand) {
			// 52 waiting on 10 containers: 6 rounds (1.2 s) > 1 s: one
			// start leaves 51, still 6 rounds; two leave 50: 5 rounds = 1 s.
			d.Queued, d.Busy, d.Duration = 52, 10, 200*time.Millisecond
		}), 2},
		{"the oldest waited a cold start: the estimate was wrong", with(func(d *demand) {
			d.Queued, d.Busy, d.Duration, d.OldestWait = 1, 1, 10*time.Millisecond, time.Second
		}), 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, startsNeeded(tt.in))
		})
	}
}

func TestAdmissionIsFairAcrossFunctions(t *testing.T) {
	a := newAdmission(1)
	require.NoError(t, a.acquire(t.Context(), "hot", -1))
	order := make(chan string, 10)
	var wg sync.WaitGroup
	enqueue := func(name string) {
		wg.Go(func() {
			if assert.NoError(t, a.acquire(t.Context(), name, -1)) {
				order <- name
			}
		})
	}
	waiting := func(n int) {
		require.Eventually(t, func() bool {
			a.mu.Lock()
			defer a.mu.Unlock()
			total := 0
			for _, q := range a.queues {
				total += q.Len()
			}
			return total == n
		}, time.Second, time.Millisecond)
	}
	for i := range 5 {
		enqueue("hot")
		waiting(i + 1)
	}
	enqueue("cold")
	waiting(6)
	// The slot goes round: the hot function's first waiter, then the cold
	// one, though five hot requests came before it.
	var got []string
	for range 6 {
		a.release()
		got = append(got, <-order)
	}
	wg.Wait()
	assert.Equal(t, []string{"hot", "cold", "hot", "hot", "hot", "hot"}, got)
}

func TestAdmissionThrottlesAfterTheWait(t *testing.T) {
	a := newAdmission(1)
	require.NoError(t, a.acquire(t.Context(), "f", -1))
	err := a.acquire(t.Context(), "f", 20*time.Millisecond)
	require.ErrorIs(t, err, ErrAccountThrottled)
	require.ErrorIs(t, err, ErrThrottled)
	a.release()
	require.NoError(t, a.acquire(t.Context(), "g", 0), "a slot freed is free again")
}

// slowStarts is a Leaser whose every Acquire is a cold start taking cold,
// on containers served by one function server.
type slowStarts struct {
	url        string
	cold       time.Duration
	inFlight   atomic.Int64
	maxInFlght atomic.Int64
	acquires   atomic.Int64
	noCapacity atomic.Int64 // the next n acquires answer NoCapacity
}

func (s *slowStarts) Acquire(ctx context.Context, _ agentapi.FunctionSpec) (agentapi.Lease, error) {
	n := s.acquires.Add(1)
	if s.noCapacity.Add(-1) >= 0 {
		return agentapi.Lease{}, &agentapi.APIError{Status: http.StatusTooManyRequests, Error_: agentapi.Error{Code: agentapi.CodeNoCapacity, Message: "full"}}
	}
	cur := s.inFlight.Add(1)
	defer s.inFlight.Add(-1)
	for {
		m := s.maxInFlght.Load()
		if cur <= m || s.maxInFlght.CompareAndSwap(m, cur) {
			break
		}
	}
	select {
	case <-time.After(s.cold):
	case <-ctx.Done():
		return agentapi.Lease{}, ctx.Err()
	}
	return agentapi.Lease{ID: fmt.Sprint(n), Endpoint: s.url, Container: fmt.Sprint("c", n), Cold: true}, nil
}

func (s *slowStarts) Release(context.Context, string, agentapi.ReleaseRequest) error { return nil }

func TestBurstStartsFewContainersAndServesEveryRequest(t *testing.T) {
	fn := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		time.Sleep(20 * time.Millisecond)
		_, _ = w.Write([]byte(`"ok"`))
	}))
	t.Cleanup(fn.Close)
	leaser := &slowStarts{url: fn.URL, cold: 150 * time.Millisecond}
	inv := New(leaser, Options{})
	ctx, cancel := context.WithCancel(t.Context())
	var run sync.WaitGroup
	run.Go(func() { _ = inv.Run(ctx) })
	t.Cleanup(func() { cancel(); run.Wait() })

	const requests = 200
	var wg sync.WaitGroup
	var failed atomic.Int64
	for range requests {
		wg.Go(func() {
			res, err := inv.Invoke(t.Context(), Request{Function: spec("F", 0), Payload: []byte(`{}`)})
			if err != nil || string(res.Payload) != `"ok"` {
				failed.Add(1)
			}
		})
	}
	wg.Wait()
	assert.Zero(t, failed.Load())
	assert.LessOrEqual(t, leaser.maxInFlght.Load(), int64(inv.opts.StartsPerFunction), "starts in parallel stay under the per-function bound")
	// 200 requests of 20 ms against 150 ms starts: waiting for warm
	// containers soon beats starting; far fewer than one per request.
	assert.Less(t, leaser.acquires.Load(), int64(requests/4), "containers started")
	t.Logf("%d requests, %d containers started, at most %d at once", requests, leaser.acquires.Load(), leaser.maxInFlght.Load())
}

func TestNoNodeMemoryWaitsThenThrottles(t *testing.T) {
	fn := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte(`"ok"`))
	}))
	t.Cleanup(fn.Close)

	t.Run("room comes within the queue wait", func(t *testing.T) {
		leaser := &slowStarts{url: fn.URL}
		leaser.noCapacity.Store(2)
		inv := New(leaser, Options{MaxQueueWait: 5 * time.Second})
		res, err := inv.Invoke(t.Context(), Request{Function: spec("F", 0), Payload: []byte(`{}`)})
		require.NoError(t, err)
		assert.Equal(t, `"ok"`, string(res.Payload))
		assert.Equal(t, int64(3), leaser.acquires.Load(), "tried again until the node had room")
	})
	t.Run("no room within the queue wait", func(t *testing.T) {
		leaser := &slowStarts{url: fn.URL}
		leaser.noCapacity.Store(1 << 30)
		inv := New(leaser, Options{MaxQueueWait: 300 * time.Millisecond})
		start := time.Now()
		_, err := inv.Invoke(t.Context(), Request{Function: spec("F", 0), Payload: []byte(`{}`)})
		require.ErrorIs(t, err, ErrAccountThrottled)
		assert.Less(t, time.Since(start), 2*time.Second)
	})
}

// boundedNode is a Leaser with room for capacity leased containers in all:
// a container given back is evicted at once, as an idle one is when
// another function needs its memory.
type boundedNode struct {
	url      string
	capacity int
	mu       sync.Mutex
	leased   int
	n        int
}

func (b *boundedNode) Acquire(_ context.Context, s agentapi.FunctionSpec) (agentapi.Lease, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.leased >= b.capacity {
		return agentapi.Lease{}, &agentapi.APIError{Status: http.StatusTooManyRequests, Error_: agentapi.Error{Code: agentapi.CodeNoCapacity, Message: "full"}}
	}
	b.leased++
	b.n++
	return agentapi.Lease{ID: fmt.Sprint(b.n), Endpoint: b.url, Container: fmt.Sprint(s.Name, b.n), Cold: true}, nil
}

func (b *boundedNode) Release(context.Context, string, agentapi.ReleaseRequest) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.leased--
	return nil
}

func TestAHotFunctionGivesBackMemoryToAWaitingOne(t *testing.T) {
	fn := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		time.Sleep(20 * time.Millisecond)
		_, _ = w.Write([]byte(`"ok"`))
	}))
	t.Cleanup(fn.Close)
	node := &boundedNode{url: fn.URL, capacity: 2}
	inv := New(node, Options{MaxQueueWait: 3 * time.Second})
	ctx, cancel := context.WithCancel(t.Context())
	var run sync.WaitGroup
	run.Go(func() { _ = inv.Run(ctx) })
	t.Cleanup(func() { cancel(); run.Wait() })

	// The hot function keeps 10 requests waiting for its 2 containers.
	hot, stopHot := context.WithCancel(t.Context())
	var load sync.WaitGroup
	for range 10 {
		load.Go(func() {
			for hot.Err() == nil {
				_, _ = inv.Invoke(hot, Request{Function: spec("Hot", 0), Payload: []byte(`{}`)})
			}
		})
	}
	time.Sleep(300 * time.Millisecond)
	start := time.Now()
	res, err := inv.Invoke(t.Context(), Request{Function: spec("Cold", 0), Payload: []byte(`{}`)})
	took := time.Since(start)
	stopHot()
	load.Wait()
	require.NoError(t, err, "the waiting function got room within the queue wait")
	assert.Equal(t, `"ok"`, string(res.Payload))
	assert.Less(t, took, time.Second)
	t.Logf("the cold function's request waited %s for room", took)
}

func TestDefaultStartBounds(t *testing.T) {
	for _, tt := range []struct{ cpus, perFunction, perNode int }{
		{cpus: 0, perFunction: 1, perNode: 2},
		{cpus: 1, perFunction: 1, perNode: 2},
		{cpus: 2, perFunction: 3, perNode: 4},
		{cpus: 4, perFunction: 6, perNode: 8},
		{cpus: 16, perFunction: 24, perNode: 32},
	} {
		f, n := DefaultStartBounds(tt.cpus)
		assert.Equal(t, [2]int{tt.perFunction, tt.perNode}, [2]int{f, n}, "%d CPUs", tt.cpus)
		assert.Less(t, f, n+1, "a function's bound never passes the node's")
	}
}
