package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/esb-dev/esb/internal/agentapi"
	"github.com/esb-dev/esb/internal/eventsapi"
	"github.com/esb-dev/esb/services/gateway/lambdainvoke"
	"github.com/esb-dev/esb/services/gateway/sigv4"
)

// Invocation types of the Invoke API (X-Amz-Invocation-Type).
const (
	invokeRequestResponse = "RequestResponse"
	invokeEvent           = "Event"
	invokeDryRun          = "DryRun"
)

// executedVersion is the only version ESB runs: deploys replace $LATEST.
const executedVersion = "$LATEST"

// responseSizeLimit is the figure Lambda names when a result is too large.
const responseSizeLimit = 6291556

// invoke serves POST /2015-03-31/functions/{FunctionName}/invocations, the
// Lambda Invoke API as the AWS SDKs call it, signed with SigV4 by one of
// the env's keys (the root key, or a function's own). FunctionName may be a name, a
// name with a qualifier, a partial ARN or a full ARN; every qualifier runs
// $LATEST, since ESB deploys no versions or aliases.
func (s *Server) invoke(c echo.Context) error {
	ai := info(c)
	ai.kind = "invoke"
	// Lambda checks the signature before anything else: an unsigned
	// caller learns not even whether the function exists.
	if _, done, err := s.verify(c, sigv4.ServiceLambda, frontLambda); done {
		return err
	}
	r := c.Request()
	raw := c.Param("name")
	if un, err := url.PathUnescape(raw); err == nil {
		raw = un
	}
	name, qualifier := parseFunctionName(raw)
	if qualifier == "" {
		qualifier = c.QueryParam("Qualifier")
	}
	ai.function = name

	gen := s.gens.Current() // the one Load of this request
	if gen == nil {
		return s.lambdaError(c, http.StatusServiceUnavailable, "ServiceException", typedError{Type: "Service", Message: "gateway is starting"})
	}
	spec, ok := gen.Table.Function(name)
	if !ok {
		arn := s.functionARN(name)
		if qualifier != "" {
			arn += ":" + qualifier
		}
		return s.lambdaError(c, http.StatusNotFound, "ResourceNotFoundException", notFoundError{Type: "User", Message: "Function not found: " + arn})
	}

	invType := r.Header.Get("X-Amz-Invocation-Type")
	switch invType {
	case "":
		invType = invokeRequestResponse
	case invokeRequestResponse, invokeEvent, invokeDryRun:
	default:
		return s.lambdaError(c, http.StatusBadRequest, "ValidationException", message{
			Message: fmt.Sprintf("1 validation error detected: Value '%s' at 'invocationType' failed to satisfy constraint: Member must satisfy enum value set: [Event, RequestResponse, DryRun]", invType),
		})
	}

	payload, err := readBody(r, s.opts.MaxBodyBytes)
	if errors.Is(err, errBodyTooLarge) {
		return s.lambdaError(c, http.StatusRequestEntityTooLarge, "RequestTooLargeException", typedError{
			Type: "User", Message: fmt.Sprintf("Request must be smaller than %d bytes for the InvokeFunction operation", s.opts.MaxBodyBytes),
		})
	}
	if err != nil {
		return s.lambdaError(c, http.StatusBadRequest, "InvalidRequestContentException", typedError{Type: "User", Message: err.Error()})
	}
	if len(payload) == 0 {
		payload = []byte("{}") // what Lambda hands a function invoked without a payload
	} else if !json.Valid(payload) {
		return s.lambdaError(c, http.StatusBadRequest, "InvalidRequestContentException", typedError{
			Type: "User", Message: "Could not parse request body into json: Could not parse payload into json: Unexpected character",
		})
	}

	req := lambdainvoke.Request{Function: spec, Payload: payload, RequestID: requestID(c), TraceID: traceID(c), FunctionARN: s.functionARN(spec.Name)}
	switch invType {
	case invokeDryRun:
		return c.NoContent(http.StatusNoContent)
	case invokeEvent:
		if s.opts.AsyncQueue != nil {
			return s.enqueue(c, req)
		}
		if !s.startAsync(req) {
			return s.throttled(c, reasonReserved)
		}
		return c.NoContent(http.StatusAccepted)
	}

	res, err := s.inv.Invoke(r.Context(), req)
	ai.invoked, ai.cold, ai.invokeDur = res.Duration > 0, res.Cold, res.Duration
	h := c.Response().Header()
	if err != nil {
		return s.invokeError(c, spec, res, err)
	}
	h.Set("X-Amz-Executed-Version", executedVersion)
	if res.FunctionError != "" {
		ai.outcome = "function_error"
		h.Set("X-Amz-Function-Error", res.FunctionError)
	}
	return writeBlob(c, http.StatusOK, res.Payload)
}

