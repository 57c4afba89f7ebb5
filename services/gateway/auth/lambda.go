package auth

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/esb-dev/esb/internal/runtimeconfig"
)

// lambdaResult is what an authorizer said, cached by identity. The policy
// is evaluated on every request, against that request's method ARN, as
// API Gateway does with a cached policy.
type lambdaResult struct {
	simple      bool // HTTP API simple response
	authorized  bool // its isAuthorized
	principalID string
	policy      Policy
	context     map[string]any
}

// tokenEvent is a REST TOKEN authorizer's event.
type tokenEvent struct {
	Type               string `json:"type"`
	AuthorizationToken string `json:"authorizationToken"`
	MethodARN          string `json:"methodArn"`
}

// authorizerResponse is the policy form and the simple form together.
type authorizerResponse struct {
	PrincipalID    string          `json:"principalId"`
	PolicyDocument *Policy         `json:"policyDocument"`
	Context        map[string]any  `json:"context"`
	IsAuthorized   *bool           `json:"isAuthorized"`
	Usage          json.RawMessage `json:"usageIdentifierKey,omitempty"`
}

func (e *Enforcer) lambda(ctx context.Context, req Request, az *runtimeconfig.Authorizer) (Decision, error) {
	isREST := rest(az)
	unauthorized := refuse(http.StatusUnauthorized, bodyUnauthorized)
	failed := refuse(http.StatusInternalServerError, bodyHTTPError)
	if isREST {
		failed = refuse(http.StatusInternalServerError, bodyRESTError)
	}
	ids, ok := identity(req.HTTP, az.IdentitySources)
	if !ok {
		return unauthorized, nil
	}
	if az.Type == runtimeconfig.AuthorizerToken && az.ValidationExpression != "" {
		re, err := regexp.Compile("^(?:" + az.ValidationExpression + ")$")
		if err != nil {
			return failed, fmt.Errorf("authorizer %s: validation expression: %w", az.Name, err)
		}
		if !re.MatchString(ids[0]) {
			return unauthorized, nil
		}
	}
	// No identity sources means nothing to key a cache on: API Gateway
	// turns caching off then.
	cacheable := az.TTL > 0 && len(ids) > 0
	key := req.CacheScope + "\x00" + az.Name + "\x00" + az.Function + "\x00" + strings.Join(ids, "\x00")
	now := e.opts.Now()
	res, hit := lambdaResult{}, false
	if cacheable {
		res, hit = e.cache.get(key, now)
	}
	if !hit {
		event, err := authorizerEvent(req, az, ids)
		if err != nil {
			return failed, fmt.Errorf("authorizer %s: build event: %w", az.Name, err)
		}
		payload, fnErr, err := req.Invoke(ctx, az.Function, event)
		if err != nil {
			return failed, fmt.Errorf("authorizer %s: invoke %s: %w", az.Name, az.Function, err)
		}
		if fnErr != "" {
			// A function that fails with the message "Unauthorized" asks
			// for 401; any other failure is the authorizer's own fault.
			if errorMessage(payload) == "Unauthorized" {
				return unauthorized, nil
			}
			return failed, fmt.Errorf("authorizer %s: function error %s: %s", az.Name, fnErr, payload)
		}
		res, err = parseAuthorizerResponse(payload, az)
		if err != nil {
			return failed, fmt.Errorf("authorizer %s: %w", az.Name, err)
		}
		if cacheable {
			e.cache.put(key, res, now.Add(time.Duration(az.TTL)*time.Second), now)
		}
	}
	allowed := res.authorized
	if !res.simple {
		switch res.policy.Evaluate(req.MethodARN) {
		case Allow:
			allowed = true
		case Deny:
			if isREST {
				return refuse(http.StatusForbidden, bodyExplicitDeny), nil
			}
			return refuse(http.StatusForbidden, bodyForbidden), nil
		default:
			allowed = false
		}
	}
	if !allowed {
		if isREST {
			return refuse(http.StatusForbidden, bodyNotAuthorized), nil
		}
		return refuse(http.StatusForbidden, bodyForbidden), nil
	}
	authCtx, err := integrationContext(res, az)
	if err != nil {
		return failed, fmt.Errorf("authorizer %s: context: %w", az.Name, err)
	}
	return Decision{Context: authCtx}, nil
}

