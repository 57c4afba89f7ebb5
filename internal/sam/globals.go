package sam

import "gopkg.in/yaml.v3"

// withGlobals merges the Globals section into a resource's properties the
// way the SAM transform does: the resource's value wins for scalars,
// mappings merge key by key, lists concatenate (globals first), and an
// intrinsic function counts as a scalar.
//
// IgnoreGlobals on the resource leaves out all of the section ("*") or the
// properties it names; naming one the section does not set is an error, as
// in the transform.
func (p *parser) withGlobals(r *rawResource, section string) *yaml.Node {
	props, propsPath := r.props, r.path+".Properties"
	g := p.globals[section]
	if g == nil || r.ignoreAll {
		return props
	}
	if len(r.ignore) > 0 {
		kept := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Line: g.Line, Column: g.Column}
		for _, kv := range pairs(g) {
			if !r.ignore[kv.key] {
				kept.Content = append(kept.Content, kv.knode, kv.val)
			}
		}
		for _, name := range sortedKeys(r.ignore) {
			if lookup(g, name) == nil {
				p.d.add(p.d.errf(lookup(r.node, "IgnoreGlobals"), r.path+".IgnoreGlobals", "Globals.%s does not set %s", section, quote(name)))
			}
		}
		g = kept
	}
	if props == nil {
		return g
	}
	return p.merge(g, props, "Globals."+section, propsPath)
}

func sortedKeys[V any](m map[string]V) []string {
	out := keys(m)
	sortStrings(out)
	return out
}

type mergeKind int

const (
	mergeScalar mergeKind = iota
	mergeMap
	mergeList
)

func kindForMerge(n *yaml.Node) mergeKind {
	if _, _, ok := intrinsic(n, false); ok {
		return mergeScalar
	}
	switch d := deref(n); {
	case d == nil:
		return mergeScalar
	case d.Kind == yaml.MappingNode:
		return mergeMap
	case d.Kind == yaml.SequenceNode:
		return mergeList
	}
	return mergeScalar
}

// merge merges global value g (at gPath) with local value l. Nodes kept from
// g are recorded with their Globals path; list items of l keep their own
// index (under lPath) although the
// merged list puts the global items first.
func (p *parser) merge(g, l *yaml.Node, gPath, lPath string) *yaml.Node {
	gk, lk := kindForMerge(g), kindForMerge(l)
	if gk != lk || gk == mergeScalar {
		return l
	}
	gd, ld := deref(g), deref(l)
	if gk == mergeList {
		out := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq", Line: ld.Line, Column: ld.Column}
		for i, c := range gd.Content {
			p.keepOrigin(c, indexPath(gPath, i))
			out.Content = append(out.Content, c)
		}
		for i, c := range ld.Content {
			p.keepOrigin(c, indexPath(lPath, i))
		}
		out.Content = append(out.Content, ld.Content...)
		return out
	}
	out := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Line: ld.Line, Column: ld.Column}
	local := map[string]*yaml.Node{}
	for _, kv := range pairs(ld) {
		local[kv.key] = kv.val
	}
	inGlobal := map[string]bool{}
	for _, kv := range pairs(gd) {
		inGlobal[kv.key] = true
		path := joinPath(gPath, kv.key)
		if lv, ok := local[kv.key]; ok {
			out.Content = append(out.Content, kv.knode, p.merge(kv.val, lv, path, joinPath(lPath, kv.key)))
			continue
		}
		p.keepOrigin(kv.val, path)
		out.Content = append(out.Content, kv.knode, kv.val)
	}
	for _, kv := range pairs(ld) {
		if !inGlobal[kv.key] {
			out.Content = append(out.Content, kv.knode, kv.val)
		}
	}
	return out
}

func (p *parser) keepOrigin(n *yaml.Node, path string) {
	if _, ok := p.origins[n]; !ok {
		p.origins[n] = path
	}
}
