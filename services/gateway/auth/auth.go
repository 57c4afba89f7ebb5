// Package auth enforces a route's SAM Auth the way API Gateway does before
// it invokes the integration: Lambda authorizers (REST TOKEN and REQUEST,
// HTTP API REQUEST with payload 1.0 or 2.0 and simple responses), JWT and
// Cognito user-pool authorizers checked against a JWKS file and the keys
// their issuer publishes, and
// API keys. It holds no HTTP server: the gateway hands it the request and
// a way to invoke a function, and gets back either the authorizer context
// for the integration's event or the answer API Gateway would give.
package auth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"path/filepath"
	"strings"
	"time"

	"github.com/esb-dev/esb/internal/runtimeconfig"
)

// Files under $CONFIG_DIR the operator gives an env.
const (
	Dir          = "auth"     // $CONFIG_DIR/auth
	APIKeysFile  = "api-keys" // one key per line; # starts a comment
	JWKSFile     = "jwks.json"
	APIKeyHeader = "X-Api-Key"
)

// InvokeFunc invokes function with event and returns its result; a
// function error (Lambda's X-Amz-Function-Error) comes back as
// functionError with the payload.
type InvokeFunc func(ctx context.Context, function string, event []byte) (payload []byte, functionError string, err error)

// Request is one request on a protected route.
type Request struct {
	HTTP *http.Request
	Auth *runtimeconfig.RouteAuth
	// MethodARN is the execute-api ARN of this call:
	// arn:aws:execute-api:<region>:<account>:<api>/<stage>/<METHOD>/<path>.
	MethodARN string
	// Event builds the route's proxy event in a payload format version,
	// without authorizer context: what a REQUEST authorizer receives.
	Event func(payload string) ([]byte, error)
	// CacheScope keeps cached results apart per config generation and
	// API: a deploy never serves a policy an older authorizer gave.
	CacheScope string
	// Invoke runs an authorizer function of the request's generation.
	Invoke InvokeFunc
	// TemplateKey reports whether a key the template defines
	// (routing.yml api_keys) opens this route; nil when none does.
	TemplateKey func(key string) bool
}

// Decision is the outcome. Refused: Status and Body are API Gateway's
// answer. Else Context is requestContext.authorizer for the integration
// (nil when no authorizer ran) and APIKey the key the caller gave.
type Decision struct {
	Status  int
	Body    []byte
	Context json.RawMessage
	APIKey  string
}

// Refused reports whether the request must not reach the integration.
func (d Decision) Refused() bool { return d.Status != 0 }

// Options tunes an Enforcer. The zero value is ready to use.
type Options struct {
	Now    func() time.Time // time.Now when nil
	Logger *slog.Logger     // nil discards
	// MaxCacheEntries bounds the authorizer result cache; DefaultMaxCacheEntries when zero.
	MaxCacheEntries int
	// HTTPClient fetches JWT issuers' keys; a plain http.Client when nil.
	HTTPClient *http.Client
	// DiscoveryTimeout, DiscoveryTTL and DiscoveryInterval bound the
	// fetching of JWT issuers' keys (Default* when zero): one fetch's
	// deadline, how long fetched keys are used, the least time between
	// two fetches of one issuer.
	DiscoveryTimeout, DiscoveryTTL, DiscoveryInterval time.Duration
}

// DefaultMaxCacheEntries bounds the result cache when Options leave it zero.
const DefaultMaxCacheEntries = 10000

// Enforcer checks requests. It is safe for concurrent use and outlives
// config generations: its cache is keyed by Request.CacheScope.
type Enforcer struct {
	opts  Options
	keys  *fileCache[map[string]bool]
	jwks  *fileCache[keySet]
	cache *resultCache
	// discovery holds the keys JWT issuers publish, for key ids jwks.json
	// lacks.
	discovery *discovery
}

