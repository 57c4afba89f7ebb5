package engine_test

import (
	"context"
	"io"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/esb-dev/esb/services/agent/engine"
)

// hung is an engine that never answers: every call waits for its context.
type hung struct{ engine.Runtime }

func (hung) InspectImage(ctx context.Context, _ string) (engine.Image, error) {
	<-ctx.Done()
	return engine.Image{}, ctx.Err()
}
func (hung) PullImage(ctx context.Context, _ string) error { <-ctx.Done(); return ctx.Err() }
func (hung) RemoveImage(ctx context.Context, _ string) error {
	<-ctx.Done()
	return ctx.Err()
}
func (hung) Create(ctx context.Context, _ engine.Spec) (string, error) {
	<-ctx.Done()
	return "", ctx.Err()
}
func (hung) Start(ctx context.Context, _ string) error { <-ctx.Done(); return ctx.Err() }
func (hung) Stop(ctx context.Context, _ string, _ time.Duration) error {
	<-ctx.Done()
	return ctx.Err()
}
func (hung) Remove(ctx context.Context, _ string) error { <-ctx.Done(); return ctx.Err() }
func (hung) List(ctx context.Context, _ map[string]string) ([]engine.Container, error) {
	<-ctx.Done()
	return nil, ctx.Err()
}
func (hung) Address(ctx context.Context, _ string) (string, error) {
	<-ctx.Done()
	return "", ctx.Err()
}
func (hung) PeakMemory(ctx context.Context, _ string) (int64, error) {
	<-ctx.Done()
	return 0, ctx.Err()
}
func (hung) FollowLogs(ctx context.Context, _ string, _ time.Time, _, _ io.Writer) error {
	<-ctx.Done()
	return ctx.Err()
}

func TestWithDeadlines(t *testing.T) {
	const call, pull = 50 * time.Millisecond, 150 * time.Millisecond
	rt := engine.WithDeadlines(hung{}, engine.Deadlines{Call: call, Pull: pull})
	tests := []struct {
		name  string
		limit time.Duration
		op    func(ctx context.Context) error
		want  string
	}{
		{"inspect image", call, func(ctx context.Context) error { _, err := rt.InspectImage(ctx, "img"); return err }, "inspect image img"},
		{"peak memory", call, func(ctx context.Context) error { _, err := rt.PeakMemory(ctx, "c1"); return err }, "memory of container c1"},
		{"pull gets the pull bound", pull, func(ctx context.Context) error { return rt.PullImage(ctx, "img") }, "pull img"},
		{"remove image", call, func(ctx context.Context) error { return rt.RemoveImage(ctx, "img") }, "remove image img"},
		{"create", call, func(ctx context.Context) error { _, err := rt.Create(ctx, engine.Spec{Name: "fn"}); return err }, "create container fn"},
		{"start", call, func(ctx context.Context) error { return rt.Start(ctx, "c1") }, "start container c1"},
		{"stop gets its grace on top", call + 100*time.Millisecond, func(ctx context.Context) error { return rt.Stop(ctx, "c1", 100*time.Millisecond) }, "stop container c1"},
		{"remove", call, func(ctx context.Context) error { return rt.Remove(ctx, "c1") }, "remove container c1"},
		{"list", call, func(ctx context.Context) error { _, err := rt.List(ctx, nil); return err }, "list containers"},
		{"address", call, func(ctx context.Context) error { _, err := rt.Address(ctx, "c1"); return err }, "address of container c1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			err := tt.op(t.Context())
			took := time.Since(start)
			require.ErrorIs(t, err, engine.ErrEngineTimeout)
			require.ErrorIs(t, err, context.DeadlineExceeded)
			assert.Contains(t, err.Error(), tt.want)
			assert.GreaterOrEqual(t, took, tt.limit)
			assert.Less(t, took, tt.limit+2*time.Second)
		})
	}

	t.Run("the caller giving up is not an engine timeout", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Millisecond)
		defer cancel()
		err := rt.Start(ctx, "c1")
		require.ErrorIs(t, err, context.DeadlineExceeded)
		assert.NotErrorIs(t, err, engine.ErrEngineTimeout)
	})

	t.Run("a log stream lasts as long as its caller wants", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(t.Context(), 3*call)
		defer cancel()
		start := time.Now()
		err := rt.FollowLogs(ctx, "c1", time.Time{}, io.Discard, io.Discard)
		assert.NotErrorIs(t, err, engine.ErrEngineTimeout)
		assert.GreaterOrEqual(t, time.Since(start), 3*call)
	})
}

// The agent finds the runtime's own methods (its netns pool's count)
// under the deadlines.
func TestUnwrap(t *testing.T) {
	var rt engine.Runtime = hung{}
	assert.Equal(t, rt, engine.Unwrap(engine.WithDeadlines(engine.WithDeadlines(rt, engine.Deadlines{}), engine.Deadlines{})))
	assert.Equal(t, rt, engine.Unwrap(rt))
}
