package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"
	"github.com/docker/docker/errdefs"
	"github.com/klauspost/compress/zstd"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/esb-dev/esb/internal/compose"
	"github.com/esb-dev/esb/internal/platformbundle"
)

// fakeEngine is a Docker engine's image store: load records the stream
// and makes the bundle's images present.
type fakeEngine struct {
	present map[string]bool
	loaded  []byte
	loads   int
	onLoad  []string
}

func (f *fakeEngine) ImageInspect(_ context.Context, ref string, _ ...client.ImageInspectOption) (image.InspectResponse, error) {
	if f.present[ref] {
		return image.InspectResponse{ID: "sha256:" + ref}, nil
	}
	return image.InspectResponse{}, errdefs.NotFound(io.EOF)
}

func (f *fakeEngine) ImageSave(_ context.Context, refs []string, _ ...client.ImageSaveOption) (io.ReadCloser, error) {
	return io.NopCloser(strings.NewReader("saved " + strings.Join(refs, ","))), nil
}

func (f *fakeEngine) ImageLoad(_ context.Context, r io.Reader, _ ...client.ImageLoadOption) (image.LoadResponse, error) {
	f.loads++
	data, err := io.ReadAll(r)
	if err != nil {
		return image.LoadResponse{}, err
	}
	f.loaded = data
	for _, ref := range f.onLoad {
		f.present[ref] = true
	}
	return image.LoadResponse{Body: io.NopCloser(strings.NewReader(`{"stream":"Loaded image: x\n"}`)), JSON: true}, nil
}

// testBundle writes a small platform bundle: two site files, bin/esb and
// an images stream holding "docker save output".
func testBundle(t *testing.T) (string, platformbundle.Summary) {
	t.Helper()
	file := filepath.Join(t.TempDir(), "p.esbundle")
	f, err := os.Create(file)
	require.NoError(t, err)
	w := platformbundle.NewWriter(f, platformbundle.Manifest{Created: time.Now(), ImageTag: "src-0123456789ab", Images: []string{"esb/gateway:src-0123456789ab"}, Arch: runtime.GOARCH})
	require.NoError(t, w.Add(siteDir+"bin/esb", 0o755, 3, strings.NewReader("ELF")))
	require.NoError(t, w.Add(siteDir+"compose/docker-compose.infra.yml", 0o644, 9, strings.NewReader("services:")))
	tag := "src-0123456789ab\n"
	require.NoError(t, w.Add(siteDir+compose.ImageTagFile, 0o644, int64(len(tag)), strings.NewReader(tag)))
	var zbuf bytes.Buffer
	enc, err := zstd.NewWriter(&zbuf)
	require.NoError(t, err)
	_, err = enc.Write([]byte("docker save output"))
	require.NoError(t, err)
	require.NoError(t, enc.Close())
	_, err = w.AddStream(imagesStream, &zbuf, nil)
	require.NoError(t, err)
	_, err = w.Close()
	require.NoError(t, err)
	require.NoError(t, f.Close())
	sum, err := platformbundle.Verify(file, nil)
	require.NoError(t, err)
	return file, sum
}

func TestInstallPlatformBundle(t *testing.T) {
	file, sum := testBundle(t)
	eng := &fakeEngine{present: map[string]bool{}, onLoad: []string{"esb/gateway:src-0123456789ab"}}
	site := filepath.Join(t.TempDir(), "site")
	var out, errOut bytes.Buffer
	c := &cli{stdout: &out, stderr: &errOut}
	require.NoError(t, installPlatformBundle(t.Context(), c, eng, file, bundlePlatformOptions{dir: site, sha256: sum.SHA256}))
	assert.Equal(t, "docker save output", string(eng.loaded), "the engine gets the decompressed save stream")
	esb, err := os.Stat(filepath.Join(site, "bin", "esb"))
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o755), esb.Mode().Perm())
	tag, err := compose.ImageTag(site)
	require.NoError(t, err)
	assert.Equal(t, "src-0123456789ab", tag, "esb env in the site tags images as the bundle did")
	assert.Contains(t, out.String(), "installed p.esbundle into "+site)

	// Again into the same site: an upgrade overwrites it.
	require.NoError(t, installPlatformBundle(t.Context(), c, eng, file, bundlePlatformOptions{dir: site}))
	assert.Equal(t, 2, eng.loads)
}

