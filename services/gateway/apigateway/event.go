// Package apigateway maps HTTP requests to the Lambda proxy events API
// Gateway sends (REST API payload 1.0, HTTP API payload 2.0) and function
// results back to HTTP responses, following AWS's documented shapes.
// Everything here is pure: no I/O, the clock and ids come in the Request.
package apigateway

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/big"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"
)

// clfTime is the Common Log Format time API Gateway puts in requestTime.
const clfTime = "02/Jan/2006:15:04:05 -0700"

// Request is everything an event is built from: the HTTP request and what
// the gateway decided about it.
type Request struct {
	HTTP     *http.Request
	Body     []byte
	Resource string // the route's template, e.g. /items/{id}
	RouteKey string // payload 2.0 route key, e.g. "GET /items/{id}" or "$default"
	Stage    string // stage name, e.g. Prod or $default
	// StagePath is the stage segment the client put in front of the
	// resource path ("/Prod"), empty when it put none: a REST API event's
	// path leaves it out, its requestContext.path keeps it.
	StagePath string
	Params    map[string]string // path parameters; nil when none

	RequestID string    // x-amzn-RequestId of this request
	TraceID   string    // X-Amzn-Trace-Id of this request
	Time      time.Time // when the request arrived
	AccountID string
	APIID     string // stable id of the (emulated) API, e.g. a1b2c3d4e5
	// Authorizer is requestContext.authorizer, what the route's authorizer
	// passed on; nil when none ran.
	Authorizer json.RawMessage
	// APIKey is the API key the caller gave, for requestContext.identity.
	APIKey string
	// IAM is the caller an AWS_IAM route verified, for
	// requestContext.identity (1.0); nil on other routes. (2.0 events
	// carry it in Authorizer.)
	IAM *IAMCaller
}

// IAMCaller is an IAM principal that signed a request.
type IAMCaller struct {
	AccessKey string
	AccountID string
	// Caller is the principal's unique id: the account id for its root
	// user, <role id>:<session name> for a role's session.
	Caller  string
	UserArn string
}

// EventV1 builds the REST API (payload 1.0) proxy event.
func EventV1(r Request) ([]byte, error) {
	hdr := eventHeaders(r)
	single := make(map[string]string, len(hdr))
	multi := make(map[string][]string, len(hdr))
	for k, vs := range hdr {
		// REST APIs put the last value of a repeated header in headers and
		// all of them in multiValueHeaders.
		single[k] = vs[len(vs)-1]
		multi[k] = vs
	}
	var qs map[string]string
	var mqs map[string][]string
	if q := query(r.HTTP.URL.RawQuery); len(q) > 0 {
		qs = make(map[string]string, len(q))
		mqs = q
		for k, vs := range q {
			qs[k] = vs[len(vs)-1]
		}
	}
	body, b64 := encodeBody(r.HTTP.Header, r.Body)
	domain := domainName(r.HTTP)
	sourceIP := sourceIP(r.HTTP)
	ua := r.HTTP.UserAgent()
	ev := eventV1{
		Resource:                        r.Resource,
		Path:                            strings.TrimPrefix(r.HTTP.URL.Path, r.StagePath),
		HTTPMethod:                      r.HTTP.Method,
		Headers:                         single,
		MultiValueHeaders:               multi,
		QueryStringParameters:           qs,
		MultiValueQueryStringParameters: mqs,
		PathParameters:                  r.Params,
		StageVariables:                  nil,
		RequestContext: requestContextV1{
			AccountID:         r.AccountID,
			APIID:             r.APIID,
			DomainName:        domain,
			DomainPrefix:      domainPrefix(domain),
			ExtendedRequestID: extendedID(r.RequestID),
			HTTPMethod:        r.HTTP.Method,
			Identity:          identityOf(r, sourceIP, ua),
			Authorizer:        r.Authorizer,
			Path:              r.HTTP.URL.Path,
			Protocol:          r.HTTP.Proto,
			RequestID:         r.RequestID,
			RequestTime:       r.Time.UTC().Format(clfTime),
			RequestTimeEpoch:  r.Time.UnixMilli(),
			ResourceID:        resourceID(r.Resource),
			ResourcePath:      r.Resource,
			Stage:             r.Stage,
		},
		Body:            body,
		IsBase64Encoded: b64,
	}
	return json.Marshal(ev)
}

