// Package functionurl is what Lambda function URLs add to the gateway: the
// host name that addresses one (<url-id>.lambda-url.<region>.<any domain>),
// the function URL event (API Gateway's payload 2.0 shape, built by the
// apigateway package, with the fields a function URL sets), and Lambda's
// refusal of an AWS_IAM URL's unsigned request. Everything here is pure:
// the HTTP handler, and the SigV4 check (package sigv4), live with the
// gateway's other handlers.
package functionurl

import (
	"encoding/json"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/esb-dev/esb/services/gateway/apigateway"
)

// urlIDLen is the length of a url-id (runtimeconfig.FunctionURL.ID).
const urlIDLen = 32

// hostLabel separates a url-id from the rest of a function URL's host.
const hostLabel = ".lambda-url."

// RouteKey and Stage are what a function URL event names, the catch-all
// route of an HTTP API's default stage.
const (
	RouteKey = "$default"
	Stage    = "$default"
)

// anonymousAccount is requestContext.accountId of a request to an
// AuthType NONE URL: Lambda does not know who called.
const anonymousAccount = "anonymous"

// Service is the SigV4 service name a request to an AWS_IAM URL is signed
// for, as the AWS SDKs and the AWS CLI sign it.
const Service = "lambda"

// ForbiddenBody is Lambda's answer (403) to a request an AWS_IAM URL
// refuses: unsigned, badly signed, or signed by an unknown key.
var ForbiddenBody = []byte(`{"Message":"Forbidden"}`)

// IDFromHost returns the url-id a Host header names:
// <url-id>.lambda-url.<region>.<domain>, port ignored, as Lambda names a
// function URL (<url-id>.lambda-url.<region>.on.aws). Any domain is
// accepted, so the name curl resolves to the loopback address
// (<url-id>.lambda-url.us-east-1.localhost) reaches the gateway, and so
// does a Host header over any address.
func IDFromHost(host string) (string, bool) {
	if len(host) < urlIDLen+len(hostLabel)+1 || host[urlIDLen] != '.' {
		return "", false // the cheap test first: every request asks
	}
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.ToLower(host)
	id, rest, found := strings.Cut(host, hostLabel)
	if !found || len(id) != urlIDLen || rest == "" || rest[0] == '.' {
		return "", false
	}
	for _, c := range id {
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') {
			return "", false
		}
	}
	return id, true
}

// Request is everything a function URL event is built from.
type Request struct {
	HTTP      *http.Request
	Body      []byte
	URLID     string
	RequestID string    // x-amzn-RequestId of this request
	TraceID   string    // X-Amzn-Trace-Id of this request
	Time      time.Time // when the request arrived
	// AccountID is the env's account, the function's owner; a request to
	// an AuthType NONE URL (Authorizer nil) gets "anonymous" instead, as on
	// Lambda.
	AccountID string
	// Authorizer is requestContext.authorizer of an AWS_IAM URL's
	// request, {"iam": {...}} naming who signed it; nil for NONE.
	Authorizer json.RawMessage
}

// Event builds the function URL event: payload 2.0 as an HTTP API sends
// it (rawPath, rawQueryString, cookies, headers, queryStringParameters,
// body and isBase64Encoded by the same rules), with apiId the url-id,
// routeKey and stage $default, no path parameters, and the signer under
// requestContext.authorizer (iam) for an AWS_IAM URL.
func Event(r Request) ([]byte, error) {
	ev := apigateway.Request{
		HTTP:      r.HTTP,
		Body:      r.Body,
		RouteKey:  RouteKey,
		Stage:     Stage,
		RequestID: r.RequestID,
		TraceID:   r.TraceID,
		Time:      r.Time,
		AccountID: anonymousAccount,
		APIID:     r.URLID,
	}
	if r.Authorizer != nil {
		ev.AccountID = r.AccountID
		ev.Authorizer = r.Authorizer
	}
	return apigateway.EventV2(ev)
}
