package httpapi

import (
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/esb-dev/esb/internal/runtimeconfig"
	"github.com/esb-dev/esb/services/gateway/apigateway"
	"github.com/esb-dev/esb/services/gateway/cors"
	"github.com/esb-dev/esb/services/gateway/generation"
	"github.com/esb-dev/esb/services/gateway/routing"
	"github.com/esb-dev/esb/services/gateway/sigv4"
)

// corsPreflight answers an OPTIONS request from the CORS configuration of
// the API whose route matches its path, as API Gateway does: an HTTP API
// answers every preflight itself; a REST API has SAM's generated OPTIONS
// method on each path that has no OPTIONS route of its own (explicit),
// protected as SAM protects it. done is false when the request is not
// one the gateway answers (it goes on to the routes).
func (s *Server) corsPreflight(c echo.Context, gen *generation.Generation, api string, byHost, explicit bool) (done bool, err error) {
	r := c.Request()
	var (
		m      routing.Match
		prefix string
		ok     bool
	)
	if byHost {
		m, prefix, ok = gen.Table.MatchCORSAPI(api, r.URL.Path)
	} else {
		m, ok = gen.Table.MatchCORS(r.URL.Path)
	}
	if !ok {
		return false, nil
	}
	cfg := m.Route.Cors
	switch {
	case cfg.Kind == runtimeconfig.CorsHTTP && cors.IsPreflight(r):
	case cfg.Kind == runtimeconfig.CorsREST && !explicit:
		if cfg.PreflightAuth != nil && cfg.PreflightAuth.IAM {
			if _, done, err := s.verify(c, sigv4.ServiceExecuteAPI, frontREST); done {
				return true, err
			}
		}
		if pa := cfg.PreflightAuth; pa != nil && (pa.Authorizer != nil || pa.APIKey) {
			// The OPTIONS method SAM adds is a route of its own, with the
			// API's default protection.
			route := *m.Route
			route.Method, route.Key, route.Auth = http.MethodOptions, http.MethodOptions+" "+m.Route.Path, cfg.PreflightAuth
			apiID := s.opts.APIID
			if route.API != "" {
				apiID = route.API
			}
			start, _ := c.Get(keyStart).(time.Time)
			d := s.authorize(c, gen, routing.Match{Route: &route, Function: m.Function, Params: m.Params}, prefix, apigateway.Request{
				HTTP: r, Resource: route.Path, RouteKey: route.Key, Stage: route.Stage, StagePath: prefix, Params: m.Params,
				RequestID: requestID(c), TraceID: traceID(c), Time: start, AccountID: s.opts.AccountID, APIID: apiID,
			})
			if d.Refused() {
				info(c).outcome = "unauthorized"
				return true, writeBlob(c, d.Status, d.Body)
			}
		}
	default:
		return false, nil
	}
	info(c).route = "OPTIONS " + m.Route.Path + " (CORS)"
	status, h := cors.Preflight(cfg, r)
	for k, vs := range h {
		c.Response().Header()[k] = vs
	}
	if status == http.StatusOK {
		// The mock integration's empty JSON answer.
		return true, writeBlob(c, status, nil)
	}
	return true, c.NoContent(status)
}
