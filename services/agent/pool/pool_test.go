package pool

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/esb-dev/esb/internal/agentapi"
	"github.com/esb-dev/esb/internal/runtimeconfig"
	"github.com/esb-dev/esb/services/agent/engine"
	"github.com/esb-dev/esb/services/agent/engine/enginetest"
	"github.com/esb-dev/esb/services/agent/launcher"
)

// clock is a settable time source shared by pool and launcher.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

type harness struct {
	fake  *enginetest.Fake
	clock *clock
	pool  *Pool
	lnch  *launcher.Launcher
}

func newHarness(t *testing.T, fake *enginetest.Fake) *harness {
	t.Helper()
	return newHarnessTimeout(t, fake, 5*time.Second)
}

func newHarnessTimeout(t *testing.T, fake *enginetest.Fake, startTimeout time.Duration) *harness {
	t.Helper()
	clk := &clock{now: time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)}
	l := launcher.New(fake, launcher.Config{
		Brand:        "esb",
		Env:          "test",
		PullPolicy:   launcher.PullIfNotPresent,
		StartTimeout: startTimeout,
	}, launcher.Options{Dial: fake.Dial, Now: clk.Now})
	p := New(t.Context(), l, Options{Now: clk.Now})
	t.Cleanup(p.Close)
	return &harness{fake: fake, clock: clk, pool: p, lnch: l}
}

// withBudget replaces h's pool by one bounded by opts' budgets.
func (h *harness) withBudget(t *testing.T, memoryMB, account int) *harness {
	t.Helper()
	p := New(t.Context(), h.lnch, Options{Now: h.clock.Now, MemoryBudget: memoryMB, AccountConcurrency: account})
	t.Cleanup(p.Close)
	h.pool = p
	return h
}

func digestOf(s string) string {
	h := sha256.Sum256([]byte(s))
	return "sha256:" + hex.EncodeToString(h[:])
}

func spec(name, version string) agentapi.FunctionSpec {
	return agentapi.FunctionSpec{Name: name, Function: runtimeconfig.Function{
		Image:      "127.0.0.1:5010/esb-test/" + strings.ToLower(name) + ":latest",
		Digest:     digestOf(name + version),
		Handler:    "app.handler",
		Timeout:    3,
		MemorySize: 128,
	}}
}

func withScaling(s agentapi.FunctionSpec, minWarm, idleTimeout int) agentapi.FunctionSpec {
	s.Function.Scaling = runtimeconfig.Scaling{MinWarm: minWarm, IdleTimeout: idleTimeout}
	return s
}

func desired(gen uint64, specs ...agentapi.FunctionSpec) agentapi.Desired {
	return agentapi.Desired{Generation: gen, Functions: specs}
}

// removedEventually waits until the runtime no longer has container name.
func (h *harness) removedEventually(t *testing.T, name string) {
	t.Helper()
	require.Eventually(t, func() bool { return h.idOf(name) == "" }, 5*time.Second, time.Millisecond, "container %s still there", name)
}

// idOf returns the ID of the container named name, or "".
func (h *harness) idOf(name string) string {
	list, _ := h.fake.List(context.Background(), nil) // the fake never fails
	for _, c := range list {
		if c.Name == name {
			return c.ID
		}
	}
	return ""
}

