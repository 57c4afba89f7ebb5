package dockerruntime

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/docker/docker/api/types"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/client"
	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/esb-dev/esb/services/agent/engine"
	"github.com/esb-dev/esb/services/agent/sandbox"
)

// fakeDocker keeps containers in memory; the API's other calls panic
// (the embedded nil interface).
type fakeDocker struct {
	API
	mu      sync.Mutex
	n       int
	created map[string]fakeContainer
	removed []string
}

type fakeContainer struct {
	name         string
	cgroupParent string
	labels       map[string]string
	netMode      string
	nets         *network.NetworkingConfig
	running      bool
}

func newFakeDocker() *fakeDocker { return &fakeDocker{created: map[string]fakeContainer{}} }

func (f *fakeDocker) Ping(context.Context) (types.Ping, error) { return types.Ping{}, nil }
func (f *fakeDocker) NetworkInspect(context.Context, string, network.InspectOptions) (network.Inspect, error) {
	return network.Inspect{}, nil
}
func (f *fakeDocker) ImageInspect(context.Context, string, ...client.ImageInspectOption) (image.InspectResponse, error) {
	return image.InspectResponse{Config: &dockerspec.DockerOCIImageConfig{ImageConfig: ocispec.ImageConfig{Entrypoint: []string{"/bootstrap"}}}}, nil
}

func (f *fakeDocker) ContainerCreate(_ context.Context, cfg *container.Config, host *container.HostConfig, nets *network.NetworkingConfig, _ *ocispec.Platform, name string) (container.CreateResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.n++
	id := fmt.Sprintf("c%d", f.n)
	f.created[id] = fakeContainer{name: name, labels: cfg.Labels, netMode: string(host.NetworkMode), nets: nets, cgroupParent: host.CgroupParent}
	return container.CreateResponse{ID: id}, nil
}

func (f *fakeDocker) ContainerStart(_ context.Context, id string, _ container.StartOptions) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.created[id]
	c.running = true
	f.created[id] = c
	return nil
}

func (f *fakeDocker) ContainerRemove(_ context.Context, id string, _ container.RemoveOptions) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.created, id)
	f.removed = append(f.removed, id)
	return nil
}

func (f *fakeDocker) ContainerList(_ context.Context, opts container.ListOptions) ([]container.Summary, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []container.Summary
	for id, c := range f.created {
		match := true
		for _, kv := range opts.Filters.Get("label") {
			k, v, _ := cutLabel(kv)
			if c.labels[k] != v {
				match = false
			}
		}
		if match {
			s := container.Summary{ID: id, Labels: c.labels}
			s.HostConfig.NetworkMode = c.netMode
			out = append(out, s)
		}
	}
	return out, nil
}

func (f *fakeDocker) ContainerInspect(_ context.Context, id string) (container.InspectResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, ok := f.created[id]
	if !ok {
		return container.InspectResponse{}, fmt.Errorf("no container %s", id)
	}
	resp := container.InspectResponse{ContainerJSONBase: &container.ContainerJSONBase{
		State:      &container.State{Running: c.running},
		HostConfig: &container.HostConfig{NetworkMode: container.NetworkMode(c.netMode)},
	}}
	if c.nets != nil {
		resp.NetworkSettings = &container.NetworkSettings{Networks: map[string]*network.EndpointSettings{"fnnet": {IPAddress: "10.0.0." + id[1:]}}}
	}
	return resp, nil
}

func cutLabel(kv string) (string, string, bool) {
	for i := range len(kv) {
		if kv[i] == '=' {
			return kv[:i], kv[i+1:], true
		}
	}
	return kv, "", false
}

func sandboxed(name string) engine.Spec {
	return engine.Spec{Name: name, Image: "fn:1", Labels: map[string]string{"dev.esb.function": name},
		Sandbox: &engine.Sandbox{Policy: sandbox.Policy{UID: 993, GID: 990}, TmpBytes: 1 << 20, Pids: 64}}
}

