package httpapi

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/esb-dev/esb/internal/agentapi"
	"github.com/esb-dev/esb/internal/runtimeconfig"
	"github.com/esb-dev/esb/services/gateway/apigateway"
	"github.com/esb-dev/esb/services/gateway/cors"
	"github.com/esb-dev/esb/services/gateway/integration"
	"github.com/esb-dev/esb/services/gateway/lambdainvoke"
	"github.com/esb-dev/esb/services/gateway/routing"
	"github.com/esb-dev/esb/services/gateway/sigv4"
)

// API Gateway's messages for what it refuses before any invocation.
const (
	msgNotFound = "Not Found"
	// The status is documented (gateway response REQUEST_TOO_LARGE, 413);
	// the message is what REST APIs are reported to answer. What an HTTP
	// API or a function URL answers is not documented: they answer the
	// same.
	msgTooLarge = "Request Too Long"
)

// api serves a request on an API route: match it against the live table,
// build the event of the route's payload format, invoke, and map the
// function's answer back.
//
// A request on a path no route matches, or with a method no route of that
// path accepts, answers 404 {"message":"Not Found"} as an HTTP API does.
// (A REST API answers 403 {"message":"Missing Authentication Token"} to
// both; with REST and HTTP API routes served side by side at the root,
// there is no telling which API an unmatched request was meant for.)
func (s *Server) api(c echo.Context) error {
	ai := info(c)
	ai.kind = "api"
	r := c.Request()
	gen := s.gens.Current() // the one Load of this request
	if gen == nil {
		return writeJSON(c, http.StatusServiceUnavailable, message{Message: "Service Unavailable"})
	}
	// A request to <api-id>.execute-api.<domain> is for that API alone, as
	// on AWS; any other host gets every deployed route.
	var (
		m      routing.Match
		ok     bool
		prefix string
	)
	api, byHost := routing.APIFromHost(r.Host)
	if byHost {
		m, prefix, ok = gen.Table.MatchAPI(api, r.Method, r.URL.Path)
	} else {
		m, ok = gen.Table.Match(r.Method, r.URL.Path)
	}
	if r.Method == http.MethodOptions {
		if done, err := s.corsPreflight(c, gen, api, byHost, ok && m.Route.Method == http.MethodOptions); done {
			return err
		}
	}
	if !ok {
		return writeJSON(c, http.StatusNotFound, message{Message: msgNotFound})
	}
	apiID := s.opts.APIID
	if m.Route.API != "" {
		apiID = m.Route.API
	}
	ai.function, ai.route = m.Function.Name, m.Route.Key
	ai.front = frontOf(m.Route.Kind)
	v2 := m.Route.Payload == runtimeconfig.PayloadV2
	if v2 {
		c.Response().Header().Set("Apigw-Requestid", requestID(c))
	}

	// AWS_IAM: the signature is checked first, on the body as sent
	// (verify reads it and puts it back).
	var iam *apigateway.IAMCaller
	if a := m.Route.Auth; a != nil && a.IAM {
		id, done, err := s.verify(c, sigv4.ServiceExecuteAPI, ai.front)
		if done {
			return err
		}
		r = c.Request()
		iam = s.iamCaller(id)
	}
	body, err := readBody(r, s.opts.MaxBodyBytes)
	if err != nil {
		return apiBodyError(c, err)
	}
	start, _ := c.Get(keyStart).(time.Time)
	evReq := apigateway.Request{
		HTTP:      r,
		Body:      body,
		Resource:  m.Route.Path,
		RouteKey:  m.Route.Key,
		Stage:     m.Route.Stage,
		StagePath: prefix,
		Params:    m.Params,
		RequestID: requestID(c),
		TraceID:   traceID(c),
		Time:      start,
		AccountID: s.opts.AccountID,
		APIID:     apiID,
		IAM:       iam,
	}
	if a := m.Route.Auth; a != nil && (a.Authorizer != nil || a.APIKey) {
		d := s.authorize(c, gen, m, prefix, evReq)
		if d.Refused() {
			ai.outcome = "unauthorized"
			switch {
			case d.Status == http.StatusForbidden:
				ai.outcome = "forbidden"
			case d.Status >= 500:
				ai.outcome = "authorizer_error"
			}
			return writeBlob(c, d.Status, d.Body)
		}
		evReq.Authorizer, evReq.APIKey = d.Context, d.APIKey
	}
	if iam != nil && v2 {
		if evReq.Authorizer, err = iamAuthorizerV2(iam); err != nil {
			return err
		}
	}
	event, err := apigateway.Event(m.Route.Payload, evReq)
	if err != nil {
		return err
	}

	return s.invokeProxy(c, m.Function, event, v2, m.Route.Cors, m.Route)
}

