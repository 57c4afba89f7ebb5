// Package containerdruntime implements engine.Runtime on containerd, for
// containerd mode: function containers run on the env's runtime node
// (containerd + runc) and join a CNI bridge network there. The agent runs
// in the node's network and PID namespaces, which is what lets it set up
// CNI for a task and lets the gateway reach function containers.
//
// Differences from the Docker runtime that callers see: a container's ID
// is its name (see containerID); stderr is joined to stdout (see
// Config.JoinStderr) and written to one log file per container, so
// FollowLogs reports every line as stdout.
package containerdruntime

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"syscall"
	"time"

	cgroup1stats "github.com/containerd/cgroups/v3/cgroup1/stats"
	cgroup2stats "github.com/containerd/cgroups/v3/cgroup2/stats"
	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/remotes"
	"github.com/containerd/containerd/v2/core/remotes/docker"
	"github.com/containerd/containerd/v2/pkg/cio"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/containerd/v2/pkg/oci"
	cerrdefs "github.com/containerd/errdefs"
	"github.com/containerd/typeurl/v2"
	"github.com/distribution/reference"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/esb-dev/esb/internal/registryauth"
	"github.com/esb-dev/esb/services/agent/engine"
	"github.com/esb-dev/esb/services/agent/executable"
)

// Config says which containerd namespace the runtime owns and how its
// function containers are wired.
type Config struct {
	// Namespace is the containerd namespace of the brand's functions.
	Namespace string
	// DataDir holds one directory per container (output log, hosts,
	// resolv.conf). It must be the same path on the runtime node: the
	// shim writes the log there and runc bind-mounts the files.
	DataDir string
	// PlainHTTP lists registries (host:port) pulled over plain HTTP, such
	// as the platform registry, registry:5000; localhost always is.
	PlainHTTP []string
	// HostNames are platform names function code calls (s3-storage,
	// database): resolved on the node at each create and written into
	// the container's /etc/hosts, as the node's DNS is out of its reach.
	HostNames []string
	// Snapshotter is containerd's snapshotter; empty means its default.
	Snapshotter string
	// JoinStderr is the path, in the agent, of the joinstderr command
	// (services/agent/joinstderr). New copies it into DataDir, and every
	// function process starts behind it with stderr joined to stdout, as
	// the shim can lose the last stderr lines of a process that exits.
	// Empty: processes start as they are.
	JoinStderr string
	// Sandboxinit is the path, in the agent, of the sandboxinit command
	// (services/agent/sandboxinit); New copies it into DataDir like
	// JoinStderr. Required to create a container whose Spec has a Sandbox.
	Sandboxinit string // RegistryAuth is the credential of the registries in PlainHTTP (the
	// env's own): the registry answers nobody without it. Other registries
	// are pulled anonymously.
	RegistryAuth registryauth.Credential
}

// Options are optional collaborators; the zero value resolves with the
// system resolver, reads the node's /etc/resolv.conf, logs nowhere and
// polls logs every 100 ms.
type Options struct {
	LookupHost func(ctx context.Context, host string) ([]string, error)
	ResolvConf string // path of the resolver config whose nameservers functions get
	Logger     *slog.Logger
	LogPoll    time.Duration
	// NetnsPool, when positive, keeps that many network namespaces
	// prepared on the function network for cold starts (see
	// preparedNetns); Run fills the pool.
	NetnsPool int
}

// Runtime runs function containers on containerd.
type Runtime struct {
	client   *containerd.Client
	network  Network
	cfg      Config
	opts     Options
	resolver remotes.Resolver
	netns    *netnsPool // nil: each task gets its namespace at start
}

var _ engine.Runtime = (*Runtime)(nil)

