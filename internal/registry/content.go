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
	"strings"
)

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

// GetManifest reads repo's manifest by tag or digest: its bytes and media
// type, as stored (a re-PUT of the same bytes keeps the digest).
func (c Client) GetManifest(ctx context.Context, repo, reference string) (body []byte, mediaType string, err error) {
	resp, err := c.request(ctx, http.MethodGet, "/v2/"+repo+"/manifests/"+reference, nil, http.Header{"Accept": {manifestAccept}})
	if err != nil {
		return nil, "", fmt.Errorf("registry manifest %s:%s: %w", repo, reference, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, "", fmt.Errorf("registry manifest %s:%s: %s", repo, reference, resp.Status)
	}
	body, err = io.ReadAll(io.LimitReader(resp.Body, maxManifestBytes))
	if err != nil {
		return nil, "", fmt.Errorf("registry manifest %s:%s: %w", repo, reference, err)
	}
	return body, resp.Header.Get("Content-Type"), nil
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

// PushBlob uploads data into repo (a monolithic upload) and returns its
// digest; a blob the repository has is not sent again.
func (c Client) PushBlob(ctx context.Context, repo string, data []byte) (string, error) {
	sum := sha256.Sum256(data)
	digest := "sha256:" + hex.EncodeToString(sum[:])
	if ok, err := c.BlobExists(ctx, repo, digest); err != nil || ok {
		return digest, err
	}
	resp, err := c.request(ctx, http.MethodPost, "/v2/"+repo+"/blobs/uploads/", nil, nil)
	if err != nil {
		return "", fmt.Errorf("registry upload to %s: %w", repo, err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		return "", fmt.Errorf("registry upload to %s: %s", repo, resp.Status)
	}
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		return "", fmt.Errorf("registry upload to %s: location: %w", repo, err)
	}
	q := loc.Query()
	q.Set("digest", digest)
	loc.RawQuery = q.Encode()
	resp, err = c.request(ctx, http.MethodPut, loc.RequestURI(), data, http.Header{"Content-Type": {"application/octet-stream"}})
	if err != nil {
		return "", fmt.Errorf("registry upload to %s: %w", repo, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		return "", fmt.Errorf("registry upload to %s: %s", repo, resp.Status)
	}
	return digest, nil
}
