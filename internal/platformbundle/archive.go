// Package platformbundle is the archive format of `esb bundle platform`:
// ESB's own service and runtime base images (one `docker save` stream,
// zstd-compressed) and the site files a machine needs to run the platform
// without building anything (the esb binary, the compose files, scripts).
//
// The archive is a plain tar, not compressed as a whole: the images are
// compressed already, and a reader streams them straight into the Docker
// engine. Its last entry, MANIFEST.json, lists every other entry with its
// size, mode and sha256. A stream of unknown length (the images) is cut
// into parts of at most PartSize bytes, each an entry of its own, so every
// entry's size is known when its tar header is written and nothing is
// staged on disk. A reader trusts nothing before it has read the whole
// archive and checked it against the manifest (Verify): a truncated
// archive has no manifest at its end, a tampered entry has another hash.
// Each checks every entry again as it hands it out, so an archive changed
// between the two passes is refused too.
//
// The manifest proves integrity, not origin: whoever can rewrite the
// archive can rewrite its manifest. The whole file's sha256 (Summary.SHA256,
// printed by the export) compared out of band is what proves a bundle is
// the one that was exported.
package platformbundle

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path"
	"strings"
	"time"
)

// Format names the archive format this package writes and reads.
const Format = "esb-platform-bundle/1"

// ManifestName is the archive's last entry.
const ManifestName = "MANIFEST.json"

// PartSize bounds each part of a stream; a part is held in memory while it
// is written.
const PartSize = 64 << 20

// ErrInvalid is wrapped by every error about an archive's contents:
// truncated, tampered, or not a platform bundle.
var ErrInvalid = errors.New("not a valid platform bundle")

// Manifest describes an archive.
type Manifest struct {
	Format  string    `json:"format"`
	Created time.Time `json:"created"`
	// ESBVersion is the version of the esb binary the bundle carries.
	ESBVersion string `json:"esb_version"`
	// ImageTag is the tag of ESB's service images in the bundle
	// (ESB_IMAGE_TAG of the compose files).
	ImageTag string `json:"image_tag"`
	// Images are the image refs the images stream holds.
	Images []string `json:"images"`
	// Arch is the architecture the images and binaries were built for
	// (GOARCH names).
	Arch    string  `json:"arch"`
	Entries []Entry `json:"entries"`
}

// Size is the bytes of every entry together.
func (m Manifest) Size() int64 {
	var n int64
	for _, e := range m.Entries {
		n += e.Size
	}
	return n
}

// Entry is one file of an archive.
type Entry struct {
	Name   string `json:"name"`
	Size   int64  `json:"size"`
	Mode   int64  `json:"mode"`
	SHA256 string `json:"sha256"`
}

// Writer writes an archive.
type Writer struct {
	tw       *tar.Writer
	manifest Manifest
	names    map[string]bool
	partSize int // PartSize; tests make it small
}

// NewWriter starts an archive on w; m's Entries are filled in as entries
// are added.
func NewWriter(w io.Writer, m Manifest) *Writer {
	m.Format = Format
	m.Created = m.Created.UTC()
	m.Entries = nil
	return &Writer{tw: tar.NewWriter(w), manifest: m, names: map[string]bool{}, partSize: PartSize}
}

// Add writes the next entry: size bytes read from r, with the file mode
// it gets when installed. Reading fewer bytes is an error (the source
// changed while it was copied).
func (w *Writer) Add(name string, mode int64, size int64, r io.Reader) error {
	if err := checkName(name); err != nil {
		return err
	}
	if w.names[name] {
		return fmt.Errorf("bundle entry %s: written twice", name)
	}
	w.names[name] = true
	if err := w.tw.WriteHeader(&tar.Header{Name: name, Size: size, Mode: mode, Typeflag: tar.TypeReg, ModTime: w.manifest.Created}); err != nil {
		return fmt.Errorf("bundle entry %s: %w", name, err)
	}
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(w.tw, h), io.LimitReader(r, size))
	if err != nil {
		return fmt.Errorf("bundle entry %s: %w", name, err)
	}
	if n != size {
		return fmt.Errorf("bundle entry %s: %d bytes, want %d (changed while copied?)", name, n, size)
	}
	w.manifest.Entries = append(w.manifest.Entries, Entry{Name: name, Size: size, Mode: mode, SHA256: hex.EncodeToString(h.Sum(nil))})
	return nil
}

