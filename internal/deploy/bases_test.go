package deploy

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"
	"github.com/docker/docker/errdefs"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/esb-dev/esb/internal/registry"
	"github.com/esb-dev/esb/pipeline"
)

// fakeRegistry answers manifest lookups for the refs it holds
// ("repo:tag", with the digest it serves); pushes through fakeDocker add
// to it.
type fakeRegistry struct {
	mu   sync.Mutex
	refs map[string]string
}

func (r *fakeRegistry) digest(ref string) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.refs[ref]
}

// add stores ref at the digest every push of fakeDocker reports.
func (r *fakeRegistry) add(ref string) { r.set(ref, pushedDigest) }

func (r *fakeRegistry) set(ref, digest string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.refs[ref] = digest
}

func (r *fakeRegistry) serve(t *testing.T) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		path := strings.TrimPrefix(req.URL.Path, "/v2/")
		repo, ref, ok := strings.Cut(path, "/manifests/")
		if d := r.digest(repo + ":" + ref); ok && d != "" {
			w.Header().Set("Docker-Content-Digest", d)
			return
		}
		w.WriteHeader(http.StatusNotFound)
	}))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

// pushedDigest is the digest fakeDocker's pushes report.
const pushedDigest = "sha256:feed"

// fakeDocker is the host's engine: its images by ref, and what was asked
// of it. Pushes land in reg (by repository path, as the real push does).
type fakeDocker struct {
	client.APIClient
	mu     sync.Mutex
	images map[string]bool
	reg    *fakeRegistry
	addr   string
	calls  []string
}

func (d *fakeDocker) call(c string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.calls = append(d.calls, c)
}

func (d *fakeDocker) has(ref string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.images[ref]
}

func (d *fakeDocker) ImageInspect(_ context.Context, ref string, _ ...client.ImageInspectOption) (image.InspectResponse, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.images[ref] {
		return image.InspectResponse{}, errdefs.NotFound(io.EOF)
	}
	return image.InspectResponse{ID: "sha256:" + ref}, nil
}

func (d *fakeDocker) ImageTag(_ context.Context, src, dst string) error {
	d.call("tag " + src + " " + dst)
	d.mu.Lock()
	defer d.mu.Unlock()
	d.images[dst] = true
	return nil
}

func (d *fakeDocker) ImageRemove(_ context.Context, ref string, _ image.RemoveOptions) ([]image.DeleteResponse, error) {
	d.call("remove " + ref)
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.images, ref)
	return nil, nil
}

func (d *fakeDocker) ImagePush(_ context.Context, ref string, _ image.PushOptions) (io.ReadCloser, error) {
	d.call("push " + ref)
	d.reg.add(strings.TrimPrefix(ref, d.addr+"/"))
	return io.NopCloser(strings.NewReader(`{"status":"pushed"}` + "\n" + `{"aux":{"Tag":"x","Digest":"` + pushedDigest + `","Size":1}}` + "\n")), nil
}

func (d *fakeDocker) ImagePull(_ context.Context, ref string, _ image.PullOptions) (io.ReadCloser, error) {
	d.call("pull " + ref)
	d.mu.Lock()
	defer d.mu.Unlock()
	d.images[ref] = true
	return io.NopCloser(strings.NewReader("{}\n")), nil
}

const (
	pyBase   = "esb/lambda-base:python3.13-0123456789abcdef"
	nodeBase = "esb/lambda-base:nodejs20.x-0123456789abcdef"
)

func baseSteps(t *testing.T, registryRefs, hostImages []string) (PlatformSteps, *fakeDocker, *fakeRegistry) {
	reg := &fakeRegistry{refs: map[string]string{}}
	ledger := registry.Ledger{Path: filepath.Join(t.TempDir(), "bases.json")}
	// What the registry holds, ESB put there: the ledger agrees.
	for _, r := range registryRefs {
		reg.add(r)
		require.NoError(t, ledger.Record(r, pushedDigest))
	}
	addr := reg.serve(t)
	docker := &fakeDocker{images: map[string]bool{}, reg: reg, addr: addr}
	for _, r := range hostImages {
		docker.images[r] = true
	}
	steps := PlatformSteps{
		Registry: registry.Client{Addr: addr, Ledger: ledger},
		Docker:   docker,
		Bases:    pipeline.Bases{Images: map[string]string{"python3.12": "public.ecr.aws/lambda/python:3.12"}},
		BaseRefs: []string{"debian:trixie-slim"},
		BaseCache: BaseCache{
			Ref: func(rt string) (string, error) {
				if strings.HasPrefix(rt, "nodejs") {
					return nodeBase, nil
				}
				return pyBase, nil
			},
			LockDir:     t.TempDir(),
			LockTimeout: 2 * time.Second,
		},
	}
	return steps, docker, reg
}

