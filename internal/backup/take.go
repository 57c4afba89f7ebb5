package backup

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/distribution/reference"

	"github.com/esb-dev/esb/internal/atomicdir"
	"github.com/esb-dev/esb/internal/confighistory"
	"github.com/esb-dev/esb/internal/runtimeconfig"
)

// Config and history in an archive:
//
//	config/<functions|routing|resources>.yml   CONFIG_DIR's files
//	history/<path>                             CONFIG_DIR/.history
const (
	configDir  = "config"
	historyDir = "history"
)

// Sources are the env services a backup reads.
type Sources struct {
	Registry ImageSource
	Tables   TableAPI
	Objects  ObjectAPI
}

// TakeOptions describe one backup.
type TakeOptions struct {
	ConfigDir string
	Env       string
	Mode      string
	Output    string // the archive; written as Output.tmp, then renamed
	Lock      runtimeconfig.LockOptions
}

// Summary counts what a backup holds or a restore restored.
type Summary struct {
	Functions, Generations, Images, Items, Objects int
	Bytes                                          int64
	// ConfigDigest identifies the config set a restore made current
	// (runtimeconfig Config.Digest); empty for a backup.
	ConfigDigest string
}

// Take writes a backup of the env: its config and history, read together
// under the deploy lock (held for the read only, milliseconds), every
// image the config and the history name, and the items and objects of
// the tables and buckets of resources.yml, read afterwards while the env
// serves. A failed backup leaves no archive at Output.
func Take(ctx context.Context, opts TakeOptions, src Sources) (Summary, error) {
	snap, err := snapshot(ctx, opts.ConfigDir, opts.Lock)
	if err != nil {
		return Summary{}, err
	}
	tmp := opts.Output + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return Summary{}, fmt.Errorf("create backup: %w", err)
	}
	sum, err := write(ctx, f, opts, src, snap)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, opts.Output)
	}
	if err != nil {
		return Summary{}, errors.Join(err, os.Remove(tmp))
	}
	if st, err := os.Stat(opts.Output); err == nil {
		sum.Bytes = st.Size()
	}
	return sum, nil
}

// envSnapshot is what Take reads under the lock.
type envSnapshot struct {
	files   map[string][]byte // CONFIG_DIR's three files
	history map[string][]byte // CONFIG_DIR/.history, by slash path
	config  runtimeconfig.Config
	images  []string // repository@digest
	gens    int
}

func snapshot(ctx context.Context, dir string, lock runtimeconfig.LockOptions) (envSnapshot, error) {
	unlock, err := runtimeconfig.Lock(ctx, dir, lock)
	if err != nil {
		return envSnapshot{}, err
	}
	defer func() { _ = unlock() }()
	var snap envSnapshot
	snap.files, err = atomicdir.Read(dir, runtimeconfig.FileNames[:])
	if err != nil {
		return snap, fmt.Errorf("read the env's config: %w", err)
	}
	snap.config, err = runtimeconfig.Load(dir)
	if err != nil {
		return snap, fmt.Errorf("read the env's config: %w", err)
	}
	snap.history = map[string][]byte{}
	hist := confighistory.Dir(dir)
	err = filepath.WalkDir(hist, func(path string, d fs.DirEntry, err error) error {
		if errors.Is(err, fs.ErrNotExist) && path == hist {
			return fs.SkipAll
		}
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(hist, path)
		if err != nil {
			return err
		}
		data, err := os.ReadFile(path)
		snap.history[filepath.ToSlash(rel)] = data
		return err
	})
	if err != nil {
		return snap, fmt.Errorf("read the env's history: %w", err)
	}
	pinned, err := confighistory.Referenced(dir)
	if err != nil {
		return snap, err
	}
	listed, err := confighistory.Store{ConfigDir: dir}.List()
	if err != nil {
		return snap, err
	}
	snap.gens = len(listed)
	refs := map[string]bool{}
	for _, ref := range pinned {
		refs[ref] = true
	}
	for name, f := range snap.config.Functions.Functions {
		if f.Digest == "" {
			continue
		}
		named, err := reference.ParseNormalizedNamed(f.Image)
		if err != nil {
			return snap, fmt.Errorf("function %s: image %q: %w", name, f.Image, err)
		}
		refs[reference.Path(named)+"@"+f.Digest] = true
	}
	snap.images = slices.Sorted(maps.Keys(refs))
	return snap, nil
}

func write(ctx context.Context, f *os.File, opts TakeOptions, src Sources, snap envSnapshot) (Summary, error) {
	w := NewWriter(f, opts.Env, opts.Mode, time.Now())
	sum := Summary{Functions: len(snap.config.Functions.Functions), Generations: snap.gens, Images: len(snap.images)}
	for _, name := range runtimeconfig.FileNames {
		if err := w.AddBytes(configDir+"/"+name, snap.files[name]); err != nil {
			return sum, err
		}
	}
	for _, name := range slices.Sorted(maps.Keys(snap.history)) {
		if err := w.AddBytes(historyDir+"/"+name, snap.history[name]); err != nil {
			return sum, err
		}
	}
	if err := SaveImages(ctx, w, src.Registry, snap.images); err != nil {
		return sum, fmt.Errorf("back up images: %w", err)
	}
	var tables, buckets []string
	for _, t := range snap.config.Resources.Resources.DynamoDB {
		tables = append(tables, t.TableName)
	}
	for _, b := range snap.config.Resources.Resources.S3 {
		buckets = append(buckets, b.BucketName)
	}
	var err error
	if sum.Items, err = SaveTables(ctx, w, src.Tables, tables); err != nil {
		return sum, err
	}
	if sum.Objects, err = SaveObjects(ctx, w, src.Objects, buckets); err != nil {
		return sum, err
	}
	return sum, w.Close()
}