func TestAcquireRelease(t *testing.T) {
	tests := []struct {
		name string
		run  func(t *testing.T, h *harness)
	}{
		{
			name: "cold then warm, LIFO",
			run: func(t *testing.T, h *harness) {
				a, err := h.pool.Acquire(t.Context(), spec("Hello", "1"))
				require.NoError(t, err)
				b, err := h.pool.Acquire(t.Context(), spec("Hello", "1"))
				require.NoError(t, err)
				assert.True(t, a.Cold)
				assert.True(t, b.Cold)
				assert.NotEqual(t, a.Container, b.Container)
				require.NoError(t, h.pool.Release(a.ID, false))
				require.NoError(t, h.pool.Release(b.ID, false))

				c, err := h.pool.Acquire(t.Context(), spec("Hello", "1"))
				require.NoError(t, err)
				assert.False(t, c.Cold)
				assert.Equal(t, b.Container, c.Container, "most recently released first")
				assert.Equal(t, b.Endpoint, c.Endpoint)
				assert.NotEqual(t, b.ID, c.ID, "a new lease per acquire")
				assert.Len(t, h.fake.Creates(), 2)
			},
		},
		{
			name: "another digest or config never reuses",
			run: func(t *testing.T, h *harness) {
				a, err := h.pool.Acquire(t.Context(), spec("Hello", "1"))
				require.NoError(t, err)
				require.NoError(t, h.pool.Release(a.ID, false))

				b, err := h.pool.Acquire(t.Context(), spec("Hello", "2"))
				require.NoError(t, err)
				assert.True(t, b.Cold)
				assert.NotEqual(t, a.Container, b.Container)

				s := spec("Hello", "1")
				s.Function.Environment = map[string]string{"TABLE": "other"}
				c, err := h.pool.Acquire(t.Context(), s)
				require.NoError(t, err)
				assert.True(t, c.Cold)
				assert.NotEqual(t, a.Container, c.Container)
			},
		},
		{
			name: "discard removes",
			run: func(t *testing.T, h *harness) {
				a, err := h.pool.Acquire(t.Context(), spec("Hello", "1"))
				require.NoError(t, err)
				require.NoError(t, h.pool.Release(a.ID, true))
				h.removedEventually(t, a.Container)
				b, err := h.pool.Acquire(t.Context(), spec("Hello", "1"))
				require.NoError(t, err)
				assert.True(t, b.Cold)
			},
		},
		{
			name: "unknown and double release",
			run: func(t *testing.T, h *harness) {
				err := h.pool.Release("nope", false)
				require.ErrorIs(t, err, ErrUnknownLease)
				a, err := h.pool.Acquire(t.Context(), spec("Hello", "1"))
				require.NoError(t, err)
				require.NoError(t, h.pool.Release(a.ID, false))
				require.ErrorIs(t, h.pool.Release(a.ID, false), ErrUnknownLease)
			},
		},
		{
			name: "pull failure",
			run: func(t *testing.T, h *harness) {
				h.fake.PullErr = func(string) error { return errors.New("registry down") }
				_, err := h.pool.Acquire(t.Context(), spec("Hello", "1"))
				require.ErrorIs(t, err, launcher.ErrImagePull)
				assert.ErrorContains(t, err, "registry down")
				assert.Empty(t, h.fake.Creates())
			},
		},
		{
			name: "health counts idle and busy",
			run: func(t *testing.T, h *harness) {
				a, err := h.pool.Acquire(t.Context(), spec("Hello", "1"))
				require.NoError(t, err)
				_, err = h.pool.Acquire(t.Context(), spec("Hello", "1"))
				require.NoError(t, err)
				require.NoError(t, h.pool.Release(a.ID, false))
				h.pool.SetDesired(desired(7, spec("Hello", "1")))
				assert.Equal(t, agentapi.Health{Status: "ok", Generation: 7, Containers: 2, Busy: 1, MemoryMB: 256, IdleByFunction: map[string]int{"Hello": 1}}, h.pool.Health())
			},
		},
		{
			name: "health counts a start in flight apart",
			run: func(t *testing.T, h *harness) {
				gate := make(chan struct{})
				h.fake.CreateErr = func(engine.Spec) error { <-gate; return nil }
				done := make(chan error, 1)
				go func() {
					_, err := h.pool.Acquire(t.Context(), spec("Hello", "1"))
					done <- err
				}()
				require.Eventually(t, func() bool { return h.pool.Health().Starting == 1 }, 5*time.Second, 10*time.Millisecond)
				assert.Zero(t, h.pool.Health().Containers, "a starting container is not serving yet")
				close(gate)
				require.NoError(t, <-done)
				assert.Zero(t, h.pool.Health().Starting)
				assert.Equal(t, 1, h.pool.Health().Busy)
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.run(t, newHarness(t, enginetest.New()))
		})
	}
}

