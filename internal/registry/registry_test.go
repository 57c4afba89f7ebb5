package registry

import (
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/esb-dev/esb/internal/registryauth"
)

// authRegistry answers like distribution with htpasswd auth: 401 without
// the credential, else /v2/ and one manifest.
func authRegistry(t *testing.T, cred registryauth.Credential) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); !ok || u != cred.Username || p != cred.Password {
			w.Header().Set("WWW-Authenticate", `Basic realm="esb-registry"`)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		switch r.URL.Path {
		case "/v2/":
		case "/v2/library/debian/manifests/trixie-slim":
			w.Header().Set("Docker-Content-Digest", "sha256:feed")
		default:
			w.WriteHeader(http.StatusNotFound)
		}
	}))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

func TestClientSendsTheCredential(t *testing.T) {
	cred := registryauth.Credential{Username: "esb", Password: "s3cret"}
	addr := authRegistry(t, cred)

	good := Client{Addr: addr, Auth: cred}
	require.NoError(t, good.WaitReady(t.Context(), 500*time.Millisecond, 10*time.Second))
	digest, ok, err := good.Manifest(t.Context(), "library/debian", "trixie-slim")
	require.NoError(t, err)
	assert.True(t, ok)
	assert.Equal(t, "sha256:feed", digest)

	anonymous := Client{Addr: addr}
	_, _, err = anonymous.Manifest(t.Context(), "library/debian", "trixie-slim")
	assert.ErrorContains(t, err, "401")
	err = Client{Addr: addr, Auth: registryauth.Credential{Username: "esb", Password: "wrong"}}.WaitReady(t.Context(), 500*time.Millisecond, 800*time.Millisecond)
	assert.ErrorContains(t, err, "registry credential is wrong")
}

func TestLedger(t *testing.T) {
	l := Ledger{Path: filepath.Join(t.TempDir(), "registry-auth", "bases.json")}
	recorded, err := l.Check("library/debian:trixie-slim", "debian:trixie-slim", "127.0.0.1:5010", "sha256:feed")
	require.NoError(t, err)
	assert.False(t, recorded, "nothing recorded yet")

	require.NoError(t, l.Record("library/debian:trixie-slim", "sha256:feed"))
	recorded, err = l.Check("library/debian:trixie-slim", "debian:trixie-slim", "127.0.0.1:5010", "sha256:feed")
	require.NoError(t, err)
	assert.True(t, recorded)

	_, err = l.Check("library/debian:trixie-slim", "debian:trixie-slim", "127.0.0.1:5010", "sha256:planted")
	require.ErrorIs(t, err, ErrDigestMismatch)
	var mismatch *DigestMismatchError
	require.ErrorAs(t, err, &mismatch)
	assert.Equal(t, DigestMismatchError{Ref: "debian:trixie-slim", Registry: "127.0.0.1:5010", Served: "sha256:planted", Recorded: "sha256:feed", Ledger: l.Path}, *mismatch)
}
