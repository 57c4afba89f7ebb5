package sam

import (
	"fmt"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/esb-dev/esb/internal/runtimeconfig"
)

// API Gateway authorization, as the gateway enforces it: each route gets
// the authorizer, IAM (AWS_IAM) and API key requirement AWS would apply,
// written into routing.yml. What ESB cannot enforce (resource policies,
// identity from stage variables or the request context, an authorizer
// function outside the template, several Cognito pools) is an error where
// it is written, since serving the route would leave open what
// AWS keeps closed. An OpenAPI operation that needs authorization is left
// unserved with a warning: its security schemes are not read.

// routeAuth is what an Api or HttpApi event says about authorization.
type routeAuth struct {
	authorizer string // "" when the event does not name one
	apiKey     *bool
	scopes     []string
	hasScopes  bool
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
	authorizers       map[string]*authorizerDef
}

// authorizerDef is one entry of Auth.Authorizers.
type authorizerDef struct {
	az runtimeconfig.Authorizer
	// functionARN is what FunctionArn resolved to; it must name a
	// function of the template, checked once all functions are read.
	functionARN string
	at          *yaml.Node
	path        string
	// refusal says why a route that uses it cannot be served; such an
	// authorizer that no route uses is only warned about.
	refusal     string
	refusalAt   *yaml.Node
	refusalPath string
}

// Default ReauthorizeEvery of Lambda and Cognito authorizers (seconds).
const defaultAuthorizerTTL = 300

// readRouteAuth reads an event's Auth.
func (p *parser) readRouteAuth(props obj) *routeAuth {
	raw := lookup(props.n, "Auth")
	if raw == nil {
		return nil
	}
	path := p.pathOf(raw, props.path+".Auth")
	ra := &routeAuth{at: raw, path: path}
	o := obj{n: raw, path: path}
	if v, ok := p.str(o, "Authorizer"); ok {
		ra.authorizer = v.s
	}
	ra.apiKey = p.boolean(o, "ApiKeyRequired")
	if vs, ok := p.strList(o, "AuthorizationScopes"); ok {
		ra.hasScopes = true
		for _, v := range vs {
			ra.scopes = append(ra.scopes, v.s)
		}
	}
	if rp := lookup(raw, "ResourcePolicy"); rp != nil {
		p.d.add(p.d.errf(rp, path+".ResourcePolicy", "ESB does not enforce resource policies yet; serving the route would let any caller in"))
	}
	if n := lookup(raw, "InvokeRole"); n != nil && !callerCredentials(n) {
		p.d.warn(n, path+".InvokeRole", "the invoke role is not assumed; the function runs with ESB's credentials")
	}
	return ra
}

// callerCredentials reports whether an InvokeRole is SAM's default,
// CALLER_CREDENTIALS, or NONE: API Gateway then invokes with the caller's
// own credentials or the function's resource policy, and every key the
// gateway accepts may invoke every function of the env, so ESB does what
// AWS does. A role ARN would be assumed on AWS; here it is not.
func callerCredentials(n *yaml.Node) bool {
	v, ok := literal(n)
	return ok && (v == "CALLER_CREDENTIALS" || v == "NONE")
}

// readAPIAuth reads the Auth of an API (Globals merged in already) of type
// typ and refuses a resource policy.
func (p *parser) readAPIAuth(o obj, typ string) apiAuth {
	raw := lookup(o.n, "Auth")
	if policy := lookup(o.n, "Policy"); policy != nil {
		p.d.add(p.d.errf(policy, p.pathOf(policy, o.path+".Policy"), "ESB does not enforce resource policies yet; serving the API would let any caller in"))
	}
	if n := lookup(o.n, "ApiKeySourceType"); n != nil {
		if v, ok := literal(n); ok && v == "AUTHORIZER" {
			p.d.warn(n, p.pathOf(n, o.path+".ApiKeySourceType"), "API keys are read from the x-api-key header, not from an authorizer's usageIdentifierKey; a route that needs a key refuses callers that send none")
		}
	}
	if raw == nil {
		return apiAuth{}
	}
	path := p.pathOf(raw, o.path+".Auth")
	a := apiAuth{authorizers: map[string]*authorizerDef{}}
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
	if n := lookup(raw, "InvokeRole"); n != nil && !callerCredentials(n) {
		p.d.warn(n, p.pathOf(n, path+".InvokeRole"), "the invoke role is not assumed; functions run with ESB's credentials")
	}
	if up := lookup(raw, "UsagePlan"); up != nil {
		p.d.warn(up, p.pathOf(up, path+".UsagePlan"), "usage plans (throttling and quotas) are not enforced locally; API keys are checked against $CONFIG_DIR/auth/api-keys and the template's AWS::ApiGateway::ApiKey resources with a Value")
	}
	if azs := lookup(raw, "Authorizers"); azs != nil {
		azPath := p.pathOf(azs, path+".Authorizers")
		for _, kv := range pairs(azs) {
			name := kv.key
			if name == "AWS_IAM" || name == "NONE" {
				continue
			}
			def := p.readAuthorizer(obj{n: kv.val, path: p.pathOf(kv.val, azPath+"."+name)}, name, typ)
			a.authorizers[name] = def
		}
	}
	return a
}