func TestSetDesired(t *testing.T) {
	tests := []struct {
		name string
		run  func(t *testing.T, h *harness)
	}{
		{
			name: "digest change retires idle at once and busy on release",
			run: func(t *testing.T, h *harness) {
				idle, err := h.pool.Acquire(t.Context(), spec("Hello", "1"))
				require.NoError(t, err)
				busy, err := h.pool.Acquire(t.Context(), spec("Hello", "1"))
				require.NoError(t, err)
				require.NoError(t, h.pool.Release(idle.ID, false))

				h.pool.SetDesired(desired(2, spec("Hello", "2")))
				h.removedEventually(t, idle.Container)
				assert.NotEmpty(t, h.idOf(busy.Container), "busy container keeps running its invocation")

				// A racing acquire with the old spec never gets a retired container.
				old, err := h.pool.Acquire(t.Context(), spec("Hello", "1"))
				require.NoError(t, err)
				assert.True(t, old.Cold)
				assert.NotEqual(t, busy.Container, old.Container)

				require.NoError(t, h.pool.Release(busy.ID, false))
				h.removedEventually(t, busy.Container)
				require.NoError(t, h.pool.Release(old.ID, false))
				h.removedEventually(t, old.Container)

				fresh, err := h.pool.Acquire(t.Context(), spec("Hello", "2"))
				require.NoError(t, err)
				assert.True(t, fresh.Cold)
			},
		},
		{
			name: "function missing from desired keeps its containers",
			run: func(t *testing.T, h *harness) {
				a, err := h.pool.Acquire(t.Context(), spec("Other", "1"))
				require.NoError(t, err)
				require.NoError(t, h.pool.Release(a.ID, false))
				h.pool.SetDesired(desired(2, spec("Hello", "1")))
				b, err := h.pool.Acquire(t.Context(), spec("Other", "1"))
				require.NoError(t, err)
				assert.Equal(t, a.Container, b.Container)
			},
		},
		{
			name: "min_warm starts containers",
			run: func(t *testing.T, h *harness) {
				h.pool.SetDesired(desired(1, withScaling(spec("Hello", "1"), 2, 60)))
				require.Eventually(t, func() bool { return h.pool.Health().Containers == 2 }, 5*time.Second, 5*time.Millisecond)
				a, err := h.pool.Acquire(t.Context(), withScaling(spec("Hello", "1"), 2, 60))
				require.NoError(t, err)
				assert.False(t, a.Cold)
				// A repeated desired state starts nothing more.
				h.pool.SetDesired(desired(2, withScaling(spec("Hello", "1"), 2, 60)))
				assert.Len(t, h.fake.Creates(), 2)
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.run(t, newHarness(t, enginetest.New()))
		})
	}
}

