//go:build e2e

package e2e

import (
	"context"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/errdefs"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	lambdaimages "github.com/esb-dev/esb/services/runtime"
)

// moduleSuite runs the module's e2e function (the deploy-first A/B suite on
// a platform inside the pipeline) twice on the env's engine: the first run
// passes, the second gives the same result from cache. The platform images
// this machine built from the same sources (and the runtime bases it
// keeps) are handed to the suite through the env's registry, as the
// function's `images` argument allows, so the pipeline does not build the
// platform a second time; `dagger call e-2-e` without it builds
// everything (about 15 min on two cores).
func moduleSuite(t *testing.T, s *stack) {
	ctx := t.Context()
	// What the e2e function starts from; on a site, the registry mirror
	// holds them.
	mirror(ctx, t, s, "golang:1.26-bookworm", "debian:bookworm-slim", "debian:trixie-slim")
	ready := s.builtImages(ctx, t)
	start := time.Now()
	mirror(ctx, t, s, ready...)
	t.Logf("handed %d ready-built images to the suite in %.0fs: %s", len(ready), time.Since(start).Seconds(), strings.Join(ready, " "))

	var outputs []string
	for i := range 2 {
		start := time.Now()
		res := s.dagger(ctx, t, "call", "e-2-e", "--images", strings.Join(ready, ","), "--compose-plugin", composePlugin(t),
			"--registry", s.layout.RegistryAddr(), "--registry-password", "env:ESB_REGISTRY_PASSWORD")
		require.NoError(t, res.err, "run %d", i+1)
		t.Logf("dagger call e-2-e, run %d: %.0fs", i+1, time.Since(start).Seconds())
		assert.Contains(t, res.stdout, "--- PASS: TestDeployFirstFlow")
		assert.NotContains(t, res.stdout, "--- FAIL")
		outputs = append(outputs, res.stdout)
	}
	assert.Equal(t, outputs[0], outputs[1], "unchanged inputs give the recorded result")
}

// builtImages are the images of the env's docker-mode platform as compose
// names them (just built from this checkout, or found), the Dagger
// engine's and RIE's images setup.sh built, and the runtime bases of this
// version of ESB the machine keeps.
func (s *stack) builtImages(ctx context.Context, t *testing.T) []string {
	t.Helper()
	services, err := s.builtServices(ctx)
	require.NoError(t, err)
	var refs []string
	for _, image := range services {
		refs = append(refs, image)
	}
	slices.Sort(refs)
	docker := dockerClient(t)
	// The runtime bases of the templates the suite deploys (no other: each
	// handed image costs a push, a pull and a load), and RIE's image, which
	// the runtime Dockerfiles start from (Debian the suite loads anyway).
	var bases []string
	runtimes := abRuntimes(t, s.root)
	for _, rt := range runtimes {
		ref, err := lambdaimages.RuntimeBaseRef(rt)
		require.NoError(t, err)
		bases = append(bases, ref)
	}
	for _, ref := range append(bases, runtimeBaseRefs(t, runtimes...)...) {
		if !strings.HasPrefix(ref, "esb/") || slices.Contains(refs, ref) {
			continue
		}
		_, err := docker.ImageInspect(ctx, ref)
		if errdefs.IsNotFound(err) {
			continue
		}
		require.NoError(t, err)
		refs = append(refs, ref)
	}
	return refs
}

// composePlugin is the Docker Compose CLI plugin this machine runs, which
// the suite's own Docker uses too instead of building another.
func composePlugin(t *testing.T) string {
	t.Helper()
	out, err := exec.CommandContext(t.Context(), "docker", "info", "--format", "{{range .ClientInfo.Plugins}}{{if eq .Name \"compose\"}}{{.Path}}{{end}}{{end}}").Output()
	require.NoError(t, err, "docker info")
	path := strings.TrimSpace(string(out))
	require.NotEmpty(t, path, "no docker compose plugin: run scripts/setup.sh")
	return path
}
