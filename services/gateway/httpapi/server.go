// Package httpapi is the gateway's HTTP front: API routes served like API
// Gateway, the Lambda Invoke API, and /health. Handlers only decode and
// encode HTTP; routing lives in the live generation's table and invocation
// in lambdainvoke, reached through the narrow interfaces below.
package httpapi

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/esb-dev/esb/internal/awsid"
	"github.com/esb-dev/esb/services/gateway/apigateway"
	"github.com/esb-dev/esb/services/gateway/auth"
	"github.com/esb-dev/esb/services/gateway/generation"
	"github.com/esb-dev/esb/services/gateway/integration"
	"github.com/esb-dev/esb/services/gateway/lambdainvoke"
	"github.com/esb-dev/esb/services/gateway/sigv4"
)

// Defaults for the zero values of Options.
const (
	DefaultMaxAsync = 1000
)

// Generations gives the live config generation.
type Generations interface {
	Current() *generation.Generation
}

// Invoker runs one invocation; *lambdainvoke.Invoker implements it.
type Invoker interface {
	Invoke(ctx context.Context, req lambdainvoke.Request) (lambdainvoke.Result, error)
}

// AsyncQueue stores an Event invocation; *eventsapi.Client implements it.
type AsyncQueue interface {
	Enqueue(ctx context.Context, function, requestID string, payload []byte) error
}

// Options tunes a Server. The zero value is ready to use.
type Options struct {
	Region    string // awsid.DefaultRegion when empty
	AccountID string // awsid.DefaultAccountID when empty
	Env       string // ESB_ENV, for logs and the API id
	APIID     string // apigateway.APIID(Env) when empty
	// MaxBodyBytes bounds request bodies on both paths;
	// lambdainvoke.MaxPayload when zero.
	MaxBodyBytes int64
	// MaxAsync bounds Event invocations accepted but not finished;
	// DefaultMaxAsync when zero.
	MaxAsync int
	// AsyncQueue, when set, stores Event invocations durably (the events
	// service) instead of running them in this process: they then get
	// Lambda's retries and destinations and survive a gateway restart.
	AsyncQueue AsyncQueue
	// Auth enforces routes' SAM Auth. Nil refuses every protected route
	// (500), never serves it open.
	Auth *auth.Enforcer
	// Verifier checks the SigV4 signature the Invoke API and AWS_IAM
	// routes require. Nil accepts no key: every such call is refused.
	Verifier *sigv4.Verifier
	// AccessLog receives every access log entry besides Logger, e.g. a
	// logship.Shipper's Send. Nil means Logger only.
	AccessLog func(entry map[string]any)
	Logger    *slog.Logger // nil discards
}

// Server is the gateway's HTTP handler.
type Server struct {
	gens Generations
	inv  Invoker
	opts Options
	echo *echo.Echo

	// bg owns Event invocations: they outlive the request that accepted
	// them and end with the server, not with the client.
	bg         context.Context
	async      sync.WaitGroup
	asyncSlots chan struct{}
	// calls are route invocations; those past their integration timeout
	// run on after their requests were answered.
	calls integration.Calls

	access *accessWriter
}

// New builds the server. ctx owns background Event invocations and the
// access log writer; cancel it only after Wait, or they are cut short.
func New(ctx context.Context, gens Generations, inv Invoker, opts Options) *Server {
	if opts.Region == "" {
		opts.Region = awsid.DefaultRegion
	}
	if opts.AccountID == "" {
		opts.AccountID = awsid.DefaultAccountID
	}
	if opts.APIID == "" {
		opts.APIID = apigateway.APIID(opts.Env)
	}
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = lambdainvoke.MaxPayload
	}
	if opts.MaxAsync <= 0 {
		opts.MaxAsync = DefaultMaxAsync
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Verifier == nil {
		opts.Verifier = sigv4.New(noKeys{}, opts.Region, sigv4.Options{})
	}
	s := &Server{gens: gens, inv: inv, opts: opts, bg: ctx, asyncSlots: make(chan struct{}, opts.MaxAsync)}
	s.access = newAccessWriter(ctx, s.writeAccess)

	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = s.handleError
	e.Pre(s.requestIDs)
	e.Pre(s.functionURLHosts)
	e.Use(s.accessLog)
	e.Use(recoverPanic)
	e.GET("/health", s.health)
	e.POST("/2015-03-31/functions/:name/invocations", s.invoke)
	// Everything else is an API route, resolved against the live table.
	e.Any("/*", s.api)
	e.RouteNotFound("/*", s.api)
	s.echo = e
	return s
}