// AddFile writes the file at src as the next entry.
func (w *Writer) AddFile(name string, mode int64, src string) error {
	f, err := os.Open(src)
	if err != nil {
		return fmt.Errorf("bundle entry %s: %w", name, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("bundle entry %s: %w", name, err)
	}
	return w.Add(name, mode, st.Size(), f)
}

// AddStream writes r, of unknown length, as the parts name/000000,
// name/000001... and returns the bytes written. progress, when set, is
// called after each part with the bytes so far.
func (w *Writer) AddStream(name string, r io.Reader, progress func(written int64)) (int64, error) {
	buf := make([]byte, w.partSize)
	var total int64
	for i := 0; ; i++ {
		n, err := io.ReadFull(r, buf)
		if n > 0 || i == 0 {
			if aerr := w.Add(partName(name, i), 0o644, int64(n), bytes.NewReader(buf[:n])); aerr != nil {
				return total, aerr
			}
			total += int64(n)
			if progress != nil {
				progress(total)
			}
		}
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return total, nil
		}
		if err != nil {
			return total, fmt.Errorf("bundle stream %s: %w", name, err)
		}
	}
}

func partName(stream string, i int) string { return fmt.Sprintf("%s/%06d", stream, i) }

// IsPart reports whether entry name is a part of stream.
func IsPart(stream, name string) bool {
	rest, ok := strings.CutPrefix(name, stream+"/")
	return ok && len(rest) == 6 && strings.Trim(rest, "0123456789") == ""
}

// Close writes the manifest and ends the archive; it does not close the
// underlying writer. It returns the manifest written.
func (w *Writer) Close() (Manifest, error) {
	data, err := json.MarshalIndent(w.manifest, "", "  ")
	if err != nil {
		return w.manifest, fmt.Errorf("encode bundle manifest: %w", err)
	}
	if err := w.tw.WriteHeader(&tar.Header{Name: ManifestName, Size: int64(len(data)), Mode: 0o644, Typeflag: tar.TypeReg, ModTime: w.manifest.Created}); err != nil {
		return w.manifest, fmt.Errorf("bundle manifest: %w", err)
	}
	if _, err := w.tw.Write(data); err != nil {
		return w.manifest, fmt.Errorf("bundle manifest: %w", err)
	}
	if err := w.tw.Close(); err != nil {
		return w.manifest, fmt.Errorf("end bundle: %w", err)
	}
	return w.manifest, nil
}

// Summary is what a full read of an archive found.
type Summary struct {
	Manifest Manifest
	// SHA256 is the whole file's, to compare with the one the export
	// printed.
	SHA256 string
	// FileSize is the archive's size in bytes.
	FileSize int64
}

// Verify reads the whole archive at file and checks it against its
// manifest: every entry present once, in the manifest's order, with its
// size, mode and sha256, nothing else, the manifest last. progress, when
// set, gets the bytes read so far now and then.
func Verify(file string, progress func(read int64)) (Summary, error) {
	return scan(file, progress, nil)
}

// Each reads the archive at file a second time, after Verify returned
// verified, and hands every entry but the manifest to fn, in order,
// checking each again as it is read: an entry that differs now fails the
// call once fn has read it, and so does a file whose whole hash is no
// longer verified's. Only what fn stages may be trusted once Each
// returned nil.
func Each(file string, verified Summary, fn func(e Entry, r io.Reader) error) error {
	if verified.SHA256 == "" {
		return errors.New("bundle: Each needs the Summary of a Verify")
	}
	sum, err := scan(file, nil, func(e Entry, r io.Reader) error {
		if err := fn(e, r); err != nil {
			return err
		}
		_, err := io.Copy(io.Discard, r) // the rest, so the hash covers the whole entry
		return err
	})
	if err != nil {
		return err
	}
	if sum.SHA256 != verified.SHA256 {
		return invalid(file, errors.New("changed since it was verified"))
	}
	return nil
}

