package httpapi

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/esb-dev/esb/internal/awsid"
	"github.com/esb-dev/esb/services/gateway/functionurl"
	"github.com/esb-dev/esb/services/gateway/sigv4"
)

const (
	openURLID = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa1"
	iamURLID  = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa2"
)

const urlFunctionsYML = `
functions:
  Hello: {image: img/hello}
  Open:
    image: img/open
    url:
      id: ` + openURLID + `
      auth_type: NONE
      cors: {kind: http, allow_origins: ["https://app.example"], allow_methods: [GET], allow_headers: [x-h], max_age: 30}
  Signed:
    image: img/signed
    url: {id: ` + iamURLID + `, auth_type: AWS_IAM}
`

// doHost sends a request to the gateway with host as its Host header,
// signed with key for service lambda when key is not nil.
func (h *harness) doHost(t *testing.T, method, host, path string, header http.Header, key ...awsid.Key) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, h.http.URL+path, nil)
	require.NoError(t, err)
	req.Host = host
	for k, vs := range header {
		req.Header[k] = vs
	}
	for _, k := range key {
		require.NoError(t, signRequest(t.Context(), req, k, functionurl.Service, nil))
	}
	resp, err := h.http.Client().Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp, string(data)
}

func TestFunctionURL(t *testing.T) {
	run := func(t *testing.T, verifier *sigv4.Verifier) *harness {
		return newHarness(t, urlFunctionsYML, "routes:\n  - {path: /hello, method: GET, function: Hello, payload: \"1.0\"}\n", harnessOptions{server: Options{Verifier: verifier}})
	}
	openHost := openURLID + ".lambda-url.us-east-1.localhost:5000"
	signedHost := iamURLID + ".lambda-url.us-east-1.localhost"

	t.Run("every path and method reaches the function, with the function URL event", func(t *testing.T) {
		h := run(t, nil)
		for _, path := range []string{"/", "/health", "/2015-03-31/functions/Hello/invocations", "/hello", "/any/deep/path?a=1&a=2"} {
			resp, body := h.doHost(t, http.MethodPost, openHost, path, http.Header{"Cookie": {"c1=v1; c2=v2"}})
			require.Equal(t, http.StatusOK, resp.StatusCode, body)
			var ev map[string]any
			require.NoError(t, json.Unmarshal([]byte(body), &ev), body)
			assert.Equal(t, "2.0", ev["version"])
			assert.Equal(t, "$default", ev["routeKey"])
			p, q, _ := strings.Cut(path, "?")
			assert.Equal(t, p, ev["rawPath"])
			assert.Equal(t, q, ev["rawQueryString"])
			assert.Equal(t, []any{"c1=v1", "c2=v2"}, ev["cookies"])
			rc := ev["requestContext"].(map[string]any)
			assert.Equal(t, "anonymous", rc["accountId"], "AuthType NONE: Lambda does not know the caller")
			assert.Equal(t, openURLID, rc["apiId"])
			assert.Equal(t, openURLID+".lambda-url.us-east-1.localhost", rc["domainName"])
			assert.Equal(t, openURLID, rc["domainPrefix"])
			assert.Equal(t, "$default", rc["stage"])
			assert.Nil(t, rc["authorizer"])
			http := rc["http"].(map[string]any)
			assert.Equal(t, "POST", http["method"])
			assert.Equal(t, p, http["path"])
			assert.Equal(t, "127.0.0.1", http["sourceIp"])
			assert.Equal(t, "Go-http-client/1.1", http["userAgent"])
			assert.Equal(t, false, ev["isBase64Encoded"])
			assert.Equal(t, "echo", resp.Header.Get("X-Fn"), "the function's answer, by the payload 2.0 rules")
		}
	})
	t.Run("the other hosts keep their routes", func(t *testing.T) {
		h := run(t, nil)
		resp, body := h.do(t, http.MethodGet, "/health", nil, nil)
		require.Equal(t, http.StatusOK, resp.StatusCode, body)
		assert.Contains(t, body, `"status":"ok"`)
		resp, body = h.doHost(t, http.MethodGet, "notanid.lambda-url.us-east-1.localhost", "/hello", nil)
		assert.Equal(t, http.StatusOK, resp.StatusCode, body)
	})
	t.Run("an unknown url-id is not found", func(t *testing.T) {
		h := run(t, nil)
		resp, body := h.doHost(t, http.MethodGet, strings.Repeat("z", 32)+".lambda-url.us-east-1.localhost", "/", nil)
		assert.Equal(t, http.StatusNotFound, resp.StatusCode)
		assert.JSONEq(t, `{"message":"Not Found"}`, body)
	})
	t.Run("CORS", func(t *testing.T) {
		h := run(t, nil)
		h.function("Open", answer(200, nil, `{"statusCode":200,"headers":{"Access-Control-Allow-Origin":"https://from-function"},"body":"ok"}`))
		preflight := http.Header{"Origin": {"https://app.example"}, "Access-Control-Request-Method": {"GET"}}
		resp, body := h.doHost(t, http.MethodOptions, openHost, "/x", preflight)
		require.Equal(t, http.StatusNoContent, resp.StatusCode, body)
		assert.Equal(t, "https://app.example", resp.Header.Get("Access-Control-Allow-Origin"))
		assert.Equal(t, "GET", resp.Header.Get("Access-Control-Allow-Methods"))
		assert.Equal(t, "x-h", resp.Header.Get("Access-Control-Allow-Headers"))
		assert.Equal(t, "30", resp.Header.Get("Access-Control-Max-Age"))
		resp, _ = h.doHost(t, http.MethodOptions, openHost, "/x", http.Header{"Origin": {"https://evil.example"}, "Access-Control-Request-Method": {"GET"}})
		assert.Equal(t, http.StatusNoContent, resp.StatusCode)
		assert.Empty(t, resp.Header.Get("Access-Control-Allow-Origin"))
		resp, body = h.doHost(t, http.MethodGet, openHost, "/x", http.Header{"Origin": {"https://app.example"}})
		require.Equal(t, http.StatusOK, resp.StatusCode, body)
		assert.Equal(t, "https://app.example", resp.Header.Get("Access-Control-Allow-Origin"), "the URL's CORS, not the function's")
	})
	t.Run("AWS_IAM with an env that has no keys fails closed", func(t *testing.T) {
		h := run(t, sigv4.New(noKeys{}, "us-east-1", sigv4.Options{}))
		resp, body := h.doHost(t, http.MethodGet, signedHost, "/", nil, testRootKey)
		assert.Equal(t, http.StatusForbidden, resp.StatusCode)
		assert.JSONEq(t, `{"Message":"Forbidden"}`, body)
	})
	t.Run("AWS_IAM", func(t *testing.T) {
		h := run(t, nil) // the harness's verifier: testRootKey and each function's own key
		resp, body := h.doHost(t, http.MethodGet, signedHost, "/", nil)
		assert.Equal(t, http.StatusForbidden, resp.StatusCode, "unsigned")
		assert.JSONEq(t, `{"Message":"Forbidden"}`, body)
		resp, body = h.doHost(t, http.MethodGet, signedHost, "/", nil, awsid.Key{AccessKeyID: testRootKey.AccessKeyID, SecretAccessKey: "guess"})
		assert.Equal(t, http.StatusForbidden, resp.StatusCode, "wrong secret")
		assert.JSONEq(t, `{"Message":"Forbidden"}`, body)
		resp, body = h.doHost(t, http.MethodGet, signedHost, "/p", nil, testRootKey)
		require.Equal(t, http.StatusOK, resp.StatusCode, body)
		var ev struct {
			RequestContext struct {
				AccountID  string `json:"accountId"`
				Authorizer struct {
					IAM map[string]any `json:"iam"`
				} `json:"authorizer"`
			} `json:"requestContext"`
		}
		require.NoError(t, json.Unmarshal([]byte(body), &ev), body)
		assert.Equal(t, "123456789012", ev.RequestContext.AccountID)
		assert.Equal(t, map[string]any{
			"accessKey": testRootKey.AccessKeyID, "accountId": "123456789012", "callerId": "123456789012", "cognitoIdentity": nil,
			"principalOrgId": nil, "userArn": "arn:aws:iam::123456789012:root", "userId": "123456789012",
		}, ev.RequestContext.Authorizer.IAM)
		fnKey := awsid.FunctionKey(testRootKey.SecretAccessKey, "Hello")
		resp, body = h.doHost(t, http.MethodGet, signedHost, "/p", nil, fnKey)
		require.Equal(t, http.StatusOK, resp.StatusCode, "a function's own key: %s", body)
		assert.Contains(t, body, `assumed-role/HelloRole/Hello`)
	})
}
