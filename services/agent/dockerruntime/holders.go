package dockerruntime

import (
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"maps"
	"strings"
	"sync"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"

	"github.com/esb-dev/esb/services/agent/netnspool"
)

// LabelHolder marks a netns holder, with the functions' network as its
// value (one per env): a container that only keeps a network
// namespace on the functions' network ready, for exactly one function
// container to join (NetworkMode container:<holder>). Docker pays most of
// a container start's CPU when it makes a network sandbox (two re-execs
// of dockerd, the veth, the embedded DNS rules); a start that joins a
// holder made earlier skips all of it, which is what a burst of cold
// starts waits on.
const LabelHolder = "dev.esb.netns-holder"

// holders is the pool of ready holders and the holder of each function
// container.
type holders struct {
	pool *netnspool.Pool[string]

	mu sync.Mutex
	of map[string]string // function container ID -> holder ID
}

func newHolders(rt *Runtime, size int, image string, logger *slog.Logger) *holders {
	return &holders{
		pool: netnspool.New(netnspool.Options[string]{
			Size:    size,
			Prepare: func(ctx context.Context) (string, error) { return rt.newHolder(ctx, image) },
			Discard: rt.removeHolder,
			Logger:  logger,
		}),
		of: map[string]string{},
	}
}

// take returns a ready holder, or "" when none is.
func (h *holders) take() string {
	id, _ := h.pool.Take()
	return id
}

func (h *holders) bind(fn, holder string) {
	h.mu.Lock()
	h.of[fn] = holder
	h.mu.Unlock()
}

// holderOf is the holder function container fn joined; "" for none.
func (h *holders) holderOf(fn string) string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.of[fn]
}

func (h *holders) unbind(fn string) string {
	h.mu.Lock()
	defer h.mu.Unlock()
	id := h.of[fn]
	delete(h.of, fn)
	return id
}

// newHolder starts a holder: an inert process with nothing but its
// network namespace, no capabilities, a read-only root and little memory.
// Deadlines of the pool's own engine calls, which do not go through
// engine.WithDeadlines: a hung engine must not hold the filler or a
// shutdown for good.
const (
	holderStartTimeout  = 30 * time.Second
	holderRemoveTimeout = 10 * time.Second
)

func (r *Runtime) newHolder(ctx context.Context, image string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, holderStartTimeout)
	defer cancel()
	labels := maps.Clone(r.holderLabels)
	if labels == nil {
		labels = map[string]string{}
	}
	labels[LabelHolder] = r.network
	cfg := &container.Config{
		Image:      image,
		Entrypoint: []string{"sleep", "infinity"},
		Labels:     labels,
		// The image's own health check is the agent's, not a holder's.
		Healthcheck: &container.HealthConfig{Test: []string{"NONE"}},
	}
	pids := int64(4)
	host := &container.HostConfig{
		NetworkMode:    container.NetworkMode(r.network),
		ReadonlyRootfs: true,
		CapDrop:        []string{"ALL"},
		SecurityOpt:    []string{"no-new-privileges:true"},
		Resources:      container.Resources{Memory: 16 << 20, MemorySwap: 16 << 20, PidsLimit: &pids},
	}
	nets := &network.NetworkingConfig{EndpointsConfig: map[string]*network.EndpointSettings{r.network: {}}}
	name := ""
	if r.holderPrefix != "" {
		name = r.holderPrefix + strings.ToLower(rand.Text()[:8])
	}
	resp, err := r.api.ContainerCreate(ctx, cfg, host, nets, nil, name)
	if err != nil {
		return "", fmt.Errorf("create netns holder: %w", err)
	}
	if err := r.api.ContainerStart(ctx, resp.ID, container.StartOptions{}); err != nil {
		r.removeHolder(ctx, resp.ID)
		return "", fmt.Errorf("start netns holder: %w", err)
	}
	return resp.ID, nil
}

// removeHolder removes holder id, even when ctx has ended (a shutdown, a
// caller that gave up): a holder left behind keeps the env's network from
// being removed.
func (r *Runtime) removeHolder(ctx context.Context, id string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), holderRemoveTimeout)
	defer cancel()
	_ = r.api.ContainerRemove(ctx, id, container.RemoveOptions{Force: true})
}

// holderAddress is the address of the holder a function container
// joined, while the function container runs.
func (r *Runtime) holderAddress(ctx context.Context, id, holder string) (string, error) {
	c, err := r.api.ContainerInspect(ctx, id)
	if err != nil {
		return "", fmt.Errorf("inspect container %s: %w", id, notFound(err))
	}
	if c.State == nil || !c.State.Running || !strings.HasPrefix(string(c.HostConfig.NetworkMode), "container:") {
		return "", fmt.Errorf("container %s: not running", id)
	}
	hc, err := r.api.ContainerInspect(ctx, holder)
	if err != nil {
		return "", fmt.Errorf("inspect netns holder %s: %w", holder, notFound(err))
	}
	if hc.NetworkSettings != nil {
		if ep := hc.NetworkSettings.Networks[r.network]; ep != nil && ep.IPAddress != "" {
			return ep.IPAddress, nil
		}
	}
	return "", fmt.Errorf("netns holder %s: no address on network %s", holder, r.network)
}

// adopt binds the holders of function containers an earlier agent left
// running (NetworkMode container:<holder>) and removes the others.
func (r *Runtime) adoptHolders(ctx context.Context) error {
	args := filters.NewArgs(filters.Arg("label", LabelHolder+"="+r.network))
	held, err := r.api.ContainerList(ctx, container.ListOptions{All: true, Filters: args})
	if err != nil {
		return fmt.Errorf("list netns holders: %w", err)
	}
	if len(held) == 0 {
		return nil
	}
	all, err := r.api.ContainerList(ctx, container.ListOptions{All: true})
	if err != nil {
		return fmt.Errorf("list containers: %w", err)
	}
	used := map[string]string{} // holder ID -> function container ID
	for _, c := range all {
		if h, ok := strings.CutPrefix(c.HostConfig.NetworkMode, "container:"); ok {
			used[h] = c.ID
		}
	}
	for _, h := range held {
		if fn, ok := used[h.ID]; ok {
			r.holders.bind(fn, h.ID)
			continue
		}
		r.removeHolder(ctx, h.ID)
	}
	return nil
}
