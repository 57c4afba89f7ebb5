package backup

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/distribution/reference"

	"github.com/esb-dev/esb/internal/confighistory"
	"github.com/esb-dev/esb/internal/registry"
	"github.com/esb-dev/esb/internal/runtimeconfig"
)

// Targets are the services of the env a restore writes into.
type Targets struct {
	Registry ImageSink
	Tables   TableAPI
	Objects  ObjectAPI
	// Provision runs the env's provisioner on CONFIG_DIR as it stands.
	Provision func(ctx context.Context) (string, error)
	// PullImages pulls refs into the function runtime (containerd mode;
	// nil or a no-op in docker mode).
	PullImages func(ctx context.Context, refs []string) error
}

// RestoreOptions describe one restore.
type RestoreOptions struct {
	File      string
	ConfigDir string // the new env's
	// Repository is the new env's image repository prefix, "<brand>-<env>".
	Repository string
	// Registry is the registry address the new env's functions.yml names
	// images by (the runtime's view, as deploy writes it).
	Registry    string
	HistoryKeep int
	Lock        runtimeconfig.LockOptions
}

// Restore makes a new env identical to the one an archive was taken
// from: it checks the whole archive first (a truncated or tampered one
// changes nothing), refuses an env that has functions already, pushes the
// images under the new env's repository, makes the archive's resources
// current and provisions them, loads the items and objects, and only
// then makes the functions and routes current (so nothing is served
// before its data is in), imports the history and records the restore as
// a generation. Image names in the config and the history are rewritten
// for the new env; digests stay.
//
// A failure after the images were pushed leaves the env with what was
// done so far (a fresh env: remove it and restore again).
func Restore(ctx context.Context, opts RestoreOptions, dst Targets) (Summary, error) {
	stage, err := os.MkdirTemp(filepath.Dir(opts.File), ".esb-restore-")
	if err != nil {
		stage, err = os.MkdirTemp("", "esb-restore-")
		if err != nil {
			return Summary{}, err
		}
	}
	defer os.RemoveAll(stage)
	if _, err := Extract(opts.File, stage); err != nil {
		return Summary{}, err
	}
	saved, err := runtimeconfig.Load(filepath.Join(stage, configDir))
	if err != nil {
		return Summary{}, fmt.Errorf("the backup's config: %w", err)
	}
	if current, err := runtimeconfig.Load(opts.ConfigDir); err == nil && len(current.Functions.Functions) > 0 {
		return Summary{}, fmt.Errorf("env at %s has %d functions already: restore into a fresh env", opts.ConfigDir, len(current.Functions.Functions))
	}
	rw, err := NewRewriter(saved, opts.Repository, opts.Registry)
	if err != nil {
		return Summary{}, err
	}
	gens, err := stagedHistory(stage, rw)
	if err != nil {
		return Summary{}, err
	}
	sum := Summary{Functions: len(saved.Functions.Functions), Generations: len(gens)}

	pushed, err := LoadImages(ctx, stage, dst.Registry, rw.Repository)
	if err != nil {
		return sum, fmt.Errorf("restore images: %w", err)
	}
	sum.Images = len(pushed)
	restored := rw.Config(saved)

	// Data first: the resources alone, provisioned, then filled.
	dataOnly := runtimeconfig.Empty()
	dataOnly.Resources = restored.Resources
	if _, err := runtimeconfig.Replace(ctx, opts.ConfigDir, runtimeconfig.MergeOptions{Lock: opts.Lock,
		AfterWrite: func(ctx context.Context, _ runtimeconfig.Result) error {
			if _, err := dst.Provision(ctx); err != nil {
				return fmt.Errorf("provision: %w", err)
			}
			var err error
			if sum.Items, err = LoadTables(ctx, stage, dst.Tables); err != nil {
				return err
			}
			sum.Objects, err = LoadObjects(ctx, stage, dst.Objects)
			return err
		}}, func(runtimeconfig.Config) (runtimeconfig.Config, error) { return dataOnly, nil }); err != nil {
		return sum, fmt.Errorf("restore data: %w", err)
	}

	// Then functions and routes, with the history they came with.
	live, err := runtimeconfig.Replace(ctx, opts.ConfigDir, runtimeconfig.MergeOptions{Lock: opts.Lock,
		AfterWrite: func(ctx context.Context, res runtimeconfig.Result) error {
			if dst.PullImages != nil {
				var refs []string
				for _, f := range res.Config.Functions.Functions {
					if f.Digest != "" {
						refs = append(refs, registry.PinnedRef(f.Image, f.Digest))
					}
				}
				slices.Sort(refs)
				if err := dst.PullImages(ctx, refs); err != nil {
					return fmt.Errorf("pull into the runtime node: %w", err)
				}
			}
			store := confighistory.Store{ConfigDir: opts.ConfigDir, Keep: opts.HistoryKeep}
			for _, g := range gens {
				if _, err := store.Import(g.gen, g.config); err != nil {
					return err
				}
			}
			_, _, err := store.Record(confighistory.Entry{Kind: confighistory.KindRestore, Config: res.Config, Previous: runtimeconfig.Empty(), Time: time.Now(),
				Template: "backup " + filepath.Base(opts.File)})
			return err
		}}, func(runtimeconfig.Config) (runtimeconfig.Config, error) { return restored, nil })
	if err != nil {
		return sum, fmt.Errorf("restore functions and routes: %w", err)
	}
	sum.ConfigDigest = live.Digest
	return sum, nil
}