// integrationContext is requestContext.authorizer of the integration's
// event: a REST API puts principalId and the context's keys side by side,
// an HTTP API puts the context under "lambda".
func integrationContext(res lambdaResult, az *runtimeconfig.Authorizer) (json.RawMessage, error) {
	if !rest(az) {
		c := res.context
		if c == nil {
			c = map[string]any{}
		}
		return json.Marshal(map[string]any{"lambda": c})
	}
	out := make(map[string]any, len(res.context)+2)
	for k, v := range res.context {
		out[k] = v
	}
	out["principalId"] = res.principalID
	out["integrationLatency"] = 0
	return json.Marshal(out)
}

func errorMessage(payload []byte) string {
	var e struct {
		ErrorMessage string `json:"errorMessage"`
	}
	_ = json.Unmarshal(payload, &e) // not the error shape: no message
	return e.ErrorMessage
}

func parseAuthorizerResponse(payload []byte, az *runtimeconfig.Authorizer) (lambdaResult, error) {
	var r authorizerResponse
	if err := json.Unmarshal(payload, &r); err != nil {
		return lambdaResult{}, fmt.Errorf("malformed response: %w", err)
	}
	res := lambdaResult{principalID: r.PrincipalID, context: r.Context}
	for k, v := range r.Context {
		switch v.(type) {
		case string, float64, bool, nil:
		default:
			if rest(az) {
				// API Gateway refuses nested context values on REST APIs.
				return lambdaResult{}, fmt.Errorf("context value %q is not a string, number or boolean", k)
			}
		}
	}
	if az.Type == runtimeconfig.AuthorizerHTTPRequest && az.SimpleResponses {
		if r.IsAuthorized == nil {
			return lambdaResult{}, fmt.Errorf("simple response without isAuthorized")
		}
		res.simple, res.authorized = true, *r.IsAuthorized
		return res, nil
	}
	if r.PolicyDocument == nil {
		return lambdaResult{}, fmt.Errorf("response without policyDocument")
	}
	if rest(az) && r.PrincipalID == "" {
		return lambdaResult{}, fmt.Errorf("response without principalId")
	}
	res.policy = *r.PolicyDocument
	return res, nil
}

// authorizerEvent is the event the authorizer function receives.
func authorizerEvent(req Request, az *runtimeconfig.Authorizer, ids []string) ([]byte, error) {
	switch az.Type {
	case runtimeconfig.AuthorizerToken:
		return json.Marshal(tokenEvent{Type: "TOKEN", AuthorizationToken: ids[0], MethodARN: req.MethodARN})
	case runtimeconfig.AuthorizerRequest:
		return withFields(req, runtimeconfig.PayloadV1, map[string]any{"type": "REQUEST", "methodArn": req.MethodARN})
	}
	if az.Payload == runtimeconfig.PayloadV2 {
		if ids == nil {
			ids = []string{}
		}
		return withFields(req, runtimeconfig.PayloadV2, map[string]any{"type": "REQUEST", "routeArn": req.MethodARN, "identitySource": ids})
	}
	extra := map[string]any{"version": "1.0", "type": "REQUEST", "methodArn": req.MethodARN, "identitySource": strings.Join(ids, ",")}
	if len(ids) > 0 {
		extra["authorizationToken"] = ids[0]
	}
	return withFields(req, runtimeconfig.PayloadV1, extra)
}

// withFields is the route's proxy event with the authorizer's own fields
// added: a REQUEST authorizer gets the request as the integration would,
// plus what it is asked to decide.
func withFields(req Request, payload string, extra map[string]any) ([]byte, error) {
	ev, err := req.Event(payload)
	if err != nil {
		return nil, err
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(ev, &m); err != nil {
		return nil, err
	}
	for k, v := range extra {
		b, err := json.Marshal(v)
		if err != nil {
			return nil, err
		}
		m[k] = b
	}
	// The authorizer runs before the integration and never sees the body.
	delete(m, "body")
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(m); err != nil {
		return nil, err
	}
	return bytes.TrimRight(buf.Bytes(), "\n"), nil
}
