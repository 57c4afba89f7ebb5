package httpapi

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/esb-dev/esb/services/gateway/auth"
)

const authFunctionsYML = `
functions:
  Hello: {image: img/hello}
  Authz: {image: img/authz}
`

const authRoutingYML = `
routes:
  - path: /private
    method: GET
    function: Hello
    payload: "1.0"
    stage: prod
    api: rest
    auth:
      api_key: true
      authorizer: {name: Tok, type: token, function: Authz, identity_sources: ["header:Authorization"], ttl: 300}
  - {path: /open, method: GET, function: Hello, payload: "1.0"}
`

// TestProtectedRoute runs a token authorizer and an API key through the
// whole gateway: the authorizer is a function like any other, its policy
// is checked against the method ARN, its context reaches the integration.
func TestProtectedRoute(t *testing.T) {
	h := newHarness(t, authFunctionsYML, authRoutingYML, harnessOptions{server: Options{Auth: enforcerWithKey(t, "key-1")}})
	var calls atomic.Int32
	var arns []string
	h.function("Authz", func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		var ev struct{ AuthorizationToken, MethodArn string }
		body, _ := io.ReadAll(r.Body)
		_ = json.Unmarshal(body, &ev)
		arns = append(arns, ev.MethodArn)
		effect := "Deny"
		if ev.AuthorizationToken == "allow" {
			effect = "Allow"
		}
		_, _ = io.WriteString(w, `{"principalId":"alice","policyDocument":{"Statement":[{"Effect":"`+effect+`","Action":"execute-api:Invoke","Resource":"*"}]},"context":{"plan":"gold"}}`)
	})
	hdr := func(token, key string) http.Header {
		h := http.Header{}
		if token != "" {
			h.Set("Authorization", token)
		}
		if key != "" {
			h.Set("X-Api-Key", key)
		}
		return h
	}
	tests := []struct {
		name       string
		header     http.Header
		wantStatus int
		wantBody   string
	}{
		{name: "no token", header: hdr("", "key-1"), wantStatus: 401, wantBody: `{"message":"Unauthorized"}`},
		{name: "deny", header: hdr("deny", "key-1"), wantStatus: 403, wantBody: `{"Message":"User is not authorized to access this resource with an explicit deny"}`},
		{name: "allow without key", header: hdr("allow", ""), wantStatus: 403, wantBody: `{"message":"Forbidden"}`},
		{name: "allow with key", header: hdr("allow", "key-1"), wantStatus: 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := h.do(t, "GET", "/private", nil, tt.header)
			assert.Equal(t, tt.wantStatus, resp.StatusCode, body)
			if tt.wantBody != "" {
				assert.Equal(t, tt.wantBody, body)
				return
			}
			var ev map[string]any
			require.NoError(t, json.Unmarshal([]byte(body), &ev))
			rc := ev["requestContext"].(map[string]any)
			assert.Equal(t, map[string]any{"principalId": "alice", "plan": "gold", "integrationLatency": float64(0)}, rc["authorizer"])
			assert.Equal(t, "key-1", rc["identity"].(map[string]any)["apiKey"])
		})
	}
	assert.Equal(t, []string{
		"arn:aws:execute-api:us-east-1:123456789012:rest/prod/GET/private",
		"arn:aws:execute-api:us-east-1:123456789012:rest/prod/GET/private",
	}, arns)
	resp, _ := h.do(t, "GET", "/private", nil, hdr("allow", "key-1"))
	assert.Equal(t, 200, resp.StatusCode)
	assert.EqualValues(t, 2, calls.Load(), "the allow was cached")
	resp, _ = h.do(t, "GET", "/open", nil, nil)
	assert.Equal(t, 200, resp.StatusCode)
}

// TestProtectedRouteWithoutEnforcer: a gateway without an enforcer never
// serves a protected route open.
func TestProtectedRouteWithoutEnforcer(t *testing.T) {
	h := newHarness(t, authFunctionsYML, authRoutingYML, harnessOptions{})
	resp, _ := h.do(t, "GET", "/private", nil, http.Header{"Authorization": {"allow"}, "X-Api-Key": {"key-1"}})
	assert.Equal(t, 500, resp.StatusCode)
}

// enforcerWithKey is an Enforcer of a CONFIG_DIR whose api-keys file holds key.
func enforcerWithKey(t *testing.T, key string) *auth.Enforcer {
	t.Helper()
	dir := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(dir, auth.Dir), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, auth.Dir, auth.APIKeysFile), []byte(key+"\n"), 0o600))
	return auth.New(dir, auth.Options{})
}
