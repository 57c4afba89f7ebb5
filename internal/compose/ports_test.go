package compose

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"

	"github.com/esb-dev/esb/internal/platform"
)

// TestPublishedPortsFollowThePlatformList holds the compose files to
// platform.Ports, the one list of what an env publishes: in each mode every
// port is published exactly once, on its own bind variable defaulting to
// loopback, so ESB_BIND_ADDR can only ever widen the gateway's public
// ports and a new port cannot slip in beside the list.
func TestPublishedPortsFollowThePlatformList(t *testing.T) {
	for _, mode := range Modes() {
		t.Run(mode, func(t *testing.T) {
			want := map[string]platform.Port{}
			for _, p := range platform.Ports() {
				cluster := fmt.Sprintf("${%s}:${%s:-%d}:%d", platform.ClusterAddrVar, p.Var, p.Default, p.Target)
				switch {
				case p.ClusterOnly:
					if mode == ModeKubernetes {
						want[cluster] = p
					}
					continue
				case p.LoopbackOnly:
					want[fmt.Sprintf("%s:${%s:-%d}:%d", platform.Loopback, p.Var, p.Default, p.Target)] = p
				default:
					want[fmt.Sprintf("${%s:-%s}:${%s:-%d}:%d", p.BindVar(), platform.Loopback, p.Var, p.Default, p.Target)] = p
				}
				if p.Cluster && mode == ModeKubernetes {
					want[cluster] = p
				}
			}
			seen := map[string]int{}
			for _, f := range (Project{Dir: filepath.Join("..", ".."), Mode: mode}).Files() {
				for name, specs := range publishedPorts(t, f) {
					for _, spec := range specs {
						// The first use of a variable in a file carries its
						// error message; the spec is the same port.
						spec = requiredVar.ReplaceAllString(spec, "${$1}")
						p, ok := want[spec]
						if !assert.True(t, ok, "%s: service %s publishes %q, which platform.Ports does not list for %s mode", filepath.Base(f), name, spec, mode) {
							continue
						}
						// containerd mode: runtime-node publishes the
						// gateway's ports, in whose namespace it runs.
						if !(mode == ModeContainerd && p.Service == "gateway" && name == "runtime-node") {
							assert.Equal(t, p.Service, name, spec)
						}
						seen[spec]++
					}
				}
			}
			for spec := range want {
				assert.Equal(t, 1, seen[spec], "%s published %d times", spec, seen[spec])
			}
		})
	}
}

// requiredVar matches ${VAR:?message}, compose's required variable.
var requiredVar = regexp.MustCompile(`\$\{([A-Z0-9_]+):\?[^}]*\}`)

// publishedPorts reads the ports each service of a compose file publishes,
// those a service inherits through `extends` from another file included.
func publishedPorts(t *testing.T, file string) map[string][]string {
	t.Helper()
	data, err := os.ReadFile(file)
	require.NoError(t, err)
	var doc struct {
		Services map[string]struct {
			Ports   []string `yaml:"ports"`
			Extends struct {
				File    string `yaml:"file"`
				Service string `yaml:"service"`
			} `yaml:"extends"`
		} `yaml:"services"`
	}
	require.NoError(t, yaml.Unmarshal(data, &doc), file)
	out := map[string][]string{}
	for name, svc := range doc.Services {
		out[name] = append(out[name], svc.Ports...)
		if ext := svc.Extends; ext.File != "" {
			out[name] = append(out[name], publishedPorts(t, filepath.Join(filepath.Dir(file), ext.File))[ext.Service]...)
		}
	}
	return out
}
