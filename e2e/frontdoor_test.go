//go:build e2e

package e2e

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/esb-dev/esb/internal/awsid"
	"github.com/esb-dev/esb/services/gateway/auth"
)

// TestFrontDoorAuth deploys a template whose routes SAM Auth protects
// (a REST TOKEN authorizer as the API's default, an API key from the key
// file or the template, an HTTP API Lambda authorizer with simple
// responses, two HTTP API JWT authorizers,
// with CORS on both APIs, and AWS_IAM routes on both), and checks the
// gateway answers as API Gateway does, and that its Lambda Invoke API takes
// only SigV4-signed calls as Lambda does, in docker and in containerd mode
// side by side. The authorizer is a real function in the env; the JWTs are
// signed in the test with a key whose JWKS the env gets, and with one only
// the second authorizer's issuer publishes (a function of the env, which
// the gateway asks through the issuer's discovery document).
func TestFrontDoorAuth(t *testing.T) {
	t.Parallel()
	// The containerd env turns plain HTTP off (ESB_GATEWAY_HTTP=off) and
	// is checked over HTTPS alone; the docker env keeps both, so each
	// setting is covered without an env of its own.
	envs := []struct {
		name    string
		offset  int
		mode    string
		httpOff bool
	}{
		{"fd-docker", 1800, "docker", false},
		{"fd-ctrd", 2000, "containerd", true},
	}
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	stacks := map[string]*stack{}
	for _, e := range envs {
		stacks[e.name] = newModeStack(t, e.name, e.offset, e.mode)
		if e.httpOff {
			stacks[e.name].set("ESB_GATEWAY_HTTP", "off")
		}
	}
	for _, e := range envs {
		t.Run(e.mode, func(t *testing.T) {
			t.Parallel()
			frontDoorAuth(t, stacks[e.name], e.mode, key, e.httpOff)
		})
	}
}

