package main

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
)

// composeProject and composeService are the labels compose gives every
// container of a project.
const (
	composeProject = "com.docker.compose.project"
	composeService = "com.docker.compose.service"
)

// dockerAPI is the part of the Docker client the keeper uses;
// *client.Client implements it.
type dockerAPI interface {
	ContainerList(ctx context.Context, options container.ListOptions) ([]container.Summary, error)
	ContainerInspect(ctx context.Context, containerID string) (container.InspectResponse, error)
	ContainerStart(ctx context.Context, containerID string, options container.StartOptions) error
	ContainerRestart(ctx context.Context, containerID string, options container.StopOptions) error
}

// keeper brings back the containers of one compose project that share the
// node service's namespaces (compose network_mode/pid "service:<node>").
// Docker cannot: a start that finds the node not running fails with
// "cannot join network of a non running container" and is never retried,
// neither when the daemon restarts its containers side by side (moby
// issue 50326) nor when a restart after a crash comes while the node is
// itself restarting; and a joiner still running after the node restarted
// holds the dead node's namespaces, where nothing reaches it.
type keeper struct {
	docker  dockerAPI
	project string
	node    string // the compose service whose namespaces the others join
	// stop bounds a restart's stop of a joiner left in dead namespaces.
	stop time.Duration
	log  *slog.Logger
}

// pass looks at the project once and starts or restarts what needs it.
// It returns what it did, for the log and the tests.
func (k *keeper) pass(ctx context.Context) ([]string, error) {
	list, err := k.docker.ContainerList(ctx, container.ListOptions{All: true, Filters: filters.NewArgs(filters.Arg("label", composeProject+"="+k.project))})
	if err != nil {
		return nil, fmt.Errorf("list containers of %s: %w", k.project, err)
	}
	var nodeID string
	for _, c := range list {
		if c.Labels[composeService] == k.node {
			nodeID = c.ID
		}
	}
	if nodeID == "" {
		return nil, nil // not up (yet): nothing joins anything
	}
	node, err := k.docker.ContainerInspect(ctx, nodeID)
	if err != nil {
		return nil, fmt.Errorf("inspect %s: %w", k.node, err)
	}
	if node.State == nil || !node.State.Running || node.State.Restarting {
		return nil, nil // its own restart policy brings it back; the joiners follow
	}
	nodeStarted, err := time.Parse(time.RFC3339Nano, node.State.StartedAt)
	if err != nil {
		return nil, fmt.Errorf("%s started at %q: %w", k.node, node.State.StartedAt, err)
	}
	var done []string
	for _, s := range list {
		if s.ID == nodeID {
			continue
		}
		c, err := k.docker.ContainerInspect(ctx, s.ID)
		if err != nil {
			k.log.Warn("inspect container", "container", s.ID, "error", err.Error())
			continue
		}
		if !joins(c, nodeID) || !kept(c) || c.State == nil {
			continue
		}
		name := c.Config.Labels[composeService]
		switch {
		case c.State.Running && !c.State.Restarting:
			started, err := time.Parse(time.RFC3339Nano, c.State.StartedAt)
			if err != nil || !started.Before(nodeStarted) {
				continue
			}
			// Started before the node's current process: its network and
			// PID namespaces are the ones that died with the old process.
			k.log.Warn("restarting: it holds the namespaces of a runtime node that has since restarted", "service", name, "started", c.State.StartedAt, "node_started", node.State.StartedAt)
			secs := int(k.stop.Seconds())
			if err := k.docker.ContainerRestart(ctx, c.ID, container.StopOptions{Timeout: &secs}); err != nil {
				k.log.Error("restart", "service", name, "error", err.Error())
				continue
			}
			done = append(done, "restarted "+name)
		case !c.State.Running && !c.State.Restarting && c.State.Error != "":
			// A failed start: Docker gave up on it. A container the operator
			// stopped has no error and stays stopped.
			k.log.Warn("starting: Docker's start failed and is not retried", "service", name, "error", c.State.Error)
			if err := k.docker.ContainerStart(ctx, c.ID, container.StartOptions{}); err != nil {
				k.log.Error("start", "service", name, "error", err.Error())
				continue
			}
			done = append(done, "started "+name)
		}
	}
	for _, d := range done {
		k.log.Info(d)
	}
	return done, nil
}

// joins reports whether c shares the network or PID namespace of the
// container nodeID (compose writes "container:<id>" for service:<name>).
func joins(c container.InspectResponse, nodeID string) bool {
	if c.HostConfig == nil {
		return false
	}
	want := "container:" + nodeID
	return string(c.HostConfig.NetworkMode) == want || string(c.HostConfig.PidMode) == want
}

// kept reports whether c's restart policy asks for it to run: the keeper
// does for joiners what Docker's policy cannot, nothing more.
func kept(c container.InspectResponse) bool {
	if c.HostConfig == nil {
		return false
	}
	switch c.HostConfig.RestartPolicy.Name {
	case container.RestartPolicyAlways, container.RestartPolicyUnlessStopped:
		return true
	}
	return false
}

// run makes a pass every interval until ctx ends; a failed pass is logged
// and the next one tries again.
func (k *keeper) run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		pctx, cancel := context.WithTimeout(ctx, time.Minute)
		if _, err := k.pass(pctx); err != nil && ctx.Err() == nil {
			k.log.Warn("pass", "error", err.Error())
		}
		cancel()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
