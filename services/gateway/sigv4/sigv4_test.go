package sigv4

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/esb-dev/esb/internal/awsid"
)

// AWS's published SigV4 test suite (aws-sig-v4-test-suite): its key,
// time and scope.
const (
	vectorKeyID  = "AKIDEXAMPLE"
	vectorSecret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
	vectorDate   = "20150830T123600Z"
	vectorScope  = "AKIDEXAMPLE/20150830/us-east-1/service/aws4_request"
)

func TestPublishedVectors(t *testing.T) {
	at, err := time.Parse(amzDateLayout, vectorDate)
	require.NoError(t, err)
	keys := NewKeyring(awsid.Key{AccessKeyID: vectorKeyID, SecretAccessKey: vectorSecret}, nil)
	v := New(keys, "us-east-1", Options{Now: func() time.Time { return at }})
	tests := []struct {
		name      string
		method    string
		target    string
		signature string
	}{
		{name: "get-vanilla", method: "GET", target: "/", signature: "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"},
		{name: "get-vanilla-query-order-key-case", method: "GET", target: "/?Param2=value2&Param1=value1", signature: "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500"},
		{name: "post-vanilla", method: "POST", target: "/", signature: "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(tt.method, "http://example.amazonaws.com"+tt.target, nil)
			r.Header.Set("X-Amz-Date", vectorDate)
			r.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential="+vectorScope+", SignedHeaders=host;x-amz-date, Signature="+tt.signature)
			id, err := v.Verify(r, "service")
			require.NoError(t, err)
			assert.Equal(t, Identity{AccessKeyID: vectorKeyID}, id)
			assert.True(t, id.Root())

			bad := strings.Replace(tt.signature, tt.signature[:1], "0", 1)
			if bad == tt.signature {
				bad = "1" + tt.signature[1:]
			}
			r.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential="+vectorScope+", SignedHeaders=host;x-amz-date, Signature="+bad)
			_, err = v.Verify(r, "service")
			require.ErrorIs(t, err, ErrSignature)
			assert.Contains(t, err.Error(), "The Canonical String for this request should have been")
		})
	}
}

// fixture is a server that verifies every request and answers 200 with
// the identity, or 403 with the error type in x-amzn-ErrorType.
type fixture struct {
	srv     *httptest.Server
	v       *Verifier
	now     time.Time
	gotBody []byte
}

const (
	rootID     = "esb"
	rootSecret = "esb-local-secret"
	region     = "us-east-1"
)

type staticFunctions struct {
	gen   uint64
	names []string
}

func (s *staticFunctions) Generation() uint64      { return s.gen }
func (s *staticFunctions) FunctionNames() []string { return s.names }

func newFixture(t *testing.T, service string, fns *staticFunctions) *fixture {
	t.Helper()
	f := &fixture{now: time.Now()}
	f.v = New(NewKeyring(awsid.Key{AccessKeyID: rootID, SecretAccessKey: rootSecret}, fns), region, Options{Now: func() time.Time { return f.now }})
	h := f.v.Middleware(service, func(w http.ResponseWriter, r *http.Request, err error) {
		var e *Error
		if !errors.As(err, &e) {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("X-Amzn-Errortype", e.Type)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusForbidden)
		_ = json.NewEncoder(w).Encode(map[string]string{"message": e.Message})
	})(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, ok := IdentityFrom(r.Context())
		if !ok {
			http.Error(w, "no identity", http.StatusInternalServerError)
			return
		}
		f.gotBody, _ = io.ReadAll(r.Body)
		_, _ = io.WriteString(w, `{"key":"`+id.AccessKeyID+`","function":"`+id.Function+`"}`)
	}))
	f.srv = httptest.NewServer(h)
	t.Cleanup(f.srv.Close)
	return f
}

// signed builds a request to the fixture signed by aws-sdk-go-v2's signer;
// change, when set, alters it after signing.
func (f *fixture) signed(t *testing.T, key awsid.Key, service, region, method, path, body string, at time.Time, change func(*http.Request)) *http.Request {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, f.srv.URL+path, strings.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Amz-Invocation-Type", "RequestResponse")
	sum := sha256.Sum256([]byte(body))
	creds := aws.Credentials{AccessKeyID: key.AccessKeyID, SecretAccessKey: key.SecretAccessKey}
	require.NoError(t, v4.NewSigner().SignHTTP(t.Context(), creds, req, hex.EncodeToString(sum[:]), service, region, at))
	if change != nil {
		change(req)
	}
	return req
}

