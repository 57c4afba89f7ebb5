package sam

import (
	"strings"

	"gopkg.in/yaml.v3"
)

// maxAliasDepth bounds alias chains; yaml.v3 accepts an alias to its own
// ancestor, so following aliases blindly could loop forever.
const maxAliasDepth = 100

// deref follows aliases to the node they name. It returns nil for an alias
// chain that does not end.
func deref(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode; i++ {
		if i == maxAliasDepth {
			return nil
		}
		n = n.Alias
	}
	return n
}

// pair is one key/value of a mapping node.
type pair struct {
	key   string
	knode *yaml.Node
	val   *yaml.Node
}

// pairs lists a mapping's entries in document order.
func pairs(m *yaml.Node) []pair {
	m = deref(m)
	if m == nil || m.Kind != yaml.MappingNode {
		return nil
	}
	out := make([]pair, 0, len(m.Content)/2)
	for i := 0; i+1 < len(m.Content); i += 2 {
		k := deref(m.Content[i])
		if k == nil {
			continue
		}
		out = append(out, pair{key: k.Value, knode: k, val: m.Content[i+1]})
	}
	return out
}

// lookup returns the value under key in mapping m, or nil.
func lookup(m *yaml.Node, key string) *yaml.Node {
	for _, p := range pairs(m) {
		if p.key == key {
			return p.val
		}
	}
	return nil
}

func isMap(n *yaml.Node) bool {
	n = deref(n)
	return n != nil && n.Kind == yaml.MappingNode
}

// isNull reports an explicit YAML null (`~`, `null` or nothing).
func isNull(n *yaml.Node) bool {
	n = deref(n)
	return n == nil || (n.Kind == yaml.ScalarNode && n.Tag == "!!null")
}

// describe names a node's kind for "want X, got Y" messages.
func describe(n *yaml.Node) string {
	n = deref(n)
	switch {
	case n == nil:
		return "nothing"
	case n.Kind == yaml.MappingNode:
		return "a mapping"
	case n.Kind == yaml.SequenceNode:
		return "a list"
	case n.Tag == "!!null":
		return "null"
	case n.Tag == "!!bool":
		return "a boolean " + n.Value
	case n.Tag == "!!int" || n.Tag == "!!float":
		return "the number " + n.Value
	default:
		return quote(n.Value)
	}
}

// quote renders a user value for a message, shortened so a huge value
// cannot flood the terminal.
func quote(s string) string {
	const max = 200
	if len(s) > max {
		s = s[:max] + "..."
	}
	return `"` + strings.ReplaceAll(s, `"`, `\"`) + `"`
}

// longName maps a CloudFormation short-form tag to its long-form function
// name.
func longName(tag string) (string, bool) {
	switch tag {
	case "!Ref":
		return "Ref", true
	case "!Condition":
		return "Condition", true
	case "!Sub", "!GetAtt", "!Join", "!Select", "!Split", "!If", "!Equals", "!And", "!Or", "!Not",
		"!FindInMap", "!ImportValue", "!Base64", "!GetAZs", "!Cidr", "!Transform", "!Length", "!ToJsonString":
		return "Fn::" + tag[1:], true
	}
	return "", false
}

// isCustomTag reports a local tag such as !Ref; "!!str" and friends are
// YAML's own.
func isCustomTag(tag string) bool {
	return strings.HasPrefix(tag, "!") && !strings.HasPrefix(tag, "!!")
}

// intrinsic recognises an intrinsic function call in short form (!Ref X) or
// long form ({Ref: X}) and returns its long name and argument. withCondition
// also accepts {Condition: X}, which is a function only inside Conditions;
// elsewhere "Condition" is an ordinary key.
func intrinsic(n *yaml.Node, withCondition bool) (name string, arg *yaml.Node, ok bool) {
	n = deref(n)
	if n == nil {
		return "", nil, false
	}
	if isCustomTag(n.Tag) {
		name, ok := longName(n.Tag)
		if !ok {
			return "", nil, false
		}
		if name == "Condition" && !withCondition {
			return "", nil, false
		}
		arg := *n
		switch n.Kind {
		case yaml.ScalarNode:
			arg.Tag = "!!str"
		case yaml.SequenceNode:
			arg.Tag = "!!seq"
		case yaml.MappingNode:
			arg.Tag = "!!map"
		}
		return name, &arg, true
	}
	if n.Kind != yaml.MappingNode || len(n.Content) != 2 {
		return "", nil, false
	}
	k := deref(n.Content[0])
	if k == nil || k.Kind != yaml.ScalarNode {
		return "", nil, false
	}
	switch {
	case k.Value == "Ref", strings.HasPrefix(k.Value, "Fn::"):
		return k.Value, n.Content[1], true
	case k.Value == "Condition" && withCondition:
		return k.Value, n.Content[1], true
	}
	return "", nil, false
}

// scalarNode makes a string node placed where the intrinsic that produced it
// was written, so later errors about the value point there.
func scalarNode(at *yaml.Node, v string) *yaml.Node {
	n := &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: v}
	if at != nil {
		n.Line, n.Column = at.Line, at.Column
	}
	return n
}

func seqNode(at *yaml.Node, items []*yaml.Node) *yaml.Node {
	n := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq", Content: items}
	if at != nil {
		n.Line, n.Column = at.Line, at.Column
	}
	return n
}

func joinPath(base, key string) string {
	if base == "" {
		return key
	}
	return base + "." + key
}

// emptyMap stands in for an omitted Properties mapping, placed at its owner
// so "required" errors point there.
func emptyMap(at *yaml.Node) *yaml.Node {
	return &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Line: at.Line, Column: at.Column}
}
