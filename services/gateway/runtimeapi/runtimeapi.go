// Package runtimeapi is the gateway's side of the Lambda Runtime API: a
// function's runtime client asks it for its next event and posts the
// result back, as it does on Lambda, with no emulator in the container
// between them. The event and the result then cross the network once each,
// as when a caller talks to a container's RIE directly.
//
// Runtimes are told apart by their address: each function container has
// its own on the platform network (docker mode) or the node's bridge
// (containerd mode), and the gateway leases containers by that address.
// A Session is one address's exchange; the invoker hands it an Invocation
// and waits for the Outcome.
//
//	GET  /2018-06-01/runtime/invocation/next             the next event (long poll)
//	POST /2018-06-01/runtime/invocation/{id}/response    the result
//	POST /2018-06-01/runtime/invocation/{id}/error       the function's error
//	POST /2018-06-01/runtime/init/error                  init failed; the runtime exits
package runtimeapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"strconv"
	"sync"
	"time"
)

// MaxPayload is Lambda's bound on a synchronous result (6 MB).
const MaxPayload = 6 * 1024 * 1024

// maxErrorBody bounds an error or init error report.
const maxErrorBody = 1 << 20

// Header names of the Runtime API.
const (
	HeaderRequestID   = "Lambda-Runtime-Aws-Request-Id"
	HeaderDeadline    = "Lambda-Runtime-Deadline-Ms"
	HeaderFunctionARN = "Lambda-Runtime-Invoked-Function-Arn"
	HeaderTraceID     = "Lambda-Runtime-Trace-Id"
	HeaderErrorType   = "Lambda-Runtime-Function-Error-Type"
)

// Kind is how an invocation ended on the runtime's side.
type Kind int

const (
	// Response: the function returned; Payload is its result.
	Response Kind = iota
	// FunctionError: the function failed; Payload is its error object.
	FunctionError
	// InitError: the runtime failed before it asked for an event, and
	// exits; Payload is its error object.
	InitError
	// TooLarge: the result exceeded the limit; the function finished well.
	TooLarge
)

// Outcome is what the runtime reported for one invocation.
type Outcome struct {
	Kind      Kind
	Payload   []byte
	ErrorType string // the runtime's Lambda-Runtime-Function-Error-Type, if any
}

// Errors of Session.Exchange, matched with errors.Is.
var (
	// ErrNotReady: the runtime never asked for an event before the init deadline.
	ErrNotReady = errors.New("runtime did not ask for an event")
	// ErrNoAnswer: the runtime took the event and did not answer by the deadline.
	ErrNoAnswer = errors.New("runtime did not answer in time")
	// ErrGone: the container went away; see Delivered for whether the
	// event reached it.
	ErrGone = errors.New("runtime gone")
)

// Invocation is one event for a runtime.
type Invocation struct {
	ID          string
	Payload     []byte
	FunctionARN string
	TraceID     string
	// Timeout is how long the function may run once it has the event; the
	// runtime learns its deadline from it.
	Timeout time.Duration

	delivered bool      // guarded by the session's mu
	deadline  time.Time // set at delivery, guarded by the session's mu
	done      chan Outcome
}

// Options tunes a Server. The zero value is ready to use.
type Options struct {
	// MaxResponse bounds a result. MaxPayload when zero.
	MaxResponse int64
	Logger      *slog.Logger // nil discards
}

// Server holds every runtime's session and serves the Runtime API.
type Server struct {
	opts     Options
	mu       sync.Mutex
	sessions map[netip.Addr]*Session
}

// New returns a Server.
func New(opts Options) *Server {
	if opts.MaxResponse <= 0 {
		opts.MaxResponse = MaxPayload
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &Server{opts: opts, sessions: make(map[netip.Addr]*Session)}
}

// Session returns the session of the runtime at addr, running in
// container, which may have started since then (at the earliest). A
// session that served another container at that address (which the
// runtime reused) starts over: whatever that container left behind is not
// this one's. An init error reported since then stays: a runtime that
// fails fast reports before the gateway has its lease in hand.
func (s *Server) Session(addr netip.Addr, container string, since time.Time) *Session {
	sess := s.session(addr)
	sess.mu.Lock()
	defer sess.mu.Unlock()
	if sess.container != container {
		sess.container = container
		if sess.initErrAt.Before(since) {
			sess.initErr = nil
		}
		sess.pending = nil
		if sess.current != nil {
			sess.finishLocked(sess.current, nil)
		}
	}
	return sess
}

func (s *Server) session(addr netip.Addr) *Session {
	addr = addr.Unmap()
	s.mu.Lock()
	defer s.mu.Unlock()
	sess, ok := s.sessions[addr]
	if !ok {
		sess = &Session{addr: addr, changed: make(chan struct{})}
		s.sessions[addr] = sess
	}
	return sess
}

// Handler serves the Runtime API.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /2018-06-01/runtime/invocation/next", s.next)
	mux.HandleFunc("POST /2018-06-01/runtime/invocation/{id}/response", s.response)
	mux.HandleFunc("POST /2018-06-01/runtime/invocation/{id}/error", s.invocationError)
	mux.HandleFunc("POST /2018-06-01/runtime/init/error", s.initError)
	return mux
}

