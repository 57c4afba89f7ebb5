package registry

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/distribution/reference"
	"github.com/opencontainers/go-digest"
)

// PinnedRef is image's repository at dgst ("host/repo@sha256:..."), the
// tag dropped; image itself when either does not parse.
func PinnedRef(image, dgst string) string {
	named, err := reference.ParseNormalizedNamed(image)
	if err != nil {
		return image
	}
	canonical, err := reference.WithDigest(reference.TrimNamed(named), digest.Digest(dgst))
	if err != nil {
		return image
	}
	return canonical.String()
}

// GetManifest fetches repo's manifest at reference (a tag or a digest):
// its bytes, media type and digest.
func (c Client) GetManifest(ctx context.Context, repo, reference string) (data []byte, mediaType, digest string, err error) {
	u := fmt.Sprintf("http://%s/v2/%s/manifests/%s", c.Addr, repo, reference)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, "", "", fmt.Errorf("registry manifest %s@%s: %w", repo, reference, err)
	}
	req.Header.Set("Accept", manifestAccept)
	c.authorize(req)
	resp, err := c.http().Do(req)
	if err != nil {
		return nil, "", "", fmt.Errorf("registry manifest %s@%s: %w", repo, reference, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, "", "", fmt.Errorf("registry manifest %s@%s: %s", repo, reference, resp.Status)
	}
	data, err = io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return nil, "", "", fmt.Errorf("registry manifest %s@%s: %w", repo, reference, err)
	}
	return data, resp.Header.Get("Content-Type"), resp.Header.Get("Docker-Content-Digest"), nil
}

// GetBlob opens repo's blob digest; the caller closes it.
func (c Client) GetBlob(ctx context.Context, repo, digest string) (io.ReadCloser, int64, error) {
	u := fmt.Sprintf("http://%s/v2/%s/blobs/%s", c.Addr, repo, digest)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, 0, fmt.Errorf("registry blob %s@%s: %w", repo, digest, err)
	}
	c.authorize(req)
	resp, err := c.http().Do(req)
	if err != nil {
		return nil, 0, fmt.Errorf("registry blob %s@%s: %w", repo, digest, err)
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		return nil, 0, fmt.Errorf("registry blob %s@%s: %s", repo, digest, resp.Status)
	}
	return resp.Body, resp.ContentLength, nil
}

// PutBlob uploads size bytes of r as repo's blob digest, in one request
// (the registry checks the digest). A blob the repository has already is
// not sent again.
func (c Client) PutBlob(ctx context.Context, repo, digest string, size int64, r io.Reader) error {
	if ok, err := c.hasBlob(ctx, repo, digest); err != nil || ok {
		return err
	}
	start := fmt.Sprintf("http://%s/v2/%s/blobs/uploads/", c.Addr, repo)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, start, nil)
	if err != nil {
		return fmt.Errorf("registry upload %s@%s: %w", repo, digest, err)
	}
	c.authorize(req)
	resp, err := c.http().Do(req)
	if err != nil {
		return fmt.Errorf("registry upload %s@%s: %w", repo, digest, err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		return fmt.Errorf("registry upload %s@%s: start: %s", repo, digest, resp.Status)
	}
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		return fmt.Errorf("registry upload %s@%s: location: %w", repo, digest, err)
	}
	if !loc.IsAbs() {
		loc = (&url.URL{Scheme: "http", Host: c.Addr}).ResolveReference(loc)
	}
	q := loc.Query()
	q.Set("digest", digest)
	loc.RawQuery = q.Encode()
	put, err := http.NewRequestWithContext(ctx, http.MethodPut, loc.String(), r)
	if err != nil {
		return fmt.Errorf("registry upload %s@%s: %w", repo, digest, err)
	}
	put.ContentLength = size
	put.Header.Set("Content-Type", "application/octet-stream")
	put.Header.Set("Content-Length", strconv.FormatInt(size, 10))
	c.authorize(put)
	resp, err = c.http().Do(put)
	if err != nil {
		return fmt.Errorf("registry upload %s@%s: %w", repo, digest, err)
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		return fmt.Errorf("registry upload %s@%s: %s %s", repo, digest, resp.Status, strings.TrimSpace(string(body)))
	}
	return nil
}

// PutManifest stores data as repo's manifest under reference (a tag, or
// its digest) and returns the digest the registry computed.
func (c Client) PutManifest(ctx context.Context, repo, reference, mediaType string, data []byte) (string, error) {
	u := fmt.Sprintf("http://%s/v2/%s/manifests/%s", c.Addr, repo, reference)
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, u, bytes.NewReader(data))
	if err != nil {
		return "", fmt.Errorf("registry manifest %s:%s: %w", repo, reference, err)
	}
	req.Header.Set("Content-Type", mediaType)
	c.authorize(req)
	resp, err := c.http().Do(req)
	if err != nil {
		return "", fmt.Errorf("registry manifest %s:%s: %w", repo, reference, err)
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		return "", fmt.Errorf("registry manifest %s:%s: %s %s", repo, reference, resp.Status, strings.TrimSpace(string(body)))
	}
	return resp.Header.Get("Docker-Content-Digest"), nil
}

func (c Client) hasBlob(ctx context.Context, repo, digest string) (bool, error) {
	u := fmt.Sprintf("http://%s/v2/%s/blobs/%s", c.Addr, repo, digest)
	req, err := http.NewRequestWithContext(ctx, http.MethodHead, u, nil)
	if err != nil {
		return false, fmt.Errorf("registry blob %s@%s: %w", repo, digest, err)
	}
	c.authorize(req)
	resp, err := c.http().Do(req)
	if err != nil {
		return false, fmt.Errorf("registry blob %s@%s: %w", repo, digest, err)
	}
	resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK:
		return true, nil
	case http.StatusNotFound:
		return false, nil
	default:
		return false, fmt.Errorf("registry blob %s@%s: %s", repo, digest, resp.Status)
	}
}
