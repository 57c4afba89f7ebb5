package sam

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// pathOf returns the path a node was given when it was taken from Globals,
// else fallback.
func (p *parser) pathOf(n *yaml.Node, fallback string) string {
	if o, ok := p.origins[n]; ok {
		return o
	}
	return fallback
}

// resolve evaluates every intrinsic function under n and returns a tree
// free of them, placed where the source was written. It returns nil, nil
// when n is absent or resolves to AWS::NoValue, which removes the key or
// list item holding it.
func (p *parser) resolve(n *yaml.Node, path string) (*yaml.Node, error) {
	if n == nil {
		return nil, nil
	}
	path = p.pathOf(n, path)
	d := deref(n)
	if d == nil {
		return nil, p.d.errf(n, path, "YAML alias refers to itself")
	}
	if isCustomTag(d.Tag) {
		if _, ok := longName(d.Tag); !ok {
			return nil, p.d.errf(d, path, "unknown tag %s", d.Tag)
		}
	}
	if fn, arg, ok := intrinsic(d, false); ok {
		return p.call(d, fn, arg, path)
	}
	switch d.Kind {
	case yaml.MappingNode:
		out := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Line: d.Line, Column: d.Column}
		p.origins[out] = path
		var errs []error
		for _, kv := range pairs(d) {
			v, err := p.resolve(kv.val, joinPath(path, kv.key))
			if err != nil {
				errs = append(errs, err)
				continue
			}
			if v != nil {
				out.Content = append(out.Content, kv.knode, v)
			}
		}
		return out, errors.Join(errs...)
	case yaml.SequenceNode:
		out := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq", Line: d.Line, Column: d.Column}
		p.origins[out] = path
		var errs []error
		for i, c := range d.Content {
			v, err := p.resolve(c, indexPath(path, i))
			if err != nil {
				errs = append(errs, err)
				continue
			}
			if v != nil {
				out.Content = append(out.Content, v)
			}
		}
		return out, errors.Join(errs...)
	}
	return d, nil
}

// resolveString resolves n to a string.
func (p *parser) resolveString(fn string, n *yaml.Node, path string) (string, error) {
	v, err := p.resolve(n, path)
	if err != nil {
		return "", err
	}
	if v == nil || v.Kind != yaml.ScalarNode {
		at := v
		if at == nil {
			at = deref(n)
		}
		return "", p.d.errf(at, path, "%s: want a string, got %s", fn, describe(v))
	}
	return v.Value, nil
}

// argList returns the items of fn's list argument; the static check has
// already vetted the shape, but values from Mappings were not checked.
func (p *parser) argList(fn string, at, arg *yaml.Node, path string, min, max int, shape string) ([]*yaml.Node, error) {
	a := deref(arg)
	if a == nil || a.Kind != yaml.SequenceNode || len(a.Content) < min || len(a.Content) > max {
		return nil, p.d.errf(at, path, "%s: want %s, got %s", fn, shape, describeArgs(a))
	}
	return a.Content, nil
}