func TestReconcile(t *testing.T) {
	tests := []struct {
		name string
		run  func(t *testing.T, h *harness)
	}{
		{
			name: "reap idle past idle_timeout, keep min_warm",
			run: func(t *testing.T, h *harness) {
				s := withScaling(spec("Hello", "1"), 1, 60)
				h.pool.SetDesired(desired(1, s))
				a, err := h.pool.Acquire(t.Context(), s)
				require.NoError(t, err)
				b, err := h.pool.Acquire(t.Context(), s)
				require.NoError(t, err)
				require.NoError(t, h.pool.Release(a.ID, false))
				h.clock.Advance(30 * time.Second)
				require.NoError(t, h.pool.Release(b.ID, false))

				h.clock.Advance(45 * time.Second) // a idle 75 s, b 45 s
				require.NoError(t, h.pool.Reconcile(t.Context()))
				h.removedEventually(t, a.Container)
				assert.NotEmpty(t, h.idOf(b.Container))

				h.clock.Advance(time.Hour)
				require.NoError(t, h.pool.Reconcile(t.Context()))
				assert.NotEmpty(t, h.idOf(b.Container), "min_warm keeps the last one")
			},
		},
		{
			name: "default idle timeout for functions without desired state",
			run: func(t *testing.T, h *harness) {
				a, err := h.pool.Acquire(t.Context(), spec("Hello", "1"))
				require.NoError(t, err)
				require.NoError(t, h.pool.Release(a.ID, false))
				h.clock.Advance(299 * time.Second)
				require.NoError(t, h.pool.Reconcile(t.Context()))
				assert.NotEmpty(t, h.idOf(a.Container))
				h.clock.Advance(2 * time.Second)
				require.NoError(t, h.pool.Reconcile(t.Context()))
				h.removedEventually(t, a.Container)
			},
		},
		{
			name: "abandoned lease is reclaimed after timeout plus grace",
			run: func(t *testing.T, h *harness) {
				a, err := h.pool.Acquire(t.Context(), spec("Hello", "1")) // timeout 3 s
				require.NoError(t, err)
				h.clock.Advance(2 * time.Minute)
				require.NoError(t, h.pool.Reconcile(t.Context()))
				assert.NotEmpty(t, h.idOf(a.Container), "within timeout + grace")
				h.clock.Advance(4 * time.Second)
				require.NoError(t, h.pool.Reconcile(t.Context()))
				h.removedEventually(t, a.Container)
				require.ErrorIs(t, h.pool.Release(a.ID, false), ErrUnknownLease)
				assert.Zero(t, h.pool.Health().Busy)
			},
		},
		{
			name: "exited idle container is removed and never leased",
			run: func(t *testing.T, h *harness) {
				a, err := h.pool.Acquire(t.Context(), spec("Hello", "1"))
				require.NoError(t, err)
				require.NoError(t, h.pool.Release(a.ID, false))
				h.fake.Exit(h.idOf(a.Container))
				require.NoError(t, h.pool.Reconcile(t.Context()))
				h.removedEventually(t, a.Container)
				b, err := h.pool.Acquire(t.Context(), spec("Hello", "1"))
				require.NoError(t, err)
				assert.True(t, b.Cold)
			},
		},
		{
			name: "leftover exited container is removed",
			run: func(t *testing.T, h *harness) {
				id := h.fake.Put(engine.Spec{Name: "leftover", Labels: labels("Hello")}, engine.StateExited)
				require.NoError(t, h.pool.Reconcile(t.Context()))
				require.Eventually(t, func() bool { return slices.Contains(h.fake.Removed(), id) }, 5*time.Second, 5*time.Millisecond)
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.run(t, newHarness(t, enginetest.New()))
		})
	}
}

func labels(fn string) map[string]string {
	return map[string]string{
		agentapi.LabelManaged:  "true",
		agentapi.LabelBrand:    "esb",
		agentapi.LabelEnv:      "test",
		agentapi.LabelFunction: fn,
	}
}

