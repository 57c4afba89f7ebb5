package sam

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/dlclark/regexp2/v2"
	"gopkg.in/yaml.v3"
)

// param is a declared template parameter and, after resolveParameters, its
// value.
type param struct {
	name  string
	path  string
	key   *yaml.Node
	decl  *yaml.Node
	typ   string
	list  bool
	value *yaml.Node // scalar, or a list for list types
}

func itoa(i int) string { return strconv.Itoa(i) }

func sortStrings(s []string) { sort.Strings(s) }

func (p *parser) readParameterDecls(params *yaml.Node) {
	if isNull(params) {
		return
	}
	if !isMap(params) {
		p.d.add(p.d.errf(params, "Parameters", "want a mapping, got %s", describe(params)))
		return
	}
	for _, kv := range pairs(params) {
		path := "Parameters." + kv.key
		if !logicalIDPattern.MatchString(kv.key) {
			p.d.add(p.d.errf(kv.knode, path, "parameter name must be alphanumeric (A-Z, a-z, 0-9)"))
			continue
		}
		if !isMap(kv.val) {
			p.d.add(p.d.errf(kv.val, path, "want a mapping with Type (and Default, AllowedValues...), got %s", describe(kv.val)))
			continue
		}
		typNode := deref(lookup(kv.val, "Type"))
		if typNode == nil || typNode.Kind != yaml.ScalarNode {
			p.d.add(p.d.errf(kv.val, path+".Type", "missing; want String, Number, List<Number>, CommaDelimitedList or an AWS-specific type"))
			continue
		}
		typ := typNode.Value
		list := false
		switch {
		case typ == "String", typ == "Number":
		case typ == "CommaDelimitedList", typ == "List<Number>", typ == "List<String>":
			list = true
		case strings.HasPrefix(typ, "AWS::SSM::Parameter::Value<"):
			list = strings.HasPrefix(typ, "AWS::SSM::Parameter::Value<List<") || typ == "AWS::SSM::Parameter::Value<CommaDelimitedList>"
			p.d.warn(typNode, path+".Type", "ESB has no SSM Parameter Store; the parameter's literal value is used instead of the value stored under that name")
		case strings.HasPrefix(typ, "List<AWS::"):
			list = true
		case strings.HasPrefix(typ, "AWS::"):
		default:
			p.d.add(p.d.errf(typNode, path+".Type", "unsupported parameter type %q (want String, Number, List<Number>, CommaDelimitedList or an AWS-specific type)", typ))
			continue
		}
		p.params[kv.key] = &param{name: kv.key, path: path, key: kv.knode, decl: kv.val, typ: typ, list: list}
		p.paramOrder = append(p.paramOrder, kv.key)
	}
}

// resolveParameters picks each parameter's value (override, else Default)
// and checks it against the parameter's constraints, as CloudFormation does
// when a stack is created.
func (p *parser) resolveParameters() {
	var unknown []string
	for name := range p.opts.ParameterOverrides {
		if _, ok := p.params[name]; !ok {
			unknown = append(unknown, name)
		}
	}
	sortStrings(unknown)
	for _, name := range unknown {
		p.d.add(p.d.errf(nil, "", "parameter override %q: the template declares no such parameter%s", name, p.known("parameters", keys(p.params))))
	}
	for _, name := range p.paramOrder {
		p.resolveParameter(p.params[name])
	}
}

func (p *parser) resolveParameter(pr *param) {
	raw, overridden := p.opts.ParameterOverrides[pr.name]
	at := pr.key
	source := "value"
	if !overridden {
		def := lookup(pr.decl, "Default")
		if def == nil {
			p.d.add(p.d.errf(pr.key, pr.path, "parameter %q has no Default and no value was given (pass it as a parameter override %s=...)", pr.name, pr.name))
			return
		}
		d := deref(def)
		if d == nil || d.Kind != yaml.ScalarNode || isCustomTag(d.Tag) {
			p.d.add(p.d.errf(def, pr.path+".Default", "want a string, got %s", describe(def)))
			return
		}
		raw, at, source = d.Value, d, "Default"
		if d.Tag == "!!null" {
			raw = ""
		}
	}
	var values []string
	if pr.list {
		if raw != "" {
			for _, v := range strings.Split(raw, ",") {
				// CloudFormation trims each member of a list parameter.
				values = append(values, strings.TrimSpace(v))
			}
		}
	} else {
		values = []string{raw}
	}
	describeValue := func(v string) string {
		if overridden {
			return "override value " + quote(v)
		}
		return source + " " + quote(v)
	}
	ok := true
	fail := func(n *yaml.Node, path, format string, args ...any) {
		p.d.add(p.d.errf(n, path, format, args...))
		ok = false
	}
	numeric := pr.typ == "Number" || pr.typ == "List<Number>"
	for _, v := range values {
		if numeric {
			if _, err := strconv.ParseFloat(v, 64); err != nil {
				fail(at, pr.path, "%s is not a number", describeValue(v))
			}
		}
	}
	if av := lookup(pr.decl, "AllowedValues"); av != nil {
		allowed := scalarList(av)
		if allowed == nil {
			fail(av, pr.path+".AllowedValues", "want a list of values, got %s", describe(av))
		} else {
			for _, v := range values {
				if !contains(allowed, v) {
					fail(at, pr.path, "%s is not one of the AllowedValues (%s)", describeValue(v), strings.Join(allowed, ", "))
				}
			}
		}
	}
	if ap := deref(lookup(pr.decl, "AllowedPattern")); ap != nil && ap.Kind == yaml.ScalarNode {
		re, err := allowedPattern(ap.Value)
		if err != nil {
			p.d.add(p.d.errorAt(ap, pr.path+".AllowedPattern", fmt.Errorf("invalid pattern: %w", err)))
			ok = false
		} else {
			for _, v := range values {
				matched, err := re.MatchString(v)
				switch {
				case err != nil:
					fail(at, pr.path, "%s: AllowedPattern %s: %s", describeValue(v), ap.Value, err.Error())
				case !matched:
					fail(at, pr.path, "%s does not match AllowedPattern %s", describeValue(v), ap.Value)
				}
			}
		}
	}
	for _, c := range []struct {
		key  string
		test func(v string, limit float64) bool
		what string
	}{
		{"MinLength", func(v string, l float64) bool { return float64(len(v)) >= l }, "is shorter than MinLength"},
		{"MaxLength", func(v string, l float64) bool { return float64(len(v)) <= l }, "is longer than MaxLength"},
		{"MinValue", func(v string, l float64) bool { f, err := strconv.ParseFloat(v, 64); return err != nil || f >= l }, "is below MinValue"},
		{"MaxValue", func(v string, l float64) bool { f, err := strconv.ParseFloat(v, 64); return err != nil || f <= l }, "is above MaxValue"},
	} {
		ln := deref(lookup(pr.decl, c.key))
		if ln == nil {
			continue
		}
		limit, err := strconv.ParseFloat(ln.Value, 64)
		if err != nil || ln.Kind != yaml.ScalarNode {
			fail(ln, pr.path+"."+c.key, "want a number, got %s", describe(ln))
			continue
		}
		for _, v := range values {
			if !c.test(v, limit) {
				fail(at, pr.path, "%s %s %s", describeValue(v), c.what, ln.Value)
			}
		}
	}
	if !ok {
		return
	}
	if pr.list {
		items := make([]*yaml.Node, len(values))
		for i, v := range values {
			items[i] = scalarNode(at, v)
		}
		pr.value = seqNode(at, items)
		return
	}
	pr.value = scalarNode(at, raw)
}

