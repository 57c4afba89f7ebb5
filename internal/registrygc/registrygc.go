// Package registrygc keeps an env's registry bounded: it deletes the
// function images the env's config no longer names and then lets the
// registry reclaim their blobs (distribution's garbage-collect).
//
// Only repositories under the env's own prefix ("<brand>-<env>/") are
// pruned: the mirrored docker.io bases (library/...) and the runtime bases
// (esb/lambda-base) are what deploys build from, not what they deploy.
//
// Garbage collection must not overlap a push: a blob uploaded but not yet
// named by a manifest looks unused and would be deleted under the push.
// A deploy pushes long before it merges its config, outside the deploy
// lock, so the deploy lock alone does not cover that window. Deploys hold
// the publish lock (Publishing, shared: deploys still run in parallel) from
// before their first push until their config is merged, and the collection
// takes it exclusively (Collecting). The registry's read-only mode would
// need a restart of the registry around every collection, and in
// containerd mode every cold start pulls from it.
package registrygc

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
	"github.com/gofrs/flock"

	"github.com/esb-dev/esb/internal/registry"
	"github.com/esb-dev/esb/internal/runtimeconfig"
)

// KeepTagPrefix starts the tag a referenced manifest gets when no tag
// points at it any more (a redeploy moved the tag, then a failed
// provisioner rolled the config back): garbage collection removes
// untagged manifests.
const KeepTagPrefix = "esb-keep-"

// Image is one image the config names: repository path, tag and digest
// (either may be empty).
type Image struct {
	Repo   string // e.g. esb-dev/hellofunction, without the registry host
	Tag    string
	Digest string
}

// Referenced lists the images of cfg's functions.
func Referenced(cfg runtimeconfig.Config) ([]Image, error) {
	var out []Image
	for _, name := range slices.Sorted(maps.Keys(cfg.Functions.Functions)) {
		fn := cfg.Functions.Functions[name]
		if fn.Image == "" {
			continue
		}
		named, err := reference.ParseNormalizedNamed(fn.Image)
		if err != nil {
			return nil, fmt.Errorf("function %s: image %q: %w", name, fn.Image, err)
		}
		img := Image{Repo: reference.Path(named), Digest: fn.Digest}
		if t, ok := named.(reference.Tagged); ok {
			img.Tag = t.Tag()
		}
		if d, ok := named.(reference.Digested); ok && img.Digest == "" {
			img.Digest = d.Digest().String()
		}
		out = append(out, img)
	}
	return out, nil
}

// Pinned lists the images of repo@digest references (the env's config
// history pins them: a rollback must find them).
func Pinned(refs []string) ([]Image, error) {
	out := make([]Image, 0, len(refs))
	for _, ref := range refs {
		named, err := reference.ParseNormalizedNamed(ref)
		if err != nil {
			return nil, fmt.Errorf("pinned image %q: %w", ref, err)
		}
		d, ok := named.(reference.Digested)
		if !ok {
			return nil, fmt.Errorf("pinned image %q: no digest", ref)
		}
		out = append(out, Image{Repo: reference.Path(named), Digest: d.Digest().String()})
	}
	return out, nil
}

// Repo is what the registry holds in one repository: digest by tag.
type Repo struct {
	Name string
	Tags map[string]string
}

// Plan is what a prune does to the manifests.
type Plan struct {
	// Delete are the manifests (repo@digest) no referenced image is;
	// deleting one also removes every tag pointing at it.
	Delete []string
	// Tag gives a referenced manifest that has no tag a keep tag
	// (repo:tag@digest order: Repo, Tag, Digest).
	Tag []Image
	// Kept counts the referenced manifests found.
	Kept int
}

