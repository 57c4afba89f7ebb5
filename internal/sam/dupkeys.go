package sam

import (
	"strconv"

	"gopkg.in/yaml.v3"
)

// checkDuplicateKeys rejects a mapping that has the same key twice, as
// cfn-lint does. YAML parsers disagree on which value wins (the SAM CLI
// keeps the last, this parser's lookups would see the first), so
// accepting such a template would pick a handler, a path or a policy by
// accident. Aliases are not followed: a duplicate inside an anchored
// mapping is reported once, where the mapping is written.
func (p *parser) checkDuplicateKeys(root *yaml.Node) {
	var walk func(n *yaml.Node, path string, depth int)
	walk = func(n *yaml.Node, path string, depth int) {
		if n == nil || n.Kind == yaml.AliasNode || depth > maxAliasDepth*10 {
			return
		}
		switch n.Kind {
		case yaml.MappingNode:
			first := map[string]*yaml.Node{}
			for i := 0; i+1 < len(n.Content); i += 2 {
				k := n.Content[i]
				if k.Kind != yaml.ScalarNode || k.Tag == "!!merge" {
					walk(n.Content[i+1], path, depth+1)
					continue
				}
				kp := joinPath(path, k.Value)
				if prev, dup := first[k.Value]; dup {
					p.d.add(p.d.errf(k, kp, "duplicate key %s (first at line %s); CloudFormation rejects the template and YAML tools disagree on which value wins",
						quote(k.Value), strconv.Itoa(prev.Line)))
				} else {
					first[k.Value] = k
				}
				walk(n.Content[i+1], kp, depth+1)
			}
		case yaml.SequenceNode:
			for i, c := range n.Content {
				walk(c, indexPath(path, i), depth+1)
			}
		}
	}
	walk(root, "", 0)
}
