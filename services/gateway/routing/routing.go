// Package routing turns one runtime config into the immutable table the
// gateway serves from: routes matched the way API Gateway matches them, and
// the function specs the agent runs. A Table is built whole before it is
// published and never changes afterwards, so a request that loaded it once
// sees one consistent generation.
package routing

import (
	"crypto/subtle"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/esb-dev/esb/internal/agentapi"
	"github.com/esb-dev/esb/internal/runtimeconfig"
)

// Lambda's defaults for values a function leaves unset (SAM applies the same).
const (
	DefaultTimeout    = agentapi.DefaultTimeout // seconds
	DefaultMemorySize = 128                     // MB
)

// DefaultRouteKey is the route key API Gateway gives an HTTP API's catch-all
// route. SAM turns an HttpApi event without Path and Method into that route,
// which routing.yml spells as ANY /{proxy+}.
const DefaultRouteKey = "$default"

// Default stages when routing.yml names none: SAM's implicit REST API stage
// and the HTTP API's auto-deployed stage.
const (
	DefaultStageV1 = "Prod"
	DefaultStageV2 = "$default"
)

// segKind orders path segments by specificity: a literal segment beats a
// {param}, which beats a greedy {proxy+}.
type segKind int

const (
	segGreedy segKind = iota
	segParam
	segLiteral
	// segEnd stands for "the pattern ended here" when compared with a greedy
	// pattern that matched the same request with nothing left over: the
	// pattern that names the path exactly is the more specific one.
	segEnd
)

type segment struct {
	kind segKind
	text string // the literal, or the parameter name
}

// Route is one route of routing.yml, compiled.
type Route struct {
	Path     string // API Gateway syntax, e.g. /items/{id}
	Method   string // upper case, or runtimeconfig.MethodAny
	Function string
	Payload  string // runtimeconfig.PayloadV1 or PayloadV2
	Stage    string // never empty: DefaultStageV1/V2 when routing.yml names none
	API      string // the API's id; empty in files written before routes had one
	// Auth is what must pass before the function runs; nil when open.
	Auth *runtimeconfig.RouteAuth
	// Cors is the CORS configuration of the route's API; nil when none.
	Cors *runtimeconfig.Cors
	// Key is the payload 2.0 route key: "GET /items/{id}", or
	// DefaultRouteKey for the catch-all.
	Key string
	// Kind is the route's API kind: runtimeconfig.KindREST or KindHTTP.
	Kind string
	// IntegrationTimeout bounds how long the client waits for the
	// function: past it API Gateway answers for it (the function runs on).
	IntegrationTimeout time.Duration

	segs  []segment
	index int // position in routing.yml, for messages
}

// Match is the route a request resolved to.
type Match struct {
	Route    *Route
	Function agentapi.FunctionSpec
	// Params holds the path parameters by name; nil when the route has none.
	// A greedy parameter's value is the rest of the path without its leading
	// slash ("a/b" for /files/{proxy+} and /files/a/b), as API Gateway passes it.
	Params map[string]string
}

// Table is one generation's routes and functions. It is immutable: build a
// new one for new config.
type Table struct {
	routes    []*Route // served at the bare address
	cors      []*Route // those of routes whose API has CORS
	apis      map[string]*apiRoutes
	functions map[string]agentapi.FunctionSpec
	names     []string       // sorted function names
	urls      map[string]URL // function URLs by url-id
	apiKeys   []runtimeconfig.APIKey
}

// URL is a function URL the table serves.
type URL struct {
	Config   *runtimeconfig.FunctionURL // shared with the config: read only
	Function agentapi.FunctionSpec
}

// apiRoutes are one API's routes, served on its own host name, and the
// stages a client may put in front of their paths.
type apiRoutes struct {
	routes []*Route
	cors   []*Route
	stages map[string]bool
}

