package httpapi

import (
	"context"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/esb-dev/esb/services/gateway/apigateway"
	"github.com/esb-dev/esb/services/gateway/auth"
	"github.com/esb-dev/esb/services/gateway/generation"
	"github.com/esb-dev/esb/services/gateway/lambdainvoke"
	"github.com/esb-dev/esb/services/gateway/routing"
)

// authorize runs the route's Auth before its function. Authorizer
// functions are invoked through the same path as any function, from the
// request's own generation.
func (s *Server) authorize(c echo.Context, gen *generation.Generation, m routing.Match, stagePath string, evReq apigateway.Request) auth.Decision {
	r := c.Request()
	path := strings.TrimPrefix(r.URL.Path, stagePath)
	// arn:aws:execute-api:<region>:<account>:<api>/<stage>/<METHOD>/<path
	// without its leading slash>, the resource an authorizer's policy names.
	arn := "arn:aws:execute-api:" + s.opts.Region + ":" + s.opts.AccountID + ":" + evReq.APIID + "/" +
		m.Route.Stage + "/" + r.Method + "/" + strings.TrimPrefix(path, "/")
	d, err := s.opts.Auth.Check(r.Context(), auth.Request{
		HTTP:        r,
		Auth:        m.Route.Auth,
		MethodARN:   arn,
		Event:       func(payload string) ([]byte, error) { return apigateway.Event(payload, evReq) },
		CacheScope:  strconv.FormatUint(gen.ID, 10) + "/" + evReq.APIID,
		TemplateKey: func(key string) bool { return gen.Table.APIKey(key, m.Route) },
		Invoke: func(ctx context.Context, function string, event []byte) ([]byte, string, error) {
			spec, ok := gen.Table.Function(function)
			if !ok {
				// routing.yml validation names the function; a generation
				// without it was never published.
				return nil, "", errUnknownAuthorizer
			}
			res, err := s.inv.Invoke(ctx, lambdainvoke.Request{
				Function:    spec,
				Payload:     event,
				RequestID:   requestID(c),
				TraceID:     traceID(c),
				FunctionARN: s.functionARN(function),
			})
			return res.Payload, res.FunctionError, err
		},
	})
	if err != nil {
		s.opts.Logger.Error("authorization failed; request refused", "request_id", requestID(c), "route", m.Route.Key, "error", err.Error())
	}
	return d
}