// New checks that containerd answers, so a wrong socket fails the agent at
// startup rather than at the first cold start.
func New(ctx context.Context, client *containerd.Client, network Network, cfg Config, opts Options) (*Runtime, error) {
	if cfg.Namespace == "" || cfg.DataDir == "" {
		return nil, errors.New("containerd runtime: namespace and data dir are required")
	}
	if opts.LookupHost == nil {
		opts.LookupHost = net.DefaultResolver.LookupHost
	}
	if opts.ResolvConf == "" {
		opts.ResolvConf = "/etc/resolv.conf"
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.LogPoll <= 0 {
		opts.LogPoll = 100 * time.Millisecond
	}
	if _, err := client.Version(ctx); err != nil {
		return nil, fmt.Errorf("containerd: %w", err)
	}
	if err := os.MkdirAll(cfg.DataDir, 0o755); err != nil {
		return nil, fmt.Errorf("containerd runtime data dir: %w", err)
	}
	if cfg.JoinStderr != "" {
		// runc mounts it from the node, which sees DataDir, not the agent's files.
		placed, err := executable.Place(cfg.JoinStderr, filepath.Join(cfg.DataDir, "bin", "joinstderr"))
		if err != nil {
			return nil, fmt.Errorf("containerd runtime: %w", err)
		}
		cfg.JoinStderr = placed
	}
	if cfg.Sandboxinit != "" {
		placed, err := executable.Place(cfg.Sandboxinit, filepath.Join(cfg.DataDir, "bin", "sandboxinit"))
		if err != nil {
			return nil, fmt.Errorf("containerd runtime: %w", err)
		}
		cfg.Sandboxinit = placed
	}
	plain := slices.Clone(cfg.PlainHTTP)
	cred := cfg.RegistryAuth
	// Credentials go to the env's registry only, never to another host a
	// function image might name.
	authorizer := docker.NewDockerAuthorizer(docker.WithAuthCreds(func(host string) (string, string, error) {
		if cred.Empty() || !slices.Contains(plain, host) {
			return "", "", nil
		}
		return cred.Username, cred.Password, nil
	}))
	hosts := docker.ConfigureDefaultRegistries(docker.WithAuthorizer(authorizer), docker.WithPlainHTTP(func(host string) (bool, error) {
		if slices.Contains(plain, host) {
			return true, nil
		}
		return docker.MatchLocalhost(host)
	}))
	r := &Runtime{
		client:   client,
		network:  network,
		cfg:      cfg,
		opts:     opts,
		resolver: docker.NewResolver(docker.ResolverOptions{Hosts: hosts}),
	}
	if opts.NetnsPool > 0 {
		pool, err := newNetnsPool(network, opts.NetnsPool, filepath.Join(cfg.DataDir, "netns", cfg.Namespace), holdNetns, opts.Logger)
		if err != nil {
			return nil, fmt.Errorf("containerd runtime: %w", err)
		}
		r.netns = pool
		if err := r.reclaimNetns(ctx); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// Run keeps the pool of prepared network namespaces filled until ctx
// ends; without a pool it returns at once.
func (r *Runtime) Run(ctx context.Context) {
	if r.netns != nil {
		r.netns.pool.Run(ctx)
	}
}

// Prepared is how many namespaces are ready for a cold start.
func (r *Runtime) Prepared() int {
	if r.netns == nil {
		return 0
	}
	return r.netns.pool.Ready()
}

// reclaimNetns releases what an earlier agent prepared and no container
// runs in.
func (r *Runtime) reclaimNetns(ctx context.Context) error {
	ctrs, err := r.client.Containers(r.ns(ctx))
	if err != nil {
		return fmt.Errorf("containerd runtime: list containers: %w", err)
	}
	inUse := map[string]bool{}
	for _, c := range ctrs {
		labels, err := c.Labels(r.ns(ctx))
		if err != nil {
			continue // gone meanwhile
		}
		if id := labels[LabelNetns]; id != "" {
			inUse[id] = true
		}
	}
	return r.netns.reclaim(ctx, inUse)
}

// Name implements engine.Runtime.
func (r *Runtime) Name() string { return "containerd" }

func (r *Runtime) ns(ctx context.Context) context.Context {
	return namespaces.WithNamespace(ctx, r.cfg.Namespace)
}

// dir is the container's directory in DataDir.
func (r *Runtime) dir(id string) string {
	return filepath.Join(r.cfg.DataDir, r.cfg.Namespace, id)
}

func (r *Runtime) logPath(id string) string { return filepath.Join(r.dir(id), "output.log") }

// InspectImage implements engine.Runtime. The image ID is its manifest
// (or index) digest, the digest the registry knows it by.
func (r *Runtime) InspectImage(ctx context.Context, ref string) (engine.Image, error) {
	name, err := normalizeRef(ref)
	if err != nil {
		return engine.Image{}, err
	}
	img, err := r.client.ImageService().Get(r.ns(ctx), name)
	if err != nil {
		return engine.Image{}, fmt.Errorf("inspect image %s: %w", ref, notFound(err))
	}
	out := engine.Image{ID: img.Target.Digest.String()}
	if named, err := reference.ParseNormalizedNamed(name); err == nil {
		if canonical, err := reference.WithDigest(reference.TrimNamed(named), img.Target.Digest); err == nil {
			out.RepoDigests = []string{canonical.String()}
		}
	}
	return out, nil
}

// PullImage implements engine.Runtime: it always asks the registry, so a
// tag republished by a deploy resolves to its new digest, and unpacks the
// image for the snapshotter.
func (r *Runtime) PullImage(ctx context.Context, ref string) error {
	name, err := normalizeRef(ref)
	if err != nil {
		return err
	}
	opts := []containerd.RemoteOpt{containerd.WithPullUnpack, containerd.WithResolver(r.resolver)}
	if r.cfg.Snapshotter != "" {
		opts = append(opts, containerd.WithPullSnapshotter(r.cfg.Snapshotter))
	}
	if _, err := r.client.Pull(r.ns(ctx), name, opts...); err != nil {
		return fmt.Errorf("pull %s: %w", ref, notFound(err))
	}
	return nil
}

// RemoveImage implements engine.Runtime. containerd itself would delete an
// image its containers run from (they keep their snapshots), so the
// check for users is made here, as Docker makes it.
func (r *Runtime) RemoveImage(ctx context.Context, ref string) error {
	ctx = r.ns(ctx)
	name, err := normalizeRef(ref)
	if err != nil {
		return err
	}
	users, err := r.client.Containers(ctx, "image=="+strconv.Quote(name))
	if err != nil {
		return fmt.Errorf("remove image %s: %w", ref, err)
	}
	if len(users) > 0 {
		return fmt.Errorf("remove image %s: %w: container %s runs from it", ref, engine.ErrInUse, users[0].ID())
	}
	if err := r.client.ImageService().Delete(ctx, name); err != nil {
		return fmt.Errorf("remove image %s: %w", ref, notFound(err))
	}
	return nil
}

// Create implements engine.Runtime. The image must be present (pulled or
// imported); it is unpacked here if it is not yet.
func (r *Runtime) Create(ctx context.Context, spec engine.Spec) (string, error) {
	ctx = r.ns(ctx)
	id := containerID(spec.Name)
	name, err := normalizeRef(spec.Image)
	if err != nil {
		return "", err
	}
	img, err := r.client.GetImage(ctx, name)
	if err != nil {
		return "", fmt.Errorf("create container %s: image %s: %w", spec.Name, spec.Image, notFound(err))
	}
	if unpacked, err := img.IsUnpacked(ctx, r.cfg.Snapshotter); err != nil || !unpacked {
		if err := img.Unpack(ctx, r.cfg.Snapshotter); err != nil {
			return "", fmt.Errorf("create container %s: unpack %s: %w", spec.Name, spec.Image, err)
		}
	}
	imgSpec, err := img.Spec(ctx)
	if err != nil {
		return "", fmt.Errorf("create container %s: image config of %s: %w", spec.Name, spec.Image, err)
	}
	files, err := r.writeFiles(ctx, id, spec.Name)
	if err != nil {
		return "", fmt.Errorf("create container %s: %w", spec.Name, err)
	}
	labels := map[string]string{labelName: spec.Name}
	for k, v := range spec.Labels {
		labels[k] = v
	}
	specOpts, err := functionSpecOpts(spec, imgSpec.Config, files)
	if err != nil {
		_ = os.RemoveAll(r.dir(id))
		return "", fmt.Errorf("create container %s: %w", spec.Name, err)
	}
	var netns *preparedNetns
	if r.netns != nil {
		if netns = r.netns.take(); netns != nil {
			specOpts = append(specOpts, oci.WithLinuxNamespace(specs.LinuxNamespace{Type: specs.NetworkNamespace, Path: netns.holder.Path()}))
			labels[LabelNetns], labels[labelIP] = netns.id, netns.ip
		}
	}
	opts := []containerd.NewContainerOpts{containerd.WithImage(img)}
	if r.cfg.Snapshotter != "" {
		opts = append(opts, containerd.WithSnapshotter(r.cfg.Snapshotter))
	}
	opts = append(opts,
		containerd.WithNewSnapshot(id, img),
		containerd.WithNewSpec(specOpts...),
		containerd.WithContainerLabels(labels),
	)
	if _, err := r.client.NewContainer(ctx, id, opts...); err != nil {
		if !cerrdefs.IsAlreadyExists(err) {
			_ = os.RemoveAll(r.dir(id))
		}
		if netns != nil {
			_ = r.netns.removed(ctx, netns.id)
		}
		return "", fmt.Errorf("create container %s: %w", spec.Name, err)
	}
	return id, nil
}

// writeFiles writes the container's /etc/hosts and /etc/resolv.conf. A
// platform name that does not resolve is left out: the function then
// fails on that name alone, with the resolver's own error.
func (r *Runtime) writeFiles(ctx context.Context, id, name string) (functionFiles, error) {
	dir := r.dir(id)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return functionFiles{}, err
	}
	var entries []hostEntry
	for _, host := range r.cfg.HostNames {
		addrs, err := r.opts.LookupHost(ctx, host)
		if err != nil || len(addrs) == 0 {
			r.opts.Logger.Warn("platform name does not resolve; function containers will not find it", "host", host, "error", err)
			continue
		}
		entries = append(entries, hostEntry{Name: host, IP: addrs[0]})
	}
	nodeConf, err := os.ReadFile(r.opts.ResolvConf)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return functionFiles{}, err
	}
	files := functionFiles{Hosts: filepath.Join(dir, "hosts"), ResolvConf: filepath.Join(dir, "resolv.conf"), JoinStderr: r.cfg.JoinStderr, Sandboxinit: r.cfg.Sandboxinit}
	if err := os.WriteFile(files.Hosts, []byte(hostsFile(name, entries)), 0o644); err != nil {
		return functionFiles{}, err
	}
	if err := os.WriteFile(files.ResolvConf, []byte(resolvConf(string(nodeConf))), 0o644); err != nil {
		return functionFiles{}, err
	}
	return files, nil
}

// Start implements engine.Runtime. The task is created (its namespaces
// exist, its process waits), attached to the function network, and only
// then started, so the function never runs without its address.
func (r *Runtime) Start(ctx context.Context, id string) (err error) {
	ctx = r.ns(ctx)
	ctr, err := r.client.LoadContainer(ctx, id)
	if err != nil {
		return fmt.Errorf("start container %s: %w", id, notFound(err))
	}
	info, err := ctr.Info(ctx, containerd.WithoutRefreshedMetadata)
	if err != nil {
		return fmt.Errorf("start container %s: %w", id, notFound(err))
	}
	prepared := info.Labels[LabelNetns]
	if prepared != "" && (r.netns == nil || !r.netns.holds(prepared)) {
		// Its spec names the holder's /proc path, which would now lead
		// to whatever process took the PID: the container goes, a new
		// one takes its place.
		return fmt.Errorf("start container %s: its prepared network namespace %s is no longer held", id, prepared)
	}
	task, err := ctr.NewTask(ctx, cio.LogFile(r.logPath(id)))
	if err != nil {
		return fmt.Errorf("start container %s: create task: %w", id, err)
	}
	defer func() {
		if err != nil {
			cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
			defer cancel()
			if _, derr := task.Delete(cctx, containerd.WithProcessKill); derr != nil && !cerrdefs.IsNotFound(derr) {
				r.opts.Logger.Warn("delete task after failed start", "container", id, "error", derr)
			}
		}
	}()
	if prepared != "" {
		// Created in a prepared namespace, which has its address: the
		// task now keeps it alive, its holder can go.
		r.netns.joined(prepared)
		if err := task.Start(ctx); err != nil {
			return fmt.Errorf("start container %s: %w", id, err)
		}
		return nil
	}
	netns := fmt.Sprintf("/proc/%d/ns/net", task.Pid())
	ip, err := r.network.Attach(ctx, id, netns)
	if err != nil {
		return fmt.Errorf("start container %s: %w", id, err)
	}
	defer func() {
		if err != nil {
			if derr := r.network.Detach(context.WithoutCancel(ctx), id, netns); derr != nil {
				r.opts.Logger.Warn("detach network after failed start", "container", id, "error", derr)
			}
		}
	}()
	if _, err := ctr.SetLabels(ctx, map[string]string{labelIP: ip}); err != nil {
		return fmt.Errorf("start container %s: record address: %w", id, err)
	}
	if err := task.Start(ctx); err != nil {
		return fmt.Errorf("start container %s: %w", id, err)
	}
	return nil
}

// Stop implements engine.Runtime: SIGTERM, then SIGKILL after grace. The
// stopped task is kept, so the container reads as exited until removed.
func (r *Runtime) Stop(ctx context.Context, id string, grace time.Duration) error {
	ctx = r.ns(ctx)
	task, err := r.task(ctx, id)
	if err != nil {
		return fmt.Errorf("stop container %s: %w", id, err)
	}
	if task == nil {
		return nil
	}
	st, err := task.Status(ctx)
	if err != nil {
		return fmt.Errorf("stop container %s: %w", id, notFound(err))
	}
	if st.Status == containerd.Stopped || st.Status == containerd.Created {
		return nil
	}
	exited, err := task.Wait(ctx)
	if err != nil {
		return fmt.Errorf("stop container %s: %w", id, notFound(err))
	}
	sig := syscall.SIGTERM
	if grace <= 0 {
		sig = syscall.SIGKILL
	}
	if err := task.Kill(ctx, sig); err != nil && !cerrdefs.IsNotFound(err) {
		return fmt.Errorf("stop container %s: %w", id, err)
	}
	timer := time.NewTimer(grace)
	defer timer.Stop()
	select {
	case <-exited:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-timer.C:
	}
	if err := task.Kill(ctx, syscall.SIGKILL); err != nil && !cerrdefs.IsNotFound(err) {
		return fmt.Errorf("stop container %s: %w", id, err)
	}
	select {
	case <-exited:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// task returns the container's task, nil when it has none, or an error
// matching engine.ErrNotFound when the container does not exist.
func (r *Runtime) task(ctx context.Context, id string) (containerd.Task, error) {
	ctr, err := r.client.LoadContainer(ctx, id)
	if err != nil {
		return nil, notFound(err)
	}
	task, err := ctr.Task(ctx, nil)
	if cerrdefs.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return task, nil
}

// Remove implements engine.Runtime: kill and delete the task, release the
// address, delete the container with its snapshot, drop its files.
func (r *Runtime) Remove(ctx context.Context, idOrName string) error {
	ctx = r.ns(ctx)
	id := containerID(idOrName)
	ctr, err := r.client.LoadContainer(ctx, id)
	if cerrdefs.IsNotFound(err) {
		return os.RemoveAll(r.dir(id))
	}
	if err != nil {
		return fmt.Errorf("remove container %s: %w", id, err)
	}
	var errs []error
	if task, err := ctr.Task(ctx, nil); err == nil {
		if _, err := task.Delete(ctx, containerd.WithProcessKill); err != nil && !cerrdefs.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("delete task: %w", err))
		}
	} else if !cerrdefs.IsNotFound(err) {
		errs = append(errs, fmt.Errorf("load task: %w", err))
	}
	// The namespace is gone with the task; CNI releases the address and
	// NAT rules by container ID, or by the prepared namespace's.
	if err := r.detach(ctx, ctr, id); err != nil {
		r.opts.Logger.Warn("release function address", "container", id, "error", err)
	}
	if err := ctr.Delete(ctx, containerd.WithSnapshotCleanup); err != nil && !cerrdefs.IsNotFound(err) {
		errs = append(errs, err)
	}
	if err := os.RemoveAll(r.dir(id)); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("remove container %s: %w", id, err)
	}
	return nil
}

