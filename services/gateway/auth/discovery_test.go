package auth

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/esb-dev/esb/internal/runtimeconfig"
)

// fakeIssuer publishes a discovery document and the keys it holds, and
// counts the fetches of each.
type fakeIssuer struct {
	srv        *httptest.Server
	mu         sync.Mutex
	keys       map[string]*rsa.PublicKey
	docs, sets atomic.Int32
	delay      time.Duration
}

func newFakeIssuer(t *testing.T, keys map[string]*rsa.PublicKey) *fakeIssuer {
	f := &fakeIssuer{keys: keys}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(f.delay)
		switch r.URL.Path {
		case "/.well-known/openid-configuration":
			f.docs.Add(1)
			w.Write([]byte(`{"issuer":"` + f.srv.URL + `","jwks_uri":"` + f.srv.URL + `/keys"}`))
		case "/keys":
			f.sets.Add(1)
			f.mu.Lock()
			defer f.mu.Unlock()
			w.Write(jwksDoc(t, f.keys))
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeIssuer) publish(keys map[string]*rsa.PublicKey) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.keys = keys
}

func TestDiscoveredKeys(t *testing.T) {
	fileKey, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	k1, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	k2, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)

	// timeout bounds the fetch in real time: long but for the test of the
	// deadline itself, so a loaded machine does not cut a fetch short.
	setup := func(t *testing.T, issuerURL string, timeout time.Duration) (check func(key *rsa.PrivateKey, kid string) int, clock *time.Time, logs *bytes.Buffer) {
		dir := t.TempDir()
		writeJWKS(t, dir, &fileKey.PublicKey) // kid k1 names the file's key
		now := time.Unix(1_700_000_000, 0)
		logs = &bytes.Buffer{}
		var logMu sync.Mutex
		e := New(dir, Options{
			Now:    func() time.Time { return now },
			Logger: slog.New(slog.NewTextHandler(lockedWriter{&logMu, logs}, nil)),
			// Real time bounds the fetch; the clock above the cache.
			DiscoveryTimeout: timeout, DiscoveryTTL: time.Hour, DiscoveryInterval: time.Minute,
		})
		az := &runtimeconfig.Authorizer{Name: "J", Type: runtimeconfig.AuthorizerJWT, IdentitySources: []string{"header:Authorization"},
			Issuer: issuerURL, Audience: []string{"app"}}
		check = func(key *rsa.PrivateKey, kid string) int {
			token := signJWTKid(t, key, kid, map[string]any{"iss": issuerURL, "aud": "app", "exp": now.Add(time.Hour).Unix()})
			d, err := e.Check(t.Context(), Request{
				HTTP: newRequest(t, map[string]string{"Authorization": "Bearer " + token}, ""),
				Auth: &runtimeconfig.RouteAuth{Authorizer: az},
			})
			require.NoError(t, err)
			if d.Refused() {
				return d.Status
			}
			return 200
		}
		return check, &now, logs
	}

	t.Run("a key the file lacks comes from the issuer; rotation is followed", func(t *testing.T) {
		iss := newFakeIssuer(t, map[string]*rsa.PublicKey{"i1": &k1.PublicKey})
		check, clock, _ := setup(t, iss.srv.URL, 10*time.Second)
		assert.Equal(t, 200, check(fileKey, "k1"), "the file's key")
		assert.Zero(t, iss.docs.Load(), "a kid of the file needs no fetch")
		assert.Equal(t, 200, check(k1, "i1"))
		assert.Equal(t, 200, check(k1, "i1"))
		assert.EqualValues(t, 1, iss.sets.Load(), "cached")
		assert.Equal(t, 401, check(k2, "i1"), "a kid the issuer publishes, signed by another key")

		iss.publish(map[string]*rsa.PublicKey{"i2": &k2.PublicKey})
		assert.Equal(t, 401, check(k2, "i2"), "within the interval the issuer is not asked again")
		assert.EqualValues(t, 1, iss.sets.Load())
		*clock = clock.Add(2 * time.Minute)
		assert.Equal(t, 200, check(k2, "i2"), "after the interval the rotated key is fetched")
		assert.EqualValues(t, 2, iss.sets.Load())
		*clock = clock.Add(2 * time.Minute)
		assert.Equal(t, 401, check(k1, "i1"), "a key the issuer dropped")
	})

	t.Run("a flood of unknown kids costs the issuer one fetch per interval", func(t *testing.T) {
		iss := newFakeIssuer(t, map[string]*rsa.PublicKey{"i1": &k1.PublicKey})
		iss.delay = 50 * time.Millisecond
		check, clock, _ := setup(t, iss.srv.URL, 10*time.Second)
		var wg sync.WaitGroup
		for i := range 40 {
			wg.Go(func() {
				kid := "unknown-" + strings.Repeat("x", i)
				assert.Equal(t, 401, check(k2, kid))
			})
		}
		wg.Wait()
		assert.EqualValues(t, 1, iss.docs.Load(), "concurrent and repeated misses share one fetch")
		assert.Equal(t, 200, check(k1, "i1"), "what that fetch brought is used")
		*clock = clock.Add(2 * time.Minute)
		for range 10 {
			check(k2, "unknown")
		}
		assert.EqualValues(t, 2, iss.docs.Load())
	})

	t.Run("an unreachable issuer: the file alone, logged once", func(t *testing.T) {
		dead := httptest.NewServer(http.NotFoundHandler())
		url := dead.URL
		dead.Close()
		check, clock, logs := setup(t, url, 10*time.Second)
		assert.Equal(t, 200, check(fileKey, "k1"), "the file's keys still work")
		for range 3 {
			assert.Equal(t, 401, check(k1, "i1"))
			*clock = clock.Add(2 * time.Minute)
		}
		assert.Equal(t, 1, strings.Count(logs.String(), "unreachable"), logs.String())
	})

	t.Run("an issuer that does not answer in time", func(t *testing.T) {
		iss := newFakeIssuer(t, map[string]*rsa.PublicKey{"i1": &k1.PublicKey})
		iss.delay = 4 * time.Second
		check, _, logs := setup(t, iss.srv.URL, 300*time.Millisecond)
		began := time.Now()
		assert.Equal(t, 401, check(k1, "i1"))
		assert.Less(t, time.Since(began), 3*time.Second, "the fetch's deadline, not the issuer's 4 s")
		assert.Contains(t, logs.String(), "unreachable")
	})
}

type lockedWriter struct {
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
