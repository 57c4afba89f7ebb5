package cpugroup

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func read(t *testing.T, file string) string {
	t.Helper()
	b, err := os.ReadFile(file)
	require.NoError(t, err)
	return string(b)
}

func TestV1WritesSharesOfTheNodesCPUs(t *testing.T) {
	root := t.TempDir()
	require.NoError(t, os.Mkdir(filepath.Join(root, "cpu"), 0o755))

	file, value, err := Set(root, "/esb", 2)
	require.NoError(t, err)
	assert.Equal(t, filepath.Join(root, "cpu", "esb", "cpu.shares"), file)
	assert.Equal(t, 2048, value)
	assert.Equal(t, "2048", read(t, file))
}

func TestV2DelegatesTheCPUControllerAndWritesWeight(t *testing.T) {
	root := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(root, "cgroup.controllers"), []byte("cpuset cpu io memory pids"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(root, "cgroup.subtree_control"), []byte("memory pids\n"), 0o644))

	file, value, err := Set(root, "esb", 4)
	require.NoError(t, err)
	assert.Equal(t, filepath.Join(root, "esb", "cpu.weight"), file)
	assert.Equal(t, 400, value)
	assert.Equal(t, "400", read(t, file))
	assert.Equal(t, "+cpu", read(t, filepath.Join(root, "cgroup.subtree_control")), "the root delegates cpu to the group")

	// Already delegated: left as it is; the weight stays within v2's bound.
	require.NoError(t, os.WriteFile(filepath.Join(root, "cgroup.subtree_control"), []byte("cpu memory"), 0o644))
	_, value, err = Set(root, "/esb", 512)
	require.NoError(t, err)
	assert.Equal(t, 10000, value)
	assert.Equal(t, "cpu memory", read(t, filepath.Join(root, "cgroup.subtree_control")))
}

func TestRefusesTheRootAndPathsOutOfIt(t *testing.T) {
	root := t.TempDir()
	for _, group := range []string{"", "/", "../esb", "/esb/../../x"} {
		_, _, err := Set(root, group, 2)
		assert.Error(t, err, "group %q", group)
	}
	_, _, err := Set(root, "/esb", 0)
	assert.Error(t, err)
}
