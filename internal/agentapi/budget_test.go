package agentapi

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/esb-dev/esb/internal/runtimeconfig"
)

func warmSpec(name string, minWarm, memory int) FunctionSpec {
	return FunctionSpec{Name: name, Function: runtimeconfig.Function{MemorySize: memory, Scaling: runtimeconfig.Scaling{MinWarm: minWarm}}}
}

func TestBudgetCheck(t *testing.T) {
	b := Budget{MemoryMB: 4096, Concurrency: 5}
	tests := []struct {
		name string
		fns  []FunctionSpec
		want []string
	}{
		{"fits to the megabyte", []FunctionSpec{warmSpec("A", 2, 1024), warmSpec("B", 2, 1024)}, nil},
		{"default memory counts as 128 MB", []FunctionSpec{warmSpec("A", 5, 0)}, nil},
		{"one function alone", []FunctionSpec{warmSpec("Z", 4, 1280), warmSpec("A", 5, 1024)}, []string{
			"function A: min_warm 5 x 1024 MB = 5120 MB exceeds the node's memory for functions (4096 MB, ESB_FUNCTION_MEMORY)",
			"function Z: min_warm 4 x 1280 MB = 5120 MB exceeds the node's memory for functions (4096 MB, ESB_FUNCTION_MEMORY)",
			"min_warm of all functions is 9, more than the account concurrency (5, ESB_ACCOUNT_CONCURRENCY)",
		}},
		{"only together", []FunctionSpec{warmSpec("A", 2, 1280), warmSpec("B", 2, 1280)}, []string{
			"min_warm of all functions takes 5120 MB, more than the node's memory for functions (4096 MB, ESB_FUNCTION_MEMORY)",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, p := range b.Check(tt.fns) {
				got = append(got, p.String())
			}
			assert.Equal(t, tt.want, got)
		})
	}
	assert.Empty(t, Budget{}.Check([]FunctionSpec{warmSpec("A", 1000, 10240)}), "no budget: no bound")
}
