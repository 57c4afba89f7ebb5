// Package backup is the archive format of `esb backup` and `esb restore`:
// a gzip-compressed tar whose last entry, MANIFEST.json, lists every other
// entry with its size and sha256. A reader trusts nothing before it has
// checked the whole archive against the manifest (Verify), so a truncated
// or tampered archive is refused before anything is restored, and checks
// each entry again as it hands it out (Each), so an archive changed
// between the two passes is refused too.
package backup

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"
)

// FormatVersion is the archive format this package writes and reads.
const FormatVersion = 1

// ManifestName is the archive's last entry.
const ManifestName = "MANIFEST.json"

// ErrInvalid is wrapped by every error about an archive's contents:
// truncated, tampered, or not an archive of esb (a backup or a bundle).
var ErrInvalid = errors.New("not a valid esb archive")

// Manifest describes an archive.
type Manifest struct {
	Format  int       `json:"format"`
	Created time.Time `json:"created"`
	// Env and Mode are the env the backup was taken from.
	Env     string  `json:"env"`
	Mode    string  `json:"mode,omitempty"`
	Entries []Entry `json:"entries"`
}

// Entry is one file of an archive.
type Entry struct {
	Name   string `json:"name"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// Writer writes an archive.
type Writer struct {
	gz       *gzip.Writer
	tw       *tar.Writer
	manifest Manifest
	names    map[string]bool
}

// NewWriter starts an archive on w for env (mode may be empty).
func NewWriter(w io.Writer, env, mode string, created time.Time) *Writer {
	gz := gzip.NewWriter(w)
	return &Writer{gz: gz, tw: tar.NewWriter(gz), manifest: Manifest{Format: FormatVersion, Created: created.UTC(), Env: env, Mode: mode}, names: map[string]bool{}}
}

// Add writes the next entry: size bytes read from r. Reading fewer or
// more bytes is an error (the source changed while it was copied).
func (w *Writer) Add(name string, size int64, r io.Reader) error {
	if err := checkName(name); err != nil {
		return err
	}
	if w.names[name] {
		return fmt.Errorf("backup entry %s: written twice", name)
	}
	w.names[name] = true
	if err := w.tw.WriteHeader(&tar.Header{Name: name, Size: size, Mode: 0o644, Typeflag: tar.TypeReg, ModTime: w.manifest.Created}); err != nil {
		return fmt.Errorf("backup entry %s: %w", name, err)
	}
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(w.tw, h), io.LimitReader(r, size))
	if err != nil {
		return fmt.Errorf("backup entry %s: %w", name, err)
	}
	if n != size {
		return fmt.Errorf("backup entry %s: %d bytes, want %d (changed while copied?)", name, n, size)
	}
	w.manifest.Entries = append(w.manifest.Entries, Entry{Name: name, Size: size, SHA256: hex.EncodeToString(h.Sum(nil))})
	return nil
}

// AddBytes writes data as the next entry.
func (w *Writer) AddBytes(name string, data []byte) error {
	return w.Add(name, int64(len(data)), bytes.NewReader(data))
}

// Close writes the manifest and ends the archive; it does not close the
// underlying writer.
func (w *Writer) Close() error {
	data, err := json.MarshalIndent(w.manifest, "", "  ")
	if err != nil {
		return fmt.Errorf("encode backup manifest: %w", err)
	}
	if err := w.tw.WriteHeader(&tar.Header{Name: ManifestName, Size: int64(len(data)), Mode: 0o644, Typeflag: tar.TypeReg, ModTime: w.manifest.Created}); err != nil {
		return fmt.Errorf("backup manifest: %w", err)
	}
	if _, err := w.tw.Write(data); err != nil {
		return fmt.Errorf("backup manifest: %w", err)
	}
	if err := w.tw.Close(); err != nil {
		return fmt.Errorf("end backup archive: %w", err)
	}
	if err := w.gz.Close(); err != nil {
		return fmt.Errorf("end backup archive: %w", err)
	}
	return nil
}

// Verify reads the whole archive at file and checks it against its
// manifest: every entry present once, in the manifest's order, with its
// size and sha256, nothing else, the manifest last. It returns the
// manifest.
func Verify(file string) (Manifest, error) {
	return scan(file, nil)
}

// Each verifies the archive at file (Verify) and then hands every entry
// but the manifest to fn, in order, checking each again as it is read: an
// entry that differs now fails the call once fn has read it, so fn must
// stage what it reads and apply it only once Each returned nil.
func Each(file string, fn func(e Entry, r io.Reader) error) (Manifest, error) {
	m, err := Verify(file)
	if err != nil {
		return m, err
	}
	if _, err := scan(file, func(e Entry, r io.Reader) error {
		if err := fn(e, r); err != nil {
			return err
		}
		_, err := io.Copy(io.Discard, r) // the rest, so the hash covers the whole entry
		return err
	}); err != nil {
		return m, err
	}
	return m, nil
}

// Extract verifies the archive at file and writes its entries into dir
// (which should be empty), for a restore to read once Extract returned
// nil; on an error dir holds part of them and should be removed.
func Extract(file, dir string) (Manifest, error) {
	return Each(file, func(e Entry, r io.Reader) error {
		path := filepath.Join(dir, filepath.FromSlash(e.Name))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return err
		}
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if err != nil {
			return fmt.Errorf("stage %s: %w", e.Name, err)
		}
		_, werr := io.Copy(f, r)
		cerr := f.Close()
		if err := errors.Join(werr, cerr); err != nil {
			return fmt.Errorf("stage %s: %w", e.Name, err)
		}
		return nil
	})
}

// scan reads the archive once, checking each entry's hash as it streams
// through fn (nil: just read), and the manifest at the end.
func scan(file string, fn func(e Entry, r io.Reader) error) (Manifest, error) {
	f, err := os.Open(file)
	if err != nil {
		return Manifest{}, fmt.Errorf("open backup: %w", err)
	}
	defer f.Close()
	gz, err := gzip.NewReader(f)
	if err != nil {
		return Manifest{}, invalid(file, fmt.Errorf("not gzip: %w", err))
	}
	defer gz.Close()
	tr := tar.NewReader(gz)
	var seen []Entry
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return Manifest{}, invalid(file, errors.New("no "+ManifestName+" at its end (truncated?)"))
		}
		if err != nil {
			return Manifest{}, invalid(file, truncated(err, seen))
		}
		if hdr.Typeflag != tar.TypeReg {
			return Manifest{}, invalid(file, fmt.Errorf("entry %s is not a regular file", hdr.Name))
		}
		if hdr.Name == ManifestName {
			data, err := io.ReadAll(io.LimitReader(tr, 64<<20))
			if err != nil {
				return Manifest{}, invalid(file, fmt.Errorf("%s: %w", ManifestName, err))
			}
			var m Manifest
			if err := json.Unmarshal(data, &m); err != nil {
				return Manifest{}, invalid(file, fmt.Errorf("%s: %w", ManifestName, err))
			}
			if _, err := tr.Next(); !errors.Is(err, io.EOF) {
				return Manifest{}, invalid(file, errors.New("entries after "+ManifestName))
			}
			if err := check(m, seen); err != nil {
				return Manifest{}, invalid(file, err)
			}
			return m, nil
		}
		if err := checkName(hdr.Name); err != nil {
			return Manifest{}, invalid(file, err)
		}
		e := Entry{Name: hdr.Name, Size: hdr.Size}
		h := sha256.New()
		r := io.TeeReader(tr, h)
		if fn != nil {
			if err := fn(e, r); err != nil {
				return Manifest{}, err
			}
		}
		if _, err := io.Copy(io.Discard, r); err != nil {
			return Manifest{}, invalid(file, fmt.Errorf("entry %s: %w", hdr.Name, truncated(err, nil)))
		}
		e.SHA256 = hex.EncodeToString(h.Sum(nil))
		seen = append(seen, e)
	}
}

// check compares the entries read with the manifest's.
func check(m Manifest, seen []Entry) error {
	if m.Format != FormatVersion {
		return fmt.Errorf("format %d, this esb reads %d", m.Format, FormatVersion)
	}
	if len(m.Entries) != len(seen) {
		return fmt.Errorf("%d entries, the manifest lists %d", len(seen), len(m.Entries))
	}
	for i, want := range m.Entries {
		if seen[i].Name == want.Name && seen[i] != want {
			return fmt.Errorf("entry %s does not match the manifest (tampered or damaged): %d bytes of sha256 %s, the manifest says %d bytes of sha256 %s",
				want.Name, seen[i].Size, seen[i].SHA256, want.Size, want.SHA256)
		}
		if seen[i] != want {
			return fmt.Errorf("entry %s (%d bytes, sha256 %s) does not match the manifest's %s (%d bytes, sha256 %s)",
				seen[i].Name, seen[i].Size, seen[i].SHA256, want.Name, want.Size, want.SHA256)
		}
	}
	return nil
}

// checkName refuses names that could leave a restore's staging dir.
func checkName(name string) error {
	if name == "" || name == ManifestName || path.IsAbs(name) || path.Clean(name) != name || strings.HasPrefix(name, "../") || name == ".." {
		return fmt.Errorf("backup entry name %q not allowed", name)
	}
	return nil
}

// truncated names an archive that ends early as such, with the last
// complete entry, rather than as a bare unexpected EOF.
func truncated(err error, seen []Entry) error {
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		return err
	}
	if len(seen) == 0 {
		return fmt.Errorf("truncated: %w", err)
	}
	return fmt.Errorf("truncated after entry %s: %w", seen[len(seen)-1].Name, err)
}

func invalid(file string, err error) error {
	return fmt.Errorf("%s: %w: %w", file, ErrInvalid, err)
}
