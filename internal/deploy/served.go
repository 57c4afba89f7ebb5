package deploy

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/esb-dev/esb/internal/adminapi"
	"github.com/esb-dev/esb/internal/progress"
	"github.com/esb-dev/esb/internal/runtimeconfig"
)

// ServeOptions describe waiting until the gateway serves a config set.
type ServeOptions struct {
	ConfigDir string
	Digest    string // runtimeconfig Config.Digest of the set written
	// Live asks the gateway's admin listener what it serves (with its own
	// deadline per call).
	Live func(ctx context.Context) (adminapi.Live, error)
	// Timeout bounds the wait for a reachable gateway; Unreachable how
	// long a gateway that never answers is waited for before the wait
	// ends without it; Interval is the poll interval.
	Timeout, Unreachable, Interval time.Duration
	// AgentWait bounds the wait, once the gateway serves the set, for the
	// agent to take its desired state (warm containers); the wait ends
	// without it after that, as the gateway keeps pushing it. Zero: 10 s.
	AgentWait time.Duration
	Events    progress.Sink
}

// Served is how a wait for the gateway ended without an error.
type Served struct {
	Live    adminapi.Live
	Elapsed time.Duration
	// Superseded: another deploy made a newer set current before the
	// gateway served this one; the gateway serves that one instead.
	Superseded bool
	// Unreachable: the gateway did not answer (not running, say): it
	// loads the current set when it starts. Err is its last error.
	Unreachable bool
	Err         error
	// AgentPending: the gateway serves the set, but the agent had not
	// taken its desired state within AgentWait (down or restarting); the
	// gateway pushes it when the agent answers. AgentProblem is the last
	// error of that push.
	AgentPending bool
	AgentProblem string
}

// ErrAgentRefused is returned when the gateway serves the set but the
// agent refused its desired state: the node cannot hold the warm
// containers it asks for, and the previous ones stay.
var ErrAgentRefused = errors.New("the agent refused the new config's warm containers")

// ErrNotServed is returned when the gateway answers but did not start
// serving the set within the timeout.
var ErrNotServed = errors.New("the gateway did not start serving the new config")

