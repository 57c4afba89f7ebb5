package runtimeconfig

import (
	"errors"
	"regexp"
	"sort"
	"strings"
)

// supportedMethod reports whether the gateway can match method. Upper case
// only: the merge key compares methods byte for byte, so "get" and "GET"
// would otherwise be two routes for the same requests.
func supportedMethod(method string) bool {
	switch method {
	case "GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", MethodAny:
		return true
	}
	return false
}

// Validate checks every file and that each route names a function of
// functions.yml. All problems are joined; each is a *FieldError. A Config
// built in memory has no lines, so its errors name file and field only.
func (c Config) Validate() error {
	var errs []error
	errs = append(errs, validateFunctions(c.Functions, source{file: FunctionsFileName})...)
	known := c.Functions.Functions
	if known == nil {
		known = map[string]Function{} // nil would mean "not known" and skip the check
	}
	errs = append(errs, validateRouting(c.Routing, source{file: RoutingFileName}, known)...)
	errs = append(errs, validateResources(c.Resources, source{file: ResourcesFileName})...)
	return errors.Join(errs...)
}

// Validate checks functions.yml on its own.
func (f FunctionsFile) Validate() error {
	return errors.Join(validateFunctions(f, source{file: FunctionsFileName})...)
}

// Validate checks routing.yml on its own, without knowing which functions
// exist; Config.Validate checks that too.
func (r RoutingFile) Validate() error {
	return errors.Join(validateRouting(r, source{file: RoutingFileName}, nil)...)
}

// Validate checks resources.yml on its own.
func (r ResourcesFile) Validate() error {
	return errors.Join(validateResources(r, source{file: ResourcesFileName})...)
}

func validateFunctions(f FunctionsFile, src source) []error {
	p := problems{src: src}
	names := make([]string, 0, len(f.Functions))
	urls := map[string]string{} // url-id -> function
	for name := range f.Functions {
		names = append(names, name)
	}
	sort.Strings(names) // map order would shuffle the error list run to run
	for _, name := range names {
		fn := f.Functions[name]
		at := fieldPath{"functions", name}
		if name == "" {
			p.add(at, "function name must not be empty")
		}
		if fn.Image == "" {
			p.add(at.with("image"), "must not be empty")
		}
		boundFunction(&p, at, name, fn)
		nonNegative(&p, at.with("timeout"), fn.Timeout)
		nonNegative(&p, at.with("memory_size"), fn.MemorySize)
		nonNegative(&p, at.with("scaling", "max_concurrency"), fn.Scaling.MaxConcurrency)
		nonNegative(&p, at.with("scaling", "min_warm"), fn.Scaling.MinWarm)
		nonNegative(&p, at.with("scaling", "idle_timeout"), fn.Scaling.IdleTimeout)
		validateURL(&p, at.with("url"), name, fn.URL, urls)
	}
	return p.errs
}

// urlID is the form of a function URL's url-id.
var urlID = regexp.MustCompile(`^[a-z0-9]{32}$`)

// validateURL rejects a function URL the gateway could not serve as
// written: an unknown auth type would otherwise leave it open, and two
// functions on one host would make which one answers an accident.
func validateURL(p *problems, at fieldPath, function string, u *FunctionURL, seen map[string]string) {
	if u == nil {
		return
	}
	switch {
	case !urlID.MatchString(u.ID):
		p.add(at.with("id"), "want 32 lower-case letters and digits, got %q", u.ID)
	case seen[u.ID] != "":
		p.add(at.with("id"), "url-id %q is also the URL of function %q", u.ID, seen[u.ID])
	default:
		seen[u.ID] = function
	}
	switch u.AuthType {
	case URLAuthNone, URLAuthIAM:
	default:
		p.add(at.with("auth_type"), "unsupported auth type %q (want %q or %q)", u.AuthType, URLAuthNone, URLAuthIAM)
	}
	switch u.InvokeMode {
	case "", URLInvokeBuffered:
	default:
		p.add(at.with("invoke_mode"), "unsupported invoke mode %q (only %q is served)", u.InvokeMode, URLInvokeBuffered)
	}
	if u.Cors != nil && u.Cors.Kind != CorsHTTP {
		p.add(at.with("cors", "kind"), "want %q (a function URL answers CORS as an HTTP API does), got %q", CorsHTTP, u.Cors.Kind)
	}
}

