// Package enginetest provides an in-memory engine.Runtime for tests of
// everything above the runtime seam.
package enginetest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/esb-dev/esb/services/agent/engine"
)

// Fake is an in-memory container runtime. Containers get IPs 10.88.x.y and
// "accept" on any port once running, unless NotReady says otherwise; use
// Fake.Dial as the launcher's dialer.
type Fake struct {
	// NotReady makes containers of a spec never accept connections.
	NotReady func(spec engine.Spec) bool
	// Output is what a container of spec prints on stdout when started.
	Output func(spec engine.Spec) []string
	// PullErr fails pulls of a reference.
	PullErr func(ref string) error
	// CreateErr fails creating containers of a spec.
	CreateErr func(spec engine.Spec) error
	// ExitOnStart makes containers of a spec exit right after starting.
	ExitOnStart func(spec engine.Spec) bool
	// FollowGate, when set, holds every FollowLogs until it is closed, as
	// a busy engine answers a logs request late.
	FollowGate chan struct{}
	// Peak is what PeakMemory reports of a container of spec; nil:
	// engine.ErrNoMetric.
	Peak func(spec engine.Spec) int64

	mu         sync.Mutex
	images     map[string]engine.Image
	containers map[string]*container
	pulls      []string
	creates    []engine.Spec
	removed    []string
	removedImg []string
	seq        int
	ipSeq      int
}

type container struct {
	id      string
	spec    engine.Spec
	state   engine.State
	ip      string
	stopped chan struct{}
}

var _ engine.Runtime = (*Fake)(nil)

// New returns an empty Fake.
func New() *Fake {
	return &Fake{images: map[string]engine.Image{}, containers: map[string]*container{}}
}

// AddImage makes ref present locally with the given image ID.
func (f *Fake) AddImage(ref, id string, repoDigests ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.images[ref] = engine.Image{ID: id, RepoDigests: repoDigests}
}

// Pulls returns the references pulled so far, in order.
func (f *Fake) Pulls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.pulls...)
}

// Creates returns the specs of every container created so far.
func (f *Fake) Creates() []engine.Spec {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]engine.Spec(nil), f.creates...)
}

// Removed returns the IDs removed so far, in order.
func (f *Fake) Removed() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.removed...)
}

// RemovedImages returns the image references removed so far, in order.
func (f *Fake) RemovedImages() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.removedImg...)
}

// HasImage reports whether ref is present locally.
func (f *Fake) HasImage(ref string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	_, ok := f.images[ref]
	return ok
}

// Running returns the IDs of running containers.
func (f *Fake) Running() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var ids []string
	for id, c := range f.containers {
		if c.state == engine.StateRunning {
			ids = append(ids, id)
		}
	}
	return ids
}

// Spec returns the spec container id was created from.
func (f *Fake) Spec(id string) (engine.Spec, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, ok := f.containers[id]
	if !ok {
		return engine.Spec{}, false
	}
	return c.spec, true
}

// Exit makes a running container exit, as a crash would.
func (f *Fake) Exit(id string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if c, ok := f.containers[id]; ok {
		c.stop(engine.StateExited)
	}
}

// Put adds a container directly, as a previous agent process would have
// left it.
func (f *Fake) Put(spec engine.Spec, state engine.State) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.newContainer(spec)
	c.state = state
	if state == engine.StateRunning {
		c.ip = f.nextIP()
	} else if state != engine.StateCreated {
		close(c.stopped)
	}
	return c.id
}

// Name implements engine.Runtime.
func (f *Fake) Name() string { return "fake" }

// InspectImage implements engine.Runtime; an image ID finds its image.
func (f *Fake) InspectImage(_ context.Context, ref string) (engine.Image, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if img, ok := f.images[ref]; ok {
		return img, nil
	}
	for _, img := range f.images {
		if img.ID == ref {
			return img, nil
		}
	}
	return engine.Image{}, fmt.Errorf("image %s: %w", ref, engine.ErrNotFound)
}

// PullImage implements engine.Runtime.
func (f *Fake) PullImage(_ context.Context, ref string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.pulls = append(f.pulls, ref)
	if f.PullErr != nil {
		if err := f.PullErr(ref); err != nil {
			return err
		}
	}
	if _, ok := f.images[ref]; !ok {
		f.images[ref] = engine.Image{ID: "sha256:pulled-" + ref}
	}
	return nil
}

// RemoveImage implements engine.Runtime as Docker does: a reference a
// container was created from, in any state, stays; an image ID removes
// the image with its one reference.
func (f *Fake) RemoveImage(_ context.Context, ref string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	refs := []string{ref}
	if _, ok := f.images[ref]; !ok {
		refs = nil
		for r, img := range f.images {
			if img.ID == ref {
				refs = append(refs, r)
			}
		}
	}
	switch {
	case len(refs) == 0:
		return fmt.Errorf("image %s: %w", ref, engine.ErrNotFound)
	case len(refs) > 1:
		return fmt.Errorf("image %s: %w: referenced in several repositories", ref, engine.ErrInUse)
	}
	for _, c := range f.containers {
		if c.spec.Image == ref || c.spec.Image == refs[0] {
			return fmt.Errorf("image %s: %w by %s", ref, engine.ErrInUse, c.id)
		}
	}
	delete(f.images, refs[0])
	f.removedImg = append(f.removedImg, ref)
	return nil
}

