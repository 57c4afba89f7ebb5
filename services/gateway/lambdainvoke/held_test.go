package lambdainvoke

import (
	"context"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/esb-dev/esb/internal/agentapi"
	"github.com/esb-dev/esb/services/gateway/fakeagent"
)

func echo(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	_, _ = w.Write(body)
}

// running starts inv.Run and returns once it holds leases. stop ends Run
// and waits for it, so that the leases it hands back on the way out are
// seen; it runs when the test ends too.
func running(t *testing.T, inv *Invoker) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		assert.NoError(t, inv.Run(ctx))
	}()
	stop = func() { cancel(); <-done }
	t.Cleanup(stop)
	// Run opens the hold asynchronously; wait until it does.
	require.Eventually(t, func() bool {
		inv.held.mu.Lock()
		defer inv.held.mu.Unlock()
		return inv.held.open
	}, 5*time.Second, time.Millisecond)
	return stop
}

func invokeOK(t *testing.T, inv *Invoker, s agentapi.FunctionSpec) Result {
	t.Helper()
	res, err := inv.Invoke(t.Context(), Request{Function: s, Payload: []byte(`{"n":1}`)})
	require.NoError(t, err)
	require.Equal(t, `{"n":1}`, string(res.Payload))
	return res
}

func TestWarmLeaseHeldBetweenInvocations(t *testing.T) {
	agent := setup(t, echo)
	inv := New(agent.Client(), Options{HoldIdle: time.Hour})
	running(t, inv)

	first := invokeOK(t, inv, spec("F", 0))
	assert.True(t, first.Cold)
	for range 5 {
		res := invokeOK(t, inv, spec("F", 0))
		assert.False(t, res.Cold, "a held lease is warm")
		assert.Equal(t, first.Container, res.Container)
	}
	assert.Len(t, agent.Acquires(), 1, "one acquire for six invocations")
	assert.Empty(t, agent.Releases(), "the lease stays with the gateway")
	assert.Equal(t, 1, inv.Held())
}

func TestHeldLeaseGoesBackWhenIdle(t *testing.T) {
	agent := setup(t, echo)
	inv := New(agent.Client(), Options{HoldIdle: 20 * time.Millisecond})
	running(t, inv)

	invokeOK(t, inv, spec("F", 0))
	select {
	case rel := <-agent.Releases():
		assert.Equal(t, "lease-1", rel.LeaseID)
		assert.False(t, rel.Discard, "an idle container goes back warm")
	case <-time.After(10 * time.Second):
		t.Fatal("held lease never returned")
	}
	assert.Equal(t, 0, inv.Held())
	invokeOK(t, inv, spec("F", 0))
	assert.Len(t, agent.Acquires(), 2, "after returning it, the gateway asks the agent again")
}

func TestHeldLeaseNotReusedPastMaxAge(t *testing.T) {
	agent := setup(t, echo)
	inv := New(agent.Client(), Options{HoldIdle: time.Hour, MaxLeaseAge: 30 * time.Millisecond})
	running(t, inv)

	invokeOK(t, inv, spec("F", 0))
	time.Sleep(40 * time.Millisecond)
	invokeOK(t, inv, spec("F", 0))
	rel := <-agent.Releases()
	assert.Equal(t, "lease-1", rel.LeaseID, "the old lease goes back")
	assert.Len(t, agent.Acquires(), 2, "and a fresh one is granted")
}

func TestMaxLeaseAgeNeverAboveTheContract(t *testing.T) {
	inv := New(nil, Options{MaxLeaseAge: time.Hour})
	assert.Equal(t, agentapi.MaxLeaseHold, inv.opts.MaxLeaseAge)
}

func TestHeldLeaseNotReusedForAnotherSpec(t *testing.T) {
	agent := setup(t, echo)
	inv := New(agent.Client(), Options{HoldIdle: time.Hour})
	running(t, inv)

	invokeOK(t, inv, spec("F", 0))
	redeployed := spec("F", 0)
	redeployed.Function.Digest = "sha256:new"
	res := invokeOK(t, inv, redeployed)
	assert.Equal(t, "F-2", res.Container, "the new spec gets its own container")
	rel := <-agent.Releases()
	assert.Equal(t, "lease-1", rel.LeaseID, "the container of the old spec goes back, to be retired")
	<-agent.Acquires()
	got := <-agent.Acquires()
	assert.Equal(t, "sha256:new", got.Function.Digest)

	env := redeployed
	env.Function.Environment = map[string]string{"MODE": "b"}
	invokeOK(t, inv, env)
	assert.Equal(t, "lease-2", (<-agent.Releases()).LeaseID, "an environment change is a new spec too")
}

