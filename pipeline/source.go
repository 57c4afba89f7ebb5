package pipeline

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/esb-dev/esb/internal/runtimecatalog"
	"github.com/esb-dev/esb/internal/sam"
)

// sourceVersion changes whenever the way images are built changes, so a
// new esb rebuilds what an older one built.
const sourceVersion = "esb-build-2"

// skippedDirs are left out of uploads and fingerprints at any depth: local
// tool output that does not belong in an image.
func skippedDirs() []string { return []string{".aws-sam", ".git", "__pycache__", ".esb"} }

func skippedFile(name string) bool { return strings.HasSuffix(name, ".pyc") }

// uploadExcludes are the same rules as Dagger exclude patterns.
func uploadExcludes() []string {
	var out []string
	for _, d := range skippedDirs() {
		out = append(out, "**/"+d)
	}
	return append(out, "**/*.pyc")
}

// Source fingerprints everything a function's image is built from: the
// build recipe version, the base (built-in Dockerfiles or a user image),
// handler, layers, code and dependency manifests. Equal fingerprints build
// equal images, so a deploy can keep the digest it published before
// instead of building again. ok is false when the image cannot be pinned
// (an ImageURI by tag may move upstream): such functions always build.
func Source(f sam.Function, bases Bases) (digest string, ok bool, err error) {
	h := sha256.New()
	field := func(k, v string) { fmt.Fprintf(h, "%s=%q\n", k, v) }
	field("version", sourceVersion)
	field("package", f.PackageType)
	if f.PackageType == sam.PackageImage {
		if f.ImageURI != "" {
			if !strings.Contains(f.ImageURI, "@sha256:") {
				return "", false, nil
			}
			field("image", f.ImageURI)
		} else {
			field("dockerfile", f.Dockerfile)
			if err := hashTree(h, "context", f.DockerContext); err != nil {
				return "", false, err
			}
		}
		return "sha256:" + hex.EncodeToString(h.Sum(nil)), true, nil
	}
	rt, known := runtimecatalog.Lookup(f.Runtime)
	if !known {
		return "", false, fmt.Errorf("unsupported runtime %q", f.Runtime)
	}
	field("runtime", rt.Name)
	if img := bases.Images[rt.Name]; img != "" {
		if !strings.Contains(img, "@sha256:") {
			return "", false, nil
		}
		field("base-image", img)
	} else if bases.Fingerprint != nil && bases.Dockerfile != nil {
		dockerfile, err := bases.Dockerfile(rt.Name)
		if err != nil {
			return "", false, err
		}
		fp, err := bases.Fingerprint(dockerfile)
		if err != nil {
			return "", false, err
		}
		field("base", fp)
	} else if bases.FS != nil {
		if err := hashFS(h, bases.FS); err != nil {
			return "", false, fmt.Errorf("runtime bases: %w", err)
		}
	}
	field("handler", f.Handler)
	for i, l := range f.Layers {
		field("layer", fmt.Sprintf("%d %s %s", i, l.Name, l.BuildMethod))
		if err := hashTree(h, "layer", l.ContentDir); err != nil {
			return "", false, err
		}
	}
	switch {
	case f.InlineCode != "":
		field("inline-file", f.InlineFile)
		field("inline-code", f.InlineCode)
	case f.CodeArchive != "":
		fmt.Fprintf(h, "archive\n")
		if err := hashFile(h, f.CodeArchive); err != nil {
			return "", false, err
		}
	case f.CodeFile != "":
		field("file", filepath.Base(f.CodeFile))
		if err := hashFile(h, f.CodeFile); err != nil {
			return "", false, err
		}
	default:
		if err := hashTree(h, "code", f.CodeDir); err != nil {
			return "", false, err
		}
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil)), true, nil
}

// hashTree adds every file under root (path, mode, content; symlink
// targets) to h in a stable order, skipping what uploads skip.
func hashTree(h hash.Hash, label, root string) error {
	fmt.Fprintf(h, "tree %s\n", label)
	var paths []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			for _, skip := range skippedDirs() {
				if d.Name() == skip && p != root {
					return filepath.SkipDir
				}
			}
			return nil
		}
		if !skippedFile(d.Name()) {
			paths = append(paths, p)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("fingerprint %s: %w", root, err)
	}
	sort.Strings(paths)
	for _, p := range paths {
		rel, _ := filepath.Rel(root, p)
		info, err := os.Lstat(p)
		if err != nil {
			return fmt.Errorf("fingerprint %s: %w", p, err)
		}
		fmt.Fprintf(h, "%s %o %d\n", filepath.ToSlash(rel), info.Mode()&(fs.ModeType|0o111), info.Size())
		if info.Mode()&fs.ModeSymlink != 0 {
			target, err := os.Readlink(p)
			if err != nil {
				return fmt.Errorf("fingerprint %s: %w", p, err)
			}
			fmt.Fprintf(h, "-> %s\n", target)
			continue
		}
		if err := hashFile(h, p); err != nil {
			return err
		}
	}
	return nil
}

func hashFile(h hash.Hash, p string) error {
	f, err := os.Open(p)
	if err != nil {
		return fmt.Errorf("fingerprint %s: %w", p, err)
	}
	defer f.Close()
	if _, err := io.Copy(h, f); err != nil {
		return fmt.Errorf("fingerprint %s: %w", p, err)
	}
	return nil
}

func hashFS(h hash.Hash, fsys fs.FS) error {
	return fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := fs.ReadFile(fsys, p)
		if err != nil {
			return err
		}
		fmt.Fprintf(h, "base %s %d\n", p, len(data))
		h.Write(data)
		return nil
	})
}
