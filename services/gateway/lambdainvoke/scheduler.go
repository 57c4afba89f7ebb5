package lambdainvoke

import (
	"container/list"
	"time"

	"github.com/esb-dev/esb/internal/agentapi"
)

// Burst scheduling: which waiting request gets which container, and when
// a new container is worth starting. A cold function hit by hundreds of
// requests at once used to get one start per waiting request, and the
// engine ran those starts one after another; now a start is made only when
// waiting for one of the function's busy containers would take longer than
// a cold start, starts run in parallel up to a bound per function and per
// node, and a container that finishes goes straight to the oldest waiting
// request of its function.

// DefaultStartBounds are the start bounds for a node with cpus CPUs: two
// starts in flight per CPU, three quarters of them for one function, so
// another function's burst still starts. A start is mostly the engine's
// work (dockerd or containerd, the shim, runc and their hooks, about half
// a CPU-second each on a 2-core node) and the runtime's boot, all on the
// node's CPUs: more starts at once did not ramp a burst faster there, and
// they took the CPU from the node's warm functions (BenchmarkBurst, 2
// cores, docker mode: 4 per function and 8 per node gave a warm function
// p99 of 57-85 ms over five runs, 3 and 4 gave 37-58 ms over three at
// about the same burst p99, 6.3-6.9 s; 16 and 16 gave 205 ms and a
// slower burst).
func DefaultStartBounds(cpus int) (perFunction, perNode int) {
	perNode = 2 * max(cpus, 1)
	return max(perNode*3/4, 1), perNode
}

// Estimates before a function has been measured: a cold start of a small
// runtime on a busy node; no invocation duration (unknown) means "start".
const (
	initialColdStart = time.Second
	// ewmaWeight is the weight of each new sample: the last ten or so
	// matter, so a function whose work changes is followed within seconds.
	ewmaWeight = 0.2
)

// ewma is an exponentially weighted moving average of durations; the zero
// value has no samples.
type ewma struct {
	v time.Duration
	n int
}

func (e *ewma) add(d time.Duration) {
	if e.n == 0 {
		e.v = d
	} else {
		e.v = time.Duration(ewmaWeight*float64(d) + (1-ewmaWeight)*float64(e.v))
	}
	e.n++
}

// demand is what the start decision of one function looks at.
type demand struct {
	Queued       int // requests waiting for a container
	Busy         int // containers running an invocation
	Starting     int // starts in flight for the function
	NodeStarting int // starts in flight on the node
	// Initializing and NodeInitializing are granted containers whose
	// runtimes are still starting (they boot on the same CPUs): they count
	// against the bounds, not as starts that will serve a waiting request.
	Initializing     int
	NodeInitializing int
	PerFunction      int           // bound on Starting
	PerNode          int           // bound on NodeStarting
	Duration         time.Duration // expected invocation duration; 0: unknown
	ColdStart        time.Duration // expected cold start
	OldestWait       time.Duration // how long the oldest waiting request has waited
}

// startsNeeded is the burst policy: how many containers to start now. Each
// start in flight will serve one waiting request; the others are served by
// busy containers as they finish, the last of q of them after about
// Duration * ceil(q/Busy). Another start is worth it while that is longer
// than a cold start. A request that already waited a cold start's time
// gets one whatever the estimate says (the estimate was wrong: a long
// invocation, a stuck container).
func startsNeeded(d demand) int {
	uncovered := d.Queued - d.Starting
	room := min(d.PerFunction-d.Starting-d.Initializing, d.PerNode-d.NodeStarting-d.NodeInitializing)
	if uncovered <= 0 || room <= 0 {
		return 0
	}
	n := 0
	for n < room && n < uncovered {
		q := uncovered - n
		if d.Busy > 0 && d.Duration > 0 && !(n == 0 && d.OldestWait >= d.ColdStart) {
			rounds := (q + d.Busy - 1) / d.Busy
			if time.Duration(rounds)*d.Duration <= d.ColdStart {
				break
			}
		}
		n++
	}
	return n
}

// fnState is the scheduler's view of one function: its waiting requests
// (FIFO), its containers running invocations, its starts in flight, and
// what its starts and invocations have taken.
type fnState struct {
	spec     agentapi.FunctionSpec // of the latest request: what starts run
	key      specKey               // keyOf(spec)
	waiters  list.List             // of *waiter, oldest first
	busy     int
	starting int
	// initializing are granted cold containers whose runtimes have not
	// asked for their first event yet.
	initializing int
	// cold is the function's cold start: the agent's start plus the
	// runtime's init, up to its first ask for an event.
	cold ewma
	dur  ewma
	// starved is set while the node had no memory for the function's last
	// start: its waiting requests then count against the queue wait, and
	// other functions give containers back as they finish.
	starved bool
	retryAt time.Time // no start before this while starved
}

func (f *fnState) coldEstimate() time.Duration {
	if f.cold.n == 0 {
		return initialColdStart
	}
	return f.cold.v
}

// waiter is one request waiting for a container of its function.
type waiter struct {
	since time.Time
	got   chan grant // buffered: a grant never blocks
	el    *list.Element
}

// grant is a container for a waiter, or why none comes.
type grant struct {
	h      held
	reused bool // the container ran an invocation before
	err    error
}
