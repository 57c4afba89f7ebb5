//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/esb-dev/esb/internal/deploy"
	"github.com/esb-dev/esb/internal/runtimeconfig"
	"github.com/esb-dev/esb/internal/sam"
	lambdaimages "github.com/esb-dev/esb/services/runtime"
)

// TestDaggerModule drives the repository's Dagger module (dagger.json,
// .dagger/) with the dagger CLI against a real env's engine, as CI would:
// `dagger call deploy` of template A, merged and provisioned on the host,
// served by the gateway; then the module's e2e function (moduleSuite), on
// the same engine, which has compiled the module once for both.
func TestDaggerModule(t *testing.T) {
	t.Parallel()
	s := newStack(t, "dmod", 1300)
	s.up(t)
	ctx := t.Context()

	// The engine resolves docker.io bases through the env's registry. `esb
	// deploy` pushes the runtime bases there itself; a module cannot reach
	// the host's Docker, so the test does what an earlier esb deploy (or a
	// site's own mirroring) would have done.
	mirror(ctx, t, s, runtimeBaseRefs(t, abRuntimes(t, s.root)...)...)

	const tag = "e2e-dmod"
	deployA := func(t *testing.T) string {
		out := filepath.Join(t.TempDir(), "config")
		res := s.dagger(ctx, t, "call", "deploy", "--source", filepath.Join(s.root, "fixtures"),
			"--template", "template-a.yml", "--env", s.layout.Env.Name, "--registry", s.layout.RegistryAddr(),
			"--registry-password", "env:ESB_REGISTRY_PASSWORD", "--tag", tag, "export", "--path", out)
		require.NoError(t, res.err)
		return out
	}

	t.Run("dagger call deploy of template A is served after the host merge", func(t *testing.T) {
		out := deployA(t)
		exported, err := runtimeconfig.Load(out)
		require.NoError(t, err)
		require.ElementsMatch(t, []string{"HelloAFunction", "ItemsAFunction"}, keys(exported.Functions.Functions))
		for name, fn := range exported.Functions.Functions {
			assert.Equal(t, s.layout.RegistryAddr()+"/"+s.layout.Env.Project()+"/"+strings.ToLower(name)+":"+tag, fn.Image)
			assert.True(t, strings.HasPrefix(fn.Digest, "sha256:"), "%s digest %q", name, fn.Digest)
		}

		_, err = runtimeconfig.MergeInto(ctx, s.layout.ConfigDir, exported, runtimeconfig.MergeOptions{
			AfterWrite: func(ctx context.Context, _ runtimeconfig.Result) error {
				out, err := s.compose(ctx, "--progress", "quiet", "run", "--rm", "--quiet-pull", "provisioner")
				if err != nil {
					return fmt.Errorf("provisioner: %w\n%s", err, out)
				}
				return nil
			},
		})
		require.NoError(t, err)

		assert.NoError(t, pollBody(ctx, s.url("PORT_GATEWAY", "/hello"), `{"version": "A"}`, time.Second, 60*time.Second))
		assertItemRoundTrip(ctx, t, s, "dmod", "green")
	})

	t.Run("a second dagger call deploy returns the same files", func(t *testing.T) {
		first := s.snapshotConfig(t)
		again, err := runtimeconfig.Load(deployA(t))
		require.NoError(t, err)
		served := s.config(t)
		for name, fn := range again.Functions.Functions {
			assert.Equal(t, served.Functions.Functions[name].Digest, fn.Digest, name)
			assert.Equal(t, served.Functions.Functions[name].Source, fn.Source, name)
		}
		assert.Equal(t, first, s.snapshotConfig(t), "CONFIG_DIR untouched by the module")
	})

	t.Run("esb deploy agrees: same inputs, nothing rebuilt", func(t *testing.T) {
		before := s.config(t).Functions.Functions
		res := s.esb(ctx, t, "deploy", "-t", filepath.Join(s.root, "fixtures", "template-a.yml"), "--tag", tag)
		require.NoError(t, res.err)
		assert.Contains(t, res.stdout, "unchanged (not rebuilt)")
		after := s.config(t).Functions.Functions
		for name, fn := range before {
			assert.Equal(t, fn.Digest, after[name].Digest, name)
		}
	})

	t.Run("suite: dagger call e-2-e", func(t *testing.T) { moduleSuite(t, s) })
}

