// Package runtimeapi is the gateway's side of the Lambda Runtime API: a
// function's runtime client asks it for its next event and posts the
// result back, as it does on Lambda, with no emulator in the container
// between them. The event and the result then cross the network once each,
// as when a caller talks to a container's RIE directly.
//
// Runtimes are told apart by their address and a secret. Each function
// container has its own address on the functions network (docker mode) or
// the node's bridge (containerd mode), which it cannot forge (it holds no
// NET_RAW or NET_ADMIN), and the gateway leases containers by that
// address. Each also gets its own secret from the agent, as the path of
// AWS_LAMBDA_RUNTIME_API (gateway:9001/<secret>), so every call of an
// unmodified runtime client carries it; the lease tells the gateway the
// same secret. A call whose secret is not that of the container leased at
// its address gets 403 and a warning in the log: an address alone no
// longer lets anyone take or answer a container's invocations. A Session
// is one address's exchange; the invoker hands it an Invocation and waits
// for the Outcome.
//
//	GET  [/{secret}]/2018-06-01/runtime/invocation/next             the next event (long poll)
//	POST [/{secret}]/2018-06-01/runtime/invocation/{id}/response    the result
//	POST [/{secret}]/2018-06-01/runtime/invocation/{id}/error       the function's error
//	POST [/{secret}]/2018-06-01/runtime/init/error                  init failed; the runtime exits
//
// A lease without a secret (an agent that hands out none) is served
// without the prefix, by address alone.
package runtimeapi

