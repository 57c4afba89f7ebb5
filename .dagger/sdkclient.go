package main

import (
	"context"
	"fmt"

	sdk "dagger.io/dagger"

	"github.com/esb-dev/esb/dagger/internal/dagger"
)

// The pipeline package is written against dagger.io/dagger, the SDK that
// `esb deploy` drives; module code gets its own generated client instead.
// Both are clients of the same session, so the module opens an SDK client
// on it (the engine hands function containers DAGGER_SESSION_PORT and
// DAGGER_SESSION_TOKEN, which dagger.Connect prefers over starting an
// engine) and objects cross between the two by ID. This file is the only
// place that knows both clients.

// sessionClient is a dagger.io/dagger client on the session the current
// function runs in. Its host is the function's container.
func sessionClient(ctx context.Context) (*sdk.Client, error) {
	c, err := sdk.Connect(ctx)
	if err != nil {
		return nil, fmt.Errorf("connect the pipeline to the module's session: %w", err)
	}
	return c, nil
}

// moduleDirectory turns a directory of the SDK client into one the module
// can return.
func moduleDirectory(ctx context.Context, d *sdk.Directory) (*dagger.Directory, error) {
	id, err := d.ID(ctx)
	if err != nil {
		return nil, fmt.Errorf("directory id: %w", err)
	}
	return dag.LoadDirectoryFromID(dagger.DirectoryID(id)), nil
}

// sdkDirectory turns a directory of the module's client into one the
// pipeline can use.
func sdkDirectory(ctx context.Context, client *sdk.Client, d *dagger.Directory) (*sdk.Directory, error) {
	id, err := d.ID(ctx)
	if err != nil {
		return nil, fmt.Errorf("directory id: %w", err)
	}
	return client.LoadDirectoryFromID(sdk.DirectoryID(id)), nil
}

// sdkSecret turns a secret of the module's client into one the pipeline
// can use.
func sdkSecret(ctx context.Context, client *sdk.Client, s *dagger.Secret) (*sdk.Secret, error) {
	id, err := s.ID(ctx)
	if err != nil {
		return nil, fmt.Errorf("secret id: %w", err)
	}
	return client.LoadSecretFromID(sdk.SecretID(id)), nil
}
