package sam

import (
	"fmt"
	"strings"

	"gopkg.in/yaml.v3"
)

// ESB does not enforce API Gateway authorization yet (authorizers, IAM
// authorization, API keys, resource policies). Serving a route the
// template protects would open to anyone what AWS keeps closed, so such a
// route is an error, named where the protection is written; an OpenAPI
// operation that needs authorization is left unserved with a warning,
// as ESB did with the whole document before it read OpenAPI routes.
// Auth settings that protect nothing are warned about.

// routeAuth is what an Api or HttpApi event says about authorization.
type routeAuth struct {
	authorizer string // "" when the event does not name one
	apiKey     *bool
	at         *yaml.Node
	path       string
}

// apiAuth is an API's Auth (with Globals), or the Globals Auth of an
// implicit API.
type apiAuth struct {
	defaultAuthorizer string
	apiKey            bool
	at                *yaml.Node // the DefaultAuthorizer or ApiKeyRequired node
	path              string
}

// readRouteAuth reads an event's Auth.
func (p *parser) readRouteAuth(props obj) *routeAuth {
	raw := lookup(props.n, "Auth")
	if raw == nil {
		return nil
	}
	path := p.pathOf(raw, props.path+".Auth")
	ra := &routeAuth{at: raw, path: path}
	if v, ok := literal(lookup(raw, "Authorizer")); ok {
		ra.authorizer = v
	}
	if v, ok := literal(lookup(raw, "ApiKeyRequired")); ok {
		b := strings.EqualFold(v, "true")
		ra.apiKey = &b
	}
	if rp := lookup(raw, "ResourcePolicy"); rp != nil {
		p.d.add(p.d.errf(rp, path+".ResourcePolicy", "ESB does not enforce resource policies yet; serving the route would let any caller in"))
	}
	return ra
}

// readAPIAuth reads the Auth of an API (Globals merged in already) and
// refuses a resource policy.
func (p *parser) readAPIAuth(o obj) apiAuth {
	raw := lookup(o.n, "Auth")
	if policy := lookup(o.n, "Policy"); policy != nil {
		p.d.add(p.d.errf(policy, p.pathOf(policy, o.path+".Policy"), "ESB does not enforce resource policies yet; serving the API would let any caller in"))
	}
	if raw == nil {
		return apiAuth{}
	}
	path := p.pathOf(raw, o.path+".Auth")
	var a apiAuth
	if n := lookup(raw, "DefaultAuthorizer"); n != nil {
		if v, ok := literal(n); ok && v != "NONE" {
			a.defaultAuthorizer, a.at, a.path = v, n, p.pathOf(n, path+".DefaultAuthorizer")
		}
	}
	if n := lookup(raw, "ApiKeyRequired"); n != nil {
		if v, ok := literal(n); ok && strings.EqualFold(v, "true") {
			a.apiKey = true
			if a.at == nil {
				a.at, a.path = n, p.pathOf(n, path+".ApiKeyRequired")
			}
		}
	}
	if rp := lookup(raw, "ResourcePolicy"); rp != nil {
		p.d.add(p.d.errf(rp, p.pathOf(rp, path+".ResourcePolicy"), "ESB does not enforce resource policies yet; serving the API would let any caller in"))
	}
	if up := lookup(raw, "UsagePlan"); up != nil {
		p.d.warn(up, p.pathOf(up, path+".UsagePlan"), "usage plans (throttling and quotas) are not enforced locally")
	}
	if a.defaultAuthorizer == "" && lookup(raw, "Authorizers") != nil {
		p.d.warn(lookup(raw, "Authorizers"), p.pathOf(lookup(raw, "Authorizers"), path+".Authorizers"), "authorizers are not run locally; routes that use one are refused, the others are served without one as on AWS")
	}
	return a
}

// checkAuth applies the rule above to every route, once all APIs and
// functions are read.
func (p *parser) checkAuth(t *Template) {
	apis := map[string]apiAuth{}
	for _, a := range t.APIs {
		apis[a.LogicalID] = a.auth
	}
	// The implicit APIs take their Auth from Globals.
	for id, section := range map[string]string{ImplicitRestAPI: "Api", ImplicitHTTPAPI: "HttpApi"} {
		if g := p.globals[section]; g != nil && lookup(g, "Auth") != nil {
			apis[id] = p.readAPIAuth(obj{n: g, path: "Globals." + section})
		}
	}
	byDefault := map[string][]string{} // API -> routes its default protects
	for i := range t.Functions {
		f := &t.Functions[i]
		kept := f.Routes[:0]
		for _, rt := range f.Routes {
			api := apis[rt.API]
			what, at, path := protection(rt.auth, api)
			switch {
			case what == "":
				kept = append(kept, rt)
			case rt.OpenAPI != "":
				p.d.warn(rt.node, rt.OpenAPI, "%s %s requires authorization (%s), which ESB does not enforce yet; not served, so it is not left open", rt.Method, rt.Path, what)
			case rt.auth != nil && at == rt.auth.at:
				p.d.add(p.d.errf(at, path, "route %s %s requires authorization (%s), which ESB does not enforce yet; serving it would leave it open to anyone (remove the Auth to run it locally)", rt.Method, rt.Path, what))
			default:
				byDefault[rt.API] = append(byDefault[rt.API], rt.Method+" "+rt.Path)
			}
		}
		f.Routes = kept
	}
	for _, id := range sortedKeys(byDefault) {
		api := apis[id]
		routes := byDefault[id]
		p.d.add(p.d.errf(api.at, api.path, "%s protects %d route(s) of %s (%s), and ESB does not enforce authorization yet; serving them would leave them open to anyone (remove it, or set Auth.Authorizer: NONE on the events, to run them locally)",
			describeProtection(api), len(routes), id, strings.Join(routes, ", ")))
	}
}

// protection says what protects a route, and where that is written; ""
// when nothing does.
func protection(ra *routeAuth, api apiAuth) (what string, at *yaml.Node, path string) {
	authorizer, authAt, authPath := api.defaultAuthorizer, api.at, api.path
	if ra != nil && ra.authorizer != "" {
		authorizer, authAt, authPath = ra.authorizer, ra.at, ra.path
	}
	if authorizer != "" && authorizer != "NONE" {
		if authorizer == "AWS_IAM" {
			return "IAM authorization", authAt, authPath
		}
		return fmt.Sprintf("authorizer %s", quote(authorizer)), authAt, authPath
	}
	key, keyAt, keyPath := api.apiKey, api.at, api.path
	if ra != nil && ra.apiKey != nil {
		key, keyAt, keyPath = *ra.apiKey, ra.at, ra.path
	}
	if key {
		return "an API key", keyAt, keyPath
	}
	return "", nil, ""
}

func describeProtection(a apiAuth) string {
	if a.defaultAuthorizer != "" {
		return "DefaultAuthorizer " + quote(a.defaultAuthorizer)
	}
	return "ApiKeyRequired"
}
