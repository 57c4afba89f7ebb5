package main

import (
	"context"
	"fmt"
	"os"

	sdk "dagger.io/dagger"

	"github.com/esb-dev/esb/internal/deploy"
	"github.com/esb-dev/esb/internal/progress"
	"github.com/esb-dev/esb/pipeline"
	lambdaimages "github.com/esb-dev/esb/services/runtime"
)

// moduleSteps are deploy.Steps for a deploy running inside the engine. Only
// the build happens here; everything that needs the env's host (the
// registry's loopback port, its Docker engine, the provisioner, the
// runtime node) is the caller's, after it merged the returned files.
type moduleSteps struct {
	client  *sdk.Client
	sources *sdk.Directory
	root    string                 // where sources lie on the local filesystem
	auth    *pipeline.RegistryAuth // the env's registry credential; nil: anonymous

	result pipeline.Result // what Build produced
}

var _ deploy.Steps = (*moduleSteps)(nil)

// WaitRegistry implements deploy.Steps. The registry listens on the host's
// loopback, which a function's container does not share; an unreachable
// registry fails the publish instead.
func (s *moduleSteps) WaitRegistry(context.Context) error { return nil }

// PlatformWarnings implements deploy.Steps: the module cannot see the env's
// services.
func (s *moduleSteps) PlatformWarnings(context.Context) []string { return nil }

// PrepareBases implements deploy.Steps. The engine resolves docker.io bases
// through its registry mirror; filling that registry needs the host's
// Docker engine. Runtime bases are built on the engine (and stay in its
// cache): the machine's copies are on the host's Docker engine.
func (s *moduleSteps) PrepareBases(context.Context, deploy.BaseNeeds) (deploy.BasePlan, error) {
	return deploy.BasePlan{Done: "resolved through the engine's registry mirror"}, nil
}

// KeepBases implements deploy.Steps: nothing is published to keep.
func (s *moduleSteps) KeepBases(context.Context, []pipeline.PublishedBase) (string, []string) {
	return "", nil
}

// ImageExists implements deploy.Steps. The module starts without the env's
// current config, so there is nothing to keep; unchanged functions still
// come from the engine's cache and publish their old digests.
func (s *moduleSteps) ImageExists(context.Context, string, string) (bool, error) {
	return false, nil
}

// Build implements deploy.Steps with the module's session.
func (s *moduleSteps) Build(ctx context.Context, req pipeline.Request) (pipeline.Result, error) {
	req.Bases = pipeline.Bases{FS: lambdaimages.Context(), Dockerfile: lambdaimages.Dockerfile, Fingerprint: lambdaimages.Fingerprint}
	req.Sources = s.sources
	req.SourcesRoot = s.root
	req.RegistryAuth = s.auth
	res, err := pipeline.Run(ctx, s.client, req)
	s.result = res
	return res, err
}

// Provision implements deploy.Steps: the caller provisions after its merge.
func (s *moduleSteps) Provision(context.Context) (string, error) {
	return "left to the host", nil
}

// PullImages implements deploy.Steps: the caller's runtime node pulls.
func (s *moduleSteps) PullImages(context.Context, []string) (string, []string, error) {
	return "left to the host", nil, nil
}

// stderrEvents prints progress as plain lines, which the engine shows under
// the function call.
func stderrEvents() progress.Sink {
	return progress.SinkFunc(func(e progress.Event) {
		fmt.Fprintf(os.Stderr, "%s: %s %s\n", e.ID, e.Status, e.Text)
	})
}