// invokeError answers a failed invocation as Lambda does: throttling and
// service trouble as API errors, a timeout or crash as a function error.
func (s *Server) invokeError(c echo.Context, spec agentapi.FunctionSpec, res lambdainvoke.Result, err error) error {
	ai := info(c)
	h := c.Response().Header()
	unhandled := func(body []byte) error {
		h.Set("X-Amz-Executed-Version", executedVersion)
		h.Set("X-Amz-Function-Error", lambdainvoke.FunctionErrorUnhandled)
		return writeBlob(c, http.StatusOK, body)
	}
	switch {
	case errors.Is(err, lambdainvoke.ErrThrottled):
		ai.outcome = "throttled"
		if errors.Is(err, lambdainvoke.ErrAccountThrottled) {
			return s.throttled(c, reasonAccount)
		}
		return s.throttled(c, reasonReserved)
	case errors.Is(err, lambdainvoke.ErrTimeout):
		ai.outcome = "timeout"
		msg := fmt.Sprintf("%s %s Task timed out after %s seconds",
			time.Now().UTC().Format("2006-01-02T15:04:05.000Z"), requestID(c), formatSeconds(spec.Timeout()))
		body, _ := json.Marshal(functionError{ErrorMessage: msg}) // strings always encode
		return unhandled(body)
	case errors.Is(err, lambdainvoke.ErrCrashed):
		ai.outcome = "crash"
		s.opts.Logger.Warn("function container crashed; discarded", "request_id", requestID(c), "error", err.Error())
		body := res.Payload
		if !isErrorObject(body) {
			body, _ = json.Marshal(functionError{
				ErrorType:    "Runtime.ExitError",
				ErrorMessage: fmt.Sprintf("RequestId: %s Error: Runtime exited without providing a reason", requestID(c)),
			})
		}
		return unhandled(body)
	case errors.Is(err, lambdainvoke.ErrResponseTooLarge):
		ai.outcome = "response_too_large"
		body, _ := json.Marshal(functionError{
			ErrorType:    "Function.ResponseSizeTooLarge",
			ErrorMessage: fmt.Sprintf("Response payload size exceeded maximum allowed payload size (%d bytes).", responseSizeLimit),
		})
		return unhandled(body)
	case errors.Is(err, context.Canceled):
		ai.outcome = "client_gone"
		return c.NoContent(http.StatusRequestTimeout) // nobody reads it
	default:
		ai.outcome = "agent_error"
		s.opts.Logger.Error("no container for the function", "request_id", requestID(c), "error", err.Error())
		return s.lambdaError(c, http.StatusInternalServerError, "ServiceException", typedError{Type: "Service", Message: err.Error()})
	}
}

// Reasons of Lambda's TooManyRequestsException: the function's reserved
// concurrency, or the account's (here also the node's memory for
// functions), was exhausted.
const (
	reasonReserved = "ReservedFunctionConcurrentInvocationLimitExceeded"
	reasonAccount  = "ConcurrentInvocationLimitExceeded"
)

// throttled is Lambda's answer when a concurrency limit is exhausted.
func (s *Server) throttled(c echo.Context, reason string) error {
	return s.lambdaError(c, http.StatusTooManyRequests, "TooManyRequestsException", throttleError{
		Reason: reason, Type: "User", Message: "Rate Exceeded.",
	})
}

// Lambda API error bodies, fields in the order Lambda sends them.
type (
	notFoundError struct {
		Type    string `json:"Type"`
		Message string `json:"Message"`
	}
	typedError struct {
		Type    string `json:"Type"`
		Message string `json:"message"`
	}
	// functionError is the error object of a failed invocation, as the
	// Invoke API returns it with X-Amz-Function-Error.
	functionError struct {
		ErrorType    string `json:"errorType,omitempty"`
		ErrorMessage string `json:"errorMessage"`
	}
	throttleError struct {
		Reason  string `json:"Reason"`
		Type    string `json:"Type"`
		Message string `json:"message"`
	}
)

