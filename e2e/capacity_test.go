//go:build e2e

package e2e

import (
	"context"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/esb-dev/esb/internal/adminapi"
	"github.com/esb-dev/esb/internal/runtimeconfig"
	"github.com/esb-dev/esb/internal/syncbuf"
)

// adminHTTP calls an env's admin listener.
var adminHTTP = &http.Client{Timeout: 5 * time.Second}

// capacityBudgetMB is the node memory for functions the envs that run
// capacityFlow get (ESB_FUNCTION_MEMORY). The capacity templates' function
// takes 1280 MB per warm container: 3 fit, 4 do not.
const capacityBudgetMB = 4096

// capacityFlow checks that warm containers (ProvisionedConcurrencyConfig)
// past the node's budget fail `esb deploy` with a clear error: before
// anything is built when the deploy can see it, and from the agent's own
// refusal when two deploys that each fit race into one that does not.
// The env must run with ESB_FUNCTION_MEMORY=capacityBudgetMB; its other
// functions must ask for no warm containers.
func capacityFlow(t *testing.T, s *stack) {
	ctx := t.Context()
	tmpl := func(name string) string { return filepath.Join(s.root, "e2e", "testdata", "capacity", name) }
	deploy := func(ctx context.Context, t *testing.T, template string, warm string) esbResult {
		return s.esb(ctx, t, "deploy", "--mode", s.mode, "--tag", "e2e-"+s.layout.Env.Name,
			"-t", tmpl(template), "--parameter-overrides", "Warm="+warm)
	}
	admin := "http://" + s.layout.DialAddr("PORT_ADMIN")
	live := func(t *testing.T) adminapi.Live {
		l, err := adminapi.FetchLive(ctx, adminHTTP, admin)
		require.NoError(t, err)
		return l
	}
	// warm waits until the agent keeps want idle containers of each
	// function, as /api/status counts them.
	warm := func(t *testing.T, want map[string]int) {
		t.Helper()
		var got map[string]int
		ok := assert.Eventually(t, func() bool {
			st, err := adminapi.Fetch(ctx, adminHTTP, admin)
			if err != nil {
				return false
			}
			got = map[string]int{}
			for _, f := range st.Functions {
				if _, ok := want[f.Name]; ok {
					got[f.Name] = f.Warm
				}
			}
			for name, n := range want {
				if got[name] != n {
					return false
				}
			}
			return true
		}, 90*time.Second, 500*time.Millisecond)
		if !ok {
			t.Errorf("warm containers: got %v, want %v", got, want)
		}
	}

	t.Run("the agent reports the budget ESB_FUNCTION_MEMORY sets", func(t *testing.T) {
		st, err := adminapi.Fetch(ctx, adminHTTP, admin)
		require.NoError(t, err)
		require.NotNil(t, st.Agent)
		assert.Equal(t, capacityBudgetMB, st.Agent.BudgetMB)
		assert.Equal(t, 1000, st.Agent.Concurrency, "ESB_ACCOUNT_CONCURRENCY's default")
	})

	t.Run("one function's warm containers past the budget: refused before building, nothing changed", func(t *testing.T) {
		before := s.snapshotConfig(t)
		digest := live(t).ConfigDigest
		res := deploy(ctx, t, "one.yml", "4")
		require.Error(t, res.err, res.stderr)
		assert.Contains(t, res.stderr, tmpl("one.yml")+":22:9: Resources.WarmOne.Properties.ProvisionedConcurrencyConfig.ProvisionedConcurrentExecutions: "+
			"min_warm 4 x 1280 MB = 5120 MB exceeds the node's memory for functions (4096 MB, ESB_FUNCTION_MEMORY)")
		assert.NotContains(t, res.stderr, "[build]", "refused before the build")
		assert.Equal(t, before, s.snapshotConfig(t), "CONFIG_DIR unchanged")
		assert.Equal(t, digest, live(t).ConfigDigest)
	})

	t.Run("the env's warm containers count: a template that fits alone is refused with them", func(t *testing.T) {
		require.NoError(t, deploy(ctx, t, "two.yml", "1").err)
		warm(t, map[string]int{"WarmTwo": 1})
		before := s.snapshotConfig(t)
		res := deploy(ctx, t, "one.yml", "3")
		require.Error(t, res.err, res.stderr)
		assert.Contains(t, res.stderr, tmpl("one.yml")+":22:9: Resources.WarmOne.Properties.ProvisionedConcurrencyConfig.ProvisionedConcurrentExecutions: "+
			"min_warm of all functions takes 5120 MB, more than the node's memory for functions (4096 MB, ESB_FUNCTION_MEMORY) "+
			"(this template: WarmOne 3 x 1280 MB; already in the env: WarmTwo 1 x 1280 MB)")
		assert.Equal(t, before, s.snapshotConfig(t), "CONFIG_DIR unchanged")
	})

	// Two deploys that each fit what the env has check the budget before
	// either merges; together they do not fit. The test holds the env's
	// deploy lock until both wait for it, so both pass their own check
	// for certain; the agent then refuses the state of the second merge,
	// and that deploy fails on the agent's word.
	t.Run("two racing deploys that fit only apart: the second fails on the agent's refusal", func(t *testing.T) {
		require.NoError(t, deploy(ctx, t, "one.yml", "1").err)
		warm(t, map[string]int{"WarmOne": 1, "WarmTwo": 1})

		unlock, err := runtimeconfig.Lock(ctx, s.layout.ConfigDir, runtimeconfig.LockOptions{})
		require.NoError(t, err)
		var unlockOnce sync.Once
		release := func() { unlockOnce.Do(func() { require.NoError(t, unlock()) }) }
		t.Cleanup(release)

		type run struct {
			template string
			stderr   syncbuf.Buffer
			err      error
		}
		runs := []*run{{template: "one.yml"}, {template: "two.yml"}}
		var wg sync.WaitGroup
		for _, r := range runs {
			cmd := s.esbCmd(ctx, t, "deploy", "--mode", s.mode, "--tag", "e2e-"+s.layout.Env.Name,
				"-t", tmpl(r.template), "--parameter-overrides", "Warm=2")
			cmd.Stderr = &r.stderr
			require.NoError(t, cmd.Start())
			wg.Go(func() { r.err = cmd.Wait() })
		}
		waiting := assert.Eventually(t, func() bool {
			return strings.Contains(runs[0].stderr.String(), "merging into") && strings.Contains(runs[1].stderr.String(), "merging into")
		}, 25*time.Second, 100*time.Millisecond, "both deploys reach the merge")
		release()
		wg.Wait()
		require.True(t, waiting, "deploy output:\n%s\n%s", runs[0].stderr.String(), runs[1].stderr.String())

		var failed, passed *run
		for _, r := range runs {
			t.Logf("deploy %s: %v\n%s", r.template, r.err, r.stderr.String())
			if r.err != nil {
				failed = r
			} else {
				passed = r
			}
		}
		require.NotNil(t, failed, "one of the two must fail")
		require.NotNil(t, passed, "one of the two must succeed")
		assert.Contains(t, failed.stderr.String(), "the agent refused the new config's warm containers: "+
			"min_warm of all functions takes 5120 MB, more than the node's memory for functions (4096 MB, ESB_FUNCTION_MEMORY)")
		assert.Contains(t, failed.stderr.String(), "lower ProvisionedConcurrentExecutions")

		// The agent kept the last state it took: the winner's warm
		// containers and the loser's old ones; or the state from before
		// the race, when the loser's set went live before the agent got
		// the winner's (the winner then says a later deploy replaced it).
		winner, loser := "WarmOne", "WarmTwo"
		if passed.template == "two.yml" {
			winner, loser = loser, winner
		}
		kept := map[string]int{winner: 2, loser: 1}
		if strings.Contains(passed.stderr.String(), "a later deploy made another config current") {
			kept[winner] = 1
		}
		warm(t, kept)
		l := live(t)
		require.NotNil(t, l.Agent)
		assert.Equal(t, adminapi.AgentRefused, l.Agent.State)
		assert.Equal(t, l.Generation, l.Agent.Generation, "the refusal is of the generation the gateway serves")
		ls := s.esb(ctx, t, "ls")
		require.NoError(t, ls.err)
		assert.Contains(t, ls.stdout, "warning: the agent refused generation "+strconv.FormatUint(l.Generation, 10)+"'s warm containers and keeps the previous ones: min_warm of all functions takes 5120 MB")

		t.Run("a deploy that fits clears it", func(t *testing.T) {
			require.NoError(t, deploy(ctx, t, failed.template, "1").err)
			warm(t, map[string]int{winner: 2, loser: 1}) // the winner's 2 fit now
			l := live(t)
			require.NotNil(t, l.Agent)
			assert.Equal(t, adminapi.AgentApplied, l.Agent.State)
		})
	})
}
