package deploy

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/esb-dev/esb/internal/adminapi"
	"github.com/esb-dev/esb/internal/runtimeconfig"
)

func serveOptions(live func(context.Context) (adminapi.Live, error)) ServeOptions {
	return ServeOptions{Digest: "sha256:new", Live: live, Timeout: 2 * time.Second, Unreachable: 300 * time.Millisecond, Interval: 10 * time.Millisecond}
}

func TestAwaitServedReturnsOnceTheGatewayServesTheSet(t *testing.T) {
	var polls atomic.Int32
	served, err := AwaitServed(t.Context(), serveOptions(func(context.Context) (adminapi.Live, error) {
		if polls.Add(1) < 4 {
			return adminapi.Live{Generation: 1, ConfigDigest: "sha256:old"}, nil // the reload has not happened yet
		}
		return adminapi.Live{Generation: 2, ConfigDigest: "sha256:new"}, nil
	}))
	require.NoError(t, err)
	assert.EqualValues(t, 2, served.Live.Generation)
	assert.EqualValues(t, 4, polls.Load(), "polled until the digest matched, and no longer")
	assert.False(t, served.Unreachable || served.Superseded)
}

func TestAwaitServedReportsTheGatewaysRefusal(t *testing.T) {
	_, err := AwaitServed(t.Context(), serveOptions(func(context.Context) (adminapi.Live, error) {
		return adminapi.Live{Generation: 1, ConfigDigest: "sha256:old", Rejected: &adminapi.Rejection{
			ConfigDigest: "sha256:new", At: time.Now(), Problems: []string{"routing.yml:4:5: routes[0].path: conflicts with routes[1]"}}}, nil
	}))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "the gateway refused the config")
	assert.Contains(t, err.Error(), "keeps serving generation 1")
	assert.Contains(t, err.Error(), "routing.yml:4:5: routes[0].path: conflicts with routes[1]")

	// A refusal of some other set, from before this wait, is not ours.
	_, err = AwaitServed(t.Context(), serveOptions(func(context.Context) (adminapi.Live, error) {
		return adminapi.Live{Generation: 1, ConfigDigest: "sha256:old", Rejected: &adminapi.Rejection{
			At: time.Now().Add(-time.Minute), Problems: []string{"old"}}}, nil
	}))
	require.ErrorIs(t, err, ErrNotServed)
}

func TestAwaitServedTimesOutOnAGatewayThatKeepsTheOldSet(t *testing.T) {
	opts := serveOptions(func(context.Context) (adminapi.Live, error) {
		return adminapi.Live{Generation: 7, ConfigDigest: "sha256:old", LoadedAt: time.Now()}, nil
	})
	opts.Timeout = 200 * time.Millisecond
	opts.ConfigDir = "/cfg"
	start := time.Now()
	_, err := AwaitServed(t.Context(), opts)
	require.ErrorIs(t, err, ErrNotServed)
	assert.Contains(t, err.Error(), "still serves generation 7")
	assert.Contains(t, err.Error(), "/cfg")
	assert.Less(t, time.Since(start), 2*time.Second)
}

func TestAwaitServedGivesUpOnAGatewayThatIsNotRunning(t *testing.T) {
	refused := errors.New("dial tcp 127.0.0.1:6490: connect: connection refused")
	served, err := AwaitServed(t.Context(), serveOptions(func(context.Context) (adminapi.Live, error) {
		return adminapi.Live{}, refused
	}))
	require.NoError(t, err, "the gateway loads CONFIG_DIR when it starts")
	assert.True(t, served.Unreachable)
	assert.ErrorIs(t, served.Err, refused)
}

func TestAwaitServedStopsWhenALaterDeployReplacedTheSet(t *testing.T) {
	dir := t.TempDir()
	cfg, err := runtimeconfig.Decode(runtimeconfig.Files{})
	require.NoError(t, err)
	_, err = runtimeconfig.MergeInto(t.Context(), dir, cfg, runtimeconfig.MergeOptions{})
	require.NoError(t, err)
	opts := serveOptions(func(context.Context) (adminapi.Live, error) {
		return adminapi.Live{Generation: 3, ConfigDigest: "sha256:old"}, nil
	})
	opts.ConfigDir = dir // holds a set whose digest is not sha256:new
	served, err := AwaitServed(t.Context(), opts)
	require.NoError(t, err)
	assert.True(t, served.Superseded)
}

