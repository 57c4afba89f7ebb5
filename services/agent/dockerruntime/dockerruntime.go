// Package dockerruntime implements engine.Runtime on the Docker Engine API.
// Function containers join one user-defined network, where Docker's DNS
// resolves the platform services (s3-storage, database) for them.
package dockerruntime

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/distribution/reference"
	"github.com/docker/docker/api/types"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/api/types/mount"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/client"
	"github.com/docker/docker/pkg/jsonmessage"
	"github.com/docker/docker/pkg/stdcopy"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/esb-dev/esb/internal/registryauth"
	"github.com/esb-dev/esb/services/agent/cgroupmem"
	"github.com/esb-dev/esb/services/agent/engine"
	"github.com/esb-dev/esb/services/agent/sandbox"
)

// API is the part of the Docker client the runtime uses; *client.Client
// implements it.
type API interface {
	Ping(ctx context.Context) (types.Ping, error)
	NetworkInspect(ctx context.Context, networkID string, options network.InspectOptions) (network.Inspect, error)
	ImageInspect(ctx context.Context, imageID string, opts ...client.ImageInspectOption) (image.InspectResponse, error)
	ImagePull(ctx context.Context, ref string, options image.PullOptions) (io.ReadCloser, error)
	ImageRemove(ctx context.Context, ref string, options image.RemoveOptions) ([]image.DeleteResponse, error)
	ContainerCreate(ctx context.Context, config *container.Config, hostConfig *container.HostConfig, networkingConfig *network.NetworkingConfig, platform *ocispec.Platform, containerName string) (container.CreateResponse, error)
	ContainerStart(ctx context.Context, containerID string, options container.StartOptions) error
	ContainerStop(ctx context.Context, containerID string, options container.StopOptions) error
	ContainerRemove(ctx context.Context, containerID string, options container.RemoveOptions) error
	ContainerList(ctx context.Context, options container.ListOptions) ([]container.Summary, error)
	ContainerInspect(ctx context.Context, containerID string) (container.InspectResponse, error)
	ContainerLogs(ctx context.Context, containerID string, options container.LogsOptions) (io.ReadCloser, error)
	ContainerStatsOneShot(ctx context.Context, containerID string) (container.StatsResponseReader, error)
}

// Runtime runs function containers on a Docker engine.
type Runtime struct {
	api     API
	network string
	// sandboxVolume is the Docker volume holding sandboxinit, mounted
	// read-only at sandbox.Path's directory of every sandboxed container.
	sandboxVolume string
	registryAuth  registryauth.Credential
	cgroups       *cgroupmem.Reader
	holders       *holders // nil: every container makes its own network sandbox
	holderLabels  map[string]string
	holderPrefix  string
	cgroupParent  string
}

// Options are optional settings; the zero value runs no sandbox and pulls
// anonymously.
type Options struct {
	// SandboxVolume names the volume that holds the sandboxinit command
	// (the agent copies it there at start); required to create a container
	// whose Spec has a Sandbox.
	SandboxVolume string
	// RegistryAuth is the env's registry credential, sent with every pull:
	// the registry answers nobody without it.
	RegistryAuth registryauth.Credential
	// Cgroups, when set, reads a container's peak memory from the host's
	// cgroup files instead of a stats call per invocation (see package
	// cgroupmem).
	Cgroups *cgroupmem.Reader
	// NetnsPool, when positive, keeps that many netns holders ready
	// (see LabelHolder), made from HolderImage, for sandboxed containers
	// to join; Run fills it.
	NetnsPool   int
	HolderImage string
	// HolderLabels go on every holder besides LabelHolder: the env's
	// labels, so that whatever cleans up the env's containers finds them.
	HolderLabels map[string]string
	// HolderPrefix names holders: the prefix and 8 random characters, so
	// that docker ps tells whose they are (empty: Docker's random names).
	HolderPrefix string
	// CgroupParent, when set, is the cgroup function containers are
	// created under (cgroupfs driver: an absolute path such as /esb), the
	// one the agent gave the node's CPU weight (package cpugroup). Empty:
	// Docker's default parent.
	CgroupParent string
	// Logger gets the pool's failures; nil logs nowhere.
	Logger *slog.Logger
}

var _ engine.Runtime = (*Runtime)(nil)