func (r *Runtime) detach(ctx context.Context, ctr containerd.Container, id string) error {
	info, err := ctr.Info(ctx, containerd.WithoutRefreshedMetadata)
	if err != nil {
		return err
	}
	if prepared := info.Labels[LabelNetns]; prepared != "" {
		if r.netns != nil {
			return r.netns.removed(ctx, prepared)
		}
		return r.network.Detach(ctx, prepared, "")
	}
	return r.network.Detach(ctx, id, "")
}

// List implements engine.Runtime.
func (r *Runtime) List(ctx context.Context, labels map[string]string) ([]engine.Container, error) {
	ctx = r.ns(ctx)
	var filters []string
	if f := labelFilter(labels); f != "" {
		filters = append(filters, f)
	}
	list, err := r.client.Containers(ctx, filters...)
	if err != nil {
		return nil, fmt.Errorf("list containers: %w", err)
	}
	out := make([]engine.Container, 0, len(list))
	for _, ctr := range list {
		info, err := ctr.Info(ctx, containerd.WithoutRefreshedMetadata)
		if cerrdefs.IsNotFound(err) {
			continue // removed meanwhile
		}
		if err != nil {
			return nil, fmt.Errorf("list containers: %s: %w", ctr.ID(), err)
		}
		st, err := r.status(ctx, ctr)
		if err != nil {
			return nil, fmt.Errorf("list containers: %s: %w", ctr.ID(), err)
		}
		c := engine.Container{
			ID:     info.ID,
			Name:   info.Labels[labelName],
			Image:  info.Image,
			Labels: userLabels(info.Labels),
			State:  st,
		}
		if c.Name == "" {
			c.Name = info.ID
		}
		if st == engine.StateRunning {
			c.IP = info.Labels[labelIP]
		}
		out = append(out, c)
	}
	return out, nil
}

