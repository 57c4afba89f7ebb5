package cors

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/esb-dev/esb/internal/runtimeconfig"
)

func TestPreflight(t *testing.T) {
	age := 600
	httpCors := &runtimeconfig.Cors{Kind: runtimeconfig.CorsHTTP, AllowOrigins: []string{"https://app.example"},
		AllowMethods: []string{"GET", "POST"}, AllowHeaders: []string{"authorization"}, MaxAge: &age, AllowCredentials: true}
	restCors := &runtimeconfig.Cors{Kind: runtimeconfig.CorsREST, AllowOrigins: []string{"*"},
		AllowMethods: []string{"GET", "OPTIONS"}, AllowHeaders: []string{"Content-Type", "X-Api-Key"}}
	tests := []struct {
		name       string
		cors       *runtimeconfig.Cors
		origin     string
		wantStatus int
		want       map[string]string
	}{
		{name: "http allowed origin", cors: httpCors, origin: "https://app.example", wantStatus: 204, want: map[string]string{
			"Access-Control-Allow-Origin": "https://app.example", "Access-Control-Allow-Methods": "GET,POST",
			"Access-Control-Allow-Headers": "authorization", "Access-Control-Max-Age": "600", "Access-Control-Allow-Credentials": "true"}},
		{name: "http foreign origin", cors: httpCors, origin: "https://evil.example", wantStatus: 204, want: map[string]string{}},
		{name: "rest fixed headers", cors: restCors, origin: "https://any.example", wantStatus: 200, want: map[string]string{
			"Access-Control-Allow-Origin": "*", "Access-Control-Allow-Methods": "GET,OPTIONS", "Access-Control-Allow-Headers": "Content-Type,X-Api-Key"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodOptions, "/x", nil)
			r.Header.Set("Origin", tt.origin)
			r.Header.Set("Access-Control-Request-Method", "POST")
			assert.True(t, IsPreflight(r))
			status, h := Preflight(tt.cors, r)
			assert.Equal(t, tt.wantStatus, status)
			got := map[string]string{}
			for k := range h {
				got[k] = h.Get(k)
			}
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestDecorate(t *testing.T) {
	c := &runtimeconfig.Cors{Kind: runtimeconfig.CorsHTTP, AllowOrigins: []string{"https://app.example"}, ExposeHeaders: []string{"x-total"}}
	tests := []struct {
		name   string
		cors   *runtimeconfig.Cors
		origin string
		want   http.Header
	}{
		{name: "allowed", cors: c, origin: "https://app.example", want: http.Header{
			"Access-Control-Allow-Origin": {"https://app.example"}, "Access-Control-Expose-Headers": {"x-total"}, "X-Fn": {"1"}}},
		{name: "foreign origin loses the function's own", cors: c, origin: "https://evil.example", want: http.Header{"X-Fn": {"1"}}},
		{name: "no origin", cors: c, want: http.Header{"X-Fn": {"1"}}},
		{name: "every origin", cors: &runtimeconfig.Cors{Kind: runtimeconfig.CorsHTTP, AllowOrigins: []string{"*"}}, origin: "https://x", want: http.Header{
			"Access-Control-Allow-Origin": {"*"}, "X-Fn": {"1"}}},
		{name: "rest leaves the function's", cors: &runtimeconfig.Cors{Kind: runtimeconfig.CorsREST, AllowOrigins: []string{"*"}}, origin: "https://x", want: http.Header{
			"Access-Control-Allow-Origin": {"https://fn.example"}, "X-Fn": {"1"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "/x", nil)
			if tt.origin != "" {
				r.Header.Set("Origin", tt.origin)
			}
			h := http.Header{"Access-Control-Allow-Origin": {"https://fn.example"}, "X-Fn": {"1"}}
			Decorate(tt.cors, r, h)
			assert.Equal(t, tt.want, h)
		})
	}
	assert.False(t, IsPreflight(httptest.NewRequest(http.MethodOptions, "/x", nil)), "OPTIONS without Origin is no preflight")
}
