package provision

import (
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/esb-dev/esb/internal/runtimeconfig"
)

// Manifest is the resources.yml a run works from.
type Manifest struct {
	Path string
	File runtimeconfig.ResourcesFile
}

// ReadManifest reads and decodes the first of paths that exists; empty
// paths are skipped. found is false when none exists, which is not an
// error: an env that never declared a resource has nothing to provision.
// A file that exists but cannot be read or decoded is an error; decoding
// problems come from runtimeconfig as `resources.yml:LINE:COL: field: msg`.
func ReadManifest(paths ...string) (m Manifest, found bool, err error) {
	for _, path := range paths {
		if path == "" {
			continue
		}
		data, err := os.ReadFile(path)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return Manifest{}, false, fmt.Errorf("read manifest: %w", err)
		}
		file, err := runtimeconfig.DecodeResources(data)
		if err != nil {
			return Manifest{}, false, fmt.Errorf("decode manifest %s: %w", path, err)
		}
		return Manifest{Path: path, File: file}, true, nil
	}
	return Manifest{}, false, nil
}
