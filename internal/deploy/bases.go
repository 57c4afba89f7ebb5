package deploy

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/distribution/reference"
	"github.com/docker/docker/api/types/image"
	"github.com/gofrs/flock"

	"github.com/esb-dev/esb/internal/registry"
	"github.com/esb-dev/esb/pipeline"
)

// DefaultBaseLockTimeout bounds the wait for another deploy of the machine
// that builds the same runtime base: a JDK base takes minutes on a slow
// link, more is a stuck deploy.
const DefaultBaseLockTimeout = 20 * time.Minute

// BaseNeeds is what a deploy builds from: the runtimes of its zip
// functions and the docker.io bases of its image functions.
type BaseNeeds struct {
	Runtimes []string
	Extra    []string
	// NoCache builds every runtime base afresh (esb deploy --no-cache).
	NoCache bool
}

// BasePlan says where each runtime base of a deploy comes from.
type BasePlan struct {
	Done     string // for people
	Warnings []string
	// Images are ready-built bases, by runtime: refs the engine resolves
	// (pipeline.Request.BaseImages).
	Images map[string]string
	// Publish are the bases this deploy builds and then keeps, by runtime:
	// refs in the env's registry (pipeline.Request.PublishBases).
	Publish map[string]string
	// Pins are the images builds start from (Dockerfile FROM lines,
	// ImageUri) at the digest checked in the env's registry
	// (pipeline.Request.BasePins).
	Pins map[string]string
	// unlock releases what the plan holds: the machine's claim on the
	// bases it builds.
	unlock []func()
}

// release lets other deploys build or take the bases this plan claimed;
// it may be called more than once.
func (p *BasePlan) release() {
	for _, u := range p.unlock {
		u()
	}
	p.unlock = nil
}

// BaseCache keeps ESB's runtime bases once per machine: the first deploy
// that needs one builds it on its env's engine and publishes it, the host's
// Docker engine keeps a copy, and every later deploy, of any env, pushes
// that copy into its own registry instead of building again.
type BaseCache struct {
	// Ref names the cached base of a runtime (lambdaimages.BaseRef of its
	// Dockerfile); nil turns the cache off.
	Ref func(runtime string) (string, error)
	// LockDir holds a lock file per base being built, so that two deploys
	// of the machine do not build the same base at once; empty: no lock.
	LockDir string
	// LockTimeout is DefaultBaseLockTimeout when zero.
	LockTimeout time.Duration
}

// PrepareBases implements Steps. The bases of the template's runtimes
// come from the machine's cache where it has them; the images the rest is
// built from (the runtime Dockerfiles' FROM images, the image functions'
// bases) are mirrored into the env's registry. Images neither the registry
// nor the local Docker engine has are reported: the engine then tries
// docker.io.
func (s PlatformSteps) PrepareBases(ctx context.Context, needs BaseNeeds) (BasePlan, error) {
	plan := BasePlan{Images: map[string]string{}, Publish: map[string]string{}, Pins: map[string]string{}}
	byRef, err := s.cachedBaseRefs(needs)
	if err != nil {
		return plan, err
	}
	var cached, building []string
	for _, ref := range slices.Sorted(maps.Keys(byRef)) {
		pinned, err := s.takeCachedBase(ctx, ref, &plan)
		if err != nil {
			plan.release()
			return plan, err
		}
		for _, rt := range byRef[ref] {
			if pinned != "" {
				// By digest: the engine builds on exactly what was checked.
				plan.Images[rt] = pinned
				cached = append(cached, rt)
				continue
			}
			publish, err := pipeline.PublishRef(ref, s.Registry.Addr)
			if err != nil {
				plan.release()
				return plan, err
			}
			plan.Publish[rt] = publish
			building = append(building, rt)
		}
	}

	refs := slices.Clone(needs.Extra)
	// The runtime Dockerfiles' own bases matter only where one is built.
	if s.BaseCache.Ref == nil || needs.NoCache || len(building) > 0 {
		refs = append(slices.Clone(s.BaseRefs), refs...)
	}
	results, err := s.Registry.Mirror(ctx, s.Docker, refs)
	if err != nil {
		plan.release()
		return plan, err
	}
	var pushed []string
	for _, r := range results {
		if r.Digest != "" {
			plan.Pins[r.Ref] = r.Pinned()
		}
		switch r.Action {
		case "pushed":
			pushed = append(pushed, r.Ref)
		case "unavailable":
			plan.Warnings = append(plan.Warnings, fmt.Sprintf("base image %s is neither in the registry nor in the local Docker engine: the engine pulls it from docker.io (fails offline; run scripts/setup.sh)", r.Ref))
		}
	}
	var done []string
	if len(cached) > 0 {
		done = append(done, "runtime bases of "+strings.Join(cached, ", ")+" ready-built")
	}
	if len(building) > 0 {
		done = append(done, "building the bases of "+strings.Join(building, ", ")+" (kept for later deploys)")
	}
	if len(pushed) > 0 {
		done = append(done, "pushed "+strings.Join(pushed, ", ")+" to the registry")
	} else if n := len(results) - len(plan.Warnings); n > 0 {
		done = append(done, fmt.Sprintf("%d base images already in the registry", n))
	}
	if len(done) == 0 {
		done = append(done, "nothing to prepare")
	}
	plan.Done = strings.Join(done, "; ")
	return plan, nil
}