// readAuthorizer reads one entry of Auth.Authorizers.
func (p *parser) readAuthorizer(o obj, name, typ string) *authorizerDef {
	def := &authorizerDef{az: runtimeconfig.Authorizer{Name: name}, at: o.n, path: o.path}
	refuse := func(n *yaml.Node, path, format string, args ...any) {
		if def.refusal == "" {
			def.refusal, def.refusalAt, def.refusalPath = fmt.Sprintf(format, args...), n, path
		}
	}
	identity := obj{n: lookup(o.n, "Identity"), path: o.path + ".Identity"}
	if identity.n != nil {
		identity.path = p.pathOf(identity.n, identity.path)
	}
	ttl := func() {
		def.az.TTL = p.integer(identity, "ReauthorizeEvery", defaultAuthorizerTTL, 0, 3600)
	}
	if vs, ok := p.strList(o, "AuthorizationScopes"); ok {
		for _, v := range vs {
			def.az.Scopes = append(def.az.Scopes, v.s)
		}
	}
	rest := typ == TypeServerlessAPI
	switch {
	case rest && lookup(o.n, "UserPoolArn") != nil:
		def.az.Type = runtimeconfig.AuthorizerCognito
		pool := p.cognitoPool(o, refuse)
		if pool != "" {
			def.az.Issuer = cognitoIssuer(pool)
		}
		def.az.IdentitySources = []string{"header:" + p.identityHeader(identity)}
		if v, ok := p.str(identity, "ValidationExpression"); ok {
			def.az.ValidationExpression = v.s
		}
		ttl()
	case lookup(o.n, "FunctionArn") != nil:
		if v, ok := p.str(o, "FunctionArn"); ok {
			def.functionARN = v.s
		}
		if rest {
			def.az.Type = runtimeconfig.AuthorizerToken
			if v, ok := p.str(o, "FunctionPayloadType"); ok && p.oneOf(v, "TOKEN", "REQUEST") && v.s == "REQUEST" {
				def.az.Type = runtimeconfig.AuthorizerRequest
			}
		} else {
			def.az.Type = runtimeconfig.AuthorizerHTTPRequest
			if v, ok := p.required(o, "AuthorizerPayloadFormatVersion", " for a Lambda authorizer of an HttpApi"); ok && p.oneOf(v, "1.0", "2.0") {
				def.az.Payload = v.s
			}
			if b := p.boolean(o, "EnableSimpleResponses"); b != nil && *b {
				def.az.SimpleResponses = true
				if def.az.Payload == "1.0" {
					p.d.add(p.d.errf(o.n, o.path+".EnableSimpleResponses", "simple responses need AuthorizerPayloadFormatVersion 2.0"))
				}
			}
		}
		if def.az.Type == runtimeconfig.AuthorizerToken {
			def.az.IdentitySources = []string{"header:" + p.identityHeader(identity)}
			if v, ok := p.str(identity, "ValidationExpression"); ok {
				def.az.ValidationExpression = v.s
			}
			ttl()
			break
		}
		for _, src := range [][2]string{{"Headers", "header"}, {"QueryStrings", "query"}} {
			if vs, ok := p.strList(identity, src[0]); ok {
				for _, v := range vs {
					def.az.IdentitySources = append(def.az.IdentitySources, src[1]+":"+v.s)
				}
			}
		}
		for _, src := range [][2]string{{"StageVariables", "stage variables"}, {"Context", "the request context"}} {
			if n := lookup(identity.n, src[0]); n != nil {
				refuse(n, identity.path+"."+src[0], "identity sources from %s are not read by ESB", src[1])
			}
		}
		ttl()
		if len(def.az.IdentitySources) == 0 {
			def.az.TTL = 0 // nothing to key a cache on: API Gateway does not cache
		}
	case !rest && lookup(o.n, "JwtConfiguration") != nil:
		def.az.Type = runtimeconfig.AuthorizerJWT
		jc := obj{n: lookup(o.n, "JwtConfiguration"), path: o.path + ".JwtConfiguration"}
		if v, ok := p.required(jc, "issuer", ""); ok {
			def.az.Issuer = v.s
		}
		if vs, ok := p.strList(jc, "audience"); ok {
			for _, v := range vs {
				def.az.Audience = append(def.az.Audience, v.s)
			}
		}
		src := "$request.header.Authorization"
		if v, ok := p.str(o, "IdentitySource"); ok {
			src = v.s
		}
		switch {
		case strings.HasPrefix(src, "$request.header."):
			def.az.IdentitySources = []string{"header:" + strings.TrimPrefix(src, "$request.header.")}
		case strings.HasPrefix(src, "$request.querystring."):
			def.az.IdentitySources = []string{"query:" + strings.TrimPrefix(src, "$request.querystring.")}
		default:
			refuse(o.n, o.path+".IdentitySource", "identity source %s is not read by ESB (use $request.header.<name> or $request.querystring.<name>)", quote(src))
		}
	default:
		refuse(o.n, o.path, "authorizer %s is neither a Lambda authorizer (FunctionArn) nor a %s", quote(name), map[bool]string{true: "Cognito authorizer (UserPoolArn)", false: "JWT authorizer (JwtConfiguration)"}[rest])
	}
	return def
}