// TestInstallRefusesAndChangesNothing: a truncated or tampered bundle, one
// with another sum than the export printed, or a directory that is not a
// site: no image is loaded, no file is written.
func TestInstallRefusesAndChangesNothing(t *testing.T) {
	file, sum := testBundle(t)
	data, err := os.ReadFile(file)
	require.NoError(t, err)
	tampered := bytes.Clone(data)
	tampered[bytes.Index(data, []byte("services:"))] = 'S'
	other := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(other, "notes.txt"), []byte("mine"), 0o644))

	for name, tc := range map[string]struct {
		data   []byte
		dir    string
		sha256 string
		want   string
	}{
		"truncated":      {data: data[:len(data)/2], want: "truncated"},
		"tampered":       {data: tampered, want: "site/compose/docker-compose.infra.yml"},
		"other sum":      {data: data, sha256: strings.Repeat("ab", 32), want: "not the abab"},
		"not a site dir": {data: data, dir: other, want: "not empty and not a site"},
	} {
		t.Run(name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "b.esbundle")
			require.NoError(t, os.WriteFile(p, tc.data, 0o644))
			dir := tc.dir
			if dir == "" {
				dir = filepath.Join(t.TempDir(), "site")
			}
			eng := &fakeEngine{present: map[string]bool{}}
			var out, errOut bytes.Buffer
			err := installPlatformBundle(t.Context(), &cli{stdout: &out, stderr: &errOut}, eng, p, bundlePlatformOptions{dir: dir, sha256: tc.sha256})
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
			assert.Zero(t, eng.loads, "nothing loaded")
			if tc.dir == "" {
				assert.NoDirExists(t, dir, "no site written")
			}
			entries, _ := os.ReadDir(filepath.Dir(dir))
			for _, e := range entries {
				assert.NotContains(t, e.Name(), ".install-", "no staging left behind")
			}
		})
	}
	_ = sum
}

func TestInstallRefusesACheckout(t *testing.T) {
	file, _ := testBundle(t)
	dir := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "compose"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, compose.ImageTagFile), []byte("x"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module x"), 0o644))
	eng := &fakeEngine{present: map[string]bool{}}
	err := installPlatformBundle(t.Context(), &cli{stdout: io.Discard, stderr: io.Discard}, eng, file, bundlePlatformOptions{dir: dir})
	assert.ErrorContains(t, err, "is an ESB checkout")
	assert.Zero(t, eng.loads)
}

// TestPlatformImages reads the checkout's own compose files: every service
// image of both modes at the tag, the engine, the runtime bases and what
// they are built from.
func TestPlatformImages(t *testing.T) {
	dir, err := compose.FindDir("", ".")
	require.NoError(t, err)
	refs, err := platformImages(dir, "src-0123456789ab")
	require.NoError(t, err)
	for _, want := range []string{
		"esb/gateway:src-0123456789ab", "esb/agent:src-0123456789ab", "esb/agent-containerd:src-0123456789ab",
		"esb/events:src-0123456789ab", "esb/provisioner:src-0123456789ab", "esb/runtime-node:src-0123456789ab",
		"debian:trixie-slim", "debian:bookworm-slim",
	} {
		assert.Contains(t, refs, want)
	}
	prefixes := map[string]int{}
	for _, r := range refs {
		assert.NotContains(t, r, "$", r)
		prefixes[strings.SplitN(r, ":", 2)[0]]++
	}
	for _, repo := range []string{"esb/registry", "esb/s3-storage", "esb/database", "esb/logs", "esb/messaging", "esb/dagger-engine", "esb/lambda-rie"} {
		assert.Equal(t, 1, prefixes[repo], repo)
	}
	assert.GreaterOrEqual(t, prefixes["esb/lambda-base"], 10, "a base per runtime family")
}

func TestExportRefusesMissingImages(t *testing.T) {
	dir, err := compose.FindDir("", ".")
	require.NoError(t, err)
	eng := &fakeEngine{present: map[string]bool{}}
	out := filepath.Join(t.TempDir(), "x.esbundle")
	err = exportPlatformBundle(t.Context(), &cli{stdout: io.Discard, stderr: io.Discard, lookupEnv: func(string) (string, bool) { return "", false }}, eng, dir,
		bundlePlatformOptions{output: out, imageTag: "src-0123456789ab"})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "esb/gateway:src-0123456789ab")
	assert.NoFileExists(t, out)
}