func TestDiscardedContainerNotHeld(t *testing.T) {
	agent := setup(t, func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, `{"errorType":"Runtime.ExitError","errorMessage":"exit status 1"}`)
	})
	inv := New(agent.Client(), Options{HoldIdle: time.Hour})
	running(t, inv)

	_, err := inv.Invoke(t.Context(), Request{Function: spec("F", 0)})
	require.NoError(t, err)
	rel := <-agent.Releases()
	assert.True(t, rel.Discard)
	assert.Equal(t, 0, inv.Held())
}

func TestFunctionErrorKeepsHeldLease(t *testing.T) {
	agent := setup(t, func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, `{"errorType":"ValueError","errorMessage":"bad"}`)
	})
	inv := New(agent.Client(), Options{HoldIdle: time.Hour})
	running(t, inv)

	res, err := inv.Invoke(t.Context(), Request{Function: spec("F", 0)})
	require.NoError(t, err)
	assert.Equal(t, FunctionErrorUnhandled, res.FunctionError)
	assert.Equal(t, 1, inv.Held(), "a handled function error leaves the runtime fine")
}

func TestHeldContainerGoneRetriesWithFreshLease(t *testing.T) {
	gone := fakeagent.Function(t, echo)
	fresh := fakeagent.Function(t, echo)
	var n atomic.Int64
	agent := fakeagent.New(t, func(agentapi.FunctionSpec) string {
		if n.Add(1) == 1 {
			return gone.URL
		}
		return fresh.URL
	})
	inv := New(agent.Client(), Options{HoldIdle: time.Hour})
	running(t, inv)

	invokeOK(t, inv, spec("F", 0))
	// The container went away while the gateway held it: its connection
	// is closed (synchronously here, where Close alone would close it
	// after the fact) and nothing listens any more.
	gone.CloseClientConnections()
	gone.Close()

	res := invokeOK(t, inv, spec("F", 0))
	assert.Equal(t, "F-2", res.Container)
	rel := <-agent.Releases()
	assert.Equal(t, "lease-1", rel.LeaseID)
	assert.True(t, rel.Discard, "the gone container is discarded")
	assert.Equal(t, 1, inv.Held(), "the fresh lease is held")
}

func TestFreshLeaseUnreachableIsACrash(t *testing.T) {
	gone := fakeagent.Function(t, echo)
	gone.Close()
	agent := fakeagent.New(t, func(agentapi.FunctionSpec) string { return gone.URL })
	inv := New(agent.Client(), Options{HoldIdle: time.Hour})
	running(t, inv)

	_, err := inv.Invoke(t.Context(), Request{Function: spec("F", 0)})
	require.ErrorIs(t, err, ErrCrashed)
	assert.Len(t, agent.Acquires(), 1, "a container the agent just granted is not retried")
	assert.True(t, (<-agent.Releases()).Discard)
}

func TestRunEndReturnsHeldLeases(t *testing.T) {
	agent := setup(t, echo)
	inv := New(agent.Client(), Options{HoldIdle: time.Hour})
	stop := running(t, inv)

	// Three invocations at once: three containers, all held afterwards.
	var wg sync.WaitGroup
	gate := make(chan struct{})
	for range 3 {
		wg.Go(func() {
			<-gate
			invokeOK(t, inv, spec("F", 0))
		})
	}
	close(gate)
	wg.Wait()
	// A start begun for a waiter that a warm container served instead
	// comes back after the invocations returned: it is held then.
	require.Eventually(t, func() bool { return len(agent.Acquires()) == inv.Held() }, 5*time.Second, 5*time.Millisecond,
		"every lease granted is held")

	stop()
	assert.Equal(t, 0, inv.Held())
	assert.Len(t, agent.Releases(), len(agent.Acquires()), "every held lease went back")

	invokeOK(t, inv, spec("F", 0))
	assert.Equal(t, 0, inv.Held(), "after Run, leases go back at once")
}

func TestNoHoldWithoutRun(t *testing.T) {
	agent := setup(t, echo)
	inv := New(agent.Client(), Options{})
	invokeOK(t, inv, spec("F", 0))
	assert.Equal(t, "lease-1", (<-agent.Releases()).LeaseID)
	assert.Equal(t, 0, inv.Held())
}

func TestNegativeHoldIdleReturnsAtOnce(t *testing.T) {
	agent := setup(t, echo)
	inv := New(agent.Client(), Options{HoldIdle: -1})
	inv.held.setOpen(true) // as if Run held leases: the option still wins
	invokeOK(t, inv, spec("F", 0))
	assert.Equal(t, "lease-1", (<-agent.Releases()).LeaseID)
	assert.Equal(t, 0, inv.Held())
}
