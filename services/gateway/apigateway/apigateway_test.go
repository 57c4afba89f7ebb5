package apigateway

import (
	"bytes"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var png = []byte{0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0xff}

// The golden files in testdata were written by hand from the event shapes
// in AWS's API Gateway developer guide ("Input format of a Lambda function
// for proxy integration" for REST APIs, "Working with AWS Lambda proxy
// integrations for HTTP APIs" for 2.0), with this test's request values
// filled in. Where the two 1.0 examples disagree (last or first value of a
// repeated query parameter in queryStringParameters), the REST API example
// is followed: the last value.
func TestEvents(t *testing.T) {
	const traceID = "Root=1-5e5ff1b5-0123456789abcdef01234567"
	base := func(method, target string, body []byte) *http.Request {
		r := httptest.NewRequest(method, target, bytes.NewReader(body))
		r.RemoteAddr = "192.0.2.10:54321"
		return r
	}
	tests := []struct {
		name    string
		payload string
		req     func() Request
		golden  string
	}{
		{
			name:    "1.0 GET with repeated headers and query parameters",
			payload: "1.0",
			golden:  "v1_get_query_multivalue.json",
			req: func() Request {
				r := base("GET", "http://gateway.example.com:8080/items/42?parameter1=value1&parameter1=value2&parameter2=value", nil)
				r.Header.Set("Header1", "value1")
				r.Header.Add("Header2", "value1")
				r.Header.Add("Header2", "value2")
				r.Header.Set("User-Agent", "agent")
				return Request{HTTP: r, Resource: "/items/{id}", RouteKey: "GET /items/{id}", Stage: "Prod",
					Params: map[string]string{"id": "42"}, Time: time.UnixMilli(1583349317135)}
			},
		},
		{
			name:    "1.0 POST binary body without query, behind a proxy",
			payload: "1.0",
			golden:  "v1_post_binary_no_query.json",
			req: func() Request {
				r := base("POST", "http://localhost/upload/a.png", png)
				r.Header.Set("Content-Type", "image/png")
				r.Header.Set("X-Forwarded-For", "198.51.100.7")
				return Request{HTTP: r, Body: png, Resource: "/{proxy+}", RouteKey: "ANY /{proxy+}", Stage: "Prod",
					Params: map[string]string{"proxy": "upload/a.png"}, Time: time.UnixMilli(1583349317135)}
			},
		},
		{
			name:    "2.0 POST JSON with cookies, repeated headers and query parameters",
			payload: "2.0",
			golden:  "v2_post_cookies_json.json",
			req: func() Request {
				body := []byte(`{"hello":"world"}`)
				r := base("POST", "http://gateway.example.com:8080/items/42?parameter1=value1&parameter1=value2&parameter2=value", body)
				r.Header.Set("Header1", "value1")
				r.Header.Add("Header2", "value1")
				r.Header.Add("Header2", "value2")
				r.Header.Set("Cookie", "cookie1=a; cookie2=b")
				r.Header.Set("Content-Type", "application/json")
				r.Header.Set("User-Agent", "agent")
				return Request{HTTP: r, Body: body, Resource: "/items/{id}", RouteKey: "POST /items/{id}", Stage: "$default",
					Params: map[string]string{"id": "42"}, Time: time.UnixMilli(1583348638390)}
			},
		},
		{
			name:    "2.0 $default route with a binary body and no query",
			payload: "2.0",
			golden:  "v2_default_binary.json",
			req: func() Request {
				r := base("PUT", "http://localhost/upload/a.png", png)
				r.Header.Set("Content-Type", "image/png")
				return Request{HTTP: r, Body: png, Resource: "/{proxy+}", RouteKey: "$default", Stage: "$default",
					Params: map[string]string{"proxy": "upload/a.png"}, Time: time.UnixMilli(1583348638390)}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := tt.req()
			req.RequestID = "c6af9ac6-7b61-11e6-9a41-93e8deadbeef"
			req.TraceID = traceID
			req.AccountID = "123456789012"
			req.APIID = APIID("dev")
			got, err := Event(tt.payload, req)
			require.NoError(t, err)
			want, err := os.ReadFile(filepath.Join("testdata", tt.golden))
			require.NoError(t, err)
			assert.JSONEq(t, string(want), string(got))
		})
	}
}

func TestIsText(t *testing.T) {
	tests := []struct {
		name, contentType, encoding string
		body                        []byte
		want                        bool
	}{
		{name: "json", contentType: "application/json; charset=utf-8", body: []byte(`{}`), want: true},
		{name: "vendor json", contentType: "application/vnd.api+json", body: []byte(`{}`), want: true},
		{name: "text", contentType: "text/plain", body: []byte("héllo"), want: true},
		{name: "form", contentType: "application/x-www-form-urlencoded", body: []byte("a=1"), want: true},
		{name: "xml", contentType: "application/xml", body: []byte("<a/>"), want: true},
		{name: "no type, utf-8", body: []byte("plain"), want: true},
		{name: "no type, binary", body: png, want: false},
		{name: "image", contentType: "image/png", body: png, want: false},
		{name: "octet-stream of text", contentType: "application/octet-stream", body: []byte("abc"), want: false},
		{name: "text type but not utf-8", contentType: "text/plain", body: png, want: false},
		{name: "gzipped json", contentType: "application/json", encoding: "gzip", body: []byte("x"), want: false},
		{name: "multipart", contentType: "multipart/form-data; boundary=x", body: []byte("--x"), want: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, IsText(tt.contentType, tt.encoding, tt.body))
		})
	}
}