// MakePlan decides, without touching the registry, which manifests of
// repos (already limited to the env's prefix) go and which referenced
// ones need a tag to survive garbage collection. A referenced image
// without a digest keeps what its tag points at.
func MakePlan(repos []Repo, keep []Image) Plan {
	var p Plan
	for _, r := range repos {
		wanted := map[string]bool{}
		for _, img := range keep {
			if img.Repo != r.Name {
				continue
			}
			if img.Digest != "" {
				wanted[img.Digest] = true
			} else if d := r.Tags[img.Tag]; d != "" {
				wanted[d] = true
			}
		}
		tagged := map[string]bool{}
		for _, tag := range slices.Sorted(maps.Keys(r.Tags)) {
			d := r.Tags[tag]
			if wanted[d] {
				tagged[d] = true
				continue
			}
			ref := r.Name + "@" + d
			if !slices.Contains(p.Delete, ref) {
				p.Delete = append(p.Delete, ref)
			}
		}
		for _, d := range slices.Sorted(maps.Keys(wanted)) {
			p.Kept++
			if !tagged[d] {
				p.Tag = append(p.Tag, Image{Repo: r.Name, Tag: keepTag(d), Digest: d})
			}
		}
	}
	return p
}

func keepTag(digest string) string {
	_, hex, _ := strings.Cut(digest, ":")
	if len(hex) > 32 {
		hex = hex[:32]
	}
	return KeepTagPrefix + hex
}

// Storage is the registry's disk, reached inside its container.
type Storage interface {
	// Collect runs the registry's garbage collection (blobs of no
	// manifest, and untagged manifests) and reports what it removed.
	Collect(ctx context.Context) (Collected, error)
	// RemoveEmptyDirs removes the empty directories under the
	// repositories of prefix and under the blob store, and reports how
	// many. The registry's deletes and its collection remove files and
	// leave their directories (a revision's, a layer link's, a blob's):
	// several per pushed image, which would grow without bound with the
	// deploys. The caller holds Collecting: no push is creating them.
	RemoveEmptyDirs(ctx context.Context, prefix string) (int, error)
	// Usage reports the bytes, blob files and entries the registry stores.
	Usage(ctx context.Context) (Usage, error)
}

// Usage is the registry's disk use.
type Usage struct {
	Bytes   int64
	Blobs   int
	Entries int // files and directories
}

// Collected is what a garbage collection removed, from its summary line.
type Collected struct {
	Summary string
	// Manifests are the untagged manifests it deleted, in every
	// repository (the env's, and untagged bases); Blobs the blobs.
	Manifests, Blobs int
}

// ParseCollected reads the summary line of distribution's garbage-collect
// ("N blobs marked, M blobs and K manifests eligible for deletion") out of
// its output.
func ParseCollected(out string) (Collected, error) {
	for _, line := range strings.Split(out, "\n") {
		line = strings.TrimSpace(line)
		// Not "eligible for deletion" alone: every manifest and blob it
		// deletes has a line saying so before the summary.
		if !strings.Contains(line, " blobs marked, ") {
			continue
		}
		c := Collected{Summary: line}
		var marked int
		if _, err := fmt.Sscanf(line, "%d blobs marked, %d blobs and %d manifests eligible for deletion", &marked, &c.Blobs, &c.Manifests); err != nil {
			return Collected{}, fmt.Errorf("garbage-collect summary %q: %w", line, err)
		}
		return c, nil
	}
	return Collected{}, fmt.Errorf("garbage-collect printed no summary line (%q)", lastLines(out, 3))
}

// Options describe one prune.
type Options struct {
	Registry registry.Client
	// Prefix limits the prune to repositories under "<Prefix>/": the
	// env's project, <brand>-<env>.
	Prefix string
	Keep   []Image
	DryRun bool
	// Storage runs the garbage collection; nil deletes manifests only.
	Storage Storage
}

// Result says what a prune did (or, dry, would do).
type Result struct {
	Plan      Plan
	Before    Usage // zero without Storage
	After     Usage
	Collected Collected // zero when dry or without Storage
	EmptyDirs int       // directories removed after the collection
}

// Deleted is the number of manifests the prune deleted: the tagged ones
// of its plan and the untagged ones the collection found.
func (r Result) Deleted() int { return len(r.Plan.Delete) + r.Collected.Manifests }

