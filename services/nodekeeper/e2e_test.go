//go:build e2e

package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/client"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestKeeperDocker runs the keeper against the real Docker engine on two
// small containers shaped like runtime-node and the gateway (the second
// joins the first's network namespace, both restart unless-stopped):
//   - the gateway's start while the node is down fails as after a daemon
//     restart, and Docker leaves it exited; a pass starts it once the
//     node runs;
//   - after the node restarts under a running gateway, a pass restarts
//     the gateway into the node's new namespace.
func TestKeeperDocker(t *testing.T) {
	ctx := t.Context()
	docker, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	require.NoError(t, err)
	t.Cleanup(func() { docker.Close() })
	project := fmt.Sprintf("nodekeeper-e2e-%d", os.Getpid())
	run := func(service string, host *container.HostConfig) string {
		host.RestartPolicy = container.RestartPolicy{Name: container.RestartPolicyUnlessStopped}
		host.Init = new(bool)
		*host.Init = true
		c, err := docker.ContainerCreate(ctx, &container.Config{
			Image:  "debian:bookworm-slim",
			Cmd:    []string{"sleep", "infinity"},
			Labels: map[string]string{composeProject: project, composeService: service},
		}, host, nil, nil, project+"-"+service)
		require.NoError(t, err)
		t.Cleanup(func() {
			_ = docker.ContainerRemove(context.WithoutCancel(ctx), c.ID, container.RemoveOptions{Force: true})
		})
		require.NoError(t, docker.ContainerStart(ctx, c.ID, container.StartOptions{}))
		return c.ID
	}
	// The joiner is removed first (registered last): Docker refuses to
	// remove a container another one joins.
	node := run("runtime-node", &container.HostConfig{NetworkMode: "none"})
	gateway := run("gateway", &container.HostConfig{NetworkMode: container.NetworkMode("container:" + node)})
	k := &keeper{docker: docker, project: project, node: "runtime-node", stop: time.Second, log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	done, err := k.pass(ctx)
	require.NoError(t, err)
	require.Empty(t, done, "nothing to do while all run")

	inspect := func(id string) container.InspectResponse {
		c, err := docker.ContainerInspect(ctx, id)
		require.NoError(t, err)
		return c
	}
	netns := func(id string) string {
		// The namespace a container's init is in, as the host sees it.
		link, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/net", inspect(id).State.Pid))
		require.NoError(t, err)
		return link
	}

	t.Run("a start that found the node down", func(t *testing.T) {
		zero := 0
		require.NoError(t, docker.ContainerStop(ctx, node, container.StopOptions{Timeout: &zero}))
		require.NoError(t, docker.ContainerStop(ctx, gateway, container.StopOptions{Timeout: &zero}))
		require.Error(t, docker.ContainerStart(ctx, gateway, container.StartOptions{}))
		c := inspect(gateway)
		require.False(t, c.State.Running)
		require.NotEmpty(t, c.State.Error, "Docker records the failed start")
		t.Logf("gateway: %s, error %q", c.State.Status, c.State.Error)
		done, err := k.pass(ctx)
		require.NoError(t, err)
		assert.Empty(t, done, "nothing while the node is down")

		require.NoError(t, docker.ContainerStart(ctx, node, container.StartOptions{}))
		done, err = k.pass(ctx)
		require.NoError(t, err)
		assert.Equal(t, []string{"started gateway"}, done)
		require.True(t, inspect(gateway).State.Running)
		assert.Equal(t, netns(node), netns(gateway), "the gateway is in the node's network namespace")
	})

	t.Run("the node restarted under a running joiner", func(t *testing.T) {
		zero := 0
		require.NoError(t, docker.ContainerRestart(ctx, node, container.StopOptions{Timeout: &zero}))
		if inspect(gateway).State.Running {
			require.NotEqual(t, netns(node), netns(gateway), "the gateway is left in the old namespace")
		}
		done, err := k.pass(ctx)
		require.NoError(t, err)
		assert.Len(t, done, 1)
		require.Eventually(t, func() bool { return inspect(gateway).State.Running }, 30*time.Second, 200*time.Millisecond)
		assert.Equal(t, netns(node), netns(gateway), "the gateway is in the node's new network namespace")
		done, err = k.pass(ctx)
		require.NoError(t, err)
		assert.Empty(t, done, "once back, nothing more to do")
	})

	t.Run("a joiner the operator stopped stays stopped", func(t *testing.T) {
		zero := 0
		require.NoError(t, docker.ContainerStop(ctx, gateway, container.StopOptions{Timeout: &zero}))
		done, err := k.pass(ctx)
		require.NoError(t, err)
		assert.Empty(t, done)
		assert.False(t, inspect(gateway).State.Running)
	})
}
