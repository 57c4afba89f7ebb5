package agentsync

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

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