import (
	"crypto/subtle"
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
	// Delivered is when the runtime took the event; zero for an init
	// error, which no event reached.
	Delivered time.Time
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
// container, which may have started since then (at the earliest), whose
// calls carry secret. A session that served another container at that
// address (which the runtime reused) starts over: whatever that container
// left behind is not this one's. An init error reported since then with
// this secret stays: a runtime that fails fast reports before the gateway
// has its lease in hand.
func (s *Server) Session(addr netip.Addr, container string, since time.Time, secret string) *Session {
	sess := s.session(addr)
	sess.mu.Lock()
	defer sess.mu.Unlock()
	if sess.container != container {
		sess.container = container
		sess.secret = secret
		if sess.initErrAt.Before(since) || !sess.matchesLocked(sess.initErrSecret) {
			sess.initErr = nil
		}
		sess.pending = nil
		if sess.current != nil {
			sess.finishLocked(sess.current, nil)
		}
		// Polls that arrived before the lease wait for its secret.
		sess.broadcastLocked()
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

// Handler serves the Runtime API, under a container's secret and (for
// leases without one) without.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	for _, prefix := range []string{"", "/{secret}"} {
		mux.HandleFunc("GET "+prefix+"/2018-06-01/runtime/invocation/next", s.next)
		mux.HandleFunc("POST "+prefix+"/2018-06-01/runtime/invocation/{id}/response", s.response)
		mux.HandleFunc("POST "+prefix+"/2018-06-01/runtime/invocation/{id}/error", s.invocationError)
		mux.HandleFunc("POST "+prefix+"/2018-06-01/runtime/init/error", s.initError)
	}
	return mux
}

// Session is the exchange with the runtime at one address.
type Session struct {
	addr netip.Addr

	mu            sync.Mutex
	container     string
	secret        string        // what the container's calls carry; "" for a lease without one
	changed       chan struct{} // closed and replaced on every change below
	waiters       uint64        // how many /next polls with the secret arrived; only the latest may take an event
	pending       *Invocation   // offered, not yet taken
	current       *Invocation   // taken, not yet answered
	initErr       *Outcome      // the runtime failed its init and exits
	initErrAt     time.Time     // when initErr was reported
	initErrSecret string        // the secret initErr's report carried
}

// matchesLocked reports whether a call carrying secret comes from the
// container leased at this address. Constant time: a runtime must not
// learn another's secret byte by byte.
func (s *Session) matchesLocked(secret string) bool {
	return subtle.ConstantTimeCompare([]byte(s.secret), []byte(secret)) == 1
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
	if o := s.initErr; o != nil && s.matchesLocked(s.initErrSecret) {
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
		if initErr != nil && !s.matchesLocked(s.initErrSecret) {
			initErr = nil
		}
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
	delivered := inv.deadline.Add(-inv.Timeout)
	s.mu.Unlock()
	answer := time.NewTimer(time.Until(deadline))
	defer answer.Stop()
	select {
	case o := <-inv.done:
		o.Delivered = delivered
		return o, nil
	case <-answer.C:
	case <-gone:
	}
	s.mu.Lock()
	s.finishLocked(inv, nil)
	s.mu.Unlock()
	select {
	case o := <-inv.done: // the answer raced the deadline or the exit and won
		o.Delivered = delivered
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

// refuse answers a call whose secret is not that of the container leased
// at its address, and logs it: a runtime trying another's session.
func (s *Server) refuse(w http.ResponseWriter, r *http.Request, sess *Session, call string) {
	s.opts.Logger.Warn("runtime API call refused: its secret is not that of the container leased at its address",
		"call", call, "remote", r.RemoteAddr, "container", sess.leasedContainer(), "with_secret", r.PathValue("secret") != "")
	apiError(w, http.StatusForbidden, "AccessDenied", "this call does not carry the runtime secret of the container at its address")
}

func (s *Session) leasedContainer() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.container
}

// next hands the runtime its next event. A runtime asks again only once
// it is done with the last one, so a poll that arrives while an older one
// from the same address still waits means the older one's runtime is gone
// (its container exited and another got the address): only the latest
// takes events.
//
// A poll whose secret is not the session's is refused at once while the
// leased container has an event: it is not that container's runtime. A
// poll that comes before its container's lease (a cold start, the lease
// still on its way, or an address the last container left) waits without
// touching the session until a lease names its secret, and is refused
// once a lease names another or an event is offered to another.
func (s *Server) next(w http.ResponseWriter, r *http.Request) {
	sess, err := s.sessionOf(r)
	if err != nil {
		apiError(w, http.StatusBadRequest, "InvalidRequest", err.Error())
		return
	}
	secret := r.PathValue("secret")
	sess.mu.Lock()
	if !sess.matchesLocked(secret) && (sess.current != nil || sess.pending != nil) {
		sess.mu.Unlock()
		s.refuse(w, r, sess, "next")
		return
	}
	var me uint64 // 0 until the poll has the session's secret
	leased := sess.container
	for {
		match := sess.matchesLocked(secret)
		if !match && sess.container != leased {
			// A lease came, and its secret is not this poll's.
			sess.mu.Unlock()
			s.refuse(w, r, sess, "next")
			return
		}
		if match && me == 0 {
			sess.waiters++
			me = sess.waiters
			sess.initErr = nil // a runtime that polls initialized fine
			if cur := sess.current; cur != nil {
				// The runtime asked again without answering: the event is
				// lost to it, as when it exits.
				sess.finishLocked(cur, &Outcome{Kind: FunctionError, ErrorType: "Runtime.Unknown",
					Payload: errorBody("Runtime.Unknown", "the runtime asked for the next event without answering the last one")})
			}
			sess.broadcastLocked()
		}
		if me != 0 && sess.waiters != me {
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
			if !match {
				sess.mu.Unlock()
				s.refuse(w, r, sess, "next")
				return
			}
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
	inv, match := sess.current, sess.matchesLocked(r.PathValue("secret"))
	sess.mu.Unlock()
	if !match {
		s.refuse(w, r, sess, "answer")
		return
	}
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
	secret := r.PathValue("secret")
	sess.mu.Lock()
	match := sess.matchesLocked(secret)
	if !match && sess.current != nil {
		// The leased container is busy with an event: this report is
		// not its runtime's.
		sess.mu.Unlock()
		s.refuse(w, r, sess, "init error")
		return
	}
	// Kept with its secret: a report that comes before the lease counts
	// once the lease names the same secret.
	sess.initErr, sess.initErrAt, sess.initErrSecret = o, time.Now(), secret
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