// Handler is the HTTP handler to serve.
func (s *Server) Handler() http.Handler { return s.echo }

// Wait blocks until every accepted Event invocation and every route
// invocation still running past its integration timeout has finished,
// and the access log lines of the requests answered so far are written,
// or ctx ends.
func (s *Server) Wait(ctx context.Context) error {
	done := make(chan struct{})
	go func() { // ends when the invocations do; nothing else waits on it
		s.async.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
		return fmt.Errorf("wait for event invocations: %w", ctx.Err())
	}
	if err := s.calls.Wait(ctx); err != nil {
		return err
	}
	return s.access.sync(ctx)
}

// Context keys the middleware and handlers share through echo.Context.
const (
	keyRequestID = "esb.request_id"
	keyTraceID   = "esb.trace_id"
	keyStart     = "esb.start"
	keyLog       = "esb.log" // *accessInfo
)

// accessInfo is what handlers add to the access log line.
type accessInfo struct {
	kind     string // api, invoke, health
	function string
	route    string
	cold     bool
	invoked  bool
	// front is whose error answers the request gets (frontREST,
	// frontHTTPAPI, frontURL), once its route or URL is known; not logged.
	// Beside the bools, it keeps the struct in its allocation size class.
	front     front
	outcome   string // e.g. timeout, crash, throttled, function_error
	caller    string // who signed the request: root or function:<name>
	invokeDur time.Duration
}

func info(c echo.Context) *accessInfo {
	if ai, ok := c.Get(keyLog).(*accessInfo); ok {
		return ai
	}
	return &accessInfo{}
}

// requestIDs gives every request its x-amzn-RequestId and X-Amzn-Trace-Id,
// set on the response before any handler writes, so error answers carry
// them too.
func (s *Server) requestIDs(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		now := time.Now()
		id := newRequestID()
		trace := c.Request().Header.Get("X-Amzn-Trace-Id")
		if !strings.HasPrefix(trace, "Root=1-") {
			trace = newTraceID(now)
		}
		c.Set(keyRequestID, id)
		c.Set(keyTraceID, trace)
		c.Set(keyStart, now)
		c.Set(keyLog, &accessInfo{})
		h := c.Response().Header()
		h.Set("X-Amzn-Requestid", id)
		h.Set("X-Amzn-Trace-Id", trace)
		return next(c)
	}
}

func requestID(c echo.Context) string { s, _ := c.Get(keyRequestID).(string); return s }
func traceID(c echo.Context) string   { s, _ := c.Get(keyTraceID).(string); return s }

// newRequestID returns a random UUID (version 4), the form of Lambda's and
// API Gateway's request ids.
func newRequestID() string { return awsid.UUID() }

// newTraceID returns an X-Ray root trace id: Root=1-<epoch seconds in hex>-<96 random bits in hex>.
func newTraceID(now time.Time) string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("Root=1-%08x-%s", now.Unix(), hex.EncodeToString(b[:]))
}

// recoverPanic turns a handler panic into an error answer instead of a
// dropped connection. (echo's own Recover lives in a package that pulls in a
// rate limiter module the gateway has no use for.)
func recoverPanic(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) (err error) {
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p) // net/http's signal to drop the connection on purpose
				}
				if e, ok := p.(error); ok {
					err = fmt.Errorf("handler panic: %w", e)
					return
				}
				err = fmt.Errorf("handler panic: %v", p)
			}
		}()
		return next(c)
	}
}

