package sam

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"
)

// Error is one problem at one place of a template. It prints as
// "file:line:col: Path.In.Template: message", the form editors and CI
// annotators turn into a link.
type Error struct {
	File   string // the template path as the caller named it
	Line   int    // 1-based; 0 when the problem has no place in the file
	Column int    // 1-based; 0 when only the line is known
	Path   string // e.g. "Resources.HelloFunction.Properties.Runtime"
	Err    error
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
		if e.Column > 0 {
			fmt.Fprintf(&b, ":%d", e.Column)
		}
	}
	b.WriteString(": ")
	if e.Path != "" {
		b.WriteString(e.Path)
		b.WriteString(": ")
	}
	b.WriteString(e.Err.Error())
	return b.String()
}

// Unwrap returns the underlying error.
func (e *Error) Unwrap() error { return e.Err }

// Warning is something ESB skips or cannot reproduce locally, although the
// template is valid for AWS.
type Warning struct {
	File    string
	Line    int
	Column  int
	Path    string
	Message string
}

// String formats the warning like an Error.
func (w Warning) String() string {
	e := Error{File: w.File, Line: w.Line, Column: w.Column, Path: w.Path, Err: errors.New(w.Message)}
	return e.Error()
}

// diag collects errors and warnings while a template is parsed, so one run
// reports every independent problem instead of the first one.
type diag struct {
	file  string
	errs  []error
	seen  map[string]bool
	warns []Warning
	wseen map[string]bool
}

func newDiag(file string) *diag {
	return &diag{file: file, seen: map[string]bool{}, wseen: map[string]bool{}}
}

// errorAt builds a positioned error; n may be nil for problems that have no
// place in the file (a parameter override for instance).
func (d *diag) errorAt(n *yaml.Node, path string, err error) *Error {
	e := &Error{File: d.file, Path: path, Err: err}
	if n != nil {
		e.Line, e.Column = n.Line, n.Column
	}
	return e
}

func (d *diag) errf(n *yaml.Node, path, format string, args ...any) *Error {
	return d.errorAt(n, path, fmt.Errorf(format, args...))
}

// add records err. A Globals value is merged into every function, so the
// same error would otherwise be reported once per function.
func (d *diag) add(err error) {
	if err == nil {
		return
	}
	if many, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range many.Unwrap() {
			d.add(e)
		}
		return
	}
	msg := err.Error()
	if d.seen[msg] {
		return
	}
	d.seen[msg] = true
	d.errs = append(d.errs, err)
}

func (d *diag) warn(n *yaml.Node, path, format string, args ...any) {
	w := Warning{File: d.file, Path: path, Message: fmt.Sprintf(format, args...)}
	if n != nil {
		w.Line, w.Column = n.Line, n.Column
	}
	key := w.String()
	if d.wseen[key] {
		return
	}
	d.wseen[key] = true
	d.warns = append(d.warns, w)
}

// err returns the errors found so far, in file order, so the list reads top
// to bottom like the template.
func (d *diag) err() error {
	errs := append([]error(nil), d.errs...)
	pos := func(e error) (int, int) {
		var pe *Error
		if errors.As(e, &pe) {
			return pe.Line, pe.Column
		}
		return 0, 0
	}
	sort.SliceStable(errs, func(i, j int) bool {
		li, ci := pos(errs[i])
		lj, cj := pos(errs[j])
		if li != lj {
			return li < lj
		}
		return ci < cj
	})
	return errors.Join(errs...)
}
