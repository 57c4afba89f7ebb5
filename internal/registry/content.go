package registry

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
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

// maxManifestBytes bounds a manifest read: the registry itself refuses
// manifests over 4 MB.
const maxManifestBytes = 4 << 20

// maxListBytes bounds a catalog or tag list page.
const maxListBytes = 8 << 20

// do sends req to the registry with the env's credential. Every call of
// the client goes through it, so the credential is added in this one place.
func (c Client) do(req *http.Request) (*http.Response, error) {
	c.authorize(req)
	return c.http().Do(req)
}

func (c Client) request(ctx context.Context, method, path string, body []byte, header http.Header) (*http.Response, error) {
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://"+c.Addr+path, r)
	if err != nil {
		return nil, err
	}
	for k, v := range header {
		req.Header[k] = v
	}
	return c.do(req)
}

// Repositories lists every repository of the registry (the catalog),
// following its pagination.
func (c Client) Repositories(ctx context.Context) ([]string, error) {
	var out []string
	path := "/v2/_catalog?n=1000"
	for path != "" {
		var page struct {
			Repositories []string `json:"repositories"`
		}
		next, err := c.getList(ctx, path, &page)
		if err != nil {
			return nil, fmt.Errorf("registry catalog: %w", err)
		}
		out = append(out, page.Repositories...)
		path = next
	}
	return out, nil
}

// Tags lists the tags of repo; a repository the registry does not know
// has none.
func (c Client) Tags(ctx context.Context, repo string) ([]string, error) {
	var out []string
	path := "/v2/" + repo + "/tags/list?n=1000"
	for path != "" {
		var page struct {
			Tags []string `json:"tags"`
		}
		next, err := c.getList(ctx, path, &page)
		if errors.Is(err, errNotFound) {
			return nil, nil
		}
		if err != nil {
			return nil, fmt.Errorf("registry tags of %s: %w", repo, err)
		}
		out = append(out, page.Tags...)
		path = next
	}
	return out, nil
}

var errNotFound = errors.New("not found")

// getList GETs one page of a list into v and returns the path of the next
// page from the Link header ("" when it was the last).
func (c Client) getList(ctx context.Context, path string, v any) (string, error) {
	resp, err := c.request(ctx, http.MethodGet, path, nil, nil)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound {
		return "", errNotFound
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("GET %s: %s", path, resp.Status)
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxListBytes)).Decode(v); err != nil {
		return "", fmt.Errorf("GET %s: %w", path, err)
	}
	return nextLink(resp.Header.Get("Link")), nil
}

// nextLink takes the path out of a Link header such as
// `</v2/_catalog?last=a&n=1000>; rel="next"`.
func nextLink(h string) string {
	start, end := strings.Index(h, "<"), strings.Index(h, ">")
	if start < 0 || end <= start || !strings.Contains(h, `rel="next"`) {
		return ""
	}
	u, err := url.Parse(h[start+1 : end])
	if err != nil {
		return ""
	}
	return u.RequestURI()
}

// GetManifest reads repo's manifest by tag or digest: its bytes, media
// type and digest, as stored (a re-PUT of the same bytes keeps the digest).
func (c Client) GetManifest(ctx context.Context, repo, reference string) (body []byte, mediaType, digest string, err error) {
	resp, err := c.request(ctx, http.MethodGet, "/v2/"+repo+"/manifests/"+reference, nil, http.Header{"Accept": {manifestAccept}})
	if err != nil {
		return nil, "", "", fmt.Errorf("registry manifest %s:%s: %w", repo, reference, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, "", "", fmt.Errorf("registry manifest %s:%s: %s", repo, reference, resp.Status)
	}
	body, err = io.ReadAll(io.LimitReader(resp.Body, maxManifestBytes))
	if err != nil {
		return nil, "", "", fmt.Errorf("registry manifest %s:%s: %w", repo, reference, err)
	}
	return body, resp.Header.Get("Content-Type"), resp.Header.Get("Docker-Content-Digest"), nil
}

// GetBlob opens repo's blob digest; the caller closes it.
func (c Client) GetBlob(ctx context.Context, repo, digest string) (io.ReadCloser, int64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+c.Addr+"/v2/"+repo+"/blobs/"+digest, nil)
	if err != nil {
		return nil, 0, fmt.Errorf("registry blob %s@%s: %w", repo, digest, err)
	}
	resp, err := c.do(req)
	if err != nil {
		return nil, 0, fmt.Errorf("registry blob %s@%s: %w", repo, digest, err)
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		return nil, 0, fmt.Errorf("registry blob %s@%s: %s", repo, digest, resp.Status)
	}
	return resp.Body, resp.ContentLength, nil
}

// PutManifest stores body as repo's manifest under reference (a tag) and
// returns its digest. The blobs it names must be in the repository.
func (c Client) PutManifest(ctx context.Context, repo, reference, mediaType string, body []byte) (string, error) {
	resp, err := c.request(ctx, http.MethodPut, "/v2/"+repo+"/manifests/"+reference, body, http.Header{"Content-Type": {mediaType}})
	if err != nil {
		return "", fmt.Errorf("registry put manifest %s:%s: %w", repo, reference, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return "", fmt.Errorf("registry put manifest %s:%s: %s %s", repo, reference, resp.Status, strings.TrimSpace(string(msg)))
	}
	return resp.Header.Get("Docker-Content-Digest"), nil
}

// DeleteManifest deletes repo's manifest digest and with it every tag that
// points at it; its blobs stay until the registry's garbage collection.
// A manifest already gone is not an error.
func (c Client) DeleteManifest(ctx context.Context, repo, digest string) error {
	resp, err := c.request(ctx, http.MethodDelete, "/v2/"+repo+"/manifests/"+digest, nil, nil)
	if err != nil {
		return fmt.Errorf("registry delete %s@%s: %w", repo, digest, err)
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusAccepted, http.StatusOK, http.StatusNotFound:
		return nil
	default:
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return fmt.Errorf("registry delete %s@%s: %s %s", repo, digest, resp.Status, strings.TrimSpace(string(msg)))
	}
}

// BlobExists reports whether repo serves blob digest.
func (c Client) BlobExists(ctx context.Context, repo, digest string) (bool, error) {
	resp, err := c.request(ctx, http.MethodHead, "/v2/"+repo+"/blobs/"+digest, nil, nil)
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

// PushBlob uploads data into repo and returns its digest.
func (c Client) PushBlob(ctx context.Context, repo string, data []byte) (string, error) {
	sum := sha256.Sum256(data)
	digest := "sha256:" + hex.EncodeToString(sum[:])
	return digest, c.PutBlob(ctx, repo, digest, int64(len(data)), bytes.NewReader(data))
}

// PutBlob uploads size bytes of r as repo's blob digest in one request (a
// monolithic upload; the registry checks the digest). A blob the
// repository has already is not sent again.
func (c Client) PutBlob(ctx context.Context, repo, digest string, size int64, r io.Reader) error {
	if ok, err := c.BlobExists(ctx, repo, digest); err != nil || ok {
		return err
	}
	resp, err := c.request(ctx, http.MethodPost, "/v2/"+repo+"/blobs/uploads/", nil, nil)
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
	resp, err = c.do(put)
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
