// Package lambdaimages holds the build contexts of ESB's Lambda base images:
// one Dockerfile per runtime (provided.al2 and provided.al2023 share one),
// the shared /lambda-entrypoint.sh, and ESB's own Python, Node.js, Java and
// Ruby runtime clients. The deploy pipeline hands Context() to the image
// builder (Dagger's DockerBuild) together with the Dockerfile of the
// function's runtime.
package lambdaimages

import (
	"embed"
	"errors"
	"fmt"
	"io/fs"

	"github.com/esb-dev/esb/internal/runtimecatalog"
)

// Only what the Dockerfiles COPY is embedded: tests and fixtures stay out of
// the images. Explicit globs are needed for __init__.py (a directory embed
// skips names starting with "_"). Embedded files carry no mode bits, so the
// Dockerfiles chmod the scripts themselves.
//
//go:embed *.Dockerfile lambda-entrypoint.sh
//go:embed python/bootstrap python/bootstrap.py python/esb_lambda_runtime/*.py
//go:embed nodejs/bootstrap nodejs/index.mjs nodejs/lib/*.mjs nodejs/fetch-node.sh
//go:embed ruby/bootstrap ruby/lib/esb_lambda_runtime/*.rb
//go:embed java/bootstrap java/esb-javac java/src
var buildContext embed.FS

// ErrNoBase is returned for a runtime without a base image.
var ErrNoBase = errors.New("no base image for runtime")

// Context returns the build context shared by every base image, rooted where
// the Dockerfiles are (services/runtime in the repository).
func Context() fs.FS {
	return buildContext
}

// Dockerfile returns the name, inside Context, of the Dockerfile that builds
// the base image of a runtime: <runtime>.Dockerfile, and provided.Dockerfile
// for the OS-only runtimes. Each runtime's base is cached on its own (see
// BaseRef), so a new client for one language rebuilds that language only.
func Dockerfile(runtime string) (string, error) {
	rt, ok := runtimecatalog.Lookup(runtime)
	if !ok {
		return "", fmt.Errorf("%w %q", ErrNoBase, runtime)
	}
	name := rt.Name + ".Dockerfile"
	if rt.Family == runtimecatalog.FamilyProvided {
		name = "provided.Dockerfile"
	}
	if _, err := fs.Stat(buildContext, name); err != nil {
		return "", fmt.Errorf("%w %s: %s is not in the build context", ErrNoBase, runtime, name)
	}
	return name, nil
}
