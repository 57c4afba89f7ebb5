package deploy

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/esb-dev/esb/internal/agentapi"
	"github.com/esb-dev/esb/internal/runtimeconfig"
	"github.com/esb-dev/esb/internal/sam"
)

// checkBudget refuses, before anything is built, a deploy whose warm
// containers (ProvisionedConcurrencyConfig, min_warm) would not fit the
// node's budget together with those of the functions the env has
// already: the agent would refuse the new desired state once the gateway
// serves it. Problems of the template's own functions point at their
// ProvisionedConcurrencyConfig. The agent checks again when the gateway
// pushes the state (a deploy racing this one, a budget changed since),
// and `esb deploy` reports that refusal too (AwaitServed).
func checkBudget(tmpl *sam.Template, budget *agentapi.Budget, previous map[string]runtimeconfig.Function, generated runtimeconfig.Config) error {
	if budget == nil {
		return nil
	}
	fns := maps.Clone(previous)
	if fns == nil {
		fns = map[string]runtimeconfig.Function{}
	}
	maps.Copy(fns, generated.Functions.Functions)
	specs := make([]agentapi.FunctionSpec, 0, len(fns))
	for _, name := range slices.Sorted(maps.Keys(fns)) {
		specs = append(specs, agentapi.FunctionSpec{Name: name, Function: fns[name]})
	}
	problems := budget.Check(specs)
	if len(problems) == 0 {
		return nil
	}
	own := map[string]sam.Function{}
	var warm []sam.Function // the template's functions that ask for warm containers
	for _, f := range tmpl.Functions {
		own[f.Name] = f
		if f.ProvisionedConcurrency > 0 {
			warm = append(warm, f)
		}
	}
	var errs []error
	for _, p := range problems {
		if f, ok := own[p.Function]; ok {
			errs = append(errs, warmField(tmpl, f, p.Message))
			continue
		}
		if p.Function != "" { // the env's own, from an earlier deploy: the budget shrank since
			errs = append(errs, &sam.Error{File: tmpl.Path, Err: fmt.Errorf("function %s, deployed before: %s", p.Function, p.Message)})
			continue
		}
		msg := p.Message + " (" + warmShares(specs, own) + ")"
		if len(warm) == 0 {
			errs = append(errs, &sam.Error{File: tmpl.Path, Err: errors.New(msg)})
			continue
		}
		errs = append(errs, warmField(tmpl, warm[0], msg))
	}
	return errors.Join(errs...)
}

// warmField places msg at f's ProvisionedConcurrentExecutions. The
// template is positioned at ProvisionedConcurrencyConfig's value, whose
// first line holds that field.
func warmField(tmpl *sam.Template, f sam.Function, msg string) *sam.Error {
	e := sam.FunctionFieldError(tmpl, f, "ProvisionedConcurrencyConfig", errors.New(msg))
	if strings.HasSuffix(e.Path, ".ProvisionedConcurrencyConfig") {
		e.Path += ".ProvisionedConcurrentExecutions"
	}
	return e
}

// warmShares says which functions take the warm containers: this
// template's and the env's others, as "this template: A 2 x 1280 MB;
// already in the env: B 2 x 1280 MB".
func warmShares(specs []agentapi.FunctionSpec, own map[string]sam.Function) string {
	var mine, theirs []string
	for _, s := range specs {
		n := s.Function.Scaling.MinWarm
		if n == 0 {
			continue
		}
		share := fmt.Sprintf("%s %d x %d MB", s.Name, n, s.MemoryMB())
		if _, ok := own[s.Name]; ok {
			mine = append(mine, share)
		} else {
			theirs = append(theirs, share)
		}
	}
	var parts []string
	if len(mine) > 0 {
		parts = append(parts, "this template: "+strings.Join(mine, ", "))
	}
	if len(theirs) > 0 {
		parts = append(parts, "already in the env: "+strings.Join(theirs, ", "))
	}
	return strings.Join(parts, "; ")
}
