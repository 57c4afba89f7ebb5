package agentapi

import (
	"fmt"
	"sort"
)

// Budget is what a node gives function containers: the memory for them
// (the agent's FUNCTION_MEMORY, ESB_FUNCTION_MEMORY in compose) and the
// account concurrency (ACCOUNT_CONCURRENCY). The min_warm containers of a
// desired state must fit it: the agent refuses a state that does not
// (CodeOverBudget), and `esb deploy` checks the merged config against the
// budget the agent reports before it writes anything.
type Budget struct {
	MemoryMB    int `json:"memory_mb,omitempty"`   // 0: unbounded
	Concurrency int `json:"concurrency,omitempty"` // 0: unbounded
}

// BudgetProblem is one way a desired state's min_warm containers do not
// fit a Budget.
type BudgetProblem struct {
	Function string // the function that alone does not fit; empty: all of them together
	Message  string
}

// Check returns why the min_warm containers of fns do not fit b, in a
// stable order; nil when they fit. A function that alone exceeds the
// memory is named, and then the sum is not reported again.
func (b Budget) Check(fns []FunctionSpec) []BudgetProblem {
	var out []BudgetProblem
	mb, warm := 0, 0
	for _, s := range fns {
		n := s.Function.Scaling.MinWarm
		mb += n * s.MemoryMB()
		warm += n
		if b.MemoryMB > 0 && n*s.MemoryMB() > b.MemoryMB {
			out = append(out, BudgetProblem{Function: s.Name, Message: fmt.Sprintf(
				"min_warm %d x %d MB = %d MB exceeds the node's memory for functions (%d MB, ESB_FUNCTION_MEMORY)",
				n, s.MemoryMB(), n*s.MemoryMB(), b.MemoryMB)})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Function < out[j].Function })
	if b.MemoryMB > 0 && mb > b.MemoryMB && len(out) == 0 {
		out = append(out, BudgetProblem{Message: fmt.Sprintf(
			"min_warm of all functions takes %d MB, more than the node's memory for functions (%d MB, ESB_FUNCTION_MEMORY)", mb, b.MemoryMB)})
	}
	if b.Concurrency > 0 && warm > b.Concurrency {
		out = append(out, BudgetProblem{Message: fmt.Sprintf(
			"min_warm of all functions is %d, more than the account concurrency (%d, ESB_ACCOUNT_CONCURRENCY)", warm, b.Concurrency)})
	}
	return out
}

// String is the problem as one line, naming its function.
func (p BudgetProblem) String() string {
	if p.Function == "" {
		return p.Message
	}
	return "function " + p.Function + ": " + p.Message
}
