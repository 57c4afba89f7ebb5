package sam

import (
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// obj is a mapping being read, raw or already resolved, with its path.
type obj struct {
	n    *yaml.Node
	path string
}

// value is a resolved scalar with where it was written.
type value struct {
	s    string
	n    *yaml.Node
	path string
}

// field resolves key of o. It returns nil when the key is absent, null or
// AWS::NoValue. Errors are recorded.
func (p *parser) field(o obj, key string) (*yaml.Node, string) {
	raw := lookup(o.n, key)
	path := p.pathOf(raw, joinPath(o.path, key))
	if raw == nil {
		return nil, path
	}
	v, err := p.resolve(raw, path)
	if err != nil {
		p.d.add(err)
		return nil, path
	}
	if isNull(v) {
		return nil, path
	}
	return v, p.pathOf(v, path)
}

// str reads a string property. CloudFormation accepts numbers and booleans
// where it wants strings, so any scalar is taken as written.
func (p *parser) str(o obj, key string) (value, bool) {
	v, path := p.field(o, key)
	if v == nil {
		return value{path: path}, false
	}
	if v.Kind != yaml.ScalarNode {
		p.d.add(p.d.errf(v, path, "want a string, got %s", describe(v)))
		return value{path: path}, false
	}
	return value{s: v.Value, n: v, path: path}, true
}

// required reads a string property that must be present.
func (p *parser) required(o obj, key, why string) (value, bool) {
	before := len(p.d.errs)
	v, ok := p.str(o, key)
	if !ok && len(p.d.errs) == before {
		p.d.add(p.d.errf(o.n, joinPath(o.path, key), "required%s", why))
	}
	return v, ok
}

// integer reads an integer property within [min, max]; def when absent.
func (p *parser) integer(o obj, key string, def, min, max int) int {
	v, path := p.field(o, key)
	if v == nil {
		return def
	}
	if v.Kind != yaml.ScalarNode {
		p.d.add(p.d.errf(v, path, "want an integer, got %s", describe(v)))
		return def
	}
	i, err := strconv.Atoi(strings.TrimSpace(v.Value))
	if err != nil {
		p.d.add(p.d.errf(v, path, "want an integer, got %s", describe(v)))
		return def
	}
	if i < min || i > max {
		p.d.add(p.d.errf(v, path, "%d is out of range [%d, %d]", i, min, max))
		return def
	}
	return i
}

// boolean reads a boolean property; nil when absent.
func (p *parser) boolean(o obj, key string) *bool {
	v, path := p.field(o, key)
	if v == nil {
		return nil
	}
	if v.Kind == yaml.ScalarNode {
		switch strings.ToLower(v.Value) {
		case "true":
			b := true
			return &b
		case "false":
			b := false
			return &b
		}
	}
	p.d.add(p.d.errf(v, path, "want true or false, got %s", describe(v)))
	return nil
}

// strList reads a list of strings.
func (p *parser) strList(o obj, key string) ([]value, bool) {
	v, path := p.field(o, key)
	if v == nil {
		return nil, false
	}
	if v.Kind != yaml.SequenceNode {
		p.d.add(p.d.errf(v, path, "want a list, got %s", describe(v)))
		return nil, false
	}
	var out []value
	ok := true
	for i, it := range v.Content {
		ip := p.pathOf(it, indexPath(path, i))
		if it.Kind != yaml.ScalarNode || isNull(it) {
			p.d.add(p.d.errf(it, ip, "want a string, got %s", describe(it)))
			ok = false
			continue
		}
		out = append(out, value{s: it.Value, n: it, path: ip})
	}
	return out, ok
}

func strs(vs []value) []string {
	if len(vs) == 0 {
		return nil
	}
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = v.s
	}
	return out
}

// object reads a nested mapping.
func (p *parser) object(o obj, key string) (obj, bool) {
	v, path := p.field(o, key)
	if v == nil {
		return obj{path: path}, false
	}
	if v.Kind != yaml.MappingNode {
		p.d.add(p.d.errf(v, path, "want a mapping, got %s", describe(v)))
		return obj{path: path}, false
	}
	return obj{n: v, path: path}, true
}

// objects reads a list of mappings.
func (p *parser) objects(o obj, key string) []obj {
	v, path := p.field(o, key)
	if v == nil {
		return nil
	}
	if v.Kind != yaml.SequenceNode {
		p.d.add(p.d.errf(v, path, "want a list, got %s", describe(v)))
		return nil
	}
	var out []obj
	for i, it := range v.Content {
		ip := p.pathOf(it, indexPath(path, i))
		if it.Kind != yaml.MappingNode {
			p.d.add(p.d.errf(it, ip, "want a mapping, got %s", describe(it)))
			continue
		}
		out = append(out, obj{n: it, path: ip})
	}
	return out
}

// plain reads a property as plain data (maps, lists, scalars) for fields
// ESB passes through untouched, such as a bucket's lifecycle rules.
func (p *parser) plain(o obj, key string) map[string]any {
	v, path := p.field(o, key)
	if v == nil {
		return nil
	}
	if v.Kind != yaml.MappingNode {
		p.d.add(p.d.errf(v, path, "want a mapping, got %s", describe(v)))
		return nil
	}
	var out map[string]any
	if err := v.Decode(&out); err != nil {
		p.d.add(p.d.errorAt(v, path, err))
		return nil
	}
	return out
}

// oneOf checks v against the allowed values.
func (p *parser) oneOf(v value, allowed ...string) bool {
	if contains(allowed, v.s) {
		return true
	}
	p.d.add(p.d.errf(v.n, v.path, "%s is not one of %s", quote(v.s), strings.Join(allowed, ", ")))
	return false
}