func do(t *testing.T, req *http.Request) (int, string, string) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, resp.Header.Get("X-Amzn-Errortype"), string(b)
}

func TestVerifySDKSigned(t *testing.T) {
	fns := &staticFunctions{gen: 1, names: []string{"Alpha", "Beta"}}
	f := newFixture(t, ServiceLambda, fns)
	root := awsid.Key{AccessKeyID: rootID, SecretAccessKey: rootSecret}
	alpha := awsid.FunctionKey(rootSecret, "Alpha")
	const path = "/2015-03-31/functions/arn%3Aaws%3Alambda%3Aus-east-1%3A123456789012%3Afunction%3AAlpha/invocations?Qualifier=%24LATEST&b=2&a=1&a=0"
	const body = `{"hello":"world"}`
	tests := []struct {
		name     string
		key      awsid.Key
		service  string
		region   string
		path     string
		at       time.Duration // from now
		change   func(*http.Request)
		wantType string // "" = accepted
		wantMsg  string
		wantFn   string
	}{
		{name: "root key", key: root},
		{name: "function key", key: alpha, wantFn: "Alpha"},
		{name: "a few minutes of skew", key: root, at: -4 * time.Minute},
		{name: "plain path", key: root, path: "/2015-03-31/functions/Alpha/invocations"},
		{name: "path with spaces and unicode", key: root, path: "/a%20b/%C3%A9t%C3%A9/x"},
		{name: "unsigned", key: root, change: func(r *http.Request) { r.Header.Del("Authorization") },
			wantType: "MissingAuthenticationTokenException", wantMsg: "Missing Authentication Token"},
		{name: "bearer token", key: root, change: func(r *http.Request) { r.Header.Set("Authorization", "Bearer abc") },
			wantType: "IncompleteSignatureException"},
		{name: "missing signature field", key: root, change: func(r *http.Request) {
			a := r.Header.Get("Authorization")
			r.Header.Set("Authorization", a[:strings.Index(a, ", Signature=")])
		}, wantType: "IncompleteSignatureException", wantMsg: "Authorization header requires 'Signature' parameter."},
		{name: "unknown key", key: awsid.Key{AccessKeyID: "AKIAUNKNOWN", SecretAccessKey: rootSecret},
			wantType: "UnrecognizedClientException", wantMsg: "The security token included in the request is invalid."},
		{name: "key of a function not deployed", key: awsid.FunctionKey(rootSecret, "Gone"), wantType: "UnrecognizedClientException"},
		{name: "function key from another root secret", key: awsid.FunctionKey("other-secret", "Alpha"), wantType: "UnrecognizedClientException"},
		{name: "wrong secret", key: awsid.Key{AccessKeyID: rootID, SecretAccessKey: "guess"},
			wantType: "InvalidSignatureException", wantMsg: "The request signature we calculated does not match"},
		{name: "tampered body", key: root, change: func(r *http.Request) {
			r.Body = io.NopCloser(strings.NewReader(`{"hello":"wormd"}`)) // same length
		}, wantType: "InvalidSignatureException", wantMsg: "does not match"},
		{name: "tampered signed header", key: root, change: func(r *http.Request) { r.Header.Set("X-Amz-Invocation-Type", "Event") },
			wantType: "InvalidSignatureException"},
		{name: "tampered path", key: root, change: func(r *http.Request) {
			r.URL.Path, r.URL.RawPath = "/2015-03-31/functions/Beta/invocations", ""
		}, wantType: "InvalidSignatureException"},
		{name: "tampered query", key: root, change: func(r *http.Request) { r.URL.RawQuery = "Qualifier=1" },
			wantType: "InvalidSignatureException"},
		{name: "body hash header that lies", key: root, change: func(r *http.Request) {
			r.Header.Set("X-Amz-Content-Sha256", strings.Repeat("0", 64))
		}, wantType: "InvalidSignatureException", wantMsg: "x-amz-content-sha256"},
		{name: "expired", key: root, at: -6 * time.Minute, wantType: "InvalidSignatureException", wantMsg: "Signature expired: "},
		{name: "from the future", key: root, at: 6 * time.Minute, wantType: "InvalidSignatureException", wantMsg: "Signature not yet current: "},
		{name: "wrong region", key: root, region: "eu-west-1", wantType: "InvalidSignatureException", wantMsg: "Credential should be scoped to a valid region."},
		{name: "wrong service", key: root, service: ServiceExecuteAPI, wantType: "InvalidSignatureException", wantMsg: "Credential should be scoped to correct service: 'lambda'."},
		{name: "date header changed", key: root, change: func(r *http.Request) {
			r.Header.Set("X-Amz-Date", time.Now().UTC().Add(time.Second).Format(amzDateLayout))
		}, wantType: "InvalidSignatureException"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			service, reg, p := tt.service, tt.region, tt.path
			if service == "" {
				service = ServiceLambda
			}
			if reg == "" {
				reg = region
			}
			if p == "" {
				p = path
			}
			f.gotBody = nil
			req := f.signed(t, tt.key, service, reg, http.MethodPost, p, body, time.Now().Add(tt.at), tt.change)
			status, errType, got := do(t, req)
			if tt.wantType != "" {
				assert.Equal(t, http.StatusForbidden, status, got)
				assert.Equal(t, tt.wantType, errType, got)
				assert.Contains(t, got, tt.wantMsg, "handler saw %q", f.gotBody)
				return
			}
			require.Equal(t, http.StatusOK, status, got)
			assert.JSONEq(t, `{"key":"`+tt.key.AccessKeyID+`","function":"`+tt.wantFn+`"}`, got)
			assert.Equal(t, body, string(f.gotBody), "the handler reads the body as sent")
		})
	}
}

