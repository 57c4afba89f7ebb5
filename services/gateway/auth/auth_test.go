package auth

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/esb-dev/esb/internal/runtimeconfig"
)

const testARN = "arn:aws:execute-api:us-east-1:123456789012:abc/prod/GET/items"

// fakeAuthorizer answers like an authorizer function and counts calls.
type fakeAuthorizer struct {
	calls  atomic.Int32
	events [][]byte
	answer func(event map[string]any) (payload string, fnErr string)
}

func (f *fakeAuthorizer) invoke(_ context.Context, function string, event []byte) ([]byte, string, error) {
	f.calls.Add(1)
	f.events = append(f.events, event)
	if function != "AuthFn" {
		return nil, "", errors.New("unknown function " + function)
	}
	var ev map[string]any
	if err := json.Unmarshal(event, &ev); err != nil {
		return nil, "", err
	}
	p, fe := f.answer(ev)
	return []byte(p), fe, nil
}

func policy(effect string) string {
	return `{"principalId":"user-1","policyDocument":{"Version":"2012-10-17","Statement":[{"Effect":"` + effect +
		`","Action":"execute-api:Invoke","Resource":"arn:aws:execute-api:us-east-1:123456789012:abc/*"}]},"context":{"tenant":"t1","n":3}}`
}

// tokenAnswer allows "allow", denies "deny", asks for 401 on "bad".
func tokenAnswer(ev map[string]any) (string, string) {
	switch ev["authorizationToken"] {
	case "allow":
		return policy("Allow"), ""
	case "deny":
		return policy("Deny"), ""
	case "bad":
		return `{"errorMessage":"Unauthorized","errorType":"Error"}`, "Unhandled"
	case "nostatement":
		return `{"principalId":"u","policyDocument":{"Statement":[]}}`, ""
	}
	return `{"errorMessage":"boom"}`, "Unhandled"
}

func newRequest(t *testing.T, header map[string]string, target string) *http.Request {
	t.Helper()
	if target == "" {
		target = "/items"
	}
	r := httptest.NewRequest(http.MethodGet, target, nil)
	for k, v := range header {
		r.Header.Set(k, v)
	}
	return r
}

func eventOf(r *http.Request) func(string) ([]byte, error) {
	return func(payload string) ([]byte, error) {
		return json.Marshal(map[string]any{"version": payload, "rawPath": r.URL.Path, "body": "secret"})
	}
}

