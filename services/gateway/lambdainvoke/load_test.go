package lambdainvoke

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestLoadFollowsInvocations: a running invocation shows as busy, a second
// one waiting for the only slot is not counted busy, and once both ended
// the container is held warm; the first invocation was cold and says how
// long its start took, the second waited for its slot.
func TestLoadFollowsInvocations(t *testing.T) {
	b := newBlocking()
	agent := setup(t, b.handler)
	inv := New(agent.Client(), Options{MaxQueueWait: time.Hour, HoldIdle: time.Hour})
	ctx, cancel := context.WithCancel(t.Context())
	var run sync.WaitGroup
	run.Go(func() { _ = inv.Run(ctx) })
	t.Cleanup(func() { cancel(); run.Wait() })

	assert.Empty(t, inv.Load())
	results := make(chan Result, 2)
	var wg sync.WaitGroup
	wg.Go(func() {
		res, err := inv.Invoke(t.Context(), Request{Function: spec("F", 1)})
		assert.NoError(t, err)
		results <- res
	})
	<-b.started
	assert.Equal(t, []FunctionLoad{{Name: "F", Busy: 1}}, inv.Load())
	wg.Go(func() {
		res, err := inv.Invoke(t.Context(), Request{Function: spec("F", 1)})
		assert.NoError(t, err)
		results <- res
	})
	time.Sleep(50 * time.Millisecond) // the second waits for the slot, not for a container
	assert.Equal(t, []FunctionLoad{{Name: "F", Busy: 1}}, inv.Load())
	b.release <- struct{}{}
	<-b.started
	b.release <- struct{}{}
	wg.Wait()

	first, second := <-results, <-results
	assert.True(t, first.Cold)
	assert.Positive(t, first.StartDuration)
	assert.False(t, second.Cold)
	assert.Zero(t, second.StartDuration)
	assert.GreaterOrEqual(t, second.QueueWait, 40*time.Millisecond, "waited for the first to finish")
	require.Eventually(t, func() bool {
		l := inv.Load()
		return len(l) == 1 && l[0] == FunctionLoad{Name: "F", Warm: 1}
	}, 2*time.Second, 10*time.Millisecond, "the container is held warm: %+v", inv.Load())
}
