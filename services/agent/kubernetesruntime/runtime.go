// Package kubernetesruntime implements engine.Runtime on a Kubernetes
// cluster, for kubernetes mode: each function container is a Pod in the
// env's namespace, scheduled by the cluster on any of its nodes, pulled by
// the nodes from the env's registry. The Pod list is the source of truth,
// as the container list is for the other runtimes: an agent that restarts
// adopts the Pods it finds.
//
// Differences from the Docker runtime that callers see:
//   - Create records the spec and Start creates the Pod (see Create);
//   - a container's ID is its Pod name (see podName);
//   - stdout and stderr arrive joined: the pods/log API serves one stream,
//     so FollowLogs reports every line as stdout;
//   - a Pod whose node stops being ready reads as exited (see podState),
//     and its log stream ends then, as the kubelet that serves it is gone;
//   - PeakMemory is never reported (the kubelet reports working sets, not
//     peaks);
//   - images live in the registry, not in the runtime (see registry.go);
//   - the sandbox is the Pod's security context; sandboxinit's network
//     rules are not applied (see warnUnenforced).
package kubernetesruntime

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/containerd/containerd/v2/core/remotes"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"

	"github.com/esb-dev/esb/internal/agentapi"
	"github.com/esb-dev/esb/internal/registryauth"
	"github.com/esb-dev/esb/services/agent/engine"
)

// PullSecretName is the namespace's image pull secret, of type
// kubernetes.io/dockerconfigjson, that every function Pod names.
const PullSecretName = "esb-registry"

// functionLabel spreads a function's Pods over the nodes.
const functionLabel = agentapi.LabelFunction

// Config says where the runtime puts Pods and where their images come from.
type Config struct {
	// Namespace holds the env's Pods (and its pull secret); New creates it
	// when it is missing.
	Namespace string
	// Registry is the env's registry as the nodes reach it (host:port).
	Registry string
	// RegistryNames are the names specs and the agent give the env's
	// registry (registry:5000): image references on them are rewritten to
	// Registry for the nodes, and the agent asks them about images over
	// plain HTTP with RegistryAuth.
	RegistryNames []string
	// RegistryAuth is the env's registry credential; empty: anonymous, no
	// pull secret.
	RegistryAuth registryauth.Credential
	// NodeSelector restricts function Pods to the nodes carrying these
	// labels; empty: any node.
	NodeSelector map[string]string
	// Selector are the labels every Pod of this runtime carries (managed,
	// brand, env): the scope of its watch.
	Selector map[string]string
}

// Options are optional settings; the zero value logs nowhere and gives a
// removed Pod's log stream 2 s to end by itself.
type Options struct {
	Logger *slog.Logger
	// LogDrain is how long the log stream of a deleted or stopped Pod may
	// run on to deliver its last lines before it is cut.
	LogDrain time.Duration
}

// Runtime runs function containers as Pods.
type Runtime struct {
	client   API
	cfg      Config
	opts     Options
	resolver remotes.Resolver

	pods      corelisters.PodLister
	nodes     corelisters.NodeLister
	changed   *broadcast
	stopWatch context.CancelFunc
	watching  sync.WaitGroup

	mu      sync.Mutex
	created map[string]*corev1.Pod // Pods created but not started, by name

	warnOnce sync.Once
}

var _ engine.Runtime = (*Runtime)(nil)

