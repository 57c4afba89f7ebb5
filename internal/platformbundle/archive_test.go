package platformbundle

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// writeBundle writes a bundle with a small file, an executable and a
// stream of two and a bit parts, and returns its path and the stream.
func writeBundle(t *testing.T) (string, []byte) {
	t.Helper()
	const partSize = 64 << 10
	stream := make([]byte, 2*partSize+1234)
	rand.New(rand.NewSource(1)).Read(stream)
	file := filepath.Join(t.TempDir(), "p.esbundle")
	f, err := os.Create(file)
	require.NoError(t, err)
	w := NewWriter(f, Manifest{ESBVersion: "v-test", ImageTag: "src-0123456789ab", Images: []string{"esb/gateway:src-0123456789ab"}, Arch: "amd64", Created: time.Unix(1, 0)})
	w.partSize = partSize
	require.NoError(t, w.Add("site/compose/docker-compose.infra.yml", 0o644, 5, strings.NewReader("hello")))
	require.NoError(t, w.Add("site/bin/esb", 0o755, 3, strings.NewReader("ELF")))
	var progress []int64
	n, err := w.AddStream("images.tar.zst", bytes.NewReader(stream), func(written int64) { progress = append(progress, written) })
	require.NoError(t, err)
	assert.Equal(t, int64(len(stream)), n)
	assert.Equal(t, []int64{partSize, 2 * partSize, int64(len(stream))}, progress)
	m, err := w.Close()
	require.NoError(t, err)
	require.NoError(t, f.Close())
	assert.Len(t, m.Entries, 5)
	return file, stream
}

func TestRoundTrip(t *testing.T) {
	file, stream := writeBundle(t)
	data, err := os.ReadFile(file)
	require.NoError(t, err)
	whole := sha256.Sum256(data)

	var got bytes.Buffer
	files := map[string]string{}
	modes := map[string]int64{}
	sum, err := Verify(file, nil)
	require.NoError(t, err)
	err = Each(file, sum, func(e Entry, r io.Reader) error {
		if IsPart("images.tar.zst", e.Name) {
			_, err := io.Copy(&got, r)
			return err
		}
		b, err := io.ReadAll(r)
		files[e.Name] = string(b)
		modes[e.Name] = e.Mode
		return err
	})
	require.NoError(t, err)
	assert.Equal(t, stream, got.Bytes(), "the parts joined in order are the stream")
	assert.Equal(t, map[string]string{"site/compose/docker-compose.infra.yml": "hello", "site/bin/esb": "ELF"}, files)
	assert.Equal(t, int64(0o755), modes["site/bin/esb"])
	assert.Equal(t, hex.EncodeToString(whole[:]), sum.SHA256)
	assert.Equal(t, int64(len(data)), sum.FileSize)
	assert.Equal(t, "src-0123456789ab", sum.Manifest.ImageTag)
	assert.Equal(t, Format, sum.Manifest.Format)
	assert.Equal(t, int64(len(stream)+8), sum.Manifest.Size())
}

// TestChangedAfterVerify: a file replaced between Verify and Each, even
// by another valid bundle, fails Each.
func TestChangedAfterVerify(t *testing.T) {
	file, _ := writeBundle(t)
	sum, err := Verify(file, nil)
	require.NoError(t, err)
	var buf bytes.Buffer
	w := NewWriter(&buf, Manifest{})
	require.NoError(t, w.Add("site/bin/esb", 0o755, 3, strings.NewReader("EVL")))
	_, err = w.Close()
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(file, buf.Bytes(), 0o644))
	err = Each(file, sum, func(Entry, io.Reader) error { return nil })
	require.ErrorIs(t, err, ErrInvalid)
	assert.Contains(t, err.Error(), "changed since it was verified")
	assert.Error(t, Each(file, Summary{}, func(Entry, io.Reader) error { return nil }), "Each without Verify")
}

func TestEmptyStreamHasOnePart(t *testing.T) {
	var buf bytes.Buffer
	w := NewWriter(&buf, Manifest{})
	n, err := w.AddStream("s", strings.NewReader(""), nil)
	require.NoError(t, err)
	assert.Zero(t, n)
	m, err := w.Close()
	require.NoError(t, err)
	require.Len(t, m.Entries, 1)
	assert.Equal(t, "s/000000", m.Entries[0].Name)
}

