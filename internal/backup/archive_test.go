package backup

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func writeArchive(t *testing.T, entries map[string]string, order []string) string {
	t.Helper()
	file := filepath.Join(t.TempDir(), "env.esbbackup")
	f, err := os.Create(file)
	require.NoError(t, err)
	w := NewWriter(f, "dev", "docker", time.Unix(1, 0))
	for _, name := range order {
		require.NoError(t, w.AddBytes(name, []byte(entries[name])))
	}
	require.NoError(t, w.Close())
	require.NoError(t, f.Close())
	return file
}

func TestRoundTrip(t *testing.T) {
	entries := map[string]string{"config/functions.yml": "functions: {}\n", "s3/b/k": "hello", "empty": ""}
	order := []string{"config/functions.yml", "s3/b/k", "empty"}
	file := writeArchive(t, entries, order)
	m, err := Verify(file)
	require.NoError(t, err)
	assert.Equal(t, "dev", m.Env)
	assert.Len(t, m.Entries, 3)
	got := map[string]string{}
	var names []string
	_, err = Each(file, func(e Entry, r io.Reader) error {
		data, err := io.ReadAll(r)
		got[e.Name] = string(data)
		names = append(names, e.Name)
		return err
	})
	require.NoError(t, err)
	assert.Equal(t, entries, got)
	assert.Equal(t, order, names)
}

func TestRefusesTruncatedAndTampered(t *testing.T) {
	file := writeArchive(t, map[string]string{"a": "aaaa", "b": string(bytes.Repeat([]byte("b"), 4096))}, []string{"a", "b"})
	data, err := os.ReadFile(file)
	require.NoError(t, err)

	truncated := filepath.Join(t.TempDir(), "truncated")
	require.NoError(t, os.WriteFile(truncated, data[:len(data)/2], 0o644))
	_, err = Verify(truncated)
	assert.ErrorIs(t, err, ErrInvalid)

	// Rewrite the archive with one entry's bytes changed but the original
	// manifest: what a tamperer without the manifest's cooperation does.
	m, err := Verify(file)
	require.NoError(t, err)
	tampered := filepath.Join(t.TempDir(), "tampered")
	f, err := os.Create(tampered)
	require.NoError(t, err)
	w := NewWriter(f, "dev", "docker", time.Unix(1, 0))
	require.NoError(t, w.AddBytes("a", []byte("aaab")))
	require.NoError(t, w.AddBytes("b", bytes.Repeat([]byte("b"), 4096)))
	w.manifest.Entries = m.Entries
	require.NoError(t, w.Close())
	require.NoError(t, f.Close())
	_, err = Verify(tampered)
	assert.ErrorIs(t, err, ErrInvalid)
	assert.ErrorContains(t, err, "entry a")

	called := false
	_, err = Each(tampered, func(Entry, io.Reader) error { called = true; return nil })
	assert.ErrorIs(t, err, ErrInvalid)
	assert.False(t, called, "nothing handed out before the whole archive checked")
}

func TestRefusesEscapingNames(t *testing.T) {
	w := NewWriter(io.Discard, "dev", "", time.Now())
	for _, name := range []string{"../x", "/etc/passwd", "a/../../b", ManifestName, ""} {
		assert.Error(t, w.AddBytes(name, nil), name)
	}
}
