// Package plan decides, without doing anything, what the agent must do to
// move the containers it observes towards the desired state: which to
// retire, reap or adopt and how many to start. The pool applies the
// actions; keeping the decision pure lets every rule be tested without a
// container runtime.
package plan

import (
	"cmp"
	"slices"
	"time"

	"github.com/esb-dev/esb/services/agent/engine"
)

// Identity is what a container runs. Containers with equal identities are
// interchangeable; a container whose identity differs from the desired one
// runs old code or an old configuration.
type Identity struct {
	Function string
	Digest   string // image digest; empty when the spec names only a tag
	Config   string // hash of everything else the spec puts into the container
}

// Want is one function of the desired state.
type Want struct {
	Identity
	MinWarm     int
	IdleTimeout time.Duration // zero: Input.DefaultIdleTimeout
}

// Phase is where a container is in the pool's lifecycle.
type Phase int

// Phases of a container. Unknown containers are in the runtime but not in
// the pool: a start still in flight, or a leftover.
const (
	Starting Phase = iota
	Idle
	Busy
	Removing
	Unknown
)

// Container is one observed container.
type Container struct {
	ID string
	Identity
	Phase       Phase
	State       engine.State  // as last reported by the runtime
	Retired     bool          // busy and already marked to go on release
	LastUsed    time.Time     // idle: when it was released; busy: when it was leased
	IdleTimeout time.Duration // of the spec it was started from; zero when unknown
	LeaseTTL    time.Duration // busy longer than this, its lease is abandoned; zero: never
}

// Input is everything a decision depends on.
type Input struct {
	Desired            map[string]Want // by function name; nil before the first desired state
	Containers         []Container
	Now                time.Time
	DefaultIdleTimeout time.Duration
}

// Kind is what an action does.
type Kind int

// Action kinds.
const (
	Remove Kind = iota + 1 // remove the container now
	Retire                 // busy: remove it when its lease is released
	Start                  // start Count containers of Function
	Adopt                  // take a running container of a previous agent as idle
)

// String names the kind in logs.
func (k Kind) String() string {
	switch k {
	case Remove:
		return "remove"
	case Retire:
		return "retire"
	case Start:
		return "start"
	case Adopt:
		return "adopt"
	}
	return "unknown"
}

// Action is one step of a plan.
type Action struct {
	Kind     Kind
	ID       string // container, for Remove, Retire and Adopt
	Function string // for Start
	Count    int    // for Start
	Reason   string
}

// Reasons, so logs say why a container went.
const (
	ReasonExited   = "exited"
	ReasonRedeploy = "digest or config changed"
	ReasonIdle     = "idle timeout"
	ReasonRetired  = "retired"
	ReasonMinWarm  = "min_warm"
	ReasonExpired  = "lease expired"
)

// Reconcile plans one pass: stale containers of desired functions are
// retired (idle ones at once, busy ones on release), stopped ones removed,
// idle ones past their timeout reaped while keeping min_warm, abandoned
// leases reclaimed, and functions below min_warm get starts. Functions absent from Desired keep
// their containers until those idle out: the config never deletes.
func Reconcile(in Input) []Action {
	containers := slices.Clone(in.Containers)
	slices.SortFunc(containers, func(a, b Container) int { return cmp.Compare(a.ID, b.ID) })

	var actions []Action
	live := map[string]int{} // containers that match the desired identity and stay
	expired := map[string][]Container{}
	starting := map[Identity]bool{}
	for _, c := range containers {
		if c.Phase == Starting {
			starting[c.Identity] = true
		}
	}
	for _, c := range containers {
		want, desired := in.Desired[c.Function]
		current := desired && c.Identity == want.Identity
		stopped := c.State != engine.StateRunning
		switch c.Phase {
		case Removing:
			continue
		case Unknown:
			// A start in flight is unknown until it is ready, and may
			// have crashed already: its launcher removes it after
			// reading its last lines. So only a stopped container of an
			// identity with no start in flight is a leftover.
			if (c.State == engine.StateExited || c.State == engine.StateDead) && !starting[c.Identity] {
				actions = append(actions, Action{Kind: Remove, ID: c.ID, Reason: ReasonExited})
			}
			continue
		case Starting:
			if current {
				live[c.Function]++
			}
			continue
		}
		busy := c.Phase == Busy
		switch {
		case busy && c.LeaseTTL > 0 && in.Now.Sub(c.LastUsed) > c.LeaseTTL:
			// The gateway that held the lease gave up on it long ago
			// (it crashed or restarted): nobody will release it.
			actions = append(actions, Action{Kind: Remove, ID: c.ID, Reason: ReasonExpired})
		case stopped && !busy:
			actions = append(actions, Action{Kind: Remove, ID: c.ID, Reason: ReasonExited})
		case stopped && !c.Retired:
			actions = append(actions, Action{Kind: Retire, ID: c.ID, Reason: ReasonExited})
		case desired && !current && !busy:
			actions = append(actions, Action{Kind: Remove, ID: c.ID, Reason: ReasonRedeploy})
		case desired && !current && !c.Retired:
			actions = append(actions, Action{Kind: Retire, ID: c.ID, Reason: ReasonRedeploy})
		case c.Retired && !busy:
			actions = append(actions, Action{Kind: Remove, ID: c.ID, Reason: ReasonRetired})
		case c.Retired:
			// Busy and already marked: it goes on release.
		default:
			if current {
				live[c.Function]++
			}
			if !busy && in.Now.Sub(c.LastUsed) > idleTimeout(c, want, current, in.DefaultIdleTimeout) {
				expired[c.Function] = append(expired[c.Function], c)
			}
		}
	}

	for _, fn := range sortedKeys(expired) {
		cands := expired[fn]
		// Oldest first, so the containers kept for min_warm are the
		// hottest ones.
		slices.SortStableFunc(cands, func(a, b Container) int { return a.LastUsed.Compare(b.LastUsed) })
		want, desired := in.Desired[fn]
		for _, c := range cands {
			current := desired && c.Identity == want.Identity
			if current && live[fn] <= want.MinWarm {
				continue
			}
			actions = append(actions, Action{Kind: Remove, ID: c.ID, Reason: ReasonIdle})
			if current {
				live[fn]--
			}
		}
	}

	for _, fn := range sortedKeys(in.Desired) {
		if n := in.Desired[fn].MinWarm - live[fn]; n > 0 {
			actions = append(actions, Action{Kind: Start, Function: fn, Count: n, Reason: ReasonMinWarm})
		}
	}
	return actions
}

// Startup plans what a freshly started agent does with the containers a
// previous agent process left: running ones are adopted as idle, the rest
// (exited, dead, or created but never started) are removed, as are
// containers without a function label, which nothing could serve.
func Startup(found []Container) []Action {
	found = slices.Clone(found)
	slices.SortFunc(found, func(a, b Container) int { return cmp.Compare(a.ID, b.ID) })
	var actions []Action
	for _, c := range found {
		switch {
		case c.Function == "":
			actions = append(actions, Action{Kind: Remove, ID: c.ID, Reason: "no function label"})
		case c.State == engine.StateRunning:
			actions = append(actions, Action{Kind: Adopt, ID: c.ID})
		default:
			actions = append(actions, Action{Kind: Remove, ID: c.ID, Reason: string(c.State)})
		}
	}
	return actions
}

func idleTimeout(c Container, want Want, current bool, def time.Duration) time.Duration {
	switch {
	case current && want.IdleTimeout > 0:
		return want.IdleTimeout
	case c.IdleTimeout > 0:
		return c.IdleTimeout
	}
	return def
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
