package runtimeconfig

import (
	"fmt"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// FieldError is one problem in one config file. Line and Column are 1-based
// and zero when the value was not decoded from a file (a Config built in
// memory, or the result of a merge).
type FieldError struct {
	File   string // base name, e.g. "routing.yml"
	Line   int
	Column int
	Field  string // e.g. "routes[3].method"; empty when the file as a whole is at fault
	Msg    string
	Err    error // underlying decode error, if any
}

// Error formats the problem as "routing.yml:12:5: routes[3].method: msg",
// the form editors and CI logs turn into links.
func (e *FieldError) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		b.WriteString(":" + strconv.Itoa(e.Line))
		if e.Column > 0 {
			b.WriteString(":" + strconv.Itoa(e.Column))
		}
	}
	b.WriteString(": ")
	if e.Field != "" {
		b.WriteString(e.Field + ": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Unwrap returns the underlying decode error, if any.
func (e *FieldError) Unwrap() error { return e.Err }

// fieldPath names a value inside one file as map keys (string) and list
// indexes (int). Validation speaks in paths rather than nodes so that it runs
// the same on decoded and in-memory configs; the path is turned back into a
// line only when a source tree is at hand.
type fieldPath []any

// with returns a new path; copying keeps sibling paths built from the same
// prefix from overwriting each other through a shared backing array.
func (p fieldPath) with(segs ...any) fieldPath {
	out := make(fieldPath, 0, len(p)+len(segs))
	return append(append(out, p...), segs...)
}

func (p fieldPath) String() string {
	var b strings.Builder
	for i, seg := range p {
		switch seg := seg.(type) {
		case int:
			b.WriteString("[" + strconv.Itoa(seg) + "]")
		case string:
			switch {
			case seg == "" || strings.ContainsAny(seg, ".[]\"' \t"):
				b.WriteString("[" + strconv.Quote(seg) + "]")
			case i > 0:
				b.WriteString("." + seg)
			default:
				b.WriteString(seg)
			}
		default:
			b.WriteString(fmt.Sprint(seg))
		}
	}
	return b.String()
}

// source is the YAML tree one file was decoded from, kept only to find the
// line of a field path.
type source struct {
	file string
	root *yaml.Node // top-level mapping; nil for an empty or in-memory file
}

// position returns where the value at p was written. When p leads to a
// field that is absent, it returns the position of the closest present
// ancestor, so "image must not be empty" points at the function's key.
func (s source) position(p fieldPath) (line, col int) {
	n := s.root
	if n == nil {
		return 0, 0
	}
	line, col = n.Line, n.Column
	for _, seg := range p {
		for n.Kind == yaml.AliasNode && n.Alias != nil {
			n = n.Alias
		}
		switch seg := seg.(type) {
		case string:
			if n.Kind != yaml.MappingNode {
				return line, col
			}
			var next *yaml.Node
			for i := 0; i+1 < len(n.Content); i += 2 {
				if k := n.Content[i]; k.Value == seg {
					line, col = k.Line, k.Column
					next = n.Content[i+1]
					break
				}
			}
			if next == nil {
				return line, col
			}
			n = next
		case int:
			if n.Kind != yaml.SequenceNode || seg < 0 || seg >= len(n.Content) {
				return line, col
			}
			n = n.Content[seg]
			line, col = n.Line, n.Column
		}
	}
	return line, col
}

// problems collects the FieldErrors of one file.
type problems struct {
	src  source
	errs []error
}

func (p *problems) add(path fieldPath, format string, args ...any) {
	line, col := p.src.position(path)
	p.errs = append(p.errs, &FieldError{
		File:   p.src.file,
		Line:   line,
		Column: col,
		Field:  path.String(),
		Msg:    fmt.Sprintf(format, args...),
	})
}