// handleError answers errors no handler answered itself (router misses,
// panics) in API Gateway's JSON form; on a route already matched, in the
// words of its API's kind.
func (s *Server) handleError(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	status, msg := http.StatusInternalServerError, "Internal server error"
	var he *echo.HTTPError
	if errors.As(err, &he) {
		status = he.Code
		msg = http.StatusText(status)
		if status == http.StatusNotFound || status == http.StatusMethodNotAllowed {
			status, msg = http.StatusNotFound, "Not Found"
		}
	}
	if status >= 500 {
		s.opts.Logger.Error("request failed", "request_id", requestID(c), "error", err.Error())
	}
	if front := info(c).front; he == nil && (front == frontREST || front == frontHTTPAPI) {
		_ = writeFailure(c, front, failService)
		return
	}
	_ = writeJSON(c, status, message{Message: msg})
}

// message is API Gateway's error body.
type message struct {
	Message string `json:"message"`
}

// writeJSON answers v as JSON without the trailing newline echo's encoder
// adds, matching AWS's bodies byte for byte.
func writeJSON(c echo.Context, status int, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode answer: %w", err)
	}
	return writeBlob(c, status, data)
}

// writeBlob answers data as JSON. It states the length, as AWS does, which
// also lets the answer go out before the access log line is written.
func writeBlob(c echo.Context, status int, data []byte) error {
	c.Response().Header().Set(echo.HeaderContentLength, strconv.Itoa(len(data)))
	return c.Blob(status, echo.MIMEApplicationJSON, data)
}

// errUnknownAuthorizer reports an authorizer function the generation lacks.
var errUnknownAuthorizer = errors.New("authorizer function not in this generation")

// errBodyTooLarge reports a request body over the limit.
var errBodyTooLarge = errors.New("request body too large")

// readBody reads the request body up to limit bytes.
func readBody(r *http.Request, limit int64) ([]byte, error) {
	if r.ContentLength > limit {
		return nil, errBodyTooLarge
	}
	data, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
	if err != nil {
		return nil, fmt.Errorf("read request body: %w", err)
	}
	if int64(len(data)) > limit {
		return nil, errBodyTooLarge
	}
	return data, nil
}

// health answers without asking the agent. An anonymous caller (a
// container healthcheck) learns only that the gateway serves; a caller
// that signs with the env's root key (service lambda) gets what it serves.
func (s *Server) health(c echo.Context) error {
	info(c).kind = "health"
	g := s.gens.Current()
	if g == nil {
		return writeJSON(c, http.StatusServiceUnavailable, map[string]any{"status": "starting"})
	}
	r := c.Request()
	if r.Header.Get("Authorization") == "" && !r.URL.Query().Has("X-Amz-Signature") {
		return writeJSON(c, http.StatusOK, map[string]any{"status": "ok"})
	}
	id, done, err := s.verify(c, sigv4.ServiceLambda, frontLambda)
	if done {
		return err
	}
	if !id.Root() {
		return writeJSON(c, http.StatusOK, map[string]any{"status": "ok"})
	}
	body := healthBody{
		Status:     "ok",
		Generation: g.ID,
		Functions:  g.Table.FunctionCount(),
		Routes:     g.Table.RouteCount(),
	}
	if h, ok := s.inv.(interface{ Held() int }); ok {
		body.WarmLeases = h.Held()
	}
	return writeJSON(c, http.StatusOK, body)
}

type healthBody struct {
	Status     string `json:"status"`
	Generation uint64 `json:"generation"`
	Functions  int    `json:"functions"`
	Routes     int    `json:"routes"`
	// WarmLeases counts the containers the gateway holds between
	// invocations (see lambdainvoke); the agent counts them busy.
	WarmLeases int `json:"warm_leases"`
}

// formatSeconds renders a timeout the way Lambda reports it: 3.00.
func formatSeconds(d time.Duration) string {
	return strconv.FormatFloat(d.Seconds(), 'f', 2, 64)
}
