package compose

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"
)

// TestServicesHaveLimits keeps every platform service of the compose files
// under memory, CPU and pids limits, so that one runaway service cannot
// take the node down with it. The exceptions run other people's work in
// cgroups of their own, and say so in the compose file.
func TestServicesHaveLimits(t *testing.T) {
	unlimited := []string{
		"dagger-engine", // the builds of the user's functions
		"runtime-node",  // the function containers, each limited by the agent
	}
	files, err := filepath.Glob(filepath.Join("..", "..", "compose", "*.yml"))
	require.NoError(t, err)
	require.NotEmpty(t, files)
	seen := 0
	for _, f := range files {
		data, err := os.ReadFile(f)
		require.NoError(t, err)
		var doc struct {
			Services map[string]map[string]any `yaml:"services"`
		}
		require.NoError(t, yaml.Unmarshal(data, &doc), f)
		for name, svc := range doc.Services {
			seen++
			if slices.Contains(unlimited, name) {
				continue
			}
			// A block that extends a service inherits its limits, which
			// that file's own check holds; one that only adds ports to a
			// service of another file (kubernetes mode publishing the data
			// services for the cluster) changes no limit.
			if _, ok := svc["extends"]; ok {
				continue
			}
			if _, ok := svc["ports"]; ok && len(svc) == 1 {
				continue
			}
			for _, key := range []string{"mem_limit", "cpus", "pids_limit"} {
				assert.Contains(t, svc, key, "%s: service %s has no %s", filepath.Base(f), name, key)
			}
		}
	}
	assert.Positive(t, seen)
}