// EventV2 builds the HTTP API (payload 2.0) proxy event.
func EventV2(r Request) ([]byte, error) {
	hdr := eventHeaders(r)
	headers := make(map[string]string, len(hdr))
	var cookies []string
	for k, vs := range hdr {
		lk := strings.ToLower(k)
		if lk == "cookie" {
			// 2.0 moves cookies out of the headers into their own list.
			for _, v := range vs {
				for c := range strings.SplitSeq(v, ";") {
					if c = strings.TrimSpace(c); c != "" {
						cookies = append(cookies, c)
					}
				}
			}
			continue
		}
		joined := strings.Join(vs, ",")
		if prev, ok := headers[lk]; ok {
			joined = prev + "," + joined
		}
		headers[lk] = joined
	}
	var qs map[string]string
	if q := query(r.HTTP.URL.RawQuery); len(q) > 0 {
		qs = make(map[string]string, len(q))
		for k, vs := range q {
			qs[k] = strings.Join(vs, ",")
		}
	}
	body, b64 := encodeBody(r.HTTP.Header, r.Body)
	domain := domainName(r.HTTP)
	ev := eventV2{
		Version:               "2.0",
		RouteKey:              r.RouteKey,
		RawPath:               r.HTTP.URL.EscapedPath(),
		RawQueryString:        r.HTTP.URL.RawQuery,
		Cookies:               cookies,
		Headers:               headers,
		QueryStringParameters: qs,
		PathParameters:        r.Params,
		RequestContext: requestContextV2{
			AccountID:    r.AccountID,
			APIID:        r.APIID,
			DomainName:   domain,
			DomainPrefix: domainPrefix(domain),
			HTTP: httpV2{
				Method:    r.HTTP.Method,
				Path:      r.HTTP.URL.Path,
				Protocol:  r.HTTP.Proto,
				SourceIP:  sourceIP(r.HTTP),
				UserAgent: r.HTTP.UserAgent(),
			},
			Authorizer: r.Authorizer,
			RequestID:  r.RequestID,
			RouteKey:   r.RouteKey,
			Stage:      r.Stage,
			Time:       r.Time.UTC().Format(clfTime),
			TimeEpoch:  r.Time.UnixMilli(),
		},
		Body:            body,
		IsBase64Encoded: b64,
	}
	return json.Marshal(ev)
}

type eventV1 struct {
	Resource                        string              `json:"resource"`
	Path                            string              `json:"path"`
	HTTPMethod                      string              `json:"httpMethod"`
	Headers                         map[string]string   `json:"headers"`
	MultiValueHeaders               map[string][]string `json:"multiValueHeaders"`
	QueryStringParameters           map[string]string   `json:"queryStringParameters"`
	MultiValueQueryStringParameters map[string][]string `json:"multiValueQueryStringParameters"`
	PathParameters                  map[string]string   `json:"pathParameters"`
	StageVariables                  map[string]string   `json:"stageVariables"`
	RequestContext                  requestContextV1    `json:"requestContext"`
	Body                            *string             `json:"body"`
	IsBase64Encoded                 bool                `json:"isBase64Encoded"`
}

type requestContextV1 struct {
	AccountID         string     `json:"accountId"`
	APIID             string     `json:"apiId"`
	DomainName        string     `json:"domainName"`
	DomainPrefix      string     `json:"domainPrefix"`
	ExtendedRequestID string     `json:"extendedRequestId"`
	HTTPMethod        string     `json:"httpMethod"`
	Identity          identityV1 `json:"identity"`
	Path              string     `json:"path"`
	Protocol          string     `json:"protocol"`
	RequestID         string     `json:"requestId"`
	RequestTime       string     `json:"requestTime"`
	RequestTimeEpoch  int64      `json:"requestTimeEpoch"`
	ResourceID        string     `json:"resourceId"`
	ResourcePath      string     `json:"resourcePath"`
	Stage             string     `json:"stage"`
	// Authorizer is raw: each authorizer type has its own shape.
	Authorizer json.RawMessage `json:"authorizer,omitempty"`
}

