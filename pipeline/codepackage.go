package pipeline

import (
	"archive/zip"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// MaxUnzippedSize is Lambda's limit on a function's deployment package
// once extracted (code and layers); an archive over it is refused, as
// Lambda would refuse it.
const MaxUnzippedSize = 250 << 20

// ExtractArchive extracts a .zip or .jar deployment package into dst the
// way Lambda fills /var/task from it: paths as stored, the permission bits
// the archive records (0644 for files, 0755 for directories where it
// records none, as archives made on Windows do), symbolic links kept. An
// entry that would land outside dst, a link pointing outside it, or a
// total over MaxUnzippedSize is an error: the package is refused whole.
func ExtractArchive(src, dst string) error {
	zr, err := zip.OpenReader(src)
	if err != nil {
		return fmt.Errorf("open archive %s: %w", src, err)
	}
	defer zr.Close()
	var total uint64
	for _, zf := range zr.File {
		name, err := entryPath(zf.Name)
		if err != nil {
			return fmt.Errorf("archive %s: %w", src, err)
		}
		if name == "" {
			continue
		}
		target := filepath.Join(dst, filepath.FromSlash(name))
		mode := zf.Mode()
		if !unixMode(zf) {
			// Only the type is known; permissions get the defaults.
			mode &= fs.ModeDir | fs.ModeSymlink
		}
		switch {
		case mode.IsDir():
			if err := os.MkdirAll(target, dirPerm(mode)); err != nil {
				return fmt.Errorf("archive %s: %w", src, err)
			}
			continue
		case mode&fs.ModeSymlink != 0:
			if err := extractLink(zf, name, target); err != nil {
				return fmt.Errorf("archive %s: %w", src, err)
			}
			continue
		}
		total += zf.UncompressedSize64
		if total > MaxUnzippedSize {
			return fmt.Errorf("archive %s: over %d MB once extracted (Lambda's limit for a deployment package)", src, MaxUnzippedSize>>20)
		}
		if err := extractFile(zf, target, filePerm(mode)); err != nil {
			return fmt.Errorf("archive %s: %s: %w", src, name, err)
		}
	}
	return nil
}

// unixMode reports an entry whose archiver recorded Unix permission bits
// (Unix or macOS); others only say file or directory.
func unixMode(zf *zip.File) bool {
	creator := zf.CreatorVersion >> 8
	return creator == 3 || creator == 19
}

// entryPath cleans an entry name and refuses one that leaves the package.
func entryPath(name string) (string, error) {
	clean := path.Clean("/" + strings.ReplaceAll(name, `\`, "/"))[1:]
	if strings.HasPrefix(name, "/") || strings.Contains("/"+strings.ReplaceAll(name, `\`, "/")+"/", "/../") {
		return "", fmt.Errorf("entry %q points outside the package", name)
	}
	return clean, nil
}

func dirPerm(mode fs.FileMode) fs.FileMode {
	if mode.Perm() == 0 {
		return 0o755
	}
	return mode.Perm() | 0o700 // the build must be able to write into it
}

func filePerm(mode fs.FileMode) fs.FileMode {
	if mode.Perm() == 0 {
		return 0o644
	}
	return mode.Perm()
}

func extractFile(zf *zip.File, target string, perm fs.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
		return err
	}
	in, err := zf.Open()
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(target, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, perm)
	if err != nil {
		return err
	}
	// The declared size is what the limit counted; a larger stream is a
	// corrupt or hostile archive.
	n, err := io.Copy(out, io.LimitReader(in, int64(zf.UncompressedSize64)+1))
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err == nil && uint64(n) > zf.UncompressedSize64 {
		err = errors.New("more data than the archive declares")
	}
	if err != nil {
		return err
	}
	return os.Chmod(target, perm) // OpenFile's mode is masked by the umask
}

func extractLink(zf *zip.File, name, target string) error {
	in, err := zf.Open()
	if err != nil {
		return err
	}
	defer in.Close()
	data, err := io.ReadAll(io.LimitReader(in, 4096))
	if err != nil {
		return err
	}
	link := string(data)
	resolved := path.Join(path.Dir(name), link)
	if path.IsAbs(link) || resolved == ".." || strings.HasPrefix(resolved, "../") {
		return fmt.Errorf("link %s -> %s points outside the package", name, link)
	}
	if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
		return err
	}
	return os.Symlink(link, target)
}
