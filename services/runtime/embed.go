// Package lambdaimages holds the build contexts of ESB's Lambda base images:
// one Dockerfile per runtime family, the shared /lambda-entrypoint.sh, and
// ESB's own Python and Node.js runtime clients. The deploy pipeline hands
// Context() to the image builder (Dagger's DockerBuild) together with the
// Dockerfile for the function's family.
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
//go:embed nodejs/bootstrap nodejs/index.mjs nodejs/lib/*.mjs
var buildContext embed.FS

// ErrUnknownFamily is returned for a runtime family without a base image.
var ErrUnknownFamily = errors.New("no base image for runtime family")

// Context returns the build context shared by every base image, rooted where
// the Dockerfiles are (services/runtime in the repository).
func Context() fs.FS {
	return buildContext
}

// Dockerfile returns the name, inside Context, of the Dockerfile that builds
// the base image of a runtime family (runtimecatalog.Family*).
func Dockerfile(family string) (string, error) {
	switch family {
	case runtimecatalog.FamilyPython:
		return "python3.13.Dockerfile", nil
	case runtimecatalog.FamilyNodejs:
		return "nodejs20.x.Dockerfile", nil
	case runtimecatalog.FamilyProvided:
		return "provided.Dockerfile", nil
	}
	return "", fmt.Errorf("%w: %q", ErrUnknownFamily, family)
}