// Create implements engine.Runtime.
func (f *Fake) Create(_ context.Context, spec engine.Spec) (string, error) {
	if f.CreateErr != nil {
		if err := f.CreateErr(spec); err != nil {
			return "", err
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.images[spec.Image]; !ok {
		found := false
		for _, img := range f.images {
			found = found || img.ID == spec.Image
		}
		if !found {
			return "", fmt.Errorf("create %s: image %s: %w", spec.Name, spec.Image, engine.ErrNotFound)
		}
	}
	f.creates = append(f.creates, spec)
	return f.newContainer(spec).id, nil
}

// Start implements engine.Runtime.
func (f *Fake) Start(_ context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, ok := f.containers[id]
	if !ok {
		return fmt.Errorf("start %s: %w", id, engine.ErrNotFound)
	}
	if c.state != engine.StateCreated {
		return fmt.Errorf("start %s: state %s", id, c.state)
	}
	c.state = engine.StateRunning
	c.ip = f.nextIP()
	if f.ExitOnStart != nil && f.ExitOnStart(c.spec) {
		c.stop(engine.StateExited)
	}
	return nil
}

// Stop implements engine.Runtime.
func (f *Fake) Stop(_ context.Context, id string, _ time.Duration) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, ok := f.containers[id]
	if !ok {
		return fmt.Errorf("stop %s: %w", id, engine.ErrNotFound)
	}
	c.stop(engine.StateExited)
	return nil
}

// Remove implements engine.Runtime.
func (f *Fake) Remove(_ context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, ok := f.containers[id]
	if !ok {
		return nil
	}
	c.stop(engine.StateRemoving)
	delete(f.containers, id)
	f.removed = append(f.removed, id)
	return nil
}

// List implements engine.Runtime.
func (f *Fake) List(_ context.Context, labels map[string]string) ([]engine.Container, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []engine.Container
next:
	for _, c := range f.containers {
		for k, v := range labels {
			if c.spec.Labels[k] != v {
				continue next
			}
		}
		out = append(out, engine.Container{ID: c.id, Name: c.spec.Name, Image: c.spec.Image, Labels: c.spec.Labels, State: c.state, IP: c.ip})
	}
	return out, nil
}

// Address implements engine.Runtime.
func (f *Fake) Address(_ context.Context, id string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, ok := f.containers[id]
	if !ok {
		return "", fmt.Errorf("address of %s: %w", id, engine.ErrNotFound)
	}
	if c.ip == "" {
		return "", fmt.Errorf("container %s: no address", id)
	}
	return c.ip, nil
}

// PeakMemory implements engine.Runtime with Peak.
func (f *Fake) PeakMemory(_ context.Context, id string) (int64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, ok := f.containers[id]
	if !ok {
		return 0, fmt.Errorf("memory of %s: %w", id, engine.ErrNotFound)
	}
	if f.Peak == nil {
		return 0, fmt.Errorf("memory of %s: %w", id, engine.ErrNoMetric)
	}
	return f.Peak(c.spec), nil
}

// FollowLogs implements engine.Runtime: a started container prints its
// Output, then the stream stays open until the container stops.
func (f *Fake) FollowLogs(ctx context.Context, id string, since time.Time, stdout, _ io.Writer) error {
	if f.FollowGate != nil {
		select {
		case <-f.FollowGate:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	f.mu.Lock()
	c, ok := f.containers[id]
	var lines []string
	if ok && since.IsZero() && f.Output != nil {
		lines = f.Output(c.spec)
	}
	f.mu.Unlock()
	if !ok {
		return fmt.Errorf("logs of %s: %w", id, engine.ErrNotFound)
	}
	for _, l := range lines {
		if _, err := io.WriteString(stdout, l+"\n"); err != nil {
			return err
		}
	}
	select {
	case <-c.stopped:
	case <-ctx.Done():
	}
	return nil
}

// Dial accepts a connection to a running, ready container's IP on any port.
func (f *Fake) Dial(ctx context.Context, _, addr string) (net.Conn, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, c := range f.containers {
		if c.ip == host && c.state == engine.StateRunning && (f.NotReady == nil || !f.NotReady(c.spec)) {
			client, server := net.Pipe()
			server.Close()
			return client, nil
		}
	}
	return nil, errors.New("dial " + addr + ": connection refused")
}

// Env returns the value of key in a spec's environment.
func Env(spec engine.Spec, key string) (string, bool) {
	for _, kv := range spec.Env {
		if k, v, ok := strings.Cut(kv, "="); ok && k == key {
			return v, true
		}
	}
	return "", false
}

func (f *Fake) newContainer(spec engine.Spec) *container {
	f.seq++
	c := &container{
		id:      fmt.Sprintf("c%04d", f.seq),
		spec:    spec,
		state:   engine.StateCreated,
		stopped: make(chan struct{}),
	}
	f.containers[c.id] = c
	return c
}

func (f *Fake) nextIP() string {
	f.ipSeq++
	return fmt.Sprintf("10.88.%d.%d", f.ipSeq/250, f.ipSeq%250+1)
}

func (c *container) stop(state engine.State) {
	if c.state == engine.StateRunning || c.state == engine.StateCreated {
		close(c.stopped)
	}
	c.state = state
	c.ip = ""
}
