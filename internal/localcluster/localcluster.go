// Package localcluster drives scripts/k8s/cluster.sh, the local two-node
// Kubernetes that kubernetes-mode tests run functions on, for those tests:
// it builds the cluster's binaries (cached per machine), starts the
// cluster, reads its contract (docs/kubernetes.md) and stops it again
// unless it was already running.
package localcluster

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Cluster is the running local cluster.
type Cluster struct {
	script string
	// Vars is the contract `cluster.sh env` prints: ESB_K8S_KUBECONFIG,
	// ESB_K8S_HOST_ADDR, ESB_K8S_API, ESB_K8S_NODES...
	Vars map[string]string
}

// Start builds and starts the cluster of the checkout at root, and stops
// it when t ends unless it was up before (a developer's cluster is left as
// found) or ESB_E2E_KEEP=1. The first build on a machine takes about 25
// minutes on two cores; setup.sh starts it in the background and Start
// waits for it (cluster.sh's lock).
func Start(t testing.TB, root string) *Cluster {
	t.Helper()
	c := &Cluster{script: filepath.Join(root, "scripts", "k8s", "cluster.sh")}
	began := time.Now()
	c.Run(t, 45*time.Minute, "build")
	t.Logf("kubernetes binaries ready in %s", time.Since(began).Round(time.Second))
	// status fails unless every process runs, the nodes answer and the
	// firewall is in place (env prints the contract whether or not).
	wasUp := exec.Command(c.script, "status").Run() == nil
	if !wasUp {
		began = time.Now()
		c.Run(t, 5*time.Minute, "up")
		t.Logf("cluster up in %s", time.Since(began).Round(100*time.Millisecond))
		t.Cleanup(func() {
			if os.Getenv("ESB_E2E_KEEP") != "1" {
				c.Run(t, 5*time.Minute, "down")
			}
		})
	}
	c.Vars = map[string]string{}
	for _, line := range strings.Split(c.Run(t, time.Minute, "env"), "\n") {
		if name, value, ok := strings.Cut(strings.TrimSpace(line), "="); ok {
			c.Vars[name] = strings.Trim(value, `'"`)
		}
	}
	for _, name := range []string{"ESB_K8S_KUBECONFIG", "ESB_K8S_HOST_ADDR", "ESB_K8S_API", "ESB_K8S_NODES"} {
		require.NotEmpty(t, c.Vars[name], "cluster.sh env: %s", name)
	}
	return c
}

// Run runs cluster.sh with args and returns its standard output; a
// failure fails t with the script's own error output.
func (c *Cluster) Run(t testing.TB, limit time.Duration, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	cmd := exec.CommandContext(ctx, c.script, args...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	// A daemon left holding the pipes must not keep Output waiting.
	cmd.WaitDelay = 10 * time.Second
	out, err := cmd.Output()
	require.NoError(t, err, "cluster.sh %s:\n%s", strings.Join(args, " "), stderr.String())
	return string(out)
}

// Script is the path of cluster.sh.
func (c *Cluster) Script() string { return c.script }