// userLabels drops the runtime's own labels.
func userLabels(all map[string]string) map[string]string {
	out := make(map[string]string, len(all))
	for k, v := range all {
		if k != labelName && k != labelIP && k != LabelNetns {
			out[k] = v
		}
	}
	return out
}

func (r *Runtime) status(ctx context.Context, ctr containerd.Container) (engine.State, error) {
	task, err := ctr.Task(ctx, nil)
	if cerrdefs.IsNotFound(err) {
		return state("", false), nil
	}
	if err != nil {
		return "", err
	}
	st, err := task.Status(ctx)
	if cerrdefs.IsNotFound(err) {
		return state("", false), nil
	}
	if err != nil {
		return "", err
	}
	return state(st.Status, true), nil
}

// Address implements engine.Runtime: the address recorded at start, while
// the task runs.
func (r *Runtime) Address(ctx context.Context, id string) (string, error) {
	ctx = r.ns(ctx)
	ctr, err := r.client.LoadContainer(ctx, id)
	if err != nil {
		return "", fmt.Errorf("container %s: %w", id, notFound(err))
	}
	st, err := r.status(ctx, ctr)
	if err != nil {
		return "", fmt.Errorf("container %s: %w", id, err)
	}
	if st != engine.StateRunning {
		return "", fmt.Errorf("container %s: %s, no address", id, st)
	}
	labels, err := ctr.Labels(ctx)
	if err != nil {
		return "", fmt.Errorf("container %s: %w", id, notFound(err))
	}
	if ip := labels[labelIP]; ip != "" {
		return ip, nil
	}
	return "", fmt.Errorf("container %s: no address on the function network", id)
}

