// ESB's deploy pipeline and end-to-end suite as Dagger functions, so CI runs
// exactly what `esb deploy` runs, on nothing but a Dagger engine.
//
// deploy builds and publishes the function images of a SAM template with
// the repository's pipeline package and returns the generated runtime
// config; merging it into an env's CONFIG_DIR stays on the host, as with
// `esb deploy`. e2e runs the deploy-first A/B suite against a platform that
// lives entirely inside the pipeline.
package main

import (
	"context"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"runtime"

	"github.com/esb-dev/esb/dagger/internal/dagger"
	"github.com/esb-dev/esb/internal/compose"
	"github.com/esb-dev/esb/internal/deploy"
	"github.com/esb-dev/esb/internal/platform"
	"github.com/esb-dev/esb/pipeline"
)

// Esb is the module's root object.
type Esb struct{}

// Inside the function's container: the template parser and the input
// fingerprints read plain files, as on a developer's machine (images are
// built from the source directory itself); the workflow writes the
// generated files and merges them into a config dir of its own, which is
// thrown away with the container.
const (
	sourceDir  = "/esb/source"
	outputDir  = "/esb/output"
	scratchDir = "/esb/config"
)

// Deploy builds the function images of a SAM template, publishes them to the
// env's registry and returns the generated functions.yml, routing.yml and
// resources.yml (with the published digests). It runs the workflow of `esb
// deploy` (internal/deploy) minus the steps that need the env's host: the
// caller merges the returned files into CONFIG_DIR and runs the
// provisioner (and, in containerd and kubernetes mode, the pull into the
// function runtime: runtime-node, or `agent pull` onto the nodes). On an
// air-gapped site the engine's registry mirror must already hold the
// runtime bases (any `esb deploy` into the env pushes them).
//
// Never cached as a whole: a registry reset must not be answered with
// digests it no longer holds. Image builds stay cached in the engine, so an
// unchanged template republishes the same digests in seconds.
//
// +cache="never"
func (m *Esb) Deploy(
	ctx context.Context,
	// Directory holding the template and its code.
	// +defaultPath="/"
	// +ignore=[".git", "bin", "**/node_modules", "**/.aws-sam", "**/__pycache__"]
	source *dagger.Directory,
	// Template path, relative to source.
	// +default="template.yml"
	template string,
	// Env name: names the image repository (<brand>-<env>) and the build caches.
	// +default="dev"
	env string,
	// Runtime mode of the env: docker, containerd or kubernetes.
	// +default="docker"
	mode string,
	// Registry host:port as the engine reaches it (the env's registry on its loopback).
	// +default="127.0.0.1:5010"
	registry string,
	// Image tag the functions are published under.
	// +default="latest"
	tag string,
	// The env's registry password (CONFIG_DIR/../registry-auth/password,
	// made by `esb env`), e.g. env:ESB_REGISTRY_PASSWORD: the registry
	// answers nothing without it, the engine's pulls through its mirror
	// included.
	// +optional
	registryPassword *dagger.Secret,
	// The registry's user.
	// +default="esb"
	registryUser string,
) (*dagger.Directory, error) {
	if err := compose.CheckMode(mode); err != nil {
		return nil, err
	}
	e, err := platform.New("", env)
	if err != nil {
		return nil, err
	}
	if _, err := source.Export(ctx, sourceDir); err != nil {
		return nil, fmt.Errorf("unpack source: %w", err)
	}
	client, err := sessionClient(ctx)
	if err != nil {
		return nil, err
	}
	defer client.Close()
	sources, err := sdkDirectory(ctx, client, source)
	if err != nil {
		return nil, err
	}
	steps := &moduleSteps{client: client, sources: sources, root: sourceDir}
	if registryPassword != nil {
		secret, err := sdkSecret(ctx, client, registryPassword)
		if err != nil {
			return nil, err
		}
		steps.auth = &pipeline.RegistryAuth{Address: registry, Username: registryUser, Password: secret}
	}
	sum, err := deploy.Run(ctx, deploy.Options{
		Template:       filepath.Join(sourceDir, path.Clean("/"+template)),
		StackName:      e.Project(),
		ConfigDir:      scratchDir,
		Output:         outputDir,
		Registry:       registry,
		PullRegistry:   deploy.PullRegistry(mode),
		Repository:     e.Project(),
		Tag:            tag,
		CacheNamespace: e.Project(),
		Mode:           mode,
		// The module runs on the engine's native platform, which is what
		// the functions are built for.
		HostArch: deploy.LambdaArch(runtime.GOARCH),
		Events:   stderrEvents(),
	}, steps)
	if err != nil {
		return nil, err
	}
	for _, w := range sum.Warnings {
		fmt.Fprintf(os.Stderr, "warning: %s\n", w)
	}
	return moduleDirectory(ctx, steps.result.Files)
}
