package httpapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/esb-dev/esb/services/gateway/apigateway"
	"github.com/esb-dev/esb/services/gateway/functionurl"
	"github.com/esb-dev/esb/services/gateway/sigv4"
)

// noKeys accepts no key: the verifier of a Server built without one
// refuses every signed call instead of serving it open.
type noKeys struct{}

func (noKeys) Secret(string) (string, sigv4.Identity, bool) { return "", sigv4.Identity{}, false }

// front is a way in whose refusals and error answers differ.
type front uint8

// Fronts whose refusals differ.
const (
	frontLambda  front = iota // the Invoke API
	frontREST                 // a REST API route with AWS_IAM
	frontHTTPAPI              // an HTTP API route with AWS_IAM
	frontURL                  // a function URL with AuthType AWS_IAM
)

// verify checks the request's SigV4 signature for service. On success the
// request's context carries the identity (sigv4.IdentityFrom) and the
// access log names the caller; otherwise the refusal of front is written
// and done is true.
func (s *Server) verify(c echo.Context, service string, front front) (id sigv4.Identity, done bool, err error) {
	r := c.Request()
	id, verr := s.opts.Verifier.Verify(r, service)
	ai := info(c)
	if verr == nil {
		ai.caller = callerName(id)
		c.SetRequest(r.WithContext(sigv4.WithIdentity(r.Context(), id)))
		return id, false, nil
	}
	var e *sigv4.Error
	switch {
	case errors.Is(verr, sigv4.ErrBodyTooLarge):
		ai.outcome = "too_large"
		if front == frontLambda {
			return id, true, s.lambdaError(c, http.StatusRequestEntityTooLarge, "RequestTooLargeException", typedError{
				Type: "User", Message: fmt.Sprintf("Request must be smaller than %d bytes for the InvokeFunction operation", s.opts.MaxBodyBytes),
			})
		}
		return id, true, writeJSON(c, http.StatusRequestEntityTooLarge, message{Message: msgTooLarge})
	case !errors.As(verr, &e):
		ai.outcome = "bad_request"
		return id, true, writeJSON(c, http.StatusBadRequest, message{Message: "Bad Request"})
	}
	ai.outcome = signatureOutcome(e)
	// Every refusal is logged: a caller with a stale or wrong key, or one
	// that probes, shows up in the gateway's log, not only as a 403.
	first, _, _ := strings.Cut(e.Message, "\n")
	s.opts.Logger.Warn("request signature refused", "request_id", requestID(c), "path", r.URL.Path,
		"service", service, "error_type", e.Type, "reason", first, "access_key_id", accessKeyOf(r))
	if front == frontURL {
		// A function URL refuses every bad or missing signature alike.
		return id, true, writeBlob(c, http.StatusForbidden, functionurl.ForbiddenBody)
	}
	if front == frontHTTPAPI && errors.Is(e, sigv4.ErrMissingToken) {
		// An HTTP API answers an unsigned call on an IAM route with a
		// bare Forbidden.
		return id, true, writeJSON(c, http.StatusForbidden, message{Message: "Forbidden"})
	}
	c.Response().Header().Set("X-Amzn-Errortype", e.Type)
	return id, true, writeJSON(c, http.StatusForbidden, message{Message: e.Message})
}

// signatureOutcome names a refusal in the access log.
func signatureOutcome(e *sigv4.Error) string {
	switch {
	case errors.Is(e, sigv4.ErrMissingToken):
		return "unsigned"
	case errors.Is(e, sigv4.ErrUnknownKey):
		return "unknown_key"
	default:
		return "bad_signature"
	}
}

// accessKeyOf is the access key id a request names, for the log ("" when
// it names none). It is not a secret.
func accessKeyOf(r *http.Request) string {
	cred := r.URL.Query().Get("X-Amz-Credential")
	if auth := r.Header.Get("Authorization"); auth != "" {
		_, cred, _ = strings.Cut(auth, "Credential=")
	}
	key, _, _ := strings.Cut(cred, "/")
	if len(key) > 128 {
		key = key[:128]
	}
	return key
}

// callerName is who called, for the access log: root or function:<name>.
func callerName(id sigv4.Identity) string {
	if id.Root() {
		return "root"
	}
	return "function:" + id.Function
}

// iamCaller is the caller an AWS_IAM route passes to its function, as AWS
// fills requestContext.identity (1.0) and requestContext.authorizer.iam
// (2.0): the env's root key is the account's root user; a function's key
// is the session of the function's execution role (SAM names it
// <Function>Role), as Lambda's credentials are on AWS.
func (s *Server) iamCaller(id sigv4.Identity) *apigateway.IAMCaller {
	caller := &apigateway.IAMCaller{AccessKey: id.AccessKeyID, AccountID: s.opts.AccountID}
	if id.Root() {
		caller.Caller = s.opts.AccountID
		caller.UserArn = "arn:aws:iam::" + s.opts.AccountID + ":root"
		return caller
	}
	// A role's unique id starts with AROA; the key's own suffix keeps it
	// stable and distinct per function.
	roleID := "AROA" + strings.TrimPrefix(id.AccessKeyID, "AKIA")
	caller.Caller = roleID + ":" + id.Function
	caller.UserArn = "arn:aws:sts::" + s.opts.AccountID + ":assumed-role/" + id.Function + "Role/" + id.Function
	return caller
}

// iamAuthorizerV2 is requestContext.authorizer of a 2.0 event on an IAM
// route: {"iam": {...}}.
func iamAuthorizerV2(c *apigateway.IAMCaller) (json.RawMessage, error) {
	b, err := json.Marshal(map[string]any{"iam": map[string]any{
		"accessKey":       c.AccessKey,
		"accountId":       c.AccountID,
		"callerId":        c.Caller,
		"cognitoIdentity": nil,
		"principalOrgId":  nil,
		"userArn":         c.UserArn,
		"userId":          c.Caller,
	}})
	if err != nil {
		return nil, fmt.Errorf("encode iam authorizer context: %w", err)
	}
	return b, nil
}
