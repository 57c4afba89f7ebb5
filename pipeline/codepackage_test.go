package pipeline

import (
	"archive/zip"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/esb-dev/esb/internal/sam"
)

// zipEntry is one entry of a test archive.
type zipEntry struct {
	name string
	mode fs.FileMode // 0: a file written without unix mode bits
	body string
}

func writeZip(t *testing.T, entries []zipEntry) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "package.zip")
	f, err := os.Create(path)
	require.NoError(t, err)
	zw := zip.NewWriter(f)
	for _, e := range entries {
		h := &zip.FileHeader{Name: e.name, Method: zip.Deflate}
		if e.mode != 0 {
			h.SetMode(e.mode)
		}
		w, err := zw.CreateHeader(h)
		require.NoError(t, err)
		_, err = w.Write([]byte(e.body))
		require.NoError(t, err)
	}
	require.NoError(t, zw.Close())
	require.NoError(t, f.Close())
	return path
}

func TestExtractArchive(t *testing.T) {
	tests := []struct {
		name    string
		entries []zipEntry
		check   func(t *testing.T, dir string)
		wantErr string
	}{
		{
			name: "bootstrap keeps its execute bit, files without mode get 0644",
			entries: []zipEntry{
				{name: "bootstrap", mode: 0o755, body: "#!/bin/sh\n"},
				{name: "lib/", mode: fs.ModeDir | 0o755},
				{name: "lib/data.txt", body: "data"},
			},
			check: func(t *testing.T, dir string) {
				st, err := os.Stat(filepath.Join(dir, "bootstrap"))
				require.NoError(t, err)
				assert.Equal(t, fs.FileMode(0o755), st.Mode().Perm())
				st, err = os.Stat(filepath.Join(dir, "lib", "data.txt"))
				require.NoError(t, err)
				assert.Equal(t, fs.FileMode(0o644), st.Mode().Perm())
				data, err := os.ReadFile(filepath.Join(dir, "lib", "data.txt"))
				require.NoError(t, err)
				assert.Equal(t, "data", string(data))
			},
		},
		{
			name:    "entry escaping the package",
			entries: []zipEntry{{name: "../evil.sh", body: "x"}},
			wantErr: `entry "../evil.sh" points outside the package`,
		},
		{
			name:    "absolute entry",
			entries: []zipEntry{{name: "/etc/passwd", body: "x"}},
			wantErr: `entry "/etc/passwd" points outside the package`,
		},
		{
			name:    "link escaping the package",
			entries: []zipEntry{{name: "lib/link", mode: fs.ModeSymlink | 0o777, body: "../../etc"}},
			wantErr: "link lib/link -> ../../etc points outside the package",
		},
		{
			name:    "link inside the package",
			entries: []zipEntry{{name: "a.txt", body: "A"}, {name: "lib/a", mode: fs.ModeSymlink | 0o777, body: "../a.txt"}},
			check: func(t *testing.T, dir string) {
				data, err := os.ReadFile(filepath.Join(dir, "lib", "a"))
				require.NoError(t, err)
				assert.Equal(t, "A", string(data))
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := writeZip(t, tt.entries)
			dst := t.TempDir()
			err := ExtractArchive(src, dst)
			if tt.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.wantErr)
				return
			}
			require.NoError(t, err)
			tt.check(t, dst)
		})
	}
}

// TestSourceOfPackages: inline code and archives are fingerprinted by
// content, so a change rebuilds and an unchanged package does not.
func TestSourceOfPackages(t *testing.T) {
	archive := writeZip(t, []zipEntry{{name: "index.py", body: "v1"}})
	inline := sam.Function{PackageType: sam.PackageZip, Runtime: "python3.13", Handler: "index.handler", InlineCode: "def handler(e, c): pass", InlineFile: "index.py"}
	zipped := sam.Function{PackageType: sam.PackageZip, Runtime: "python3.13", Handler: "index.handler", CodeArchive: archive}

	first, pinned, err := Source(inline, Bases{})
	require.NoError(t, err)
	require.True(t, pinned)
	changed := inline
	changed.InlineCode += "\n"
	second, _, err := Source(changed, Bases{})
	require.NoError(t, err)
	assert.NotEqual(t, first, second, "a change of inline code must change the fingerprint")

	a, _, err := Source(zipped, Bases{})
	require.NoError(t, err)
	again, _, err := Source(zipped, Bases{})
	require.NoError(t, err)
	assert.Equal(t, a, again)
	require.NoError(t, os.WriteFile(archive, []byte("not the same archive"), 0o644))
	b, _, err := Source(zipped, Bases{})
	require.NoError(t, err)
	assert.NotEqual(t, a, b, "a new archive must change the fingerprint")
}
