package cgroupmem

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func write(t *testing.T, path, content string) {
	t.Helper()
	require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
	require.NoError(t, os.WriteFile(path, []byte(content), 0o644))
}

func TestPeak(t *testing.T) {
	id := strings.Repeat("ab", 32)
	other := strings.Repeat("cd", 32)
	tests := []struct {
		name    string
		files   map[string]string
		id      string
		want    int64
		wantErr string
	}{
		{name: "v1 cgroupfs driver", files: map[string]string{"memory/docker/" + id + "/memory.max_usage_in_bytes": "12345678\n"}, id: id, want: 12345678},
		{name: "v1 systemd driver", files: map[string]string{"memory/system.slice/docker-" + id + ".scope/memory.max_usage_in_bytes": "4096\n"}, id: id, want: 4096},
		{name: "v2 cgroupfs driver", files: map[string]string{"cgroup.controllers": "cpu memory\n", "docker/" + id + "/memory.peak": "777\n"}, id: id, want: 777},
		{name: "v2 systemd driver", files: map[string]string{"cgroup.controllers": "cpu memory\n", "system.slice/docker-" + id + ".scope/memory.peak": "888\n"}, id: id, want: 888},
		{name: "another container's cgroup is not this one's", files: map[string]string{"memory/docker/" + other + "/memory.max_usage_in_bytes": "1\n"}, id: id, wantErr: "no memory cgroup of the container"},
		{name: "v2 kernel without memory.peak", files: map[string]string{"cgroup.controllers": "memory\n", "docker/" + id + "/memory.current": "5\n"}, id: id, wantErr: "no memory cgroup of the container"},
		{name: "a short id could match a prefix: refused", files: map[string]string{"memory/docker/" + id[:12] + "/memory.max_usage_in_bytes": "1\n"}, id: id[:12], wantErr: "is not a full id"},
		{name: "a path is not an id", id: "../../etc/passwd" + strings.Repeat("a", 48), wantErr: "is not a full id"},
		{name: "garbage in the file", files: map[string]string{"memory/docker/" + id + "/memory.max_usage_in_bytes": "lots\n"}, id: id, wantErr: "memory.max_usage_in_bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			for p, c := range tt.files {
				write(t, filepath.Join(root, p), c)
			}
			r, err := New(root)
			require.NoError(t, err)
			got, err := r.Peak(tt.id)
			if tt.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

// Containers created under a cgroup parent of the agent's (the functions'
// CPU group, package cpugroup) are found there first.
func TestPeakUnderAParent(t *testing.T) {
	id := strings.Repeat("ef", 32)
	root := t.TempDir()
	write(t, filepath.Join(root, "memory/esb/"+id+"/memory.max_usage_in_bytes"), "42\n")
	r, err := New(root, "/esb")
	require.NoError(t, err)
	v, err := r.Peak(id)
	require.NoError(t, err)
	assert.Equal(t, int64(42), v)

	root = t.TempDir()
	write(t, filepath.Join(root, "cgroup.controllers"), "cpu memory\n")
	write(t, filepath.Join(root, "esb/"+id+"/memory.peak"), "43\n")
	r, err = New(root, "esb")
	require.NoError(t, err)
	v, err = r.Peak(id)
	require.NoError(t, err)
	assert.Equal(t, int64(43), v)

	r, err = New(root) // without the parent it is not found
	require.NoError(t, err)
	_, err = r.Peak(id)
	assert.ErrorIs(t, err, ErrNotFound)
}

func TestPeakRemembersTheLayout(t *testing.T) {
	root := t.TempDir()
	a, b := strings.Repeat("1", 64), strings.Repeat("2", 64)
	write(t, filepath.Join(root, "memory/system.slice/docker-"+a+".scope/memory.max_usage_in_bytes"), "10")
	write(t, filepath.Join(root, "memory/system.slice/docker-"+b+".scope/memory.max_usage_in_bytes"), "20")
	r, err := New(root)
	require.NoError(t, err)
	v, err := r.Peak(a)
	require.NoError(t, err)
	assert.Equal(t, int64(10), v)
	assert.Equal(t, int32(1), r.found.Load(), "the systemd layout is tried first from now on")
	v, err = r.Peak(b)
	require.NoError(t, err)
	assert.Equal(t, int64(20), v)
}

func TestNewRefusesAMissingRoot(t *testing.T) {
	_, err := New(filepath.Join(t.TempDir(), "nope"))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "cgroup root")
}