// Build compiles cfg, which must have passed runtimeconfig's validation.
// It rejects what that validation does not cover: malformed path templates
// (an error per route, as *PathError).
//
// Every route is served at the bare address, and each API's routes also
// on that API's own host name (see APIFromHost). When two routes of the
// same method have the same template up to parameter names (/items/{id}
// and /items/{itemId}), the later one in routing.yml wins, as a later
// deploy appends its routes: at the bare address whatever their APIs, on
// an API's host within that API. Each route shadowed within its own API
// is reported in warnings; one shadowed at the bare address by another
// API's route is not, as it stays reachable on its API's host.
func Build(cfg runtimeconfig.Config) (t *Table, warnings []string, err error) {
	t = &Table{functions: make(map[string]agentapi.FunctionSpec, len(cfg.Functions.Functions)), apis: map[string]*apiRoutes{}, urls: map[string]URL{},
		apiKeys: cfg.Routing.APIKeys}
	for name, fn := range cfg.Functions.Functions {
		t.functions[name] = Spec(name, fn, cfg.Functions.Defaults)
		t.names = append(t.names, name)
		if fn.URL != nil {
			// runtimeconfig's validation keeps url-ids unique.
			t.urls[fn.URL.ID] = URL{Config: fn.URL, Function: t.functions[name]}
		}
	}
	slices.Sort(t.names)

	var errs []error
	type shape struct{ api, method, pattern string }
	seen := make(map[shape]int)    // index into t.routes
	seenAPI := make(map[shape]int) // index into the API's routes
	for i, rc := range cfg.Routing.Routes {
		segs, perr := parsePath(rc.Path)
		if perr != nil {
			errs = append(errs, &PathError{Index: i, Path: rc.Path, Msg: perr.Error()})
			continue
		}
		if _, ok := t.functions[rc.Function]; !ok {
			errs = append(errs, &PathError{Index: i, Path: rc.Path, Field: "function", Msg: fmt.Sprintf("unknown function %q", rc.Function)})
			continue
		}
		r := &Route{
			Path:     rc.Path,
			Method:   rc.Method,
			Function: rc.Function,
			Payload:  rc.Payload,
			Stage:    rc.Stage,
			API:      strings.ToLower(rc.API),
			Auth:     rc.Auth,
			Cors:     rc.Cors,
			Kind:     rc.APIKind(),
			segs:     segs,
			index:    i,

			IntegrationTimeout: time.Duration(rc.IntegrationTimeoutMillis()) * time.Millisecond,
		}
		if r.Stage == "" {
			r.Stage = DefaultStageV1
			if r.Payload == runtimeconfig.PayloadV2 {
				r.Stage = DefaultStageV2
			}
		}
		r.Key = r.Method + " " + r.Path
		if r.Payload == runtimeconfig.PayloadV2 && r.Method == runtimeconfig.MethodAny && r.Path == "/{proxy+}" {
			r.Key = DefaultRouteKey
		}
		sh := shape{method: r.Method, pattern: patternShape(segs)}
		if j, dup := seen[sh]; dup {
			old := t.routes[j]
			if old.API == r.API {
				warnings = append(warnings, fmt.Sprintf("routing.yml: routes[%d] %s %s shadows routes[%d] %s %s (same template up to parameter names; the later route wins)",
					i, r.Method, r.Path, old.index, old.Method, old.Path))
			}
			t.routes[j] = r
		} else {
			seen[sh] = len(t.routes)
			t.routes = append(t.routes, r)
		}
		if r.API == "" {
			continue
		}
		a := t.apis[r.API]
		if a == nil {
			a = &apiRoutes{stages: map[string]bool{}}
			t.apis[r.API] = a
		}
		if r.Stage != DefaultStageV2 {
			a.stages[r.Stage] = true
		}
		sh.api = r.API
		if j, dup := seenAPI[sh]; dup {
			a.routes[j] = r
			continue
		}
		seenAPI[sh] = len(a.routes)
		a.routes = append(a.routes, r)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, warnings, err
	}
	t.cors = withCors(t.routes)
	for _, a := range t.apis {
		a.cors = withCors(a.routes)
	}
	return t, warnings, nil
}

