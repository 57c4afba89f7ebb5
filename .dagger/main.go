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
	"path"
	"path/filepath"

	"github.com/esb-dev/esb/dagger/internal/dagger"
	"github.com/esb-dev/esb/internal/compose"
	"github.com/esb-dev/esb/internal/configgen"
	"github.com/esb-dev/esb/internal/platform"
	"github.com/esb-dev/esb/internal/sam"
	"github.com/esb-dev/esb/pipeline"
	lambdaimages "github.com/esb-dev/esb/services/runtime"
)

// Esb is the module's root object.
type Esb struct{}

// sourceDir is where deploy unpacks its source inside the function's
// container: the template parser and the input fingerprints read plain
// files, as on a developer's machine. Images are built from the source
// directory itself.
const sourceDir = "/esb/source"

// Deploy builds the function images of a SAM template, publishes them to the
// env's registry and returns the generated functions.yml, routing.yml and
// resources.yml (with the published digests). It is the pipeline `esb
// deploy` runs, minus the host-side steps: merge the returned files into
// CONFIG_DIR and run the provisioner there. On an air-gapped site the
// engine's registry mirror must already hold the runtime bases (any `esb
// deploy` into the env pushes them).
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
	// Runtime mode of the env: docker or containerd.
	// +default="docker"
	mode string,
	// Registry host:port as the engine reaches it (the env's registry on its loopback).
	// +default="127.0.0.1:5010"
	registry string,
	// Image tag the functions are published under.
	// +default="latest"
	tag string,
) (*dagger.Directory, error) {
	if err := compose.CheckMode(mode); err != nil {
		return nil, err
	}
	e, err := platform.New("", env)
	if err != nil {
		return nil, err
	}
	project := e.Project()
	if _, err := source.Export(ctx, sourceDir); err != nil {
		return nil, fmt.Errorf("unpack source: %w", err)
	}
	tmpl, err := sam.ParseFile(filepath.Join(sourceDir, path.Clean("/"+template)), sam.Options{StackName: project})
	if err != nil {
		return nil, err
	}
	generated, err := configgen.Generate(tmpl, configgen.Options{ImagePrefix: registry + "/" + project, Tag: tag})
	if err != nil {
		return nil, err
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
	res, err := pipeline.Run(ctx, client, pipeline.Request{
		Template:       tmpl,
		Config:         generated,
		CacheNamespace: project,
		Bases:          pipeline.Bases{FS: lambdaimages.Context(), Dockerfile: lambdaimages.Dockerfile},
		Sources:        sources,
		SourcesRoot:    sourceDir,
	})
	if err != nil {
		return nil, err
	}
	return moduleDirectory(ctx, res.Files)
}