func TestAdopt(t *testing.T) {
	fake := enginetest.New()
	h := newHarness(t, fake)
	// A container a previous agent started from the same spec.
	first := newHarness(t, fake)
	a, err := first.pool.Acquire(t.Context(), spec("Hello", "1"))
	require.NoError(t, err)
	exited := fake.Put(engine.Spec{Name: "exited", Labels: labels("Hello")}, engine.StateExited)
	created := fake.Put(engine.Spec{Name: "created", Labels: labels("Hello")}, engine.StateCreated)
	stuck := fake.Put(engine.Spec{Name: "stuck", Labels: labels("Stuck")}, engine.StateRunning)
	fake.NotReady = func(s engine.Spec) bool { return s.Name == "stuck" }
	foreign := fake.Put(engine.Spec{Name: "foreign", Labels: map[string]string{agentapi.LabelManaged: "true", agentapi.LabelBrand: "esb", agentapi.LabelEnv: "other"}}, engine.StateExited)

	shortStart := launcher.New(fake, launcher.Config{Brand: "esb", Env: "test", PullPolicy: launcher.PullIfNotPresent, StartTimeout: 50 * time.Millisecond}, launcher.Options{Dial: fake.Dial})
	h.pool = New(t.Context(), shortStart, Options{Now: h.clock.Now})
	t.Cleanup(h.pool.Close)
	require.NoError(t, h.pool.Adopt(t.Context()))

	assert.ElementsMatch(t, []string{exited, created, stuck}, fake.Removed())
	assert.NotContains(t, fake.Removed(), foreign)
	assert.Equal(t, 1, h.pool.Health().Containers)

	// The gateway may still hold the adopted container under the previous
	// agent's lease: until that lease could have ended (MaxLeaseHold plus
	// the function's 3 s timeout and a slack), a request gets a container
	// of its own.
	h.clock.Advance(agentapi.MaxLeaseHold + 3*time.Second + adoptSlack - time.Second)
	c, err := h.pool.Acquire(t.Context(), spec("Hello", "1"))
	require.NoError(t, err)
	assert.True(t, c.Cold)
	assert.NotEqual(t, a.Container, c.Container, "adopted container leased while the gateway may still use it")
	require.NoError(t, h.pool.Release(c.ID, false))

	h.clock.Advance(time.Second)
	b, err := h.pool.Acquire(t.Context(), spec("Hello", "1"))
	require.NoError(t, err)
	assert.False(t, b.Cold)
	assert.Equal(t, c.Container, b.Container, "the most recently released container first")
	d, err := h.pool.Acquire(t.Context(), spec("Hello", "1"))
	require.NoError(t, err)
	assert.False(t, d.Cold)
	assert.Equal(t, a.Container, d.Container, "the adopted container once its quarantine is over")
	assert.Equal(t, a.Endpoint, d.Endpoint)
	// The previous agent's lease means nothing here.
	require.ErrorIs(t, h.pool.Release(a.ID, false), ErrUnknownLease)
}

// TestStaleMinWarmStartCancelled checks that a min_warm start of a digest
// a newer desired state replaced is cancelled, not finished and retired.
func TestStaleMinWarmStartCancelled(t *testing.T) {
	fake := enginetest.New()
	fake.NotReady = func(engine.Spec) bool { return true }
	h := newHarnessTimeout(t, fake, time.Hour)
	h.pool.SetDesired(desired(1, withScaling(spec("Hello", "1"), 1, 60), withScaling(spec("Other", "1"), 1, 60)))
	require.Eventually(t, func() bool { return len(fake.Creates()) == 2 }, 5*time.Second, time.Millisecond)

	h.pool.SetDesired(desired(2, spec("Hello", "2"), withScaling(spec("Other", "1"), 1, 60)))
	var hello, other string
	for _, c := range fake.Creates() {
		if strings.Contains(c.Name, "-Hello-") {
			hello = c.Name
		} else {
			other = c.Name
		}
	}
	h.removedEventually(t, hello)
	assert.NotEmpty(t, h.idOf(other), "a start still desired goes on")
}

func TestAcquireCancelledDuringStart(t *testing.T) {
	fake := enginetest.New()
	gate := make(chan struct{})
	fake.NotReady = func(engine.Spec) bool {
		select {
		case <-gate:
			return false
		default:
			return true
		}
	}
	h := newHarness(t, fake)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		_, err := h.pool.Acquire(ctx, spec("Hello", "1"))
		done <- err
	}()
	require.Eventually(t, func() bool { return len(fake.Creates()) == 1 }, 5*time.Second, time.Millisecond)
	cancel()
	require.ErrorIs(t, <-done, context.Canceled)
	close(gate)

	require.Eventually(t, func() bool { return h.pool.Health().Containers == 1 }, 5*time.Second, time.Millisecond)
	l, err := h.pool.Acquire(t.Context(), spec("Hello", "1"))
	require.NoError(t, err)
	assert.False(t, l.Cold, "the abandoned start serves the retry")
	assert.Len(t, fake.Creates(), 1)
}

