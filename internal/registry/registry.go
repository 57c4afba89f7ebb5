// Package registry talks to the platform's image registry over the
// distribution HTTP API, with the env's credential: readiness, manifest
// lookups, and seeding it with base images from the local Docker engine
// so an air-gapped Dagger engine can resolve docker.io refs through its
// mirror, each seeded digest recorded (Ledger) and checked before a build
// starts from it.
package registry

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/esb-dev/esb/internal/registryauth"
)

// Client addresses one registry, e.g. 127.0.0.1:5010 (plain HTTP: the
// platform registry only listens on loopback and the platform network).
type Client struct {
	Addr string
	HTTP *http.Client // http.DefaultClient when nil
	// Auth is the env's registry credential, sent with every request and
	// every push or pull through the Docker engine; empty is anonymous.
	Auth registryauth.Credential
	// Ledger records the digest of every base image ESB seeded into the
	// registry (Mirror); required by Mirror.
	Ledger Ledger
}

// authorize adds the client's credential to req.
func (c Client) authorize(req *http.Request) {
	if !c.Auth.Empty() {
		req.SetBasicAuth(c.Auth.Username, c.Auth.Password)
	}
}

func (c Client) http() *http.Client {
	if c.HTTP != nil {
		return c.HTTP
	}
	return http.DefaultClient
}

// WaitReady polls GET /v2/ every interval until it answers 200, for at most
// timeout. The seed saw deploys right after `compose up` fail with
// "connection refused": the registry container was running but not serving.
func (c Client) WaitReady(ctx context.Context, interval, timeout time.Duration) error {
	url := "http://" + c.Addr + "/v2/"
	deadline := time.Now().Add(timeout)
	for {
		last := c.probe(ctx, url, interval)
		if last == "" {
			return nil
		}
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("registry %s: %w", c.Addr, err)
		}
		if !time.Now().Add(interval).Before(deadline) {
			return fmt.Errorf("registry %s not ready after %s (GET %s: %s): is the platform up? (eval \"$(esb env -e ENV)\" && docker compose up -d --wait)", c.Addr, timeout, url, last)
		}
		select {
		case <-ctx.Done():
		case <-time.After(interval):
		}
	}
}

// probe does one GET of url, bounded by interval, and returns "" on 200,
// else what went wrong.
func (c Client) probe(ctx context.Context, url string, interval time.Duration) string {
	ctx, cancel := context.WithTimeout(ctx, interval)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err.Error()
	}
	resp, err := c.do(req)
	if err != nil {
		return err.Error()
	}
	resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK:
		return ""
	case http.StatusUnauthorized:
		return resp.Status + " (the env's registry credential is wrong: was the env started with another one? `esb env` makes it once, in CONFIG_DIR/../registry-auth)"
	}
	return resp.Status
}

// manifestAccept lists the manifest media types a lookup accepts: image
// indexes and single manifests, OCI and Docker.
var manifestAccept = strings.Join([]string{
	"application/vnd.oci.image.index.v1+json",
	"application/vnd.oci.image.manifest.v1+json",
	"application/vnd.docker.distribution.manifest.list.v2+json",
	"application/vnd.docker.distribution.manifest.v2+json",
}, ", ")

// Manifest reports whether repo:reference (a tag or a digest) exists and,
// when it does, its digest.
func (c Client) Manifest(ctx context.Context, repo, reference string) (digest string, ok bool, err error) {
	url := fmt.Sprintf("http://%s/v2/%s/manifests/%s", c.Addr, repo, reference)
	req, err := http.NewRequestWithContext(ctx, http.MethodHead, url, nil)
	if err != nil {
		return "", false, fmt.Errorf("registry manifest %s:%s: %w", repo, reference, err)
	}
	req.Header.Set("Accept", manifestAccept)
	resp, err := c.do(req)
	if err != nil {
		return "", false, fmt.Errorf("registry manifest %s:%s: %w", repo, reference, err)
	}
	resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK:
		return resp.Header.Get("Docker-Content-Digest"), true, nil
	case http.StatusNotFound:
		return "", false, nil
	default:
		return "", false, fmt.Errorf("registry manifest %s:%s: %s", repo, reference, resp.Status)
	}
}
