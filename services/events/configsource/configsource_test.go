package configsource

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestLoadsOnceFilesExist(t *testing.T) {
	dir := t.TempDir()
	s := New(dir, 10*time.Millisecond, nil)
	short, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	require.Error(t, s.WaitLoaded(short), "no config yet: not loaded")
	_, ok := s.Function("Job")
	assert.False(t, ok)

	ctx, stop := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	files := map[string]string{
		"functions.yml": "functions:\n  Job:\n    image: r/job:latest\n    schedules:\n      - expression: rate(1 minute)\n",
		"routing.yml":   "routes: []\n",
		"resources.yml": "resources: {}\n",
	}
	for name, body := range files {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644))
	}
	require.NoError(t, s.WaitLoaded(t.Context()))
	fn, ok := s.Function("Job")
	require.True(t, ok)
	assert.Equal(t, "rate(1 minute)", fn.Schedules[0].Expression)
	stop()
	require.NoError(t, <-done)
}