// TestConcurrentLeases hammers one function from many goroutines while
// desired updates and reconciles run, and checks that no container is ever
// leased twice at once.
func TestConcurrentLeases(t *testing.T) {
	h := newHarness(t, enginetest.New())
	var inUse sync.Map // container -> *atomic.Int32
	var violations atomic.Int32
	var wg sync.WaitGroup
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()

	specs := []agentapi.FunctionSpec{spec("Hello", "1"), spec("Hello", "2"), spec("Other", "1")}
	for g := range 24 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 40 {
				s := specs[(g+i)%len(specs)]
				l, err := h.pool.Acquire(ctx, s)
				if err != nil {
					t.Errorf("acquire: %s", err)
					return
				}
				c, _ := inUse.LoadOrStore(l.Container, new(atomic.Int32))
				if c.(*atomic.Int32).Add(1) != 1 {
					violations.Add(1)
				}
				runtime.Gosched() // widen the window in which a second lease would show
				c.(*atomic.Int32).Add(-1)
				if err := h.pool.Release(l.ID, i%7 == 0); err != nil {
					t.Errorf("release: %s", err)
					return
				}
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := range 50 {
			h.pool.SetDesired(desired(uint64(i), withScaling(specs[i%2], i%3, 60), specs[2]))
			if err := h.pool.Reconcile(ctx); err != nil {
				t.Errorf("reconcile: %s", err)
			}
		}
	}()
	wg.Wait()
	assert.Zero(t, violations.Load(), "a container was leased twice at once")
	assert.Zero(t, h.pool.Health().Busy)
}

func TestDrainRemovesEveryContainerOfTheEnv(t *testing.T) {
	fake := enginetest.New()
	h := newHarness(t, fake)
	idle, err := h.pool.Acquire(t.Context(), spec("Hello", "1"))
	require.NoError(t, err)
	require.NoError(t, h.pool.Release(idle.ID, false))
	_, err = h.pool.Acquire(t.Context(), spec("Busy", "1"))
	require.NoError(t, err)
	// One the pool never saw, e.g. left by a crashed agent.
	stray := fake.Put(engine.Spec{Name: "stray", Labels: labels("Old")}, engine.StateRunning)
	foreign := fake.Put(engine.Spec{Name: "foreign", Labels: map[string]string{agentapi.LabelManaged: "true", agentapi.LabelBrand: "esb", agentapi.LabelEnv: "other"}}, engine.StateRunning)

	require.NoError(t, h.pool.Drain(t.Context()))

	assert.Contains(t, fake.Removed(), stray)
	assert.NotContains(t, fake.Removed(), foreign, "another env's container")
	assert.Len(t, fake.Removed(), 3)
	assert.Equal(t, 0, h.pool.Health().Containers)
}