func TestAFunctionContainerJoinsAReadyHolder(t *testing.T) {
	api := newFakeDocker()
	rt, err := New(t.Context(), api, "fnnet", Options{SandboxVolume: "sbx", NetnsPool: 2, HolderImage: "agent:1",
		HolderLabels: map[string]string{"dev.esb.env": "dev"}, HolderPrefix: "esb-dev-netns-", CgroupParent: "/esb"})
	require.NoError(t, err)

	// No holder ready yet: the container makes its own network sandbox.
	own, err := rt.Create(t.Context(), sandboxed("A"))
	require.NoError(t, err)
	assert.Equal(t, "fnnet", api.created[own].netMode)
	assert.Equal(t, "/esb", api.created[own].cgroupParent, "under the functions' CPU group")

	holder, err := rt.newHolder(t.Context(), "agent:1")
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"dev.esb.env": "dev", LabelHolder: "fnnet"}, api.created[holder].labels)
	assert.Regexp(t, `^esb-dev-netns-[a-z2-7]{8}$`, api.created[holder].name, "docker ps tells whose it is")
	assert.Empty(t, api.created[holder].cgroupParent, "a holder runs no function code")
	require.True(t, rt.holders.pool.Offer(holder))

	joined, err := rt.Create(t.Context(), sandboxed("B"))
	require.NoError(t, err)
	assert.Equal(t, "container:"+holder, api.created[joined].netMode)
	assert.Nil(t, api.created[joined].nets, "no endpoint of its own")
	require.NoError(t, rt.Start(t.Context(), joined))
	addr, err := rt.Address(t.Context(), joined)
	require.NoError(t, err)
	assert.Equal(t, "10.0.0."+holder[1:], addr, "the holder's address")

	list, err := rt.List(t.Context(), map[string]string{"dev.esb.env": "dev"})
	require.NoError(t, err)
	for _, c := range list {
		assert.NotEqual(t, holder, c.ID, "a holder is no function container")
	}

	require.NoError(t, rt.Remove(t.Context(), joined))
	assert.NotContains(t, api.created, holder, "the holder goes with its container")
	assert.NotContains(t, api.created, joined)
}

func TestANewAgentKeepsTheHoldersOfAdoptedContainers(t *testing.T) {
	api := newFakeDocker()
	first, err := New(t.Context(), api, "fnnet", Options{SandboxVolume: "sbx", NetnsPool: 2, HolderImage: "agent:1"})
	require.NoError(t, err)
	used, err := first.newHolder(t.Context(), "agent:1")
	require.NoError(t, err)
	spare, err := first.newHolder(t.Context(), "agent:1")
	require.NoError(t, err)
	require.True(t, first.holders.pool.Offer(used))
	fn, err := first.Create(t.Context(), sandboxed("A"))
	require.NoError(t, err)
	require.NoError(t, first.Start(t.Context(), fn))
	other, err := New(t.Context(), api, "othernet", Options{SandboxVolume: "sbx", NetnsPool: 1, HolderImage: "agent:1"})
	require.NoError(t, err)
	othersHolder, err := other.newHolder(t.Context(), "agent:1")
	require.NoError(t, err)

	// The agent restarts: a new Runtime on the same engine.
	second, err := New(t.Context(), api, "fnnet", Options{SandboxVolume: "sbx", NetnsPool: 2, HolderImage: "agent:1"})
	require.NoError(t, err)
	assert.Contains(t, api.created, used, "kept: an adopted container runs in it")
	assert.NotContains(t, api.created, spare, "removed: nothing joined it")
	assert.Contains(t, api.created, othersHolder, "another env's holder is not this agent's")
	addr, err := second.Address(t.Context(), fn)
	require.NoError(t, err)
	assert.Equal(t, "10.0.0."+used[1:], addr)
}

func TestThePoolFillsThenRemovesItsHoldersWhenItStops(t *testing.T) {
	api := newFakeDocker()
	rt, err := New(t.Context(), api, "fnnet", Options{SandboxVolume: "sbx", NetnsPool: 12, HolderImage: "agent:1"})
	require.NoError(t, err)
	ctx, stop := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { defer close(done); rt.Run(ctx) }()
	holders := func() int {
		list, err := api.ContainerList(t.Context(), container.ListOptions{Filters: filters.NewArgs(filters.Arg("label", LabelHolder+"=fnnet"))})
		require.NoError(t, err)
		return len(list)
	}
	require.Eventually(t, func() bool { return holders() == 12 }, 5*time.Second, 10*time.Millisecond, "the pool fills to its size")

	stop()
	<-done
	assert.Zero(t, holders(), "every ready holder is removed when the pool stops")
}
