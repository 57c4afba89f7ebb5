// Package executable places the agent's helper commands (joinstderr,
// sandboxinit) where function containers mount them from: a volume the
// agent shares with the runtime that starts the containers.
package executable

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// Place copies the executable src to dst, replacing dst at once
// so a container that has the old copy mounted keeps it whole.
func Place(src, dst string) (string, error) {
	in, err := os.Open(src)
	if err != nil {
		return "", fmt.Errorf("place %s: %w", src, err)
	}
	defer in.Close()
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return "", fmt.Errorf("place %s: %w", src, err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(dst), filepath.Base(dst)+".*")
	if err != nil {
		return "", fmt.Errorf("place %s: %w", src, err)
	}
	defer os.Remove(tmp.Name())
	_, err = io.Copy(tmp, in)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp.Name(), 0o755)
	}
	if err == nil {
		err = os.Rename(tmp.Name(), dst)
	}
	if err != nil {
		return "", fmt.Errorf("place %s in %s: %w", src, dst, err)
	}
	return dst, nil
}
