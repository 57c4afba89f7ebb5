package functionurl

import (
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const id = "abcdefghijklmnopqrstuvwxyz234567"

func TestIDFromHost(t *testing.T) {
	tests := []struct {
		name, host, want string
	}{
		{name: "AWS's form", host: id + ".lambda-url.us-east-1.on.aws", want: id},
		{name: "localhost with port", host: id + ".lambda-url.us-east-1.localhost:5000", want: id},
		{name: "upper case", host: strings.ToUpper(id) + ".LAMBDA-URL.us-east-1.localhost", want: id},
		{name: "any domain", host: id + ".lambda-url.x", want: id},
		{name: "bare address", host: "127.0.0.1:5000"},
		{name: "an API's host", host: id + ".execute-api.localhost"},
		{name: "short id", host: "abc.lambda-url.us-east-1.localhost"},
		{name: "long id", host: id + "8.lambda-url.us-east-1.localhost"},
		{name: "not letters and digits", host: strings.Replace(id, "a", "-", 1) + ".lambda-url.us-east-1.localhost"},
		{name: "nothing after lambda-url", host: id + ".lambda-url."},
		{name: "empty label after lambda-url", host: id + ".lambda-url..localhost"},
		{name: "lambda-url deeper", host: "x." + id + ".lambda-url.localhost"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := IDFromHost(tt.host)
			assert.Equal(t, tt.want != "", ok)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestEvent(t *testing.T) {
	at := time.Date(2026, 12, 3, 8, 0, 0, 0, time.UTC)
	build := func(t *testing.T, authorizer json.RawMessage, body string, contentType string) map[string]any {
		t.Helper()
		r := httptest.NewRequest("PUT", "http://"+id+".lambda-url.us-east-1.localhost:5000/a%20b/c?x=1&x=2&y", strings.NewReader(body))
		r.RemoteAddr = "192.0.2.7:40000"
		r.Header.Set("User-Agent", "curl/8")
		r.Header.Set("Cookie", "s=1; t=2")
		r.Header.Set("X-Multi", "a")
		r.Header.Add("X-Multi", "b")
		if contentType != "" {
			r.Header.Set("Content-Type", contentType)
		}
		data, err := Event(Request{HTTP: r, Body: []byte(body), URLID: id, RequestID: "req-1", TraceID: "Root=1-x", Time: at, AccountID: "123456789012", Authorizer: authorizer})
		require.NoError(t, err)
		var ev map[string]any
		require.NoError(t, json.Unmarshal(data, &ev))
		return ev
	}

	t.Run("NONE", func(t *testing.T) {
		ev := build(t, nil, `{"k":1}`, "application/json")
		assert.Equal(t, "2.0", ev["version"])
		assert.Equal(t, "$default", ev["routeKey"])
		assert.Equal(t, "/a%20b/c", ev["rawPath"])
		assert.Equal(t, "x=1&x=2&y", ev["rawQueryString"])
		assert.Equal(t, []any{"s=1", "t=2"}, ev["cookies"])
		assert.Equal(t, map[string]any{"x": "1,2", "y": ""}, ev["queryStringParameters"])
		h := ev["headers"].(map[string]any)
		assert.Equal(t, "a,b", h["x-multi"])
		assert.Equal(t, "curl/8", h["user-agent"])
		assert.NotContains(t, h, "cookie", "cookies travel apart, as in payload 2.0")
		assert.Equal(t, `{"k":1}`, ev["body"])
		assert.Equal(t, false, ev["isBase64Encoded"])
		assert.NotContains(t, ev, "pathParameters")
		rc := ev["requestContext"].(map[string]any)
		assert.Equal(t, map[string]any{
			"accountId": "anonymous", "apiId": id, "domainName": id + ".lambda-url.us-east-1.localhost", "domainPrefix": id,
			"http":      map[string]any{"method": "PUT", "path": "/a b/c", "protocol": "HTTP/1.1", "sourceIp": "192.0.2.7", "userAgent": "curl/8"},
			"requestId": "req-1", "routeKey": "$default", "stage": "$default", "time": "03/Dec/2026:08:00:00 +0000", "timeEpoch": float64(at.UnixMilli()),
		}, rc)
	})
	t.Run("binary body", func(t *testing.T) {
		ev := build(t, nil, "\x00\x01", "application/octet-stream")
		assert.Equal(t, "AAE=", ev["body"])
		assert.Equal(t, true, ev["isBase64Encoded"])
	})
	t.Run("AWS_IAM", func(t *testing.T) {
		ev := build(t, json.RawMessage(`{"iam":{"accessKey":"AKIA1"}}`), "", "")
		rc := ev["requestContext"].(map[string]any)
		assert.Equal(t, "123456789012", rc["accountId"], "the function's owner, not anonymous")
		assert.Equal(t, map[string]any{"iam": map[string]any{"accessKey": "AKIA1"}}, rc["authorizer"])
		assert.NotContains(t, ev, "body")
	})
}
