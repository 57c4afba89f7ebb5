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
	"github.com/esb-dev/esb/services/gateway/auth"
	"github.com/esb-dev/esb/services/gateway/sigv4"
)

// sendSigned sends a request signed with key for service (key nil: unsigned).
func (h *harness) sendSigned(t *testing.T, method, path, body string, key *awsid.Key, service string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, h.http.URL+path, strings.NewReader(body))
	require.NoError(t, err)
	if key != nil {
		require.NoError(t, signRequest(t.Context(), req, *key, service, []byte(body)))
	}
	resp, err := h.http.Client().Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp, string(data)
}

func TestInvokeAPIRequiresSignature(t *testing.T) {
	h := newHarness(t, functionsYML, routingYML, harnessOptions{})
	h.function("Hello", answer(200, nil, `{"greeting":"hi"}`))
	root := testRootKey
	hello := awsid.FunctionKey(testRootKey.SecretAccessKey, "Hello")
	gone := awsid.FunctionKey(testRootKey.SecretAccessKey, "Gone")
	wrong := awsid.Key{AccessKeyID: root.AccessKeyID, SecretAccessKey: "guess"}
	tests := []struct {
		name       string
		path       string
		key        *awsid.Key
		service    string
		wantStatus int
		wantType   string
		wantBody   string
	}{
		{name: "unsigned", path: "/2015-03-31/functions/Hello/invocations", wantStatus: 403,
			wantType: "MissingAuthenticationTokenException", wantBody: `{"message":"Missing Authentication Token"}`},
		{name: "unsigned, unknown function: still 403, not 404", path: "/2015-03-31/functions/Nope/invocations", wantStatus: 403,
			wantType: "MissingAuthenticationTokenException"},
		{name: "wrong secret", path: "/2015-03-31/functions/Hello/invocations", key: &wrong, wantStatus: 403, wantType: "InvalidSignatureException"},
		{name: "key of no function of the generation", path: "/2015-03-31/functions/Hello/invocations", key: &gone, wantStatus: 403,
			wantType: "UnrecognizedClientException", wantBody: `{"message":"The security token included in the request is invalid."}`},
		{name: "signed for execute-api", path: "/2015-03-31/functions/Hello/invocations", key: &root, service: sigv4.ServiceExecuteAPI,
			wantStatus: 403, wantType: "InvalidSignatureException", wantBody: `{"message":"Credential should be scoped to correct service: 'lambda'. "}`},
		{name: "root key", path: "/2015-03-31/functions/Hello/invocations", key: &root, wantStatus: 200, wantBody: `{"greeting":"hi"}`},
		{name: "a function's own key", path: "/2015-03-31/functions/Hello/invocations", key: &hello, wantStatus: 200, wantBody: `{"greeting":"hi"}`},
		{name: "signed, unknown function: 404", path: "/2015-03-31/functions/Nope/invocations", key: &root, wantStatus: 404, wantType: "ResourceNotFoundException"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			service := tt.service
			if service == "" {
				service = sigv4.ServiceLambda
			}
			resp, body := h.sendSigned(t, http.MethodPost, tt.path, `{"a":1}`, tt.key, service)
			require.Equal(t, tt.wantStatus, resp.StatusCode, body)
			assert.Equal(t, tt.wantType, resp.Header.Get("X-Amzn-Errortype"))
			if tt.wantBody != "" {
				assert.JSONEq(t, tt.wantBody, body)
			}
		})
	}
	refused := h.log.Wait(t, "request signature refused", 1)
	assert.Equal(t, "MissingAuthenticationTokenException", refused.Attrs["error_type"])
	line := h.log.Wait(t, "POST /2015-03-31/functions/Hello/invocations 200", 2)
	assert.Contains(t, []any{"root", "function:Hello"}, line.Attrs["caller"])
}

func TestHealthAnonymous(t *testing.T) {
	h := newHarness(t, functionsYML, routingYML, harnessOptions{})
	hello := awsid.FunctionKey(testRootKey.SecretAccessKey, "Hello")
	wrong := awsid.Key{AccessKeyID: testRootKey.AccessKeyID, SecretAccessKey: "guess"}
	resp, body := h.sendSigned(t, http.MethodGet, "/health", "", nil, "")
	require.Equal(t, 200, resp.StatusCode)
	assert.JSONEq(t, `{"status":"ok"}`, body, "an anonymous caller learns nothing else")
	resp, body = h.sendSigned(t, http.MethodGet, "/health", "", &hello, sigv4.ServiceLambda)
	require.Equal(t, 200, resp.StatusCode)
	assert.JSONEq(t, `{"status":"ok"}`, body, "nor does a function")
	resp, _ = h.sendSigned(t, http.MethodGet, "/health", "", &wrong, sigv4.ServiceLambda)
	assert.Equal(t, 403, resp.StatusCode)
	resp, body = h.sendSigned(t, http.MethodGet, "/health", "", &testRootKey, sigv4.ServiceLambda)
	require.Equal(t, 200, resp.StatusCode)
	assert.JSONEq(t, `{"status":"ok","generation":1,"functions":4,"routes":4,"warm_leases":0}`, body)
}