func TestResponseV1(t *testing.T) {
	tests := []struct {
		name       string
		payload    string
		wantStatus int
		wantHeader http.Header
		wantBody   string
		malformed  bool
	}{
		{
			name:       "status, headers and body",
			payload:    `{"statusCode":201,"headers":{"Content-Type":"text/plain","X-One":"1"},"body":"created"}`,
			wantStatus: 201,
			wantHeader: http.Header{"Content-Type": {"text/plain"}, "X-One": {"1"}},
			wantBody:   "created",
		},
		{
			name:       "multiValueHeaders win over headers for the same name",
			payload:    `{"statusCode":200,"headers":{"X-Dup":"single","X-Only":"a"},"multiValueHeaders":{"X-Dup":["m1","m2"],"Set-Cookie":["a=1","b=2"]},"body":""}`,
			wantStatus: 200,
			wantHeader: http.Header{"Content-Type": {"application/json"}, "X-Dup": {"m1", "m2"}, "X-Only": {"a"}, "Set-Cookie": {"a=1", "b=2"}},
			wantBody:   "",
		},
		{
			name:       "base64 body",
			payload:    `{"statusCode":200,"headers":{"Content-Type":"image/png"},"body":"iVBORw0KGgoA/w==","isBase64Encoded":true}`,
			wantStatus: 200,
			wantHeader: http.Header{"Content-Type": {"image/png"}},
			wantBody:   string(png),
		},
		{
			name:       "no body, no headers: application/json by default",
			payload:    `{"statusCode":204}`,
			wantStatus: 204,
			wantHeader: http.Header{"Content-Type": {"application/json"}},
		},
		{name: "missing statusCode", payload: `{"body":"x"}`, malformed: true},
		{name: "statusCode as string", payload: `{"statusCode":"200"}`, malformed: true},
		{name: "statusCode out of range", payload: `{"statusCode":42}`, malformed: true},
		{name: "body not a string", payload: `{"statusCode":200,"body":{"a":1}}`, malformed: true},
		{name: "header value not a string", payload: `{"statusCode":200,"headers":{"X":1}}`, malformed: true},
		{name: "invalid base64", payload: `{"statusCode":200,"body":"%%%","isBase64Encoded":true}`, malformed: true},
		{name: "not an object", payload: `"hello"`, malformed: true},
		{name: "not JSON", payload: `hello`, malformed: true},
		{name: "empty", payload: ``, malformed: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := ResponseV1([]byte(tt.payload))
			if tt.malformed {
				require.Error(t, err)
				assert.True(t, errors.Is(err, ErrMalformed))
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.wantStatus, resp.StatusCode)
			assert.Equal(t, tt.wantHeader, resp.Header)
			assert.Equal(t, tt.wantBody, string(resp.Body))
		})
	}
}

func TestResponseV2(t *testing.T) {
	jsonType := http.Header{"Content-Type": {"application/json"}}
	tests := []struct {
		name       string
		payload    string
		wantStatus int
		wantHeader http.Header
		wantBody   string
		malformed  bool
	}{
		{
			name:       "structured with cookies",
			payload:    `{"statusCode":200,"headers":{"content-type":"text/html"},"cookies":["a=1; Path=/","b=2"],"body":"<p>hi</p>"}`,
			wantStatus: 200,
			wantHeader: http.Header{"Content-Type": {"text/html"}, "Set-Cookie": {"a=1; Path=/", "b=2"}},
			wantBody:   "<p>hi</p>",
		},
		{
			name:       "structured base64",
			payload:    `{"statusCode":200,"headers":{"content-type":"image/png"},"body":"iVBORw0KGgoA/w==","isBase64Encoded":true}`,
			wantStatus: 200,
			wantHeader: http.Header{"Content-Type": {"image/png"}},
			wantBody:   string(png),
		},
		{
			name:       "multiValueHeaders are not part of 2.0",
			payload:    `{"statusCode":202,"multiValueHeaders":{"X-A":["1"]}}`,
			wantStatus: 202,
			wantHeader: jsonType,
		},
		{
			name:       "shortcut: object without statusCode",
			payload:    `{ "message": "Hello from Lambda!" }`,
			wantStatus: 200,
			wantHeader: jsonType,
			wantBody:   `{ "message": "Hello from Lambda!" }`,
		},
		{
			name:       "shortcut: string is its text",
			payload:    `"Hello from Lambda!"`,
			wantStatus: 200,
			wantHeader: jsonType,
			wantBody:   `Hello from Lambda!`,
		},
		{name: "shortcut: number", payload: `42`, wantStatus: 200, wantHeader: jsonType, wantBody: `42`},
		{name: "shortcut: array", payload: `[1,"a"]`, wantStatus: 200, wantHeader: jsonType, wantBody: `[1,"a"]`},
		{name: "shortcut: null", payload: `null`, wantStatus: 200, wantHeader: jsonType, wantBody: `null`},
		{name: "not JSON", payload: `Hello`, malformed: true},
		{name: "statusCode of the wrong type", payload: `{"statusCode":true}`, malformed: true},
		{name: "cookies not a list", payload: `{"statusCode":200,"cookies":"a=1"}`, malformed: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := ResponseV2([]byte(tt.payload))
			if tt.malformed {
				require.Error(t, err)
				assert.True(t, errors.Is(err, ErrMalformed))
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.wantStatus, resp.StatusCode)
			assert.Equal(t, tt.wantHeader, resp.Header)
			assert.Equal(t, tt.wantBody, string(resp.Body))
		})
	}
}

func TestAPIIDIsStable(t *testing.T) {
	assert.Equal(t, APIID("dev"), APIID("dev"))
	assert.NotEqual(t, APIID("dev"), APIID("prod"))
	assert.Len(t, APIID("dev"), 10)
}
