package backup

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/opencontainers/go-digest"
)

// Images in an archive are an OCI image layout under images/, which
// standard tools read once extracted (skopeo copy oci:DIR:REPO, crane):
//
//	images/oci-layout                    {"imageLayoutVersion": "1.0.0"}
//	images/index.json                    one descriptor an image, named by
//	                                     its repository (ref.name annotation)
//	images/blobs/sha256/<hex>            every manifest, config and layer, once
const (
	imagesLayout = "images/oci-layout"
	imagesIndex  = "images/index.json"
	blobsDir     = "images/blobs"
	// refNameAnnotation names an image of an OCI layout.
	refNameAnnotation = "org.opencontainers.image.ref.name"
	ociIndexType      = "application/vnd.oci.image.index.v1+json"
)

// ImageSource reads images from a registry (registry.Client).
type ImageSource interface {
	GetManifest(ctx context.Context, repo, reference string) (data []byte, mediaType, digest string, err error)
	GetBlob(ctx context.Context, repo, digest string) (io.ReadCloser, int64, error)
}

// ImageSink writes images into a registry (registry.Client).
type ImageSink interface {
	PutBlob(ctx context.Context, repo, digest string, size int64, r io.Reader) error
	PutManifest(ctx context.Context, repo, reference, mediaType string, data []byte) (string, error)
}

// manifestJSON is what an image manifest or index says about its parts;
// as images/index.json, an OCI image index.
type manifestJSON struct {
	SchemaVersion int          `json:"schemaVersion,omitempty"`
	MediaType     string       `json:"mediaType"`
	Config        *descriptor  `json:"config,omitempty"`
	Layers        []descriptor `json:"layers,omitempty"`
	Manifests     []descriptor `json:"manifests,omitempty"`
}

type descriptor struct {
	MediaType   string            `json:"mediaType"`
	Digest      string            `json:"digest"`
	Size        int64             `json:"size"`
	Annotations map[string]string `json:"annotations,omitempty"`
}

// SaveImages writes the images refs ("repository@digest") name, with
// every manifest and blob they need, into w as an OCI image layout. A blob
// shared by several images is written once.
func SaveImages(ctx context.Context, w *Writer, src ImageSource, refs []string) error {
	written := map[string]bool{}
	index := manifestJSON{SchemaVersion: 2, MediaType: ociIndexType, Manifests: []descriptor{}}
	addBlob := func(name, dgst string, size int64, r io.Reader) error {
		if written[dgst] {
			return nil
		}
		written[dgst] = true
		return w.Add(name, size, r)
	}
	for _, ref := range refs {
		repo, dgst, ok := strings.Cut(ref, "@")
		if !ok {
			return fmt.Errorf("image %q: want repository@digest", ref)
		}
		data, mediaType, err := saveManifest(ctx, src, repo, dgst, addBlob)
		if err != nil {
			return err
		}
		index.Manifests = append(index.Manifests, descriptor{MediaType: mediaType, Digest: dgst, Size: int64(len(data)),
			Annotations: map[string]string{refNameAnnotation: repo}})
		var m manifestJSON
		if err := json.Unmarshal(data, &m); err != nil {
			return fmt.Errorf("image %s: manifest: %w", ref, err)
		}
		manifests := []manifestJSON{m}
		for _, child := range m.Manifests {
			childData, _, err := saveManifest(ctx, src, repo, child.Digest, addBlob)
			if err != nil {
				return err
			}
			var cm manifestJSON
			if err := json.Unmarshal(childData, &cm); err != nil {
				return fmt.Errorf("image %s: manifest %s: %w", ref, child.Digest, err)
			}
			manifests = append(manifests, cm)
		}
		for _, mm := range manifests {
			for _, d := range parts(mm) {
				if written[d.Digest] {
					continue
				}
				if err := copyBlob(ctx, src, repo, d, addBlob); err != nil {
					return err
				}
			}
		}
	}
	data, err := json.MarshalIndent(index, "", "  ")
	if err != nil {
		return fmt.Errorf("encode %s: %w", imagesIndex, err)
	}
	if err := w.AddBytes(imagesLayout, []byte(`{"imageLayoutVersion":"1.0.0"}`)); err != nil {
		return err
	}
	return w.AddBytes(imagesIndex, data)
}

// parts are the config and layers a manifest names.
func parts(m manifestJSON) []descriptor {
	if m.Config == nil {
		return m.Layers
	}
	return append([]descriptor{*m.Config}, m.Layers...)
}

