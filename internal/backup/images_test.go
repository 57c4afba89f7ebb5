package backup

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// memRegistry is an in-memory registry: blobs and manifests by repo and
// digest.
type memRegistry struct {
	blobs     map[string][]byte // repo@digest
	manifests map[string][]byte
	types     map[string]string
	corrupt   string // a digest whose bytes it serves wrong
}

func newMem() *memRegistry {
	return &memRegistry{blobs: map[string][]byte{}, manifests: map[string][]byte{}, types: map[string]string{}}
}

func (m *memRegistry) addBlob(repo string, data []byte) descriptor {
	d := digest.FromBytes(data).String()
	m.blobs[repo+"@"+d] = data
	return descriptor{MediaType: "application/octet-stream", Digest: d, Size: int64(len(data))}
}

func (m *memRegistry) addManifest(repo, mediaType, body string) descriptor {
	d := digest.FromString(body).String()
	m.manifests[repo+"@"+d] = []byte(body)
	m.types[repo+"@"+d] = mediaType
	return descriptor{MediaType: mediaType, Digest: d, Size: int64(len(body))}
}

func (m *memRegistry) GetManifest(_ context.Context, repo, ref string) ([]byte, string, string, error) {
	data, ok := m.manifests[repo+"@"+ref]
	if !ok {
		return nil, "", "", fmt.Errorf("manifest %s@%s: 404", repo, ref)
	}
	return data, m.types[repo+"@"+ref], ref, nil
}

func (m *memRegistry) GetBlob(_ context.Context, repo, d string) (io.ReadCloser, int64, error) {
	data, ok := m.blobs[repo+"@"+d]
	if !ok {
		return nil, 0, fmt.Errorf("blob %s@%s: 404", repo, d)
	}
	if d == m.corrupt {
		data = append([]byte("x"), data[1:]...)
	}
	return io.NopCloser(bytes.NewReader(data)), int64(len(data)), nil
}

func (m *memRegistry) PutBlob(_ context.Context, repo, d string, size int64, r io.Reader) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	if int64(len(data)) != size || digest.FromBytes(data).String() != d {
		return fmt.Errorf("blob %s: digest mismatch", d)
	}
	m.blobs[repo+"@"+d] = data
	return nil
}

func (m *memRegistry) PutManifest(_ context.Context, repo, ref, mediaType string, data []byte) (string, error) {
	d := digest.FromBytes(data).String()
	m.manifests[repo+"@"+d] = data
	m.types[repo+"@"+d] = mediaType
	return d, nil
}

func TestImagesRoundTripUnderAnotherRepository(t *testing.T) {
	src := newMem()
	const repo = "esb-dev/hello"
	cfg := src.addBlob(repo, []byte(`{"architecture":"amd64"}`))
	shared := src.addBlob(repo, bytes.Repeat([]byte("base"), 1000))
	own := src.addBlob(repo, []byte("code"))
	child := src.addManifest(repo, "application/vnd.oci.image.manifest.v1+json",
		fmt.Sprintf(`{"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"digest":%q,"size":%d},"layers":[{"digest":%q,"size":%d},{"digest":%q,"size":%d}]}`,
			cfg.Digest, cfg.Size, shared.Digest, shared.Size, own.Digest, own.Size))
	index := src.addManifest(repo, "application/vnd.oci.image.index.v1+json",
		fmt.Sprintf(`{"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"digest":%q,"size":%d}]}`, child.Digest, child.Size))

	file := filepath.Join(t.TempDir(), "b")
	f, err := os.Create(file)
	require.NoError(t, err)
	w := NewWriter(f, "dev", "docker", time.Now())
	require.NoError(t, SaveImages(t.Context(), w, src, []string{repo + "@" + index.Digest, repo + "@" + index.Digest}))
	require.NoError(t, w.Close())
	require.NoError(t, f.Close())

	stage := t.TempDir()
	_, err = Extract(file, stage)
	require.NoError(t, err)

	dst := newMem()
	pushed, err := LoadImages(t.Context(), stage, dst, func(string) string { return "esb-copy/hello" })
	require.NoError(t, err)
	assert.Equal(t, []string{"esb-copy/hello@" + index.Digest, "esb-copy/hello@" + index.Digest}, pushed)
	for _, d := range []descriptor{cfg, shared, own} {
		assert.Contains(t, dst.blobs, "esb-copy/hello@"+d.Digest)
	}
	for _, d := range []descriptor{child, index} {
		assert.Contains(t, dst.manifests, "esb-copy/hello@"+d.Digest)
	}
	assert.Equal(t, "application/vnd.oci.image.index.v1+json", dst.types["esb-copy/hello@"+index.Digest])
}

func TestSaveImagesRefusesBytesThatDoNotMatchTheirDigest(t *testing.T) {
	src := newMem()
	const repo = "esb-dev/hello"
	layer := src.addBlob(repo, []byte("code"))
	m := src.addManifest(repo, "application/vnd.oci.image.manifest.v1+json",
		fmt.Sprintf(`{"layers":[{"digest":%q,"size":%d}]}`, layer.Digest, layer.Size))
	src.corrupt = layer.Digest
	w := NewWriter(io.Discard, "dev", "", time.Now())
	err := SaveImages(t.Context(), w, src, []string{repo + "@" + m.Digest})
	assert.ErrorContains(t, err, "served other bytes")
}