func TestFunctionKeysFollowTheGeneration(t *testing.T) {
	fns := &staticFunctions{gen: 1, names: []string{"Alpha"}}
	v := New(NewKeyring(awsid.Key{AccessKeyID: rootID, SecretAccessKey: rootSecret}, fns), region, Options{})
	sign := func(fn string) *http.Request {
		key := awsid.FunctionKey(rootSecret, fn)
		r := httptest.NewRequest(http.MethodGet, "http://gateway:8080/x", nil)
		sum := sha256.Sum256(nil)
		require.NoError(t, v4.NewSigner().SignHTTP(t.Context(), aws.Credentials{AccessKeyID: key.AccessKeyID, SecretAccessKey: key.SecretAccessKey},
			r, hex.EncodeToString(sum[:]), ServiceLambda, region, time.Now()))
		return r
	}
	id, err := v.Verify(sign("Alpha"), ServiceLambda)
	require.NoError(t, err)
	assert.Equal(t, "Alpha", id.Function)
	_, err = v.Verify(sign("Beta"), ServiceLambda)
	require.ErrorIs(t, err, ErrUnknownKey)

	fns.gen, fns.names = 2, []string{"Beta"} // a deploy replaced Alpha by Beta
	_, err = v.Verify(sign("Alpha"), ServiceLambda)
	require.ErrorIs(t, err, ErrUnknownKey, "a removed function's key stops working")
	id, err = v.Verify(sign("Beta"), ServiceLambda)
	require.NoError(t, err)
	assert.Equal(t, "Beta", id.Function)
}

// The Lambda client of aws-sdk-go-v2, end to end: its Invoke call passes.
func TestLambdaClientSigns(t *testing.T) {
	f := newFixture(t, ServiceLambda, &staticFunctions{gen: 1, names: []string{"Alpha"}})
	for _, key := range []awsid.Key{{AccessKeyID: rootID, SecretAccessKey: rootSecret}, awsid.FunctionKey(rootSecret, "Alpha")} {
		fns := lambda.New(lambda.Options{
			Region:           region,
			BaseEndpoint:     aws.String(f.srv.URL),
			Credentials:      credentials.NewStaticCredentialsProvider(key.AccessKeyID, key.SecretAccessKey, ""),
			RetryMaxAttempts: 1,
		})
		out, err := fns.Invoke(t.Context(), &lambda.InvokeInput{FunctionName: aws.String("arn:aws:lambda:us-east-1:123456789012:function:Alpha:$LATEST"), Payload: []byte(`{"n":1}`)})
		require.NoError(t, err)
		assert.Contains(t, string(out.Payload), key.AccessKeyID)
		assert.Equal(t, `{"n":1}`, string(f.gotBody))
	}
	fns := lambda.New(lambda.Options{Region: region, BaseEndpoint: aws.String(f.srv.URL), RetryMaxAttempts: 1,
		Credentials: credentials.NewStaticCredentialsProvider(rootID, "wrong", "")})
	_, err := fns.Invoke(t.Context(), &lambda.InvokeInput{FunctionName: aws.String("Alpha")})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "InvalidSignatureException")
}

