package main

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/spf13/pflag"

	"github.com/esb-dev/esb/internal/adminapi"
	"github.com/esb-dev/esb/internal/agentapi"
	"github.com/esb-dev/esb/internal/deploy"
	"github.com/esb-dev/esb/internal/platform"
	"github.com/esb-dev/esb/internal/progress"
)

// defaultServeWait bounds how long a command that switched CONFIG_DIR
// waits for the gateway to serve the new set. The gateway reloads within
// about a second of the switch; a minute leaves room for a loaded machine.
const defaultServeWait = time.Minute

// bindServeWait binds --wait, shared by the commands that switch CONFIG_DIR.
func bindServeWait(fs *pflag.FlagSet, wait *time.Duration) {
	fs.DurationVar(wait, "wait", defaultServeWait, "how long to wait for the gateway to serve the new config before failing (0: do not wait)")
}

// awaitServed waits until the env's gateway serves the config set digest
// names (see deploy.AwaitServed) and says so on stderr when the wait ends
// without it.
func awaitServed(ctx context.Context, c *cli, l platform.Layout, digest string, wait time.Duration, events progress.Sink) error {
	if wait <= 0 || digest == "" {
		return nil
	}
	base := "http://" + l.DialAddr("PORT_ADMIN")
	hc := &http.Client{Timeout: 2 * time.Second}
	served, err := deploy.AwaitServed(ctx, deploy.ServeOptions{
		ConfigDir: l.ConfigDir,
		Digest:    digest,
		Live:      func(ctx context.Context) (adminapi.Live, error) { return adminapi.FetchLive(ctx, hc, base) },
		Timeout:   wait,
		// A gateway that never answers is not running: it loads CONFIG_DIR
		// when it starts, so that is no failure of the deploy.
		Unreachable: 3 * time.Second,
		Interval:    100 * time.Millisecond,
		Events:      events,
	})
	switch {
	case err != nil:
		return err
	case served.Unreachable:
		fmt.Fprintf(c.stderr, "note: the gateway at %s did not answer (%v); it serves this config when it starts\n", base, served.Err)
	case served.Superseded:
		fmt.Fprintf(c.stderr, "note: a later deploy made another config current in %s; the gateway serves that one\n", l.ConfigDir)
	case served.AgentPending:
		why := ""
		if served.AgentProblem != "" {
			why = " (" + served.AgentProblem + ")"
		}
		fmt.Fprintf(c.stderr, "note: the agent has not taken this config's warm containers yet%s; the gateway keeps pushing them (docker compose logs agent)\n", why)
	}
	return nil
}

// nodeBudget asks the env's gateway what its node gives functions, as the
// agent reports it, so that a deploy whose warm containers do not fit
// fails before it builds. Nil when the gateway or its agent does not
// answer: the agent then checks when the gateway pushes the new state,
// and awaitServed reports a refusal.
func nodeBudget(ctx context.Context, l platform.Layout) *agentapi.Budget {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	st, err := adminapi.Fetch(ctx, &http.Client{}, "http://"+l.DialAddr("PORT_ADMIN"))
	if err != nil || st.Agent == nil {
		return nil
	}
	return &agentapi.Budget{MemoryMB: st.Agent.BudgetMB, Concurrency: st.Agent.Concurrency}
}
