package main

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/esb-dev/esb/internal/platform"
)

type fakeLister struct {
	containers []platform.ContainerState
	err        error
	project    string
}

func (f *fakeLister) ProjectContainers(_ context.Context, project string) ([]platform.ContainerState, error) {
	f.project = project
	return f.containers, f.err
}

func statusLayout(t *testing.T) platform.Layout {
	t.Helper()
	e, err := platform.New("", "dev")
	require.NoError(t, err)
	l, err := platform.Resolve(e, platform.LayoutOptions{Dirs: platform.Dirs{Home: "/h"}})
	require.NoError(t, err)
	return l
}

func TestStatusAllHealthy(t *testing.T) {
	var observed []platform.ContainerState
	for _, s := range platform.Services() {
		observed = append(observed, platform.ContainerState{Service: s.Name, State: "running", Health: "healthy"})
	}
	var out bytes.Buffer
	lister := &fakeLister{containers: observed}
	err := runStatus(t.Context(), &cli{stdout: &out}, statusLayout(t), lister)
	require.NoError(t, err)
	assert.Equal(t, "esb-dev", lister.project)
	assert.Contains(t, out.String(), "registry")
	assert.Regexp(t, `dagger-engine\s+running\s+healthy`, out.String())
}

func TestStatusReportsMissingAndUnhealthy(t *testing.T) {
	lister := &fakeLister{containers: []platform.ContainerState{
		{Service: "registry", State: "running", Health: "healthy"},
		{Service: "database", State: "running", Health: "unhealthy"},
		{Service: "logs", State: "exited"},
		{Service: "provisioner", State: "exited"},
	}}
	var out bytes.Buffer
	err := runStatus(t.Context(), &cli{stdout: &out}, statusLayout(t), lister)
	require.Error(t, err)
	assert.Equal(t, "not running or not healthy: s3-storage, database, logs, messaging, dagger-engine, agent, gateway, events", err.Error())
	assert.Regexp(t, `s3-storage\s+missing`, out.String())
	// A one-shot service that exited is shown but is not a failure.
	assert.Regexp(t, `provisioner\s+exited`, out.String())
}

func TestStatusListError(t *testing.T) {
	err := runStatus(t.Context(), &cli{stdout: &bytes.Buffer{}}, statusLayout(t), &fakeLister{err: errors.New("no socket")})
	assert.EqualError(t, err, "no socket")
}

func TestStatusContainerdModeExpectsTheRuntimeNode(t *testing.T) {
	var observed []platform.ContainerState
	for _, s := range platform.Services() {
		observed = append(observed, platform.ContainerState{Service: s.Name, State: "running", Health: "healthy"})
	}
	observed = append(observed, platform.ContainerState{Service: "runtime-node", State: "running", Health: "unhealthy"})
	var out bytes.Buffer
	err := runStatus(t.Context(), &cli{stdout: &out}, statusLayout(t), &fakeLister{containers: observed})
	require.EqualError(t, err, "not running or not healthy: runtime-node")
	assert.Regexp(t, `runtime-node\s+running\s+unhealthy\s+containerd node`, out.String())
}