func TestLambdaTokenAuthorizer(t *testing.T) {
	az := &runtimeconfig.Authorizer{Name: "Tok", Type: runtimeconfig.AuthorizerToken, Function: "AuthFn",
		IdentitySources: []string{"header:Authorization"}, TTL: 300}
	tests := []struct {
		name       string
		token      string
		wantStatus int
		wantBody   string
	}{
		{name: "allow", token: "allow"},
		{name: "explicit deny", token: "deny", wantStatus: 403, wantBody: `{"Message":"User is not authorized to access this resource with an explicit deny"}`},
		{name: "no statement allows", token: "nostatement", wantStatus: 403, wantBody: `{"Message":"User is not authorized to access this resource"}`},
		{name: "unauthorized from the function", token: "bad", wantStatus: 401, wantBody: `{"message":"Unauthorized"}`},
		{name: "no token", token: "", wantStatus: 401, wantBody: `{"message":"Unauthorized"}`},
		{name: "authorizer fails", token: "crash", wantStatus: 500, wantBody: `{"message":null}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fa := &fakeAuthorizer{answer: tokenAnswer}
			e := New(t.TempDir(), Options{})
			hdr := map[string]string{}
			if tt.token != "" {
				hdr["Authorization"] = tt.token
			}
			r := newRequest(t, hdr, "")
			d, _ := e.Check(t.Context(), Request{HTTP: r, Auth: &runtimeconfig.RouteAuth{Authorizer: az}, MethodARN: testARN, Event: eventOf(r), Invoke: fa.invoke})
			assert.Equal(t, tt.wantStatus, d.Status)
			if tt.wantStatus != 0 {
				assert.JSONEq(t, tt.wantBody, string(d.Body))
				return
			}
			assert.JSONEq(t, `{"principalId":"user-1","tenant":"t1","n":3,"integrationLatency":0}`, string(d.Context))
			var ev tokenEvent
			require.NoError(t, json.Unmarshal(fa.events[0], &ev))
			assert.Equal(t, tokenEvent{Type: "TOKEN", AuthorizationToken: "allow", MethodARN: testARN}, ev)
		})
	}
}

func TestLambdaCache(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	e := New(t.TempDir(), Options{Now: func() time.Time { return now }})
	fa := &fakeAuthorizer{answer: tokenAnswer}
	az := &runtimeconfig.Authorizer{Name: "Tok", Type: runtimeconfig.AuthorizerToken, Function: "AuthFn",
		IdentitySources: []string{"header:Authorization"}, TTL: 60}
	check := func(token, scope, arn string) Decision {
		r := newRequest(t, map[string]string{"Authorization": token}, "")
		d, err := e.Check(t.Context(), Request{HTTP: r, Auth: &runtimeconfig.RouteAuth{Authorizer: az}, MethodARN: arn, Event: eventOf(r), Invoke: fa.invoke, CacheScope: scope})
		require.NoError(t, err)
		return d
	}
	assert.False(t, check("allow", "g1", testARN).Refused())
	assert.False(t, check("allow", "g1", testARN).Refused())
	assert.EqualValues(t, 1, fa.calls.Load(), "second call is a cache hit")
	// The cached policy is evaluated against each request's own ARN.
	assert.Equal(t, 403, check("allow", "g1", "arn:aws:execute-api:us-east-1:123456789012:other/prod/GET/items").Status)
	assert.EqualValues(t, 1, fa.calls.Load())
	assert.False(t, check("allow", "g2", testARN).Refused())
	assert.EqualValues(t, 2, fa.calls.Load(), "a new generation asks again")
	now = now.Add(61 * time.Second)
	assert.False(t, check("allow", "g1", testARN).Refused())
	assert.EqualValues(t, 3, fa.calls.Load(), "expired entry asks again")
	az.TTL = 0
	check("allow", "g1", testARN)
	check("allow", "g1", testARN)
	assert.EqualValues(t, 5, fa.calls.Load(), "TTL 0 turns caching off")
}

func TestValidationExpression(t *testing.T) {
	fa := &fakeAuthorizer{answer: tokenAnswer}
	e := New(t.TempDir(), Options{})
	az := &runtimeconfig.Authorizer{Name: "Tok", Type: runtimeconfig.AuthorizerToken, Function: "AuthFn",
		IdentitySources: []string{"header:Authorization"}, ValidationExpression: "allow|deny"}
	r := newRequest(t, map[string]string{"Authorization": "allowed"}, "")
	d, err := e.Check(t.Context(), Request{HTTP: r, Auth: &runtimeconfig.RouteAuth{Authorizer: az}, MethodARN: testARN, Event: eventOf(r), Invoke: fa.invoke})
	require.NoError(t, err)
	assert.Equal(t, 401, d.Status, "the whole token must match")
	assert.Zero(t, fa.calls.Load())
}

func TestRequestAuthorizers(t *testing.T) {
	tests := []struct {
		name       string
		az         runtimeconfig.Authorizer
		header     map[string]string
		target     string
		answer     string
		wantStatus int
		wantCtx    string
		wantEvent  map[string]any
	}{
		{
			name:   "rest request",
			az:     runtimeconfig.Authorizer{Type: runtimeconfig.AuthorizerRequest, IdentitySources: []string{"header:X-User", "query:tenant"}},
			header: map[string]string{"X-User": "u"}, target: "/items?tenant=t",
			answer:    policy("Allow"),
			wantCtx:   `{"principalId":"user-1","tenant":"t1","n":3,"integrationLatency":0}`,
			wantEvent: map[string]any{"type": "REQUEST", "methodArn": testARN, "version": "1.0"},
		},
		{
			name:   "rest request missing query",
			az:     runtimeconfig.Authorizer{Type: runtimeconfig.AuthorizerRequest, IdentitySources: []string{"header:X-User", "query:tenant"}},
			header: map[string]string{"X-User": "u"}, wantStatus: 401,
		},
		{
			name:   "http simple allow",
			az:     runtimeconfig.Authorizer{Type: runtimeconfig.AuthorizerHTTPRequest, Payload: "2.0", SimpleResponses: true, IdentitySources: []string{"header:Authorization"}},
			header: map[string]string{"Authorization": "x"}, answer: `{"isAuthorized":true,"context":{"who":"me"}}`,
			wantCtx:   `{"lambda":{"who":"me"}}`,
			wantEvent: map[string]any{"type": "REQUEST", "routeArn": testARN, "version": "2.0", "identitySource": []any{"x"}},
		},
		{
			name:   "http simple refuse",
			az:     runtimeconfig.Authorizer{Type: runtimeconfig.AuthorizerHTTPRequest, Payload: "2.0", SimpleResponses: true, IdentitySources: []string{"header:Authorization"}},
			header: map[string]string{"Authorization": "x"}, answer: `{"isAuthorized":false}`, wantStatus: 403,
		},
		{
			name:   "http policy 1.0 deny",
			az:     runtimeconfig.Authorizer{Type: runtimeconfig.AuthorizerHTTPRequest, Payload: "1.0"},
			answer: policy("Deny"), wantStatus: 403,
			wantEvent: map[string]any{"type": "REQUEST", "methodArn": testARN, "version": "1.0", "identitySource": ""},
		},
		{
			name:       "http missing identity",
			az:         runtimeconfig.Authorizer{Type: runtimeconfig.AuthorizerHTTPRequest, Payload: "2.0", SimpleResponses: true, IdentitySources: []string{"header:Authorization"}},
			wantStatus: 401,
		},
		{
			name:   "rest nested context refused",
			az:     runtimeconfig.Authorizer{Type: runtimeconfig.AuthorizerRequest},
			answer: `{"principalId":"u","policyDocument":{"Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]},"context":{"o":{"a":1}}}`, wantStatus: 500,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fa := &fakeAuthorizer{answer: func(map[string]any) (string, string) { return tt.answer, "" }}
			e := New(t.TempDir(), Options{})
			az := tt.az
			az.Name, az.Function = "A", "AuthFn"
			r := newRequest(t, tt.header, tt.target)
			d, _ := e.Check(t.Context(), Request{HTTP: r, Auth: &runtimeconfig.RouteAuth{Authorizer: &az}, MethodARN: testARN, Event: eventOf(r), Invoke: fa.invoke})
			assert.Equal(t, tt.wantStatus, d.Status, string(d.Body))
			if tt.wantCtx != "" {
				assert.JSONEq(t, tt.wantCtx, string(d.Context))
			}
			if tt.wantEvent != nil {
				require.Len(t, fa.events, 1)
				var ev map[string]any
				require.NoError(t, json.Unmarshal(fa.events[0], &ev))
				for k, v := range tt.wantEvent {
					assert.Equal(t, v, ev[k], k)
				}
				assert.NotContains(t, ev, "body", "an authorizer never sees the body")
			}
		})
	}
}

func TestAPIKeys(t *testing.T) {
	dir := t.TempDir()
	e := New(dir, Options{})
	check := func(key string) Decision {
		hdr := map[string]string{}
		if key != "" {
			hdr["X-Api-Key"] = key
		}
		d, err := e.Check(t.Context(), Request{HTTP: newRequest(t, hdr, ""), Auth: &runtimeconfig.RouteAuth{APIKey: true}})
		require.NoError(t, err)
		return d
	}
	assert.Equal(t, 403, check("k1").Status, "no key file: no key is valid")
	require.NoError(t, os.MkdirAll(filepath.Join(dir, Dir), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, Dir, APIKeysFile), []byte("# keys\nk1\n\n  k2  \n"), 0o600))
	assert.False(t, check("k1").Refused())
	assert.Equal(t, "k2", check("k2").APIKey)
	assert.Equal(t, 403, check("").Status)
	assert.JSONEq(t, `{"message":"Forbidden"}`, string(check("k3").Body))
	// A new key is read without a restart.
	require.NoError(t, os.WriteFile(filepath.Join(dir, Dir, APIKeysFile), []byte("k3 \n"), 0o600))
	assert.False(t, check("k3").Refused())
	assert.True(t, check("k1").Refused())
}