func nonEmpty(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// identityOf is requestContext.identity of a 1.0 event.
func identityOf(r Request, sourceIP, ua string) identityV1 {
	id := identityV1{SourceIP: sourceIP, UserAgent: ua, APIKey: nonEmpty(r.APIKey)}
	if c := r.IAM; c != nil {
		id.AccessKey, id.AccountID = nonEmpty(c.AccessKey), nonEmpty(c.AccountID)
		id.Caller, id.User, id.UserArn = nonEmpty(c.Caller), nonEmpty(c.Caller), nonEmpty(c.UserArn)
	}
	return id
}

// identityV1 is the caller identity of a request without authorization:
// AWS sends every key, null where nothing authenticated the caller.
type identityV1 struct {
	AccessKey                     *string `json:"accessKey"`
	AccountID                     *string `json:"accountId"`
	APIKey                        *string `json:"apiKey"`
	APIKeyID                      *string `json:"apiKeyId"`
	Caller                        *string `json:"caller"`
	CognitoAuthenticationProvider *string `json:"cognitoAuthenticationProvider"`
	CognitoAuthenticationType     *string `json:"cognitoAuthenticationType"`
	CognitoIdentityID             *string `json:"cognitoIdentityId"`
	CognitoIdentityPoolID         *string `json:"cognitoIdentityPoolId"`
	PrincipalOrgID                *string `json:"principalOrgId"`
	SourceIP                      string  `json:"sourceIp"`
	User                          *string `json:"user"`
	UserAgent                     string  `json:"userAgent"`
	UserArn                       *string `json:"userArn"`
}

type eventV2 struct {
	Version               string            `json:"version"`
	RouteKey              string            `json:"routeKey"`
	RawPath               string            `json:"rawPath"`
	RawQueryString        string            `json:"rawQueryString"`
	Cookies               []string          `json:"cookies,omitempty"`
	Headers               map[string]string `json:"headers"`
	QueryStringParameters map[string]string `json:"queryStringParameters,omitempty"`
	PathParameters        map[string]string `json:"pathParameters,omitempty"`
	RequestContext        requestContextV2  `json:"requestContext"`
	Body                  *string           `json:"body,omitempty"`
	IsBase64Encoded       bool              `json:"isBase64Encoded"`
	StageVariables        map[string]string `json:"stageVariables,omitempty"`
}

type requestContextV2 struct {
	AccountID    string          `json:"accountId"`
	APIID        string          `json:"apiId"`
	DomainName   string          `json:"domainName"`
	DomainPrefix string          `json:"domainPrefix"`
	HTTP         httpV2          `json:"http"`
	Authorizer   json.RawMessage `json:"authorizer,omitempty"`
	RequestID    string          `json:"requestId"`
	RouteKey     string          `json:"routeKey"`
	Stage        string          `json:"stage"`
	Time         string          `json:"time"`
	TimeEpoch    int64           `json:"timeEpoch"`
}

type httpV2 struct {
	Method    string `json:"method"`
	Path      string `json:"path"`
	Protocol  string `json:"protocol"`
	SourceIP  string `json:"sourceIp"`
	UserAgent string `json:"userAgent"`
}

// eventHeaders is the request's header as API Gateway forwards it: the
// client's headers, Host (which net/http keeps apart), and the headers API
// Gateway adds itself.
func eventHeaders(r Request) http.Header {
	h := r.HTTP.Header.Clone()
	if h == nil {
		h = http.Header{}
	}
	if r.HTTP.Host != "" {
		h.Set("Host", r.HTTP.Host)
	}
	ip := sourceIP(r.HTTP)
	if prior := h.Values("X-Forwarded-For"); len(prior) > 0 && ip != "" {
		h.Set("X-Forwarded-For", strings.Join(prior, ", ")+", "+ip)
	} else if ip != "" {
		h.Set("X-Forwarded-For", ip)
	}
	proto, port := "http", "80"
	if r.HTTP.TLS != nil {
		proto, port = "https", "443"
	}
	if _, p, err := net.SplitHostPort(r.HTTP.Host); err == nil && p != "" {
		port = p
	}
	h.Set("X-Forwarded-Proto", proto)
	h.Set("X-Forwarded-Port", port)
	if r.TraceID != "" {
		h.Set("X-Amzn-Trace-Id", r.TraceID)
	}
	return h
}

// query decodes a raw query string keeping every value of a repeated key
// in order. Pairs that do not decode are passed through undecoded rather
// than dropped, like API Gateway does with odd input.
func query(raw string) map[string][]string {
	if raw == "" {
		return nil
	}
	out := make(map[string][]string)
	for pair := range strings.SplitSeq(raw, "&") {
		if pair == "" {
			continue
		}
		k, v, _ := strings.Cut(pair, "=")
		if dk, err := url.QueryUnescape(k); err == nil {
			k = dk
		}
		if dv, err := url.QueryUnescape(v); err == nil {
			v = dv
		}
		out[k] = append(out[k], v)
	}
	return out
}

// encodeBody returns the event body: nil for no body, the text as is for
// text content, and base64 with isBase64Encoded for anything else.
func encodeBody(h http.Header, body []byte) (*string, bool) {
	if len(body) == 0 {
		return nil, false
	}
	if IsText(h.Get("Content-Type"), h.Get("Content-Encoding"), body) {
		s := string(body)
		return &s, false
	}
	s := base64.StdEncoding.EncodeToString(body)
	return &s, true
}

// IsText reports whether a body of this content type and encoding travels
// in an event as text: text/*, JSON, XML, JavaScript, YAML, form data and
// GraphQL that is valid UTF-8 and not compressed. A body without a content
// type is text when it is valid UTF-8.
func IsText(contentType, contentEncoding string, body []byte) bool {
	if ce := strings.TrimSpace(strings.ToLower(contentEncoding)); ce != "" && ce != "identity" {
		return false
	}
	if !utf8.Valid(body) {
		return false
	}
	if strings.TrimSpace(contentType) == "" {
		return true
	}
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return false
	}
	switch {
	case strings.HasPrefix(mt, "text/"),
		strings.HasSuffix(mt, "+json"),
		strings.HasSuffix(mt, "+xml"),
		strings.HasSuffix(mt, "+yaml"):
		return true
	}
	switch mt {
	case "application/json", "application/xml", "application/javascript", "application/ecmascript",
		"application/x-javascript", "application/x-www-form-urlencoded", "application/yaml",
		"application/x-yaml", "application/graphql", "application/x-ndjson", "application/csv":
		return true
	}
	return false
}

