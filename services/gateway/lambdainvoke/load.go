package lambdainvoke

import (
	"maps"
	"slices"
)

// FunctionLoad is what one function has in the gateway right now, for the
// operator's metrics and dashboard.
type FunctionLoad struct {
	Name     string
	Busy     int // containers running an invocation of it
	Queued   int // invocations waiting for a container
	Starting int // container starts in flight for it
	Warm     int // idle containers the gateway holds for its next invocation
}

// Load lists the functions the invoker has seen, by name. A function
// redeployed under the same name is one entry: its old and new specs add
// up until the old one's containers are gone.
func (i *Invoker) Load() []FunctionLoad {
	by := map[string]*FunctionLoad{}
	get := func(name string) *FunctionLoad {
		l, ok := by[name]
		if !ok {
			l = &FunctionLoad{Name: name}
			by[name] = l
		}
		return l
	}
	i.smu.Lock()
	for _, f := range i.fns {
		l := get(f.spec.Name)
		l.Busy += f.busy
		l.Queued += f.waiters.Len()
		l.Starting += f.starting
	}
	i.smu.Unlock()
	for name, n := range i.held.counts() {
		get(name).Warm += n
	}
	out := make([]FunctionLoad, 0, len(by))
	for _, name := range slices.Sorted(maps.Keys(by)) {
		out = append(out, *by[name])
	}
	return out
}
