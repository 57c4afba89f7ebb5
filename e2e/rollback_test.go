//go:build e2e

package e2e

import (
	"context"
	"maps"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/esb-dev/esb/internal/confighistory"
	"github.com/esb-dev/esb/internal/runtimeconfig"
)

// rollbackFlow runs history and rollback on an env that deployed template
// A as generation 1 and whose newest generation serves latest on /hello.
// The env's Dagger engine is stopped first, so a rollback that tried to
// build would fail: rollbacks only switch config sets and images already
// in the registry. Rolling back to A serves A again, a rollback without a
// generation number (the rollback of the rollback) serves the newest set
// again, esb history lists every deploy and both rollbacks, and a missing
// or corrupt generation changes nothing.
func rollbackFlow(t *testing.T, s *stack, latest string) {
	ctx := t.Context()
	store := confighistory.Store{ConfigDir: s.layout.ConfigDir}
	listed, err := store.List()
	require.NoError(t, err)
	n := len(listed)
	require.GreaterOrEqual(t, n, 2, "two deploys, two generations")
	require.True(t, listed[n-1].Current, "the newest generation is what CONFIG_DIR holds")
	newest := listed[n-1].Number

	out, err := s.compose(ctx, "stop", "dagger-engine")
	require.NoError(t, err, out)
	t.Cleanup(func() {
		if out, err := s.compose(context.Background(), "start", "dagger-engine"); err != nil {
			t.Logf("start dagger-engine again: %v\n%s", err, out)
		}
	})
	rollback := func(t *testing.T, args ...string) esbResult {
		t.Helper()
		return s.esb(ctx, t, append([]string{"rollback", "--mode", s.mode}, args...)...)
	}

	t.Run("rollback to A serves A again, with A's digests, no build", func(t *testing.T) {
		began := time.Now()
		res := rollback(t, "1")
		require.NoError(t, res.err)
		t.Logf("rollback to generation 1 in %s", time.Since(began).Round(100*time.Millisecond))
		assert.Contains(t, res.stdout, "generation 1 ")
		assert.Contains(t, res.stdout, "recorded as generation "+strconv.Itoa(newest+1))
		assertServedAtOnce(ctx, t, s, res, `{"version": "A"}`)
		assertCurrentIs(t, store, 1)
		assertItemRoundTrip(ctx, t, s, "rolled-back", "red")
	})

	t.Run("the rollback of the rollback serves the newest deploy again", func(t *testing.T) {
		res := rollback(t)
		require.NoError(t, res.err)
		assert.Contains(t, res.stdout, "generation "+strconv.Itoa(newest)+" ")
		assertServedAtOnce(ctx, t, s, res, latest)
		assertCurrentIs(t, store, newest)
	})

	t.Run("esb history lists every deploy and both rollbacks", func(t *testing.T) {
		res := s.esb(ctx, t, "history")
		require.NoError(t, res.err)
		lines := strings.Split(strings.TrimSpace(res.stdout), "\n")
		require.Len(t, lines, 1+n+2, "a header and one line a generation")
		assert.Contains(t, lines[0], "FUNCTIONS CHANGED")
		for i, line := range lines[1:] {
			f := strings.Fields(line)
			gen := strconv.Itoa(i + 1)
			if i == n+1 {
				gen += "*" // the current one
			}
			assert.Equal(t, gen, f[0], line)
		}
		assert.Contains(t, lines[1], "deploy")
		assert.Contains(t, lines[1], "template-a.yml")
		assert.Contains(t, lines[1], "HelloAFunction, ItemsAFunction")
		assert.Contains(t, lines[n+1], "rollback to 1")
		assert.Contains(t, lines[n+1], "-HelloBFunction", "the rollback to A drops B's function")
		assert.Contains(t, lines[n+2], "rollback to "+strconv.Itoa(newest))
	})

	t.Run("a missing or corrupt generation changes nothing", func(t *testing.T) {
		before := s.snapshotConfig(t)
		res := rollback(t, "99")
		require.Error(t, res.err)
		assert.Contains(t, res.stderr, "generation 99")
		assert.Contains(t, res.stderr, "no such generation")

		path := filepath.Join(confighistory.Dir(s.layout.ConfigDir), "000001", runtimeconfig.RoutingFileName)
		original, err := os.ReadFile(path)
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(path, []byte("routes: []\n"), 0o644))
		// Put back for what follows (a backup refuses a corrupt history).
		t.Cleanup(func() { _ = os.WriteFile(path, original, 0o644) })
		res = rollback(t, "1")
		require.Error(t, res.err)
		assert.Contains(t, res.stderr, "does not match its checksum")
		assert.Contains(t, res.stderr, "nothing changed")

		assert.Equal(t, before, s.snapshotConfig(t))
		assertCurrentIs(t, store, newest)
		listed, err := store.List()
		require.NoError(t, err)
		assert.Len(t, listed, n+2, "no generation recorded")
		assert.NoError(t, pollBody(ctx, s.url("PORT_GATEWAY", "/hello"), latest, time.Second, 5*time.Second))
	})
}

// assertCurrentIs checks that CONFIG_DIR holds generation target's files,
// byte for byte, and that the newest generation is the record of that.
func assertCurrentIs(t *testing.T, store confighistory.Store, target int) {
	t.Helper()
	listed, err := store.List()
	require.NoError(t, err)
	last := listed[len(listed)-1]
	assert.True(t, last.Current, "the newest generation is current")
	want, _, err := store.Load(target)
	require.NoError(t, err)
	assert.True(t, maps.Equal(want.Files, last.Files), "CONFIG_DIR holds generation %d's files", target)
	assert.Equal(t, want.Images, last.Images, "generation %d's digests", target)
}