// New checks that the cluster answers, makes the namespace and the pull
// secret, and starts watching the namespace's Pods and the nodes; Close
// stops the watch. ctx bounds the setup only.
//
// The agent needs, in the namespace: pods (create, get, list, watch,
// delete), pods/log (get), secrets (create, update); cluster-wide: nodes
// (list, watch), and namespaces (get, create) only to create a missing
// namespace.
func New(ctx context.Context, client API, cfg Config, opts Options) (*Runtime, error) {
	if cfg.Namespace == "" {
		return nil, errors.New("kubernetes runtime: namespace is required")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.LogDrain <= 0 {
		opts.LogDrain = 2 * time.Second
	}
	r := &Runtime{
		client:   client,
		cfg:      cfg,
		opts:     opts,
		resolver: newResolver(cfg.RegistryNames, cfg.RegistryAuth),
		changed:  newBroadcast(),
		created:  map[string]*corev1.Pod{},
	}
	if err := r.ensureNamespace(ctx); err != nil {
		return nil, err
	}
	if !cfg.RegistryAuth.Empty() {
		if err := r.ensurePullSecret(ctx); err != nil {
			return nil, err
		}
	}
	if err := r.watch(ctx); err != nil {
		return nil, err
	}
	return r, nil
}

// ensureNamespace creates the namespace when it does not exist. It is
// asked first, so an agent allowed to use an existing namespace but not
// to create one works; an agent not even allowed to read namespaces (a
// Role confined to its namespace, the usual grant) takes it as made by
// whoever granted the Role, and the watch that follows fails clearly if
// it is not.
func (r *Runtime) ensureNamespace(ctx context.Context) error {
	err := r.client.GetNamespace(ctx, r.cfg.Namespace)
	if err == nil {
		return nil
	}
	if apierrors.IsForbidden(err) {
		r.opts.Logger.Info("may not read namespaces: using the namespace as given", "namespace", r.cfg.Namespace)
		return nil
	}
	if !apierrors.IsNotFound(err) {
		return fmt.Errorf("kubernetes namespace %s: %w", r.cfg.Namespace, err)
	}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: r.cfg.Namespace, Labels: r.cfg.Selector}}
	if err := r.client.CreateNamespace(ctx, ns); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create kubernetes namespace %s: %w", r.cfg.Namespace, err)
	}
	return nil
}

// watch starts the informers: the namespace's Pods of this runtime and
// every node. They run until Close, on their own context: the engine's
// per-call deadlines (engine.WithDeadlines) never cut them.
func (r *Runtime) watch(ctx context.Context) error {
	selector := labels.SelectorFromSet(podLabels(r.cfg.Selector)).String()
	ns := r.cfg.Namespace
	// A client may declare it cannot stream the initial list (fakes in
	// tests): the informer then lists, then watches.
	pods := cache.NewSharedIndexInformer(cache.ToListWatcherWithWatchListSemantics(&cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			o.LabelSelector = selector
			return r.client.ListPods(ctx, ns, o)
		},
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			o.LabelSelector = selector
			return r.client.WatchPods(ctx, ns, o)
		},
	}, r.client), &corev1.Pod{}, 0, cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc})
	nodes := cache.NewSharedIndexInformer(cache.ToListWatcherWithWatchListSemantics(&cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			return r.client.ListNodes(ctx, o)
		},
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			return r.client.WatchNodes(ctx, o)
		},
	}, r.client), &corev1.Node{}, 0, cache.Indexers{})
	notify := cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { r.changed.fire() },
		UpdateFunc: func(any, any) { r.changed.fire() },
		DeleteFunc: func(any) { r.changed.fire() },
	}
	for _, inf := range []cache.SharedIndexInformer{pods, nodes} {
		if _, err := inf.AddEventHandler(notify); err != nil {
			return fmt.Errorf("kubernetes watch: %w", err)
		}
	}
	wctx, stop := context.WithCancel(context.Background())
	r.stopWatch = stop
	for _, inf := range []cache.SharedIndexInformer{pods, nodes} {
		r.watching.Go(func() { inf.RunWithContext(wctx) })
	}
	if !cache.WaitForCacheSync(ctx.Done(), pods.HasSynced, nodes.HasSynced) {
		r.Close()
		return fmt.Errorf("kubernetes watch of pods in %s and of nodes: no initial list (the agent needs list and watch on both): %w", r.cfg.Namespace, context.Cause(ctx))
	}
	r.pods = corelisters.NewPodLister(pods.GetIndexer())
	r.nodes = corelisters.NewNodeLister(nodes.GetIndexer())
	return nil
}

// Close stops the watch.
func (r *Runtime) Close() {
	if r.stopWatch != nil {
		r.stopWatch()
	}
	r.watching.Wait()
}

// Name implements engine.Runtime.
func (r *Runtime) Name() string { return "kubernetes" }