func frontDoorAuth(t *testing.T, s *stack, mode string, key *rsa.PrivateKey, httpOff bool) {
	ctx := t.Context()
	s.up(t)
	// The env CA the gateway created on its first start, where `esb env`
	// says it is; every request below verifies the gateway with it.
	res := s.esb(ctx, t, "env", "--format", "json")
	require.NoError(t, res.err, res.stderr)
	var envVars map[string]string
	require.NoError(t, json.Unmarshal([]byte(res.stdout), &envVars))
	caFile := envVars["ESB_TLS_CA_FILE"]
	require.Equal(t, s.layout.TLSCAFile(), caFile)
	client := caClient(t, caFile)
	httpsURL := func(path string) string { return s.httpsURL("PORT_GATEWAY_TLS", path) }
	gw := func(path string) string { return s.url("PORT_GATEWAY", path) }
	if httpOff {
		gw = httpsURL
	}
	// The operator's key files: written before the deploy, read by the
	// gateway when a request needs them.
	dir := filepath.Join(s.layout.ConfigDir, auth.Dir)
	require.NoError(t, os.MkdirAll(dir, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, auth.APIKeysFile), []byte("# e2e\nkey-e2e-1\n"), 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(dir, auth.JWKSFile), jwksOf(t, &key.PublicKey, "e2e-1"), 0o600))

	work := t.TempDir()
	copyTree(t, filepath.Join("testdata", "frontdoor"), work)
	// The keys IssuerFunction publishes as its issuer's JWKS: not in the
	// env's jwks.json.
	published, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(work, "src", "issuer_jwks.json"), jwksOf(t, &published.PublicKey, "e2e-published"), 0o644))
	began := time.Now()
	res = s.esb(ctx, t, "deploy", "--mode", mode, "-t", filepath.Join(work, "template.yml"), "--tag", "e2e-fd-"+mode)
	require.NoError(t, res.err, res.stderr)
	t.Logf("deploy in %s", time.Since(began).Round(100*time.Millisecond))
	require.NoError(t, waitHTTPWith(ctx, client, gw("/open"), http.StatusOK, time.Second), "routes of the deploy never served")

	type echoed struct {
		Authorizer     map[string]any `json:"authorizer"`
		APIKey         *string        `json:"apiKey"`
		ForwardedProto string         `json:"forwardedProto"`
	}
	get := func(t *testing.T, path string, header map[string]string) (int, string, echoed) {
		t.Helper()
		r := send(t, client, http.MethodGet, gw(path), header)
		var e echoed
		if r.status == http.StatusOK {
			require.NoError(t, json.Unmarshal([]byte(r.body), &e), r.body)
		}
		return r.status, r.body, e
	}

	t.Run("REST token authorizer", func(t *testing.T) {
		tests := []struct {
			name       string
			token      string
			wantStatus int
			wantBody   string
		}{
			{name: "no token is 401", wantStatus: 401, wantBody: `{"message":"Unauthorized"}`},
			{name: "authorizer says Unauthorized: 401", token: "unauthorized", wantStatus: 401, wantBody: `{"message":"Unauthorized"}`},
			{name: "deny policy is 403", token: "deny", wantStatus: 403, wantBody: `{"Message":"User is not authorized to access this resource with an explicit deny"}`},
			{name: "allow reaches the function", token: "allow-1", wantStatus: 200},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				hdr := map[string]string{}
				if tt.token != "" {
					hdr["Authorization"] = tt.token
				}
				status, body, e := get(t, "/token", hdr)
				require.Equal(t, tt.wantStatus, status, body)
				if tt.wantBody != "" {
					assert.JSONEq(t, tt.wantBody, body)
					return
				}
				assert.Equal(t, "user-allow-1", e.Authorizer["principalId"])
				assert.NotEmpty(t, e.Authorizer["invocation"])
			})
		}
		t.Run("the result is cached by token", func(t *testing.T) {
			_, _, first := get(t, "/token", map[string]string{"Authorization": "allow-2"})
			_, _, again := get(t, "/token", map[string]string{"Authorization": "allow-2"})
			_, _, other := get(t, "/token", map[string]string{"Authorization": "allow-3"})
			require.NotEmpty(t, first.Authorizer["invocation"])
			assert.Equal(t, first.Authorizer["invocation"], again.Authorizer["invocation"], "the same token: served from the cache")
			assert.NotEqual(t, first.Authorizer["invocation"], other.Authorizer["invocation"], "another token: the authorizer runs")
		})
	})

	t.Run("API key", func(t *testing.T) {
		tests := []struct {
			name       string
			key        string
			wantStatus int
		}{
			{name: "missing", wantStatus: 403},
			{name: "unknown", key: "key-other", wantStatus: 403},
			{name: "known", key: "key-e2e-1", wantStatus: 200},
			// AWS::ApiGateway::ApiKey TemplateApiKey, tied to RestApi's stage.
			{name: "from the template", key: "e2e-template-key-0123456789", wantStatus: 200},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				hdr := map[string]string{}
				if tt.key != "" {
					hdr["X-Api-Key"] = tt.key
				}
				status, body, e := get(t, "/keyed", hdr)
				require.Equal(t, tt.wantStatus, status, body)
				if status != 200 {
					assert.JSONEq(t, `{"message":"Forbidden"}`, body)
					return
				}
				require.NotNil(t, e.APIKey)
				assert.Equal(t, tt.key, *e.APIKey)
			})
		}
	})

	t.Run("HTTP API simple response", func(t *testing.T) {
		status, body, _ := get(t, "/simple", nil)
		assert.Equal(t, 401, status, body)
		status, body, _ = get(t, "/simple", map[string]string{"Authorization": "nope"})
		assert.Equal(t, 403, status, body)
		assert.JSONEq(t, `{"message":"Forbidden"}`, body)
		status, body, e := get(t, "/simple", map[string]string{"Authorization": "let-me-in"})
		require.Equal(t, 200, status, body)
		lambda, _ := e.Authorizer["lambda"].(map[string]any)
		require.NotNil(t, lambda, body)
		assert.NotEmpty(t, lambda["invocation"])
		assert.Contains(t, lambda["routeArn"], "/$default/GET/simple")
	})

	t.Run("HTTP API JWT", func(t *testing.T) {
		now := time.Now()
		claims := func(change map[string]any) map[string]any {
			c := map[string]any{"iss": "https://issuer.e2e.example", "aud": "esb-e2e", "sub": "alice", "scope": "read",
				"exp": now.Add(time.Hour).Unix(), "iat": now.Unix()}
			for k, v := range change {
				c[k] = v
			}
			return c
		}
		tests := []struct {
			name       string
			claims     map[string]any
			wantStatus int
		}{
			{name: "valid", claims: claims(nil), wantStatus: 200},
			{name: "expired", claims: claims(map[string]any{"exp": now.Add(-time.Minute).Unix()}), wantStatus: 401},
			{name: "wrong audience", claims: claims(map[string]any{"aud": "someone-else"}), wantStatus: 401},
			{name: "missing scope", claims: claims(map[string]any{"scope": "write"}), wantStatus: 403},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				token := signRS256(t, key, "e2e-1", tt.claims)
				status, body, e := get(t, "/jwt", map[string]string{"Authorization": "Bearer " + token})
				require.Equal(t, tt.wantStatus, status, body)
				if status != 200 {
					return
				}
				jwt, _ := e.Authorizer["jwt"].(map[string]any)
				require.NotNil(t, jwt, body)
				assert.Equal(t, "alice", jwt["claims"].(map[string]any)["sub"])
				assert.Equal(t, []any{"read"}, jwt["scopes"])
			})
		}
		status, body, _ := get(t, "/jwt", nil)
		assert.Equal(t, 401, status, body)
	})

	t.Run("HTTP API JWT, keys from the issuer's discovery document", func(t *testing.T) {
		const issuer = "http://127.0.0.1:8080/issuer"
		// The issuer is a function of this env behind an open route; the
		// test reads its document as the gateway will (and warms it).
		r := send(t, client, http.MethodGet, gw("/issuer/.well-known/openid-configuration"), nil)
		require.Equal(t, http.StatusOK, r.status, r.body)
		require.JSONEq(t, `"`+issuer+`/jwks"`, mustJSONField(t, r.body, "jwks_uri"))
		claims := map[string]any{"iss": issuer, "aud": "esb-e2e", "sub": "bob",
			"exp": time.Now().Add(time.Hour).Unix(), "iat": time.Now().Unix()}
		t.Run("a key only the issuer publishes", func(t *testing.T) {
			token := signRS256(t, published, "e2e-published", claims)
			// The gateway fetches the issuer at most once per 15 s: a
			// fetch that lost a race with a cold start is retried then.
			var status int
			var body string
			var e echoed
			for deadline := time.Now().Add(45 * time.Second); ; time.Sleep(2 * time.Second) {
				status, body, e = get(t, "/jwt-discovered", map[string]string{"Authorization": "Bearer " + token})
				if status == http.StatusOK || time.Now().After(deadline) {
					break
				}
			}
			require.Equal(t, http.StatusOK, status, body)
			jwt, _ := e.Authorizer["jwt"].(map[string]any)
			require.NotNil(t, jwt, body)
			assert.Equal(t, "bob", jwt["claims"].(map[string]any)["sub"])
		})
		t.Run("a kid nobody publishes is 401", func(t *testing.T) {
			token := signRS256(t, published, "e2e-nobody", claims)
			status, body, _ := get(t, "/jwt-discovered", map[string]string{"Authorization": "Bearer " + token})
			assert.Equal(t, http.StatusUnauthorized, status, body)
			assert.JSONEq(t, `{"message":"Unauthorized"}`, body)
		})
		t.Run("jwks.json still verifies the issuer's tokens", func(t *testing.T) {
			token := signRS256(t, key, "e2e-1", claims)
			status, body, _ := get(t, "/jwt-discovered", map[string]string{"Authorization": "Bearer " + token})
			assert.Equal(t, http.StatusOK, status, body)
		})
	})

	t.Run("CORS", func(t *testing.T) {
		do := func(t *testing.T, method, path string, header map[string]string) (int, http.Header, string) {
			t.Helper()
			r := send(t, client, method, gw(path), header)
			return r.status, r.header, r.body
		}
		const origin = "https://app.e2e.example"
		preflight := func(origin string) map[string]string {
			return map[string]string{"Origin": origin, "Access-Control-Request-Method": "GET", "Access-Control-Request-Headers": "authorization"}
		}
		t.Run("HTTP API preflight, allowed origin, no authorizer", func(t *testing.T) {
			status, h, body := do(t, http.MethodOptions, "/simple", preflight(origin))
			require.Equal(t, http.StatusNoContent, status, body)
			assert.Equal(t, origin, h.Get("Access-Control-Allow-Origin"))
			assert.Equal(t, "GET", h.Get("Access-Control-Allow-Methods"))
			assert.Equal(t, "authorization", h.Get("Access-Control-Allow-Headers"))
			assert.Equal(t, "60", h.Get("Access-Control-Max-Age"))
		})
		t.Run("HTTP API preflight, foreign origin", func(t *testing.T) {
			status, h, body := do(t, http.MethodOptions, "/simple", preflight("https://evil.example"))
			require.Equal(t, http.StatusNoContent, status, body)
			assert.Empty(t, h.Get("Access-Control-Allow-Origin"))
		})
		t.Run("HTTP API response headers", func(t *testing.T) {
			status, h, body := do(t, http.MethodGet, "/simple", map[string]string{"Origin": origin, "Authorization": "let-me-in"})
			require.Equal(t, http.StatusOK, status, body)
			assert.Equal(t, origin, h.Get("Access-Control-Allow-Origin"))
			status, h, body = do(t, http.MethodGet, "/simple", map[string]string{"Origin": "https://evil.example", "Authorization": "let-me-in"})
			require.Equal(t, http.StatusOK, status, body)
			assert.Empty(t, h.Get("Access-Control-Allow-Origin"))
		})
		t.Run("REST OPTIONS method carries the default authorizer", func(t *testing.T) {
			status, _, body := do(t, http.MethodOptions, "/open", preflight(origin))
			assert.Equal(t, http.StatusUnauthorized, status, body)
			h := preflight(origin)
			h["Authorization"] = "allow-cors"
			status, hdr, body := do(t, http.MethodOptions, "/open", h)
			require.Equal(t, http.StatusOK, status, body)
			assert.Equal(t, "*", hdr.Get("Access-Control-Allow-Origin"))
			assert.Equal(t, "GET,OPTIONS", hdr.Get("Access-Control-Allow-Methods"))
		})
	})

	t.Run("Invoke API requires SigV4", func(t *testing.T) {
		const invokePath = "/2015-03-31/functions/EchoFunction/invocations"
		t.Run("unsigned is refused as Lambda refuses it", func(t *testing.T) {
			req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, gw(invokePath), strings.NewReader(`{}`))
			require.NoError(t, err)
			resp, err := client.Do(req)
			require.NoError(t, err)
			defer resp.Body.Close()
			body, err := io.ReadAll(resp.Body)
			require.NoError(t, err)
			assert.Equal(t, http.StatusForbidden, resp.StatusCode, string(body))
			assert.Equal(t, "MissingAuthenticationTokenException", resp.Header.Get("X-Amzn-Errortype"))
			assert.JSONEq(t, `{"message":"Missing Authentication Token"}`, string(body))
		})
		httpClient := client // trusts the env CA: the containerd env answers HTTPS only
		client := func(key awsid.Key) *lambda.Client {
			return lambda.New(lambda.Options{
				HTTPClient:       httpClient,
				Region:           "us-east-1",
				BaseEndpoint:     aws.String(gw("")),
				Credentials:      credentials.NewStaticCredentialsProvider(key.AccessKeyID, key.SecretAccessKey, ""),
				RetryMaxAttempts: 1,
			})
		}
		invoke := func(t *testing.T, key awsid.Key) (*lambda.InvokeOutput, error) {
			return client(key).Invoke(t.Context(), &lambda.InvokeInput{FunctionName: aws.String("EchoFunction"), Payload: []byte(`{"body":"hi"}`)})
		}
		t.Run("wrong secret", func(t *testing.T) {
			_, err := invoke(t, awsid.Key{AccessKeyID: platformKey.AccessKeyID, SecretAccessKey: "guess"})
			var re *awshttp.ResponseError
			require.ErrorAs(t, err, &re)
			assert.Equal(t, http.StatusForbidden, re.HTTPStatusCode())
			assert.Contains(t, err.Error(), "InvalidSignatureException")
		})
		t.Run("unknown key", func(t *testing.T) {
			_, err := invoke(t, awsid.Key{AccessKeyID: "AKIANOTAKEYOFTHEENV0", SecretAccessKey: "x"})
			require.Error(t, err)
			assert.Contains(t, err.Error(), "UnrecognizedClientException")
		})
		for _, k := range []struct {
			name string
			key  awsid.Key
		}{
			{"the env's root key (aws-sdk-go-v2)", platformKey},
			{"a function's own key", awsid.FunctionKey(platformKey.SecretAccessKey, "AuthorizerFunction")},
		} {
			t.Run(k.name, func(t *testing.T) {
				out, err := invoke(t, k.key)
				require.NoError(t, err)
				assert.EqualValues(t, 200, out.StatusCode)
				var res struct {
					StatusCode int    `json:"statusCode"`
					Body       string `json:"body"`
				}
				require.NoError(t, json.Unmarshal(out.Payload, &res), string(out.Payload))
				assert.Equal(t, 200, res.StatusCode)
				assert.JSONEq(t, `"hi"`, mustJSONField(t, res.Body, "body"), "the function got the signed payload")
			})
		}
		t.Run("health tells an anonymous caller only ok", func(t *testing.T) {
			status, body, _ := get(t, "/health", nil)
			require.Equal(t, http.StatusOK, status, body)
			assert.JSONEq(t, `{"status":"ok"}`, body)
		})
	})

	t.Run("AWS_IAM routes", func(t *testing.T) {
		send := func(t *testing.T, method, path, body string, key *awsid.Key) (int, http.Header, string) {
			t.Helper()
			req, err := http.NewRequestWithContext(t.Context(), method, gw(path), strings.NewReader(body))
			require.NoError(t, err)
			if key != nil {
				signRequest(t, req, body, "execute-api", *key)
			}
			resp, err := client.Do(req)
			require.NoError(t, err)
			defer resp.Body.Close()
			b, err := io.ReadAll(resp.Body)
			require.NoError(t, err)
			return resp.StatusCode, resp.Header, string(b)
		}
		type seen struct {
			Authorizer map[string]any    `json:"authorizer"`
			Identity   map[string]string `json:"identity"`
			Body       string            `json:"body"`
		}
		fnKey := awsid.FunctionKey(platformKey.SecretAccessKey, "EchoFunction")
		t.Run("REST unsigned", func(t *testing.T) {
			status, h, body := send(t, http.MethodPost, "/iam", `{"n":1}`, nil)
			require.Equal(t, http.StatusForbidden, status, body)
			assert.Equal(t, "MissingAuthenticationTokenException", h.Get("X-Amzn-Errortype"))
			assert.JSONEq(t, `{"message":"Missing Authentication Token"}`, body)
		})
		t.Run("REST wrong secret", func(t *testing.T) {
			status, h, body := send(t, http.MethodPost, "/iam", `{"n":1}`, &awsid.Key{AccessKeyID: platformKey.AccessKeyID, SecretAccessKey: "guess"})
			require.Equal(t, http.StatusForbidden, status, body)
			assert.Equal(t, "InvalidSignatureException", h.Get("X-Amzn-Errortype"))
		})
		t.Run("REST signed: the caller in requestContext.identity", func(t *testing.T) {
			status, _, body := send(t, http.MethodPost, "/iam", `{"n":1}`, &platformKey)
			require.Equal(t, http.StatusOK, status, body)
			var e seen
			require.NoError(t, json.Unmarshal([]byte(body), &e), body)
			assert.Equal(t, `{"n":1}`, e.Body)
			assert.Equal(t, platformKey.AccessKeyID, e.Identity["accessKey"])
			assert.Equal(t, "123456789012", e.Identity["caller"])
			assert.Equal(t, "arn:aws:iam::123456789012:root", e.Identity["userArn"])
		})
		t.Run("HTTP API unsigned", func(t *testing.T) {
			status, _, body := send(t, http.MethodGet, "/iam-http", "", nil)
			require.Equal(t, http.StatusForbidden, status, body)
			assert.JSONEq(t, `{"message":"Forbidden"}`, body)
		})
		t.Run("HTTP API signed by a function: requestContext.authorizer.iam", func(t *testing.T) {
			status, _, body := send(t, http.MethodGet, "/iam-http", "", &fnKey)
			require.Equal(t, http.StatusOK, status, body)
			var e seen
			require.NoError(t, json.Unmarshal([]byte(body), &e), body)
			iam, _ := e.Authorizer["iam"].(map[string]any)
			require.NotNil(t, iam, body)
			assert.Equal(t, fnKey.AccessKeyID, iam["accessKey"])
			assert.Equal(t, "arn:aws:sts::123456789012:assumed-role/EchoFunctionRole/EchoFunction", iam["userArn"])
		})
	})

	t.Run("function URLs", func(t *testing.T) {
		functionURLs(t, client, res.stdout)
	})

	t.Run("esb invoke and esb logs", func(t *testing.T) {
		opsCLI(t, s)
	})

	t.Run("integration timeout: API Gateway answers, the function runs on in its container", func(t *testing.T) {
		integrationTimeout(t, client, gw)
	})

	t.Run("an open route stays open", func(t *testing.T) {
		status, body, e := get(t, "/open", nil)
		require.Equal(t, 200, status, body)
		assert.Nil(t, e.Authorizer)
	})

	t.Run("TLS", func(t *testing.T) {
		t.Run("HTTPS verified by the env CA answers as HTTP does", func(t *testing.T) {
			get := func(url string, header map[string]string) (int, echoed, *tls.ConnectionState) {
				t.Helper()
				r := send(t, client, http.MethodGet, url, header)
				var e echoed
				if r.status == http.StatusOK {
					require.NoError(t, json.Unmarshal([]byte(r.body), &e), r.body)
				}
				return r.status, e, r.tls
			}
			allow := map[string]string{"Authorization": "allow-tls"}
			status, e, st := get(httpsURL("/token"), allow)
			require.Equal(t, http.StatusOK, status)
			require.NotNil(t, st)
			assert.GreaterOrEqual(t, st.Version, uint16(tls.VersionTLS12))
			assert.Equal(t, "user-allow-tls", e.Authorizer["principalId"], "the same routes and authorizers on HTTPS")
			assert.Equal(t, "https", e.ForwardedProto, "the event tells the function the request came over HTTPS")
			status, _, _ = get(httpsURL("/token"), nil)
			assert.Equal(t, http.StatusUnauthorized, status, "the same middleware on HTTPS")
			if !httpOff {
				status, e, st = get(gw("/token"), allow)
				require.Equal(t, http.StatusOK, status)
				assert.Nil(t, st)
				assert.Equal(t, "user-allow-tls", e.Authorizer["principalId"])
				assert.Equal(t, "http", e.ForwardedProto)
			}
			// An API's own host name is covered by the certificate too.
			status, _, _ = get(s.httpsURLFor("restapi.execute-api.localhost", "PORT_GATEWAY_TLS", "/open"), nil)
			assert.Equal(t, http.StatusOK, status)
		})
		t.Run("TLS below 1.2 is refused", func(t *testing.T) {
			old := caClient(t, caFile)
			old.Transport.(*http.Transport).TLSClientConfig.MaxVersion = tls.VersionTLS11
			req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, httpsURL("/open"), nil)
			require.NoError(t, err)
			_, err = old.Do(req)
			assert.Error(t, err)
		})
		t.Run("plain HTTP", func(t *testing.T) {
			req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, s.url("PORT_GATEWAY", "/open"), nil)
			require.NoError(t, err)
			resp, err := http.DefaultClient.Do(req)
			if httpOff {
				if err == nil {
					resp.Body.Close()
				}
				assert.Error(t, err, "ESB_GATEWAY_HTTP=off: nothing answers plain HTTP on PORT_GATEWAY")
				return
			}
			require.NoError(t, err)
			resp.Body.Close()
			assert.Equal(t, http.StatusOK, resp.StatusCode, "plain HTTP stays on by default")
		})
		t.Run("esb status shows the certificate's expiry", func(t *testing.T) {
			req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, httpsURL("/open"), nil)
			require.NoError(t, err)
			resp, err := client.Do(req)
			require.NoError(t, err)
			resp.Body.Close()
			leaf := resp.TLS.PeerCertificates[0]
			assert.Greater(t, time.Until(leaf.NotAfter), 300*24*time.Hour, "a new certificate lives about 397 days")
			res := s.esb(ctx, t, "status")
			require.NoError(t, res.err, res.stderr)
			assert.Contains(t, res.stdout, "expires "+leaf.NotAfter.UTC().Format(time.RFC3339))
			assert.Contains(t, res.stdout, "issued by the env CA "+caFile)
		})
	})

	t.Run("warm overhead of a cached authorizer", func(t *testing.T) {
		const n = 40
		measure := func(path string, header map[string]string) time.Duration {
			var ds []time.Duration
			for range n {
				start := time.Now()
				status, body, _ := get(t, path, header)
				ds = append(ds, time.Since(start))
				require.Equal(t, 200, status, body)
			}
			slices.Sort(ds)
			return ds[n/2]
		}
		measure("/open", nil) // warm both routes' containers
		measure("/token", map[string]string{"Authorization": "allow-bench"})
		open := measure("/open", nil)
		authorized := measure("/token", map[string]string{"Authorization": "allow-bench"})
		t.Logf("%s mode: median warm request, open route %s, authorized route (cache hit) %s", mode, open, authorized)
	})
}