func (p *parser) identityHeader(identity obj) string {
	if v, ok := p.str(identity, "Header"); ok && v.s != "" {
		return v.s
	}
	return "Authorization"
}

// cognitoPool returns the one user pool ARN a Cognito authorizer names.
func (p *parser) cognitoPool(o obj, refuse func(*yaml.Node, string, string, ...any)) string {
	n, path := p.field(o, "UserPoolArn")
	if n == nil {
		return ""
	}
	if n.Kind == yaml.SequenceNode {
		if len(n.Content) != 1 {
			refuse(n, path, "ESB checks tokens of one user pool per authorizer; this one names %d", len(n.Content))
			return ""
		}
		n = n.Content[0]
	}
	if n.Kind != yaml.ScalarNode {
		p.d.add(p.d.errf(n, path, "want a user pool ARN, got %s", describe(n)))
		return ""
	}
	return n.Value
}

// cognitoIssuer is the iss claim of a user pool's tokens:
// https://cognito-idp.<region>.amazonaws.com/<pool id>.
func cognitoIssuer(arn string) string {
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) < 6 {
		return ""
	}
	return "https://cognito-idp." + parts[3] + ".amazonaws.com/" + strings.TrimPrefix(parts[5], "userpool/")
}

// checkAuth gives every route the auth AWS would apply, once all APIs and
// functions are read.
func (p *parser) checkAuth(t *Template) {
	apis := map[string]apiAuth{}
	corses := map[string]*apiCors{}
	types := map[string]string{ImplicitRestAPI: TypeServerlessAPI, ImplicitHTTPAPI: TypeServerlessHTTPAPI}
	for _, a := range t.APIs {
		apis[a.LogicalID] = a.auth
		corses[a.LogicalID] = a.cors
		types[a.LogicalID] = a.Type
	}
	// The implicit APIs take their Auth and CORS from Globals.
	for id, section := range map[string]string{ImplicitRestAPI: "Api", ImplicitHTTPAPI: "HttpApi"} {
		g := p.globals[section]
		if g == nil {
			continue
		}
		if lookup(g, "Auth") != nil {
			apis[id] = p.readAPIAuth(obj{n: g, path: "Globals." + section}, types[id])
		}
		corses[id] = p.readCors(obj{n: g, path: "Globals." + section}, types[id])
	}
	methods := pathMethods(t)
	functions := map[string]bool{}
	for _, f := range t.Functions {
		functions[f.Name] = true
	}
	used := map[*authorizerDef]bool{}
	reported := map[*authorizerDef]bool{}
	for i := range t.Functions {
		f := &t.Functions[i]
		kept := f.Routes[:0]
		for _, rt := range f.Routes {
			api := apis[rt.API]
			what, at, path := protection(rt.auth, api)
			switch {
			case what == "":
				kept = append(kept, rt)
				continue
			case rt.OpenAPI != "":
				p.d.warn(rt.node, rt.OpenAPI, "%s %s requires authorization (%s), which ESB does not read from OpenAPI security schemes; not served, so it is not left open", rt.Method, rt.Path, what)
				continue
			}
			ra, ok := p.routeAuthConfig(rt, api, types[rt.API], functions, used, reported, at, path)
			if !ok {
				continue
			}
			rt.Auth = ra
			kept = append(kept, rt)
		}
		f.Routes = kept
	}
	// CORS once every route's auth is known: a REST API's generated
	// OPTIONS method takes the API's default protection.
	for i := range t.Functions {
		f := &t.Functions[i]
		kept := f.Routes[:0]
		for _, rt := range f.Routes {
			ac := corses[rt.API]
			if ac == nil || rt.OpenAPI != "" {
				kept = append(kept, rt)
				continue
			}
			c := *ac.cfg
			if c.Kind == runtimeconfig.CorsREST {
				if len(c.AllowMethods) == 0 {
					c.AllowMethods = methods[[2]string{rt.API, rt.Path}]
				}
				api := apis[rt.API]
				if !ac.addAuth {
					api.defaultAuthorizer = ""
				}
				if !ac.addKey {
					api.apiKey = false
				}
				if what, at, path := protection(nil, api); what != "" {
					pa, ok := p.routeAuthConfig(Route{API: rt.API, Method: "OPTIONS", Path: rt.Path}, api, types[rt.API], functions, used, reported, at, path)
					if !ok {
						continue
					}
					c.PreflightAuth = pa
				}
			}
			rt.Cors = &c
			kept = append(kept, rt)
		}
		f.Routes = kept
	}
	for _, id := range sortedKeys(apis) {
		for _, name := range sortedKeys(apis[id].authorizers) {
			def := apis[id].authorizers[name]
			if !used[def] && def.refusal != "" {
				p.d.warn(def.refusalAt, def.refusalPath, "%s; no route uses authorizer %s, so nothing is left open", def.refusal, quote(name))
			}
		}
	}
}