// FollowLogs implements engine.Runtime by tailing the container's log
// file until its task exits (then the rest of the file is copied) or ctx
// ends. A non-zero since starts at the end of the file: the file has no
// timestamps, and since is "now" for an adopted container. Every line
// goes to stdout: the shim writes both streams into the one file.
func (r *Runtime) FollowLogs(ctx context.Context, id string, since time.Time, stdout, _ io.Writer) error {
	nctx := r.ns(ctx)
	task, err := r.task(nctx, id)
	if err != nil {
		return fmt.Errorf("logs of container %s: %w", id, err)
	}
	var exited <-chan containerd.ExitStatus
	if task != nil {
		if exited, err = task.Wait(nctx); err != nil && !cerrdefs.IsNotFound(err) {
			return fmt.Errorf("logs of container %s: %w", id, err)
		}
	}
	if task == nil || exited == nil {
		done := make(chan containerd.ExitStatus)
		close(done)
		exited = done
	}
	l, err := openLog(r.logPath(id), !since.IsZero())
	if err != nil {
		return fmt.Errorf("logs of container %s: %w", id, err)
	}
	defer l.Close()
	l.warn = r.opts.Logger.Warn
	return follow(ctx, l, exited, r.opts.LogPoll, stdout)
}

// logFile reads a container's log file as it grows. It is opened when
// made, if it exists, so "from the end" means the end at that moment.
//
// The file is only a buffer between the shim and the log store, so what
// has been read is given back to the disk (reclaimEvery bytes at a time):
// a warm container that prints for days holds at most that much disk,
// plus what the reader has not caught up with. The file's size still
// grows (sparse); its blocks do not.
type logFile struct {
	path    string
	fromEnd bool
	f       *os.File

	reclaimed int64 // bytes from the start whose blocks are freed
	// noReclaim is set after a failed punch (a filesystem without
	// hole punching): warned once, the file then grows as the shim writes.
	noReclaim bool
	warn      func(msg string, args ...any)
}

