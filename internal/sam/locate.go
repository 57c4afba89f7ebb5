package sam

import (
	"os"

	"gopkg.in/yaml.v3"
)

// FunctionFieldError positions a problem found after parsing (the deploy's
// build and architecture checks) at a property of a function: where the
// function sets it, else where Globals.Function does, else at the function.
// The template is read again from t.Path; without it (a template parsed
// from memory) the error carries the path alone.
func FunctionFieldError(t *Template, f Function, prop string, err error) *Error {
	e := &Error{File: t.Path, Path: "Resources." + f.LogicalID + ".Properties." + prop, Err: err}
	src, rerr := os.ReadFile(t.Path)
	if t.Path == "" || rerr != nil {
		return e
	}
	var doc yaml.Node
	if yaml.Unmarshal(src, &doc) != nil || len(doc.Content) == 0 {
		return e
	}
	root := doc.Content[0]
	fn := lookup(lookup(root, "Resources"), f.LogicalID)
	at := func(n *yaml.Node, path string) *Error {
		e.Path, e.Line, e.Column = path, n.Line, n.Column
		return e
	}
	if n := lookup(lookup(fn, "Properties"), prop); n != nil {
		return at(n, e.Path)
	}
	if n := lookup(lookup(lookup(root, "Globals"), "Function"), prop); n != nil {
		return at(n, "Globals.Function."+prop)
	}
	if fn != nil {
		return at(fn, "Resources."+f.LogicalID)
	}
	return e
}