// routeAuthConfig is the routing.yml auth of one protected route; ok is
// false when it cannot be enforced (an error is recorded).
func (p *parser) routeAuthConfig(rt Route, api apiAuth, typ string, functions map[string]bool, used, reported map[*authorizerDef]bool, at *yaml.Node, path string) (*runtimeconfig.RouteAuth, bool) {
	out := &runtimeconfig.RouteAuth{}
	name := api.defaultAuthorizer
	if rt.auth != nil && rt.auth.authorizer != "" {
		name = rt.auth.authorizer
	}
	if name == "NONE" {
		name = ""
	}
	out.APIKey = api.apiKey
	if rt.auth != nil && rt.auth.apiKey != nil {
		out.APIKey = *rt.auth.apiKey
	}
	if out.APIKey && typ == TypeServerlessHTTPAPI {
		p.d.add(p.d.errf(at, path, "an HttpApi has no API keys; ApiKeyRequired cannot be enforced, and serving the route would leave it open"))
		return nil, false
	}
	if name == "" {
		return out, true
	}
	if name == "AWS_IAM" {
		// The gateway verifies SigV4 (service execute-api) against the
		// env's keys: every one of them may invoke, as an IAM policy
		// granting execute-api:Invoke to the account would.
		out.IAM = true
		return out, true
	}
	def := api.authorizers[name]
	if def == nil {
		p.d.add(p.d.errf(at, path, "authorizer %s is not defined in the Auth.Authorizers of %s", quote(name), rt.API))
		return nil, false
	}
	used[def] = true
	if def.refusal != "" {
		if !reported[def] {
			reported[def] = true
			p.d.add(p.d.errf(def.refusalAt, def.refusalPath, "%s; serving the routes authorizer %s protects would leave them open", def.refusal, quote(name)))
		}
		return nil, false
	}
	az := def.az
	if az.Type == runtimeconfig.AuthorizerToken || az.Type == runtimeconfig.AuthorizerRequest || az.Type == runtimeconfig.AuthorizerHTTPRequest {
		fn := functionOfARN(def.functionARN)
		if !functions[fn] {
			if !reported[def] {
				reported[def] = true
				p.d.add(p.d.errf(lookup(def.at, "FunctionArn"), def.path+".FunctionArn", "authorizer function %s is not a function of this template; ESB runs only the template's own functions (use !GetAtt <Function>.Arn); serving the routes it protects would leave them open", quote(def.functionARN)))
			}
			return nil, false
		}
		az.Function = fn
	}
	if az.Type == runtimeconfig.AuthorizerCognito && az.Issuer == "" {
		return nil, false // the pool was refused above
	}
	if rt.auth != nil && rt.auth.hasScopes {
		az.Scopes = rt.auth.scopes
	}
	out.Authorizer = &az
	return out, true
}

// functionOfARN is the function name a Lambda ARN names (without a
// qualifier), or "" when it is not one.
func functionOfARN(arn string) string {
	parts := strings.Split(arn, ":")
	if len(parts) < 7 || parts[0] != "arn" || parts[2] != "lambda" || parts[5] != "function" {
		return ""
	}
	return parts[6]
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
		return "authorizer " + quote(authorizer), authAt, authPath
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
