package runtimeconfig

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
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

// Result is what MergeInto left in the config dir.
type Result struct {
	Config   Config   // the merged aggregate, as now on disk
	Warnings []string // from Merge, for the user
	Written  []string // file names rewritten; files whose bytes did not change are left alone
}

// MergeInto merges deploy into the aggregate in dir (the env's CONFIG_DIR)
// and writes the result. Under the deploy lock it:
//
//  1. loads the existing files; a missing one counts as empty, a malformed
//     or invalid one fails the call;
//  2. merges (see Merge) and validates the result, so nothing is written
//     unless the whole aggregate is valid;
//  3. replaces each changed file atomically, functions.yml first.
//
// Concurrent readers such as the gateway never see a partial file: each
// file is written to "<name>.yml.tmp", synced, then renamed over the old
// one. A crash leaves at most a stale .tmp file, which the next write
// truncates. On any error dir is left as it was (but for the lock file): a
// failed write or a failed AfterWrite puts the previous files back. If only
// releasing the lock fails, the files are written and res is filled in
// alongside the error.
func MergeInto(ctx context.Context, dir string, deploy Config, opts MergeOptions) (res Result, err error) {
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
	merged, warnings := Merge(existing, deploy)
	if err := merged.Validate(); err != nil {
		return Result{}, fmt.Errorf("invalid merged config, nothing written: %w", err)
	}
	next, err := Marshal(merged)
	if err != nil {
		return Result{}, err
	}

	var changed []string
	for _, name := range FileNames {
		if !present[name] || !bytes.Equal(current.Get(name), next.Get(name)) {
			changed = append(changed, name)
		}
	}
	// The last point where giving up leaves dir as it was.
	if err := ctx.Err(); err != nil {
		return Result{}, fmt.Errorf("merge into %s: %w", dir, err)
	}
	if err := writeFiles(dir, next, changed); err != nil {
		return Result{}, errors.Join(err, restore(dir, current, present, changed))
	}
	res = Result{Config: merged, Warnings: warnings, Written: changed}
	if opts.AfterWrite != nil {
		if err := opts.AfterWrite(ctx, res); err != nil {
			if rerr := restore(dir, current, present, changed); rerr != nil {
				return Result{}, errors.Join(err, fmt.Errorf("restore %s: %w", dir, rerr))
			}
			return Result{}, err
		}
	}
	return res, nil
}

// restore puts the named files of dir back as they were before a merge:
// the old bytes where a file existed, no file where none did.
func restore(dir string, old Files, present map[string]bool, names []string) error {
	var errs []error
	for _, name := range FileNames {
		if !slices.Contains(names, name) {
			continue
		}
		if present[name] {
			errs = append(errs, writeFileAtomic(dir, name, old.Get(name)))
			continue
		}
		if err := os.Remove(filepath.Join(dir, name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	errs = append(errs, syncDir(dir))
	return errors.Join(errs...)
}

// readExisting reads the files of dir, treating a missing one as empty.
func readExisting(dir string) (Files, map[string]bool, error) {
	var files Files
	present := make(map[string]bool, len(FileNames))
	for _, name := range FileNames {
		data, err := os.ReadFile(filepath.Join(dir, name))
		switch {
		case errors.Is(err, fs.ErrNotExist):
			continue
		case err != nil:
			return Files{}, nil, err
		}
		files.set(name, data)
		present[name] = true
	}
	return files, present, nil
}

// writeFiles atomically replaces the named files of dir with their bytes in
// files, in FileNames order, then syncs dir so the renames survive a power
// loss. The caller holds the lock.
//
// functions.yml goes first because functions are never removed: at every
// moment between two renames, each route on disk still names a function on
// disk.
func writeFiles(dir string, files Files, names []string) error {
	if len(names) == 0 {
		return nil
	}
	for _, name := range FileNames {
		if !slices.Contains(names, name) {
			continue
		}
		if err := writeFileAtomic(dir, name, files.Get(name)); err != nil {
			return err
		}
	}
	return syncDir(dir)
}

// writeFileAtomic writes data to dir/name through dir/name.tmp: write, fsync,
// rename. The temp file sits in the same directory because rename is only
// atomic within one file system.
func writeFileAtomic(dir, name string, data []byte) (err error) {
	final := filepath.Join(dir, name)
	tmp := final + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	defer func() {
		if err != nil {
			_ = f.Close() // already failing; the write error is the one to report
			_ = os.Remove(tmp)
		}
	}()
	if _, err := f.Write(data); err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", tmp, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("close %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, final); err != nil {
		return fmt.Errorf("replace %s: %w", name, err)
	}
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync config dir: %w", err)
	}
	syncErr := d.Sync()
	closeErr := d.Close()
	if err := errors.Join(syncErr, closeErr); err != nil {
		return fmt.Errorf("sync config dir %s: %w", dir, err)
	}
	return nil
}