// call evaluates one intrinsic function outside Conditions.
func (p *parser) call(at *yaml.Node, fn string, arg *yaml.Node, path string) (*yaml.Node, error) {
	switch fn {
	case "Ref":
		a := deref(arg)
		if a == nil || a.Kind != yaml.ScalarNode {
			return nil, p.d.errf(at, path, "Ref: want a name, got %s", describe(arg))
		}
		return p.ref(at, a.Value, path)
	case "Fn::GetAtt":
		res, attrNode, ok := splitGetAtt(arg)
		if !ok {
			return nil, p.d.errf(at, path, "Fn::GetAtt: want [resource, attribute] or \"resource.attribute\", got %s", describe(arg))
		}
		attr, err := p.resolveString(fn, attrNode, path)
		if err != nil {
			return nil, err
		}
		v, err := p.getAtt(at, res, attr, path)
		if err != nil {
			return nil, err
		}
		return scalarNode(at, v), nil
	case "Fn::Sub":
		return p.sub(at, arg, path)
	case "Fn::Join":
		items, err := p.argList(fn, at, arg, path, 2, 2, "[delimiter, [values...]]")
		if err != nil {
			return nil, err
		}
		delim, err := p.resolveString(fn, items[0], path)
		if err != nil {
			return nil, err
		}
		list, err := p.resolveList(fn, at, items[1], path)
		if err != nil {
			return nil, err
		}
		strs := make([]string, len(list))
		for i, it := range list {
			if it.Kind != yaml.ScalarNode {
				return nil, p.d.errf(it, path, "Fn::Join: list items must be strings, got %s", describe(it))
			}
			strs[i] = it.Value
		}
		return scalarNode(at, strings.Join(strs, delim)), nil
	case "Fn::Select":
		items, err := p.argList(fn, at, arg, path, 2, 2, "[index, [values...]]")
		if err != nil {
			return nil, err
		}
		idxStr, err := p.resolveString(fn, items[0], path)
		if err != nil {
			return nil, err
		}
		list, err := p.resolveList(fn, at, items[1], path)
		if err != nil {
			return nil, err
		}
		idx, err := strconv.Atoi(idxStr)
		if err != nil {
			return nil, p.d.errf(at, path, "Fn::Select: index %s is not an integer", quote(idxStr))
		}
		if idx < 0 || idx >= len(list) {
			return nil, p.d.errf(at, path, "Fn::Select: index %d is out of range for a list of %d", idx, len(list))
		}
		return list[idx], nil
	case "Fn::Split":
		items, err := p.argList(fn, at, arg, path, 2, 2, "[delimiter, string]")
		if err != nil {
			return nil, err
		}
		delim, err := p.resolveString(fn, items[0], path)
		if err != nil {
			return nil, err
		}
		src, err := p.resolveString(fn, items[1], path)
		if err != nil {
			return nil, err
		}
		if delim == "" {
			return nil, p.d.errf(at, path, "Fn::Split: the delimiter is empty")
		}
		var out []*yaml.Node
		for _, s := range strings.Split(src, delim) {
			out = append(out, scalarNode(at, s))
		}
		return seqNode(at, out), nil
	case "Fn::If":
		items, err := p.argList(fn, at, arg, path, 3, 3, "[condition name, value if true, value if false]")
		if err != nil {
			return nil, err
		}
		c := deref(items[0])
		if c == nil || c.Kind != yaml.ScalarNode {
			return nil, p.d.errf(at, path, "Fn::If: want a condition name first, got %s", describe(c))
		}
		ok, err := p.namedCondition(c.Value, c, path)
		if err != nil {
			return nil, err
		}
		if ok {
			return p.resolve(items[1], path)
		}
		return p.resolve(items[2], path)
	case "Fn::FindInMap":
		return p.findInMap(at, arg, path)
	case "Fn::Base64":
		s, err := p.resolveString(fn, arg, path)
		if err != nil {
			return nil, err
		}
		return scalarNode(at, base64.StdEncoding.EncodeToString([]byte(s))), nil
	case "Fn::GetAZs":
		region, err := p.resolveString(fn, arg, path)
		if err != nil {
			return nil, err
		}
		if region == "" {
			region = p.opts.Region
		}
		return seqNode(at, []*yaml.Node{scalarNode(at, region+"a"), scalarNode(at, region+"b"), scalarNode(at, region+"c")}), nil
	case "Fn::ImportValue":
		name, err := p.resolveString(fn, arg, path)
		if err != nil {
			return nil, err
		}
		// Another stack's export cannot exist here; a template mostly
		// passes it on as a string, so a stable placeholder stands in for
		// it, as for attributes ESB does not model.
		p.d.warn(at, path, "Fn::ImportValue %s: other stacks' exports do not exist locally; the placeholder %s stands in for it (pass the real value as a parameter to use it)", quote(name), quote(name))
		return scalarNode(at, name), nil
	case "Fn::ToJsonString":
		v, err := p.resolve(arg, path)
		if err != nil {
			return nil, err
		}
		var b strings.Builder
		writeJSON(&b, v)
		return scalarNode(at, b.String()), nil
	case "Fn::Length":
		list, err := p.resolveList(fn, at, arg, path)
		if err != nil {
			return nil, err
		}
		return scalarNode(at, strconv.Itoa(len(list))), nil
	case "Fn::Equals", "Fn::And", "Fn::Or", "Fn::Not", "Condition":
		return nil, p.d.errf(at, path, "%s can only be used in the Conditions section (use Fn::If with a named condition)", fn)
	}
	return nil, p.d.errf(at, path, "intrinsic function %s is not supported", fn)
}

