package httpapi

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
)

const corsRoutingYML = `
routes:
  - path: /items
    method: GET
    function: Hello
    payload: "2.0"
    api: http
    cors: {kind: http, allow_origins: ["https://app.example"], allow_methods: [GET, POST], allow_headers: [authorization], expose_headers: [x-total], max_age: 60}
  - path: /rest
    method: GET
    function: Hello
    payload: "1.0"
    stage: prod
    api: rest
    auth: {api_key: true}
    cors:
      kind: rest
      allow_origins: ["*"]
      allow_methods: [GET, OPTIONS]
      preflight_auth: {api_key: true}
  - path: /rest-open
    method: GET
    function: Hello
    payload: "1.0"
    stage: prod
    api: rest
    cors: {kind: rest, allow_origins: ["https://app.example"], allow_methods: [GET, OPTIONS]}
  - {path: /rest-open, method: OPTIONS, function: Hello, payload: "1.0", stage: prod, api: rest2}
  - {path: /plain, method: GET, function: Hello, payload: "1.0"}
`

func TestCORS(t *testing.T) {
	h := newHarness(t, functionsYML, corsRoutingYML, harnessOptions{server: Options{Auth: enforcerWithKey(t, "key-1")}})
	h.function("Hello", answer(200, map[string]string{"Access-Control-Allow-Origin": "https://from-function", "X-Fn": "1"}, `{"statusCode":200,"headers":{"Access-Control-Allow-Origin":"https://from-function"},"body":"ok"}`))
	preflight := http.Header{"Origin": {"https://app.example"}, "Access-Control-Request-Method": {"POST"}}
	tests := []struct {
		name       string
		method     string
		path       string
		header     http.Header
		wantStatus int
		want       map[string]string // "" means absent
	}{
		{name: "http preflight, allowed origin", method: "OPTIONS", path: "/items", header: preflight, wantStatus: 204, want: map[string]string{
			"Access-Control-Allow-Origin": "https://app.example", "Access-Control-Allow-Methods": "GET,POST",
			"Access-Control-Allow-Headers": "authorization", "Access-Control-Max-Age": "60"}},
		{name: "http preflight, foreign origin", method: "OPTIONS", path: "/items",
			header: http.Header{"Origin": {"https://evil.example"}, "Access-Control-Request-Method": {"POST"}}, wantStatus: 204,
			want: map[string]string{"Access-Control-Allow-Origin": "", "Access-Control-Allow-Methods": ""}},
		{name: "http response, allowed origin", method: "GET", path: "/items", header: http.Header{"Origin": {"https://app.example"}}, wantStatus: 200,
			want: map[string]string{"Access-Control-Allow-Origin": "https://app.example", "Access-Control-Expose-Headers": "x-total"}},
		{name: "http response, foreign origin", method: "GET", path: "/items", header: http.Header{"Origin": {"https://evil.example"}}, wantStatus: 200,
			want: map[string]string{"Access-Control-Allow-Origin": ""}},
		{name: "rest preflight needs the API key", method: "OPTIONS", path: "/rest", header: preflight, wantStatus: 403},
		{name: "rest preflight with the key", method: "OPTIONS", path: "/rest", header: http.Header{"X-Api-Key": {"key-1"}}, wantStatus: 200,
			want: map[string]string{"Access-Control-Allow-Origin": "*", "Access-Control-Allow-Methods": "GET,OPTIONS"}},
		{name: "rest response is the function's", method: "GET", path: "/rest", header: http.Header{"X-Api-Key": {"key-1"}, "Origin": {"https://app.example"}}, wantStatus: 200,
			want: map[string]string{"Access-Control-Allow-Origin": "https://from-function"}},
		{name: "no cors: OPTIONS is not found", method: "OPTIONS", path: "/plain", header: preflight, wantStatus: 404},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := h.do(t, tt.method, tt.path, nil, tt.header)
			assert.Equal(t, tt.wantStatus, resp.StatusCode, body)
			for k, v := range tt.want {
				assert.Equal(t, v, resp.Header.Get(k), k)
			}
		})
	}
	// An OPTIONS route of the template's own wins over the generated one.
	resp, _ := h.do(t, "OPTIONS", "/rest-open", nil, nil)
	assert.Equal(t, 200, resp.StatusCode)
	assert.Equal(t, "https://from-function", resp.Header.Get("Access-Control-Allow-Origin"))
}
