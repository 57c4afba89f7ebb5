package atomicdir

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var testNames = []string{"a.yml", "b.yml"}

func set(v string) map[string][]byte {
	return map[string][]byte{"a.yml": []byte("a" + v), "b.yml": []byte("b" + v)}
}

func generations(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	var out []string
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), genPrefix) {
			out = append(out, e.Name())
		}
	}
	return out
}

func publish(t *testing.T, dir string, files map[string][]byte) {
	t.Helper()
	c, err := Publish(dir, files)
	require.NoError(t, err)
	require.NoError(t, c.Finish())
}

func TestPublishAndRead(t *testing.T) {
	tests := []struct {
		name    string
		prepare func(t *testing.T, dir string)
	}{
		{name: "fresh dir", prepare: func(*testing.T, string) {}},
		{name: "plain files of the old layout", prepare: func(t *testing.T, dir string) {
			for name, data := range set("0") {
				require.NoError(t, os.WriteFile(filepath.Join(dir, name), data, 0o644))
			}
		}},
		{name: "earlier generation", prepare: func(t *testing.T, dir string) { publish(t, dir, set("0")) }},
		{name: "leftovers of a crashed writer", prepare: func(t *testing.T, dir string) {
			publish(t, dir, set("0"))
			require.NoError(t, os.Mkdir(filepath.Join(dir, genPrefix+"half"), 0o755))
			require.NoError(t, os.Symlink(genPrefix+"half", filepath.Join(dir, tmpLink)))
			require.NoError(t, os.Symlink("x", filepath.Join(dir, "a.yml.link")))
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			tt.prepare(t, dir)
			publish(t, dir, set("1"))

			got, err := Read(dir, testNames)
			require.NoError(t, err)
			assert.Equal(t, set("1"), got)
			for name, data := range set("1") {
				target, err := os.Readlink(filepath.Join(dir, name))
				require.NoError(t, err)
				assert.Equal(t, filepath.Join(DataLink, name), target)
				onDisk, err := os.ReadFile(filepath.Join(dir, name))
				require.NoError(t, err)
				assert.Equal(t, data, onDisk, "the root names stay readable")
			}
			assert.Len(t, generations(t, dir), 1, "older and half-written generations are pruned")
			assert.NoFileExists(t, filepath.Join(dir, tmpLink))
			assert.NoFileExists(t, filepath.Join(dir, "a.yml.link"))
		})
	}
}

func TestRollback(t *testing.T) {
	t.Run("back to the previous generation", func(t *testing.T) {
		dir := t.TempDir()
		publish(t, dir, set("0"))
		c, err := Publish(dir, set("1"))
		require.NoError(t, err)
		got, err := Read(dir, testNames)
		require.NoError(t, err)
		assert.Equal(t, set("1"), got)

		require.NoError(t, c.Rollback())
		got, err = Read(dir, testNames)
		require.NoError(t, err)
		assert.Equal(t, set("0"), got)
		assert.Len(t, generations(t, dir), 1)
	})
	t.Run("a fresh dir has no files again", func(t *testing.T) {
		dir := t.TempDir()
		c, err := Publish(dir, set("1"))
		require.NoError(t, err)
		require.NoError(t, c.Rollback())
		_, err = Read(dir, testNames)
		require.ErrorIs(t, err, fs.ErrNotExist)
		_, err = os.ReadFile(filepath.Join(dir, "a.yml"))
		require.ErrorIs(t, err, fs.ErrNotExist)
	})
}

// A file an operator put in place of a link is what readers see, not the
// generation behind it: nothing on disk is ignored silently.
func TestReadSeesHandEdits(t *testing.T) {
	dir := t.TempDir()
	publish(t, dir, set("0"))
	require.NoError(t, os.Remove(filepath.Join(dir, "b.yml")))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "b.yml"), []byte("edited"), 0o644))

	got, err := Read(dir, testNames)
	require.NoError(t, err)
	assert.Equal(t, map[string][]byte{"a.yml": []byte("a0"), "b.yml": []byte("edited")}, got)

	publish(t, dir, set("1"))
	got, err = Read(dir, testNames)
	require.NoError(t, err)
	assert.Equal(t, set("1"), got)
}

func TestReadMissing(t *testing.T) {
	dir := t.TempDir()
	publish(t, dir, map[string][]byte{"a.yml": []byte("a")})
	_, err := Read(dir, testNames)
	require.ErrorIs(t, err, fs.ErrNotExist)
	assert.Contains(t, err.Error(), "b.yml")
}

// Readers racing a writer that publishes and prunes as fast as it can must
// only ever see one generation's files together.
func TestReadDuringPublish(t *testing.T) {
	dir := t.TempDir()
	publish(t, dir, set("0"))
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range 100 {
			c, err := Publish(dir, set(strings.Repeat("x", i%7)+string(rune('a'+i%26))))
			if err != nil {
				t.Error(err)
				return
			}
			if err := c.Finish(); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	reads := 0
	for {
		select {
		case <-done:
			t.Logf("%d consistent reads", reads)
			return
		default:
		}
		got, err := Read(dir, testNames)
		require.NoError(t, err)
		require.Equal(t, string(got["a.yml"][1:]), string(got["b.yml"][1:]), "a mixed set")
		reads++
	}
}