func nonNegative(p *problems, at fieldPath, v int) {
	if v < 0 {
		p.add(at, "must be >= 0, got %d", v)
	}
}

// validateRouting checks routes; functions, when not nil, are the known
// function names each route must point at.
func validateRouting(r RoutingFile, src source, functions map[string]Function) []error {
	p := problems{src: src}
	first := make(map[RouteKey]int, len(r.Routes))
	for i, rt := range r.Routes {
		at := fieldPath{"routes", i}
		switch {
		case rt.Path == "":
			p.add(at.with("path"), "must not be empty")
		case rt.Path[0] != '/':
			p.add(at.with("path"), "must start with \"/\", got %q", rt.Path)
		}
		switch {
		case rt.Method == "":
			p.add(at.with("method"), "must not be empty")
		case !supportedMethod(rt.Method):
			p.add(at.with("method"), "unsupported method %q", rt.Method)
		}
		switch rt.Payload {
		case PayloadV1, PayloadV2:
		case "":
			p.add(at.with("payload"), "must not be empty")
		default:
			p.add(at.with("payload"), "unsupported payload %q (want %q or %q)", rt.Payload, PayloadV1, PayloadV2)
		}
		if rt.Function == "" {
			p.add(at.with("function"), "must not be empty")
		} else if _, ok := functions[rt.Function]; functions != nil && !ok {
			p.add(at.with("function"), "unknown function %q (not in %s)", rt.Function, FunctionsFileName)
		}
		switch rt.Kind {
		case "", KindREST, KindHTTP:
		default:
			p.add(at.with("kind"), "unknown API kind %q (want %q or %q)", rt.Kind, KindREST, KindHTTP)
		}
		if rt.TimeoutMillis != 0 {
			limit := MaxTimeoutMillisREST
			if rt.APIKind() == KindHTTP {
				limit = MaxTimeoutMillisHTTP
			}
			if rt.TimeoutMillis < MinTimeoutMillis || rt.TimeoutMillis > limit {
				p.add(at.with("timeout_ms"), "%d is out of range [%d, %d] (%s API)", rt.TimeoutMillis, MinTimeoutMillis, limit, strings.ToUpper(rt.APIKind()))
			}
		}
		validateAuth(&p, at.with("auth"), rt.Auth, functions)
		if c := rt.Cors; c != nil {
			if c.Kind != CorsREST && c.Kind != CorsHTTP {
				p.add(at.with("cors", "kind"), "unknown CORS kind %q (want %q or %q)", c.Kind, CorsREST, CorsHTTP)
			}
			validateAuth(&p, at.with("cors", "preflight_auth"), c.PreflightAuth, functions)
		}
		if j, dup := first[rt.Key()]; dup {
			p.add(at, "duplicate route %s %s%s (first at %s)", rt.Method, rt.Path, ofAPI(rt.API), fieldPath{"routes", j})
		} else {
			first[rt.Key()] = i
		}
	}
	names := make(map[string]int, len(r.APIKeys))
	for i, k := range r.APIKeys {
		at := fieldPath{"api_keys", i}
		if k.Name == "" {
			p.add(at.with("name"), "must not be empty")
		} else {
			unique(&p, names, k.Name, at, i, "API key")
		}
		// A key with no value would match a caller that sends none.
		if k.Value == "" {
			p.add(at.with("value"), "must not be empty")
		}
		for j, s := range k.Stages {
			if s.API == "" {
				p.add(at.with("stages", j, "api"), "must not be empty")
			}
		}
	}
	return p.errs
}