// live2 is the gateway serving sha256:new as generation 2, with the push
// of its desired state to the agent in the given state.
func live2(agent *adminapi.AgentSync) adminapi.Live {
	return adminapi.Live{Generation: 2, ConfigDigest: "sha256:new", Agent: agent}
}

func TestAwaitServedWaitsForTheAgentToTakeTheSet(t *testing.T) {
	var polls atomic.Int32
	served, err := AwaitServed(t.Context(), serveOptions(func(context.Context) (adminapi.Live, error) {
		switch n := polls.Add(1); {
		case n < 3: // the push still carries the previous generation
			return live2(&adminapi.AgentSync{Generation: 1, State: adminapi.AgentApplied}), nil
		case n < 6:
			return live2(&adminapi.AgentSync{Generation: 2, State: adminapi.AgentPending}), nil
		default:
			return live2(&adminapi.AgentSync{Generation: 2, State: adminapi.AgentApplied}), nil
		}
	}))
	require.NoError(t, err)
	assert.EqualValues(t, 6, polls.Load(), "waited for the agent's answer on generation 2, and no longer")
	assert.False(t, served.AgentPending)
}

func TestAwaitServedFailsOnTheAgentsRefusal(t *testing.T) {
	problem := "function Hot: min_warm 50 x 1024 MB = 51200 MB exceeds the node's memory for functions (4096 MB, ESB_FUNCTION_MEMORY)"
	_, err := AwaitServed(t.Context(), serveOptions(func(context.Context) (adminapi.Live, error) {
		return live2(&adminapi.AgentSync{Generation: 2, State: adminapi.AgentRefused, Problem: problem}), nil
	}))
	require.ErrorIs(t, err, ErrAgentRefused)
	assert.Contains(t, err.Error(), problem)
	assert.Contains(t, err.Error(), "serves generation 2")
	assert.Contains(t, err.Error(), "ProvisionedConcurrentExecutions")

	// A refusal of an older generation is not this set's.
	served, err := AwaitServed(t.Context(), serveOptions(func(context.Context) (adminapi.Live, error) {
		return live2(&adminapi.AgentSync{Generation: 3, State: adminapi.AgentApplied}), nil
	}))
	require.NoError(t, err, "a later generation was pushed: this one's state is past")
	assert.False(t, served.AgentPending)
}

func TestAwaitServedEndsWithoutAnAgentThatDoesNotAnswer(t *testing.T) {
	opts := serveOptions(func(context.Context) (adminapi.Live, error) {
		return live2(&adminapi.AgentSync{Generation: 2, State: adminapi.AgentPending, Problem: "dial tcp: connection refused"}), nil
	})
	opts.AgentWait = 100 * time.Millisecond
	start := time.Now()
	served, err := AwaitServed(t.Context(), opts)
	require.NoError(t, err, "the config is served; the gateway keeps pushing to the agent")
	assert.True(t, served.AgentPending)
	assert.Equal(t, "dial tcp: connection refused", served.AgentProblem)
	assert.Less(t, time.Since(start), time.Second, "ended at AgentWait, not at Timeout")

	// The overall timeout ending first gives the same answer, not "not served".
	opts.AgentWait, opts.Timeout = time.Hour, 150*time.Millisecond
	served, err = AwaitServed(t.Context(), opts)
	require.NoError(t, err)
	assert.True(t, served.AgentPending)
}

func TestAwaitServedEndsWhenALaterSetReplacedItBeforeTheAgentAnswered(t *testing.T) {
	var polls atomic.Int32
	served, err := AwaitServed(t.Context(), serveOptions(func(context.Context) (adminapi.Live, error) {
		if polls.Add(1) < 3 {
			return live2(&adminapi.AgentSync{Generation: 2, State: adminapi.AgentPending}), nil
		}
		return adminapi.Live{Generation: 3, ConfigDigest: "sha256:later", Agent: &adminapi.AgentSync{Generation: 3, State: adminapi.AgentPending}}, nil
	}))
	require.NoError(t, err)
	assert.True(t, served.Superseded)
	assert.EqualValues(t, 3, polls.Load(), "ended at the first poll that saw the later set")
}