// Session is the exchange with the runtime at one address.
type Session struct {
	addr netip.Addr

	mu        sync.Mutex
	container string
	changed   chan struct{} // closed and replaced on every change below
	waiters   uint64        // how many /next polls arrived; only the latest may take an event
	pending   *Invocation   // offered, not yet taken
	current   *Invocation   // taken, not yet answered
	initErr   *Outcome      // the runtime failed its init and exits
	initErrAt time.Time     // when initErr was reported
}

func (s *Session) broadcastLocked() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// finishLocked ends inv with o (nil: abandoned, nobody waits any more).
func (s *Session) finishLocked(inv *Invocation, o *Outcome) {
	if s.current == inv {
		s.current = nil
	}
	if o != nil {
		select {
		case inv.done <- *o:
		default: // answered twice; the first answer stands
		}
	}
}

// ExchangeError is an Exchange that ended without an answer.
type ExchangeError struct {
	Err       error // ErrNotReady, ErrNoAnswer or ErrGone
	Delivered bool  // the runtime took the event
	Reason    string
}

func (e *ExchangeError) Error() string {
	if e.Reason != "" {
		return fmt.Sprintf("%v: %s", e.Err, e.Reason)
	}
	return e.Err.Error()
}

func (e *ExchangeError) Unwrap() error { return e.Err }

// Exchange offers inv to the runtime once it asks for an event (by
// initBy), then waits for its answer until the function's timeout plus
// grace has passed since delivery. gone firing (with the container's
// epitaph from reason) ends the wait: the container exited.
func (s *Session) Exchange(inv *Invocation, initBy time.Time, grace time.Duration, gone <-chan struct{}, reason func() string) (Outcome, error) {
	inv.done = make(chan Outcome, 1)
	select {
	case <-gone:
		return Outcome{}, &ExchangeError{Err: ErrGone, Reason: why(reason)}
	default:
	}
	s.mu.Lock()
	if o := s.initErr; o != nil {
		s.mu.Unlock()
		return *o, nil
	}
	s.pending = inv
	s.broadcastLocked()
	s.mu.Unlock()

	init := time.NewTimer(time.Until(initBy))
	defer init.Stop()
	for {
		s.mu.Lock()
		delivered, changed, initErr := inv.delivered, s.changed, s.initErr
		if !delivered && initErr != nil {
			s.pending = nil
		}
		s.mu.Unlock()
		if delivered {
			break
		}
		if initErr != nil {
			return *initErr, nil
		}
		select {
		case <-changed:
		case <-init.C:
			if s.withdraw(inv) {
				return Outcome{}, &ExchangeError{Err: ErrNotReady}
			}
		case <-gone:
			if s.withdraw(inv) {
				return Outcome{}, &ExchangeError{Err: ErrGone, Reason: why(reason)}
			}
		}
	}

	s.mu.Lock()
	deadline := inv.deadline.Add(grace)
	s.mu.Unlock()
	answer := time.NewTimer(time.Until(deadline))
	defer answer.Stop()
	select {
	case o := <-inv.done:
		return o, nil
	case <-answer.C:
	case <-gone:
	}
	s.mu.Lock()
	s.finishLocked(inv, nil)
	s.mu.Unlock()
	select {
	case o := <-inv.done: // the answer raced the deadline or the exit and won
		return o, nil
	default:
	}
	select {
	case <-gone:
		return Outcome{}, &ExchangeError{Err: ErrGone, Delivered: true, Reason: why(reason)}
	default:
		return Outcome{}, &ExchangeError{Err: ErrNoAnswer, Delivered: true}
	}
}

// withdraw takes back inv unless the runtime took it meanwhile; it reports
// whether it did.
func (s *Session) withdraw(inv *Invocation) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if inv.delivered {
		return false
	}
	if s.pending == inv {
		s.pending = nil
	}
	return true
}

func why(reason func() string) string {
	if reason == nil {
		return ""
	}
	return reason()
}

// sessionOf finds the session of the runtime that sent r.
func (s *Server) sessionOf(r *http.Request) (*Session, error) {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return nil, fmt.Errorf("runtime address %q: %w", r.RemoteAddr, err)
	}
	return s.session(ap.Addr()), nil
}

