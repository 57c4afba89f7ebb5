package main

import (
	"context"
	"io"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/stretchr/testify/require"
)

// fakeDocker is a project's containers as Docker reports them.
type fakeDocker struct {
	all       map[string]container.InspectResponse
	started   []string
	restarted []string
}

func (f *fakeDocker) ContainerList(_ context.Context, _ container.ListOptions) ([]container.Summary, error) {
	var out []container.Summary
	for id, c := range f.all {
		out = append(out, container.Summary{ID: id, Labels: c.Config.Labels})
	}
	slices.SortFunc(out, func(a, b container.Summary) int { return cmpString(a.ID, b.ID) })
	return out, nil
}

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func (f *fakeDocker) ContainerInspect(_ context.Context, id string) (container.InspectResponse, error) {
	c := f.all[id]
	c.ID = id
	return c, nil
}

func (f *fakeDocker) ContainerStart(_ context.Context, id string, _ container.StartOptions) error {
	f.started = append(f.started, id)
	return nil
}

func (f *fakeDocker) ContainerRestart(_ context.Context, id string, _ container.StopOptions) error {
	f.restarted = append(f.restarted, id)
	return nil
}

var t0 = time.Date(2026, 12, 3, 14, 0, 0, 0, time.UTC)

func ctr(service string, running bool, started time.Time, errText, network, pid, policy string) container.InspectResponse {
	c := container.InspectResponse{
		ContainerJSONBase: &container.ContainerJSONBase{
			State: &container.State{Running: running, StartedAt: started.Format(time.RFC3339Nano), Error: errText},
			HostConfig: &container.HostConfig{
				NetworkMode:   container.NetworkMode(network),
				PidMode:       container.PidMode(pid),
				RestartPolicy: container.RestartPolicy{Name: container.RestartPolicyMode(policy)},
			},
		},
		Config: &container.Config{Labels: map[string]string{composeProject: "esb-dev", composeService: service}},
	}
	return c
}

func TestKeeperPass(t *testing.T) {
	joinErr := "cannot join network of a non running container: node"
	cases := []struct {
		name               string
		containers         map[string]container.InspectResponse
		started, restarted []string
	}{{
		name: "a joiner whose start failed is started once the node runs",
		containers: map[string]container.InspectResponse{
			"node":    ctr("runtime-node", true, t0, "", "esb-dev_platform", "", "unless-stopped"),
			"gateway": ctr("gateway", false, t0.Add(-time.Hour), joinErr, "container:node", "", "unless-stopped"),
			"agent":   ctr("agent", false, t0.Add(-time.Hour), joinErr, "container:node", "container:node", "unless-stopped"),
		},
		started: []string{"agent", "gateway"},
	}, {
		name: "joiners left in the namespaces of the node's previous process are restarted",
		containers: map[string]container.InspectResponse{
			"node":    ctr("runtime-node", true, t0, "", "esb-dev_platform", "", "unless-stopped"),
			"gateway": ctr("gateway", true, t0.Add(-time.Minute), "", "container:node", "", "unless-stopped"),
			"agent":   ctr("agent", true, t0.Add(time.Second), "", "container:node", "container:node", "unless-stopped"),
		},
		restarted: []string{"gateway"},
	}, {
		name: "nothing while the node is down: its own restart comes first",
		containers: map[string]container.InspectResponse{
			"node":    ctr("runtime-node", false, t0, "", "esb-dev_platform", "", "unless-stopped"),
			"gateway": ctr("gateway", false, t0.Add(-time.Hour), joinErr, "container:node", "", "unless-stopped"),
		},
	}, {
		name: "a stopped joiner (no error), one without a restart policy and a non-joiner stay as they are",
		containers: map[string]container.InspectResponse{
			"node":     ctr("runtime-node", true, t0, "", "esb-dev_platform", "", "unless-stopped"),
			"gateway":  ctr("gateway", false, t0.Add(-time.Hour), "", "container:node", "", "unless-stopped"),
			"agent":    ctr("agent", false, t0.Add(-time.Hour), joinErr, "container:node", "container:node", "no"),
			"registry": ctr("registry", false, t0.Add(-time.Hour), "port is already allocated", "esb-dev_platform", "", "unless-stopped"),
			"events":   ctr("events", true, t0.Add(-time.Hour), "", "esb-dev_platform", "", "unless-stopped"),
		},
	}}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := &fakeDocker{all: tc.containers}
			k := &keeper{docker: d, project: "esb-dev", node: "runtime-node", stop: time.Second, log: slog.New(slog.NewTextHandler(io.Discard, nil))}
			_, err := k.pass(t.Context())
			require.NoError(t, err)
			slices.Sort(d.started)
			require.Equal(t, tc.started, d.started, "started")
			require.Equal(t, tc.restarted, d.restarted, "restarted")
		})
	}
}