func saveManifest(ctx context.Context, src ImageSource, repo, dgst string, add func(name, dgst string, size int64, r io.Reader) error) ([]byte, string, error) {
	data, mediaType, _, err := src.GetManifest(ctx, repo, dgst)
	if err != nil {
		return nil, "", err
	}
	if got := digest.FromBytes(data).String(); got != dgst {
		return nil, "", fmt.Errorf("image %s@%s: the registry served a manifest of digest %s", repo, dgst, got)
	}
	if err := add(blobName(dgst), dgst, int64(len(data)), bytes.NewReader(data)); err != nil {
		return nil, "", err
	}
	return data, mediaType, nil
}

func copyBlob(ctx context.Context, src ImageSource, repo string, d descriptor, add func(name, dgst string, size int64, r io.Reader) error) error {
	rc, _, err := src.GetBlob(ctx, repo, d.Digest)
	if err != nil {
		return err
	}
	defer rc.Close()
	verifier := digest.Digest(d.Digest).Verifier()
	if err := add(blobName(d.Digest), d.Digest, d.Size, io.TeeReader(rc, verifier)); err != nil {
		return err
	}
	if !verifier.Verified() {
		return fmt.Errorf("image blob %s@%s: the registry served other bytes", repo, d.Digest)
	}
	return nil
}

func blobName(dgst string) string {
	algo, hex, _ := strings.Cut(dgst, ":")
	return blobsDir + "/" + algo + "/" + hex
}

// LoadImages pushes the images staged from an archive (dir holds the
// archive's entries as files) into dst, each under rename(repository), and
// returns the images as pushed ("repository@digest"): every config and
// layer first, then an index's child manifests, then the image's manifest.
func LoadImages(ctx context.Context, dir string, dst ImageSink, rename func(repo string) string) ([]string, error) {
	data, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(imagesIndex)))
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var index manifestJSON
	if err := json.Unmarshal(data, &index); err != nil {
		return nil, fmt.Errorf("%s: %w", imagesIndex, err)
	}
	var out []string
	for _, img := range index.Manifests {
		name := img.Annotations[refNameAnnotation]
		if name == "" {
			return nil, fmt.Errorf("%s: image %s has no %s", imagesIndex, img.Digest, refNameAnnotation)
		}
		repo := rename(name)
		m, err := stagedManifest(dir, img.Digest)
		if err != nil {
			return nil, err
		}
		children := m.Manifests
		manifests := []manifestJSON{m}
		for _, child := range children {
			cm, err := stagedManifest(dir, child.Digest)
			if err != nil {
				return nil, err
			}
			manifests = append(manifests, cm)
		}
		for _, mm := range manifests {
			for _, d := range parts(mm) {
				if err := pushBlob(ctx, dir, dst, repo, d.Digest); err != nil {
					return nil, err
				}
			}
		}
		for i, child := range children {
			mediaType := child.MediaType
			if mediaType == "" {
				mediaType = manifests[i+1].MediaType
			}
			if err := pushManifest(ctx, dir, dst, repo, child.Digest, mediaType); err != nil {
				return nil, err
			}
		}
		mediaType := img.MediaType
		if mediaType == "" {
			mediaType = m.MediaType
		}
		if err := pushManifest(ctx, dir, dst, repo, img.Digest, mediaType); err != nil {
			return nil, err
		}
		out = append(out, repo+"@"+img.Digest)
	}
	return out, nil
}

// stagedManifest reads a staged manifest blob.
func stagedManifest(dir, dgst string) (manifestJSON, error) {
	var m manifestJSON
	data, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(blobName(dgst))))
	if err != nil {
		return m, fmt.Errorf("image manifest %s: %w", dgst, err)
	}
	if err := json.Unmarshal(data, &m); err != nil {
		return m, fmt.Errorf("image manifest %s: %w", dgst, err)
	}
	return m, nil
}

func pushBlob(ctx context.Context, dir string, dst ImageSink, repo, dgst string) error {
	f, err := os.Open(filepath.Join(dir, filepath.FromSlash(blobName(dgst))))
	if err != nil {
		return fmt.Errorf("image blob %s: %w", dgst, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	return dst.PutBlob(ctx, repo, dgst, st.Size(), f)
}

func pushManifest(ctx context.Context, dir string, dst ImageSink, repo, dgst, mediaType string) error {
	data, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(blobName(dgst))))
	if err != nil {
		return fmt.Errorf("image manifest %s: %w", dgst, err)
	}
	got, err := dst.PutManifest(ctx, repo, dgst, mediaType, data)
	if err != nil {
		return err
	}
	if got != "" && got != dgst {
		return fmt.Errorf("image %s@%s: the registry stored it as %s", repo, dgst, got)
	}
	return nil
}
