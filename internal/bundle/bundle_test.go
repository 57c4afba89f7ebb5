package bundle

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/esb-dev/esb/internal/backup"
	"github.com/esb-dev/esb/internal/confighistory"
	"github.com/esb-dev/esb/internal/runtimeconfig"
	"github.com/esb-dev/esb/pipeline"
)

// registryContent is an in-memory registry keyed by repo@digest.
type registryContent map[string][]byte

func (r registryContent) GetManifest(_ context.Context, repo, ref string) ([]byte, string, string, error) {
	data, ok := r[repo+"@"+ref]
	if !ok {
		return nil, "", "", fmt.Errorf("manifest %s@%s: 404", repo, ref)
	}
	return data, "application/vnd.oci.image.manifest.v1+json", ref, nil
}

func (r registryContent) GetBlob(_ context.Context, repo, d string) (io.ReadCloser, int64, error) {
	data, ok := r[repo+"@"+d]
	if !ok {
		return nil, 0, fmt.Errorf("blob %s@%s: 404", repo, d)
	}
	return io.NopCloser(bytes.NewReader(data)), int64(len(data)), nil
}

func (r registryContent) PutBlob(_ context.Context, repo, d string, _ int64, rd io.Reader) error {
	data, err := io.ReadAll(rd)
	if err != nil {
		return err
	}
	r[repo+"@"+d] = data
	return nil
}

func (r registryContent) PutManifest(_ context.Context, repo, _, _ string, data []byte) (string, error) {
	d := digest.FromBytes(data).String()
	r[repo+"@"+d] = data
	return d, nil
}

func (r registryContent) add(repo string, data []byte) string {
	d := digest.FromBytes(data).String()
	r[repo+"@"+d] = data
	return d
}

type fakeSteps struct {
	pulled     []string
	provisions int
	failPull   error
}

func (f *fakeSteps) Provision(context.Context) (string, error) {
	f.provisions++
	return "provisioned", nil
}

func (f *fakeSteps) PullImages(_ context.Context, refs []string) (string, []string, error) {
	f.pulled = append(f.pulled, refs...)
	return "pulled", nil, f.failPull
}

