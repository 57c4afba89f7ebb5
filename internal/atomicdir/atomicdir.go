// Package atomicdir keeps a set of files in a directory that readers always
// see whole: every write makes a complete new generation and switches to it
// in one rename, the layout of Kubernetes' atomic writer.
//
//	dir/..gen_<time>_<rand>/<name>   one immutable generation per write
//	dir/..data -> ..gen_...          the current generation, swapped by rename
//	dir/<name> -> ..data/<name>      the names users and tools read
//
// A crash at any point leaves either the old or the new generation current,
// never a mix: the only step that changes what is current is the rename of
// a symlink over ..data. Stale generations and a stale ..data_tmp left by a
// crash are removed by the next write.
//
// Writers must exclude each other (the caller holds a lock); readers need
// no lock.
package atomicdir

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// DataLink is the symlink naming the current generation.
const DataLink = "..data"

const (
	tmpLink   = "..data_tmp"
	genPrefix = "..gen_"
	// readAttempts bounds the retries of a reader racing writers that prune
	// the generation it resolved; each retry follows the newer ..data.
	readAttempts = 10
)

// Read returns the current contents of names in dir, all from one
// generation. A name the generation lacks is an error wrapping
// fs.ErrNotExist (all such errors joined).
//
// A dir whose names are not all links into ..data (one written before
// generations existed, or a file an operator replaced by hand) is read name
// by name through the root, in the order given, so nothing on disk is
// silently ignored.
func Read(dir string, names []string) (map[string][]byte, error) {
	files, missing, err := ReadPresent(dir, names)
	if err != nil {
		return nil, err
	}
	if len(missing) > 0 {
		errs := make([]error, 0, len(missing))
		for _, name := range missing {
			errs = append(errs, &fs.PathError{Op: "open", Path: filepath.Join(dir, name), Err: fs.ErrNotExist})
		}
		return nil, errors.Join(errs...)
	}
	return files, nil
}

// ReadPresent is Read for a caller that treats a missing name as empty:
// the names the current generation lacks are listed in missing, not
// reported as an error.
func ReadPresent(dir string, names []string) (files map[string][]byte, missing []string, err error) {
	if !linked(dir, names) {
		return readEach(dir, "", names)
	}
	for range readAttempts {
		gen, err := os.Readlink(filepath.Join(dir, DataLink))
		if err != nil {
			return nil, nil, fmt.Errorf("read %s: %w", filepath.Join(dir, DataLink), err)
		}
		files, missing, err := readEach(dir, gen, names)
		if err != nil {
			return nil, nil, err
		}
		if len(missing) == 0 || current(dir, gen) {
			return files, missing, nil
		}
		// A writer pruned the generation under us: follow ..data again.
	}
	return nil, nil, fmt.Errorf("read %s: generations changed faster than they could be read", dir)
}

// current reports whether gen is still the current generation of dir and
// still on disk, so a file it lacks is really absent.
func current(dir, gen string) bool {
	now, err := os.Readlink(filepath.Join(dir, DataLink))
	if err != nil || now != gen {
		return false
	}
	_, err = os.Stat(filepath.Join(dir, gen))
	return err == nil
}

// linked reports whether ..data exists and every name in dir that exists is
// a symlink to ..data/<name>.
func linked(dir string, names []string) bool {
	if _, err := os.Lstat(filepath.Join(dir, DataLink)); err != nil {
		return false
	}
	for _, name := range names {
		target, err := os.Readlink(filepath.Join(dir, name))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil || target != filepath.Join(DataLink, name) {
			return false
		}
	}
	return true
}

// readEach reads names from dir/gen ("" reads the root); names that do not
// exist are returned in missing.
func readEach(dir, gen string, names []string) (map[string][]byte, []string, error) {
	files := make(map[string][]byte, len(names))
	var missing []string
	for _, name := range names {
		data, err := os.ReadFile(filepath.Join(dir, gen, name))
		switch {
		case errors.Is(err, fs.ErrNotExist):
			missing = append(missing, name)
		case err != nil:
			return nil, nil, err // *fs.PathError names the file already
		default:
			files[name] = data
		}
	}
	return files, missing, nil
}

// Commit is a write made current but not yet final: Rollback puts the
// previous generation back, Finish removes it.
type Commit struct {
	dir, prev, next string
}

// Publish writes files as a new generation of dir and makes it current.
// The caller holds the writers' lock. Every name of files gets its root
// link before the switch, so the switch alone decides what readers see.
// Call Finish (or Rollback) on the result.
//
// A dir that is not yet in the generation layout is first converted: its
// current files become a generation of their own, then each root file is
// replaced by a link to the same bytes, so readers see the same set at
// every step of the conversion.
func Publish(dir string, files map[string][]byte) (Commit, error) {
	if err := os.Remove(filepath.Join(dir, tmpLink)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return Commit{}, fmt.Errorf("remove stale %s: %w", tmpLink, err)
	}
	prev, err := adopt(dir, names(files))
	if err != nil {
		return Commit{}, err
	}
	next, err := writeGeneration(dir, files)
	if err != nil {
		return Commit{}, err
	}
	if err := link(dir, names(files)); err != nil {
		return Commit{}, errors.Join(err, os.RemoveAll(filepath.Join(dir, next)))
	}
	if err := swap(dir, next); err != nil {
		return Commit{}, errors.Join(err, os.RemoveAll(filepath.Join(dir, next)))
	}
	return Commit{dir: dir, prev: prev, next: next}, nil
}