// AwaitServed returns once the gateway serves the config set opts.Digest
// names, so that a command that wrote it returns only when the next
// request sees it (the gateway reloads CONFIG_DIR by itself, a moment
// after the write). A set the gateway refused is an error listing the
// gateway's problems with it. Once served, it waits (up to AgentWait) for
// the agent to take the set's desired state: a refusal (warm containers
// beyond the node's budget) is ErrAgentRefused.
func AwaitServed(ctx context.Context, opts ServeOptions) (Served, error) {
	ev := events{opts.Events}
	start := time.Now()
	ev.phase("serve", progress.Working, "waiting for the gateway to serve the new config")
	parent := ctx
	ctx, cancel := context.WithTimeout(ctx, opts.Timeout)
	defer cancel()
	tick := time.NewTicker(opts.Interval)
	defer tick.Stop()
	var (
		last      adminapi.Live
		lastErr   error
		answered  bool
		lastCheck time.Time
		servedAt  time.Time // when the gateway was first seen serving the set
	)
	agentWait := opts.AgentWait
	if agentWait <= 0 {
		agentWait = 10 * time.Second
	}
	for {
		live, err := opts.Live(ctx)
		switch {
		case err == nil:
			answered, last = true, live
			if live.ConfigDigest == opts.Digest {
				if servedAt.IsZero() {
					servedAt = time.Now()
				}
				a := live.Agent
				switch {
				case a == nil || a.Generation > live.Generation || a.Generation == live.Generation && a.State == adminapi.AgentApplied:
					ev.phase("serve", progress.Done, fmt.Sprintf("gateway serves it (generation %d) after %.1fs", live.Generation, time.Since(start).Seconds()))
					return Served{Live: live, Elapsed: time.Since(start)}, nil
				case a.Generation == live.Generation && a.State == adminapi.AgentRefused:
					ev.phase("serve", progress.Failed, "the agent refused the new config's warm containers")
					return Served{Live: live}, fmt.Errorf("%w: %s. The gateway serves generation %d, but the previous warm containers stay: lower ProvisionedConcurrentExecutions (min_warm) or MemorySize, or give the node more memory for functions (ESB_FUNCTION_MEMORY), and deploy again",
						ErrAgentRefused, a.Problem, live.Generation)
				case time.Since(servedAt) >= agentWait:
					ev.phase("serve", progress.Warning, fmt.Sprintf("gateway serves it (generation %d); the agent has not taken its warm containers yet", live.Generation))
					return Served{Live: live, Elapsed: time.Since(start), AgentPending: true, AgentProblem: agentProblem(live)}, nil
				}
				// The agent is told right after the switch: wait for its answer.
			} else if !servedAt.IsZero() {
				// Served, then a later deploy's set went live before the
				// agent answered for this one: that set's state is what
				// the agent gets now.
				ev.phase("serve", progress.Warning, "gateway served it; a later deploy's config replaced it")
				return Served{Live: live, Superseded: true, Elapsed: time.Since(start)}, nil
			} else if r := live.Rejected; r != nil && (r.ConfigDigest == opts.Digest || r.ConfigDigest == "" && r.At.After(start)) {
				ev.phase("serve", progress.Failed, "the gateway refused the new config")
				return Served{Live: live}, fmt.Errorf("the gateway refused the config in %s and keeps serving generation %d: %s",
					opts.ConfigDir, live.Generation, strings.Join(r.Problems, "; "))
			}
		case ctx.Err() == nil:
			lastErr = err
			if !answered && time.Since(start) >= opts.Unreachable {
				ev.phase("serve", progress.Warning, "gateway not reachable; it serves the new config when it starts")
				return Served{Unreachable: true, Err: err, Elapsed: time.Since(start)}, nil
			}
		}
		// Another deploy may have made a newer set current: the gateway
		// then never serves this one. Checked about once a second.
		if servedAt.IsZero() && time.Since(lastCheck) >= time.Second {
			lastCheck = time.Now()
			if cur, err := currentDigest(opts.ConfigDir); err == nil && cur != opts.Digest {
				ev.phase("serve", progress.Warning, "a later deploy replaced the new config before the gateway loaded it")
				return Served{Live: last, Superseded: true, Elapsed: time.Since(start)}, nil
			}
		}
		select {
		case <-ctx.Done():
			if err := parent.Err(); err != nil {
				return Served{Live: last}, fmt.Errorf("wait for the gateway: %w", err)
			}
			if !servedAt.IsZero() {
				// Served, and the wait ran out on the agent's answer.
				ev.phase("serve", progress.Warning, fmt.Sprintf("gateway serves it (generation %d); the agent has not taken its warm containers yet", last.Generation))
				return Served{Live: last, Elapsed: time.Since(start), AgentPending: true, AgentProblem: agentProblem(last)}, nil
			}
			ev.phase("serve", progress.Failed, "the gateway did not load the new config")
			if !answered {
				return Served{}, fmt.Errorf("%w within %s: the gateway did not answer: %v", ErrNotServed, opts.Timeout, lastErr)
			}
			return Served{Live: last}, fmt.Errorf("%w within %s: it still serves generation %d, loaded %s (the config is written to %s; see the gateway's log: docker compose logs gateway)",
				ErrNotServed, opts.Timeout, last.Generation, last.LoadedAt.Local().Format(time.TimeOnly), opts.ConfigDir)
		case <-tick.C:
		}
	}
}

// agentProblem is the last error of the push of live's own desired
// state to the agent.
func agentProblem(live adminapi.Live) string {
	if a := live.Agent; a != nil && a.Generation == live.Generation {
		return a.Problem
	}
	return ""
}

// currentDigest is the digest of the set CONFIG_DIR holds now.
func currentDigest(dir string) (string, error) {
	cfg, err := runtimeconfig.Load(dir)
	if err != nil {
		return "", err
	}
	return cfg.Digest()
}