func withCors(routes []*Route) []*Route {
	var out []*Route
	for _, r := range routes {
		if r.Cors != nil {
			out = append(out, r)
		}
	}
	return out
}

// Spec is the agent's view of one function: fn with the functions.yml
// defaults applied (the function's own environment wins) and Lambda's
// defaults filled in for timeout and memory.
func Spec(name string, fn runtimeconfig.Function, defaults runtimeconfig.Defaults) agentapi.FunctionSpec {
	if len(defaults.Environment) > 0 || len(fn.Environment) > 0 {
		env := make(map[string]string, len(defaults.Environment)+len(fn.Environment))
		maps.Copy(env, defaults.Environment)
		maps.Copy(env, fn.Environment)
		fn.Environment = env // a new map: the config's own stays as decoded
	}
	if fn.Timeout == 0 {
		fn.Timeout = DefaultTimeout
	}
	if fn.MemorySize == 0 {
		fn.MemorySize = DefaultMemorySize
	}
	return agentapi.FunctionSpec{Name: name, Function: fn}
}

// PathError is a route of routing.yml the gateway cannot serve.
type PathError struct {
	Index int    // position in routes
	Path  string // the template as written
	Field string // "path" when empty
	Msg   string
}

// Error names file, route and field, like runtimeconfig's problems.
func (e *PathError) Error() string {
	field := e.Field
	if field == "" {
		field = "path"
	}
	return fmt.Sprintf("routing.yml: routes[%d].%s: %s (path %q)", e.Index, field, e.Msg, e.Path)
}

// parsePath compiles an API Gateway path template.
func parsePath(p string) ([]segment, error) {
	if !strings.HasPrefix(p, "/") {
		return nil, errors.New("must start with \"/\"")
	}
	if p == "/" {
		return nil, nil
	}
	parts := strings.Split(p[1:], "/")
	segs := make([]segment, 0, len(parts))
	names := make(map[string]bool)
	for i, part := range parts {
		switch {
		case part == "":
			return nil, errors.New("empty path segment")
		case strings.HasPrefix(part, "{") && strings.HasSuffix(part, "}"):
			name := part[1 : len(part)-1]
			kind := segParam
			if n, ok := strings.CutSuffix(name, "+"); ok {
				if i != len(parts)-1 {
					return nil, fmt.Errorf("greedy parameter %s must be the last segment", part)
				}
				name, kind = n, segGreedy
			}
			if !validParamName(name) {
				return nil, fmt.Errorf("invalid parameter name in %s", part)
			}
			if names[name] {
				return nil, fmt.Errorf("parameter %q appears twice", name)
			}
			names[name] = true
			segs = append(segs, segment{kind: kind, text: name})
		case strings.ContainsAny(part, "{}"):
			return nil, fmt.Errorf("segment %q mixes text and a parameter", part)
		default:
			segs = append(segs, segment{kind: segLiteral, text: part})
		}
	}
	return segs, nil
}

