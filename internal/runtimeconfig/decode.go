package runtimeconfig

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Files holds the encoded bytes of the three config files. A nil slice is an
// empty file, which decodes to the empty form.
type Files struct {
	Functions []byte
	Routing   []byte
	Resources []byte
}

// Get returns the bytes of the file called name.
func (f Files) Get(name string) []byte {
	switch name {
	case FunctionsFileName:
		return f.Functions
	case RoutingFileName:
		return f.Routing
	default:
		return f.Resources
	}
}

// set stores data as the file called name.
func (f *Files) set(name string, data []byte) {
	switch name {
	case FunctionsFileName:
		f.Functions = data
	case RoutingFileName:
		f.Routing = data
	default:
		f.Resources = data
	}
}

// byName returns the three files keyed by file name.
func (f Files) byName() map[string][]byte {
	out := make(map[string][]byte, len(FileNames))
	for _, name := range FileNames {
		out[name] = f.Get(name)
	}
	return out
}

// Empty returns the empty config: no functions, no routes, no resources.
// Decoding an empty file, or one whose top-level key is null, gives the same
// value, so Empty can be compared with what Load returns.
func Empty() Config {
	return Config{
		Functions: FunctionsFile{Functions: map[string]Function{}},
		Routing:   RoutingFile{Routes: []Route{}},
	}
}

// Decode decodes the three files and validates them, each on its own and
// against each other (every route names a known function). Unknown fields
// are kept, never rejected. Every problem is reported, joined, as a
// *FieldError naming file, line, column and field.
func Decode(files Files) (Config, error) {
	fns, fnsSrc, fnsErr := decodeFunctions(files.Functions)
	routing, routingSrc, routingErr := decodeRouting(files.Routing)
	res, resSrc, resErr := decodeResources(files.Resources)
	// Report everything wrong in one go: a file that decoded is validated
	// even when another did not, so a user fixes all files in one round.
	errs := []error{fnsErr}
	if fnsErr == nil {
		errs = append(errs, validateFunctions(fns, fnsSrc)...)
	}
	if routingErr == nil {
		known := fns.Functions
		if fnsErr != nil {
			known = nil // unknown, not empty: do not call every route dangling
		}
		errs = append(errs, validateRouting(routing, routingSrc, known)...)
	} else {
		errs = append(errs, routingErr)
	}
	if resErr == nil {
		errs = append(errs, validateResources(res, resSrc)...)
	} else {
		errs = append(errs, resErr)
	}
	if err := errors.Join(errs...); err != nil {
		return Config{}, err
	}
	return Config{Functions: fns, Routing: routing, Resources: res}, nil
}

// DecodeFunctions decodes and validates functions.yml on its own.
func DecodeFunctions(data []byte) (FunctionsFile, error) {
	f, src, err := decodeFunctions(data)
	if err != nil {
		return FunctionsFile{}, err
	}
	if err := errors.Join(validateFunctions(f, src)...); err != nil {
		return FunctionsFile{}, err
	}
	return f, nil
}

// DecodeRouting decodes and validates routing.yml on its own; whether each
// route's function exists is checked by Decode, which sees functions.yml too.
func DecodeRouting(data []byte) (RoutingFile, error) {
	r, src, err := decodeRouting(data)
	if err != nil {
		return RoutingFile{}, err
	}
	if err := errors.Join(validateRouting(r, src, nil)...); err != nil {
		return RoutingFile{}, err
	}
	return r, nil
}

// DecodeResources decodes and validates resources.yml on its own.
func DecodeResources(data []byte) (ResourcesFile, error) {
	r, src, err := decodeResources(data)
	if err != nil {
		return ResourcesFile{}, err
	}
	if err := errors.Join(validateResources(r, src)...); err != nil {
		return ResourcesFile{}, err
	}
	return r, nil
}

func decodeFunctions(data []byte) (FunctionsFile, source, error) {
	var f FunctionsFile
	src, err := decodeYAML(FunctionsFileName, data, &f)
	if f.Functions == nil {
		f.Functions = map[string]Function{}
	}
	return f, src, err
}

func decodeRouting(data []byte) (RoutingFile, source, error) {
	var r RoutingFile
	src, err := decodeYAML(RoutingFileName, data, &r)
	if r.Routes == nil {
		r.Routes = []Route{}
	}
	return r, src, err
}

func decodeResources(data []byte) (ResourcesFile, source, error) {
	var r ResourcesFile
	src, err := decodeYAML(ResourcesFileName, data, &r)
	return r, src, err
}

// decodeYAML decodes data into out through a yaml.Node, and returns the node
// so that later validation can name lines. Decoding is deliberately not
// strict: the contract says readers ignore fields they do not know, and the
// inline Extra maps keep them for the next write.
func decodeYAML(file string, data []byte, out any) (source, error) {
	src := source{file: file}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return src, nil
		}
		return src, syntaxError(file, err)
	}
	// A second document would be silently ignored by every reader; refuse
	// it so that nobody edits a part of the file that has no effect.
	var next yaml.Node
	switch err := dec.Decode(&next); {
	case errors.Is(err, io.EOF):
	case err != nil:
		return src, syntaxError(file, err)
	default:
		return src, &FieldError{File: file, Line: next.Line, Column: next.Column, Msg: "more than one YAML document"}
	}
	if len(doc.Content) == 0 {
		return src, nil
	}
	root := doc.Content[0]
	if root.Kind == yaml.ScalarNode && root.Tag == "!!null" {
		return src, nil
	}
	if root.Kind != yaml.MappingNode {
		return src, &FieldError{File: file, Line: root.Line, Column: root.Column, Msg: "top level must be a mapping"}
	}
	if err := root.Decode(out); err != nil {
		return src, typeErrors(file, err)
	}
	src.root = root
	return src, nil
}

// syntaxError turns yaml.v3's "yaml: line N: msg" into a FieldError so that
// every problem, syntax or schema, reads "file:line: ...".
func syntaxError(file string, err error) error {
	line, msg := cutLine(strings.TrimPrefix(err.Error(), "yaml: "))
	return &FieldError{File: file, Line: line, Msg: "invalid YAML: " + msg, Err: err}
}

// typeErrors splits a *yaml.TypeError, which lists every value that did not
// fit its field as "line N: msg", into one FieldError per value.
func typeErrors(file string, err error) error {
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		return fmt.Errorf("decode %s: %w", file, err)
	}
	errs := make([]error, 0, len(te.Errors))
	for _, s := range te.Errors {
		line, msg := cutLine(s)
		errs = append(errs, &FieldError{File: file, Line: line, Msg: msg, Err: err})
	}
	return errors.Join(errs...)
}

// cutLine splits yaml.v3's "line N: msg" into N and msg; a message without
// a line comes back whole with line 0.
func cutLine(s string) (int, string) {
	rest, ok := strings.CutPrefix(s, "line ")
	if !ok {
		return 0, s
	}
	num, msg, ok := strings.Cut(rest, ": ")
	if !ok {
		return 0, s
	}
	n, err := strconv.Atoi(num)
	if err != nil {
		return 0, s
	}
	return n, msg
}