func TestPresigned(t *testing.T) {
	f := newFixture(t, ServiceExecuteAPI, nil)
	presign := func(t *testing.T, at time.Time, expires string) string {
		req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, f.srv.URL+"/prod/items?X-Amz-Expires="+expires+"&q=a+b", nil)
		require.NoError(t, err)
		sum := sha256.Sum256(nil)
		u, _, err := v4.NewSigner().PresignHTTP(context.Background(), aws.Credentials{AccessKeyID: rootID, SecretAccessKey: rootSecret},
			req, hex.EncodeToString(sum[:]), ServiceExecuteAPI, region, at)
		require.NoError(t, err)
		return u
	}
	get := func(t *testing.T, u string) (int, string) {
		req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, u, nil)
		require.NoError(t, err)
		status, _, body := do(t, req)
		return status, body
	}
	status, body := get(t, presign(t, time.Now(), "300"))
	assert.Equal(t, http.StatusOK, status, body)
	status, body = get(t, presign(t, time.Now().Add(-10*time.Minute), "300"))
	assert.Equal(t, http.StatusForbidden, status, body)
	assert.Contains(t, body, "Signature expired")
	status, body = get(t, strings.Replace(presign(t, time.Now(), "300"), "q=a", "q=z", 1))
	assert.Equal(t, http.StatusForbidden, status, body)
}

func TestBodyTooLarge(t *testing.T) {
	v := New(NewKeyring(awsid.Key{AccessKeyID: rootID, SecretAccessKey: rootSecret}, nil), region, Options{MaxBodyBytes: 8})
	r := httptest.NewRequest(http.MethodPost, "http://gateway/x", bytes.NewReader([]byte("0123456789")))
	sum := sha256.Sum256([]byte("0123456789"))
	require.NoError(t, v4.NewSigner().SignHTTP(t.Context(), aws.Credentials{AccessKeyID: rootID, SecretAccessKey: rootSecret},
		r, hex.EncodeToString(sum[:]), ServiceLambda, region, time.Now()))
	_, err := v.Verify(r, ServiceLambda)
	require.ErrorIs(t, err, ErrBodyTooLarge)
}

// BenchmarkVerify is the gateway's own cost of a signed Invoke API call:
// parse, body hash, canonical request and signature.
func BenchmarkVerify(b *testing.B) {
	fns := &staticFunctions{gen: 1, names: []string{"Alpha", "Beta", "Gamma"}}
	v := New(NewKeyring(awsid.Key{AccessKeyID: rootID, SecretAccessKey: rootSecret}, fns), region, Options{})
	body := []byte(strings.Repeat(`{"k":"v"}`, 100))
	for _, key := range []awsid.Key{{AccessKeyID: rootID, SecretAccessKey: rootSecret}, awsid.FunctionKey(rootSecret, "Beta")} {
		r := httptest.NewRequest(http.MethodPost, "http://gateway:8080/2015-03-31/functions/Alpha/invocations", bytes.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		sum := sha256.Sum256(body)
		require.NoError(b, v4.NewSigner().SignHTTP(b.Context(), aws.Credentials{AccessKeyID: key.AccessKeyID, SecretAccessKey: key.SecretAccessKey},
			r, hex.EncodeToString(sum[:]), ServiceLambda, region, time.Now()))
		name := "root"
		if awsid.IsFunctionKey(key.AccessKeyID) {
			name = "function"
		}
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				r.Body = io.NopCloser(bytes.NewReader(body))
				if _, err := v.Verify(r, ServiceLambda); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
