package main

import (
	"context"
	_ "embed"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/esb-dev/esb/dagger/internal/dagger"
)

// e2eScript runs inside the suite's container: it starts the container's
// own Docker engine, loads the images scripts/setup.sh would provide, and
// runs go test.
//
//go:embed e2e.sh
var e2eScript string

// dockerRoot holds the inner Docker engine's data and the record of which
// image tarballs it has loaded. A cache volume: images and build cache
// outlive a run, so an unchanged service is not rebuilt.
const dockerRoot = "/var/lib/esb-docker"

// E2e runs the deploy-first A/B suite of e2e/ (go test -tags e2e -run RUN)
// against a platform that lives entirely in the pipeline: a Docker engine
// inside the suite's container, where the tests bring envs up with the
// repository's compose files and deploy with the esb CLI, as on a CI
// machine. It needs nothing from the caller but the engine; on an
// air-gapped site the engine's registry mirror must hold
// golang:1.26-bookworm, debian:bookworm-slim and debian:trixie-slim.
//
// The suite is one cached step: unchanged source and arguments give the
// recorded result without running again.
func (m *Esb) E2e(
	ctx context.Context,
	// The repository checkout.
	// +defaultPath="/"
	// +ignore=[".git", "bin", ".esb", "**/node_modules", "**/__pycache__", "**/.aws-sam"]
	source *dagger.Directory,
	// Tests to run (go test -run).
	// +default="TestDeployFirstFlow"
	run string,
	// Images to take ready-built from the engine's registry mirror instead
	// of building them: docker.io refs such as esb/gateway:src-0123456789ab
	// or esb/lambda-base:python3.13-…, as a machine that just built the
	// platform from the same sources has them. The suite's Docker engine
	// loads them; compose and esb deploy then build only what is missing.
	// +optional
	images []string,
	// The Docker Compose CLI plugin to use (the caller's own, say) instead
	// of building it from the Go module proxy at the version setup.sh pins.
	// +optional
	composePlugin *dagger.File,
	// The engine's registry mirror (host:port) and its password (the env's
	// CONFIG_DIR/../registry-auth/password), which every pull from it
	// needs.
	// +optional
	registry string,
	// +optional
	registryPassword *dagger.Secret,
) (string, error) {
	versions, err := setupVersions(ctx, source)
	if err != nil {
		return "", err
	}
	if registry != "" && registryPassword != nil {
		// The credential joins the session when this call runs; the nonce
		// keeps the engine from answering it from cache instead.
		if _, err := dag.Container().
			WithEnvVariable("ESB_REGISTRY_AUTH_RUN", strconv.FormatInt(time.Now().UnixNano(), 10)).
			WithRegistryAuth(registry, "esb", registryPassword).
			Sync(ctx); err != nil {
			return "", fmt.Errorf("registry credential for %s: %w", registry, err)
		}
	}
	golang := dag.Container().From(versions.golangImage)
	// Container builds trust the CAs in certs/ (scripts/setup.sh copies the
	// site's bundle there); the engine adds its own to every exec, so
	// copying the bundle out of one gives the builds the same trust.
	ca := golang.
		WithExec([]string{"cp", "/etc/ssl/certs/ca-certificates.crt", "/esb-ca.crt"}).
		File("/esb-ca.crt")
	src := source.WithFile("certs/extra-ca.crt", ca)

	ready := map[string]bool{}
	for _, ref := range images {
		ready[ref] = true
	}
	// build is the image ref: taken ready-built when the caller has it,
	// else built from its Dockerfile in the source.
	build := func(ref, dockerfile string) *dagger.Container {
		if ready[ref] {
			return dag.Container().From(ref)
		}
		return src.DockerBuild(dagger.DirectoryDockerBuildOpts{Dockerfile: dockerfile})
	}
	engine := build(versions.engineImage, "services/dagger-engine/Dockerfile")
	loads := []imageLoad{
		{"debian:bookworm-slim", dag.Container().From("debian:bookworm-slim")},
		{"debian:trixie-slim", dag.Container().From("debian:trixie-slim")},
		{versions.golangImage, golang},
		{versions.rieImage, build(versions.rieImage, "services/lambda-rie/Dockerfile")},
		{versions.engineImage, engine},
	}
	for _, ref := range images {
		if ref != versions.engineImage && ref != versions.rieImage {
			loads = append(loads, imageLoad{ref, dag.Container().From(ref)})
		}
	}

	goMod := dag.CacheVolume("esb-e2e-gomod")
	goBuild := dag.CacheVolume("esb-e2e-gobuild")
	if composePlugin == nil {
		composePlugin = buildComposePlugin(golang, versions.compose, goMod, goBuild)
	}
	runner := golang.
		WithExec([]string{"sh", "-c", "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends docker.io iptables >/dev/null && rm -rf /var/lib/apt/lists/*"}).
		WithFile("/usr/local/lib/docker/cli-plugins/docker-compose", composePlugin, dagger.ContainerWithFileOpts{Permissions: 0o755}).
		// Where scripts/setup.sh puts the CLI; esb deploy looks there.
		WithFile("/root/.esb/bin/dagger", engine.File("/usr/local/bin/dagger")).
		WithMountedCache("/go/pkg/mod", goMod).
		WithMountedCache("/root/.cache/go-build", goBuild).
		// One Docker engine per data directory: parallel runs wait.
		WithMountedCache(dockerRoot, dag.CacheVolume("esb-e2e-docker"), dagger.ContainerWithMountedCacheOpts{Sharing: dagger.CacheSharingModeLocked})
	var list strings.Builder
	for i, img := range loads {
		name := fmt.Sprintf("%d.tar", i)
		runner = runner.WithMountedFile("/images/"+name, img.ctr.AsTarball())
		fmt.Fprintf(&list, "%s %s\n", name, img.ref)
	}
	out, err := runner.
		WithNewFile("/images/list", list.String()).
		WithNewFile("/usr/local/bin/esb-e2e", e2eScript, dagger.ContainerWithNewFileOpts{Permissions: 0o755}).
		WithEnvVariable("ESB_DOCKER_ROOT", dockerRoot).
		WithDirectory("/src", src).
		WithWorkdir("/src").
		// Docker needs the capabilities a plain exec lacks.
		WithExec([]string{"esb-e2e", run}, dagger.ContainerWithExecOpts{InsecureRootCapabilities: true}).
		Stdout(ctx)
	if err != nil {
		return "", fmt.Errorf("e2e suite: %w", err)
	}
	return out, nil
}

