package compose

import (
	"fmt"
	"os"
	"path/filepath"
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
	want := map[string]platform.Port{}
	for _, p := range platform.Ports() {
		spec := fmt.Sprintf("${%s:-%s}:${%s:-%d}:%d", p.BindVar(), platform.Loopback, p.Var, p.Default, p.Target)
		if p.LoopbackOnly {
			spec = fmt.Sprintf("%s:${%s:-%d}:%d", platform.Loopback, p.Var, p.Default, p.Target)
		}
		want[spec] = p
	}
	for _, mode := range Modes() {
		t.Run(mode, func(t *testing.T) {
			seen := map[string]int{}
			for _, f := range (Project{Dir: filepath.Join("..", ".."), Mode: mode}).Files() {
				data, err := os.ReadFile(f)
				require.NoError(t, err)
				var doc struct {
					Services map[string]struct {
						Ports []string `yaml:"ports"`
					} `yaml:"services"`
				}
				require.NoError(t, yaml.Unmarshal(data, &doc), f)
				for name, svc := range doc.Services {
					for _, spec := range svc.Ports {
						p, ok := want[spec]
						if !assert.True(t, ok, "%s: service %s publishes %q, which platform.Ports does not list", filepath.Base(f), name, spec) {
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