// dagger runs the dagger CLI on the repository's module against the env's
// engine.
func (s *stack) dagger(ctx context.Context, t testing.TB, args ...string) esbResult {
	t.Helper()
	// The CLI waits minutes for an engine that is not there; fail at once.
	_, err := os.Stat(s.layout.DaggerSocket())
	require.NoError(t, err, "the env's engine socket")
	full := append([]string{"--progress", "plain", "-m", s.root}, args...)
	cmd := exec.CommandContext(ctx, daggerCLI(t), full...)
	cmd.Dir = s.root
	cmd.Env = append(os.Environ(),
		"_EXPERIMENTAL_DAGGER_RUNNER_HOST=unix://"+s.layout.DaggerSocket(),
		"DAGGER_NO_NAG=1",
		// The module takes the registry's password as a secret
		// (--registry-password env:ESB_REGISTRY_PASSWORD).
		"ESB_REGISTRY_PASSWORD="+s.registryAuth(t).Password,
	)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err = cmd.Run()
	// The engine's progress is long; its tail names a failure. A failing
	// step's own output can sit far above that tail (the suite inside the
	// pipeline prints its test log before the engine's summary), so a
	// failure also gets the lines that say what failed, and the whole log
	// is kept on disk.
	tail := 40
	if err != nil {
		tail = 200
		t.Logf("dagger %v: lines naming a failure:\n%s", args, failureLines(stderr.String(), 150))
		if f, ferr := os.CreateTemp("", "esb-e2e-dagger-*.log"); ferr == nil {
			_, _ = f.Write(stderr.Bytes())
			_ = f.Close()
			t.Logf("dagger %v: whole progress log in %s", args, f.Name())
		}
	}
	t.Logf("dagger %v: exit %v\n%s\n%s", args, err, lastLines(stderr.String(), tail), stdout.String())
	return esbResult{stdout: stdout.String(), stderr: stderr.String(), err: err}
}

// mirror pushes images of the host's Docker engine into the env's
// registry, where the engine's docker.io mirror finds them.
func mirror(ctx context.Context, t testing.TB, s *stack, refs ...string) {
	t.Helper()
	results, err := s.registry(t).Mirror(ctx, dockerClient(t), refs)
	require.NoError(t, err)
	for _, r := range results {
		require.NotEqual(t, "unavailable", r.Action, "image %s: run scripts/setup.sh", r.Ref)
	}
}

// abRuntimes are the runtimes of templates A and B, the ones the Dagger
// module deploys.
func abRuntimes(t testing.TB, root string) []string {
	t.Helper()
	var runtimes []string
	for _, name := range []string{"template-a.yml", "template-b.yml"} {
		tmpl, err := sam.ParseFile(filepath.Join(root, "fixtures", name), sam.Options{})
		require.NoError(t, err, name)
		for _, f := range tmpl.Functions {
			if !slices.Contains(runtimes, f.Runtime) {
				runtimes = append(runtimes, f.Runtime)
			}
		}
	}
	return runtimes
}

// runtimeBaseRefs are the images the base Dockerfiles of runtimes start
// from, which `esb deploy` mirrors into an env's registry.
func runtimeBaseRefs(t testing.TB, runtimes ...string) []string {
	t.Helper()
	var dockerfiles []string
	for _, rt := range runtimes {
		name, err := lambdaimages.Dockerfile(rt)
		require.NoError(t, err)
		data, err := fs.ReadFile(lambdaimages.Context(), name)
		require.NoError(t, err)
		dockerfiles = append(dockerfiles, string(data))
	}
	return deploy.FromImages(dockerfiles...)
}

// failureLines are the first n lines of s that name a failure: a Go test's
// FAIL or panic, an error, a non-zero exit.
func failureLines(s string, n int) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		low := strings.ToLower(l)
		if strings.Contains(low, "fail") || strings.Contains(low, "error") || strings.Contains(low, "panic") || strings.Contains(low, "exit code") {
			out = append(out, l)
			if len(out) == n {
				break
			}
		}
	}
	return strings.Join(out, "\n")
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