// invokeProxy invokes fn with event and answers the request with what its
// proxy integration returned (payload 2.0 rules when v2, else 1.0), or
// with the error answer of the request's front (accessInfo.front: REST
// API, HTTP API or function URL) when the invocation failed; cfg, when an
// HTTP API's or a function URL's CORS configuration, decorates the answer.
// route, an API route (nil for a function URL, which has no integration
// timeout), bounds the wait by its integration timeout.
func (s *Server) invokeProxy(c echo.Context, fn agentapi.FunctionSpec, event []byte, v2 bool, cfg *runtimeconfig.Cors, route *routing.Route) error {
	ai := info(c)
	r := c.Request()
	function := fn.Name
	req := lambdainvoke.Request{
		Function:    fn,
		Payload:     event,
		RequestID:   requestID(c),
		TraceID:     traceID(c),
		FunctionARN: s.functionARN(function),
	}
	var timeout time.Duration
	if route != nil {
		timeout = route.IntegrationTimeout
	}
	// Past the timeout the request is answered and its echo.Context
	// recycled: the late call sees only what is captured here.
	log := s.opts.Logger
	late := func(res lambdainvoke.Result, err error, took time.Duration) {
		attrs := []any{"request_id", req.RequestID, "function", function, "took_ms", took.Milliseconds(), "timeout_ms", timeout.Milliseconds()}
		if err != nil {
			attrs = append(attrs, "error", err.Error())
		}
		log.Info("invocation ended after its route's integration timeout; its result is discarded", attrs...)
	}
	res, err := integration.Call(&s.calls, r.Context(), timeout, func(ctx context.Context) (lambdainvoke.Result, error) {
		return s.inv.Invoke(ctx, req)
	}, late)
	ai.invoked, ai.cold, ai.invokeDur = res.Duration > 0, res.Cold, res.Duration
	if errors.Is(err, integration.ErrTimeout) {
		ai.outcome = "integration_timeout"
		return writeFailure(c, ai.front, failTimeout)
	}
	if err != nil {
		return s.apiInvokeError(c, ai.front, err)
	}
	if res.FunctionError != "" {
		ai.outcome = "function_error"
		return writeFailure(c, ai.front, failFunction)
	}
	var resp apigateway.Response
	if v2 {
		resp, err = apigateway.ResponseV2(res.Payload)
	} else {
		resp, err = apigateway.ResponseV1(res.Payload)
	}
	if err != nil {
		ai.outcome = "malformed_response"
		s.opts.Logger.Warn("function returned a malformed proxy response", "request_id", requestID(c),
			"function", function, "error", err.Error())
		return writeFailure(c, ai.front, failFunction)
	}
	h := c.Response().Header()
	for k, vs := range resp.Header {
		if k == "X-Amzn-Requestid" || k == "X-Amzn-Trace-Id" {
			continue // the gateway's own ids stay, as API Gateway's do
		}
		h[k] = vs
	}
	cors.Decorate(cfg, r, h)
	// Sized as API Gateway answers (HEAD too: the length of the GET body).
	h.Set(echo.HeaderContentLength, strconv.Itoa(len(resp.Body)))
	c.Response().WriteHeader(resp.StatusCode)
	if r.Method == http.MethodHead || len(resp.Body) == 0 {
		return nil
	}
	_, err = c.Response().Write(resp.Body)
	return err
}

// apiBodyError answers a request whose body could not be read as API
// Gateway does.
func apiBodyError(c echo.Context, err error) error {
	if errors.Is(err, errBodyTooLarge) {
		return writeJSON(c, http.StatusRequestEntityTooLarge, message{Message: msgTooLarge})
	}
	return writeJSON(c, http.StatusBadRequest, message{Message: "Bad Request"})
}

// apiInvokeError answers a failed invocation as front does (see
// failureAnswer).
func (s *Server) apiInvokeError(c echo.Context, front front, err error) error {
	ai := info(c)
	switch {
	case errors.Is(err, lambdainvoke.ErrThrottled):
		ai.outcome = "throttled"
		return writeFailure(c, front, failThrottled)
	case errors.Is(err, lambdainvoke.ErrTimeout):
		// The function ran past its own Timeout: on Lambda a function
		// error ("Task timed out"), not API Gateway's integration
		// timeout.
		ai.outcome = "timeout"
		return writeFailure(c, front, failFunction)
	case errors.Is(err, lambdainvoke.ErrCrashed):
		ai.outcome = "crash"
		s.opts.Logger.Warn("function container crashed; discarded", "request_id", requestID(c), "error", err.Error())
		return writeFailure(c, front, failFunction)
	case errors.Is(err, lambdainvoke.ErrResponseTooLarge):
		ai.outcome = "response_too_large"
		return writeFailure(c, front, failFunction)
	case errors.Is(err, context.Canceled):
		ai.outcome = "client_gone"
		return writeFailure(c, front, failService) // nobody reads it
	default:
		ai.outcome = "agent_error"
		s.opts.Logger.Error("no container for the function", "request_id", requestID(c), "error", err.Error())
		return writeFailure(c, front, failService)
	}
}