// allowedPatternTimeout bounds one match: a backtracking engine can take
// exponential time on a hostile pattern.
const allowedPatternTimeout = time.Second

// allowedPattern compiles an AllowedPattern. CloudFormation matches it
// with Java's regex engine against the whole value; Go's RE2 lacks
// lookaround and backreferences, which real templates use (password rules
// such as (?=.*[0-9])), so a backtracking engine with those features is
// used, anchored at both ends.
func allowedPattern(pattern string) (*regexp2.Regexp, error) {
	re, err := regexp2.Compile(`\A(?:`+javaClasses(pattern)+`)\z`, regexp2.None)
	if err != nil {
		return nil, err
	}
	re.MatchTimeout = allowedPatternTimeout
	return re, nil
}

// javaPOSIX are Java's POSIX character classes (\p{Print}...), which
// the engine lacks, as the ranges Java gives them (US-ASCII only).
func javaPOSIX(name string) (string, bool) {
	switch name {
	case "Lower":
		return `a-z`, true
	case "Upper":
		return `A-Z`, true
	case "ASCII":
		return `\x00-\x7F`, true
	case "Alpha":
		return `a-zA-Z`, true
	case "Digit":
		return `0-9`, true
	case "Alnum":
		return `a-zA-Z0-9`, true
	case "Punct":
		return `!-/:-@\[-` + "`" + `{-~`, true
	case "Graph":
		return `\x21-\x7E`, true
	case "Print":
		return `\x20-\x7E`, true
	case "Blank":
		return ` \t`, true
	case "Cntrl":
		return `\x00-\x1F\x7F`, true
	case "XDigit":
		return `0-9a-fA-F`, true
	case "Space":
		return ` \t\n\x0B\f\r`, true
	}
	return "", false
}

// javaClasses rewrites Java's POSIX classes in a pattern into ranges:
// inside a bracket expression as bare ranges, outside as one.
func javaClasses(pattern string) string {
	var b strings.Builder
	inClass := false
	for i := 0; i < len(pattern); i++ {
		c := pattern[i]
		if c == '\\' && i+1 < len(pattern) {
			next := pattern[i+1]
			if (next == 'p' || next == 'P') && i+2 < len(pattern) && pattern[i+2] == '{' {
				if end := strings.IndexByte(pattern[i+3:], '}'); end >= 0 {
					if ranges, ok := javaPOSIX(pattern[i+3 : i+3+end]); ok && !(inClass && next == 'P') {
						switch {
						case inClass:
							b.WriteString(ranges)
						case next == 'P':
							b.WriteString("[^" + ranges + "]")
						default:
							b.WriteString("[" + ranges + "]")
						}
						i += 3 + end
						continue
					}
				}
			}
			b.WriteByte(c)
			b.WriteByte(next)
			i++
			continue
		}
		switch {
		case c == '[' && !inClass:
			inClass = true
		case c == ']' && inClass:
			inClass = false
		}
		b.WriteByte(c)
	}
	return b.String()
}

// scalarList returns the values of a list of scalars, or nil.
func scalarList(n *yaml.Node) []string {
	n = deref(n)
	if n == nil || n.Kind != yaml.SequenceNode {
		return nil
	}
	out := make([]string, 0, len(n.Content))
	for _, c := range n.Content {
		c = deref(c)
		if c == nil || c.Kind != yaml.ScalarNode {
			return nil
		}
		out = append(out, c.Value)
	}
	return out
}

func contains(list []string, v string) bool {
	for _, s := range list {
		if s == v {
			return true
		}
	}
	return false
}
