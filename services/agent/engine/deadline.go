package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"
)

// Defaults for the zero values of Deadlines.
const (
	// DefaultCallTimeout bounds one plain engine call (inspect, create,
	// start, remove, list): seconds when the engine is well, so a minute
	// only ever cuts off one that hangs.
	DefaultCallTimeout = time.Minute
	// DefaultPullTimeout bounds one image pull: large runtime images from
	// the platform registry on a busy node.
	DefaultPullTimeout = 10 * time.Minute
)

// ErrEngineTimeout is wrapped by the error of an engine call that ran past
// its deadline.
var ErrEngineTimeout = errors.New("container engine did not answer in time")

// Deadlines tunes WithDeadlines. Zero values mean the defaults.
type Deadlines struct {
	Call time.Duration // DefaultCallTimeout when zero
	Pull time.Duration // DefaultPullTimeout when zero
}

// WithDeadlines bounds every call of rt that should end on its own: a hung
// Docker daemon or containerd then fails the one call with
// ErrEngineTimeout (the agent answers 5xx, its goroutine is freed) instead
// of holding a cold start, a reconcile or a removal for ever, and the next
// call tries again once the engine is back. Stop gets its grace on top of
// the call bound. FollowLogs is a stream that lasts as long as its
// container and is left to its caller's context.
func WithDeadlines(rt Runtime, d Deadlines) Runtime {
	if d.Call <= 0 {
		d.Call = DefaultCallTimeout
	}
	if d.Pull <= 0 {
		d.Pull = DefaultPullTimeout
	}
	return &bounded{rt: rt, d: d}
}

type bounded struct {
	rt Runtime
	d  Deadlines
}

// within runs call under a deadline of limit and names op when the
// deadline, not the caller, ended it.
func within[T any](ctx context.Context, op string, limit time.Duration, call func(context.Context) (T, error)) (T, error) {
	cctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	v, err := call(cctx)
	if err != nil && ctx.Err() == nil && errors.Is(cctx.Err(), context.DeadlineExceeded) {
		return v, fmt.Errorf("%s: %w after %s: %w", op, ErrEngineTimeout, limit, err)
	}
	return v, err
}

func none(f func(context.Context) error) func(context.Context) (struct{}, error) {
	return func(ctx context.Context) (struct{}, error) { return struct{}{}, f(ctx) }
}

// Unwrap returns the runtime the deadlines wrap (see Unwrap).
func (b *bounded) Unwrap() Runtime { return b.rt }

// Unwrap returns the runtime under any wrappers of rt (WithDeadlines), for
// what only it offers beyond the Runtime interface.
func Unwrap(rt Runtime) Runtime {
	for {
		w, ok := rt.(interface{ Unwrap() Runtime })
		if !ok {
			return rt
		}
		rt = w.Unwrap()
	}
}

func (b *bounded) Name() string { return b.rt.Name() }

func (b *bounded) InspectImage(ctx context.Context, ref string) (Image, error) {
	return within(ctx, "inspect image "+ref, b.d.Call, func(ctx context.Context) (Image, error) { return b.rt.InspectImage(ctx, ref) })
}

func (b *bounded) PullImage(ctx context.Context, ref string) error {
	_, err := within(ctx, "pull "+ref, b.d.Pull, none(func(ctx context.Context) error { return b.rt.PullImage(ctx, ref) }))
	return err
}

func (b *bounded) RemoveImage(ctx context.Context, ref string) error {
	_, err := within(ctx, "remove image "+ref, b.d.Call, none(func(ctx context.Context) error { return b.rt.RemoveImage(ctx, ref) }))
	return err
}

func (b *bounded) Create(ctx context.Context, spec Spec) (string, error) {
	return within(ctx, "create container "+spec.Name, b.d.Call, func(ctx context.Context) (string, error) { return b.rt.Create(ctx, spec) })
}

func (b *bounded) Start(ctx context.Context, id string) error {
	_, err := within(ctx, "start container "+id, b.d.Call, none(func(ctx context.Context) error { return b.rt.Start(ctx, id) }))
	return err
}

func (b *bounded) Stop(ctx context.Context, id string, grace time.Duration) error {
	_, err := within(ctx, "stop container "+id, grace+b.d.Call, none(func(ctx context.Context) error { return b.rt.Stop(ctx, id, grace) }))
	return err
}

func (b *bounded) Remove(ctx context.Context, id string) error {
	_, err := within(ctx, "remove container "+id, b.d.Call, none(func(ctx context.Context) error { return b.rt.Remove(ctx, id) }))
	return err
}

func (b *bounded) List(ctx context.Context, labels map[string]string) ([]Container, error) {
	return within(ctx, "list containers", b.d.Call, func(ctx context.Context) ([]Container, error) { return b.rt.List(ctx, labels) })
}

func (b *bounded) Address(ctx context.Context, id string) (string, error) {
	return within(ctx, "address of container "+id, b.d.Call, func(ctx context.Context) (string, error) { return b.rt.Address(ctx, id) })
}

func (b *bounded) PeakMemory(ctx context.Context, id string) (int64, error) {
	return within(ctx, "memory of container "+id, b.d.Call, func(ctx context.Context) (int64, error) { return b.rt.PeakMemory(ctx, id) })
}

func (b *bounded) FollowLogs(ctx context.Context, id string, since time.Time, stdout, stderr io.Writer) error {
	return b.rt.FollowLogs(ctx, id, since, stdout, stderr)
}
