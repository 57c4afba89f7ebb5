package compose

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"
)

// SourceImages are the repositories of ESB's own service images, the ones
// compose tags with SourceTag (image: <repo>:${ESB_IMAGE_TAG}).
func SourceImages() []string {
	return []string{"esb/agent", "esb/agent-containerd", "esb/events", "esb/gateway", "esb/nodekeeper", "esb/provisioner", "esb/runtime-node"}
}

var sourceTagPattern = regexp.MustCompile(`^src-[0-9a-f]{12}$`)

// IsSourceTag reports whether tag is one SourceTag makes.
func IsSourceTag(tag string) bool { return sourceTagPattern.MatchString(tag) }

// StaleImage is a service image built from sources other than the current
// ones: an earlier version of ESB, left behind by an upgrade or an edit.
type StaleImage struct {
	Ref  string // repo:tag
	ID   string
	Size int64 // bytes, layers shared with other images included
}

// StaleSourceImages picks, from images, the tags of SourceImages made by
// SourceTag for other sources than current, leaving those of an image a
// container uses (inUse holds image IDs): an env started before the
// upgrade still runs them.
func StaleSourceImages(images []image.Summary, current string, inUse map[string]bool) []StaleImage {
	var out []StaleImage
	for _, img := range images {
		if inUse[img.ID] {
			continue
		}
		for _, ref := range img.RepoTags {
			repo, tag, ok := strings.Cut(ref, ":")
			if !ok || tag == current || !IsSourceTag(tag) || !slices.Contains(SourceImages(), repo) {
				continue
			}
			out = append(out, StaleImage{Ref: ref, ID: img.ID, Size: img.Size})
		}
	}
	slices.SortFunc(out, func(a, b StaleImage) int { return strings.Compare(a.Ref, b.Ref) })
	return out
}

// ListStaleSourceImages lists the stale service images of this Docker
// engine; see StaleSourceImages.
func ListStaleSourceImages(ctx context.Context, api client.APIClient, current string) ([]StaleImage, error) {
	args := filters.NewArgs()
	for _, repo := range SourceImages() {
		args.Add("reference", repo)
	}
	images, err := api.ImageList(ctx, image.ListOptions{Filters: args})
	if err != nil {
		return nil, fmt.Errorf("list ESB service images: %w", err)
	}
	containers, err := api.ContainerList(ctx, container.ListOptions{All: true})
	if err != nil {
		return nil, fmt.Errorf("list containers: %w", err)
	}
	inUse := make(map[string]bool, len(containers))
	for _, c := range containers {
		inUse[c.ImageID] = true
	}
	return StaleSourceImages(images, current, inUse), nil
}
