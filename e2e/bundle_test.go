//go:build e2e

package e2e

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/esb-dev/esb/internal/bundle"
	"github.com/esb-dev/esb/internal/confighistory"
	"github.com/esb-dev/esb/internal/deploy"
)

// bundleSwap hands each env of TestContainerdMode the bundle the other
// exported: export in one mode, import in the other.
type bundleSwap struct {
	dir string // where bundles are written: the whole test's, so both outlive either env's subtest
	key string // the operator's ed25519 signing key (PKCS#8 PEM)
	pub string // its public half (PKIX PEM)
	// otherTag is the tag the other env exports under.
	otherTag string
	give     func(file string) // this env's bundle, "" when there is none; once
	recv     <-chan string     // the other env's
}

// newBundleSwaps returns the swaps of two envs that export under tagA
// and tagB.
func newBundleSwaps(t *testing.T, tagA, tagB string) (bundleSwap, bundleSwap) {
	dir := t.TempDir()
	key, pubFile, err := bundle.WriteKeyPair(filepath.Join(dir, "operator"))
	require.NoError(t, err)
	ab, ba := make(chan string, 1), make(chan string, 1)
	giver := func(ch chan string) func(string) {
		var once sync.Once
		return func(file string) { once.Do(func() { ch <- file }) }
	}
	return bundleSwap{dir: dir, key: key, pub: pubFile, otherTag: tagB, give: giver(ab), recv: ba},
		bundleSwap{dir: dir, key: key, pub: pubFile, otherTag: tagA, give: giver(ba), recv: ab}
}

const bundledBody = `{"bundled":"node","isNumber":true,"bucket":"bundled-files"}`

