package sam

import (
	"strings"

	"gopkg.in/yaml.v3"
)

// pseudoParams are the pseudo parameters CloudFormation defines.
func isPseudo(name string) bool {
	switch name {
	case "AWS::AccountId", "AWS::Region", "AWS::StackName", "AWS::StackId", "AWS::Partition",
		"AWS::URLSuffix", "AWS::NoValue", "AWS::NotificationARNs":
		return true
	}
	return false
}

// resourceType returns the type of a declared or SAM-generated resource.
func (p *parser) resourceType(id string) (string, bool) {
	if r, ok := p.resources[id]; ok {
		return r.typ, true
	}
	im, ok := p.implicit[id]
	return im.typ, ok
}

// checkReferences walks the whole template once and checks what
// CloudFormation checks before creating anything: every Ref, Fn::GetAtt,
// Fn::Sub variable, Fn::If and Condition names something that exists, and
// every intrinsic has the shape it needs. Values are not computed here.
func (p *parser) checkReferences(root *yaml.Node) {
	for _, s := range pairs(root) {
		switch s.key {
		case "Conditions":
			for _, c := range pairs(s.val) {
				p.check(c.val, "Conditions."+c.key, true)
			}
		case "Resources":
			for _, id := range p.order {
				r := p.resources[id]
				p.check(r.props, r.path+".Properties", false)
				if r.condition != "" {
					if _, ok := p.conditions[r.condition]; !ok {
						p.d.add(p.d.errf(r.condNode, r.path+".Condition", "unknown condition %q%s", r.condition, p.known("conditions", keys(p.conditions))))
					}
				}
				p.checkDependsOn(r)
			}
		case "Globals", "Outputs":
			p.check(s.val, s.key, false)
		}
	}
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

func (p *parser) checkDependsOn(r *rawResource) {
	dep := lookup(r.node, "DependsOn")
	if dep == nil {
		return
	}
	items := []*yaml.Node{dep}
	if d := deref(dep); d != nil && d.Kind == yaml.SequenceNode {
		items = d.Content
	}
	for _, it := range items {
		it = deref(it)
		if it == nil || it.Kind != yaml.ScalarNode {
			p.d.add(p.d.errf(it, r.path+".DependsOn", "want a logical ID or a list of them, got %s", describe(it)))
			continue
		}
		if _, ok := p.resourceType(it.Value); !ok {
			p.d.add(p.d.errf(it, r.path+".DependsOn", "unknown resource %q", it.Value))
		}
	}
}

// check validates the intrinsics under n. inCondition is true inside the
// Conditions section, where condition functions are allowed.
func (p *parser) check(n *yaml.Node, path string, inCondition bool) {
	n = deref(n)
	if n == nil {
		return
	}
	if isCustomTag(n.Tag) {
		if _, ok := longName(n.Tag); !ok {
			p.d.add(p.d.errf(n, path, "unknown tag %s (CloudFormation short forms are !Ref, !Sub, !GetAtt, !Join, !Select, !Split, !If, !Equals, !And, !Or, !Not, !Condition, !FindInMap, !ImportValue, !Base64, !GetAZs, !Cidr, !Transform, !Length, !ToJsonString)", n.Tag))
			return
		}
	}
	if name, arg, ok := intrinsic(n, true); ok {
		if name == "Condition" && !inCondition && !isCustomTag(n.Tag) {
			// {Condition: X} outside Conditions is an ordinary key.
		} else {
			p.checkIntrinsic(n, name, arg, path, inCondition)
			return
		}
	}
	switch n.Kind {
	case yaml.MappingNode:
		for _, kv := range pairs(n) {
			p.check(kv.val, joinPath(path, kv.key), inCondition)
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			p.check(c, indexPath(path, i), inCondition)
		}
	}
}

func indexPath(path string, i int) string {
	return path + "[" + itoa(i) + "]"
}

// args returns the items of a list argument, or nil with an error recorded
// when arg is not a list of a length in [min, max].
func (p *parser) args(fn string, arg *yaml.Node, path string, min, max int, shape string) []*yaml.Node {
	a := deref(arg)
	if a == nil || a.Kind != yaml.SequenceNode || len(a.Content) < min || len(a.Content) > max {
		p.d.add(p.d.errf(arg, path, "%s: want %s, got %s", fn, shape, describeArgs(a)))
		return nil
	}
	return a.Content
}

func describeArgs(n *yaml.Node) string {
	if n != nil && n.Kind == yaml.SequenceNode {
		return "a list of " + itoa(len(n.Content))
	}
	return describe(n)
}

func (p *parser) checkIntrinsic(at *yaml.Node, fn string, arg *yaml.Node, path string, inCondition bool) {
	switch fn {
	case "Ref":
		a := deref(arg)
		if a == nil || a.Kind != yaml.ScalarNode || isCustomTag(a.Tag) {
			p.d.add(p.d.errf(at, path, "Ref: want a parameter or resource name, got %s", describe(arg)))
			return
		}
		p.checkRefName(at, a.Value, path)
	case "Fn::GetAtt":
		p.checkGetAtt(at, arg, path)
	case "Fn::Sub":
		p.checkSub(at, arg, path)
	case "Fn::If":
		items := p.args(fn, arg, path, 3, 3, "[condition name, value if true, value if false]")
		if items == nil {
			return
		}
		p.checkConditionName(items[0], path)
		p.check(items[1], path, inCondition)
		p.check(items[2], path, inCondition)
	case "Condition":
		p.checkConditionName(arg, path)
	case "Fn::Equals":
		for _, it := range p.args(fn, arg, path, 2, 2, "[value, value]") {
			p.check(it, path, inCondition)
		}
	case "Fn::And", "Fn::Or":
		for _, it := range p.args(fn, arg, path, 2, 10, "a list of 2 to 10 conditions") {
			p.check(it, path, inCondition)
		}
	case "Fn::Not":
		for _, it := range p.args(fn, arg, path, 1, 1, "a list of one condition") {
			p.check(it, path, inCondition)
		}
	case "Fn::Join":
		for _, it := range p.args(fn, arg, path, 2, 2, "[delimiter, [values...]]") {
			p.check(it, path, inCondition)
		}
	case "Fn::Select":
		for _, it := range p.args(fn, arg, path, 2, 2, "[index, [values...]]") {
			p.check(it, path, inCondition)
		}
	case "Fn::Split":
		for _, it := range p.args(fn, arg, path, 2, 2, "[delimiter, string]") {
			p.check(it, path, inCondition)
		}
	case "Fn::FindInMap":
		items := p.args(fn, arg, path, 3, 4, "[map name, top-level key, second-level key]")
		if items == nil {
			return
		}
		if m := deref(items[0]); m != nil && m.Kind == yaml.ScalarNode && !isCustomTag(m.Tag) {
			if lookup(p.mappings, m.Value) == nil {
				p.d.add(p.d.errf(m, path, "Fn::FindInMap: unknown mapping %q%s", m.Value, p.known("mappings", pairKeys(p.mappings))))
			}
		}
		for _, it := range items {
			p.check(it, path, inCondition)
		}
	case "Fn::ToJsonString", "Fn::Length":
		if !p.langExt {
			p.d.add(p.d.errf(at, path, "%s needs %q in the template's Transform", fn, LanguageExtensions))
			return
		}
		p.check(arg, path, inCondition)
	default:
		p.check(arg, path, inCondition)
	}
}

func pairKeys(m *yaml.Node) []string {
	var out []string
	for _, kv := range pairs(m) {
		out = append(out, kv.key)
	}
	return out
}

func (p *parser) checkConditionName(n *yaml.Node, path string) {
	c := deref(n)
	if c == nil || c.Kind != yaml.ScalarNode || isCustomTag(c.Tag) {
		p.d.add(p.d.errf(n, path, "want a condition name, got %s", describe(n)))
		return
	}
	if _, ok := p.conditions[c.Value]; !ok {
		p.d.add(p.d.errf(c, path, "unknown condition %q%s", c.Value, p.known("conditions", keys(p.conditions))))
	}
}

// checkRefName checks the target of a Ref or of a ${Name} in Fn::Sub.
func (p *parser) checkRefName(at *yaml.Node, name, path string) {
	if _, ok := p.params[name]; ok || isPseudo(name) {
		return
	}
	if _, ok := p.resourceType(name); ok {
		return
	}
	// SAM lets generated resources be named through their source:
	// !Ref Function.Alias, !Ref MyApi.Stage.
	if base, prop, ok := strings.Cut(name, "."); ok {
		if t, ok := p.resourceType(base); ok && isReferable(t, prop) {
			return
		}
	}
	p.d.add(p.d.errf(at, path, "Ref to unknown %q (not a parameter, pseudo parameter or resource)", name))
}

func (p *parser) checkGetAtt(at *yaml.Node, arg *yaml.Node, path string) {
	res, attrNode, ok := splitGetAtt(arg)
	if !ok {
		p.d.add(p.d.errf(at, path, "Fn::GetAtt: want [resource, attribute] or \"resource.attribute\", got %s", describe(arg)))
		return
	}
	if _, ok := p.resourceType(res); !ok {
		p.d.add(p.d.errf(at, path, "Fn::GetAtt: unknown resource %q", res))
		return
	}
	if attrNode != nil {
		p.check(attrNode, path, false)
	}
}

// splitGetAtt accepts both "Res.Attr" and [Res, Attr]. The attribute may be
// computed (an intrinsic); then attrNode is returned instead of a name.
func splitGetAtt(arg *yaml.Node) (res string, attrNode *yaml.Node, ok bool) {
	a := deref(arg)
	if a == nil {
		return "", nil, false
	}
	switch a.Kind {
	case yaml.ScalarNode:
		r, attr, found := strings.Cut(a.Value, ".")
		if !found || r == "" || attr == "" {
			return "", nil, false
		}
		return r, scalarNode(a, attr), true
	case yaml.SequenceNode:
		if len(a.Content) != 2 {
			return "", nil, false
		}
		if name, ok := staticName(a.Content[0]); ok {
			return name, a.Content[1], true
		}
		return "", nil, false
	}
	return "", nil, false
}

// staticName is a logical ID written as a plain string, or as an Fn::Sub
// with nothing left to substitute: what Fn::ForEach leaves of
// !GetAtt [!Sub "${Name}Bucket", Arn] (AWS::LanguageExtensions).
func staticName(n *yaml.Node) (string, bool) {
	n = deref(n)
	if n == nil {
		return "", false
	}
	if v, ok := literal(n); ok && v != "" {
		return v, true
	}
	if fn, arg, ok := intrinsic(n, false); ok && fn == "Fn::Sub" {
		if v, ok := literal(arg); ok && v != "" && !strings.Contains(v, "${") {
			return v, true
		}
	}
	return "", false
}

func (p *parser) checkSub(at *yaml.Node, arg *yaml.Node, path string) {
	a := deref(arg)
	var tmpl *yaml.Node
	var vars *yaml.Node
	switch {
	case a != nil && a.Kind == yaml.ScalarNode && !isCustomTag(a.Tag):
		tmpl = a
	case a != nil && a.Kind == yaml.SequenceNode && len(a.Content) == 2:
		tmpl, vars = deref(a.Content[0]), a.Content[1]
		if tmpl == nil || tmpl.Kind != yaml.ScalarNode || isCustomTag(tmpl.Tag) || !isMap(vars) {
			p.d.add(p.d.errf(at, path, "Fn::Sub: want \"string\" or [\"string\", {Var: value}], got %s", describeArgs(a)))
			return
		}
	default:
		p.d.add(p.d.errf(at, path, "Fn::Sub: want \"string\" or [\"string\", {Var: value}], got %s", describeArgs(a)))
		return
	}
	local := map[string]bool{}
	for _, kv := range pairs(vars) {
		local[kv.key] = true
		p.check(kv.val, path, false)
	}
	parts, err := parseSub(tmpl.Value)
	if err != nil {
		p.d.add(p.d.errorAt(tmpl, path, err))
		return
	}
	for _, part := range parts {
		if !part.isVar || local[part.text] {
			continue
		}
		if isPseudo(part.text) {
			continue
		}
		if res, _, ok := strings.Cut(part.text, "."); ok {
			if _, known := p.resourceType(res); !known {
				p.d.add(p.d.errf(tmpl, path, "Fn::Sub: ${%s} names unknown resource %q", part.text, res))
			}
			continue
		}
		if _, ok := p.params[part.text]; ok {
			continue
		}
		if _, ok := p.resourceType(part.text); ok {
			continue
		}
		p.d.add(p.d.errf(tmpl, path, "Fn::Sub: ${%s} is not a parameter, pseudo parameter, resource or variable", part.text))
	}
}

// subPart is literal text or a ${Var} of an Fn::Sub string.
type subPart struct {
	text  string
	isVar bool
}

// parseSub splits an Fn::Sub string. "${!X}" is the literal "${X}".
func parseSub(s string) ([]subPart, error) {
	var parts []subPart
	var lit strings.Builder
	for {
		i := strings.Index(s, "${")
		if i < 0 {
			lit.WriteString(s)
			break
		}
		lit.WriteString(s[:i])
		rest := s[i+2:]
		if strings.HasPrefix(rest, "!") {
			lit.WriteString("${")
			s = rest[1:]
			continue
		}
		j := strings.IndexByte(rest, '}')
		if j < 0 {
			return nil, &subError{s[i:]}
		}
		name := rest[:j]
		if name == "" {
			return nil, &subError{s[i : i+3+j]}
		}
		if lit.Len() > 0 {
			parts = append(parts, subPart{text: lit.String()})
			lit.Reset()
		}
		parts = append(parts, subPart{text: name, isVar: true})
		s = rest[j+1:]
	}
	if lit.Len() > 0 {
		parts = append(parts, subPart{text: lit.String()})
	}
	return parts, nil
}

type subError struct{ at string }

func (e *subError) Error() string {
	return "Fn::Sub: malformed variable " + quote(e.at) + " (want ${Name}; write ${!Name} for a literal ${Name})"
}

// known renders ", known X: a, b" for "unknown" messages, so the fix is in
// the message.
func (p *parser) known(what string, names []string) string {
	if len(names) == 0 {
		return " (the template has no " + what + ")"
	}
	sortStrings(names)
	if len(names) > 10 {
		names = append(names[:10], "...")
	}
	return " (known " + what + ": " + strings.Join(names, ", ") + ")"
}