func TestImageCleanup(t *testing.T) {
	tests := []struct {
		name string
		run  func(t *testing.T, h *harness)
	}{
		{
			name: "a redeploy drops the old image once its last container is gone",
			run: func(t *testing.T, h *harness) {
				v1, v2 := spec("Hello", "1"), spec("Hello", "2")
				old := h.lnch.ImageRef(v1)
				h.pool.SetDesired(desired(1, v1))
				busy, err := h.pool.Acquire(t.Context(), v1)
				require.NoError(t, err)
				require.True(t, h.fake.HasImage(old), "pulled for the cold start")

				h.pool.SetDesired(desired(2, v2))
				assert.Empty(t, h.fake.RemovedImages(), "a busy container still runs from it")

				require.NoError(t, h.pool.Release(busy.ID, false))
				h.removedEventually(t, busy.Container)
				require.Eventually(t, func() bool { return !h.fake.HasImage(old) }, 5*time.Second, time.Millisecond)

				fresh, err := h.pool.Acquire(t.Context(), v2)
				require.NoError(t, err)
				require.NoError(t, h.pool.Release(fresh.ID, true))
				h.removedEventually(t, fresh.Container)
				h.pool.Close() // waits for background removals
				assert.True(t, h.fake.HasImage(h.lnch.ImageRef(v2)), "the deployed digest stays")
				assert.Equal(t, []string{old}, h.fake.RemovedImages())
			},
		},
		{
			name: "a function with no container left loses its old image at the redeploy",
			run: func(t *testing.T, h *harness) {
				v1 := withScaling(spec("Hello", "1"), 0, 60)
				old := h.lnch.ImageRef(v1)
				h.pool.SetDesired(desired(1, v1))
				a, err := h.pool.Acquire(t.Context(), v1)
				require.NoError(t, err)
				require.NoError(t, h.pool.Release(a.ID, false))
				h.clock.Advance(2 * time.Minute)
				require.NoError(t, h.pool.Reconcile(t.Context()))
				h.removedEventually(t, a.Container)
				assert.True(t, h.fake.HasImage(old), "scaled to zero, the digest is still the deployed one")

				h.pool.SetDesired(desired(2, withScaling(spec("Hello", "2"), 0, 60)))
				require.Eventually(t, func() bool { return !h.fake.HasImage(old) }, 5*time.Second, time.Millisecond)
			},
		},
		{
			name: "without a desired state, or for a function it lacks, images stay",
			run: func(t *testing.T, h *harness) {
				v1 := spec("Hello", "1")
				a, err := h.pool.Acquire(t.Context(), v1)
				require.NoError(t, err)
				require.NoError(t, h.pool.Release(a.ID, true))
				h.removedEventually(t, a.Container)

				h.pool.SetDesired(desired(1, spec("Other", "1")))
				b, err := h.pool.Acquire(t.Context(), v1)
				require.NoError(t, err)
				require.NoError(t, h.pool.Release(b.ID, true))
				h.removedEventually(t, b.Container)
				h.pool.Close()
				assert.True(t, h.fake.HasImage(h.lnch.ImageRef(v1)))
				assert.Empty(t, h.fake.RemovedImages())
			},
		},
		{
			name: "an image never pulled, run by its image ID, stays",
			run: func(t *testing.T, h *harness) {
				v1 := spec("Hello", "1")
				// The user's own build: tagged, never pushed; the spec's
				// digest is its image ID.
				h.fake.AddImage("local/hello:dev", v1.Function.Digest)
				h.pool.SetDesired(desired(1, v1))
				a, err := h.pool.Acquire(t.Context(), v1)
				require.NoError(t, err)
				require.Empty(t, h.fake.Pulls(), "run by its ID, not pulled")

				h.pool.SetDesired(desired(2, spec("Hello", "2")))
				require.NoError(t, h.pool.Release(a.ID, false))
				h.removedEventually(t, a.Container)
				h.pool.Close()
				assert.True(t, h.fake.HasImage("local/hello:dev"))
				assert.Empty(t, h.fake.RemovedImages())
			},
		},
		{
			name: "an image another function is deployed at stays",
			run: func(t *testing.T, h *harness) {
				v1 := spec("Hello", "1")
				twin := spec("Twin", "1")
				twin.Function.Digest = v1.Function.Digest // same build, its own repository
				h.pool.SetDesired(desired(1, v1, twin))
				a, err := h.pool.Acquire(t.Context(), v1)
				require.NoError(t, err)

				h.pool.SetDesired(desired(2, spec("Hello", "2"), twin))
				require.NoError(t, h.pool.Release(a.ID, false))
				h.removedEventually(t, a.Container)
				h.pool.Close()
				assert.Empty(t, h.fake.RemovedImages())
			},
		},
		{
			name: "an image another env's container runs from stays",
			run: func(t *testing.T, h *harness) {
				v1 := spec("Hello", "1")
				old := h.lnch.ImageRef(v1)
				h.pool.SetDesired(desired(1, v1))
				a, err := h.pool.Acquire(t.Context(), v1)
				require.NoError(t, err)
				h.fake.Put(engine.Spec{Name: "other-env", Image: old, Labels: map[string]string{agentapi.LabelEnv: "other"}}, engine.StateRunning)

				h.pool.SetDesired(desired(2, spec("Hello", "2")))
				require.NoError(t, h.pool.Release(a.ID, false))
				h.removedEventually(t, a.Container)
				h.pool.Close()
				assert.True(t, h.fake.HasImage(old))
				assert.Empty(t, h.fake.RemovedImages())
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.run(t, newHarness(t, enginetest.New()))
		})
	}
}