// mustJSONField is field of the JSON object doc, re-encoded.
func mustJSONField(t *testing.T, doc, field string) string {
	t.Helper()
	var m map[string]json.RawMessage
	require.NoError(t, json.Unmarshal([]byte(doc), &m), doc)
	return string(m[field])
}

// response is what a test reads of an answer.
type response struct {
	status int
	header http.Header
	body   string
	tls    *tls.ConnectionState // nil over plain HTTP
}

// send makes one request with c, bounded by a minute.
func send(t *testing.T, c *http.Client, method, url string, header map[string]string) response {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, url, nil)
	require.NoError(t, err)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := c.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	buf, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return response{status: resp.StatusCode, header: resp.Header, body: string(buf), tls: resp.TLS}
}

// integrationTimeout checks SlowFunction's routes, whose integration
// timeout the template sets to 1 s (TimeoutInMillis): a call that sleeps
// 3 s gets API Gateway's answer for the API's kind after about 1 s, and
// the container it ran in, still leased until the function ended, serves
// the next call warm.
func integrationTimeout(t *testing.T, client *http.Client, gw func(string) string) {
	const sleep = 3 * time.Second
	tests := []struct {
		name, path string
		wantStatus int
		wantBody   string
	}{
		{"REST API: 504", "/slow", http.StatusGatewayTimeout, `{"message": "Endpoint request timed out"}`},
		{"HTTP API: 503", "/slow-http", http.StatusServiceUnavailable, `{"message":"Service Unavailable"}`},
	}
	container := func(t *testing.T, path string) string {
		t.Helper()
		r := send(t, client, http.MethodGet, gw(path), nil)
		require.Equal(t, http.StatusOK, r.status, r.body)
		return mustJSONField(t, r.body, "container")
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// The function's one container, warm. A cold start counts
			// against the integration timeout, as on AWS: on a busy node
			// the first calls may get the timeout's answer until the
			// container they asked for is up.
			var warm string
			require.NoError(t, poll(t.Context(), 500*time.Millisecond, 2*time.Minute, func() error {
				r := send(t, client, http.MethodGet, gw(tt.path), nil)
				if r.status != http.StatusOK {
					return fmt.Errorf("%d %s", r.status, r.body)
				}
				warm = mustJSONField(t, r.body, "container")
				return nil
			}))
			start := time.Now()
			r := send(t, client, http.MethodGet, gw(tt.path+"?sleep="+strconv.Itoa(int(sleep.Seconds()))), nil)
			took := time.Since(start)
			assert.Equal(t, tt.wantStatus, r.status)
			assert.Equal(t, tt.wantBody, r.body)
			assert.Less(t, took, sleep, "answered when the function ended, not at the integration timeout")
			assert.GreaterOrEqual(t, took, time.Second, "answered before the integration timeout")
			// Once the function has ended, its container is free again:
			// the next call is served by it, not by a new one.
			time.Sleep(time.Until(start.Add(sleep + 3*time.Second)))
			assert.Equal(t, warm, container(t, tt.path), "the container the late call ran in was not reused")
		})
	}
}

