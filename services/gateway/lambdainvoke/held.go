package lambdainvoke

import (
	"crypto/sha256"
	"encoding/json"
	"sync"
	"time"

	"github.com/esb-dev/esb/internal/agentapi"
)

// held is a warm lease the gateway kept after an invocation instead of
// returning it, so that the next invocation of the same function spec costs
// no round trip to the agent.
type held struct {
	lease    agentapi.Lease
	key      specKey    // of the spec the lease was granted for
	acquired time.Time  // when the agent granted it: the agent's lease clock
	idle     time.Time  // when it was last put back
	conn     *rieConn   // to the container's RIE; nil until the first call, or after one spoiled it
	exit     *exitWatch // nil when no exit is watched (RIE mode)
	// startTook is how long the agent took to grant a cold lease (the
	// container's start); 0 for a lease on a container that was idle.
	startTook time.Duration
	// initializing marks a container whose runtime has not yet asked for
	// its first event: its start is not over, and it counts against the
	// start bounds until then (see Invoker.endInit).
	initializing bool
	// delivered is when the runtime took the last event (zero: unknown,
	// or not taken).
	delivered time.Time
}

// specKey identifies a function spec exactly: a container leased for one
// spec never serves another (a redeploy changes the digest, a config change
// the environment, and either must reach the next invocation).
type specKey [sha256.Size]byte

func keyOf(spec agentapi.FunctionSpec) specKey {
	// Marshal sorts map keys, so equal specs give equal bytes; a spec is
	// plain data and always marshals.
	b, _ := json.Marshal(spec)
	return sha256.Sum256(b)
}

// heldLeases keeps warm leases per function, the most recently used last,
// as the agent's idle stacks do, so that few containers stay hot.
type heldLeases struct {
	mu     sync.Mutex
	open   bool // only while Invoker.Run runs is anything held
	byName map[string][]held
}

// take returns the most recently used lease of name held for key and not
// older than maxAge. It also hands back, for release, every lease of name
// that must not be reused: granted for another spec (the function was
// redeployed or reconfigured) or too old for the agent's lease clock.
func (h *heldLeases) take(name string, key specKey, now time.Time, maxAge time.Duration) (got held, ok bool, stale []held) {
	h.mu.Lock()
	defer h.mu.Unlock()
	stack := h.byName[name]
	keep := stack[:0]
	for _, l := range stack {
		if l.key != key || now.Sub(l.acquired) >= maxAge {
			stale = append(stale, l)
			continue
		}
		keep = append(keep, l)
	}
	if n := len(keep); n > 0 {
		got, ok = keep[n-1], true
		keep = keep[:n-1]
	}
	if len(keep) == 0 {
		delete(h.byName, name)
	} else {
		h.byName[name] = keep
	}
	return got, ok, stale
}

// put keeps l for the next invocation of name. It reports false when
// nothing is held (Run is not running), so the caller returns l itself.
func (h *heldLeases) put(name string, l held) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.open {
		return false
	}
	if h.byName == nil {
		h.byName = make(map[string][]held)
	}
	h.byName[name] = append(h.byName[name], l)
	return true
}

// expire removes and returns the leases idle for idleFor or more, or
// granted maxAge or more ago.
func (h *heldLeases) expire(now time.Time, idleFor, maxAge time.Duration) []held {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []held
	for name, stack := range h.byName {
		keep := stack[:0]
		for _, l := range stack {
			if now.Sub(l.idle) >= idleFor || now.Sub(l.acquired) >= maxAge {
				out = append(out, l)
				continue
			}
			keep = append(keep, l)
		}
		if len(keep) == 0 {
			delete(h.byName, name)
		} else {
			h.byName[name] = keep
		}
	}
	return out
}

// takeAllBut removes and returns the leases held for every function but
// name: they go back to the agent, which may evict their containers to
// make room for name's.
func (h *heldLeases) takeAllBut(name string) []held {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []held
	for n, stack := range h.byName {
		if n != name {
			out = append(out, stack...)
			delete(h.byName, n)
		}
	}
	return out
}

// setOpen starts or stops holding; stopping hands back everything held.
func (h *heldLeases) setOpen(open bool) []held {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.open = open
	if open {
		return nil
	}
	var out []held
	for _, stack := range h.byName {
		out = append(out, stack...)
	}
	h.byName = nil
	return out
}

// count is how many leases are held.
func (h *heldLeases) count() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, stack := range h.byName {
		n += len(stack)
	}
	return n
}

// counts is how many leases are held per function.
func (h *heldLeases) counts() map[string]int {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make(map[string]int, len(h.byName))
	for name, stack := range h.byName {
		if len(stack) > 0 {
			out[name] = len(stack)
		}
	}
	return out
}