// domainName is the Host the client used, without its port.
func domainName(r *http.Request) string {
	host := r.Host
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	return host
}

// domainPrefix is the first label of a domain name, as API Gateway derives it.
func domainPrefix(domain string) string {
	if net.ParseIP(domain) != nil {
		return domain
	}
	prefix, _, _ := strings.Cut(domain, ".")
	return prefix
}

// sourceIP is the address of the TCP peer.
func sourceIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// extendedID turns a request id into the short base64 form API Gateway
// uses for extendedRequestId.
func extendedID(requestID string) string {
	raw, err := hex.DecodeString(strings.ReplaceAll(requestID, "-", ""))
	if err != nil || len(raw) < 11 {
		sum := sha256.Sum256([]byte(requestID))
		raw = sum[:]
	}
	return base64.StdEncoding.EncodeToString(raw[:11])
}

// resourceID is a stable six-character id for a resource path, the form
// REST APIs give their resources.
func resourceID(resource string) string {
	sum := sha256.Sum256([]byte(resource))
	s := new(big.Int).SetBytes(sum[:8]).Text(36)
	for len(s) < 6 {
		s = "0" + s
	}
	return s[:6]
}

// APIID derives the stable ten-character API id of an env, so events carry
// the same apiId across restarts.
func APIID(env string) string {
	sum := sha256.Sum256([]byte("esb-api:" + env))
	s := new(big.Int).SetBytes(sum[:10]).Text(36)
	for len(s) < 10 {
		s = "0" + s
	}
	return s[:10]
}

// Event builds the event for the payload format of the route.
func Event(payload string, r Request) ([]byte, error) {
	switch payload {
	case "1.0":
		return EventV1(r)
	case "2.0":
		return EventV2(r)
	}
	return nil, fmt.Errorf("event: unsupported payload format %q", payload)
}