func TestPrepareBases(t *testing.T) {
	tests := []struct {
		name         string
		registry     []string
		host         []string
		needs        BaseNeeds
		wantImages   map[string]string
		wantPublish  []string // runtimes built and published
		wantPushed   []string // refs pushed from the host
		wantDone     string
		wantWarnings int
	}{
		{
			name: "first env of a machine: built, published, debian mirrored for the build",
			host: []string{"debian:trixie-slim"}, needs: BaseNeeds{Runtimes: []string{"python3.13"}},
			wantImages: map[string]string{}, wantPublish: []string{"python3.13"},
			wantPushed: []string{"library/debian:trixie-slim"},
			wantDone:   "building the bases of python3.13 (kept for later deploys); pushed debian:trixie-slim",
		},
		{
			name: "the machine has it: pushed into the env's registry, nothing built, debian not needed",
			host: []string{pyBase, "debian:trixie-slim"}, needs: BaseNeeds{Runtimes: []string{"python3.13"}},
			wantImages: map[string]string{"python3.13": pyBase + "@" + pushedDigest},
			wantPushed: []string{"esb/lambda-base:python3.13-0123456789abcdef"},
			wantDone:   "runtime bases of python3.13 ready-built",
		},
		{
			name:     "the env's registry has it already",
			registry: []string{"esb/lambda-base:python3.13-0123456789abcdef"}, needs: BaseNeeds{Runtimes: []string{"python3.13", "python3.12"}},
			wantImages: map[string]string{"python3.13": pyBase + "@" + pushedDigest},
			wantDone:   "runtime bases of python3.13 ready-built",
		},
		{
			name: "one cached, one built",
			host: []string{pyBase, "debian:trixie-slim"}, needs: BaseNeeds{Runtimes: []string{"python3.13", "nodejs20.x"}},
			wantImages: map[string]string{"python3.13": pyBase + "@" + pushedDigest}, wantPublish: []string{"nodejs20.x"},
			wantPushed: []string{"esb/lambda-base:python3.13-0123456789abcdef", "library/debian:trixie-slim"},
		},
		{
			name: "--no-cache builds without the cache and keeps nothing",
			host: []string{pyBase, "debian:trixie-slim"}, needs: BaseNeeds{Runtimes: []string{"python3.13"}, NoCache: true},
			wantImages: map[string]string{}, wantPushed: []string{"library/debian:trixie-slim"},
		},
		{
			name:  "a user's image for the runtime: nothing of the cache",
			needs: BaseNeeds{Runtimes: []string{"python3.12"}}, wantImages: map[string]string{}, wantDone: "nothing",
		},
		{
			name:  "debian nowhere: a warning, the engine tries docker.io",
			needs: BaseNeeds{Runtimes: []string{"python3.13"}}, wantImages: map[string]string{}, wantPublish: []string{"python3.13"},
			wantWarnings: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			steps, docker, _ := baseSteps(t, tt.registry, tt.host)
			plan, err := steps.PrepareBases(t.Context(), tt.needs)
			require.NoError(t, err)
			defer plan.release()
			assert.Equal(t, tt.wantImages, plan.Images)
			var published []string
			for rt, ref := range plan.Publish {
				published = append(published, rt)
				assert.Equal(t, steps.Registry.Addr+"/"+refFor(t, steps, rt), ref)
			}
			assert.ElementsMatch(t, tt.wantPublish, published)
			var pushed []string
			for _, c := range docker.calls {
				if ref, ok := strings.CutPrefix(c, "push "+steps.Registry.Addr+"/"); ok {
					pushed = append(pushed, ref)
				}
			}
			assert.ElementsMatch(t, tt.wantPushed, pushed)
			assert.Contains(t, plan.Done, tt.wantDone)
			assert.Len(t, plan.Warnings, tt.wantWarnings)
		})
	}
}

func refFor(t *testing.T, steps PlatformSteps, rt string) string {
	ref, err := steps.BaseCache.Ref(rt)
	require.NoError(t, err)
	return ref
}

// Two deploys of one machine that both lack a base: the second waits for
// the first's build and takes what it kept instead of building too.
func TestPrepareBasesWaitsForTheMachinesBuild(t *testing.T) {
	first, docker, _ := baseSteps(t, nil, []string{"debian:trixie-slim"})
	second := first
	plan, err := first.PrepareBases(t.Context(), BaseNeeds{Runtimes: []string{"python3.13"}})
	require.NoError(t, err)
	require.Contains(t, plan.Publish, "python3.13")

	got := make(chan BasePlan, 1)
	go func() {
		p, err := second.PrepareBases(t.Context(), BaseNeeds{Runtimes: []string{"python3.13"}})
		assert.NoError(t, err)
		got <- p
	}()
	select {
	case p := <-got:
		t.Fatalf("second deploy did not wait: %+v", p)
	case <-time.After(300 * time.Millisecond):
	}
	// The first deploy's build published the base and kept it.
	done, warnings := first.KeepBases(t.Context(), []pipeline.PublishedBase{{Ref: plan.Publish["python3.13"], Digest: "sha256:feed"}})
	assert.Empty(t, warnings)
	assert.Equal(t, "kept "+pyBase+" on this machine", done)
	assert.True(t, docker.has(pyBase))
	plan.release()

	p := <-got
	defer p.release()
	assert.Equal(t, map[string]string{"python3.13": pyBase + "@" + pushedDigest}, p.Images)
	assert.Empty(t, p.Publish)
}