// imageLoad is an image the suite's Docker engine loads under ref.
type imageLoad struct {
	ref string
	ctr *dagger.Container
}

// buildComposePlugin builds Docker Compose from the Go module proxy, as
// scripts/setup.sh does where Debian has no Compose v2.
func buildComposePlugin(golang *dagger.Container, version string, goMod, goBuild *dagger.CacheVolume) *dagger.File {
	build := `dir=$(go mod download -json "github.com/docker/compose/v5@$COMPOSE_VERSION" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')
cp -r "$dir" /compose && chmod -R u+w /compose && cd /compose
CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X github.com/docker/compose/v5/internal.Version=$COMPOSE_VERSION" -o /docker-compose ./cmd`
	return golang.
		WithMountedCache("/go/pkg/mod", goMod).
		WithMountedCache("/root/.cache/go-build", goBuild).
		WithEnvVariable("COMPOSE_VERSION", version).
		WithExec([]string{"bash", "-euo", "pipefail", "-c", build}).
		File("/docker-compose")
}

// versions are the tool versions and image names scripts/setup.sh and the
// compose files pin; the suite uses the same ones, read from the source.
type versions struct {
	golangImage string
	compose     string
	engineImage string
	rieImage    string
}

func setupVersions(ctx context.Context, source *dagger.Directory) (versions, error) {
	var v versions
	fields := []struct {
		dst   *string
		file  string
		match *regexp.Regexp
	}{
		{&v.golangImage, "scripts/setup.sh", regexp.MustCompile(`(?m)^GOLANG_IMAGE=(\S+)$`)},
		{&v.compose, "scripts/setup.sh", regexp.MustCompile(`(?m)^COMPOSE_VERSION=(\S+)$`)},
		{&v.engineImage, "compose/docker-compose.infra.yml", regexp.MustCompile(`(?m)^\s*image:\s*(esb/dagger-engine:\S+)$`)},
		{&v.rieImage, "services/runtime/python3.13.Dockerfile", regexp.MustCompile(`(?m)^FROM\s+(esb/lambda-rie:\S+)\s+AS\s+rie$`)},
	}
	for _, f := range fields {
		data, err := source.File(f.file).Contents(ctx)
		if err != nil {
			return v, fmt.Errorf("read %s: %w", f.file, err)
		}
		m := f.match.FindStringSubmatch(data)
		if m == nil {
			return v, fmt.Errorf("%s: no match for %s", f.file, f.match)
		}
		*f.dst = m[1]
	}
	return v, nil
}