// TestTruncated cuts the bundle at many places, every one inside an entry,
// a header, the manifest or between entries: each is refused.
func TestTruncated(t *testing.T) {
	file, _ := writeBundle(t)
	data, err := os.ReadFile(file)
	require.NoError(t, err)
	// The tar end (two zero blocks, padded to 10 KiB records) carries no
	// content: only cuts before it must fail.
	end := bytes.LastIndex(data, []byte(`"entries"`))
	require.Positive(t, end)
	cuts := []int{0, 100, 512, 1024, 1536, 2048, 2560, 3000, 3584, 64 << 9, 64<<10 + 4000, 2 * 64 << 10, len(data) / 2, end, end + 100}
	for _, cut := range cuts {
		short := filepath.Join(t.TempDir(), "short.esbundle")
		require.NoError(t, os.WriteFile(short, data[:cut], 0o644))
		_, err := Verify(short, nil)
		require.ErrorIs(t, err, ErrInvalid, "cut at %d", cut)
	}
}

// TestTampered flips one byte in each entry's content, and rewrites a
// mode: each is refused, naming the entry.
func TestTampered(t *testing.T) {
	file, _ := writeBundle(t)
	data, err := os.ReadFile(file)
	require.NoError(t, err)
	for name, at := range map[string]int{
		"site/compose/docker-compose.infra.yml": bytes.Index(data, []byte("hello")),
		"site/bin/esb":                          bytes.Index(data, []byte("ELF")),
		"images.tar.zst/000001":                 5*512 + 64<<10 + 512 + 4096,
	} {
		bad := bytes.Clone(data)
		bad[at] ^= 0xff
		p := filepath.Join(t.TempDir(), "bad.esbundle")
		require.NoError(t, os.WriteFile(p, bad, 0o644))
		_, err := Verify(p, nil)
		require.ErrorIs(t, err, ErrInvalid, name)
		assert.Contains(t, err.Error(), name)
	}
}

func TestTamperedManifestOrExtraEntry(t *testing.T) {
	file, _ := writeBundle(t)
	data, err := os.ReadFile(file)
	require.NoError(t, err)

	// A manifest listing another hash: the entry no longer matches.
	sum := sha256.Sum256([]byte("ELF"))
	i := bytes.Index(data, []byte(hex.EncodeToString(sum[:])))
	require.Positive(t, i)
	bad := bytes.Clone(data)
	copy(bad[i:], strings.Repeat("0", 64))
	p := filepath.Join(t.TempDir(), "bad.esbundle")
	require.NoError(t, os.WriteFile(p, bad, 0o644))
	_, err = Verify(p, nil)
	require.ErrorIs(t, err, ErrInvalid)
	assert.Contains(t, err.Error(), "site/bin/esb")

	// An entry the manifest does not list.
	var buf bytes.Buffer
	w := NewWriter(&buf, Manifest{})
	require.NoError(t, w.Add("a", 0o644, 1, strings.NewReader("a")))
	m, err := w.Close()
	require.NoError(t, err)
	var extra bytes.Buffer
	w2 := NewWriter(&extra, m)
	require.NoError(t, w2.Add("a", 0o644, 1, strings.NewReader("a")))
	require.NoError(t, w2.Add("b", 0o644, 1, strings.NewReader("b")))
	w2.manifest.Entries = m.Entries // the manifest of the first, without b
	_, err = w2.Close()
	require.NoError(t, err)
	p2 := filepath.Join(t.TempDir(), "extra.esbundle")
	require.NoError(t, os.WriteFile(p2, extra.Bytes(), 0o644))
	_, err = Verify(p2, nil)
	require.ErrorIs(t, err, ErrInvalid)
	assert.Contains(t, err.Error(), "2 entries, the manifest lists 1")
}

func TestNotABundle(t *testing.T) {
	p := filepath.Join(t.TempDir(), "x")
	require.NoError(t, os.WriteFile(p, []byte("just some text, not a tar"), 0o644))
	_, err := Verify(p, nil)
	require.ErrorIs(t, err, ErrInvalid)
}

func TestNamesStayInside(t *testing.T) {
	w := NewWriter(io.Discard, Manifest{})
	for _, name := range []string{"", "/etc/passwd", "../x", "a/../../x", ManifestName, "a//b"} {
		assert.Error(t, w.Add(name, 0o644, 0, strings.NewReader("")), name)
	}
}

func TestIsPart(t *testing.T) {
	assert.True(t, IsPart("images.tar.zst", "images.tar.zst/000000"))
	assert.False(t, IsPart("images.tar.zst", "images.tar.zst/0"))
	assert.False(t, IsPart("images.tar.zst", "images.tar.zst/00000a"))
	assert.False(t, IsPart("images.tar.zst", "site/images.tar.zst/000000"))
}
