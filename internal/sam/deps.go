package sam

import (
	"strings"

	"gopkg.in/yaml.v3"
)

// checkCycles rejects resources that depend on each other through Ref,
// Fn::GetAtt, Fn::Sub or DependsOn, as CloudFormation does ("circular
// dependency"), on the template as the transform leaves it:
//   - properties the transform turns into resources of their own are left
//     out (a function's Events, DeploymentPreference, EventInvokeConfig and
//     FunctionUrlConfig, a state machine's Events, an API's Domain), so an
//     API whose OpenAPI body names the function and an event naming the
//     API is no cycle, nor is a pre-traffic hook that names the version it
//     tests;
//   - resources whose Condition is false do not exist, and of an Fn::If
//     only the branch its condition picks counts.
func (p *parser) checkCycles() {
	deps := map[string][]string{}
	for _, id := range p.order {
		r := p.resources[id]
		if r.skipped {
			continue
		}
		seen := map[string]bool{}
		add := func(dep string) {
			// A generated resource (an alias, a function URL, a stage)
			// depends on the one it is generated from, so naming it is
			// naming that one; a generated role is the other way round.
			if im, generated := p.implicit[dep]; generated && im.parent != "" && im.typ != typeIAMRole {
				dep = im.parent
			}
			if d, ok := p.resources[dep]; ok && !d.skipped && !seen[dep] {
				seen[dep] = true
				deps[id] = append(deps[id], dep)
			}
		}
		for _, kv := range pairs(r.props) {
			switch {
			case generatedApart(r.typ, kv.key):
				continue
			case r.typ == TypeServerlessAPI && kv.key == "EndpointConfiguration" && isMap(kv.val):
				// The transform keeps only Type and VPCEndpointIds of it.
				p.collectDeps(lookup(kv.val, "Type"), add, 0)
				p.collectDeps(lookup(kv.val, "VPCEndpointIds"), add, 0)
				continue
			}
			p.collectDeps(kv.val, add, 0)
		}
		if dep := deref(lookup(r.node, "DependsOn")); dep != nil {
			if dep.Kind == yaml.ScalarNode {
				add(dep.Value)
			}
			for _, c := range dep.Content {
				if c := deref(c); c != nil {
					add(c.Value)
				}
			}
		}
	}
	const (
		unvisited = iota
		visiting
		done
	)
	state := map[string]int{}
	var stack []string
	var visit func(id string) bool
	visit = func(id string) bool {
		switch state[id] {
		case visiting:
			start := 0
			for i, s := range stack {
				if s == id {
					start = i
				}
			}
			cycle := append(append([]string{}, stack[start:]...), id)
			r := p.resources[cycle[0]]
			p.d.add(p.d.errf(r.node, r.path, "circular dependency: %s", strings.Join(cycle, " -> ")))
			return false
		case done:
			return true
		}
		state[id] = visiting
		stack = append(stack, id)
		for _, d := range deps[id] {
			if !visit(d) {
				return false
			}
		}
		stack = stack[:len(stack)-1]
		state[id] = done
		return true
	}
	for _, id := range p.order {
		if state[id] == unvisited && !visit(id) {
			return
		}
	}
}

// generatedApart reports a property the transform moves into resources
// of its own, which the resource itself then does not depend on.
func generatedApart(typ, prop string) bool {
	switch typ {
	case TypeServerlessFunction:
		switch prop {
		case "Events", "DeploymentPreference", "EventInvokeConfig", "FunctionUrlConfig":
			return true
		}
	case typeStateMachine:
		return prop == "Events" || prop == "DeploymentPreference"
	case TypeServerlessAPI, TypeServerlessHTTPAPI:
		return prop == "Domain"
	case typeWebSocketAPI:
		return prop == "Domain" || prop == "Routes" // routes become integration resources
	case typeGraphQLAPI:
		switch prop { // each becomes resources that depend on the API
		case "DataSources", "Functions", "Resolvers", "ApiKeys", "DomainName", "Cache":
			return true
		}
	}
	return false
}

// collectDeps reports each resource n references.
func (p *parser) collectDeps(n *yaml.Node, add func(string), depth int) {
	n = deref(n)
	if n == nil || depth > maxAliasDepth*10 {
		return
	}
	if fn, arg, ok := intrinsic(n, false); ok {
		switch fn {
		case "Fn::If":
			if a := deref(arg); a != nil && a.Kind == yaml.SequenceNode && len(a.Content) == 3 {
				if name, ok := literal(a.Content[0]); ok && p.condState[name] == 2 && p.condErr[name] == nil {
					branch := a.Content[2]
					if p.condValue[name] {
						branch = a.Content[1]
					}
					p.collectDeps(branch, add, depth+1)
					return
				}
			}
		case "Ref":
			if a := deref(arg); a != nil && a.Kind == yaml.ScalarNode {
				base, _, _ := strings.Cut(a.Value, ".")
				add(base)
			}
		case "Fn::GetAtt":
			if res, _, ok := splitGetAtt(arg); ok {
				add(res)
			}
		case "Fn::Sub":
			a := deref(arg)
			if a != nil && a.Kind == yaml.SequenceNode && len(a.Content) > 0 {
				a = deref(a.Content[0])
			}
			if a != nil && a.Kind == yaml.ScalarNode {
				if parts, err := parseSub(a.Value); err == nil {
					for _, part := range parts {
						if part.isVar {
							base, _, _ := strings.Cut(part.text, ".")
							add(base)
						}
					}
				}
			}
		}
	}
	for _, c := range n.Content {
		p.collectDeps(c, add, depth+1)
	}
}
