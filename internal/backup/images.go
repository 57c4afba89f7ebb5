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

// Images in an archive:
//
//	images/index.json                    the images, as Image records
//	images/blobs/sha256/<hex>            every manifest, config and layer, once
const (
	imagesIndex = "images/index.json"
	blobsDir    = "images/blobs"
)

// Image is one image of an archive: a repository (the registry path, no
// host) at a manifest digest.
type Image struct {
	Repository string `json:"repository"`
	Digest     string `json:"digest"`
	MediaType  string `json:"media_type"`
	// Manifests are the digests and media types of an index's children,
	// which are stored as blobs too.
	Manifests []Manifested `json:"manifests,omitempty"`
	// Blobs are the configs and layers the manifests name.
	Blobs []string `json:"blobs"`
}

// Manifested is a child manifest of an index.
type Manifested struct {
	Digest    string `json:"digest"`
	MediaType string `json:"media_type"`
}

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

// manifestJSON is what an image manifest or index says about its parts.
type manifestJSON struct {
	MediaType string       `json:"mediaType"`
	Config    *descriptor  `json:"config"`
	Layers    []descriptor `json:"layers"`
	Manifests []descriptor `json:"manifests"`
}

type descriptor struct {
	MediaType string `json:"mediaType"`
	Digest    string `json:"digest"`
	Size      int64  `json:"size"`
}

// SaveImages writes the images refs ("repository@digest") name, with
// every manifest and blob they need, into w. A blob shared by several
// images is written once.
func SaveImages(ctx context.Context, w *Writer, src ImageSource, refs []string) error {
	written := map[string]bool{}
	var index []Image
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
		img := Image{Repository: repo, Digest: dgst}
		data, mediaType, err := saveManifest(ctx, src, repo, dgst, addBlob)
		if err != nil {
			return err
		}
		img.MediaType = mediaType
		var m manifestJSON
		if err := json.Unmarshal(data, &m); err != nil {
			return fmt.Errorf("image %s: manifest: %w", ref, err)
		}
		manifests := []manifestJSON{m}
		for _, child := range m.Manifests {
			childData, childType, err := saveManifest(ctx, src, repo, child.Digest, addBlob)
			if err != nil {
				return err
			}
			img.Manifests = append(img.Manifests, Manifested{Digest: child.Digest, MediaType: childType})
			var cm manifestJSON
			if err := json.Unmarshal(childData, &cm); err != nil {
				return fmt.Errorf("image %s: manifest %s: %w", ref, child.Digest, err)
			}
			manifests = append(manifests, cm)
		}
		for _, mm := range manifests {
			parts := mm.Layers
			if mm.Config != nil {
				parts = append([]descriptor{*mm.Config}, parts...)
			}
			for _, d := range parts {
				img.Blobs = append(img.Blobs, d.Digest)
				if written[d.Digest] {
					continue
				}
				if err := copyBlob(ctx, src, repo, d, addBlob); err != nil {
					return err
				}
			}
		}
		index = append(index, img)
	}
	data, err := json.MarshalIndent(index, "", "  ")
	if err != nil {
		return fmt.Errorf("encode %s: %w", imagesIndex, err)
	}
	return w.AddBytes(imagesIndex, data)
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
// returns the images as pushed ("repository@digest").
func LoadImages(ctx context.Context, dir string, dst ImageSink, rename func(repo string) string) ([]string, error) {
	data, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(imagesIndex)))
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var index []Image
	if err := json.Unmarshal(data, &index); err != nil {
		return nil, fmt.Errorf("%s: %w", imagesIndex, err)
	}
	var out []string
	for _, img := range index {
		repo := rename(img.Repository)
		for _, b := range img.Blobs {
			if err := pushBlob(ctx, dir, dst, repo, b); err != nil {
				return nil, err
			}
		}
		for _, m := range img.Manifests {
			if err := pushManifest(ctx, dir, dst, repo, m.Digest, m.MediaType); err != nil {
				return nil, err
			}
		}
		if err := pushManifest(ctx, dir, dst, repo, img.Digest, img.MediaType); err != nil {
			return nil, err
		}
		out = append(out, repo+"@"+img.Digest)
	}
	return out, nil
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