// next hands the runtime its next event. A runtime asks again only once
// it is done with the last one, so a poll that arrives while an older one
// from the same address still waits means the older one's runtime is gone
// (its container exited and another got the address): only the latest
// takes events.
func (s *Server) next(w http.ResponseWriter, r *http.Request) {
	sess, err := s.sessionOf(r)
	if err != nil {
		apiError(w, http.StatusBadRequest, "InvalidRequest", err.Error())
		return
	}
	sess.mu.Lock()
	sess.waiters++
	me := sess.waiters
	sess.initErr = nil // a runtime that polls initialized fine
	if cur := sess.current; cur != nil {
		// The runtime asked again without answering: the event is lost to
		// it, as when it exits.
		sess.finishLocked(cur, &Outcome{Kind: FunctionError, ErrorType: "Runtime.Unknown",
			Payload: errorBody("Runtime.Unknown", "the runtime asked for the next event without answering the last one")})
	}
	sess.broadcastLocked()
	for {
		if sess.waiters != me {
			sess.mu.Unlock()
			apiError(w, http.StatusGone, "Replaced", "a newer poll from this address took over")
			return
		}
		if r.Context().Err() != nil {
			// The runtime hung up (it died): it must not take an event.
			sess.mu.Unlock()
			return
		}
		if inv := sess.pending; inv != nil {
			sess.pending = nil
			sess.current = inv
			inv.delivered = true
			inv.deadline = time.Now().Add(inv.Timeout)
			sess.broadcastLocked()
			sess.mu.Unlock()
			s.deliver(w, inv)
			return
		}
		changed := sess.changed
		sess.mu.Unlock()
		select {
		case <-changed:
		case <-r.Context().Done():
			return
		}
		sess.mu.Lock()
	}
}

func (s *Server) deliver(w http.ResponseWriter, inv *Invocation) {
	h := w.Header()
	h[HeaderRequestID] = []string{inv.ID}
	h[HeaderDeadline] = []string{strconv.FormatInt(inv.deadline.UnixMilli(), 10)}
	if inv.FunctionARN != "" {
		h[HeaderFunctionARN] = []string{inv.FunctionARN}
	}
	if inv.TraceID != "" {
		h[HeaderTraceID] = []string{inv.TraceID}
	}
	h["Content-Type"] = []string{"application/json"}
	h["Content-Length"] = []string{strconv.Itoa(len(inv.Payload))}
	if _, err := w.Write(inv.Payload); err != nil {
		s.opts.Logger.Debug("deliver event", "request_id", inv.ID, "error", err.Error())
	}
}

// answer reads a report for the invocation named in the path and ends it.
func (s *Server) answer(w http.ResponseWriter, r *http.Request, kind Kind, limit int64) {
	sess, err := s.sessionOf(r)
	if err != nil {
		apiError(w, http.StatusBadRequest, "InvalidRequest", err.Error())
		return
	}
	id := r.PathValue("id")
	sess.mu.Lock()
	inv := sess.current
	sess.mu.Unlock()
	if inv == nil || inv.ID != id {
		apiError(w, http.StatusBadRequest, "InvalidRequestID", fmt.Sprintf("invocation %q is not in progress", id))
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
	if err != nil {
		// The runtime went away mid-report; its exit ends the invocation.
		return
	}
	o := Outcome{Kind: kind, Payload: body, ErrorType: r.Header.Get(HeaderErrorType)}
	status := http.StatusAccepted
	if int64(len(body)) > limit {
		o = Outcome{Kind: TooLarge}
		if kind == FunctionError {
			o.Kind, o.Payload = FunctionError, body[:0]
		}
		status = http.StatusRequestEntityTooLarge
	}
	sess.mu.Lock()
	sess.finishLocked(inv, &o)
	sess.mu.Unlock()
	if status != http.StatusAccepted {
		apiError(w, status, "RequestEntityTooLarge", fmt.Sprintf("more than %d bytes", limit))
		return
	}
	accepted(w)
}

func (s *Server) response(w http.ResponseWriter, r *http.Request) {
	s.answer(w, r, Response, s.opts.MaxResponse)
}

func (s *Server) invocationError(w http.ResponseWriter, r *http.Request) {
	s.answer(w, r, FunctionError, maxErrorBody)
}

// initError records that the runtime failed before asking for an event:
// the invocation waiting for it (or the next one) gets the report.
func (s *Server) initError(w http.ResponseWriter, r *http.Request) {
	sess, err := s.sessionOf(r)
	if err != nil {
		apiError(w, http.StatusBadRequest, "InvalidRequest", err.Error())
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxErrorBody))
	if err != nil {
		return
	}
	o := &Outcome{Kind: InitError, Payload: body, ErrorType: r.Header.Get(HeaderErrorType)}
	sess.mu.Lock()
	sess.initErr, sess.initErrAt = o, time.Now()
	if cur := sess.current; cur != nil {
		sess.finishLocked(cur, o)
	}
	sess.broadcastLocked()
	sess.mu.Unlock()
	accepted(w)
}

func accepted(w http.ResponseWriter) {
	w.Header()["Content-Type"] = []string{"application/json"}
	w.WriteHeader(http.StatusAccepted)
	_, _ = io.WriteString(w, `{"status":"OK"}`)
}

func apiError(w http.ResponseWriter, status int, errType, msg string) {
	w.Header()["Content-Type"] = []string{"application/json"}
	w.WriteHeader(status)
	_, _ = w.Write(errorBody(errType, msg))
}

// errorBody is a Lambda error object.
func errorBody(errType, msg string) []byte {
	b, _ := json.Marshal(struct {
		ErrorType    string `json:"errorType"`
		ErrorMessage string `json:"errorMessage"`
	}{errType, msg}) // two strings always marshal
	return b
}
