package sam

import (
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/esb-dev/esb/internal/runtimeconfig"
)

// apiCors is an API's Cors (REST) or CorsConfiguration (HTTP API).
type apiCors struct {
	cfg *runtimeconfig.Cors
	// A REST API's generated OPTIONS method gets the API's
	// DefaultAuthorizer and ApiKeyRequired unless the template says not.
	addAuth, addKey bool
}

// readCors reads the CORS configuration of an API of type typ (Globals
// merged in already); nil when it has none.
func (p *parser) readCors(o obj, typ string) *apiCors {
	if typ == TypeServerlessHTTPAPI {
		return p.readHTTPCors(o)
	}
	n, path := p.field(o, "Cors")
	if n == nil {
		return nil
	}
	c := &runtimeconfig.Cors{Kind: runtimeconfig.CorsREST}
	if n.Kind == yaml.ScalarNode {
		c.AllowOrigins = []string{unquoteHeader(n.Value)}
	} else {
		co := obj{n: n, path: path}
		if v, ok := p.required(co, "AllowOrigin", ""); ok {
			c.AllowOrigins = []string{unquoteHeader(v.s)}
		}
		if v, ok := p.str(co, "AllowMethods"); ok {
			c.AllowMethods = splitHeader(unquoteHeader(v.s))
		}
		if v, ok := p.str(co, "AllowHeaders"); ok {
			c.AllowHeaders = splitHeader(unquoteHeader(v.s))
		}
		if v, ok := p.str(co, "MaxAge"); ok {
			age, err := strconv.Atoi(unquoteHeader(v.s))
			if err != nil || age < 0 {
				p.d.add(p.d.errf(v.n, v.path, "want a number of seconds, got %s", quote(v.s)))
			} else {
				c.MaxAge = &age
			}
		}
		if b := p.boolean(co, "AllowCredentials"); b != nil {
			c.AllowCredentials = *b
		}
	}
	ac := &apiCors{cfg: c, addAuth: true, addKey: true}
	if auth := lookup(o.n, "Auth"); auth != nil {
		ao := obj{n: auth, path: p.pathOf(auth, o.path+".Auth")}
		if b := p.boolean(ao, "AddDefaultAuthorizerToCorsPreflight"); b != nil {
			ac.addAuth = *b
		}
		if b := p.boolean(ao, "AddApiKeyRequiredToCorsPreflight"); b != nil {
			ac.addKey = *b
		}
	}
	return ac
}

func (p *parser) readHTTPCors(o obj) *apiCors {
	n, path := p.field(o, "CorsConfiguration")
	if n == nil {
		return nil
	}
	c := &runtimeconfig.Cors{Kind: runtimeconfig.CorsHTTP}
	if n.Kind == yaml.ScalarNode {
		b := p.boolean(o, "CorsConfiguration")
		if b == nil || !*b {
			return nil
		}
		// true: every origin, method and header, as the transform sets it.
		c.AllowOrigins, c.AllowMethods, c.AllowHeaders = []string{"*"}, []string{"*"}, []string{"*"}
		return &apiCors{cfg: c}
	}
	co := obj{n: n, path: path}
	list := func(key string) []string {
		vs, _ := p.strList(co, key)
		var out []string
		for _, v := range vs {
			out = append(out, v.s)
		}
		return out
	}
	c.AllowOrigins = list("AllowOrigins")
	c.AllowMethods = list("AllowMethods")
	c.AllowHeaders = list("AllowHeaders")
	c.ExposeHeaders = list("ExposeHeaders")
	if lookup(n, "MaxAge") != nil {
		age := p.integer(co, "MaxAge", 0, 0, 86400)
		c.MaxAge = &age
	}
	if b := p.boolean(co, "AllowCredentials"); b != nil {
		c.AllowCredentials = *b
	}
	return &apiCors{cfg: c}
}

// unquoteHeader strips the single quotes SAM wants around a header value
// ("'*'"): API Gateway reads an unquoted one as a mapping expression.
func unquoteHeader(s string) string {
	if len(s) >= 2 && s[0] == '\'' && s[len(s)-1] == '\'' {
		return s[1 : len(s)-1]
	}
	return s
}

func splitHeader(s string) []string {
	var out []string
	for v := range strings.SplitSeq(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}

// allMethods is what ANY stands for in a generated OPTIONS method's
// Access-Control-Allow-Methods.
var allMethods = []string{"DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT"}

// pathMethods lists, per API and path, the methods of its routes plus
// OPTIONS: the transform's Access-Control-Allow-Methods when the template
// gives none.
func pathMethods(t *Template) map[[2]string][]string {
	out := map[[2]string][]string{}
	for _, f := range t.Functions {
		for _, rt := range f.Routes {
			k := [2]string{rt.API, rt.Path}
			ms := out[k]
			if rt.Method == runtimeconfig.MethodAny {
				ms = append(ms, allMethods...)
			} else {
				ms = append(ms, rt.Method)
			}
			out[k] = append(ms, "OPTIONS")
		}
	}
	for k, ms := range out {
		slices.Sort(ms)
		out[k] = slices.Compact(ms)
	}
	return out
}
