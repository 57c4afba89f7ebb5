package runtimeconfig

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/esb-dev/esb/internal/atomicdir"
)

// MergeOptions tunes MergeInto. The zero value is ready to use.
type MergeOptions struct {
	Lock LockOptions
	// AfterWrite, when set, runs once the merged files are on disk, still
	// under the lock. If it fails, the files are put back exactly as they
	// were and MergeInto fails: a deploy whose provisioning fails leaves
	// CONFIG_DIR as it found it. Readers may see the merged files for the
	// duration of the hook.
	AfterWrite func(ctx context.Context, res Result) error
}

// Result is what MergeInto or Replace left in the config dir.
type Result struct {
	Config Config // the new aggregate, as now on disk
	// Previous is the aggregate the call found (empty for a first deploy),
	// so a hook can tell what changed.
	Previous Config
	Warnings []string // from Merge, for the user
	Written  []string // file names rewritten; files whose bytes did not change are left alone
	// Digest is the Config.Digest of the set now current, computed from
	// the bytes written as a reader decodes them.
	Digest string
}

// MergeInto merges deploy into the aggregate in dir (the env's CONFIG_DIR)
// and writes the result. Under the deploy lock it:
//
//  1. loads the existing files; a missing one counts as empty, a malformed
//     or invalid one fails the call;
//  2. merges (see Merge) and validates the result, so nothing is written
//     unless the whole aggregate is valid;
//  3. writes the three files as a new generation of dir and makes it
//     current in one rename (see package atomicdir).
//
// Concurrent readers such as the gateway only ever see a complete set, the
// old one or the new one, and a crash at any point leaves one of the two
// current. On any error dir is left as it was (but for the lock file): a
// failed AfterWrite switches back to the previous generation, again in one
// rename. If only releasing the lock or removing the previous generation
// fails, the files are written and res is filled in alongside the error.
func MergeInto(ctx context.Context, dir string, deploy Config, opts MergeOptions) (Result, error) {
	return update(ctx, dir, opts, func(existing Config) (Config, []string, error) {
		merged, warnings := Merge(existing, deploy)
		return merged, warnings, nil
	})
}

// Replace makes next the whole aggregate in dir, with MergeInto's lock,
// validation, atomic switch and AfterWrite semantics; nothing of the
// existing aggregate is kept. build runs under the lock, so what it reads
// (a generation of the env's history, say) cannot change under it; an
// error from it leaves dir as it was.
func Replace(ctx context.Context, dir string, opts MergeOptions, build func(existing Config) (Config, error)) (Result, error) {
	return update(ctx, dir, opts, func(existing Config) (Config, []string, error) {
		next, err := build(existing)
		return next, nil, err
	})
}

// update is MergeInto and Replace: next computes the new aggregate from the
// existing one, under the lock.
func update(ctx context.Context, dir string, opts MergeOptions, next func(existing Config) (Config, []string, error)) (res Result, err error) {
	unlock, err := Lock(ctx, dir, opts.Lock)
	if err != nil {
		return Result{}, err
	}
	defer func() {
		if uerr := unlock(); uerr != nil && err == nil {
			err = uerr
		}
	}()

	current, present, err := readExisting(dir)
	if err != nil {
		return Result{}, err
	}
	existing, err := Decode(current)
	if err != nil {
		return Result{}, fmt.Errorf("existing config in %s: %w", dir, err)
	}
	updated, warnings, err := next(existing)
	if err != nil {
		return Result{}, err
	}
	if err := updated.Validate(); err != nil {
		return Result{}, fmt.Errorf("invalid merged config, nothing written: %w", err)
	}
	files, err := Marshal(updated)
	if err != nil {
		return Result{}, err
	}

	var changed []string
	for _, name := range FileNames {
		if !present[name] || !bytes.Equal(current.Get(name), files.Get(name)) {
			changed = append(changed, name)
		}
	}
	// The last point where giving up leaves dir as it was.
	if err := ctx.Err(); err != nil {
		return Result{}, fmt.Errorf("merge into %s: %w", dir, err)
	}
	written, err := Decode(files)
	if err != nil {
		return Result{}, fmt.Errorf("merged config does not read back, nothing written: %w", err)
	}
	digest, err := written.Digest()
	if err != nil {
		return Result{}, err
	}
	res = Result{Config: updated, Previous: existing, Warnings: warnings, Written: changed, Digest: digest}
	if len(changed) == 0 {
		if opts.AfterWrite != nil {
			if err := opts.AfterWrite(ctx, res); err != nil {
				return Result{}, err
			}
		}
		return res, nil
	}
	commit, err := atomicdir.Publish(dir, files.byName())
	if err != nil {
		return Result{}, fmt.Errorf("write config to %s: %w", dir, err)
	}
	if opts.AfterWrite != nil {
		if err := opts.AfterWrite(ctx, res); err != nil {
			if rerr := commit.Rollback(); rerr != nil {
				return Result{}, errors.Join(err, fmt.Errorf("restore %s: %w", dir, rerr))
			}
			return Result{}, err
		}
	}
	if err := finish(dir, commit); err != nil {
		return res, err
	}
	return res, nil
}

// readExisting reads the current files of dir, treating a missing one as
// empty.
func readExisting(dir string) (Files, map[string]bool, error) {
	byName, _, err := atomicdir.ReadPresent(dir, FileNames[:])
	if err != nil {
		return Files{}, nil, err
	}
	var files Files
	present := make(map[string]bool, len(FileNames))
	for name, data := range byName {
		files.set(name, data)
		present[name] = true
	}
	return files, present, nil
}

// publish writes files as the new current generation of dir, for good.
// The caller holds the lock.
func publish(dir string, files Files) error {
	commit, err := atomicdir.Publish(dir, files.byName())
	if err != nil {
		return fmt.Errorf("write config to %s: %w", dir, err)
	}
	return finish(dir, commit)
}

// finish makes a commit final: the previous generation goes, and so do the
// "<name>.tmp" files a writer of the layout before generations may have
// left in a crash.
func finish(dir string, commit atomicdir.Commit) error {
	errs := []error{commit.Finish()}
	for _, name := range FileNames {
		if err := os.Remove(filepath.Join(dir, name+".tmp")); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("config written to %s: %w", dir, err)
	}
	return nil
}
