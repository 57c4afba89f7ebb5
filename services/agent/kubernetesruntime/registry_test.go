package kubernetesruntime

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/esb-dev/esb/internal/registryauth"
	"github.com/esb-dev/esb/services/agent/engine"
)

// fakeRegistry answers manifest requests for one repository and digest,
// only with the env's credential, and records who asked.
func fakeRegistry(t *testing.T, repo, dgst string) (*httptest.Server, *[]string) {
	var mu sync.Mutex
	var seen []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.Method+" "+r.URL.Path)
		mu.Unlock()
		if user, pw, ok := r.BasicAuth(); !ok || user != "esb" || pw != "pw" {
			w.Header().Set("WWW-Authenticate", `Basic realm="registry"`)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		ref, ok := strings.CutPrefix(r.URL.Path, "/v2/"+repo+"/manifests/")
		if !ok || (ref != dgst && ref != "latest") {
			w.WriteHeader(http.StatusNotFound)
			return
		}
		w.Header().Set("Content-Type", "application/vnd.oci.image.manifest.v1+json")
		w.Header().Set("Docker-Content-Digest", dgst)
		w.Header().Set("Content-Length", "2")
		if r.Method == http.MethodGet {
			_, _ = w.Write([]byte("{}"))
		}
	}))
	t.Cleanup(srv.Close)
	return srv, &seen
}

func TestImagesAreTheRegistrys(t *testing.T) {
	srv, seen := fakeRegistry(t, "esb-dev/hello", testDigest)
	host := strings.TrimPrefix(srv.URL, "http://")
	rt := &Runtime{cfg: Config{Registry: "10.0.0.5:5010"}, resolver: newResolver([]string{host}, registryauth.Credential{Username: "esb", Password: "pw"})}
	ctx := t.Context()

	img, err := rt.InspectImage(ctx, host+"/esb-dev/hello@"+testDigest)
	require.NoError(t, err)
	assert.Equal(t, testDigest, img.ID)
	assert.Equal(t, []string{host + "/esb-dev/hello@" + testDigest}, img.RepoDigests)
	img, err = rt.InspectImage(ctx, host+"/esb-dev/hello:latest")
	require.NoError(t, err)
	assert.Equal(t, testDigest, img.ID, "a tag resolves to its digest")
	require.NoError(t, rt.PullImage(ctx, host+"/esb-dev/hello@"+testDigest))

	missing := host + "/esb-dev/hello@sha256:" + strings.Repeat("e", 64)
	_, err = rt.InspectImage(ctx, missing)
	assert.ErrorIs(t, err, engine.ErrNotFound)
	err = rt.PullImage(ctx, missing)
	assert.ErrorIs(t, err, engine.ErrNotFound)
	assert.Contains(t, err.Error(), "10.0.0.5:5010", "says where the nodes pull from")

	_, err = rt.InspectImage(ctx, testDigest)
	assert.ErrorIs(t, err, engine.ErrNotFound, "an engine's image ID")
	assert.NotEmpty(t, *seen)

	// The credential goes to the env's registry only.
	anon := &Runtime{resolver: newResolver([]string{"registry:5000"}, registryauth.Credential{Username: "esb", Password: "pw"})}
	_, err = anon.InspectImage(ctx, host+"/esb-dev/hello@"+testDigest)
	assert.Error(t, err, "another host gets no credential")
}