// New checks that the engine answers and that network exists, so a wrong
// NETWORK fails the agent at startup rather than at the first cold start.
func New(ctx context.Context, api API, networkName string, opts Options) (*Runtime, error) {
	if _, err := api.Ping(ctx); err != nil {
		return nil, fmt.Errorf("docker engine: %w", err)
	}
	if _, err := api.NetworkInspect(ctx, networkName, network.InspectOptions{}); err != nil {
		return nil, fmt.Errorf("docker network %s: %w", networkName, err)
	}
	r := &Runtime{api: api, network: networkName, sandboxVolume: opts.SandboxVolume, registryAuth: opts.RegistryAuth, cgroups: opts.Cgroups,
		cgroupParent: opts.CgroupParent}
	if opts.NetnsPool > 0 && opts.HolderImage != "" {
		r.holders = newHolders(r, opts.NetnsPool, opts.HolderImage, opts.Logger)
		r.holderLabels, r.holderPrefix = opts.HolderLabels, opts.HolderPrefix
		// An earlier agent's holders: kept for the function containers
		// that joined them (adopted next), removed otherwise.
		if err := r.adoptHolders(ctx); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// Run keeps the netns holder pool filled until ctx ends; without a pool
// it returns at once.
func (r *Runtime) Run(ctx context.Context) {
	if r.holders != nil {
		r.holders.pool.Run(ctx)
	}
}

// Prepared is how many holders are ready for a cold start.
func (r *Runtime) Prepared() int {
	if r.holders == nil {
		return 0
	}
	return r.holders.pool.Ready()
}

// Name implements engine.Runtime.
func (r *Runtime) Name() string { return "docker" }

// InspectImage implements engine.Runtime.
func (r *Runtime) InspectImage(ctx context.Context, ref string) (engine.Image, error) {
	img, err := r.api.ImageInspect(ctx, ref)
	if err != nil {
		return engine.Image{}, fmt.Errorf("inspect image %s: %w", ref, notFound(err))
	}
	return engine.Image{ID: img.ID, RepoDigests: img.RepoDigests}, nil
}

// PullImage implements engine.Runtime. The engine reports pull errors inside
// the progress stream, so the stream is read to its end.
func (r *Runtime) PullImage(ctx context.Context, ref string) error {
	server := ""
	if named, err := reference.ParseNormalizedNamed(ref); err == nil {
		server = reference.Domain(named)
	}
	rc, err := r.api.ImagePull(ctx, ref, image.PullOptions{RegistryAuth: r.registryAuth.DockerAuth(server)})
	if err != nil {
		return fmt.Errorf("pull %s: %w", ref, notFound(err))
	}
	defer rc.Close()
	if err := jsonmessage.DisplayJSONMessagesStream(rc, io.Discard, 0, false, nil); err != nil {
		return fmt.Errorf("pull %s: %w", ref, err)
	}
	return nil
}

// RemoveImage implements engine.Runtime. Without force the engine refuses
// to remove the last reference of an image a container uses, and only
// untags one that has other references.
func (r *Runtime) RemoveImage(ctx context.Context, ref string) error {
	if _, err := r.api.ImageRemove(ctx, ref, image.RemoveOptions{PruneChildren: true}); err != nil {
		if cerrdefs.IsConflict(err) {
			return fmt.Errorf("remove image %s: %w: %w", ref, engine.ErrInUse, err)
		}
		return fmt.Errorf("remove image %s: %w", ref, notFound(err))
	}
	return nil
}

// Create implements engine.Runtime. Swap equals memory, as Lambda has no
// swap; the json-file log is rotated because functions may log a lot and
// the agent ships every line anyway.
func (r *Runtime) Create(ctx context.Context, spec engine.Spec) (string, error) {
	cfg := &container.Config{
		Image:  spec.Image,
		Cmd:    spec.Cmd,
		Env:    spec.Env,
		Labels: spec.Labels,
	}
	host := &container.HostConfig{
		NetworkMode: container.NetworkMode(r.network),
		Resources:   container.Resources{Memory: spec.MemoryBytes, MemorySwap: spec.MemoryBytes, CgroupParent: r.cgroupParent},
		LogConfig: container.LogConfig{
			Type:   "json-file",
			Config: map[string]string{"max-size": "10m", "max-file": "3"},
		},
	}
	if spec.Sandbox != nil {
		if err := r.seal(ctx, spec, cfg, host); err != nil {
			return "", err
		}
	}
	nets := &network.NetworkingConfig{EndpointsConfig: map[string]*network.EndpointSettings{r.network: {}}}
	holder := ""
	if r.holders != nil && spec.Sandbox != nil {
		if holder = r.holders.take(); holder != "" {
			host.NetworkMode = container.NetworkMode("container:" + holder)
			nets = nil
		}
	}
	resp, err := r.api.ContainerCreate(ctx, cfg, host, nets, nil, spec.Name)
	if err != nil {
		if holder != "" {
			r.removeHolder(ctx, holder)
		}
		return "", fmt.Errorf("create container %s: %w", spec.Name, notFound(err))
	}
	if holder != "" {
		r.holders.bind(resp.ID, holder)
	}
	return resp.ID, nil
}

// seal applies spec.Sandbox to a container's settings. The entrypoint is
// replaced by sandboxinit's command line, which ends with the image's own
// entrypoint and cmd: that needs the image's config.
func (r *Runtime) seal(ctx context.Context, spec engine.Spec, cfg *container.Config, host *container.HostConfig) error {
	if r.sandboxVolume == "" {
		return fmt.Errorf("create container %s: sandbox requested but the runtime has no sandbox volume", spec.Name)
	}
	img, err := r.api.ImageInspect(ctx, spec.Image)
	if err != nil {
		return fmt.Errorf("create container %s: inspect image %s: %w", spec.Name, spec.Image, notFound(err))
	}
	var entrypoint, imageCmd []string
	if img.Config != nil {
		entrypoint, imageCmd = img.Config.Entrypoint, img.Config.Cmd
	}
	sb := spec.Sandbox
	// An entrypoint given at create drops the image's CMD: pass it on.
	cfg.Entrypoint = append(sb.Policy.Args(), entrypoint...)
	if len(cfg.Cmd) == 0 {
		cfg.Cmd = imageCmd
	}
	// sandboxinit starts as root and becomes the Lambda user itself.
	cfg.User = "0:0"
	host.ReadonlyRootfs = true
	host.Tmpfs = map[string]string{"/tmp": fmt.Sprintf("rw,nosuid,nodev,mode=1777,size=%d", sb.TmpBytes)}
	host.CapDrop = []string{"ALL"}
	host.CapAdd = sandbox.Capabilities
	host.SecurityOpt = []string{"no-new-privileges:true"}
	host.Resources.PidsLimit = &sb.Pids
	host.Resources.CPUShares = int64(sb.CPUShares)
	host.Mounts = []mount.Mount{{Type: mount.TypeVolume, Source: r.sandboxVolume, Target: path.Dir(sandbox.Path), ReadOnly: true}}
	return nil
}

// Start implements engine.Runtime.
func (r *Runtime) Start(ctx context.Context, id string) error {
	if err := r.api.ContainerStart(ctx, id, container.StartOptions{}); err != nil {
		return fmt.Errorf("start container %s: %w", id, notFound(err))
	}
	return nil
}

// Stop implements engine.Runtime.
func (r *Runtime) Stop(ctx context.Context, id string, grace time.Duration) error {
	secs := int(grace / time.Second)
	if err := r.api.ContainerStop(ctx, id, container.StopOptions{Timeout: &secs}); err != nil {
		return fmt.Errorf("stop container %s: %w", id, notFound(err))
	}
	return nil
}

// Remove implements engine.Runtime. With Force the engine answers a
// conflict only when another removal of the same container is in progress
// (a failed start cleaning up while a reconcile removes it as exited):
// the container is going either way.
func (r *Runtime) Remove(ctx context.Context, id string) error {
	err := r.api.ContainerRemove(ctx, id, container.RemoveOptions{Force: true, RemoveVolumes: true})
	if err != nil && !cerrdefs.IsNotFound(err) && !cerrdefs.IsConflict(err) {
		return fmt.Errorf("remove container %s: %w", id, err)
	}
	if r.holders != nil {
		if h := r.holders.unbind(id); h != "" {
			r.removeHolder(ctx, h)
		}
	}
	return nil
}

// List implements engine.Runtime.
func (r *Runtime) List(ctx context.Context, labels map[string]string) ([]engine.Container, error) {
	args := filters.NewArgs()
	for k, v := range labels {
		args.Add("label", k+"="+v)
	}
	list, err := r.api.ContainerList(ctx, container.ListOptions{All: true, Filters: args})
	if err != nil {
		return nil, fmt.Errorf("list containers: %w", err)
	}
	out := make([]engine.Container, 0, len(list))
	for _, c := range list {
		if _, ok := c.Labels[LabelHolder]; ok {
			continue // not a function container
		}
		ct := engine.Container{
			ID:     c.ID,
			Image:  c.Image,
			Labels: c.Labels,
			State:  engine.State(c.State),
		}
		if len(c.Names) > 0 {
			ct.Name = trimSlash(c.Names[0])
		}
		if c.NetworkSettings != nil {
			if ep := c.NetworkSettings.Networks[r.network]; ep != nil {
				ct.IP = ep.IPAddress
			}
		}
		out = append(out, ct)
	}
	return out, nil
}

// Address implements engine.Runtime.
func (r *Runtime) Address(ctx context.Context, id string) (string, error) {
	if r.holders != nil {
		if h := r.holders.holderOf(id); h != "" {
			return r.holderAddress(ctx, id, h)
		}
	}
	c, err := r.api.ContainerInspect(ctx, id)
	if err != nil {
		return "", fmt.Errorf("inspect container %s: %w", id, notFound(err))
	}
	if c.NetworkSettings != nil {
		if ep := c.NetworkSettings.Networks[r.network]; ep != nil && ep.IPAddress != "" {
			return ep.IPAddress, nil
		}
	}
	return "", fmt.Errorf("container %s: no address on network %s", id, r.network)
}

// FollowLogs implements engine.Runtime. Containers run without a TTY, so
// the stream is multiplexed and stdcopy splits it.
func (r *Runtime) FollowLogs(ctx context.Context, id string, since time.Time, stdout, stderr io.Writer) error {
	opts := container.LogsOptions{ShowStdout: true, ShowStderr: true, Follow: true}
	if !since.IsZero() {
		opts.Since = fmt.Sprintf("%d.%09d", since.Unix(), since.Nanosecond())
	}
	rc, err := r.api.ContainerLogs(ctx, id, opts)
	if err != nil {
		return fmt.Errorf("logs of container %s: %w", id, notFound(err))
	}
	defer rc.Close()
	if _, err := stdcopy.StdCopy(stdout, stderr, rc); err != nil && ctx.Err() == nil {
		return fmt.Errorf("logs of container %s: %w", id, err)
	}
	return nil
}

// notFound adds engine.ErrNotFound to a Docker not-found error so callers
// above the seam match it without knowing Docker.
func notFound(err error) error {
	if cerrdefs.IsNotFound(err) {
		return fmt.Errorf("%w: %w", engine.ErrNotFound, err)
	}
	return err
}

func trimSlash(name string) string {
	if len(name) > 0 && name[0] == '/' {
		return name[1:]
	}
	return name
}

// PeakMemory implements engine.Runtime: from the container's cgroup when
// the host's cgroup files are at hand (v1's memory.max_usage_in_bytes,
// v2's memory.peak), else with one stats sample, where Docker reports the
// peak on cgroup v1 hosts only.
func (r *Runtime) PeakMemory(ctx context.Context, id string) (int64, error) {
	if r.cgroups != nil {
		v, err := r.cgroups.Peak(id)
		if !errors.Is(err, cgroupmem.ErrNotFound) {
			return v, err
		}
		// Not where Docker keeps it (a daemon's own cgroup parent):
		// Docker knows.
	}
	resp, err := r.api.ContainerStatsOneShot(ctx, id)
	if err != nil {
		return 0, fmt.Errorf("stats of container %s: %w", id, notFound(err))
	}
	defer resp.Body.Close()
	var st container.StatsResponse
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&st); err != nil {
		return 0, fmt.Errorf("stats of container %s: %w", id, err)
	}
	if st.MemoryStats.MaxUsage == 0 {
		return 0, fmt.Errorf("peak memory of container %s: %w (cgroup v2)", id, engine.ErrNoMetric)
	}
	return int64(st.MemoryStats.MaxUsage), nil
}