func TestIAMRoutes(t *testing.T) {
	const routing = `
routes:
  - {path: /rest, method: POST, function: Hello, payload: "1.0", stage: prod, auth: {iam: true}}
  - {path: /http, method: POST, function: Items, payload: "2.0", auth: {iam: true}}
  - {path: /keyed, method: GET, function: Hello, payload: "1.0", stage: prod, auth: {iam: true, api_key: true}}
  - path: /cors
    method: GET
    function: Hello
    payload: "1.0"
    stage: prod
    auth: {iam: true}
    cors: {kind: rest, allow_origins: ["*"], allow_methods: [GET, OPTIONS], preflight_auth: {iam: true}}
`
	h := newHarness(t, functionsYML, routing, harnessOptions{server: Options{Auth: auth.New(t.TempDir(), auth.Options{})}})
	h.function("Items", echoEventV1)
	root := testRootKey
	hello := awsid.FunctionKey(testRootKey.SecretAccessKey, "Hello")
	wrong := awsid.Key{AccessKeyID: root.AccessKeyID, SecretAccessKey: "guess"}
	type event struct {
		Body           string `json:"body"`
		RequestContext struct {
			Identity   map[string]any `json:"identity"`
			Authorizer map[string]any `json:"authorizer"`
		} `json:"requestContext"`
	}
	tests := []struct {
		name       string
		path       string
		key        *awsid.Key
		service    string
		wantStatus int
		wantType   string
		wantBody   string
		check      func(t *testing.T, ev event)
	}{
		{name: "REST unsigned", path: "/rest", wantStatus: 403, wantType: "MissingAuthenticationTokenException", wantBody: `{"message":"Missing Authentication Token"}`},
		{name: "HTTP API unsigned", path: "/http", wantStatus: 403, wantBody: `{"message":"Forbidden"}`},
		{name: "REST wrong secret", path: "/rest", key: &wrong, wantStatus: 403, wantType: "InvalidSignatureException"},
		{name: "REST signed for lambda", path: "/rest", key: &root, service: sigv4.ServiceLambda, wantStatus: 403, wantType: "InvalidSignatureException",
			wantBody: `{"message":"Credential should be scoped to correct service: 'execute-api'. "}`},
		{name: "REST root key", path: "/rest", key: &root, wantStatus: 200, check: func(t *testing.T, ev event) {
			assert.Equal(t, `{"n":1}`, ev.Body, "the function gets the body as signed")
			id := ev.RequestContext.Identity
			assert.Equal(t, root.AccessKeyID, id["accessKey"])
			assert.Equal(t, "123456789012", id["accountId"])
			assert.Equal(t, "123456789012", id["caller"])
			assert.Equal(t, "123456789012", id["user"])
			assert.Equal(t, "arn:aws:iam::123456789012:root", id["userArn"])
			assert.Nil(t, ev.RequestContext.Authorizer)
		}},
		{name: "HTTP API function key", path: "/http", key: &hello, wantStatus: 200, check: func(t *testing.T, ev event) {
			iam, _ := ev.RequestContext.Authorizer["iam"].(map[string]any)
			require.NotNil(t, iam, "%v", ev.RequestContext.Authorizer)
			assert.Equal(t, hello.AccessKeyID, iam["accessKey"])
			assert.Equal(t, "123456789012", iam["accountId"])
			assert.Equal(t, "arn:aws:sts::123456789012:assumed-role/HelloRole/Hello", iam["userArn"])
			assert.True(t, strings.HasPrefix(iam["callerId"].(string), "AROA"), iam["callerId"])
			assert.True(t, strings.HasSuffix(iam["callerId"].(string), ":Hello"), iam["callerId"])
			assert.Equal(t, iam["callerId"], iam["userId"])
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			service := tt.service
			if service == "" {
				service = sigv4.ServiceExecuteAPI
			}
			resp, body := h.sendSigned(t, http.MethodPost, tt.path, `{"n":1}`, tt.key, service)
			require.Equal(t, tt.wantStatus, resp.StatusCode, body)
			assert.Equal(t, tt.wantType, resp.Header.Get("X-Amzn-Errortype"))
			if tt.wantBody != "" {
				assert.JSONEq(t, tt.wantBody, body)
			}
			if tt.check != nil {
				var ev event
				require.NoError(t, json.Unmarshal([]byte(body), &ev), body)
				tt.check(t, ev)
			}
		})
	}
	t.Run("a REST API's generated OPTIONS method takes the default AWS_IAM", func(t *testing.T) {
		resp, body := h.sendSigned(t, http.MethodOptions, "/cors", "", nil, "")
		assert.Equal(t, 403, resp.StatusCode, body)
		assert.Equal(t, "MissingAuthenticationTokenException", resp.Header.Get("X-Amzn-Errortype"))
		resp, body = h.sendSigned(t, http.MethodOptions, "/cors", "", &root, sigv4.ServiceExecuteAPI)
		assert.Equal(t, 200, resp.StatusCode, body)
		assert.Equal(t, "GET,OPTIONS", resp.Header.Get("Access-Control-Allow-Methods"))
	})
	t.Run("IAM and an API key: both are needed", func(t *testing.T) {
		resp, body := h.sendSigned(t, http.MethodGet, "/keyed", "", &root, sigv4.ServiceExecuteAPI)
		assert.Equal(t, 403, resp.StatusCode, body)
		assert.JSONEq(t, `{"message":"Forbidden"}`, body, "signed, but no key")
	})
}