// nodeReady reports whether node name is known and Ready.
func (r *Runtime) nodeReady(name string) bool {
	node, err := r.nodes.Get(name)
	if err != nil {
		return false
	}
	for _, c := range node.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// AllocatableMemoryMB is the memory the ready nodes that may run function
// Pods (NodeSelector) offer Pods, in MB, as the watch saw them at the
// call: the node budget of kubernetes mode. Nodes that come or go later
// do not change it; the scheduler still refuses what does not fit, and a
// start then fails as unschedulable.
func (r *Runtime) AllocatableMemoryMB() int {
	nodes, err := r.nodes.List(labels.SelectorFromSet(r.cfg.NodeSelector))
	if err != nil {
		return 0
	}
	var total int64
	for _, n := range nodes {
		if !r.nodeReady(n.Name) || n.Spec.Unschedulable {
			continue
		}
		if mem, ok := n.Status.Allocatable[corev1.ResourceMemory]; ok {
			total += mem.Value()
		}
	}
	return int(total >> 20)
}

// Create implements engine.Runtime. It builds and records the Pod; Start
// creates it. A Pod cannot be created stopped: once it exists, the
// kubelet runs it. The launcher's order is create, start, then wait for
// readiness, and it removes by name whatever a failed create or start
// left; so the function must not run before Start (as with Docker), and
// a recorded Pod that never started leaves nothing in the cluster (an
// agent that dies between the two loses only the record). Remove drops
// the record.
func (r *Runtime) Create(_ context.Context, spec engine.Spec) (string, error) {
	image, err := nodeImage(spec.Image, r.cfg.RegistryNames, r.cfg.Registry)
	if err != nil {
		return "", fmt.Errorf("create pod for %s: %w", spec.Name, err)
	}
	secret := ""
	if !r.cfg.RegistryAuth.Empty() {
		secret = PullSecretName
	}
	pod, err := buildPod(spec, podConfig{Namespace: r.cfg.Namespace, Image: image, PullSecret: secret, NodeSelector: r.cfg.NodeSelector})
	if err != nil {
		return "", fmt.Errorf("create pod for %s: %w", spec.Name, err)
	}
	if !labels.SelectorFromSet(podLabels(r.cfg.Selector)).Matches(labels.Set(pod.Labels)) {
		return "", fmt.Errorf("create pod for %s: its labels lack the runtime's %v: the agent would not see it", spec.Name, r.cfg.Selector)
	}
	if spec.Sandbox != nil {
		r.warnUnenforced(spec.Sandbox)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.created[pod.Name]; ok {
		return "", fmt.Errorf("create pod %s: already created", pod.Name)
	}
	r.created[pod.Name] = pod
	return pod.Name, nil
}

// warnUnenforced says, once, which part of the sandbox a Pod does not get:
// sandboxinit's rules (reach only the env's endpoints, and the public
// internet only with egress on) and its process limit. The cluster must
// enforce those (NetworkPolicy, the kubelet's podPidsLimit).
func (r *Runtime) warnUnenforced(sb *engine.Sandbox) {
	r.warnOnce.Do(func() {
		r.opts.Logger.Warn("function Pods get the sandbox's user, read-only root, capabilities and seccomp, not its network rules or process limit: the cluster must enforce them (a NetworkPolicy with a CNI that applies it, the kubelet's podPidsLimit)",
			"allowed_endpoints", sb.Policy.Allow, "egress", sb.Policy.Egress, "pids", sb.Pids)
	})
}

// Start implements engine.Runtime: it creates the recorded Pod and waits,
// on the watch, until its function container runs. It fails as soon as
// the Pod shows it will not (an image pull error, an unschedulable Pod, a
// container that exited), with the kubelet's reason. The wait is bounded
// by ctx (engine.WithDeadlines: its call timeout covers the nodes' pull).
func (r *Runtime) Start(ctx context.Context, id string) error {
	r.mu.Lock()
	pod, ok := r.created[id]
	r.mu.Unlock()
	if !ok {
		if _, err := r.client.GetPod(ctx, r.cfg.Namespace, id); err != nil {
			return fmt.Errorf("start pod %s: %w", id, apiNotFound(err))
		}
		return r.waitRunning(ctx, id)
	}
	err := r.client.CreatePod(ctx, pod)
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("start pod %s: %w", id, err)
	}
	r.mu.Lock()
	delete(r.created, id)
	r.mu.Unlock()
	return r.waitRunning(ctx, id)
}

// waitRunning waits until Pod name runs, or fails.
func (r *Runtime) waitRunning(ctx context.Context, name string) error {
	seen := false
	last := "not yet seen by the watch"
	for {
		changed := r.changed.wait()
		pod, err := r.pods.Pods(r.cfg.Namespace).Get(name)
		switch {
		case err == nil:
			seen = true
			last = progress(pod)
			reason, running := startFailure(pod, r.nodeReady)
			if running {
				return nil
			}
			if reason != "" {
				return fmt.Errorf("start pod %s: %s", name, reason)
			}
		case seen:
			return fmt.Errorf("start pod %s: %w: deleted while starting", name, engine.ErrNotFound)
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return fmt.Errorf("start pod %s: not running (%s): %w", name, last, ctx.Err())
		}
	}
}

// Stop implements engine.Runtime: the Pod is deleted with grace (its
// processes get SIGTERM, SIGKILL after grace) and Stop returns once it is
// gone. A Pod cannot stop and stay, so a stopped container is a removed
// one: Stop is the graceful Remove.
func (r *Runtime) Stop(ctx context.Context, id string, grace time.Duration) error {
	secs := int64(grace / time.Second)
	err := r.client.DeletePod(ctx, r.cfg.Namespace, id, metav1.DeleteOptions{GracePeriodSeconds: &secs})
	if err != nil {
		return fmt.Errorf("stop pod %s: %w", id, apiNotFound(err))
	}
	for {
		changed := r.changed.wait()
		if _, err := r.pods.Pods(r.cfg.Namespace).Get(id); apierrors.IsNotFound(err) {
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return fmt.Errorf("stop pod %s: %w", id, ctx.Err())
		}
	}
}

// Remove implements engine.Runtime: the Pod is deleted at once (grace 0:
// it leaves the API now, the kubelet kills its processes). A Pod that is
// gone is not an error.
func (r *Runtime) Remove(ctx context.Context, idOrName string) error {
	name := podName(idOrName)
	r.mu.Lock()
	delete(r.created, name)
	r.mu.Unlock()
	zero := int64(0)
	err := r.client.DeletePod(ctx, r.cfg.Namespace, name, metav1.DeleteOptions{GracePeriodSeconds: &zero})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("remove pod %s: %w", name, err)
	}
	return nil
}

