package registrygc

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/esb-dev/esb/internal/runtimeconfig"
)

func TestMakePlan(t *testing.T) {
	const a, b, c = "sha256:aaaa", "sha256:bbbb", "sha256:cccc"
	tests := []struct {
		name  string
		repos []Repo
		keep  []Image
		want  Plan
	}{
		{
			name:  "the tag points at the referenced digest: nothing goes",
			repos: []Repo{{Name: "esb-dev/fn", Tags: map[string]string{"latest": a}}},
			keep:  []Image{{Repo: "esb-dev/fn", Tag: "latest", Digest: a}},
			want:  Plan{Kept: 1},
		},
		{
			name:  "a rolled-back deploy: the tag moved on, the referenced digest gets a keep tag, the tagged one goes",
			repos: []Repo{{Name: "esb-dev/fn", Tags: map[string]string{"latest": b}}},
			keep:  []Image{{Repo: "esb-dev/fn", Tag: "latest", Digest: a}},
			want:  Plan{Delete: []string{"esb-dev/fn@" + b}, Tag: []Image{{Repo: "esb-dev/fn", Tag: "esb-keep-aaaa", Digest: a}}, Kept: 1},
		},
		{
			name: "a repository no function names loses everything; two tags of one digest are one delete",
			repos: []Repo{
				{Name: "esb-dev/gone", Tags: map[string]string{"latest": c, "v1": c}},
				{Name: "esb-dev/fn", Tags: map[string]string{"latest": a, "esb-keep-bbbb": b}},
			},
			keep: []Image{{Repo: "esb-dev/fn", Tag: "latest", Digest: a}},
			want: Plan{Delete: []string{"esb-dev/gone@" + c, "esb-dev/fn@" + b}, Kept: 1},
		},
		{
			name:  "an image without a digest keeps what its tag points at",
			repos: []Repo{{Name: "esb-dev/fn", Tags: map[string]string{"latest": a, "old": b}}},
			keep:  []Image{{Repo: "esb-dev/fn", Tag: "latest"}},
			want:  Plan{Delete: []string{"esb-dev/fn@" + b}, Kept: 1},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, MakePlan(tt.repos, tt.keep))
		})
	}
}

func TestReferenced(t *testing.T) {
	var cfg runtimeconfig.Config
	cfg.Functions.Functions = map[string]runtimeconfig.Function{
		"Hello": {Image: "127.0.0.1:5010/esb-dev/hello:latest", Digest: "sha256:aaaa"},
		"Node":  {Image: "registry:5000/esb-dev/node:e2e", Digest: "sha256:bbbb"},
		"NoImg": {},
	}
	got, err := Referenced(cfg)
	require.NoError(t, err)
	assert.Equal(t, []Image{
		{Repo: "esb-dev/hello", Tag: "latest", Digest: "sha256:aaaa"},
		{Repo: "esb-dev/node", Tag: "e2e", Digest: "sha256:bbbb"},
	}, got)
}

func TestLocks(t *testing.T) {
	dir := t.TempDir()
	ctx := t.Context()
	r1, err := Publishing(ctx, dir, time.Second)
	require.NoError(t, err)
	r2, err := Publishing(ctx, dir, time.Second)
	require.NoError(t, err, "deploys publish side by side")
	_, err = Collecting(ctx, dir, 200*time.Millisecond)
	require.ErrorIs(t, err, ErrBusy, "a collection waits for the deploys publishing")
	require.NoError(t, r1())
	require.NoError(t, r2())
	unlock, err := Collecting(ctx, dir, time.Second)
	require.NoError(t, err)
	_, err = Publishing(ctx, dir, 200*time.Millisecond)
	require.ErrorIs(t, err, ErrBusy, "a deploy waits for the collection")
	require.NoError(t, unlock())
}

func TestParseCollected(t *testing.T) {
	out := "esb-dev/fn\nesb-dev/fn: marking manifest sha256:aaaa \nmanifest eligible for deletion: {esb-dev/fn sha256:cccc [latest]}\n\n12 blobs marked, 200 blobs and 99 manifests eligible for deletion\nblob eligible for deletion: sha256:bbbb\n"
	got, err := ParseCollected(out)
	require.NoError(t, err)
	assert.Equal(t, Collected{Summary: "12 blobs marked, 200 blobs and 99 manifests eligible for deletion", Blobs: 200, Manifests: 99}, got)

	_, err = ParseCollected("esb-dev/fn\nfailed to mark: boom\n")
	require.ErrorContains(t, err, "no summary line", "a collection that printed no summary did not run to its end")
	_, err = ParseCollected("x blobs marked, 1 blobs and 2 manifests eligible for deletion")
	require.Error(t, err)
}

func TestResultDeleted(t *testing.T) {
	r := Result{Plan: Plan{Delete: []string{"esb-dev/fn@sha256:aaaa"}}, Collected: Collected{Manifests: 99}}
	assert.Equal(t, 100, r.Deleted(), "the tag's manifest and the 99 it had moved away from")
}
