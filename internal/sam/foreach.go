package sam

import (
	"strings"

	"gopkg.in/yaml.v3"
)

// LanguageExtensions is the transform that adds Fn::ForEach,
// Fn::ToJsonString, Fn::Length and Fn::FindInMap's DefaultValue.
const LanguageExtensions = "AWS::LanguageExtensions"

const forEachPrefix = "Fn::ForEach::"

// hasTransform reports whether the Transform section names name.
func hasTransform(transform *yaml.Node, name string) bool {
	tn := deref(transform)
	if tn == nil {
		return false
	}
	switch tn.Kind {
	case yaml.ScalarNode:
		return tn.Value == name
	case yaml.SequenceNode:
		for _, c := range tn.Content {
			if c := deref(c); c != nil && c.Kind == yaml.ScalarNode && c.Value == name {
				return true
			}
		}
	}
	return false
}

// expandForEach replaces every Fn::ForEach::<Name> key under n by the
// entries it stands for, as the AWS::LanguageExtensions transform does
// before anything else reads the template. params gives the raw Parameters
// section, for collections written as a Ref to a list parameter.
func (p *parser) expandForEach(n *yaml.Node, path string, depth int) {
	n = deref(n)
	if n == nil || depth > maxAliasDepth {
		return
	}
	switch n.Kind {
	case yaml.SequenceNode:
		for i, c := range n.Content {
			p.expandForEach(c, indexPath(path, i), depth+1)
		}
	case yaml.MappingNode:
		var out []*yaml.Node
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := deref(n.Content[i]), n.Content[i+1]
			if k == nil || !strings.HasPrefix(k.Value, forEachPrefix) {
				p.expandForEach(v, joinPath(path, keyOf(k)), depth+1)
				out = append(out, n.Content[i], v)
				continue
			}
			kp := joinPath(path, k.Value)
			if !p.langExt {
				p.d.add(p.d.errf(k, kp, "Fn::ForEach needs %q in the template's Transform", LanguageExtensions))
				continue
			}
			entries, ok := p.forEach(k, v, kp)
			if !ok {
				continue
			}
			// The generated entries may hold loops of their own, which
			// can use this loop's identifier in their collection.
			gen := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Content: entries}
			p.expandForEach(gen, path, depth+1)
			out = append(out, gen.Content...)
		}
		n.Content = out
	}
}

func keyOf(k *yaml.Node) string {
	if k == nil {
		return ""
	}
	return k.Value
}

// forEach expands one loop: [Identifier, Collection, {OutputKey: OutputValue}].
func (p *parser) forEach(k, v *yaml.Node, path string) ([]*yaml.Node, bool) {
	args := deref(v)
	if args == nil || args.Kind != yaml.SequenceNode || len(args.Content) != 3 {
		p.d.add(p.d.errf(v, path, "Fn::ForEach: want [identifier, collection, {output key: output value}], got %s", describeArgs(args)))
		return nil, false
	}
	id, ok := literal(args.Content[0])
	if !ok || id == "" {
		p.d.add(p.d.errf(args.Content[0], path, "Fn::ForEach: want an identifier first, got %s", describe(args.Content[0])))
		return nil, false
	}
	items, ok := p.collection(args.Content[1], path)
	if !ok {
		return nil, false
	}
	body := deref(args.Content[2])
	if body == nil || body.Kind != yaml.MappingNode {
		p.d.add(p.d.errf(args.Content[2], path, "Fn::ForEach: want a mapping of output key to output value third, got %s", describe(args.Content[2])))
		return nil, false
	}
	// Loops multiply the template; the same bound as for YAML aliases keeps
	// a small template from expanding without end.
	p.expandedNodes += len(items) * countNodes(body, maxNodes+1)
	if p.expandedNodes > maxNodes {
		p.d.add(p.d.errf(k, path, "Fn::ForEach: the template is too large once loops are expanded (over %d nodes)", maxNodes))
		return nil, false
	}
	var out []*yaml.Node
	for _, item := range items {
		for _, kv := range pairs(body) {
			out = append(out, substitute(kv.knode, id, item), substitute(kv.val, id, item))
		}
	}
	return out, true
}

// collection returns the values a loop runs over: a literal list, a Ref to
// a list parameter (its override, else its Default) or an Fn::FindInMap
// with literal keys.
func (p *parser) collection(n *yaml.Node, path string) ([]string, bool) {
	c := deref(n)
	if c != nil && c.Kind == yaml.SequenceNode {
		if vals := scalarList(c); vals != nil {
			return vals, true
		}
	}
	fn, arg, ok := intrinsic(c, false)
	switch {
	case ok && fn == "Ref":
		name, _ := literal(arg)
		if pr, ok := p.params[name]; ok && pr.list {
			raw, overridden := p.opts.ParameterOverrides[name]
			if !overridden {
				raw, _ = literal(lookup(pr.decl, "Default"))
			}
			var vals []string
			for _, s := range strings.Split(raw, ",") {
				if s = strings.TrimSpace(s); s != "" {
					vals = append(vals, s)
				}
			}
			return vals, true
		}
	case ok && fn == "Fn::FindInMap":
		if keys := scalarList(arg); len(keys) == 3 {
			if vals := scalarList(lookup(lookup(lookup(p.mappings, keys[0]), keys[1]), keys[2])); vals != nil {
				return vals, true
			}
		}
	}
	p.d.add(p.d.errf(n, path, "Fn::ForEach: the collection must be a list, a Ref to a list parameter or an Fn::FindInMap of a list, got %s", describe(n)))
	return nil, false
}

// substitute copies n with the loop identifier replaced by value: Ref id
// becomes the value, ${id} in Fn::Sub strings, Fn::GetAtt names and keys
// becomes the value, and &{id} in keys the value's letters and digits.
func substitute(n *yaml.Node, id, value string) *yaml.Node {
	d := deref(n)
	if d == nil {
		return n
	}
	if fn, arg, ok := intrinsic(d, false); ok && fn == "Ref" {
		if name, _ := literal(arg); name == id {
			return scalarNode(d, value)
		}
	}
	c := *d
	if c.Kind == yaml.ScalarNode {
		c.Value = strings.ReplaceAll(c.Value, "${"+id+"}", value)
		c.Value = strings.ReplaceAll(c.Value, "&{"+id+"}", alnum(value))
		return &c
	}
	c.Content = make([]*yaml.Node, len(d.Content))
	for i, ch := range d.Content {
		c.Content[i] = substitute(ch, id, value)
	}
	return &c
}