// bundleFlow exports testdata/bundle (a Node.js function with an npm
// dependency, a bucket) from this env with esb bundle export, hands it to
// the other env and takes the other env's bundle, stops this env's Dagger
// engine (nothing may build), refuses a bundle with a flipped byte in an
// image blob and a truncated one without changing anything, then imports
// the other env's bundle and invokes its function through this env's
// gateway (its signature checked under the operator's key): the digests
// the other env built, this env's repository, the
// bucket provisioned, the import recorded in the history.
func bundleFlow(t *testing.T, s *stack, tag string, swap bundleSwap) {
	ctx := t.Context()
	work := t.TempDir()
	copyTree(t, filepath.Join(s.root, "e2e", "testdata", "bundle"), work)
	exported := filepath.Join(swap.dir, s.layout.Env.Name+".esbundle")
	// A failed export still unblocks the other env.
	defer swap.give("")
	began := time.Now()
	res := s.esb(ctx, t, "bundle", "export", "-t", filepath.Join(work, "template.yml"), "-o", exported, "--mode", s.mode, "--tag", tag, "--sign", swap.key)
	require.NoError(t, res.err)
	st, err := os.Stat(exported)
	require.NoError(t, err)
	t.Logf("bundle export (%s mode): %.1f MB in %s", s.mode, float64(st.Size())/(1<<20), time.Since(began).Round(100*time.Millisecond))
	assert.Contains(t, res.stdout, "exported 1 functions, 1 images")
	assert.FileExists(t, exported+".sig")
	assert.NotContains(t, s.config(t).Functions.Functions, "BundledFunction", "export merges nothing into the exporting env")
	swap.give(exported)

	var file string
	select {
	case file = <-swap.recv:
	case <-time.After(30 * time.Minute):
		t.Fatal("no bundle from the other env in 30 minutes")
	case <-ctx.Done():
		t.Fatal(ctx.Err())
	}
	require.NotEmpty(t, file, "the other env's export failed")

	out, err := s.compose(ctx, "stop", "dagger-engine")
	require.NoError(t, err, out)
	t.Cleanup(func() {
		if out, err := s.compose(context.Background(), "start", "dagger-engine"); err != nil {
			t.Logf("start dagger-engine again: %v\n%s", err, out)
		}
	})

	store := confighistory.Store{ConfigDir: s.layout.ConfigDir}
	refused := func(t *testing.T, bad string, want ...string) {
		t.Helper()
		before := s.snapshotConfig(t)
		gens, err := store.List()
		require.NoError(t, err)
		res := s.esb(ctx, t, "bundle", "import", bad, "--mode", s.mode)
		require.Error(t, res.err)
		assert.Contains(t, res.stderr, "bundle refused, nothing changed")
		for _, w := range want {
			assert.Contains(t, res.stderr, w)
		}
		assert.Equal(t, before, s.snapshotConfig(t), "a refused bundle changes nothing")
		after, err := store.List()
		require.NoError(t, err)
		assert.Len(t, after, len(gens), "and records nothing")
	}
	t.Run("a bundle with a flipped byte in an image blob is refused", func(t *testing.T) {
		bad := filepath.Join(t.TempDir(), "tampered.esbundle")
		entry := tamperBlob(t, file, bad)
		refused(t, bad, "does not match the manifest", entry)
	})
	t.Run("a truncated bundle is refused", func(t *testing.T) {
		data, err := os.ReadFile(file)
		require.NoError(t, err)
		bad := filepath.Join(t.TempDir(), "truncated.esbundle")
		require.NoError(t, os.WriteFile(bad, data[:len(data)*3/5], 0o644))
		refused(t, bad, "truncated")
	})

	t.Run("import with the engine stopped serves the other env's build", func(t *testing.T) {
		began := time.Now()
		res := s.esb(ctx, t, "bundle", "import", file, "--mode", s.mode, "--verify", swap.pub)
		require.NoError(t, res.err)
		t.Logf("bundle import (%s mode, engine stopped, signature checked): %s", s.mode, time.Since(began).Round(100*time.Millisecond))
		assert.Contains(t, res.stdout, "imported 1 functions, 1 images")

		assert.NoError(t, pollBody(ctx, s.url("PORT_GATEWAY", "/bundled"), bundledBody, time.Second, 90*time.Second))
		fn := s.config(t).Functions.Functions["BundledFunction"]
		assert.Contains(t, res.stdout, "BundledFunction\t"+fn.Digest, "the digest the other env built")
		registryAddr := deploy.PullRegistry(s.mode)
		if registryAddr == "" {
			registryAddr = s.layout.RegistryAddr()
		}
		// This env's registry and repository; the tag is the exporting
		// env's (--tag of the export), carried along as the digest is.
		assert.Equal(t, registryAddr+"/"+s.layout.Env.Project()+"/bundledfunction:"+swap.otherTag, fn.Image, "this env's registry and repository, the export's tag")
		dgst, found, err := s.registry(t).Manifest(ctx, s.layout.Env.Project()+"/bundledfunction", fn.Digest)
		require.NoError(t, err)
		assert.True(t, found, "pushed into this env's registry")
		assert.Equal(t, fn.Digest, dgst)
		_, err = s.s3().HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String("bundled-files")})
		assert.NoError(t, err, "the bundle's bucket is provisioned")
		if s.mode == "containerd" {
			images, err := s.compose(ctx, "exec", "-T", "runtime-node", "ctr", "-n", s.layout.Env.Brand, "images", "ls", "-q")
			require.NoError(t, err, images)
			assert.Contains(t, images, "@"+fn.Digest, "the import pulled the image into runtime-node")
		}
		listed, err := store.List()
		require.NoError(t, err)
		require.NotEmpty(t, listed)
		last := listed[len(listed)-1]
		assert.Equal(t, confighistory.KindImport, last.Kind)
		assert.True(t, last.Current)
	})
}

// tamperBlob copies the bundle at src to dst with one byte of its largest
// image blob flipped, recompressed, the manifest as it was; it returns the
// entry's name.
func tamperBlob(t *testing.T, src, dst string) string {
	t.Helper()
	in, err := os.Open(src)
	require.NoError(t, err)
	defer in.Close()
	gz, err := gzip.NewReader(in)
	require.NoError(t, err)
	type entry struct {
		hdr  *tar.Header
		data []byte
	}
	var entries []entry
	largest := -1
	tr := tar.NewReader(gz)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(t, err)
		data, err := io.ReadAll(tr)
		require.NoError(t, err)
		if strings.HasPrefix(hdr.Name, "images/blobs/") && (largest < 0 || len(data) > len(entries[largest].data)) {
			largest = len(entries)
		}
		entries = append(entries, entry{hdr, data})
	}
	require.GreaterOrEqual(t, largest, 0, "the bundle has image blobs")
	entries[largest].data[len(entries[largest].data)/2] ^= 0xff
	var buf bytes.Buffer
	gw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gw)
	for _, e := range entries {
		require.NoError(t, tw.WriteHeader(e.hdr))
		_, err := tw.Write(e.data)
		require.NoError(t, err)
	}
	require.NoError(t, tw.Close())
	require.NoError(t, gw.Close())
	require.NoError(t, os.WriteFile(dst, buf.Bytes(), 0o644))
	return entries[largest].hdr.Name
}