// validateAuth rejects an auth the gateway could not enforce: a route it
// would otherwise serve open.
func validateAuth(p *problems, at fieldPath, a *RouteAuth, functions map[string]Function) {
	if a == nil || a.Authorizer == nil {
		return
	}
	if a.IAM {
		p.add(at.with("iam"), "a route has either IAM authorization or an authorizer, not both")
	}
	az := a.Authorizer
	at = at.with("authorizer")
	lambda := false
	switch az.Type {
	case AuthorizerToken, AuthorizerRequest, AuthorizerHTTPRequest:
		lambda = true
	case AuthorizerJWT, AuthorizerCognito:
		if az.Issuer == "" {
			p.add(at.with("issuer"), "must not be empty")
		}
	default:
		p.add(at.with("type"), "unknown authorizer type %q", az.Type)
	}
	if lambda {
		if az.Function == "" {
			p.add(at.with("function"), "must not be empty")
		} else if _, ok := functions[az.Function]; functions != nil && !ok {
			p.add(at.with("function"), "unknown function %q (not in %s)", az.Function, FunctionsFileName)
		}
	}
	if az.Type == AuthorizerHTTPRequest && az.Payload != PayloadV1 && az.Payload != PayloadV2 {
		p.add(at.with("payload"), "unsupported payload %q (want %q or %q)", az.Payload, PayloadV1, PayloadV2)
	}
	for _, src := range az.IdentitySources {
		kind, name, ok := strings.Cut(src, ":")
		if !ok || name == "" || (kind != "header" && kind != "query") {
			p.add(at.with("identity_sources"), "unsupported identity source %q (want header:<name> or query:<name>)", src)
		}
	}
	nonNegative(p, at.with("ttl"), az.TTL)
}

func ofAPI(api string) string {
	if api == "" {
		return ""
	}
	return " of API " + api
}

func validateResources(r ResourcesFile, src source) []error {
	p := problems{src: src}
	res := r.Resources
	tables := make(map[string]int, len(res.DynamoDB))
	for i, t := range res.DynamoDB {
		at := fieldPath{"resources", "dynamodb", i}
		if t.TableName == "" {
			p.add(at.with("TableName"), "must not be empty")
		} else {
			unique(&p, tables, t.TableName, at, i, "table")
		}
		if len(t.KeySchema) == 0 {
			p.add(at.with("KeySchema"), "must not be empty")
		}
	}
	buckets := make(map[string]int, len(res.S3))
	for i, b := range res.S3 {
		at := fieldPath{"resources", "s3", i}
		if b.BucketName == "" {
			p.add(at.with("BucketName"), "must not be empty")
		} else {
			unique(&p, buckets, b.BucketName, at, i, "bucket")
		}
	}
	layers := make(map[string]int, len(res.Layers))
	for i, l := range res.Layers {
		at := fieldPath{"resources", "layers", i}
		if l.Name == "" {
			p.add(at.with("Name"), "must not be empty")
		} else {
			boundLayerName(&p, at.with("Name"), l.Name)
			unique(&p, layers, l.Name, at, i, "layer")
		}
		boundLayerPath(&p, at.with("ContentUri"), l.ContentURI)
	}
	queues := make(map[string]int, len(res.SQS))
	for i, q := range res.SQS {
		at := fieldPath{"resources", "sqs", i}
		if q.QueueName == "" {
			p.add(at.with("QueueName"), "must not be empty")
		} else {
			unique(&p, queues, q.QueueName, at, i, "queue")
		}
	}
	topics := make(map[string]int, len(res.SNS))
	for i, t := range res.SNS {
		at := fieldPath{"resources", "sns", i}
		if t.TopicName == "" {
			p.add(at.with("TopicName"), "must not be empty")
		} else {
			unique(&p, topics, t.TopicName, at, i, "topic")
		}
	}
	subs := make(map[string]int, len(res.SNSSubscriptions))
	for i, s := range res.SNSSubscriptions {
		at := fieldPath{"resources", "sns_subscriptions", i}
		for _, f := range []struct{ name, v string }{{"TopicArn", s.TopicArn}, {"Protocol", s.Protocol}, {"Endpoint", s.Endpoint}} {
			if f.v == "" {
				p.add(at.with(f.name), "must not be empty")
			}
		}
		unique(&p, subs, s.Key(), at, i, "subscription")
	}
	return p.errs
}

// unique reports a second entry with the same merge key: the merge would
// treat both as one, so which one the provisioner sees would be an accident.
func unique(p *problems, seen map[string]int, key string, at fieldPath, i int, what string) {
	if j, dup := seen[key]; dup {
		p.add(at, "duplicate %s %q (first at %s)", what, key, at[:len(at)-1].with(j))
		return
	}
	seen[key] = i
}
