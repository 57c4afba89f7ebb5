package agentsync

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/esb-dev/esb/internal/adminapi"
	"github.com/esb-dev/esb/internal/agentapi"
	"github.com/esb-dev/esb/services/gateway/fakeagent"
	"github.com/esb-dev/esb/services/gateway/logwait"
)

func run(t *testing.T, p *Pusher) {
	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	wg.Go(func() { assert.NoError(t, p.Run(ctx)) })
	t.Cleanup(func() { cancel(); wg.Wait() })
}

func desired(gen uint64) agentapi.Desired {
	return agentapi.Desired{Generation: gen, Functions: []agentapi.FunctionSpec{{Name: "F"}}}
}

func TestPushRetriesUntilTheAgentAnswers(t *testing.T) {
	tests := []struct {
		name     string
		failures int
	}{
		{name: "agent up", failures: 0},
		{name: "agent starting", failures: 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			agent := fakeagent.New(t, func(agentapi.FunctionSpec) string { return "" })
			agent.FailDesired(tt.failures)
			p := New(agent.Client(), Options{MinBackoff: time.Millisecond, MaxBackoff: 2 * time.Millisecond})
			run(t, p)
			p.Push(t.Context(), desired(7))
			got := <-agent.Desired()
			assert.EqualValues(t, 7, got.Generation)
			assert.Equal(t, "F", got.Functions[0].Name)
		})
	}
}

func TestPushSupersededByANewerGeneration(t *testing.T) {
	agent := fakeagent.New(t, func(agentapi.FunctionSpec) string { return "" })
	agent.FailDesired(1 << 30) // down until the test says otherwise
	rec, log := logwait.New()
	p := New(agent.Client(), Options{MinBackoff: time.Millisecond, MaxBackoff: 2 * time.Millisecond, Logger: log})
	run(t, p)

	gen1, retire1 := context.WithCancel(t.Context())
	p.Push(gen1, desired(1))
	rec.Wait(t, "not pushed yet; retrying", 1)

	retire1() // generation 2 is live
	p.Push(t.Context(), desired(2))
	agent.FailDesired(0)
	assert.EqualValues(t, 2, (<-agent.Desired()).Generation, "the agent only ever gets the newest state")
	assert.Empty(t, agent.Desired())
}

func TestResyncAfterAnAgentRestart(t *testing.T) {
	agent := fakeagent.New(t, func(agentapi.FunctionSpec) string { return "" })
	p := New(agent.Client(), Options{ResyncInterval: 5 * time.Millisecond})
	run(t, p)
	p.Push(t.Context(), desired(3))
	assert.EqualValues(t, 3, (<-agent.Desired()).Generation)

	agent.Restart()
	assert.EqualValues(t, 3, (<-agent.Desired()).Generation, "pushed again once the agent forgot it")
}

// budgetAgent refuses desired states with more than max warm containers,
// as the agent does past the node's budget.
type budgetAgent struct {
	max  int
	down chan struct{} // closed: answers; open: every call fails
}

func (a *budgetAgent) SetDesired(_ context.Context, d agentapi.Desired) error {
	select {
	case <-a.down:
	default:
		return errors.New("dial tcp: connection refused")
	}
	if w := d.Functions[0].Function.Scaling.MinWarm; w > a.max {
		return &agentapi.APIError{Status: 422, Error_: agentapi.Error{Code: agentapi.CodeOverBudget, Message: fmt.Sprintf("min_warm %d is over %d", w, a.max)}}
	}
	return nil
}

func (a *budgetAgent) Health(context.Context) (agentapi.Health, error) { return agentapi.Health{}, nil }

func warm(gen uint64, n int) agentapi.Desired {
	d := desired(gen)
	d.Functions[0].Function.Scaling.MinWarm = n
	return d
}

// awaitState polls p.Status until it reports gen in a settled state.
func awaitState(t *testing.T, p *Pusher, gen uint64, state string) adminapi.AgentSync {
	t.Helper()
	var st adminapi.AgentSync
	require.Eventually(t, func() bool {
		st = p.Status()
		return st.Generation == gen && st.State == state
	}, 5*time.Second, time.Millisecond, "generation %d never %s", gen, state)
	return st
}

func TestStatusFollowsThePushOfTheNewestState(t *testing.T) {
	agent := &budgetAgent{max: 2, down: make(chan struct{})}
	p := New(agent, Options{MinBackoff: time.Millisecond, MaxBackoff: 2 * time.Millisecond})
	run(t, p)

	p.Push(t.Context(), warm(1, 1))
	st := awaitState(t, p, 1, adminapi.AgentPending)
	require.Eventually(t, func() bool { return p.Status().Problem != "" }, 5*time.Second, time.Millisecond)
	assert.Contains(t, p.Status().Problem, "connection refused", "a pending push says why")

	close(agent.down)
	st = awaitState(t, p, 1, adminapi.AgentApplied)
	assert.Empty(t, st.Problem)

	gen2, retire2 := context.WithCancel(t.Context())
	p.Push(gen2, warm(2, 5))
	st = awaitState(t, p, 2, adminapi.AgentRefused)
	assert.Equal(t, "min_warm 5 is over 2", st.Problem, "the agent's own words")

	retire2()
	p.Push(t.Context(), warm(3, 2))
	awaitState(t, p, 3, adminapi.AgentApplied)
}