// reclaimEvery is how much read output a log file gathers before its
// blocks are freed.
const reclaimEvery = 1 << 20

func openLog(path string, fromEnd bool) (*logFile, error) {
	l := &logFile{path: path, fromEnd: fromEnd}
	return l, l.open()
}

// open opens the file once it exists; before that it is a no-op.
func (l *logFile) open() error {
	if l.f != nil {
		return nil
	}
	f, err := os.Open(l.path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if l.fromEnd {
		if _, err := f.Seek(0, io.SeekEnd); err != nil {
			f.Close()
			return err
		}
	}
	l.f = f
	return nil
}

func (l *logFile) copyNew(w io.Writer) (int64, error) {
	if err := l.open(); err != nil || l.f == nil {
		return 0, err
	}
	n, err := io.Copy(w, l.f)
	if err != nil {
		return n, err
	}
	l.reclaim()
	return n, nil
}

// reclaim frees the blocks of what has been read, once that is
// reclaimEvery past the last time, in whole pages.
func (l *logFile) reclaim() {
	if l.noReclaim {
		return
	}
	off, err := l.f.Seek(0, io.SeekCurrent)
	if err != nil || off-l.reclaimed < reclaimEvery {
		return
	}
	end := off &^ 4095
	if err := punchHole(l.path, end); err != nil {
		l.noReclaim = true
		if l.warn != nil {
			l.warn("function log file keeps growing: its read part cannot be freed", "file", l.path, "error", err)
		}
		return
	}
	l.reclaimed = end
}

func (l *logFile) Close() error {
	if l.f == nil {
		return nil
	}
	return l.f.Close()
}

// After its task exited, a log stream ends once the file has all of the
// task's output. The shim copies output into the file in the background
// and closes the file when that copy ends, which on a busy node can be
// well after the exit is reported; the last lines, the ones a crash
// report quotes, are the ones in flight then. So the stream ends when no
// process holds the file open for writing. Where that cannot be asked,
// settleRounds empty polls in a row stand in; drainWait bounds the wait
// either way, for a writer that never lets go.
const (
	settleRounds = 5
	drainWait    = 10 * time.Second
)

// drained reports that no more output can reach the file of an exited
// task, given how many polls in a row brought nothing.
func (l *logFile) drained(quiet int) bool {
	if l.f == nil {
		return quiet >= settleRounds
	}
	writing, err := openForWriting(l.f)
	if err != nil {
		return quiet >= settleRounds
	}
	return !writing
}

// follow copies what the file gains to w every poll until done is closed
// or ctx ends; after done, until the file is drained.
func follow[T any](ctx context.Context, l *logFile, done <-chan T, poll time.Duration, w io.Writer) error {
	ticker := time.NewTicker(poll)
	defer ticker.Stop()
	exited, quiet, rounds := false, 0, 0
	maxRounds := int(drainWait / poll)
	for {
		n, err := l.copyNew(w)
		if err != nil {
			return fmt.Errorf("logs %s: %w", l.path, err)
		}
		if exited {
			if n > 0 {
				quiet = 0
			} else if quiet++; l.drained(quiet) {
				// The writer may have written and closed after the copy
				// above; what it wrote is in the file now.
				if _, err := l.copyNew(w); err != nil {
					return fmt.Errorf("logs %s: %w", l.path, err)
				}
				return nil
			}
			if rounds++; rounds >= maxRounds {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-done:
			exited, done = true, nil
		case <-ticker.C:
		}
	}
}

// notFound adds engine.ErrNotFound to a containerd not-found error so
// callers above the seam match it without knowing containerd.
func notFound(err error) error {
	if cerrdefs.IsNotFound(err) {
		return fmt.Errorf("%w: %w", engine.ErrNotFound, err)
	}
	return err
}

// PeakMemory implements engine.Runtime from the task's cgroup metrics:
// memory.max_usage_in_bytes on cgroup v1, memory.peak on cgroup v2
// (kernels before 5.19 have none).
func (r *Runtime) PeakMemory(ctx context.Context, id string) (int64, error) {
	ctx = r.ns(ctx)
	task, err := r.task(ctx, id)
	if err != nil {
		return 0, fmt.Errorf("memory of container %s: %w", id, err)
	}
	if task == nil {
		return 0, fmt.Errorf("memory of container %s: no task: %w", id, engine.ErrNotFound)
	}
	m, err := task.Metrics(ctx)
	if err != nil {
		return 0, fmt.Errorf("metrics of container %s: %w", id, notFound(err))
	}
	data, err := typeurl.UnmarshalAny(m.Data)
	if err != nil {
		return 0, fmt.Errorf("metrics of container %s: %w", id, err)
	}
	var peak uint64
	switch s := data.(type) {
	case *cgroup1stats.Metrics:
		peak = s.GetMemory().GetUsage().GetMax()
	case *cgroup2stats.Metrics:
		peak = s.GetMemory().GetMaxUsage()
	}
	if peak == 0 {
		return 0, fmt.Errorf("peak memory of container %s (%T): %w", id, data, engine.ErrNoMetric)
	}
	return int64(peak), nil
}