// Rewriter renames an archive's images for the env it is loaded into: the
// repository prefix (the old env's "<brand>-<env>") and the registry
// address change, the rest of the path, the tag and the digest stay.
type Rewriter struct {
	from, to string // repository prefixes
	registry string
}

// NewRewriter renames the images of saved's functions into repository
// (the new env's "<brand>-<env>") on registry (the address functions.yml
// names images by).
func NewRewriter(saved runtimeconfig.Config, repository, registry string) (Rewriter, error) {
	rw := Rewriter{to: repository, registry: registry}
	for name, f := range saved.Functions.Functions {
		named, err := reference.ParseNormalizedNamed(f.Image)
		if err != nil {
			return rw, fmt.Errorf("function %s: image %q: %w", name, f.Image, err)
		}
		prefix, _, ok := strings.Cut(reference.Path(named), "/")
		if !ok {
			return rw, fmt.Errorf("function %s: image %q has no env repository prefix", name, f.Image)
		}
		if rw.from != "" && rw.from != prefix {
			return rw, fmt.Errorf("the backup names images of two envs (%s and %s)", rw.from, prefix)
		}
		rw.from = prefix
	}
	return rw, nil
}

// Repository renames a repository path (no host).
func (rw Rewriter) Repository(path string) string {
	if rest, ok := strings.CutPrefix(path, rw.from+"/"); ok && rw.from != "" {
		return rw.to + "/" + rest
	}
	return path
}

// Image renames an image reference.
func (rw Rewriter) Image(image string) string {
	named, err := reference.ParseNormalizedNamed(image)
	if err != nil {
		return image
	}
	out := rw.registry + "/" + rw.Repository(reference.Path(named))
	if tagged, ok := named.(reference.Tagged); ok {
		out += ":" + tagged.Tag()
	}
	return out
}

// Config renames the images of cfg's functions.
func (rw Rewriter) Config(cfg runtimeconfig.Config) runtimeconfig.Config {
	out := cfg.Clone()
	for name, f := range out.Functions.Functions {
		f.Image = rw.Image(f.Image)
		out.Functions.Functions[name] = f
	}
	return out
}

type stagedGen struct {
	gen    confighistory.Generation
	config runtimeconfig.Config
}

// stagedHistory loads the archive's generations, checked as esb rollback
// checks them, with their images renamed.
func stagedHistory(stage string, rw Rewriter) ([]stagedGen, error) {
	// The staged history is a history of its own: history/ stands in for
	// CONFIG_DIR/.history.
	store := confighistory.Store{ConfigDir: filepath.Join(stage, "restore-config")}
	if err := os.MkdirAll(store.ConfigDir, 0o755); err != nil {
		return nil, err
	}
	if err := os.Symlink(filepath.Join(stage, historyDir), confighistory.Dir(store.ConfigDir)); err != nil {
		return nil, err
	}
	entries, err := os.ReadDir(filepath.Join(stage, historyDir))
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []stagedGen
	for _, e := range entries {
		n, err := strconv.Atoi(e.Name())
		if err != nil || !e.IsDir() {
			continue
		}
		g, cfg, err := store.Load(n)
		if err != nil {
			return nil, fmt.Errorf("the backup's history: %w", err)
		}
		out = append(out, stagedGen{gen: g, config: rw.Config(cfg)})
	}
	return out, nil
}