func validParamName(name string) bool {
	if name == "" {
		return false
	}
	for _, c := range name {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

// patternShape is the template with parameter names erased: two routes of
// one method with the same shape match exactly the same requests.
func patternShape(segs []segment) string {
	var b strings.Builder
	for _, s := range segs {
		b.WriteByte('/')
		switch s.kind {
		case segLiteral:
			b.WriteString(s.text)
		case segParam:
			b.WriteString("{}")
		case segGreedy:
			b.WriteString("{+}")
		}
	}
	return b.String()
}

// Match resolves a request the way API Gateway does: among the routes whose
// template matches path and whose method accepts method, the most specific
// path wins (compared segment by segment: literal, then {param}, then
// {proxy+}), then the most specific method (exact, then ANY, then GET
// answering a HEAD). path is the decoded request path; one trailing slash
// is ignored.
func (t *Table) Match(method, path string) (Match, bool) {
	return t.match(t.routes, method, path)
}

// MatchAPI resolves a request sent to one API's host name. As on AWS, the
// path may start with the API's stage (/Prod/items, where the stage is
// not $default); prefix is that stage segment ("/Prod"), empty when the
// path has none. ok is false for an API the table does not know.
func (t *Table) MatchAPI(api, method, path string) (m Match, prefix string, ok bool) {
	a := t.apis[strings.ToLower(api)]
	if a == nil {
		return Match{}, "", false
	}
	return t.matchStaged(a.routes, a.stages, method, path)
}

func (t *Table) matchStaged(routes []*Route, stages map[string]bool, method, path string) (m Match, prefix string, ok bool) {
	if rest, stage, found := cutStage(path); found && stages[stage] {
		if m, ok := t.match(routes, method, rest); ok {
			return m, "/" + stage, true
		}
	}
	m, ok = t.match(routes, method, path)
	return m, "", ok
}

// anyMethod, as a request method, accepts a route of any method.
const anyMethod = ""

// MatchCORS finds, among the routes of APIs with CORS, the most specific
// one whose template matches path, whatever its method: the API whose
// CORS answers an OPTIONS request for path.
func (t *Table) MatchCORS(path string) (Match, bool) {
	return t.match(t.cors, anyMethod, path)
}

// MatchCORSAPI is MatchCORS on one API's host name (see MatchAPI).
func (t *Table) MatchCORSAPI(api, path string) (m Match, prefix string, ok bool) {
	a := t.apis[strings.ToLower(api)]
	if a == nil {
		return Match{}, "", false
	}
	return t.matchStaged(a.cors, a.stages, anyMethod, path)
}

// cutStage splits "/stage/rest" into "/rest" and "stage".
func cutStage(path string) (rest, stage string, ok bool) {
	if len(path) < 2 || path[0] != '/' {
		return "", "", false
	}
	stage, rest, found := strings.Cut(path[1:], "/")
	if !found {
		return "/", stage, true
	}
	return "/" + rest, stage, true
}

// APIFromHost returns the API a Host header names: <id>.execute-api.<any
// domain>, port ignored, as AWS names an API's endpoint. A client picks
// an API with curl -H 'Host: <id>.execute-api.localhost', or by the name
// itself (curl resolves *.localhost to the loopback address).
func APIFromHost(host string) (string, bool) {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	id, _, found := strings.Cut(strings.ToLower(host), ".execute-api.")
	if !found || id == "" {
		return "", false
	}
	return id, true
}

// APIs returns the ids of the APIs served on their own host names, sorted.
func (t *Table) APIs() []string { return slices.Sorted(maps.Keys(t.apis)) }

func (t *Table) match(routes []*Route, method, path string) (Match, bool) {
	parts, offsets := splitPath(path)
	var (
		best       *Route
		bestParams map[string]string
		bestMethod int
	)
	for _, r := range routes {
		mr := methodRank(r.Method, method)
		if mr == 0 {
			continue
		}
		params, ok := r.match(path, parts, offsets)
		if !ok {
			continue
		}
		if best != nil {
			c := comparePaths(r.segs, best.segs, len(parts))
			if c < 0 || c == 0 && mr <= bestMethod {
				continue
			}
		}
		best, bestParams, bestMethod = r, params, mr
	}
	if best == nil {
		return Match{}, false
	}
	return Match{Route: best, Function: t.functions[best.Function], Params: bestParams}, true
}

// methodRank scores how well a route's method accepts the request's; 0 is
// no match.
func methodRank(routeMethod, method string) int {
	switch {
	case method == anyMethod:
		return 1
	case routeMethod == method:
		return 3
	case routeMethod == runtimeconfig.MethodAny:
		return 2
	case method == http.MethodHead && routeMethod == http.MethodGet:
		return 1
	}
	return 0
}

// splitPath splits a request path into segments and the byte offset each
// starts at, ignoring one trailing slash.
func splitPath(p string) (parts []string, offsets []int) {
	if len(p) > 1 && strings.HasSuffix(p, "/") {
		p = p[:len(p)-1]
	}
	if p == "" || p == "/" {
		return nil, nil
	}
	start := 0
	if p[0] == '/' {
		start = 1
	}
	for i := start; i <= len(p); i++ {
		if i == len(p) || p[i] == '/' {
			parts = append(parts, p[start:i])
			offsets = append(offsets, start)
			start = i + 1
		}
	}
	return parts, offsets
}

// match reports whether r's template matches the split request path.
func (r *Route) match(path string, parts []string, offsets []int) (map[string]string, bool) {
	var params map[string]string
	set := func(k, v string) {
		if params == nil {
			params = make(map[string]string, len(r.segs))
		}
		params[k] = v
	}
	for i, s := range r.segs {
		if s.kind == segGreedy {
			if i >= len(parts) {
				// The HTTP API catch-all also answers "/", where a greedy
				// parameter of a REST API needs at least one segment.
				if r.Key == DefaultRouteKey && i == 0 {
					return params, true
				}
				return nil, false
			}
			set(s.text, path[offsets[i]:])
			return params, true
		}
		if i >= len(parts) {
			return nil, false
		}
		switch s.kind {
		case segLiteral:
			if parts[i] != s.text {
				return nil, false
			}
		case segParam:
			if parts[i] == "" {
				return nil, false
			}
			set(s.text, parts[i])
		}
	}
	if len(parts) != len(r.segs) {
		return nil, false
	}
	return params, true
}

// comparePaths orders two templates that both matched a request of n
// segments: positive when a is more specific than b.
func comparePaths(a, b []segment, n int) int {
	for i := 0; i <= n; i++ {
		ka, kb := kindAt(a, i), kindAt(b, i)
		if ka != kb {
			return int(ka) - int(kb)
		}
		if ka == segGreedy || ka == segEnd {
			return 0
		}
	}
	return 0
}

func kindAt(segs []segment, i int) segKind {
	if i < len(segs) {
		return segs[i].kind
	}
	return segEnd
}

// Function returns the spec of the function called name.
func (t *Table) Function(name string) (agentapi.FunctionSpec, bool) {
	s, ok := t.functions[name]
	return s, ok
}

// FunctionNames returns the names of the functions, sorted (a copy).
func (t *Table) FunctionNames() []string { return slices.Clone(t.names) }

// Functions returns every function spec, sorted by name: the agent's
// desired state for this generation.
func (t *Table) Functions() []agentapi.FunctionSpec {
	out := make([]agentapi.FunctionSpec, 0, len(t.names))
	for _, n := range t.names {
		out = append(out, t.functions[n])
	}
	return out
}

// Routes returns the routes in routing.yml order (shadowed ones left out).
// The slice is a copy; the routes are shared and must not be modified.
func (t *Table) Routes() []*Route { return slices.Clone(t.routes) }

// RouteCount is the number of routes served.
func (t *Table) RouteCount() int { return len(t.routes) }

// URL returns the function URL whose url-id is id.
func (t *Table) URL(id string) (URL, bool) {
	u, ok := t.urls[id]
	return u, ok
}

// URLCount is the number of function URLs served.
func (t *Table) URLCount() int { return len(t.urls) }

// APIKey reports whether value is an enabled key of routing.yml that
// opens route r (its API and stage).
func (t *Table) APIKey(value string, r *Route) bool {
	for _, k := range t.apiKeys {
		if subtle.ConstantTimeCompare([]byte(k.Value), []byte(value)) == 1 && k.Opens(r.API, r.Stage) {
			return true
		}
	}
	return false
}

// FunctionCount is the number of functions known.
func (t *Table) FunctionCount() int { return len(t.names) }
