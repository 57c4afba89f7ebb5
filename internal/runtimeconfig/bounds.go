package runtimeconfig

import (
	"path"
	"regexp"
	"sort"
	"strings"
)

// Lambda's own bounds. A functions.yml outside them was not written by
// `esb deploy` (whose SAM parser applies the same limits with the
// template's lines): it is refused whole, and the gateway keeps its last
// good config.
const (
	maxFunctionNameLen = 64
	minMemoryMB        = 128
	maxMemoryMB        = 10240
	maxTimeoutSec      = 900
	minEphemeralMB     = 512
	maxEphemeralMB     = 10240
	// maxEnvironmentBytes is Lambda's limit on a function's variables, all
	// names and values together.
	maxEnvironmentBytes = 4096
	// maxScaling bounds max_concurrency and min_warm: ESB's bound for
	// ReservedConcurrentExecutions and ProvisionedConcurrentExecutions
	// (internal/sam), far beyond one node.
	maxScaling = 10000
	// maxLayers is Lambda's limit of layers per function.
	maxLayers = 5
	// maxLayerNameLen is Lambda's limit on a layer's name.
	maxLayerNameLen = 140
)

var (
	functionName = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)
	envName      = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
)

// boundFunction checks a function's name and values against Lambda's
// bounds: they end up in container names, an env file and resource limits.
func boundFunction(p *problems, at fieldPath, name string, fn Function) {
	if name != "" && (len(name) > maxFunctionNameLen || !functionName.MatchString(name)) {
		p.add(at, "function name %q: want 1 to %d letters, digits, '-' or '_'", name, maxFunctionNameLen)
	}
	if fn.MemorySize > 0 && (fn.MemorySize < minMemoryMB || fn.MemorySize > maxMemoryMB) {
		p.add(at.with("memory_size"), "must be %d to %d MB, got %d", minMemoryMB, maxMemoryMB, fn.MemorySize)
	}
	if fn.EphemeralStorage != 0 && (fn.EphemeralStorage < minEphemeralMB || fn.EphemeralStorage > maxEphemeralMB) {
		p.add(at.with("ephemeral_storage"), "must be %d to %d MB, got %d", minEphemeralMB, maxEphemeralMB, fn.EphemeralStorage)
	}
	for _, v := range []struct {
		field string
		n     int
	}{{"max_concurrency", fn.Scaling.MaxConcurrency}, {"min_warm", fn.Scaling.MinWarm}} {
		if v.n > maxScaling {
			p.add(at.with("scaling", v.field), "must be at most %d, got %d", maxScaling, v.n)
		}
	}
	if fn.Scaling.MaxConcurrency > 0 && fn.Scaling.MinWarm > fn.Scaling.MaxConcurrency {
		p.add(at.with("scaling", "min_warm"), "%d is more than max_concurrency (%d)", fn.Scaling.MinWarm, fn.Scaling.MaxConcurrency)
	}
	if fn.Timeout > maxTimeoutSec {
		p.add(at.with("timeout"), "must be at most %d seconds, got %d", maxTimeoutSec, fn.Timeout)
	}
	keys := make([]string, 0, len(fn.Environment))
	size := 0
	for k, v := range fn.Environment {
		keys = append(keys, k)
		size += len(k) + len(v)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if !envName.MatchString(k) {
			p.add(at.with("environment", k), "variable name %q: want a letter or '_', then letters, digits or '_'", k)
		}
	}
	if size > maxEnvironmentBytes {
		p.add(at.with("environment"), "variables take %d bytes, more than Lambda's %d", size, maxEnvironmentBytes)
	}
	if len(fn.Layers) > maxLayers {
		p.add(at.with("layers"), "%d layers, more than Lambda's %d", len(fn.Layers), maxLayers)
	}
	for i, l := range fn.Layers {
		boundLayerName(p, at.with("layers", i), l)
	}
}

// boundLayerName checks a layer's name as Lambda does: layer names end up
// in image build paths.
func boundLayerName(p *problems, at fieldPath, name string) {
	if len(name) > maxLayerNameLen || !functionName.MatchString(name) {
		p.add(at, "layer name %q: want 1 to %d letters, digits, '-' or '_'", name, maxLayerNameLen)
	}
}

// boundLayerPath keeps a layer's ContentUri inside the directory of the
// template that declared it: a relative path that never climbs out.
func boundLayerPath(p *problems, at fieldPath, uri string) {
	if uri == "" {
		return
	}
	clean := path.Clean(strings.ReplaceAll(uri, "\\", "/"))
	if path.IsAbs(clean) || clean == ".." || strings.HasPrefix(clean, "../") {
		p.add(at, "%q: want a path relative to the template's directory, inside it", uri)
	}
}
