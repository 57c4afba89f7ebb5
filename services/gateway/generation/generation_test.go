package generation

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/esb-dev/esb/internal/runtimeconfig"
	"github.com/esb-dev/esb/services/gateway/configwatch"
	"github.com/esb-dev/esb/services/gateway/logwait"
)

func snapshot(t *testing.T, routing string) configwatch.Snapshot {
	t.Helper()
	files := runtimeconfig.Files{
		Functions: []byte("functions:\n  F:\n    image: img/f\n"),
		Routing:   []byte(routing),
		Resources: []byte("resources: {}\n"),
	}
	cfg, err := runtimeconfig.Decode(files)
	require.NoError(t, err)
	return configwatch.Snapshot{Config: cfg, Files: files}
}

func TestApplyPublishesAndRetiresThePrevious(t *testing.T) {
	var live []uint64
	m := New(t.Context(), Options{OnLive: func(g *Generation) { live = append(live, g.ID) }})
	assert.Nil(t, m.Current())

	g1, err := m.Apply(snapshot(t, "routes:\n  - {path: /a, method: GET, function: F, payload: \"1.0\"}\n"))
	require.NoError(t, err)
	assert.Same(t, g1, m.Current())
	assert.NoError(t, g1.Context().Err())

	g2, err := m.Apply(snapshot(t, "routes:\n  - {path: /b, method: GET, function: F, payload: \"1.0\"}\n"))
	require.NoError(t, err)
	assert.Same(t, g2, m.Current())
	assert.Equal(t, []uint64{1, 2}, live)
	assert.ErrorIs(t, g1.Context().Err(), context.Canceled, "the previous generation winds down once the next is live")
	assert.NoError(t, g2.Context().Err())
	_, ok := g1.Table.Match("GET", "/a")
	assert.True(t, ok, "a generation a request already holds keeps serving it")

	m.Close()
	assert.ErrorIs(t, g2.Context().Err(), context.Canceled)
}

func TestApplyRejectsWholeAndKeepsThePrevious(t *testing.T) {
	m := New(t.Context(), Options{})
	g1, err := m.Apply(snapshot(t, "routes:\n  - {path: /a, method: GET, function: F, payload: \"1.0\"}\n"))
	require.NoError(t, err)

	bad := "routes:\n  - {path: /ok, method: GET, function: F, payload: \"1.0\"}\n  - path: /files/{proxy+}/x\n    method: GET\n    function: F\n    payload: \"1.0\"\n"
	_, err = m.Apply(snapshot(t, bad))
	require.Error(t, err)
	var fe *runtimeconfig.FieldError
	require.True(t, errors.As(err, &fe))
	assert.Equal(t, `routing.yml:3:5: routes[1].path: greedy parameter {proxy+} must be the last segment (path "/files/{proxy+}/x")`, err.Error())
	assert.Same(t, g1, m.Current())
	assert.NoError(t, g1.Context().Err(), "a rejected config leaves the live generation alone")
}

func TestRunAppliesSnapshotsAndLogsRejections(t *testing.T) {
	rec, log := logwait.New()
	m := New(t.Context(), Options{Logger: log})
	_, err := m.Apply(snapshot(t, "routes: []\n"))
	require.NoError(t, err)
	in := make(chan configwatch.Snapshot)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error)
	go func() { done <- m.Run(ctx, in) }()

	in <- snapshot(t, "routes:\n  - {path: \"/a/x{y}\", method: GET, function: F, payload: \"1.0\"}\n")
	r := rec.Wait(t, "runtime config rejected", 1)
	assert.Equal(t, []string{`routing.yml:2:6: routes[0].path: segment "x{y}" mixes text and a parameter (path "/a/x{y}")`}, r.Attrs["problems"])
	assert.EqualValues(t, 1, r.Attrs["generation"])

	in <- snapshot(t, "routes:\n  - {path: /a, method: GET, function: F, payload: \"1.0\"}\n")
	rec.Wait(t, "runtime config live", 2)
	assert.EqualValues(t, 2, m.Current().ID)
	cancel()
	assert.NoError(t, <-done)
}