// Rollback makes the generation before the commit current again and
// removes the committed one: one rename, so readers switch back whole.
func (c Commit) Rollback() error {
	if err := swap(c.dir, c.prev); err != nil {
		return err
	}
	return prune(c.dir, c.prev)
}

// Finish removes every generation but the committed one, including any a
// crashed writer left behind.
func (c Commit) Finish() error { return prune(c.dir, c.next) }

// adopt makes sure dir has a current generation holding what readers see
// now, and returns its name. In a dir already in the layout that is ..data;
// otherwise the root files among names (and any other name already linked)
// are copied into a new generation which becomes current, and then each
// root file is replaced by a link to its copy.
func adopt(dir string, all []string) (string, error) {
	if linked(dir, all) {
		gen, err := os.Readlink(filepath.Join(dir, DataLink))
		if err != nil {
			return "", fmt.Errorf("read %s: %w", filepath.Join(dir, DataLink), err)
		}
		return gen, nil
	}
	current := make(map[string][]byte, len(all))
	for _, name := range all {
		data, err := os.ReadFile(filepath.Join(dir, name))
		switch {
		case errors.Is(err, fs.ErrNotExist):
			continue
		case err != nil:
			return "", fmt.Errorf("read %s: %w", name, err)
		}
		current[name] = data
	}
	gen, err := writeGeneration(dir, current)
	if err != nil {
		return "", err
	}
	if err := swap(dir, gen); err != nil {
		return "", errors.Join(err, os.RemoveAll(filepath.Join(dir, gen)))
	}
	if err := link(dir, names(current)); err != nil {
		return "", err
	}
	return gen, nil
}

// writeGeneration writes files into a new, synced generation dir and
// returns its name (relative to dir).
func writeGeneration(dir string, files map[string][]byte) (string, error) {
	gen, err := os.MkdirTemp(dir, genPrefix+time.Now().UTC().Format("2006_01_02_15_04_05.000000000")+"_")
	if err != nil {
		return "", fmt.Errorf("create generation in %s: %w", dir, err)
	}
	fail := func(err error) (string, error) {
		return "", errors.Join(err, os.RemoveAll(gen))
	}
	if err := os.Chmod(gen, 0o755); err != nil { // MkdirTemp makes 0700; services in other users' containers read it
		return fail(fmt.Errorf("chmod %s: %w", gen, err))
	}
	for name, data := range files {
		if err := WriteNew(filepath.Join(gen, name), data); err != nil {
			return fail(err)
		}
	}
	if err := SyncDir(gen); err != nil {
		return fail(err)
	}
	return filepath.Base(gen), nil
}

// link gives each name a root symlink to ..data/<name>, replacing a file
// or a wrong link by rename.
func link(dir string, names []string) error {
	for _, name := range names {
		path := filepath.Join(dir, name)
		want := filepath.Join(DataLink, name)
		tmp := path + ".link"
		if err := os.Remove(tmp); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("remove stale %s: %w", tmp, err)
		}
		if target, err := os.Readlink(path); err == nil && target == want {
			continue
		}
		if err := os.Symlink(want, tmp); err != nil {
			return fmt.Errorf("link %s: %w", name, err)
		}
		if err := os.Rename(tmp, path); err != nil {
			return fmt.Errorf("link %s: %w", name, err)
		}
	}
	return SyncDir(dir)
}

// swap points ..data at gen with one rename over it.
func swap(dir, gen string) error {
	tmp := filepath.Join(dir, tmpLink)
	if err := os.Remove(tmp); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove stale %s: %w", tmpLink, err)
	}
	if err := os.Symlink(gen, tmp); err != nil {
		return fmt.Errorf("switch %s to %s: %w", dir, gen, err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, DataLink)); err != nil {
		return fmt.Errorf("switch %s to %s: %w", dir, gen, err)
	}
	return SyncDir(dir)
}

// prune removes every generation dir of dir but keep.
func prune(dir, keep string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("list %s: %w", dir, err)
	}
	var errs []error
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), genPrefix) || e.Name() == keep {
			continue
		}
		if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
			errs = append(errs, fmt.Errorf("remove old generation: %w", err))
		}
	}
	return errors.Join(errs...)
}

func names(files map[string][]byte) []string {
	out := make([]string, 0, len(files))
	for name := range files {
		out = append(out, name)
	}
	return out
}

// WriteNew writes data to a new file at path (it must not exist yet) and
// syncs it.
func WriteNew(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	_, werr := f.Write(data)
	serr := f.Sync()
	cerr := f.Close()
	if err := errors.Join(werr, serr, cerr); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// SyncDir syncs dir, so renames and new names in it survive a crash.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	syncErr := d.Sync()
	closeErr := d.Close()
	if err := errors.Join(syncErr, closeErr); err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return nil
}
