package runtimeconfig

import (
	"bytes"
	"fmt"

	"gopkg.in/yaml.v3"
)

// Marshal encodes the three files. The output is deterministic (yaml.v3
// sorts map keys, so functions come out by name; routes and resources keep
// their order), which lets a merge skip files whose content did not change
// and lets the gateway compare snapshots by bytes. Empty files come out as
// "functions: {}", "routes: []" and "resources: {}".
func Marshal(c Config) (Files, error) {
	var (
		files Files
		err   error
	)
	if files.Functions, err = MarshalFunctions(c.Functions); err != nil {
		return Files{}, err
	}
	if files.Routing, err = MarshalRouting(c.Routing); err != nil {
		return Files{}, err
	}
	if files.Resources, err = MarshalResources(c.Resources); err != nil {
		return Files{}, err
	}
	return files, nil
}

// MarshalFunctions encodes functions.yml.
func MarshalFunctions(f FunctionsFile) ([]byte, error) {
	if f.Functions == nil {
		f.Functions = map[string]Function{} // "functions: {}" rather than null
	}
	return encodeYAML(FunctionsFileName, f)
}

// MarshalRouting encodes routing.yml.
func MarshalRouting(r RoutingFile) ([]byte, error) {
	if r.Routes == nil {
		r.Routes = []Route{} // "routes: []" rather than null
	}
	return encodeYAML(RoutingFileName, r)
}

// MarshalResources encodes resources.yml.
func MarshalResources(r ResourcesFile) ([]byte, error) {
	return encodeYAML(ResourcesFileName, r)
}

func encodeYAML(file string, v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(v); err != nil {
		return nil, fmt.Errorf("encode %s: %w", file, err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("encode %s: %w", file, err)
	}
	return buf.Bytes(), nil
}
