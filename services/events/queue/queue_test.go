package queue

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func open(t *testing.T, path string) *Store {
	t.Helper()
	s, err := Open(path)
	require.NoError(t, err)
	t.Cleanup(func() { s.Close() })
	return s
}

func TestClaimSettleAndStaleCopies(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "q.db"))
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	added, err := s.Add(Event{Kind: KindInvoke, Function: "f", Payload: []byte(`{}`), Received: now, Due: now})
	require.NoError(t, err)
	due, err := s.Due(now, 10)
	require.NoError(t, err)
	require.Len(t, due, 1)
	assert.Equal(t, added[0].ID, due[0].ID)

	claimed, err := s.Claim(due[0], now.Add(time.Minute))
	require.NoError(t, err)
	// A second claim from the same (now stale) listing fails: the event
	// cannot run twice.
	_, err = s.Claim(due[0], now.Add(time.Minute))
	require.ErrorIs(t, err, ErrStale)
	none, err := s.Due(now, 10)
	require.NoError(t, err)
	assert.Empty(t, none, "a claimed event is not due until its claim ends")

	// Replacing the event by a destination record is one step.
	require.NoError(t, s.Settle(claimed, nil, Event{Kind: KindInvoke, Function: "dest", Payload: []byte(`{"a":1}`), Due: now}))
	require.ErrorIs(t, s.Settle(claimed, nil), ErrStale, "settled twice")
	due, err = s.Due(now, 10)
	require.NoError(t, err)
	require.Len(t, due, 1)
	assert.Equal(t, "dest", due[0].Function)
	assert.JSONEq(t, `{"a":1}`, string(due[0].Payload))
}

func TestSurvivesReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "q.db")
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	s, err := Open(path)
	require.NoError(t, err)
	_, err = s.Add(Event{Kind: KindInvoke, Function: "f", Payload: []byte(`{}`), Received: now, Due: now.Add(time.Hour), Attempts: 1})
	require.NoError(t, err)
	require.NoError(t, s.Fire("f/Every/rate(1 minute)/", now, nil))
	require.NoError(t, s.Close())

	s = open(t, path)
	next, ok, err := s.NextDue()
	require.NoError(t, err)
	require.True(t, ok)
	assert.Equal(t, now.Add(time.Hour), next.UTC())
	last, ok, err := s.LastFire("f/Every/rate(1 minute)/")
	require.NoError(t, err)
	require.True(t, ok)
	assert.Equal(t, now, last.UTC())
	_, ok, err = s.LastFire("other")
	require.NoError(t, err)
	assert.False(t, ok)
}
