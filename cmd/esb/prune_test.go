package main

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/docker/docker/api/types/image"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/esb-dev/esb/internal/compose"
	lambdaimages "github.com/esb-dev/esb/services/runtime"
)

type fakePruner struct {
	stale   []compose.StaleImage
	current string
	removed []string
	fail    map[string]error
}

func (f *fakePruner) Stale(_ context.Context, current string) ([]compose.StaleImage, error) {
	f.current = current
	return f.stale, nil
}

func (f *fakePruner) Remove(_ context.Context, ref string) error {
	if err := f.fail[ref]; err != nil {
		return err
	}
	f.removed = append(f.removed, ref)
	return nil
}

func stalePruner() *fakePruner {
	return &fakePruner{stale: []compose.StaleImage{
		{Ref: "esb/agent:src-bbbbbbbbbbbb", ID: "old", Size: 220e6},
		{Ref: "esb/gateway:src-bbbbbbbbbbbb", ID: "old", Size: 220e6},
		{Ref: "esb/gateway:src-cccccccccccc", ID: "older", Size: 209e6},
	}}
}

func TestPruneRemovesStaleTags(t *testing.T) {
	p := stalePruner()
	var out bytes.Buffer
	require.NoError(t, runPrune(t.Context(), &cli{stdout: &out}, "src-aaaaaaaaaaaa", false, p))
	assert.Equal(t, "src-aaaaaaaaaaaa", p.current)
	assert.Equal(t, []string{"esb/agent:src-bbbbbbbbbbbb", "esb/gateway:src-bbbbbbbbbbbb", "esb/gateway:src-cccccccccccc"}, p.removed)
	assert.Contains(t, out.String(), "removed esb/gateway:src-cccccccccccc\n")
	assert.Contains(t, out.String(), "removed 3 image tags of earlier ESB sources (images up to 429 MB", "one image's size counts once")
}

func TestPruneDryRunRemovesNothing(t *testing.T) {
	p := stalePruner()
	var out bytes.Buffer
	require.NoError(t, runPrune(t.Context(), &cli{stdout: &out}, "src-aaaaaaaaaaaa", true, p))
	assert.Empty(t, p.removed)
	assert.Contains(t, out.String(), "would remove esb/agent:src-bbbbbbbbbbbb\n")
	assert.Contains(t, out.String(), "would remove 3 image tags")
}

func TestPruneGoesOnAfterAFailureAndReportsIt(t *testing.T) {
	p := stalePruner()
	p.fail = map[string]error{"esb/agent:src-bbbbbbbbbbbb": errors.New("remove esb/agent:src-bbbbbbbbbbbb: conflict")}
	var out bytes.Buffer
	err := runPrune(t.Context(), &cli{stdout: &out}, "src-aaaaaaaaaaaa", false, p)
	require.ErrorContains(t, err, "conflict")
	assert.Len(t, p.removed, 2, "the other tags still go")
	assert.Contains(t, out.String(), "removed 2 image tags")
}

func TestPruneNothingToDo(t *testing.T) {
	var out bytes.Buffer
	require.NoError(t, runPrune(t.Context(), &cli{stdout: &out}, "src-aaaaaaaaaaaa", false, &fakePruner{}))
	assert.Equal(t, "removed 0 image tags of earlier ESB sources (images up to 0 MB, less layers they share with kept images); kept the current src-aaaaaaaaaaaa\n", out.String())
}

func TestStaleBases(t *testing.T) {
	current := []string{"esb/lambda-base:python3.13-new"}
	images := []image.Summary{
		{ID: "a", RepoTags: []string{"esb/lambda-base:python3.13-new"}},
		{ID: "b", RepoTags: []string{"esb/lambda-base:python3.13-old", "esb/lambda-base:provided-old"}, Size: 7},
		{ID: "c", RepoTags: []string{"debian:trixie-slim"}},
	}
	assert.Equal(t, []compose.StaleImage{
		{Ref: "esb/lambda-base:provided-old", ID: "b", Size: 7},
		{Ref: "esb/lambda-base:python3.13-old", ID: "b", Size: 7},
	}, staleBases(images, current))

	refs, err := lambdaimages.BaseRefs()
	require.NoError(t, err)
	require.NotEmpty(t, refs)
	assert.Empty(t, staleBases([]image.Summary{{ID: "x", RepoTags: refs}}, refs), "this esb's own bases stay")
}