// jwksOf is a JWKS document holding pub.
func jwksOf(t *testing.T, pub *rsa.PublicKey, kid string) []byte {
	t.Helper()
	doc := map[string]any{"keys": []map[string]string{{
		"kty": "RSA", "kid": kid, "use": "sig", "alg": "RS256",
		"n": base64.RawURLEncoding.EncodeToString(pub.N.Bytes()),
		"e": base64.RawURLEncoding.EncodeToString(big.NewInt(int64(pub.E)).Bytes()),
	}}}
	b, err := json.Marshal(doc)
	require.NoError(t, err)
	return b
}

// signRS256 makes a JWT as an identity provider would.
func signRS256(t *testing.T, key *rsa.PrivateKey, kid string, claims map[string]any) string {
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

// functionURLs checks the template's two function URLs through the
// addresses esb deploy printed: the NONE one's event round-trips, its CORS
// is the gateway's, and the AWS_IAM one serves only SigV4-signed requests
// (service lambda, the env's key).
func functionURLs(t *testing.T, client *http.Client, deployOut string) {
	urls := printedURLs(t, deployOut)
	open, signed := urls["UrlFunction"], urls["IamUrlFunction"]
	require.Equal(t, "NONE", open.auth, deployOut)
	require.Equal(t, "AWS_IAM", signed.auth, deployOut)
	do := func(t *testing.T, method, rawURL, body string, header map[string]string) (int, http.Header, string) {
		t.Helper()
		ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
		defer cancel()
		req, err := http.NewRequestWithContext(ctx, method, rawURL, strings.NewReader(body))
		require.NoError(t, err)
		for k, v := range header {
			req.Header.Set(k, v)
		}
		resp, err := client.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		data, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return resp.StatusCode, resp.Header, string(data)
	}
	u, err := url.Parse(open.url)
	require.NoError(t, err)
	host := u.Hostname()
	id, _, _ := strings.Cut(host, ".")

	t.Run("the event round-trips", func(t *testing.T) {
		status, _, body := do(t, http.MethodPost, open.url+"any/path?x=1&x=2", `{"hello":"url"}`, map[string]string{
			"Content-Type": "application/json", "Cookie": "c1=v1; c2=v2", "User-Agent": "esb-e2e",
		})
		require.Equal(t, http.StatusOK, status, body)
		var got struct {
			Event map[string]any `json:"event"`
		}
		require.NoError(t, json.Unmarshal([]byte(body), &got), body)
		ev := got.Event
		assert.Equal(t, "2.0", ev["version"])
		assert.Equal(t, "$default", ev["routeKey"])
		assert.Equal(t, "/any/path", ev["rawPath"])
		assert.Equal(t, "x=1&x=2", ev["rawQueryString"])
		assert.Equal(t, []any{"c1=v1", "c2=v2"}, ev["cookies"])
		assert.Equal(t, map[string]any{"x": "1,2"}, ev["queryStringParameters"])
		assert.Equal(t, `{"hello":"url"}`, ev["body"])
		assert.Equal(t, false, ev["isBase64Encoded"])
		rc, _ := ev["requestContext"].(map[string]any)
		require.NotNil(t, rc, body)
		assert.Equal(t, host, rc["domainName"])
		assert.Equal(t, id, rc["domainPrefix"])
		assert.Equal(t, id, rc["apiId"])
		assert.Equal(t, "anonymous", rc["accountId"])
		assert.Nil(t, rc["authorizer"])
		h, _ := rc["http"].(map[string]any)
		require.NotNil(t, h, body)
		assert.Equal(t, "POST", h["method"])
		assert.Equal(t, "/any/path", h["path"])
		assert.Equal(t, "esb-e2e", h["userAgent"])
		assert.NotEmpty(t, h["sourceIp"])
	})
	t.Run("every path is the function's, /health too", func(t *testing.T) {
		status, _, body := do(t, http.MethodGet, open.url+"health", "", nil)
		require.Equal(t, http.StatusOK, status, body)
		assert.Contains(t, body, `"rawPath": "/health"`)
	})
	t.Run("CORS preflight and response headers", func(t *testing.T) {
		const origin = "https://app.e2e.example"
		status, h, body := do(t, http.MethodOptions, open.url+"x", "", map[string]string{"Origin": origin, "Access-Control-Request-Method": "POST"})
		require.Equal(t, http.StatusNoContent, status, body)
		assert.Equal(t, origin, h.Get("Access-Control-Allow-Origin"))
		assert.Equal(t, "GET,POST", h.Get("Access-Control-Allow-Methods"))
		assert.Equal(t, "x-e2e", h.Get("Access-Control-Allow-Headers"))
		assert.Equal(t, "30", h.Get("Access-Control-Max-Age"))
		status, h, _ = do(t, http.MethodOptions, open.url+"x", "", map[string]string{"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"})
		assert.Equal(t, http.StatusNoContent, status)
		assert.Empty(t, h.Get("Access-Control-Allow-Origin"))
		status, h, body = do(t, http.MethodGet, open.url, "", map[string]string{"Origin": origin})
		require.Equal(t, http.StatusOK, status, body)
		assert.Equal(t, origin, h.Get("Access-Control-Allow-Origin"), "the URL's CORS, not the function's own header")
	})
	t.Run("AWS_IAM refuses an unsigned request", func(t *testing.T) {
		status, _, body := do(t, http.MethodGet, signed.url, "", nil)
		assert.Equal(t, http.StatusForbidden, status, body)
		assert.JSONEq(t, `{"Message":"Forbidden"}`, body)
	})
	sendSigned := func(t *testing.T, key awsid.Key, body string) (int, string) {
		t.Helper()
		req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, signed.url+"signed?q=1", strings.NewReader(body))
		require.NoError(t, err)
		signRequest(t, req, body, "lambda", key)
		resp, err := client.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		data, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return resp.StatusCode, string(data)
	}
	t.Run("AWS_IAM refuses a wrong secret", func(t *testing.T) {
		status, body := sendSigned(t, awsid.Key{AccessKeyID: platformKey.AccessKeyID, SecretAccessKey: "guess"}, `{}`)
		assert.Equal(t, http.StatusForbidden, status, body)
		assert.JSONEq(t, `{"Message":"Forbidden"}`, body)
	})
	t.Run("AWS_IAM serves a signed request, the signer in authorizer.iam", func(t *testing.T) {
		status, body := sendSigned(t, platformKey, `{"signed":true}`)
		require.Equal(t, http.StatusOK, status, body)
		var got struct {
			Event struct {
				Body           string `json:"body"`
				RequestContext struct {
					AccountID  string `json:"accountId"`
					Authorizer struct {
						IAM map[string]any `json:"iam"`
					} `json:"authorizer"`
				} `json:"requestContext"`
			} `json:"event"`
			OpenURL string `json:"openUrl"`
		}
		require.NoError(t, json.Unmarshal([]byte(body), &got), body)
		assert.Equal(t, `{"signed":true}`, got.Event.Body)
		assert.Equal(t, "123456789012", got.Event.RequestContext.AccountID)
		assert.Equal(t, platformKey.AccessKeyID, got.Event.RequestContext.Authorizer.IAM["accessKey"])
		assert.Equal(t, "arn:aws:iam::123456789012:root", got.Event.RequestContext.Authorizer.IAM["userArn"])
		assert.Equal(t, "https://"+id+".lambda-url.us-east-1.on.aws/", got.OpenURL, "!GetAtt UrlFunctionUrl.FunctionUrl names the url-id the gateway serves")
	})
}