func TestMemoryBudget(t *testing.T) {
	tests := []struct {
		name string
		run  func(t *testing.T, h *harness)
	}{
		{
			name: "a start past the budget evicts the least recently used idle container of another function",
			run: func(t *testing.T, h *harness) {
				h.withBudget(t, 256, 0) // two containers of 128 MB
				a, err := h.pool.Acquire(t.Context(), spec("A", "1"))
				require.NoError(t, err)
				b, err := h.pool.Acquire(t.Context(), spec("B", "1"))
				require.NoError(t, err)
				require.NoError(t, h.pool.Release(a.ID, false))
				h.clock.Advance(time.Second)
				require.NoError(t, h.pool.Release(b.ID, false))

				c, err := h.pool.Acquire(t.Context(), spec("C", "1"))
				require.NoError(t, err)
				assert.True(t, c.Cold)
				h.removedEventually(t, a.Container) // idle longest
				assert.NotEmpty(t, h.idOf(b.Container), "the more recently used one stays")
				assert.LessOrEqual(t, h.pool.Health().MemoryMB, 256)
			},
		},
		{
			name: "no idle container to evict: ErrNoCapacity, busy ones stay",
			run: func(t *testing.T, h *harness) {
				h.withBudget(t, 256, 0)
				for _, fn := range []string{"A", "B"} {
					_, err := h.pool.Acquire(t.Context(), spec(fn, "1"))
					require.NoError(t, err)
				}
				_, err := h.pool.Acquire(t.Context(), spec("C", "1"))
				require.ErrorIs(t, err, ErrNoCapacity)
				assert.Contains(t, err.Error(), "C needs 128 MB, 256 of 256 MB in use")
				assert.Equal(t, 2, h.pool.Health().Busy)
			},
		},
		{
			name: "an idle container of the function itself is leased, not evicted",
			run: func(t *testing.T, h *harness) {
				h.withBudget(t, 128, 0)
				a, err := h.pool.Acquire(t.Context(), spec("A", "1"))
				require.NoError(t, err)
				require.NoError(t, h.pool.Release(a.ID, false))
				b, err := h.pool.Acquire(t.Context(), spec("A", "1"))
				require.NoError(t, err)
				assert.Equal(t, a.Container, b.Container)
				assert.False(t, b.Cold)
			},
		},
		{
			name: "min_warm beyond the memory budget is refused; the previous desired state stays",
			run: func(t *testing.T, h *harness) {
				h.withBudget(t, 512, 0)
				require.NoError(t, h.pool.SetDesired(desired(1, withScaling(spec("A", "1"), 1, 60))))
				err := h.pool.SetDesired(desired(2, withScaling(spec("A", "1"), 5, 60)))
				require.ErrorIs(t, err, ErrOverBudget)
				assert.Equal(t, "function A: min_warm 5 x 128 MB = 640 MB exceeds the node's memory for functions (512 MB, ESB_FUNCTION_MEMORY)", err.Error(),
					"the problem alone: the agent's answer carries it to esb deploy")
				assert.Equal(t, uint64(1), h.pool.Health().Generation)
			},
		},
		{
			name: "min_warm beyond the account concurrency is refused",
			run: func(t *testing.T, h *harness) {
				h.withBudget(t, 0, 3)
				err := h.pool.SetDesired(desired(2, withScaling(spec("A", "1"), 2, 60), withScaling(spec("B", "1"), 2, 60)))
				require.ErrorIs(t, err, ErrOverBudget)
				assert.Equal(t, "min_warm of all functions is 4, more than the account concurrency (3, ESB_ACCOUNT_CONCURRENCY)", err.Error())
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.run(t, newHarness(t, enginetest.New()))
		})
	}
}
