package compose

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"testing"

	"github.com/docker/docker/api/types/image"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestSourceImagesMatchComposeFiles keeps SourceImages in step with the
// compose files: every image tagged ${ESB_IMAGE_TAG} there is listed, and
// nothing else.
func TestSourceImagesMatchComposeFiles(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("..", "..", "compose", "*.yml"))
	require.NoError(t, err)
	require.NotEmpty(t, files)
	line := regexp.MustCompile(`(?m)^\s*image:\s*([^:\s]+):\$\{ESB_IMAGE_TAG`)
	var found []string
	for _, f := range files {
		data, err := os.ReadFile(f)
		require.NoError(t, err)
		for _, m := range line.FindAllStringSubmatch(string(data), -1) {
			if !slices.Contains(found, m[1]) {
				found = append(found, m[1])
			}
		}
	}
	slices.Sort(found)
	assert.Equal(t, SourceImages(), found)
}

func TestStaleSourceImages(t *testing.T) {
	const current = "src-aaaaaaaaaaaa"
	images := []image.Summary{
		{ID: "cur", RepoTags: []string{"esb/gateway:" + current}, Size: 1},
		{ID: "old", RepoTags: []string{"esb/gateway:src-bbbbbbbbbbbb", "esb/agent:src-bbbbbbbbbbbb"}, Size: 2},
		{ID: "running", RepoTags: []string{"esb/agent:src-cccccccccccc"}, Size: 3},
		{ID: "latest", RepoTags: []string{"esb/gateway:latest"}, Size: 4},           // not a source tag
		{ID: "infra", RepoTags: []string{"esb/registry:src-dddddddddddd"}, Size: 5}, // not a service image
		{ID: "fn", RepoTags: []string{"127.0.0.1:5010/esb-dev/fn:latest"}, Size: 6}, // a function image
		{ID: "dangling", RepoTags: nil, Size: 7},
	}
	got := StaleSourceImages(images, current, map[string]bool{"running": true})
	assert.Equal(t, []StaleImage{
		{Ref: "esb/agent:src-bbbbbbbbbbbb", ID: "old", Size: 2},
		{Ref: "esb/gateway:src-bbbbbbbbbbbb", ID: "old", Size: 2},
	}, got)
}

func TestIsSourceTag(t *testing.T) {
	assert.True(t, IsSourceTag("src-0123456789ab"))
	for _, tag := range []string{"latest", "src-0123", "src-0123456789AB", "src-0123456789abc", "v1.2.3"} {
		assert.False(t, IsSourceTag(tag), tag)
	}
}