// scan reads the archive once, checking each entry's hash as it streams
// through fn (nil: just read), and the manifest at the end.
func scan(file string, progress func(int64), fn func(e Entry, r io.Reader) error) (Summary, error) {
	f, err := os.Open(file)
	if err != nil {
		return Summary{}, fmt.Errorf("open bundle: %w", err)
	}
	defer f.Close()
	whole := sha256.New()
	counted := &countingReader{r: io.TeeReader(f, whole), progress: progress}
	tr := tar.NewReader(counted)
	var seen []Entry
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return Summary{}, invalid(file, errors.New("no "+ManifestName+" at its end (truncated?)"))
		}
		if err != nil {
			return Summary{}, invalid(file, fmt.Errorf("%w (truncated?)", err))
		}
		if hdr.Typeflag != tar.TypeReg {
			return Summary{}, invalid(file, fmt.Errorf("entry %s is not a regular file", hdr.Name))
		}
		if hdr.Name == ManifestName {
			return finish(file, tr, counted, whole, seen)
		}
		if err := checkName(hdr.Name); err != nil {
			return Summary{}, invalid(file, err)
		}
		e := Entry{Name: hdr.Name, Size: hdr.Size, Mode: hdr.Mode}
		h := sha256.New()
		r := io.TeeReader(tr, h)
		if fn != nil {
			if err := fn(e, r); err != nil {
				return Summary{}, err
			}
		}
		if _, err := io.Copy(io.Discard, r); err != nil {
			return Summary{}, invalid(file, fmt.Errorf("entry %s: %w (truncated?)", hdr.Name, err))
		}
		e.SHA256 = hex.EncodeToString(h.Sum(nil))
		seen = append(seen, e)
	}
}

// finish reads the manifest (tr is positioned on it) and the archive's
// end, and checks the entries seen against the manifest.
func finish(file string, tr *tar.Reader, counted *countingReader, whole hash.Hash, seen []Entry) (Summary, error) {
	data, err := io.ReadAll(io.LimitReader(tr, 64<<20))
	if err != nil {
		return Summary{}, invalid(file, fmt.Errorf("%s: %w (truncated?)", ManifestName, err))
	}
	var m Manifest
	if err := json.Unmarshal(data, &m); err != nil {
		return Summary{}, invalid(file, fmt.Errorf("%s: %w", ManifestName, err))
	}
	if _, err := tr.Next(); !errors.Is(err, io.EOF) {
		return Summary{}, invalid(file, errors.New("entries after "+ManifestName))
	}
	// The rest of the file (tar's end blocks) belongs to the whole-file hash.
	if _, err := io.Copy(io.Discard, counted); err != nil {
		return Summary{}, fmt.Errorf("read bundle: %w", err)
	}
	if err := check(m, seen); err != nil {
		return Summary{}, invalid(file, err)
	}
	return Summary{Manifest: m, SHA256: hex.EncodeToString(whole.Sum(nil)), FileSize: counted.n}, nil
}

// check compares the entries read with the manifest's.
func check(m Manifest, seen []Entry) error {
	if m.Format != Format {
		return fmt.Errorf("format %q, this esb reads %q", m.Format, Format)
	}
	if len(m.Entries) != len(seen) {
		return fmt.Errorf("%d entries, the manifest lists %d", len(seen), len(m.Entries))
	}
	for i, want := range m.Entries {
		if seen[i] != want {
			return fmt.Errorf("entry %s (%d bytes, mode %o, sha256 %s) does not match the manifest's %s (%d bytes, mode %o, sha256 %s)",
				seen[i].Name, seen[i].Size, seen[i].Mode, seen[i].SHA256, want.Name, want.Size, want.Mode, want.SHA256)
		}
	}
	return nil
}

// checkName refuses names that could leave the directory a bundle is
// installed into.
func checkName(name string) error {
	if name == "" || name == ManifestName || path.IsAbs(name) || path.Clean(name) != name || strings.HasPrefix(name, "../") || name == ".." {
		return fmt.Errorf("bundle entry name %q not allowed", name)
	}
	return nil
}

func invalid(file string, err error) error {
	return fmt.Errorf("%s: %w: %w", file, ErrInvalid, err)
}

// countingReader counts the bytes read and reports them every PartSize.
type countingReader struct {
	r        io.Reader
	n        int64
	reported int64
	progress func(int64)
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	if c.progress != nil && c.n-c.reported >= PartSize*4 {
		c.reported = c.n
		c.progress(c.n)
	}
	return n, err
}
