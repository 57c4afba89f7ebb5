// Package agentsync keeps the agent's desired state in step with the
// gateway's live config generation. Pushes happen in the background with
// retries, so an agent that is down or still starting never holds up
// serving; only the newest generation's state is ever pushed.
package agentsync

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/esb-dev/esb/internal/adminapi"
	"github.com/esb-dev/esb/internal/agentapi"
)

// Defaults for the zero values of Options.
const (
	DefaultMinBackoff     = 100 * time.Millisecond
	DefaultMaxBackoff     = 5 * time.Second
	DefaultAttemptTimeout = 10 * time.Second
	DefaultResyncInterval = 10 * time.Second
)

// Agent is the agent's side of the seam; *agentapi.Client implements it.
type Agent interface {
	SetDesired(ctx context.Context, d agentapi.Desired) error
	Health(ctx context.Context) (agentapi.Health, error)
}

// Options tunes a Pusher. The zero value is ready to use.
type Options struct {
	MinBackoff     time.Duration // first wait after a failed push; DefaultMinBackoff when zero
	MaxBackoff     time.Duration // waits double up to this; DefaultMaxBackoff when zero
	AttemptTimeout time.Duration // bound on one push; DefaultAttemptTimeout when zero
	// ResyncInterval is how often the agent's generation is checked
	// against the last one pushed: a restarted agent has forgotten its
	// desired state (min_warm, retired digests) and gets it again.
	// DefaultResyncInterval when zero.
	ResyncInterval time.Duration
	Logger         *slog.Logger // nil discards
}

// Pusher pushes desired states to the agent, one at a time, newest wins.
type Pusher struct {
	agent Agent
	opts  Options

	mu     sync.Mutex
	latest *job
	pushed *job               // the last state that landed
	status adminapi.AgentSync // of the newest state scheduled
	wake   chan struct{}      // capacity 1: "latest changed"
}

type job struct {
	ctx     context.Context // the generation's: cancelled when a newer one is live
	desired agentapi.Desired
}

// New returns a Pusher; Run starts it.
func New(agent Agent, opts Options) *Pusher {
	if opts.MinBackoff <= 0 {
		opts.MinBackoff = DefaultMinBackoff
	}
	if opts.MaxBackoff <= 0 {
		opts.MaxBackoff = DefaultMaxBackoff
	}
	if opts.AttemptTimeout <= 0 {
		opts.AttemptTimeout = DefaultAttemptTimeout
	}
	if opts.ResyncInterval <= 0 {
		opts.ResyncInterval = DefaultResyncInterval
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &Pusher{agent: agent, opts: opts, wake: make(chan struct{}, 1)}
}

// Push schedules d and returns at once. Retries stop when ctx ends: pass
// the context of the generation d belongs to, so a newer generation
// supersedes it. A pending older state is replaced, never sent.
func (p *Pusher) Push(ctx context.Context, d agentapi.Desired) {
	p.mu.Lock()
	p.latest = &job{ctx: ctx, desired: d}
	p.status = adminapi.AgentSync{Generation: d.Generation, State: adminapi.AgentPending, At: time.Now()}
	p.mu.Unlock()
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// Status reports how the push of the newest desired state went: what
// `esb deploy` waits for after the gateway serves a new generation, so a
// state the agent refuses fails the deploy instead of being a log line.
func (p *Pusher) Status() adminapi.AgentSync {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.status
}

// settle records how the push of j ended, unless a newer state was
// scheduled meanwhile.
func (p *Pusher) settle(j *job, state, problem string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if state == adminapi.AgentApplied {
		p.pushed = j
	}
	if p.status.Generation == j.desired.Generation {
		p.status = adminapi.AgentSync{Generation: j.desired.Generation, State: state, Problem: problem, At: time.Now()}
	}
}

// Run pushes scheduled states until ctx ends, and returns nil then.
func (p *Pusher) Run(ctx context.Context) error {
	resync := time.NewTicker(p.opts.ResyncInterval)
	defer resync.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-p.wake:
			p.mu.Lock()
			j := p.latest
			p.latest = nil
			p.mu.Unlock()
			if j != nil {
				p.push(ctx, j)
			}
		case <-resync.C:
			p.resync(ctx)
		}
	}
}

// resync pushes the last state again when the agent no longer holds it.
func (p *Pusher) resync(ctx context.Context) {
	p.mu.Lock()
	j := p.pushed
	p.mu.Unlock()
	if j == nil || j.ctx.Err() != nil {
		return
	}
	hctx, cancel := context.WithTimeout(ctx, p.opts.AttemptTimeout)
	defer cancel()
	h, err := p.agent.Health(hctx)
	if err != nil || h.Generation == j.desired.Generation {
		return // down (the next push retries) or in step
	}
	p.opts.Logger.Info("agent lost the desired state (restarted?); pushing it again",
		"generation", j.desired.Generation, "agent_generation", h.Generation)
	p.push(ctx, j)
}

// push tries j until it lands, j is superseded, or ctx ends.
func (p *Pusher) push(ctx context.Context, j *job) {
	log := p.opts.Logger.With("generation", j.desired.Generation, "functions", len(j.desired.Functions))
	backoff := p.opts.MinBackoff
	for attempt := 1; ; attempt++ {
		err := p.attempt(ctx, j)
		if err == nil {
			p.settle(j, adminapi.AgentApplied, "")
			if attempt > 1 {
				log.Info("agent desired state pushed", "attempts", attempt)
			} else {
				log.Debug("agent desired state pushed")
			}
			return
		}
		if ctx.Err() != nil || j.ctx.Err() != nil {
			return // shutting down, or a newer generation took over
		}
		if agentapi.IsCode(err, agentapi.CodeOverBudget) {
			// Retrying cannot help: the agent keeps the previous desired
			// state (its min_warm containers) until a deploy fits.
			log.Error("agent refused the desired state: min_warm beyond the node's budget; the previous min_warm stays", "error", err.Error())
			p.settle(j, adminapi.AgentRefused, refusal(err))
			return
		}
		// Warn once, then only now and then: an agent that is down for a
		// while should not flood the log.
		p.settle(j, adminapi.AgentPending, err.Error())
		if attempt == 1 || attempt%20 == 0 {
			log.Warn("agent desired state not pushed yet; retrying in the background", "attempt", attempt, "error", err.Error())
		}
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-j.ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		backoff = min(backoff*2, p.opts.MaxBackoff)
	}
}

func (p *Pusher) attempt(ctx context.Context, j *job) error {
	actx, cancel := context.WithTimeout(ctx, p.opts.AttemptTimeout)
	defer cancel()
	stop := context.AfterFunc(j.ctx, cancel) // superseded mid-request: give up on it
	defer stop()
	return p.agent.SetDesired(actx, j.desired)
}

// refusal is the agent's own words for a refused state.
func refusal(err error) string {
	var apiErr *agentapi.APIError
	if errors.As(err, &apiErr) && apiErr.Error_.Message != "" {
		return apiErr.Error_.Message
	}
	return err.Error()
}