// List implements engine.Runtime, from the API (not the watch's cache): it
// is the source of truth the pool reconciles against. Node readiness comes
// from the watch.
func (r *Runtime) List(ctx context.Context, want map[string]string) ([]engine.Container, error) {
	selector := labels.SelectorFromSet(podLabels(want)).String()
	list, err := r.client.ListPods(ctx, r.cfg.Namespace, metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		return nil, fmt.Errorf("list pods in %s: %w", r.cfg.Namespace, err)
	}
	out := make([]engine.Container, 0, len(list.Items))
	for i := range list.Items {
		pod := &list.Items[i]
		if !matches(pod, want) {
			continue
		}
		c := engine.Container{
			ID:     pod.Name,
			Name:   pod.Annotations[annotationName],
			Image:  pod.Annotations[annotationImage],
			Labels: callerLabels(pod),
			State:  podState(pod, r.nodeReady),
		}
		if c.Name == "" {
			c.Name = pod.Name
		}
		if c.Image == "" && len(pod.Spec.Containers) > 0 {
			c.Image = pod.Spec.Containers[0].Image
		}
		if c.State == engine.StateRunning {
			c.IP = pod.Status.PodIP
		}
		out = append(out, c)
	}
	slices.SortFunc(out, func(a, b engine.Container) int { return cmp.Compare(a.ID, b.ID) })
	return out, nil
}

// Address implements engine.Runtime: the Pod's IP while its function
// container runs on a ready node.
func (r *Runtime) Address(ctx context.Context, id string) (string, error) {
	pod, err := r.client.GetPod(ctx, r.cfg.Namespace, id)
	if err != nil {
		return "", fmt.Errorf("pod %s: %w", id, apiNotFound(err))
	}
	if st := podState(pod, r.nodeReady); st != engine.StateRunning {
		return "", fmt.Errorf("pod %s: %s, no address", id, st)
	}
	if pod.Status.PodIP == "" {
		return "", fmt.Errorf("pod %s: running without an address", id)
	}
	return pod.Status.PodIP, nil
}