// New returns an Enforcer reading the env's key files under configDir/auth.
func New(configDir string, opts Options) *Enforcer {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.MaxCacheEntries <= 0 {
		opts.MaxCacheEntries = DefaultMaxCacheEntries
	}
	dir := filepath.Join(configDir, Dir)
	return &Enforcer{
		opts:      opts,
		keys:      newFileCache(filepath.Join(dir, APIKeysFile), parseAPIKeys),
		jwks:      newFileCache(filepath.Join(dir, JWKSFile), parseJWKS),
		cache:     newResultCache(opts.MaxCacheEntries),
		discovery: newDiscovery(opts),
	}
}

// API Gateway's answers when it refuses a request.
var (
	bodyUnauthorized = []byte(`{"message":"Unauthorized"}`)
	bodyForbidden    = []byte(`{"message":"Forbidden"}`)
	// REST APIs spell these with a capital M.
	bodyNotAuthorized = []byte(`{"Message":"User is not authorized to access this resource"}`)
	bodyExplicitDeny  = []byte(`{"Message":"User is not authorized to access this resource with an explicit deny"}`)
	bodyRESTError     = []byte(`{"message":null}`)
	bodyHTTPError     = []byte(`{"message":"Internal Server Error"}`)
)

func refuse(status int, body []byte) Decision { return Decision{Status: status, Body: body} }

// Check decides one request. An error means the check itself could not be
// made (e.g. the key file is malformed); the request is refused with 500
// in the returned Decision as well, never let through.
func (e *Enforcer) Check(ctx context.Context, req Request) (Decision, error) {
	a := req.Auth
	if a == nil {
		return Decision{}, nil
	}
	if e == nil {
		return refuse(http.StatusInternalServerError, bodyHTTPError), errors.New("no enforcer configured")
	}
	var d Decision
	var err error
	if az := a.Authorizer; az != nil {
		switch az.Type {
		case runtimeconfig.AuthorizerToken, runtimeconfig.AuthorizerRequest, runtimeconfig.AuthorizerHTTPRequest:
			d, err = e.lambda(ctx, req, az)
		case runtimeconfig.AuthorizerJWT, runtimeconfig.AuthorizerCognito:
			d, err = e.jwt(ctx, req, az)
		default:
			// routing.yml validation refuses these; never serve them open.
			return refuse(http.StatusInternalServerError, bodyHTTPError), fmt.Errorf("authorizer %s: unknown type %q", az.Name, az.Type)
		}
		if err != nil || d.Refused() {
			return d, err
		}
	}
	if a.APIKey {
		key := req.HTTP.Header.Get(APIKeyHeader)
		keys, kerr := e.keys.get()
		if kerr != nil {
			return refuse(http.StatusInternalServerError, bodyRESTError), fmt.Errorf("api keys: %w", kerr)
		}
		if key == "" || !(keys[key] || (req.TemplateKey != nil && req.TemplateKey(key))) {
			return refuse(http.StatusForbidden, bodyForbidden), nil
		}
		d.APIKey = key
	}
	return d, nil
}

// identity reads the identity sources: their values in order, or ok false
// when one is missing or empty (API Gateway answers 401 then).
func identity(r *http.Request, sources []string) (values []string, ok bool) {
	for _, src := range sources {
		kind, name, _ := strings.Cut(src, ":")
		var v string
		switch kind {
		case "header":
			v = strings.Join(r.Header.Values(name), ",")
		case "query":
			v = strings.Join(r.URL.Query()[name], ",")
		}
		if v == "" {
			return nil, false
		}
		values = append(values, v)
	}
	return values, true
}

// errUnauthorized is an authorizer's way of asking for 401.
var errUnauthorized = errors.New("unauthorized")

// rest reports whether az belongs to a REST API, whose answers differ.
func rest(az *runtimeconfig.Authorizer) bool {
	return az.Type == runtimeconfig.AuthorizerToken || az.Type == runtimeconfig.AuthorizerRequest || az.Type == runtimeconfig.AuthorizerCognito
}