type printedURL struct{ auth, url string }

// printedURLs reads the FUNCTION URL table of esb deploy's output.
func printedURLs(t *testing.T, out string) map[string]printedURL {
	t.Helper()
	urls := map[string]printedURL{}
	in := false
	for line := range strings.Lines(out) {
		f := strings.Fields(line)
		switch {
		case strings.HasPrefix(line, "FUNCTION URL"):
			in = true
		case in && len(f) == 3:
			urls[f[0]] = printedURL{auth: f[1], url: f[2]}
		default:
			in = false
		}
	}
	return urls
}

// caClient is an HTTP client that trusts the env CA in caFile, and no
// other (no InsecureSkipVerify): a request it completes over HTTPS was
// served with a certificate of that CA for the URL's host. Every host
// name dials loopback, as curl does for *.localhost.
func caClient(t *testing.T, caFile string) *http.Client {
	t.Helper()
	pem, err := os.ReadFile(caFile)
	require.NoError(t, err, "the env CA, created by the gateway on first start")
	pool := x509.NewCertPool()
	require.True(t, pool.AppendCertsFromPEM(pem), caFile)
	dialer := &net.Dialer{Timeout: 10 * time.Second}
	return &http.Client{Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool},
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			_, port, err := net.SplitHostPort(addr)
			if err != nil {
				return nil, err
			}
			return dialer.DialContext(ctx, network, net.JoinHostPort("127.0.0.1", port))
		},
	}}
}
