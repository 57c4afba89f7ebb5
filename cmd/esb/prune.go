package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"

	"github.com/esb-dev/esb/internal/compose"
)

func pruneCommand() command {
	const summary = "Remove ESB service images of earlier versions that no container uses"
	return command{
		name:    "prune",
		summary: summary,
		run: func(ctx context.Context, c *cli, args []string) error {
			fs := newFlagSet(c, "prune", "[--dry-run]", summary+`.
Compose tags the gateway, agent, provisioner and runtime-node images by the
ESB sources they were built from, so every upgrade (or edit) of ESB leaves
the previous ones behind. prune removes those tags, keeping the images of
the current sources and any image a container still uses. Function images,
base images and the infrastructure images are never touched.`)
			dryRun := fs.Bool("dry-run", false, "list what would be removed, remove nothing")
			if err := parseFlags(fs, args); err != nil {
				return err
			}
			dir, err := compose.FindDir(c.getenv("ESB_PROJECT_DIR"), c.workdir)
			if err != nil {
				return fmt.Errorf("find the ESB checkout, whose sources name the images to keep: %w", err)
			}
			current, err := compose.SourceTag(dir)
			if err != nil {
				return err
			}
			docker, err := newDockerClient()
			if err != nil {
				return err
			}
			defer docker.Close()
			return runPrune(ctx, c, current, *dryRun, dockerImages{docker})
		},
	}
}

// imagePruner finds and removes stale service images.
type imagePruner interface {
	Stale(ctx context.Context, current string) ([]compose.StaleImage, error)
	Remove(ctx context.Context, ref string) error
}

func runPrune(ctx context.Context, c *cli, current string, dryRun bool, p imagePruner) error {
	stale, err := p.Stale(ctx, current)
	if err != nil {
		return err
	}
	verb := "removed"
	if dryRun {
		verb = "would remove"
	}
	var errs []error
	size := map[string]int64{} // by image ID: tags of one image share its size
	n := 0
	for _, s := range stale {
		if !dryRun {
			if err := p.Remove(ctx, s.Ref); err != nil {
				errs = append(errs, err)
				continue
			}
		}
		n++
		size[s.ID] = s.Size
		fmt.Fprintf(c.stdout, "%s %s\n", verb, s.Ref)
	}
	var total int64
	for _, b := range size {
		total += b
	}
	tags := "tags"
	if n == 1 {
		tags = "tag"
	}
	fmt.Fprintf(c.stdout, "%s %d image %s of earlier ESB sources (images up to %d MB, less layers they share with kept images); kept the current %s\n",
		verb, n, tags, total/1e6, current)
	return errors.Join(errs...)
}

// dockerImages finds and removes images through the Docker API.
type dockerImages struct{ api client.APIClient }

func (d dockerImages) Stale(ctx context.Context, current string) ([]compose.StaleImage, error) {
	return compose.ListStaleSourceImages(ctx, d.api, current)
}

func (d dockerImages) Remove(ctx context.Context, ref string) error {
	if _, err := d.api.ImageRemove(ctx, ref, image.RemoveOptions{PruneChildren: true}); err != nil {
		return fmt.Errorf("remove %s: %w", ref, err)
	}
	return nil
}
