//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/image"
	"github.com/klauspost/compress/zstd"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	esbbundle "github.com/esb-dev/esb/internal/bundle"
	"github.com/esb-dev/esb/internal/compose"
	"github.com/esb-dev/esb/internal/platformbundle"
)

// TestPlatformBundleSetup runs scripts/setup.sh --from-bundle, as a site
// does, on the real Docker engine: a tampered bundle and one with another
// sum than the export printed are refused with nothing loaded or written;
// a good one loads its image, installs the site and esb there names the
// bundle's image tag.
//
// The bundle is a small one the test writes in the real format (the real
// esb binary, the compose files, one 9 MB image under a name of its own):
// a full platform bundle is 1.5 GB and 4 GB loaded, a cost CI does not
// pay on every run. The full install was timed by hand (README, "Installing
// a site from a platform bundle").
func TestPlatformBundleSetup(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Minute)
	defer cancel()
	root := repoRoot(t)
	docker := dockerClient(t)
	esb, err := esbBinary()
	require.NoError(t, err, "build esb")

	// The image: lambda-rie (setup.sh builds it) under a test name.
	data, err := os.ReadFile(filepath.Join(root, "services/runtime/python3.13.Dockerfile"))
	require.NoError(t, err)
	m := regexp.MustCompile(`(?m)^FROM (esb/lambda-rie:\S+) AS rie$`).FindSubmatch(data)
	require.NotNil(t, m, "lambda-rie base in python3.13.Dockerfile")
	ref := fmt.Sprintf("esb-bundle-e2e/rie:t%d", time.Now().UnixNano())
	require.NoError(t, docker.ImageTag(ctx, string(m[1]), ref))
	t.Cleanup(func() { _, _ = docker.ImageRemove(context.WithoutCancel(ctx), ref, image.RemoveOptions{}) })
	saved, err := docker.ImageSave(ctx, []string{ref})
	require.NoError(t, err)
	var images bytes.Buffer
	enc, err := zstd.NewWriter(&images)
	require.NoError(t, err)
	_, err = io.Copy(enc, saved)
	require.NoError(t, err)
	require.NoError(t, enc.Close())
	saved.Close()
	_, err = docker.ImageRemove(ctx, ref, image.RemoveOptions{})
	require.NoError(t, err)

	const tag = "src-e2ebundle001"
	dir := t.TempDir()
	bundle := filepath.Join(dir, "p.esbundle")
	f, err := os.Create(bundle)
	require.NoError(t, err)
	w := platformbundle.NewWriter(f, platformbundle.Manifest{Created: time.Now(), ImageTag: tag, Images: []string{ref}, Arch: runtime.GOARCH})
	require.NoError(t, w.AddFile("site/bin/esb", 0o755, esb))
	for _, p := range []string{"docker-compose.yml", "compose/docker-compose.infra.yml", "compose/docker-compose.docker.yml", "compose/docker-compose.containerd.yml", "justfile"} {
		require.NoError(t, w.AddFile("site/"+p, 0o644, filepath.Join(root, p)))
	}
	require.NoError(t, w.Add("site/"+compose.ImageTagFile, 0o644, int64(len(tag)+1), strings.NewReader(tag+"\n")))
	_, err = w.AddStream("images.tar.zst", &images, nil)
	require.NoError(t, err)
	_, err = w.Close()
	require.NoError(t, err)
	require.NoError(t, f.Close())
	good, err := os.ReadFile(bundle)
	require.NoError(t, err)

	home := filepath.Join(dir, "home")
	site := filepath.Join(dir, "site")
	setup := func(t *testing.T, file string, env ...string) (string, error) {
		cmd := exec.CommandContext(ctx, filepath.Join(root, "scripts/setup.sh"), "--from-bundle", file, "--dir", site)
		cmd.Env = append(append(os.Environ(), "ESB_HOME="+home), env...)
		out, err := cmd.CombinedOutput()
		t.Logf("setup.sh --from-bundle %s: %v\n%s", filepath.Base(file), err, out)
		return string(out), err
	}
	absent := func(t *testing.T) {
		t.Helper()
		_, err := docker.ImageInspect(ctx, ref)
		assert.Error(t, err, "%s not loaded", ref)
		assert.NoDirExists(t, site, "no site written")
	}

	t.Run("tampered", func(t *testing.T) {
		bad := bytes.Clone(good)
		i := bytes.Index(bad, []byte("x-hardened"))
		require.Positive(t, i)
		bad[i] = 'X'
		p := filepath.Join(dir, "tampered.esbundle")
		require.NoError(t, os.WriteFile(p, bad, 0o644))
		out, err := setup(t, p)
		require.Error(t, err)
		assert.Contains(t, out, "refused")
		assert.Contains(t, out, "site/compose/docker-compose.infra.yml")
		absent(t)
	})
	t.Run("truncated", func(t *testing.T) {
		p := filepath.Join(dir, "truncated.esbundle")
		require.NoError(t, os.WriteFile(p, good[:len(good)-4096], 0o644))
		out, err := setup(t, p)
		require.Error(t, err)
		assert.Contains(t, out, "truncated")
		absent(t)
	})
	t.Run("other_sum", func(t *testing.T) {
		out, err := setup(t, bundle, "ESB_BUNDLE_SHA256="+strings.Repeat("0", 64))
		require.Error(t, err)
		assert.Contains(t, out, "refused")
		absent(t)
	})
	// Signed: the site holds the public key; setup.sh checks FILE.sig
	// before it runs anything the bundle carries.
	keys := func(name string) (string, string) {
		priv, pub, err := esbbundle.WriteKeyPair(filepath.Join(dir, name))
		require.NoError(t, err)
		return priv, pub
	}
	signer, signerPub := keys("site")
	other, _ := keys("other")
	t.Run("signed_by_another_key", func(t *testing.T) {
		_, err := esbbundle.Sign(bundle, other)
		require.NoError(t, err)
		out, err := setup(t, bundle, "ESB_BUNDLE_PUBKEY="+signerPub)
		require.Error(t, err)
		assert.Contains(t, out, "does not verify under "+signerPub)
		absent(t)
	})
	t.Run("install", func(t *testing.T) {
		_, err := esbbundle.Sign(bundle, signer)
		require.NoError(t, err)
		out, err := setup(t, bundle, "ESB_BUNDLE_PUBKEY="+signerPub)
		require.NoError(t, err)
		assert.Contains(t, out, "ok: signature of "+bundle+".sig under "+signerPub, "setup.sh checked the signature")
		assert.Contains(t, out, "signature ok", "and the bundle's esb, over the bytes it read")
		assert.Contains(t, out, "cd "+site+" && just demo")
		_, err = docker.ImageInspect(ctx, ref)
		require.NoError(t, err, "the bundle's image is loaded")
		cmd := exec.CommandContext(ctx, filepath.Join(site, "bin/esb"), "env", "-e", "bundlee2e")
		cmd.Dir = site
		cmd.Env = append(os.Environ(), "XDG_CACHE_HOME="+filepath.Join(dir, "cache"), "ESB_PROJECT_DIR=")
		env, err := cmd.CombinedOutput()
		require.NoError(t, err, "%s", env)
		assert.Contains(t, string(env), "export ESB_IMAGE_TAG="+tag+"\n", "the site's esb tags ESB's images as the bundle did")
		st, err := os.Stat(filepath.Join(home, "bin", "dagger"))
		require.NoError(t, err, "the dagger CLI comes out of the engine image")
		assert.NotZero(t, st.Mode()&0o111)
	})
}
