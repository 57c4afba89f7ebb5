package compose

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

// sourceInputs are what ESB's own service images (gateway, events, agent,
// provisioner, runtime-node, nodekeeper) are built from, relative to the repository
// root.
func sourceInputs() []string {
	return []string{"go.mod", "go.sum", "internal", "services/gateway", "services/events", "services/agent", "services/provisioner", "services/runtime-node", "services/nodekeeper"}
}

// SourceTag fingerprints the sources of ESB's own service images. Compose
// tags those images with it (ESB_IMAGE_TAG), so changed sources make a tag
// compose does not have yet and `up` builds it, with no --build and no
// stale image after an edit. Unchanged sources reuse the built image.
func SourceTag(dir string) (string, error) {
	h := sha256.New()
	for _, in := range sourceInputs() {
		root := filepath.Join(dir, in)
		err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			rel, _ := filepath.Rel(dir, p)
			fmt.Fprintf(h, "%s\n", filepath.ToSlash(rel))
			f, err := os.Open(p)
			if err != nil {
				return err
			}
			defer f.Close()
			_, err = io.Copy(h, f)
			return err
		})
		if err != nil {
			return "", fmt.Errorf("fingerprint service sources: %w", err)
		}
	}
	return "src-" + hex.EncodeToString(h.Sum(nil))[:12], nil
}

// ImageTagFile, in a site installed from a platform bundle (compose files
// and scripts, no sources), names the tag of the service images the
// bundle loaded.
const ImageTagFile = "compose/image-tag"

var imageTagPattern = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$`)

// ImageTag is the tag of ESB's own service images for the ESB directory
// dir: the one ImageTagFile names in a site installed from a platform
// bundle (which has no sources to fingerprint), else the SourceTag of the
// checkout.
func ImageTag(dir string) (string, error) {
	data, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(ImageTagFile)))
	if errors.Is(err, fs.ErrNotExist) {
		return SourceTag(dir)
	}
	if err != nil {
		return "", fmt.Errorf("service image tag: %w", err)
	}
	tag := strings.TrimSpace(string(data))
	if !imageTagPattern.MatchString(tag) {
		return "", fmt.Errorf("service image tag %q in %s: not a Docker tag", tag, filepath.Join(dir, ImageTagFile))
	}
	return tag, nil
}