func TestTemplateAPIKeys(t *testing.T) {
	e := New(t.TempDir(), Options{}) // no key file
	check := func(key string) Decision {
		d, err := e.Check(t.Context(), Request{
			HTTP:        newRequest(t, map[string]string{"X-Api-Key": key}, ""),
			Auth:        &runtimeconfig.RouteAuth{APIKey: true},
			TemplateKey: func(k string) bool { return k == "from-the-template" },
		})
		require.NoError(t, err)
		return d
	}
	assert.Equal(t, "from-the-template", check("from-the-template").APIKey)
	assert.Equal(t, 403, check("another").Status)
}

func TestNilEnforcerRefuses(t *testing.T) {
	var e *Enforcer
	d, err := e.Check(t.Context(), Request{HTTP: newRequest(t, nil, ""), Auth: &runtimeconfig.RouteAuth{APIKey: true}})
	require.Error(t, err)
	assert.Equal(t, 500, d.Status)
}

// signJWT signs claims with key (RS256, kid "k1").
func signJWT(t *testing.T, key *rsa.PrivateKey, claims map[string]any) string {
	t.Helper()
	return signJWTKid(t, key, "k1", claims)
}

// signJWTKid signs claims with key (RS256) under key id kid.
func signJWTKid(t *testing.T, key *rsa.PrivateKey, kid string, claims map[string]any) string {
	t.Helper()
	enc := func(v any) string {
		b, err := json.Marshal(v)
		require.NoError(t, err)
		return base64.RawURLEncoding.EncodeToString(b)
	}
	signing := enc(map[string]string{"alg": "RS256", "kid": kid, "typ": "JWT"}) + "." + enc(claims)
	sum := sha256.Sum256([]byte(signing))
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, sum[:])
	require.NoError(t, err)
	return signing + "." + base64.RawURLEncoding.EncodeToString(sig)
}

