package runtimeapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// runtime is a Runtime API client at one loopback address, as a function
// container's runtime is at its own address.
type runtime struct {
	t    *testing.T
	base string
	hc   *http.Client
}

func newRuntime(t *testing.T, srv *httptest.Server, ip string) *runtime {
	return newRuntimeWithSecret(t, srv, ip, "")
}

// newRuntimeWithSecret is a runtime whose AWS_LAMBDA_RUNTIME_API carries
// secret as its path ("" none).
func newRuntimeWithSecret(t *testing.T, srv *httptest.Server, ip, secret string) *runtime {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
	tr := &http.Transport{DialContext: d.DialContext}
	t.Cleanup(tr.CloseIdleConnections)
	base := srv.URL
	if secret != "" {
		base += "/" + secret
	}
	return &runtime{t: t, base: base + "/2018-06-01/runtime", hc: &http.Client{Transport: tr}}
}

type event struct {
	id, deadline, arn, trace string
	body                     string
	status                   int
}

// next polls for an event; the result arrives on the channel.
func (r *runtime) next(ctx context.Context) <-chan event {
	out := make(chan event, 1)
	go func() {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, r.base+"/invocation/next", nil)
		resp, err := r.hc.Do(req)
		if err != nil {
			out <- event{status: -1, body: err.Error()}
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		out <- event{
			id: resp.Header.Get(HeaderRequestID), deadline: resp.Header.Get(HeaderDeadline),
			arn: resp.Header.Get(HeaderFunctionARN), trace: resp.Header.Get(HeaderTraceID),
			body: string(b), status: resp.StatusCode,
		}
	}()
	return out
}