// cachedBaseRefs groups the runtimes whose base the cache can hold by the
// cached ref (runtimes of one family share a base). Runtimes the user
// pointed at an image of their own are not the cache's.
func (s PlatformSteps) cachedBaseRefs(needs BaseNeeds) (map[string][]string, error) {
	out := map[string][]string{}
	if s.BaseCache.Ref == nil || needs.NoCache {
		return out, nil
	}
	for _, rt := range needs.Runtimes {
		if s.Bases.Images[rt] != "" {
			continue
		}
		ref, err := s.BaseCache.Ref(rt)
		if err != nil {
			return nil, fmt.Errorf("runtime %s: %w", rt, err)
		}
		out[ref] = append(out[ref], rt)
	}
	return out, nil
}

// takeCachedBase makes the cached base ref resolvable by the engine and
// returns it pinned to its checked digest, or claims it for this deploy to
// build (""): the claim waits while another deploy of the machine builds
// it, and then takes the base that deploy kept.
func (s PlatformSteps) takeCachedBase(ctx context.Context, ref string, plan *BasePlan) (string, error) {
	if pinned, err := s.mirrorCached(ctx, ref); pinned != "" || err != nil {
		return pinned, err
	}
	unlock, err := s.BaseCache.lock(ctx, ref)
	if err != nil {
		return "", err
	}
	if pinned, err := s.mirrorCached(ctx, ref); pinned != "" || err != nil {
		unlock()
		return pinned, err
	}
	plan.unlock = append(plan.unlock, unlock)
	return "", nil
}

func (s PlatformSteps) mirrorCached(ctx context.Context, ref string) (string, error) {
	res, err := s.Registry.Mirror(ctx, s.Docker, []string{ref})
	if errors.Is(err, registry.ErrUnverified) {
		// A runtime base ESB cannot vouch for is built again from its
		// Dockerfile and published over it.
		return "", nil
	}
	if err != nil || len(res) != 1 || res[0].Action == "unavailable" {
		return "", err
	}
	return res[0].Pinned(), nil
}

// lock claims the build of a cached base on this machine.
func (c BaseCache) lock(ctx context.Context, ref string) (func(), error) {
	if c.LockDir == "" {
		return func() {}, nil
	}
	if err := os.MkdirAll(c.LockDir, 0o755); err != nil {
		return nil, fmt.Errorf("runtime base lock: %w", err)
	}
	path := filepath.Join(c.LockDir, strings.NewReplacer("/", "_", ":", "_").Replace(ref)+".lock")
	timeout := c.LockTimeout
	if timeout <= 0 {
		timeout = DefaultBaseLockTimeout
	}
	waitCtx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	fl := flock.New(path)
	locked, err := fl.TryLockContext(waitCtx, 200*time.Millisecond)
	switch {
	case locked:
		return func() { _ = fl.Unlock() }, nil
	case ctx.Err() != nil:
		return nil, fmt.Errorf("wait for runtime base %s: %w", ref, ctx.Err())
	case errors.Is(err, context.DeadlineExceeded):
		return nil, fmt.Errorf("runtime base %s: another deploy has been building it for %s (lock %s)", ref, timeout, path)
	case err != nil:
		return nil, fmt.Errorf("runtime base lock %s: %w", path, err)
	}
	return nil, fmt.Errorf("runtime base lock %s: not acquired", path)
}

// KeepBases implements Steps: the local Docker engine pulls each base the
// build published to the env's registry and keeps it under the cache's
// name (without the registry), where the next deploy of any env finds it.
func (s PlatformSteps) KeepBases(ctx context.Context, published []pipeline.PublishedBase) (string, []string) {
	var kept, warnings []string
	for _, b := range published {
		local, err := keepBase(ctx, s, b)
		if err != nil {
			warnings = append(warnings, fmt.Sprintf("runtime base %s not kept on this machine (the next env builds it again): %s", b.Ref, err))
			continue
		}
		kept = append(kept, local)
	}
	if len(kept) == 0 {
		return "no runtime base kept", warnings
	}
	return "kept " + strings.Join(kept, ", ") + " on this machine", warnings
}

func keepBase(ctx context.Context, s PlatformSteps, b pipeline.PublishedBase) (string, error) {
	named, err := reference.ParseNormalizedNamed(b.Ref)
	if err != nil {
		return "", err
	}
	local := reference.Path(named) + ":" + tagOf(b.Ref)
	if b.Digest == "" {
		return "", fmt.Errorf("publish %s reported no digest", b.Ref)
	}
	// The engine built it from ESB's own Dockerfile: its digest is the
	// trusted one the next deploys of this env check the registry against.
	if err := s.Registry.Ledger.Record(local, b.Digest); err != nil {
		return "", err
	}
	pinned := reference.TrimNamed(named).String() + "@" + b.Digest
	if err := s.Registry.Pull(ctx, s.Docker, pinned); err != nil {
		return "", err
	}
	if err := s.Docker.ImageTag(ctx, pinned, local); err != nil {
		return "", fmt.Errorf("tag %s: %w", local, err)
	}
	// Only the cache's name stays; the registry's was a way in.
	_, _ = s.Docker.ImageRemove(ctx, pinned, image.RemoveOptions{})
	return local, nil
}

// tagOf is ref's tag, "latest" when it has none.
func tagOf(ref string) string {
	named, err := reference.ParseNormalizedNamed(ref)
	if err != nil {
		return "latest"
	}
	if tagged, ok := reference.TagNameOnly(named).(reference.Tagged); ok {
		return tagged.Tag()
	}
	return "latest"
}
