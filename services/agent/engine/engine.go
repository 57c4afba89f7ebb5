// Package engine is the seam between the agent and a container runtime.
// Docker implements it today (package dockerruntime); a containerd
// implementation slots in behind the same interface. Everything above this
// seam (pull policy, Lambda environment, readiness, pooling) is
// runtime-agnostic.
package engine

import (
	"context"
	"errors"
	"io"
	"time"

	"github.com/esb-dev/esb/services/agent/sandbox"
)

// ErrNotFound is returned, wrapped, when an image or container does not exist.
var ErrNotFound = errors.New("not found")

// ErrNoMetric is returned, wrapped, when the engine does not report a
// container's metric (PeakMemory on a cgroup the engine reads no peak of).
var ErrNoMetric = errors.New("metric not reported")

// ErrInUse is returned, wrapped, when an image reference cannot be removed
// because a container, of any env, still runs from it.
var ErrInUse = errors.New("in use")

// State is the lifecycle state of a container as the runtime reports it.
type State string

// Container states. A containerd implementation maps its task statuses
// onto these (no task: created; stopped: exited).
const (
	StateCreated    State = "created"
	StateRunning    State = "running"
	StatePaused     State = "paused"
	StateRestarting State = "restarting"
	StateRemoving   State = "removing"
	StateExited     State = "exited"
	StateDead       State = "dead"
)

// Spec is everything needed to create one function container. The network
// is not part of it: it is a property of the runtime (a Docker network, a
// CNI config), fixed when the runtime is built.
type Spec struct {
	Name        string
	Image       string // reference to run: repo@digest, repo:tag or an image ID
	Cmd         []string
	Env         []string // KEY=value
	Labels      map[string]string
	MemoryBytes int64
	// Sandbox seals the container as Lambda runs functions; nil runs the
	// image as it is (the runtimes' own tests).
	Sandbox *Sandbox
}

// Sandbox is how a function container is confined. The runtime starts
// sandboxinit (at sandbox.Path) in front of the image's entrypoint with
// Policy's arguments, as root holding only sandbox.Capabilities, which
// sandboxinit drops; the root filesystem is read-only and /tmp a tmpfs.
type Sandbox struct {
	Policy    sandbox.Policy
	TmpBytes  int64  // size of the /tmp tmpfs
	Pids      int64  // processes and threads
	CPUShares uint64 // relative CPU weight (Docker's --cpu-shares scale, 1024 = one default container)
}

// Command is what the container executes: sandboxinit and its policy,
// then the image's entrypoint and cmd (cmd replacing the image's CMD when
// given, as Docker does).
func (s *Sandbox) Command(entrypoint, imageCmd, cmd []string) []string {
	if len(cmd) == 0 {
		cmd = imageCmd
	}
	out := s.Policy.Args()
	out = append(out, entrypoint...)
	return append(out, cmd...)
}

// Container is a container as observed in the runtime.
type Container struct {
	ID     string
	Name   string
	Image  string
	Labels map[string]string
	State  State
	IP     string // address on the function network; empty when not running
}

// Image is a locally present image.
type Image struct {
	ID          string
	RepoDigests []string // repo@digest for every registry it came from
}

// Runtime creates, observes and removes function containers.
type Runtime interface {
	// Name is the runtime's name as reported by /v1/health: docker or containerd.
	Name() string
	// InspectImage returns a local image, or ErrNotFound.
	InspectImage(ctx context.Context, ref string) (Image, error)
	// PullImage fetches ref from its registry, even when present locally.
	PullImage(ctx context.Context, ref string) error
	// RemoveImage removes the local reference ref (repo@digest); the image
	// itself goes once nothing refers to it. A reference some container
	// still uses stays (ErrInUse); one that is gone gives ErrNotFound.
	RemoveImage(ctx context.Context, ref string) error
	// Create creates a stopped container and returns its ID.
	Create(ctx context.Context, spec Spec) (string, error)
	// Start starts a created container.
	Start(ctx context.Context, id string) error
	// Stop stops a container, killing it after grace.
	Stop(ctx context.Context, id string, grace time.Duration) error
	// Remove removes a container, found by ID or by the name it was
	// created with, killing it if it runs. A container that is already
	// gone, or being removed by someone else, is not an error.
	Remove(ctx context.Context, id string) error
	// List returns every container carrying all of labels, in any state.
	List(ctx context.Context, labels map[string]string) ([]Container, error)
	// Address returns the container's IP on the function network.
	Address(ctx context.Context, id string) (string, error)
	// FollowLogs copies the container's output since the given time
	// (zero: from its start) until the container stops or ctx ends.
	FollowLogs(ctx context.Context, id string, since time.Time, stdout, stderr io.Writer) error
	// PeakMemory returns the most memory the container's processes used
	// at once since it started, in bytes (its cgroup's peak), or
	// ErrNoMetric when the engine does not tell.
	PeakMemory(ctx context.Context, id string) (int64, error)
}