func (p *parser) resolveList(fn string, at, n *yaml.Node, path string) ([]*yaml.Node, error) {
	v, err := p.resolve(n, path)
	if err != nil {
		return nil, err
	}
	if v == nil {
		return nil, nil
	}
	if v.Kind != yaml.SequenceNode {
		return nil, p.d.errf(at, path, "%s: want a list, got %s", fn, describe(v))
	}
	return v.Content, nil
}

func (p *parser) findInMap(at, arg *yaml.Node, path string) (*yaml.Node, error) {
	const fn = "Fn::FindInMap"
	items, err := p.argList(fn, at, arg, path, 3, 4, "[map name, top-level key, second-level key]")
	if err != nil {
		return nil, err
	}
	var names [3]string
	for i := range names {
		if names[i], err = p.resolveString(fn, items[i], path); err != nil {
			return nil, err
		}
	}
	// The optional fourth argument, {DefaultValue: x}, comes from
	// AWS::LanguageExtensions.
	var def *yaml.Node
	if len(items) == 4 {
		def = lookup(items[3], "DefaultValue")
		if def == nil {
			return nil, p.d.errf(items[3], path, "Fn::FindInMap: want {DefaultValue: value} as the fourth argument")
		}
	}
	m := lookup(p.mappings, names[0])
	if m == nil {
		return nil, p.d.errf(at, path, "Fn::FindInMap: unknown mapping %q%s", names[0], p.known("mappings", pairKeys(p.mappings)))
	}
	top := lookup(m, names[1])
	if top == nil {
		if def != nil {
			return p.resolve(def, path)
		}
		return nil, p.d.errf(at, path, "Fn::FindInMap: mapping %q has no key %q%s", names[0], names[1], p.known("keys", pairKeys(m)))
	}
	v := lookup(top, names[2])
	if v == nil {
		if def != nil {
			return p.resolve(def, path)
		}
		return nil, p.d.errf(at, path, "Fn::FindInMap: mapping %q has no key %q under %q%s", names[0], names[2], names[1], p.known("keys", pairKeys(top)))
	}
	return p.resolve(v, path)
}

func (p *parser) sub(at, arg *yaml.Node, path string) (*yaml.Node, error) {
	const fn = "Fn::Sub"
	a := deref(arg)
	var tmpl *yaml.Node
	vars := map[string]*yaml.Node{}
	switch {
	case a != nil && a.Kind == yaml.ScalarNode:
		tmpl = a
	case a != nil && a.Kind == yaml.SequenceNode && len(a.Content) == 2:
		tmpl = deref(a.Content[0])
		if tmpl == nil || tmpl.Kind != yaml.ScalarNode || !isMap(a.Content[1]) {
			return nil, p.d.errf(at, path, "Fn::Sub: want \"string\" or [\"string\", {Var: value}]")
		}
		for _, kv := range pairs(a.Content[1]) {
			v, err := p.resolve(kv.val, path)
			if err != nil {
				return nil, err
			}
			vars[kv.key] = v
		}
	default:
		return nil, p.d.errf(at, path, "Fn::Sub: want \"string\" or [\"string\", {Var: value}], got %s", describeArgs(a))
	}
	parts, err := parseSub(tmpl.Value)
	if err != nil {
		return nil, p.d.errorAt(tmpl, path, err)
	}
	var b strings.Builder
	for _, part := range parts {
		if !part.isVar {
			b.WriteString(part.text)
			continue
		}
		v, local := vars[part.text]
		switch {
		case local:
		case isPseudo(part.text) || !strings.Contains(part.text, "."):
			if v, err = p.ref(at, part.text, path); err != nil {
				return nil, err
			}
		default:
			res, attr, _ := strings.Cut(part.text, ".")
			get := p.getAtt
			if typ, _ := p.resourceType(res); isReferable(typ, attr) {
				get = p.refProperty // ${MyApi.Stage} is Ref MyApi.Stage, as in the transform
			}
			s, err := get(at, res, attr, path)
			if err != nil {
				return nil, err
			}
			v = scalarNode(at, s)
		}
		if v == nil || v.Kind != yaml.ScalarNode {
			return nil, p.d.errf(at, path, "Fn::Sub: ${%s} is %s, not a string (use Fn::Join for lists)", part.text, describe(v))
		}
		b.WriteString(v.Value)
	}
	return scalarNode(at, b.String()), nil
}