func TestPrepareBasesGivesUpOnAStuckBuild(t *testing.T) {
	steps, _, _ := baseSteps(t, nil, nil)
	plan, err := steps.PrepareBases(t.Context(), BaseNeeds{Runtimes: []string{"python3.13"}})
	require.NoError(t, err)
	defer plan.release()
	steps.BaseCache.LockTimeout = 300 * time.Millisecond
	_, err = steps.PrepareBases(t.Context(), BaseNeeds{Runtimes: []string{"python3.13"}})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "another deploy has been building it")
	assert.Contains(t, err.Error(), filepath.Join(steps.BaseCache.LockDir, "esb_lambda-base_python3.13-0123456789abcdef.lock"))
}

func TestKeepBases(t *testing.T) {
	steps, docker, _ := baseSteps(t, nil, nil)
	ref := steps.Registry.Addr + "/" + pyBase
	done, warnings := steps.KeepBases(t.Context(), []pipeline.PublishedBase{{Ref: ref, Digest: "sha256:feed"}})
	assert.Empty(t, warnings)
	assert.Equal(t, "kept "+pyBase+" on this machine", done)
	pinned := steps.Registry.Addr + "/esb/lambda-base@sha256:feed"
	assert.Equal(t, []string{"pull " + pinned, "tag " + pinned + " " + pyBase, "remove " + pinned}, docker.calls)
	assert.Equal(t, map[string]bool{pyBase: true}, docker.images)
}

// A base the registry serves at another digest than ESB seeded is never
// built on; one it has without a record is replaced by the host's copy,
// or refused when the host has none.
func TestPrepareBasesChecksDigests(t *testing.T) {
	t.Run("a base whose digest changed is refused, naming both digests", func(t *testing.T) {
		steps, docker, reg := baseSteps(t, []string{"library/debian:trixie-slim"}, []string{"debian:trixie-slim"})
		reg.set("library/debian:trixie-slim", "sha256:planted")
		_, err := steps.PrepareBases(t.Context(), BaseNeeds{Extra: []string{"debian:trixie-slim"}})
		require.ErrorIs(t, err, registry.ErrDigestMismatch)
		assert.Contains(t, err.Error(), "debian:trixie-slim")
		assert.Contains(t, err.Error(), "sha256:planted")
		assert.Contains(t, err.Error(), pushedDigest)
		assert.Contains(t, err.Error(), steps.Registry.Ledger.Path, "says where the record is")
		assert.Empty(t, docker.calls, "nothing pushed over it, nothing built")
	})
	t.Run("a changed runtime base is refused too", func(t *testing.T) {
		steps, _, reg := baseSteps(t, []string{"esb/lambda-base:python3.13-0123456789abcdef"}, nil)
		reg.set("esb/lambda-base:python3.13-0123456789abcdef", "sha256:planted")
		_, err := steps.PrepareBases(t.Context(), BaseNeeds{Runtimes: []string{"python3.13"}})
		require.ErrorIs(t, err, registry.ErrDigestMismatch)
	})
	t.Run("no record, a host copy: pushed over it and recorded", func(t *testing.T) {
		steps, docker, reg := baseSteps(t, nil, []string{"debian:trixie-slim"})
		reg.set("library/debian:trixie-slim", "sha256:unknown")
		plan, err := steps.PrepareBases(t.Context(), BaseNeeds{Extra: []string{"debian:trixie-slim"}})
		require.NoError(t, err)
		defer plan.release()
		assert.Contains(t, docker.calls, "push "+steps.Registry.Addr+"/library/debian:trixie-slim")
		assert.Equal(t, map[string]string{"debian:trixie-slim": "debian:trixie-slim@" + pushedDigest}, plan.Pins, "the build starts from it by digest")
		recorded, err := steps.Registry.Ledger.Check("library/debian:trixie-slim", "debian:trixie-slim", steps.Registry.Addr, pushedDigest)
		require.NoError(t, err)
		assert.True(t, recorded)
	})
	t.Run("a runtime base without record or host copy is built again", func(t *testing.T) {
		steps, _, reg := baseSteps(t, nil, []string{"debian:trixie-slim"})
		reg.set("esb/lambda-base:python3.13-0123456789abcdef", "sha256:unknown")
		plan, err := steps.PrepareBases(t.Context(), BaseNeeds{Runtimes: []string{"python3.13"}})
		require.NoError(t, err)
		defer plan.release()
		assert.Empty(t, plan.Images)
		assert.Contains(t, plan.Publish, "python3.13", "built and published over the unknown one")
	})
	t.Run("no record, no host copy: refused", func(t *testing.T) {
		steps, _, reg := baseSteps(t, nil, nil)
		reg.set("library/debian:trixie-slim", "sha256:unknown")
		_, err := steps.PrepareBases(t.Context(), BaseNeeds{Extra: []string{"debian:trixie-slim"}})
		require.Error(t, err)
		require.ErrorIs(t, err, registry.ErrUnverified)
		assert.Contains(t, err.Error(), "no record of putting it there")
	})
}
