package main

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/docker/docker/client"

	"github.com/esb-dev/esb/internal/confighistory"
	"github.com/esb-dev/esb/internal/platform"
	"github.com/esb-dev/esb/internal/registrygc"
	"github.com/esb-dev/esb/internal/runtimeconfig"
)

// registryPruneWait is how long `esb prune registry` waits for the deploys
// publishing now; a build can take minutes.
const registryPruneWait = 10 * time.Minute

// defaultRegistryPruneAboveMB is the registry size past which a deploy that
// replaced an image prunes the env's registry (ESB_REGISTRY_PRUNE_ABOVE_MB).
const defaultRegistryPruneAboveMB = 4096

func runPruneRegistry(ctx context.Context, c *cli, args []string) error {
	const summary = "Remove the env's function images its config no longer names, then reclaim their space"
	fs := newFlagSet(c, "prune registry", "[-e ENV] [--dry-run]", summary+`.
Every deploy that changes a function pushes a new image; the ones the env's
functions.yml no longer names (by digest) are deleted from the env's
registry and its garbage collection frees their layers. Base images the
registry mirrors for builds are kept. The collection waits for deploys that
are publishing (they hold a shared lock, CONFIG_DIR/.registry.lock); a deploy
started meanwhile waits for it.`)
	var env envOptions
	env.bind(fs, c)
	dryRun := fs.Bool("dry-run", false, "list what would be removed, remove nothing")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	l, err := env.layout(c)
	if err != nil {
		return err
	}
	docker, err := newDockerClient()
	if err != nil {
		return err
	}
	defer docker.Close()
	res, err := pruneRegistry(ctx, c, l, docker, *dryRun, registryPruneWait)
	if err != nil {
		return err
	}
	verb := "deleted"
	if *dryRun {
		verb = "would delete"
	}
	for _, ref := range res.Plan.Delete {
		fmt.Fprintf(c.stdout, "%s %s\n", verb, ref)
	}
	fmt.Fprintln(c.stdout, describePrune(l.Env.Project(), res, *dryRun))
	return nil
}

// describePrune is the one-line summary of a registry prune. The
// manifests it counts are the tagged ones it deleted itself and the
// untagged ones (a tag moved on by a later push) the collection removed:
// without the latter, a function deployed 100 times reads "deleted 1".
func describePrune(project string, res registrygc.Result, dryRun bool) string {
	var line string
	if dryRun {
		line = fmt.Sprintf("registry of %s: would delete %d tagged manifests and then the untagged ones, kept %d the config names", project, len(res.Plan.Delete), res.Plan.Kept)
	} else {
		line = fmt.Sprintf("registry of %s: deleted %d manifests (%d tagged, %d untagged), kept %d the config names", project, res.Deleted(), len(res.Plan.Delete), res.Collected.Manifests, res.Plan.Kept)
	}
	if n := len(res.Plan.Tag); n > 0 {
		line += fmt.Sprintf(" (%d of them untagged, tagged %s... to survive)", n, registrygc.KeepTagPrefix)
	}
	if res.Before.Bytes > 0 {
		line += fmt.Sprintf("; %.1f MB in %d blobs", float64(res.Before.Bytes)/1e6, res.Before.Blobs)
		if !dryRun {
			line += fmt.Sprintf(" -> %.1f MB in %d blobs", float64(res.After.Bytes)/1e6, res.After.Blobs)
		}
	}
	return line
}

// pruneRegistry holds the env's publish lock exclusively (waiting up to
// wait) and prunes its registry down to what its config names.
func pruneRegistry(ctx context.Context, c *cli, l platform.Layout, docker client.APIClient, dryRun bool, wait time.Duration) (registrygc.Result, error) {
	unlock, err := registrygc.Collecting(ctx, l.ConfigDir, wait)
	if err != nil {
		return registrygc.Result{}, err
	}
	defer func() { _ = unlock() }()
	// Only deploys change the images the config names, and none is between
	// its first push and its merge now.
	cfg, err := runtimeconfig.Load(l.ConfigDir)
	if err != nil {
		return registrygc.Result{}, fmt.Errorf("read the images the env's config names: %w", err)
	}
	keep, err := registrygc.Referenced(cfg)
	if err != nil {
		return registrygc.Result{}, err
	}
	// The generations esb history keeps stay pullable: esb rollback needs
	// their images. An unreadable history prunes nothing.
	refs, err := confighistory.Referenced(l.ConfigDir)
	if err != nil {
		return registrygc.Result{}, fmt.Errorf("nothing pruned: %w", err)
	}
	pinned, err := registrygc.Pinned(refs)
	if err != nil {
		return registrygc.Result{}, fmt.Errorf("nothing pruned: %w", err)
	}
	keep = append(keep, pinned...)
	id, err := registrygc.FindRegistry(ctx, docker, l.Env.Project())
	if err != nil {
		return registrygc.Result{}, err
	}
	reg, err := envRegistry(c, l)
	if err != nil {
		return registrygc.Result{}, err
	}
	return registrygc.Prune(ctx, registrygc.Options{
		Registry: reg,
		Prefix:   l.Env.Project(),
		Keep:     keep,
		DryRun:   dryRun,
		Storage:  registrygc.DockerStorage{API: docker, Container: id},
	})
}

// autoPruneRegistry prunes the env's registry after a deploy that pushed a
// new image, once the registry's volume has grown past
// ESB_REGISTRY_PRUNE_ABOVE_MB (0: never). It waits for no other deploy: one
// publishing now makes it skip, and a later deploy prunes. It returns a
// line for the deploy's summary, "" when it did nothing.
func autoPruneRegistry(ctx context.Context, c *cli, l platform.Layout, docker client.APIClient) (string, error) {
	limit := int64(defaultRegistryPruneAboveMB)
	if v := c.getenv("ESB_REGISTRY_PRUNE_ABOVE_MB"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return "", usageError{fmt.Errorf("ESB_REGISTRY_PRUNE_ABOVE_MB=%q: want a size in MB, 0 to never prune", v)}
		}
		limit = n
	}
	if limit == 0 {
		return "", nil
	}
	id, err := registrygc.FindRegistry(ctx, docker, l.Env.Project())
	if err != nil {
		return "", err
	}
	use, err := registrygc.DockerStorage{API: docker, Container: id}.Usage(ctx)
	if err != nil {
		return "", err
	}
	if use.Bytes <= limit*1e6 {
		return "", nil
	}
	res, err := pruneRegistry(ctx, c, l, docker, false, 2*time.Second)
	if errors.Is(err, registrygc.ErrBusy) {
		return fmt.Sprintf("registry holds %.0f MB, over ESB_REGISTRY_PRUNE_ABOVE_MB=%d; another deploy is publishing, so a later deploy (or esb prune registry) prunes it", float64(use.Bytes)/1e6, limit), nil
	}
	if err != nil {
		return "", err
	}
	return describePrune(l.Env.Project(), res, false), nil
}
