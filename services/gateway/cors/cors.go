// Package cors answers CORS as API Gateway does for an API's CORS
// configuration: a REST API's generated OPTIONS method (SAM's Api Cors,
// fixed headers), and an HTTP API's CorsConfiguration (preflights answered
// for allowed origins, CORS headers on every response, none for foreign
// origins). It is pure: headers in, headers out.
package cors

import (
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/esb-dev/esb/internal/runtimeconfig"
)

// Header names.
const (
	allowOrigin      = "Access-Control-Allow-Origin"
	allowMethods     = "Access-Control-Allow-Methods"
	allowHeaders     = "Access-Control-Allow-Headers"
	allowCredentials = "Access-Control-Allow-Credentials"
	exposeHeaders    = "Access-Control-Expose-Headers"
	maxAge           = "Access-Control-Max-Age"
	requestMethod    = "Access-Control-Request-Method"
)

// IsPreflight reports whether r is a CORS preflight request.
func IsPreflight(r *http.Request) bool {
	return r.Method == http.MethodOptions && r.Header.Get("Origin") != "" && r.Header.Get(requestMethod) != ""
}

// Preflight is the answer to an OPTIONS request the gateway answers for
// the API: a REST API's generated OPTIONS method (200, its fixed headers)
// or an HTTP API's preflight (204, the CORS headers only for an allowed
// origin).
func Preflight(c *runtimeconfig.Cors, r *http.Request) (status int, h http.Header) {
	h = http.Header{}
	if c.Kind == runtimeconfig.CorsREST {
		// The values are the template's, sent as written, whatever the origin.
		if len(c.AllowOrigins) > 0 {
			preflightHeaders(c, h, c.AllowOrigins[0])
		}
		return http.StatusOK, h
	}
	if origin, ok := allowed(c, r.Header.Get("Origin")); ok {
		preflightHeaders(c, h, origin)
	}
	return http.StatusNoContent, h
}

func preflightHeaders(c *runtimeconfig.Cors, h http.Header, origin string) {
	h.Set(allowOrigin, origin)
	setList(h, allowMethods, c.AllowMethods)
	setList(h, allowHeaders, c.AllowHeaders)
	if c.MaxAge != nil {
		h.Set(maxAge, strconv.Itoa(*c.MaxAge))
	}
	if c.AllowCredentials {
		h.Set(allowCredentials, "true")
	}
}

// Decorate sets an HTTP API's CORS headers on a function's response h to
// request r. The function's own CORS headers are dropped, as API Gateway
// ignores them once the API has a CORS configuration; a foreign origin
// gets none. A REST API's responses are the function's alone.
func Decorate(c *runtimeconfig.Cors, r *http.Request, h http.Header) {
	if c == nil || c.Kind != runtimeconfig.CorsHTTP {
		return
	}
	for _, k := range []string{allowOrigin, allowMethods, allowHeaders, allowCredentials, exposeHeaders, maxAge} {
		h.Del(k)
	}
	origin, ok := allowed(c, r.Header.Get("Origin"))
	if !ok {
		return
	}
	h.Set(allowOrigin, origin)
	if c.AllowCredentials {
		h.Set(allowCredentials, "true")
	}
	setList(h, exposeHeaders, c.ExposeHeaders)
}

// allowed returns the Access-Control-Allow-Origin value for origin: "*"
// when every origin is allowed, else the origin itself if listed.
func allowed(c *runtimeconfig.Cors, origin string) (string, bool) {
	if origin == "" {
		return "", false
	}
	if slices.Contains(c.AllowOrigins, "*") {
		return "*", true
	}
	for _, o := range c.AllowOrigins {
		if strings.EqualFold(o, origin) {
			return origin, true
		}
	}
	return "", false
}

func setList(h http.Header, k string, vs []string) {
	if len(vs) > 0 {
		h.Set(k, strings.Join(vs, ","))
	}
}