// lambdaError answers a Lambda API error: the type in x-amzn-ErrorType,
// which the AWS SDKs turn into their typed exceptions.
func (s *Server) lambdaError(c echo.Context, status int, errType string, body any) error {
	c.Response().Header().Set("X-Amzn-Errortype", errType)
	return writeJSON(c, status, body)
}

// enqueueTimeout bounds the handover of an Event invocation to the events
// service (a local write).
const enqueueTimeout = 10 * time.Second

// enqueue hands an Event invocation to the durable queue and answers 202
// once it is stored, as Lambda answers once its queue has the event.
func (s *Server) enqueue(c echo.Context, req lambdainvoke.Request) error {
	ai := info(c)
	if len(req.Payload) > eventsapi.MaxAsyncPayload {
		ai.outcome = "too_large"
		return s.lambdaError(c, http.StatusRequestEntityTooLarge, "RequestTooLargeException", typedError{
			Type: "User", Message: fmt.Sprintf("Request must be smaller than %d bytes for the InvokeFunction operation", eventsapi.MaxAsyncPayload),
		})
	}
	ctx, cancel := context.WithTimeout(c.Request().Context(), enqueueTimeout)
	defer cancel()
	if err := s.opts.AsyncQueue.Enqueue(ctx, req.Function.Name, req.RequestID, req.Payload); err != nil {
		ai.outcome = "queue_error"
		s.opts.Logger.Error("event invocation not queued", "request_id", req.RequestID, "function", req.Function.Name, "error", err.Error())
		return s.lambdaError(c, http.StatusInternalServerError, "ServiceException", typedError{Type: "Service", Message: "the asynchronous invocation queue is unavailable"})
	}
	ai.outcome = "queued"
	return c.NoContent(http.StatusAccepted)
}

// startAsync runs an Event invocation in the background under the
// server's context; false when too many are already pending.
func (s *Server) startAsync(req lambdainvoke.Request) bool {
	select {
	case s.asyncSlots <- struct{}{}:
	default:
		return false
	}
	req.Async = true
	s.async.Add(1)
	go func() { // owned by s.async; Wait collects it
		defer s.async.Done()
		defer func() { <-s.asyncSlots }()
		res, err := s.inv.Invoke(s.bg, req)
		log := s.opts.Logger.With("request_id", req.RequestID, "function", req.Function.Name, "invocation_type", invokeEvent)
		switch {
		case err != nil:
			log.Warn("event invocation failed", "error", err.Error())
		case res.FunctionError != "":
			log.Warn("event invocation returned a function error", "payload", snippet(res.Payload))
		default:
			log.Info("event invocation done", "cold", res.Cold, "invoke_ms", float64(res.Duration.Microseconds())/1000)
		}
	}()
	return true
}

// functionARN is the ARN Lambda names a function by in its messages.
func (s *Server) functionARN(name string) string {
	return fmt.Sprintf("arn:aws:lambda:%s:%s:function:%s", s.opts.Region, s.opts.AccountID, name)
}

// parseFunctionName splits the FunctionName forms Lambda accepts: name,
// name:qualifier, account:function:name[:qualifier] and
// arn:aws:lambda:region:account:function:name[:qualifier].
func parseFunctionName(s string) (name, qualifier string) {
	parts := strings.Split(s, ":")
	switch {
	case len(parts) >= 7 && parts[0] == "arn" && parts[5] == "function":
		name = parts[6]
		if len(parts) > 7 {
			qualifier = parts[7]
		}
	case len(parts) >= 3 && parts[1] == "function":
		name = parts[2]
		if len(parts) > 3 {
			qualifier = parts[3]
		}
	case len(parts) == 2:
		name, qualifier = parts[0], parts[1]
	default:
		name = s
	}
	return name, qualifier
}

// isErrorObject reports whether body is a JSON object with an errorType,
// what a runtime reports when it dies.
func isErrorObject(body []byte) bool {
	var obj struct {
		ErrorType string `json:"errorType"`
	}
	return json.Unmarshal(body, &obj) == nil && obj.ErrorType != ""
}

func snippet(b []byte) string {
	s := string(b)
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	return s
}