// namedCondition evaluates the condition called name, once.
func (p *parser) namedCondition(name string, at *yaml.Node, path string) (bool, error) {
	node, ok := p.conditions[name]
	if !ok {
		return false, p.d.errf(at, path, "unknown condition %q%s", name, p.known("conditions", keys(p.conditions)))
	}
	switch p.condState[name] {
	case 2:
		return p.condValue[name], p.condErr[name]
	case 1:
		return false, p.d.errf(at, path, "cyclic condition: %s -> %s", strings.Join(p.condStack, " -> "), name)
	}
	p.condState[name] = 1
	p.condStack = append(p.condStack, name)
	v, err := p.evalCondition(node, "Conditions."+name)
	p.condStack = p.condStack[:len(p.condStack)-1]
	p.condState[name] = 2
	p.condValue[name], p.condErr[name] = v, err
	return v, err
}

// evalCondition evaluates a condition function.
func (p *parser) evalCondition(n *yaml.Node, path string) (bool, error) {
	p.condDepth++
	defer func() { p.condDepth-- }()
	fn, arg, ok := intrinsic(n, true)
	at := deref(n)
	if !ok {
		return false, p.d.errf(at, path, "want a condition (Fn::Equals, Fn::And, Fn::Or, Fn::Not or Condition), got %s", describe(n))
	}
	switch fn {
	case "Fn::Equals":
		items, err := p.argList(fn, at, arg, path, 2, 2, "[value, value]")
		if err != nil {
			return false, err
		}
		a, err := p.resolve(items[0], path)
		if err != nil {
			return false, err
		}
		b, err := p.resolve(items[1], path)
		if err != nil {
			return false, err
		}
		return equalNodes(a, b), nil
	case "Fn::And", "Fn::Or":
		items, err := p.argList(fn, at, arg, path, 2, 10, "a list of 2 to 10 conditions")
		if err != nil {
			return false, err
		}
		result := fn == "Fn::And"
		for _, it := range items {
			v, err := p.evalCondition(it, path)
			if err != nil {
				return false, err
			}
			if fn == "Fn::And" {
				result = result && v
			} else {
				result = result || v
			}
		}
		return result, nil
	case "Fn::Not":
		items, err := p.argList(fn, at, arg, path, 1, 1, "a list of one condition")
		if err != nil {
			return false, err
		}
		v, err := p.evalCondition(items[0], path)
		return !v, err
	case "Condition":
		c := deref(arg)
		if c == nil || c.Kind != yaml.ScalarNode {
			return false, p.d.errf(at, path, "Condition: want a condition name, got %s", describe(arg))
		}
		return p.namedCondition(c.Value, c, path)
	}
	return false, p.d.errf(at, path, "%s is not a condition function (want Fn::Equals, Fn::And, Fn::Or, Fn::Not or Condition)", fn)
}

// writeJSON writes a resolved tree as compact JSON, keys in template
// order, as Fn::ToJsonString renders it. Numbers, booleans and null stay
// typed when YAML typed them.
func writeJSON(b *strings.Builder, n *yaml.Node) {
	str := func(s string) {
		data, _ := json.Marshal(s) // marshalling a string cannot fail
		b.Write(data)
	}
	switch {
	case n == nil || n.Tag == "!!null":
		b.WriteString("null")
	case n.Kind == yaml.MappingNode:
		b.WriteByte('{')
		for i, kv := range pairs(n) {
			if i > 0 {
				b.WriteByte(',')
			}
			str(kv.key)
			b.WriteByte(':')
			writeJSON(b, deref(kv.val))
		}
		b.WriteByte('}')
	case n.Kind == yaml.SequenceNode:
		b.WriteByte('[')
		for i, c := range n.Content {
			if i > 0 {
				b.WriteByte(',')
			}
			writeJSON(b, deref(c))
		}
		b.WriteByte(']')
	case n.Tag == "!!int" || n.Tag == "!!float" || n.Tag == "!!bool":
		if json.Valid([]byte(n.Value)) {
			b.WriteString(n.Value)
			return
		}
		str(n.Value)
	default:
		str(n.Value)
	}
}

func equalNodes(a, b *yaml.Node) bool {
	switch {
	case a == nil || b == nil:
		return a == b
	case a.Kind == yaml.ScalarNode && b.Kind == yaml.ScalarNode:
		return a.Value == b.Value
	case a.Kind == yaml.SequenceNode && b.Kind == yaml.SequenceNode:
		if len(a.Content) != len(b.Content) {
			return false
		}
		for i := range a.Content {
			if !equalNodes(a.Content[i], b.Content[i]) {
				return false
			}
		}
		return true
	}
	return false
}