// Prune deletes the manifests of the env's repositories its config does
// not reference and collects the garbage. The caller holds Collecting.
func Prune(ctx context.Context, opts Options) (Result, error) {
	var res Result
	if opts.Prefix == "" {
		return res, errors.New("registry prune: no repository prefix")
	}
	repos, err := listRepos(ctx, opts.Registry, opts.Prefix+"/")
	if err != nil {
		return res, err
	}
	res.Plan = MakePlan(repos, opts.Keep)
	if opts.Storage != nil {
		if res.Before, err = opts.Storage.Usage(ctx); err != nil {
			return res, err
		}
		res.After = res.Before
	}
	if opts.DryRun {
		return res, nil
	}
	// Tag first: a referenced manifest must never be untagged while the
	// collection runs.
	for _, img := range res.Plan.Tag {
		body, mediaType, _, err := opts.Registry.GetManifest(ctx, img.Repo, img.Digest)
		if err != nil {
			return res, err
		}
		if _, err := opts.Registry.PutManifest(ctx, img.Repo, img.Tag, mediaType, body); err != nil {
			return res, err
		}
	}
	for _, ref := range res.Plan.Delete {
		repo, digest, _ := strings.Cut(ref, "@")
		if err := opts.Registry.DeleteManifest(ctx, repo, digest); err != nil {
			return res, err
		}
	}
	if opts.Storage == nil {
		return res, nil
	}
	if res.Collected, err = opts.Storage.Collect(ctx); err != nil {
		return res, err
	}
	if res.EmptyDirs, err = opts.Storage.RemoveEmptyDirs(ctx, opts.Prefix); err != nil {
		return res, err
	}
	if res.After, err = opts.Storage.Usage(ctx); err != nil {
		return res, err
	}
	return res, nil
}

// listRepos reads every repository under prefix with its tags.
func listRepos(ctx context.Context, c registry.Client, prefix string) ([]Repo, error) {
	names, err := c.Repositories(ctx)
	if err != nil {
		return nil, err
	}
	var out []Repo
	for _, name := range names {
		if !strings.HasPrefix(name, prefix) {
			continue
		}
		tags, err := c.Tags(ctx, name)
		if err != nil {
			return nil, err
		}
		r := Repo{Name: name, Tags: map[string]string{}}
		for _, tag := range tags {
			d, ok, err := c.Manifest(ctx, name, tag)
			if err != nil {
				return nil, err
			}
			if ok && d != "" {
				r.Tags[tag] = d
			}
		}
		out = append(out, r)
	}
	return out, nil
}

// lockFile is the publish lock of an env, beside its deploy lock.
func lockFile(configDir string) string { return filepath.Join(configDir, ".registry.lock") }

// Publishing takes the env's publish lock shared, waiting up to timeout
// for a collection to end; deploys hold it from before their first push
// until their config is merged. The returned func releases it.
func Publishing(ctx context.Context, configDir string, timeout time.Duration) (func() error, error) {
	return take(ctx, configDir, timeout, false)
}

// Collecting takes the env's publish lock exclusively, waiting up to
// timeout for the deploys publishing now; a prune holds it throughout.
func Collecting(ctx context.Context, configDir string, timeout time.Duration) (func() error, error) {
	return take(ctx, configDir, timeout, true)
}

// ErrBusy is wrapped by the lock error when the wait timed out.
var ErrBusy = errors.New("registry busy")

func take(ctx context.Context, configDir string, timeout time.Duration, exclusive bool) (func() error, error) {
	if configDir == "" {
		return nil, errors.New("registry lock: config dir is empty (CONFIG_DIR not set?)")
	}
	// The lock file lives in CONFIG_DIR, as the deploy lock does.
	if err := os.MkdirAll(configDir, 0o755); err != nil {
		return nil, fmt.Errorf("registry lock: %w", err)
	}
	lctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	f := flock.New(lockFile(configDir))
	var ok bool
	var err error
	if exclusive {
		ok, err = f.TryLockContext(lctx, 100*time.Millisecond)
	} else {
		ok, err = f.TryRLockContext(lctx, 100*time.Millisecond)
	}
	if ok {
		return f.Unlock, nil
	}
	what := "a registry garbage collection"
	if exclusive {
		what = "a deploy publishing images"
	}
	if ctx.Err() != nil {
		return nil, fmt.Errorf("registry lock %s: %w", lockFile(configDir), ctx.Err())
	}
	if err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return nil, fmt.Errorf("registry lock %s: %w", lockFile(configDir), err)
	}
	return nil, fmt.Errorf("registry lock %s: %w: %s still holds it after %s", lockFile(configDir), ErrBusy, what, timeout)
}