func writeJWKS(t *testing.T, dir string, key *rsa.PublicKey) {
	t.Helper()
	b := jwksDoc(t, map[string]*rsa.PublicKey{"k1": key})
	require.NoError(t, os.MkdirAll(filepath.Join(dir, Dir), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, Dir, JWKSFile), b, 0o600))
}

// jwksDoc is a JWKS holding keys by kid.
func jwksDoc(t *testing.T, keys map[string]*rsa.PublicKey) []byte {
	t.Helper()
	var list []map[string]string
	for kid, key := range keys {
		list = append(list, map[string]string{
			"kty": "RSA", "kid": kid, "use": "sig", "alg": "RS256",
			"n": base64.RawURLEncoding.EncodeToString(key.N.Bytes()),
			"e": base64.RawURLEncoding.EncodeToString(big.NewInt(int64(key.E)).Bytes()),
		})
	}
	b, err := json.Marshal(map[string]any{"keys": list})
	require.NoError(t, err)
	return b
}

func TestJWT(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	other, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	dir := t.TempDir()
	writeJWKS(t, dir, &key.PublicKey)
	now := time.Unix(1_700_000_000, 0)
	e := New(dir, Options{Now: func() time.Time { return now }})
	jwtAZ := &runtimeconfig.Authorizer{Name: "J", Type: runtimeconfig.AuthorizerJWT, IdentitySources: []string{"header:Authorization"},
		Issuer: "https://issuer.example.com", Audience: []string{"app"}, Scopes: []string{"read"}}
	cognito := &runtimeconfig.Authorizer{Name: "C", Type: runtimeconfig.AuthorizerCognito, IdentitySources: []string{"header:Authorization"},
		Issuer: "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_x"}
	good := map[string]any{"iss": "https://issuer.example.com", "aud": "app", "sub": "alice", "scope": "read write",
		"exp": now.Add(time.Hour).Unix(), "nbf": now.Add(-time.Minute).Unix()}
	with := func(k string, v any) map[string]any {
		c := map[string]any{}
		for kk, vv := range good {
			c[kk] = vv
		}
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
		return c
	}
	tests := []struct {
		name       string
		az         *runtimeconfig.Authorizer
		token      string
		wantStatus int
		wantCtx    string
	}{
		{name: "valid", az: jwtAZ, token: "Bearer " + signJWT(t, key, good),
			wantCtx: `{"jwt":{"claims":{"iss":"https://issuer.example.com","aud":"app","sub":"alice","scope":"read write","exp":"1700003600","nbf":"1699999940"},"scopes":["read","write"]}}`},
		{name: "audience list", az: jwtAZ, token: signJWT(t, key, with("aud", []string{"x", "app"}))},
		{name: "client_id instead of aud", az: jwtAZ, token: signJWT(t, key, with("aud", nil))},
		{name: "expired", az: jwtAZ, token: signJWT(t, key, with("exp", now.Add(-time.Second).Unix())), wantStatus: 401},
		{name: "no exp", az: jwtAZ, token: signJWT(t, key, with("exp", nil)), wantStatus: 401},
		{name: "not yet valid", az: jwtAZ, token: signJWT(t, key, with("nbf", now.Add(time.Minute).Unix())), wantStatus: 401},
		{name: "wrong audience", az: jwtAZ, token: signJWT(t, key, with("aud", "other")), wantStatus: 401},
		{name: "wrong issuer", az: jwtAZ, token: signJWT(t, key, with("iss", "https://evil.example.com")), wantStatus: 401},
		{name: "missing scope", az: jwtAZ, token: signJWT(t, key, with("scope", "write")), wantStatus: 403},
		{name: "other key", az: jwtAZ, token: signJWT(t, other, good), wantStatus: 401},
		{name: "tampered", az: jwtAZ, token: signJWT(t, key, good) + "x", wantStatus: 401},
		{name: "garbage", az: jwtAZ, token: "Bearer nope", wantStatus: 401},
		{name: "missing", az: jwtAZ, wantStatus: 401},
		{name: "cognito", az: cognito, token: signJWT(t, key, with("iss", cognito.Issuer)),
			wantCtx: `{"claims":{"iss":"https://cognito-idp.us-east-1.amazonaws.com/us-east-1_x","aud":"app","sub":"alice","scope":"read write","exp":"1700003600","nbf":"1699999940"}}`},
		{name: "cognito other pool", az: cognito, token: signJWT(t, key, good), wantStatus: 401},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.name == "client_id instead of aud" {
				tt.token = signJWT(t, key, func() map[string]any { c := with("aud", nil); c["client_id"] = "app"; return c }())
			}
			hdr := map[string]string{}
			if tt.token != "" {
				hdr["Authorization"] = tt.token
			}
			d, err := e.Check(t.Context(), Request{HTTP: newRequest(t, hdr, ""), Auth: &runtimeconfig.RouteAuth{Authorizer: tt.az}})
			require.NoError(t, err)
			assert.Equal(t, tt.wantStatus, d.Status, string(d.Body))
			if tt.wantCtx != "" {
				assert.JSONEq(t, tt.wantCtx, string(d.Context))
			}
		})
	}
}
