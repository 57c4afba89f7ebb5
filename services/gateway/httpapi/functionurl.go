package httpapi

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/esb-dev/esb/internal/runtimeconfig"
	"github.com/esb-dev/esb/services/gateway/cors"
	"github.com/esb-dev/esb/services/gateway/functionurl"
)

// functionURLHosts sends every request to a function URL's host name to
// that function, whatever its method and path (/health and the Invoke
// API's paths included): a function URL is the function's own address. It
// runs before routing, with the access log and panic recovery the routed
// handlers get.
func (s *Server) functionURLHosts(next echo.HandlerFunc) echo.HandlerFunc {
	serve := s.accessLog(recoverPanic(s.functionURL))
	return func(c echo.Context) error {
		if _, ok := functionurl.IDFromHost(c.Request().Host); ok {
			return serve(c)
		}
		return next(c)
	}
}

// functionURL serves a request to a function URL as Lambda does: CORS
// preflights answered from the URL's Cors, AWS_IAM checked by SigV4
// (service lambda, the env's root key or a function's own) before the
// function runs, the function URL event in, the HTTP API payload 2.0
// rules out.
func (s *Server) functionURL(c echo.Context) error {
	ai := info(c)
	ai.kind = "function_url"
	r := c.Request()
	id, _ := functionurl.IDFromHost(r.Host)
	gen := s.gens.Current() // the one Load of this request
	if gen == nil {
		return writeJSON(c, http.StatusServiceUnavailable, message{Message: "Service Unavailable"})
	}
	u, ok := gen.Table.URL(id)
	if !ok {
		return writeJSON(c, http.StatusNotFound, message{Message: msgNotFound})
	}
	ai.function, ai.route = u.Function.Name, "function URL "+id
	ai.front = frontURL
	if u.Config.Cors != nil && cors.IsPreflight(r) {
		// Lambda answers a preflight itself, before any signature check:
		// browsers do not sign preflights.
		status, h := cors.Preflight(u.Config.Cors, r)
		for k, vs := range h {
			c.Response().Header()[k] = vs
		}
		ai.route += " (CORS)"
		return c.NoContent(status)
	}

	var authorizer json.RawMessage
	if u.Config.AuthType != runtimeconfig.URLAuthNone {
		// AWS_IAM, the only other type runtimeconfig lets through: the
		// env's verifier, which refuses every key when it has none.
		id, done, err := s.verify(c, functionurl.Service, frontURL)
		if done {
			return err
		}
		if authorizer, err = iamAuthorizerV2(s.iamCaller(id)); err != nil {
			return err
		}
	}
	body, err := readBody(r, s.opts.MaxBodyBytes)
	if err != nil {
		return apiBodyError(c, err)
	}
	start, _ := c.Get(keyStart).(time.Time)
	req := functionurl.Request{
		HTTP: r, Body: body, URLID: id, RequestID: requestID(c), TraceID: traceID(c), Time: start, AccountID: s.opts.AccountID,
		Authorizer: authorizer,
	}
	event, err := functionurl.Event(req)
	if err != nil {
		return err
	}
	// No integration timeout: a function URL waits for the function's own.
	return s.invokeProxy(c, u.Function, event, true, u.Config.Cors, nil)
}