// exported builds a bundle of one function, HelloFunction, built in env
// "src" (repository esb-src) in containerd mode, and returns its path and
// the image's digest.
func exported(t *testing.T) (string, string) {
	t.Helper()
	src := registryContent{}
	const repo = "esb-src/hellofunction"
	layer := src.add(repo, bytes.Repeat([]byte("layer"), 1000))
	manifest := src.add(repo, []byte(fmt.Sprintf(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","layers":[{"digest":%q,"size":5000}]}`, layer)))
	image := "registry:5000/" + repo + ":v1"

	out := t.TempDir()
	cfg := runtimeconfig.Empty()
	cfg.Functions.Functions["HelloFunction"] = runtimeconfig.Function{Image: image, Digest: manifest, Runtime: "nodejs20.x", Handler: "index.handler", Timeout: 3, MemorySize: 128}
	cfg.Routing.Routes = []runtimeconfig.Route{{Path: "/bundled", Method: "GET", Function: "HelloFunction", Payload: "1.0"}}
	cfg.Resources.Resources.S3 = []runtimeconfig.S3Bucket{{BucketName: "bundled"}}
	files, err := runtimeconfig.Marshal(cfg)
	require.NoError(t, err)
	for _, name := range configFiles {
		require.NoError(t, os.WriteFile(filepath.Join(out, name), files.Get(name), 0o644))
	}
	file := filepath.Join(t.TempDir(), "app.esbundle")
	sum, err := Export(t.Context(), ExportOptions{
		Output: file, Template: "/src/template.yml", TemplateHash: "abc123", Env: "src", Mode: "containerd", ConfigDir: out,
		Functions: []pipeline.Built{{Function: "HelloFunction", Image: image, Digest: manifest}}, Created: time.Now(),
	}, src)
	require.NoError(t, err)
	assert.Equal(t, Summary{Functions: 1, Images: 1, Bytes: sum.Bytes}, sum)
	assert.NoFileExists(t, file+".tmp")
	return file, manifest
}

func TestExportThenImportInstallsUnderTheEnvsRepository(t *testing.T) {
	file, dgst := exported(t)
	m, err := backup.Verify(file)
	require.NoError(t, err)
	var names []string
	for _, e := range m.Entries {
		names = append(names, e.Name)
		assert.Len(t, e.SHA256, 64, e.Name)
	}
	assert.Subset(t, names, []string{"bundle.json", "config/functions.yml", "config/routing.yml", "config/resources.yml", "images/oci-layout", "images/index.json"})

	configDir := filepath.Join(t.TempDir(), "config")
	dst, steps := registryContent{}, &fakeSteps{}
	var progress []string
	res, err := Import(t.Context(), ImportOptions{
		File: file, ConfigDir: configDir, Repository: "esb-site", Registry: "registry:5000", Mode: "containerd", HistoryKeep: 5,
		Progress: func(s string) { progress = append(progress, s) },
	}, Targets{Registry: dst, Steps: steps})
	require.NoError(t, err)
	assert.Equal(t, 1, res.Images)
	assert.Equal(t, "/src/template.yml", res.Meta.Template)
	assert.Len(t, progress, 3)

	cfg, err := runtimeconfig.Load(configDir)
	require.NoError(t, err)
	fn := cfg.Functions.Functions["HelloFunction"]
	assert.Equal(t, "registry:5000/esb-site/hellofunction:v1", fn.Image)
	assert.Equal(t, dgst, fn.Digest)
	assert.Contains(t, dst, "esb-site/hellofunction@"+dgst, "the manifest under the env's repository, digest unchanged")
	assert.Len(t, dst, 2, "the manifest and its layer")
	assert.Equal(t, []string{"registry:5000/esb-site/hellofunction@" + dgst}, steps.pulled)
	assert.Equal(t, 1, steps.provisions)

	gens, err := confighistory.Store{ConfigDir: configDir}.List()
	require.NoError(t, err)
	require.Len(t, gens, 1)
	assert.Equal(t, confighistory.KindImport, gens[0].Kind)
	assert.Equal(t, "abc123", gens[0].TemplateHash)
	assert.True(t, gens[0].Current)
}

func TestImportInDockerModePullsNothing(t *testing.T) {
	file, _ := exported(t)
	steps := &fakeSteps{}
	_, err := Import(t.Context(), ImportOptions{File: file, ConfigDir: filepath.Join(t.TempDir(), "config"), Repository: "esb-site", Registry: "127.0.0.1:5010", Mode: "docker", HistoryKeep: 5},
		Targets{Registry: registryContent{}, Steps: steps})
	require.NoError(t, err)
	assert.Empty(t, steps.pulled)
}

func TestImportFailingPullLeavesConfigDirAsItWas(t *testing.T) {
	file, _ := exported(t)
	configDir := filepath.Join(t.TempDir(), "config")
	steps := &fakeSteps{failPull: errors.New("node down")}
	_, err := Import(t.Context(), ImportOptions{File: file, ConfigDir: configDir, Repository: "esb-site", Registry: "registry:5000", Mode: "containerd", HistoryKeep: 5},
		Targets{Registry: registryContent{}, Steps: steps})
	require.ErrorContains(t, err, "node down")
	cfg, err := runtimeconfig.Load(configDir)
	if err == nil {
		assert.Empty(t, cfg.Functions.Functions)
	}
	gens, _ := confighistory.Store{ConfigDir: configDir}.List()
	assert.Empty(t, gens)
}

func TestTamperedOrTruncatedBundleIsRefusedBeforeAnyChange(t *testing.T) {
	file, _ := exported(t)
	data, err := os.ReadFile(file)
	require.NoError(t, err)

	// The same archive with one byte of the layer flipped, recompressed,
	// its manifest unchanged.
	gz, err := gzip.NewReader(bytes.NewReader(data))
	require.NoError(t, err)
	tr := tar.NewReader(gz)
	var buf bytes.Buffer
	gw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gw)
	tampered := ""
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(t, err)
		body, err := io.ReadAll(tr)
		require.NoError(t, err)
		if len(body) == 5000 {
			body[2500] ^= 0xff
			tampered = hdr.Name
		}
		require.NoError(t, tw.WriteHeader(hdr))
		_, err = tw.Write(body)
		require.NoError(t, err)
	}
	require.NoError(t, tw.Close())
	require.NoError(t, gw.Close())
	require.NotEmpty(t, tampered)

	dir := t.TempDir()
	for name, bad := range map[string][]byte{"tampered": buf.Bytes(), "truncated": data[:len(data)*3/5]} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(dir, name+".esbundle")
			require.NoError(t, os.WriteFile(path, bad, 0o644))
			configDir := filepath.Join(t.TempDir(), "config")
			dst, steps := registryContent{}, &fakeSteps{}
			_, err := Import(t.Context(), ImportOptions{File: path, ConfigDir: configDir, Repository: "esb-site", Registry: "registry:5000", Mode: "containerd", HistoryKeep: 5},
				Targets{Registry: dst, Steps: steps})
			require.ErrorIs(t, err, backup.ErrInvalid)
			assert.ErrorContains(t, err, "bundle refused, nothing changed")
			if name == "tampered" {
				assert.ErrorContains(t, err, tampered)
				assert.ErrorContains(t, err, "does not match the manifest")
			} else {
				assert.ErrorContains(t, err, "truncated")
			}
			assert.Empty(t, dst, "no image pushed")
			assert.Zero(t, steps.provisions)
			assert.NoDirExists(t, configDir)
		})
	}
}

func TestImportRefusesABackup(t *testing.T) {
	file := filepath.Join(t.TempDir(), "env.esbbackup")
	f, err := os.Create(file)
	require.NoError(t, err)
	w := backup.NewWriter(f, "dev", "docker", time.Now())
	require.NoError(t, w.AddBytes("config/functions.yml", []byte("functions: {}\n")))
	require.NoError(t, w.Close())
	require.NoError(t, f.Close())
	_, err = Import(t.Context(), ImportOptions{File: file, ConfigDir: filepath.Join(t.TempDir(), "config"), Repository: "esb-site", Registry: "r", Mode: "docker"},
		Targets{Registry: registryContent{}, Steps: &fakeSteps{}})
	assert.ErrorContains(t, err, "not an application bundle")
}