// FollowLogs implements engine.Runtime through the pods/log API, which
// serves stdout and stderr as one stream: every line goes to stdout. The
// stream ends when the container exits (the kubelet closes it), when the
// Pod's node stops being ready (at once: its kubelet, which serves the
// stream, is gone, and the stream would hang), or when the Pod is deleted
// or fails (after LogDrain, for the last lines in flight). since has the
// API's resolution, whole seconds: an adopted container may repeat up to
// a second of lines.
func (r *Runtime) FollowLogs(ctx context.Context, id string, since time.Time, stdout, _ io.Writer) error {
	opts := &corev1.PodLogOptions{Container: containerName, Follow: true}
	if !since.IsZero() {
		t := metav1.NewTime(since)
		opts.SinceTime = &t
	}
	// The watch runs from before the stream opens: opening it through a
	// node whose kubelet is gone hangs as well.
	sctx, cut := context.WithCancel(ctx)
	var watching sync.WaitGroup
	defer watching.Wait()
	defer cut()
	watching.Go(func() { r.cutWhenGone(sctx, id, cut) })
	stream, err := r.client.PodLogs(sctx, r.cfg.Namespace, id, opts)
	if err != nil {
		if sctx.Err() != nil && ctx.Err() == nil {
			return nil // cut: the Pod's node or the Pod went away
		}
		return fmt.Errorf("logs of pod %s: %w", id, apiNotFound(err))
	}
	defer stream.Close()
	_, err = io.Copy(stdout, stream)
	if err != nil && sctx.Err() == nil {
		return fmt.Errorf("logs of pod %s: %w", id, err)
	}
	return nil
}

// cutWhenGone calls cut when Pod id's node is no longer ready (at once)
// or the Pod is gone, being deleted or finished (after LogDrain), or when
// ctx ends.
func (r *Runtime) cutWhenGone(ctx context.Context, id string, cut context.CancelFunc) {
	var drain <-chan time.Time
	for {
		changed := r.changed.wait()
		pod, err := r.pods.Pods(r.cfg.Namespace).Get(id)
		switch {
		case err == nil && pod.Spec.NodeName != "" && !r.nodeReady(pod.Spec.NodeName):
			cut()
			return
		case drain == nil && (err != nil || pod.DeletionTimestamp != nil || pod.Status.Phase == corev1.PodFailed || pod.Status.Phase == corev1.PodSucceeded):
			timer := time.NewTimer(r.opts.LogDrain)
			defer timer.Stop()
			drain = timer.C
		}
		select {
		case <-ctx.Done():
			return
		case <-drain:
			cut()
			return
		case <-changed:
		}
	}
}

// PeakMemory implements engine.Runtime: never reported. The kubelet's
// summary API has each container's working set now, not its peak, and
// the cgroup's peak is on the node, out of the agent's reach.
func (r *Runtime) PeakMemory(_ context.Context, id string) (int64, error) {
	return 0, fmt.Errorf("peak memory of pod %s: %w (kubernetes reports working sets, not peaks)", id, engine.ErrNoMetric)
}

// apiNotFound adds engine.ErrNotFound to a not-found error of the API.
func apiNotFound(err error) error {
	if apierrors.IsNotFound(err) {
		return fmt.Errorf("%w: %w", engine.ErrNotFound, err)
	}
	return err
}

// broadcast wakes every waiter at each change the watch sees: a waiter
// takes the channel, checks the cache, and waits on the channel, so a
// change between the check and the wait is not missed.
type broadcast struct {
	mu sync.Mutex
	ch chan struct{}
}

func newBroadcast() *broadcast { return &broadcast{ch: make(chan struct{})} }

func (b *broadcast) wait() <-chan struct{} {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.ch
}

func (b *broadcast) fire() {
	b.mu.Lock()
	close(b.ch)
	b.ch = make(chan struct{})
	b.mu.Unlock()
}