func (r *runtime) post(path, body string, header map[string]string) (int, string) {
	req, _ := http.NewRequest(http.MethodPost, r.base+path, strings.NewReader(body))
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := r.hc.Do(req)
	require.NoError(r.t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func start(t *testing.T, opts Options) (*Server, *httptest.Server) {
	s := New(opts)
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	return s, srv
}

var (
	addr1 = netip.MustParseAddr("127.0.0.1")
	addr2 = netip.MustParseAddr("127.0.0.2")
)

type exchange struct {
	o   Outcome
	err error
}

func exchangeAsync(sess *Session, inv *Invocation, initWait, grace time.Duration, gone <-chan struct{}) <-chan exchange {
	out := make(chan exchange, 1)
	go func() {
		o, err := sess.Exchange(inv, time.Now().Add(initWait), grace, gone, func() string { return "exit status 3" })
		out <- exchange{o, err}
	}()
	return out
}

func wait[T any](t *testing.T, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(10 * time.Second):
		t.Fatal("nothing arrived in 10s")
		panic("unreachable")
	}
}

func TestExchange(t *testing.T) {
	s, srv := start(t, Options{})
	rt := newRuntime(t, srv, "127.0.0.1")

	t.Run("the runtime polls first, then answers", func(t *testing.T) {
		ev := rt.next(t.Context())
		before := time.Now()
		done := exchangeAsync(s.Session(addr1, "c1", time.Time{}, ""), &Invocation{ID: "req-1", Payload: []byte(`{"a":1}`),
			FunctionARN: "arn:aws:lambda:us-east-1:000000000000:function:F", TraceID: "Root=1-x", Timeout: 3 * time.Second},
			time.Second, time.Second, nil)
		e := wait(t, ev)
		require.Equal(t, http.StatusOK, e.status, e.body)
		assert.Equal(t, "req-1", e.id)
		assert.Equal(t, `{"a":1}`, e.body)
		assert.Equal(t, "arn:aws:lambda:us-east-1:000000000000:function:F", e.arn)
		assert.Equal(t, "Root=1-x", e.trace)
		ms, err := strconv.ParseInt(e.deadline, 10, 64)
		require.NoError(t, err)
		left := time.UnixMilli(ms).Sub(before)
		assert.True(t, left > 2*time.Second && left <= 3*time.Second+50*time.Millisecond, "deadline %s after the offer", left)

		status, _ := rt.post("/invocation/req-1/response", `{"ok":true}`, nil)
		assert.Equal(t, http.StatusAccepted, status)
		x := wait(t, done)
		require.NoError(t, x.err)
		assert.Equal(t, Response, x.o.Kind)
		assert.Equal(t, `{"ok":true}`, string(x.o.Payload))
		assert.WithinRange(t, x.o.Delivered, before, time.Now(), "delivered when the runtime took it")
	})

	t.Run("the event waits for the runtime's poll", func(t *testing.T) {
		done := exchangeAsync(s.Session(addr1, "c1", time.Time{}, ""), &Invocation{ID: "req-2", Payload: []byte(`2`), Timeout: time.Second}, 5*time.Second, time.Second, nil)
		time.Sleep(50 * time.Millisecond)
		e := wait(t, rt.next(t.Context()))
		assert.Equal(t, "req-2", e.id)
		status, _ := rt.post("/invocation/req-2/error", `{"errorType":"ValueError","errorMessage":"no"}`,
			map[string]string{HeaderErrorType: "ValueError"})
		assert.Equal(t, http.StatusAccepted, status)
		x := wait(t, done)
		require.NoError(t, x.err)
		assert.Equal(t, FunctionError, x.o.Kind)
		assert.Equal(t, "ValueError", x.o.ErrorType)
		assert.JSONEq(t, `{"errorType":"ValueError","errorMessage":"no"}`, string(x.o.Payload))
	})

	t.Run("an answer for another invocation is refused", func(t *testing.T) {
		status, body := rt.post("/invocation/nope/response", `1`, nil)
		assert.Equal(t, http.StatusBadRequest, status)
		assert.Contains(t, body, "InvalidRequestID")
	})
}

func TestExchangeWithoutAnswer(t *testing.T) {
	s, srv := start(t, Options{})
	rt := newRuntime(t, srv, "127.0.0.1")

	t.Run("no poll by the init deadline: withdrawn, never delivered", func(t *testing.T) {
		x := wait(t, exchangeAsync(s.Session(netip.MustParseAddr("127.0.0.3"), "c3", time.Time{}, ""), &Invocation{ID: "late", Timeout: time.Second}, 50*time.Millisecond, 0, nil))
		require.ErrorIs(t, x.err, ErrNotReady)
		var ee *ExchangeError
		require.ErrorAs(t, x.err, &ee)
		assert.False(t, ee.Delivered)

		// At an address of its own: the server notices a poll's hang-up
		// only after the client has moved on.
		other := newRuntime(t, srv, "127.0.0.3")
		ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
		defer cancel()
		e := wait(t, other.next(ctx))
		assert.Equal(t, -1, e.status, "a withdrawn event reached the runtime: %+v", e)
	})

	t.Run("no answer by the deadline", func(t *testing.T) {
		ev := rt.next(t.Context())
		done := exchangeAsync(s.Session(addr1, "c1", time.Time{}, ""), &Invocation{ID: "slow", Timeout: 50 * time.Millisecond}, time.Second, 20*time.Millisecond, nil)
		assert.Equal(t, "slow", wait(t, ev).id)
		x := wait(t, done)
		require.ErrorIs(t, x.err, ErrNoAnswer)
		var ee *ExchangeError
		require.ErrorAs(t, x.err, &ee)
		assert.True(t, ee.Delivered)
		// A late answer finds nothing in progress.
		status, _ := rt.post("/invocation/slow/response", `1`, nil)
		assert.Equal(t, http.StatusBadRequest, status)
	})

	t.Run("the container exits before it polls", func(t *testing.T) {
		gone := make(chan struct{})
		done := exchangeAsync(s.Session(addr1, "c1", time.Time{}, ""), &Invocation{ID: "g1", Timeout: time.Second}, 5*time.Second, 0, gone)
		close(gone)
		x := wait(t, done)
		require.ErrorIs(t, x.err, ErrGone)
		var ee *ExchangeError
		require.ErrorAs(t, x.err, &ee)
		assert.False(t, ee.Delivered)
		assert.Contains(t, x.err.Error(), "exit status 3")
	})

	t.Run("the container exits with the event", func(t *testing.T) {
		gone := make(chan struct{})
		ev := rt.next(t.Context())
		done := exchangeAsync(s.Session(addr1, "c1", time.Time{}, ""), &Invocation{ID: "g2", Timeout: 5 * time.Second}, time.Second, 0, gone)
		assert.Equal(t, "g2", wait(t, ev).id)
		close(gone)
		x := wait(t, done)
		require.ErrorIs(t, x.err, ErrGone)
		var ee *ExchangeError
		require.ErrorAs(t, x.err, &ee)
		assert.True(t, ee.Delivered)
	})
}

func TestResponseTooLarge(t *testing.T) {
	s, srv := start(t, Options{MaxResponse: 10})
	rt := newRuntime(t, srv, "127.0.0.1")
	ev := rt.next(t.Context())
	done := exchangeAsync(s.Session(addr1, "c1", time.Time{}, ""), &Invocation{ID: "big", Timeout: time.Second}, time.Second, time.Second, nil)
	wait(t, ev)
	status, body := rt.post("/invocation/big/response", strings.Repeat("x", 11), nil)
	assert.Equal(t, http.StatusRequestEntityTooLarge, status)
	assert.Contains(t, body, "RequestEntityTooLarge")
	x := wait(t, done)
	require.NoError(t, x.err)
	assert.Equal(t, TooLarge, x.o.Kind)
	assert.Empty(t, x.o.Payload)
}

func TestInitError(t *testing.T) {
	s, srv := start(t, Options{})
	rt := newRuntime(t, srv, "127.0.0.1")
	sess := s.Session(addr1, "c1", time.Time{}, "")
	done := exchangeAsync(sess, &Invocation{ID: "i1", Timeout: time.Second}, 5*time.Second, 0, nil)
	status, _ := rt.post("/init/error", `{"errorType":"Runtime.ImportModuleError","errorMessage":"No module named 'x'"}`,
		map[string]string{HeaderErrorType: "Runtime.ImportModuleError"})
	assert.Equal(t, http.StatusAccepted, status)
	x := wait(t, done)
	require.NoError(t, x.err)
	assert.Equal(t, InitError, x.o.Kind)
	assert.Equal(t, "Runtime.ImportModuleError", x.o.ErrorType)
	assert.Contains(t, string(x.o.Payload), "No module named")

	// The runtime exits after an init error: the next invocation of the
	// same container gets the report at once.
	x = wait(t, exchangeAsync(sess, &Invocation{ID: "i2", Timeout: time.Second}, 5*time.Second, 0, nil))
	require.NoError(t, x.err)
	assert.Equal(t, InitError, x.o.Kind)

	// Another container at the address, started after the report, starts clean.
	x = wait(t, exchangeAsync(s.Session(addr1, "c2", time.Now(), ""), &Invocation{ID: "i3", Timeout: time.Second}, 50*time.Millisecond, 0, nil))
	assert.ErrorIs(t, x.err, ErrNotReady)
}

// A runtime that fails fast reports its init error before the gateway
// binds the session to its container: the report is kept for it.
func TestInitErrorBeforeTheLease(t *testing.T) {
	s, srv := start(t, Options{})
	rt := newRuntime(t, srv, "127.0.0.1")
	leased := time.Now()
	status, _ := rt.post("/init/error", `{"errorType":"Runtime.ImportModuleError","errorMessage":"x"}`, nil)
	require.Equal(t, http.StatusAccepted, status)
	x := wait(t, exchangeAsync(s.Session(addr1, "fresh", leased, ""), &Invocation{ID: "e1", Timeout: time.Second}, 50*time.Millisecond, 0, nil))
	require.NoError(t, x.err)
	assert.Equal(t, InitError, x.o.Kind)
}

func TestSessionsAreTheirAddress(t *testing.T) {
	s, srv := start(t, Options{})
	one, two := newRuntime(t, srv, "127.0.0.1"), newRuntime(t, srv, "127.0.0.2")
	ev1, ev2 := one.next(t.Context()), two.next(t.Context())
	d2 := exchangeAsync(s.Session(addr2, "c2", time.Time{}, ""), &Invocation{ID: "for-two", Timeout: time.Second}, time.Second, time.Second, nil)
	e := wait(t, ev2)
	require.Equal(t, http.StatusOK, e.status, e.body)
	assert.Equal(t, "for-two", e.id)
	select {
	case e := <-ev1:
		t.Fatalf("the other runtime got an event: %+v", e)
	default:
	}
	// One address cannot answer for another.
	status, _ := one.post("/invocation/for-two/response", `1`, nil)
	assert.Equal(t, http.StatusBadRequest, status)
	status, _ = two.post("/invocation/for-two/response", `2`, nil)
	assert.Equal(t, http.StatusAccepted, status)
	assert.Equal(t, []byte(`2`), wait(t, d2).o.Payload)
}

func TestNewerPollTakesOver(t *testing.T) {
	s, srv := start(t, Options{})
	old := newRuntime(t, srv, "127.0.0.1")
	stale := old.next(t.Context())
	time.Sleep(50 * time.Millisecond) // the stale poll is waiting
	fresh := newRuntime(t, srv, "127.0.0.1").next(t.Context())

	e := wait(t, stale)
	assert.Equal(t, http.StatusGone, e.status, "the older poll must give way: %+v", e)
	done := exchangeAsync(s.Session(addr1, "c1", time.Time{}, ""), &Invocation{ID: "n1", Timeout: time.Second}, time.Second, time.Second, nil)
	assert.Equal(t, "n1", wait(t, fresh).id)
	old.post("/invocation/n1/response", `"ok"`, nil)
	assert.Equal(t, []byte(`"ok"`), wait(t, done).o.Payload)
}

// TestPythonClient runs ESB's real Python runtime client against the
// server: the client the python3.13 image starts.
func TestPythonClient(t *testing.T) {
	py, err := exec.LookPath("python3")
	require.NoError(t, err, "python3 runs the image's client")
	s := New(Options{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := &httptest.Server{Listener: ln, Config: &http.Server{Handler: s.Handler()}}
	srv.Start()
	t.Cleanup(srv.Close)

	dir, err := filepath.Abs("../../runtime/python")
	require.NoError(t, err)
	// A file, not a buffer: the process writes it directly, and the test
	// reads it while the process runs.
	outFile, err := os.Create(filepath.Join(t.TempDir(), "output"))
	require.NoError(t, err)
	defer outFile.Close()
	output := func() string { b, _ := os.ReadFile(outFile.Name()); return string(b) }
	cmd := exec.CommandContext(t.Context(), py, "-u", filepath.Join(dir, "bootstrap.py"), "app.count")
	cmd.Dir = filepath.Join(dir, "tests/fixtures/task")
	cmd.Env = []string{
		"PATH=" + os.Getenv("PATH"),
		"AWS_LAMBDA_RUNTIME_API=" + ln.Addr().String() + "/py-secret",
		"LAMBDA_TASK_ROOT=" + cmd.Dir,
		"ESB_RUNTIME_OPT_DIR=" + filepath.Join(dir, "tests/fixtures/opt"),
		"AWS_LAMBDA_FUNCTION_NAME=fn",
		"PYTHONDONTWRITEBYTECODE=1",
	}
	cmd.Stdout, cmd.Stderr = outFile, outFile
	require.NoError(t, cmd.Start())
	gone := make(chan struct{})
	go func() { _ = cmd.Wait(); close(gone) }()
	t.Cleanup(func() { _ = cmd.Process.Kill(); <-gone })

	sess := s.Session(addr1, "py", time.Time{}, "py-secret")
	var pid any
	for n := 1; n <= 3; n++ {
		o, err := sess.Exchange(&Invocation{ID: fmt.Sprint("py-", n), Payload: []byte(`{}`), Timeout: 5 * time.Second},
			time.Now().Add(10*time.Second), time.Second, gone, nil)
		require.NoError(t, err, output())
		require.Equal(t, Response, o.Kind, "%s\n%s", o.Payload, output())
		var got map[string]any
		require.NoError(t, json.Unmarshal(o.Payload, &got), string(o.Payload))
		assert.EqualValues(t, n, got["invocations"], "warm invocations share the process")
		if pid == nil {
			pid = got["pid"]
		}
		assert.Equal(t, pid, got["pid"])
	}

	// The process dies: the exchange ends with the exit.
	require.NoError(t, cmd.Process.Kill())
	_, err = sess.Exchange(&Invocation{ID: "after", Timeout: time.Second}, time.Now().Add(5*time.Second), 0, gone, nil)
	assert.True(t, errors.Is(err, ErrGone) || errors.Is(err, ErrNotReady), "%v", err)
}

// A call that does not carry the secret of the container leased at its
// address is refused, whoever sends it and whenever: the address alone
// (which a runtime might share with a dead container, or forge with raw
// sockets it should not have) takes and answers nothing.
func TestSecret(t *testing.T) {
	const victim, thief = "victim-secret", "thief-secret"
	tests := []struct {
		name string
		run  func(t *testing.T, s *Server, srv *httptest.Server)
	}{
		{name: "a poll without the secret is refused while the container has an event; the holder gets it", run: func(t *testing.T, s *Server, srv *httptest.Server) {
			done := exchangeAsync(s.Session(addr1, "c1", time.Time{}, victim), &Invocation{ID: "v1", Payload: []byte(`"v"`), Timeout: time.Second}, 5*time.Second, time.Second, nil)
			require.Eventually(t, func() bool { return pending(s, addr1) }, 5*time.Second, 5*time.Millisecond)
			for _, secret := range []string{"", thief} {
				e := wait(t, newRuntimeWithSecret(t, srv, "127.0.0.1", secret).next(t.Context()))
				assert.Equal(t, http.StatusForbidden, e.status, "secret %q: %+v", secret, e)
			}
			rt := newRuntimeWithSecret(t, srv, "127.0.0.1", victim)
			e := wait(t, rt.next(t.Context()))
			require.Equal(t, http.StatusOK, e.status, e.body)
			assert.Equal(t, "v1", e.id)
			// Answering it needs the secret too.
			for _, secret := range []string{"", thief} {
				status, _ := newRuntimeWithSecret(t, srv, "127.0.0.1", secret).post("/invocation/v1/response", `"stolen"`, nil)
				assert.Equal(t, http.StatusForbidden, status, "secret %q", secret)
				status, _ = newRuntimeWithSecret(t, srv, "127.0.0.1", secret).post("/invocation/v1/error", `{}`, nil)
				assert.Equal(t, http.StatusForbidden, status, "secret %q", secret)
			}
			status, _ := rt.post("/invocation/v1/response", `"real"`, nil)
			assert.Equal(t, http.StatusAccepted, status)
			assert.Equal(t, []byte(`"real"`), wait(t, done).o.Payload)
		}},
		{name: "polls before the lease wait for it; only the one with its secret gets the event", run: func(t *testing.T, s *Server, srv *httptest.Server) {
			wrong := newRuntimeWithSecret(t, srv, "127.0.0.1", thief).next(t.Context())
			right := newRuntimeWithSecret(t, srv, "127.0.0.1", victim).next(t.Context())
			time.Sleep(50 * time.Millisecond) // both polls wait
			done := exchangeAsync(s.Session(addr1, "c1", time.Time{}, victim), &Invocation{ID: "v2", Timeout: time.Second}, 5*time.Second, time.Second, nil)
			e := wait(t, right)
			require.Equal(t, http.StatusOK, e.status, e.body)
			assert.Equal(t, "v2", e.id)
			e = wait(t, wrong)
			assert.Equal(t, http.StatusForbidden, e.status, "%+v", e)
			status, _ := newRuntimeWithSecret(t, srv, "127.0.0.1", victim).post("/invocation/v2/response", `1`, nil)
			assert.Equal(t, http.StatusAccepted, status)
			assert.Equal(t, []byte(`1`), wait(t, done).o.Payload)
		}},
		{name: "a poll from the right address with its own secret is its own, and cannot answer another's event", run: func(t *testing.T, s *Server, srv *httptest.Server) {
			done := exchangeAsync(s.Session(addr1, "c1", time.Time{}, victim), &Invocation{ID: "v3", Timeout: time.Second}, 5*time.Second, time.Second, nil)
			e := wait(t, newRuntimeWithSecret(t, srv, "127.0.0.1", victim).next(t.Context()))
			require.Equal(t, "v3", e.id)
			// The thief at its own address, with its own lease and secret.
			s.Session(addr2, "c2", time.Time{}, thief)
			status, _ := newRuntimeWithSecret(t, srv, "127.0.0.2", thief).post("/invocation/v3/response", `"stolen"`, nil)
			assert.Equal(t, http.StatusBadRequest, status, "not in progress in the thief's session")
			status, _ = newRuntimeWithSecret(t, srv, "127.0.0.2", victim).post("/invocation/v3/response", `"stolen"`, nil)
			assert.Equal(t, http.StatusForbidden, status, "the victim's secret from another address")
			status, _ = newRuntimeWithSecret(t, srv, "127.0.0.1", victim).post("/invocation/v3/response", `"real"`, nil)
			assert.Equal(t, http.StatusAccepted, status)
			assert.Equal(t, []byte(`"real"`), wait(t, done).o.Payload)
		}},
		{name: "an init error with another secret does not fail the lease", run: func(t *testing.T, s *Server, srv *httptest.Server) {
			status, _ := newRuntimeWithSecret(t, srv, "127.0.0.1", thief).post("/init/error", `{"errorType":"Runtime.Forged"}`, nil)
			require.Equal(t, http.StatusAccepted, status)
			x := wait(t, exchangeAsync(s.Session(addr1, "c1", time.Time{}, victim), &Invocation{ID: "v4", Timeout: time.Second}, 50*time.Millisecond, 0, nil))
			assert.ErrorIs(t, x.err, ErrNotReady, "the forged report must not stand for the container")
			status, _ = newRuntimeWithSecret(t, srv, "127.0.0.1", victim).post("/init/error", `{"errorType":"Runtime.ImportModuleError"}`, nil)
			require.Equal(t, http.StatusAccepted, status)
			x = wait(t, exchangeAsync(s.Session(addr1, "c1", time.Time{}, victim), &Invocation{ID: "v5", Timeout: time.Second}, time.Second, 0, nil))
			require.NoError(t, x.err)
			assert.Equal(t, InitError, x.o.Kind)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, srv := start(t, Options{})
			tt.run(t, s, srv)
		})
	}
}

// pending reports whether the session at addr has an event on offer.
func pending(s *Server, addr netip.Addr) bool {
	sess := s.session(addr)
	sess.mu.Lock()
	defer sess.mu.Unlock()
	return sess.pending != nil
}
