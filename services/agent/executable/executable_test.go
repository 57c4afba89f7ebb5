package executable

import (
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestPlace(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	require.NoError(t, os.WriteFile(src, []byte("v1"), 0o600))
	dst := filepath.Join(dir, "data", "bin", "joinstderr")

	got, err := Place(src, dst)
	require.NoError(t, err)
	assert.Equal(t, dst, got)
	b, err := os.ReadFile(dst)
	require.NoError(t, err)
	assert.Equal(t, "v1", string(b))
	fi, err := os.Stat(dst)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o755), fi.Mode().Perm(), "function users need not be root")

	// A new agent replaces the copy; one a container still has open (or
	// mounted) keeps its old content.
	old, err := os.Open(dst)
	require.NoError(t, err)
	defer old.Close()
	require.NoError(t, os.WriteFile(src, []byte("v2"), 0o600))
	_, err = Place(src, dst)
	require.NoError(t, err)
	b, err = os.ReadFile(dst)
	require.NoError(t, err)
	assert.Equal(t, "v2", string(b))
	b, err = io.ReadAll(old)
	require.NoError(t, err)
	assert.Equal(t, "v1", string(b))
	entries, err := os.ReadDir(filepath.Dir(dst))
	require.NoError(t, err)
	assert.Len(t, entries, 1, "no temporary file left")

	_, err = Place(filepath.Join(dir, "missing"), dst)
	assert.ErrorContains(t, err, "missing")
}
