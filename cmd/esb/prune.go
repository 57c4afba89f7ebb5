package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"

	"github.com/esb-dev/esb/internal/compose"
	lambdaimages "github.com/esb-dev/esb/services/runtime"
)

func pruneCommand() command {
	const summary = "Remove ESB service images of earlier versions that no container uses"
	return command{
		name:    "prune",
		summary: summary,
		run: func(ctx context.Context, c *cli, args []string) error {
			if len(args) > 0 && args[0] == "registry" {
				return runPruneRegistry(ctx, c, args[1:])
			}
			fs := newFlagSet(c, "prune", "[--dry-run] | registry [-e ENV] [--dry-run]", summary+`.
Compose tags the gateway, agent, provisioner and runtime-node images by the
ESB sources they were built from, so every upgrade (or edit) of ESB leaves
the previous ones behind. prune removes those tags, keeping the images of
the current sources and any image a container still uses. The runtime
bases deploys keep (esb/lambda-base) go the same way: those this esb does
not build any more are removed. Function images, Debian and Go base images
and the infrastructure images are never touched.

esb prune registry -e ENV removes from the env's registry the function
images its config no longer names (see esb prune registry --help).`)
			dryRun := fs.Bool("dry-run", false, "list what would be removed, remove nothing")
			if err := parseFlags(fs, args); err != nil {
				return err
			}
			dir, err := compose.FindDir(c.getenv("ESB_PROJECT_DIR"), c.workdir)
			if err != nil {
				return fmt.Errorf("find the ESB checkout, whose sources name the images to keep: %w", err)
			}
			current, err := compose.ImageTag(dir)
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
	stale, err := compose.ListStaleSourceImages(ctx, d.api, current)
	if err != nil {
		return nil, err
	}
	bases, err := lambdaimages.BaseRefs()
	if err != nil {
		return nil, err
	}
	images, err := d.api.ImageList(ctx, image.ListOptions{Filters: filters.NewArgs(filters.Arg("reference", lambdaimages.BaseRepository))})
	if err != nil {
		return nil, fmt.Errorf("list runtime bases: %w", err)
	}
	return append(stale, staleBases(images, bases)...), nil
}

// staleBases picks the runtime base tags that are not among current (the
// bases this esb builds): earlier runtime clients or Dockerfiles.
func staleBases(images []image.Summary, current []string) []compose.StaleImage {
	var out []compose.StaleImage
	for _, img := range images {
		for _, ref := range img.RepoTags {
			if strings.HasPrefix(ref, lambdaimages.BaseRepository+":") && !slices.Contains(current, ref) {
				out = append(out, compose.StaleImage{Ref: ref, ID: img.ID, Size: img.Size})
			}
		}
	}
	slices.SortFunc(out, func(a, b compose.StaleImage) int { return strings.Compare(a.Ref, b.Ref) })
	return out
}

func (d dockerImages) Remove(ctx context.Context, ref string) error {
	if _, err := d.api.ImageRemove(ctx, ref, image.RemoveOptions{PruneChildren: true}); err != nil {
		return fmt.Errorf("remove %s: %w", ref, err)
	}
	return nil
}
