package lambdainvoke

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/esb-dev/esb/internal/agentapi"
	"github.com/esb-dev/esb/services/gateway/fakeagent"
	"github.com/esb-dev/esb/services/gateway/runtimeapi"
)

// answer is what a fake runtime does with one event.
type answer struct {
	path   string // "response", "error" or "" (take the event, answer nothing)
	body   string
	header map[string]string
}

// fakeRuntime is a function's runtime client at its own loopback address,
// talking to the gateway's Runtime API.
type fakeRuntime struct {
	base   string
	hc     *http.Client
	events chan http.Header // headers of each event taken
	stop   func()           // the runtime process dies
}

// runtimeAPI is the gateway's Runtime API under test, counting the open
// connections of each runtime address.
type runtimeAPI struct {
	*httptest.Server
	mu    sync.Mutex
	conns map[string]int // by remote IP
}

func (a *runtimeAPI) connState(c net.Conn, st http.ConnState) {
	ip, _, _ := net.SplitHostPort(c.RemoteAddr().String())
	a.mu.Lock()
	defer a.mu.Unlock()
	switch st {
	case http.StateNew:
		a.conns[ip]++
	case http.StateClosed, http.StateHijacked:
		a.conns[ip]--
	}
}

func (a *runtimeAPI) open(ip string) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.conns[ip]
}

func startRuntime(t *testing.T, api *runtimeAPI, ip string, handle func(event []byte) answer) *fakeRuntime {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
	tr := &http.Transport{DialContext: d.DialContext}
	rt := &fakeRuntime{base: api.URL + "/2018-06-01/runtime", hc: &http.Client{Transport: tr}, events: make(chan http.Header, 16)}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		for ctx.Err() == nil {
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, rt.base+"/invocation/next", nil)
			resp, err := rt.hc.Do(req)
			if err != nil {
				return
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				return
			}
			rt.events <- resp.Header
			a := handle(body)
			if a.path == "" {
				<-ctx.Done()
				return
			}
			id := resp.Header.Get(runtimeapi.HeaderRequestID)
			post, _ := http.NewRequestWithContext(ctx, http.MethodPost, rt.base+"/invocation/"+id+"/"+a.path, bytes.NewBufferString(a.body))
			for k, v := range a.header {
				post.Header.Set(k, v)
			}
			if resp, err := rt.hc.Do(post); err == nil {
				resp.Body.Close()
			}
		}
	})
	// A process that died has no connection left, on either end: the
	// server must have seen each one close, or a poll it has not yet
	// noticed to be dead could still take an event.
	rt.stop = func() {
		cancel()
		wg.Wait()
		tr.CloseIdleConnections()
		require.Eventually(t, func() bool { return api.open(ip) == 0 }, 5*time.Second, time.Millisecond,
			"the Runtime API still holds a connection of the stopped runtime %s", ip)
	}
	t.Cleanup(rt.stop)
	return rt
}

// sessionSetup is a Runtime API server, a fake agent whose leases point at
// 127.0.0.2, .3, ... in turn, and an invoker over both.
func sessionSetup(t *testing.T, opts Options) (*Invoker, *fakeagent.Agent, *runtimeAPI) {
	srv := runtimeapi.New(runtimeapi.Options{MaxResponse: opts.MaxResponse})
	api := &runtimeAPI{Server: httptest.NewUnstartedServer(srv.Handler()), conns: map[string]int{}}
	api.Config.ConnState = api.connState
	api.Start()
	t.Cleanup(api.Close)
	var n atomic.Int64
	agent := fakeagent.New(t, func(agentapi.FunctionSpec) string {
		return fmt.Sprintf("http://127.0.0.%d:8080", n.Add(1)+1)
	})
	opts.Runtimes = srv
	return New(agent.Client(), opts), agent, api
}

func echoEvent(event []byte) answer { return answer{path: "response", body: string(event)} }

func TestSessionInvoke(t *testing.T) {
	inv, agent, api := sessionSetup(t, Options{})
	running(t, inv)
	rt := startRuntime(t, api, "127.0.0.2", echoEvent)

	for i := range 3 {
		res, err := inv.Invoke(t.Context(), Request{Function: spec("F", 0), Payload: fmt.Appendf(nil, `{"n":%d}`, i),
			RequestID: fmt.Sprint("r-", i), TraceID: "Root=1-abc", FunctionARN: "arn:aws:lambda:us-east-1:123456789012:function:F"})
		require.NoError(t, err)
		assert.Equal(t, fmt.Sprintf(`{"n":%d}`, i), string(res.Payload))
		assert.Empty(t, res.FunctionError)
		h := <-rt.events
		assert.Equal(t, fmt.Sprint("r-", i), h.Get(runtimeapi.HeaderRequestID))
		assert.Equal(t, "Root=1-abc", h.Get(runtimeapi.HeaderTraceID))
		assert.Equal(t, "arn:aws:lambda:us-east-1:123456789012:function:F", h.Get(runtimeapi.HeaderFunctionARN))
	}
	assert.Len(t, agent.Acquires(), 1, "warm invocations reuse the held lease")
}

func TestSessionOutcomes(t *testing.T) {
	tests := []struct {
		name        string
		answer      answer
		wantErr     error
		wantFnErr   string
		wantPayload string
		wantDiscard bool
	}{
		{
			name:        "function error",
			answer:      answer{path: "error", body: `{"errorType":"ValueError","errorMessage":"no"}`, header: map[string]string{runtimeapi.HeaderErrorType: "ValueError"}},
			wantFnErr:   FunctionErrorUnhandled,
			wantPayload: `{"errorType":"ValueError","errorMessage":"no"}`,
		},
		{
			name:        "a result shaped like an error is a result",
			answer:      answer{path: "response", body: `{"errorType":"x","errorMessage":"y"}`},
			wantPayload: `{"errorType":"x","errorMessage":"y"}`,
		},
		{
			name:        "runtime error discards the container",
			answer:      answer{path: "error", body: `{"errorType":"Runtime.ExitError","errorMessage":"exit"}`},
			wantFnErr:   FunctionErrorUnhandled,
			wantPayload: `{"errorType":"Runtime.ExitError","errorMessage":"exit"}`,
			wantDiscard: true,
		},
		{
			name:    "too large: the container stays",
			answer:  answer{path: "response", body: `"0123456789012345678901234567890123456789"`},
			wantErr: ErrResponseTooLarge,
		},
		{
			name:        "no answer: timeout, discarded",
			answer:      answer{},
			wantErr:     ErrTimeout,
			wantDiscard: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inv, agent, api := sessionSetup(t, Options{HoldIdle: -1, MaxResponse: 40,
				Deadline: func(agentapi.FunctionSpec) time.Duration { return 100 * time.Millisecond }, TimeoutGrace: 10 * time.Millisecond})
			startRuntime(t, api, "127.0.0.2", func([]byte) answer { return tt.answer })
			res, err := inv.Invoke(t.Context(), Request{Function: spec("F", 0), Payload: []byte(`{}`), RequestID: "r"})
			if tt.wantErr != nil {
				require.ErrorIs(t, err, tt.wantErr)
			} else {
				require.NoError(t, err)
			}
			assert.Equal(t, tt.wantFnErr, res.FunctionError)
			assert.Equal(t, tt.wantPayload, string(res.Payload))
			rel := <-agent.Releases()
			assert.Equal(t, tt.wantDiscard, rel.Discard, rel.Reason)
		})
	}
}

func TestSessionCrash(t *testing.T) {
	inv, agent, api := sessionSetup(t, Options{HoldIdle: -1})
	took := make(chan struct{})
	startRuntime(t, api, "127.0.0.2", func([]byte) answer { close(took); return answer{} })
	done := make(chan error, 1)
	go func() {
		_, err := inv.Invoke(t.Context(), Request{Function: spec("F", 0), Payload: []byte(`{}`), RequestID: "r"})
		done <- err
	}()
	<-took
	agent.Exit("lease-1", "Traceback (most recent call last):", "SystemExit: 3")
	select {
	case err := <-done:
		require.ErrorIs(t, err, ErrCrashed)
		assert.ErrorContains(t, err, "SystemExit: 3", "the crash report quotes the container's last lines")
	case <-time.After(5 * time.Second):
		t.Fatal("the crash went unnoticed")
	}
	rel := <-agent.Releases()
	assert.True(t, rel.Discard)
	assert.Len(t, agent.Acquires(), 1, "an event the runtime took is not run twice")
}

// A held container that exits while the gateway holds it never sees the
// next event: it goes to a fresh container.
func TestSessionHeldContainerGone(t *testing.T) {
	inv, agent, api := sessionSetup(t, Options{})
	running(t, inv)
	first := startRuntime(t, api, "127.0.0.2", echoEvent)
	_, err := inv.Invoke(t.Context(), Request{Function: spec("F", 0), Payload: []byte(`1`)})
	require.NoError(t, err)
	first.stop()
	agent.Exit("lease-1")

	startRuntime(t, api, "127.0.0.3", echoEvent)
	res, err := inv.Invoke(t.Context(), Request{Function: spec("F", 0), Payload: []byte(`2`)})
	require.NoError(t, err)
	assert.Equal(t, "2", string(res.Payload))
	assert.Equal(t, "F-2", res.Container)
	rel := <-agent.Releases()
	assert.Equal(t, "lease-1", rel.LeaseID)
	assert.True(t, rel.Discard)
}

func TestSessionInit(t *testing.T) {
	t.Run("init error", func(t *testing.T) {
		inv, agent, api := sessionSetup(t, Options{HoldIdle: -1})
		req, _ := http.NewRequest(http.MethodPost, api.URL+"/2018-06-01/runtime/init/error", bytes.NewBufferString(`{"errorType":"Runtime.ImportModuleError","errorMessage":"No module named 'app'"}`))
		d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.2")}}
		hc := &http.Client{Transport: &http.Transport{DialContext: d.DialContext}}
		done := make(chan Result, 1)
		go func() {
			res, err := inv.Invoke(t.Context(), Request{Function: spec("F", 0), Payload: []byte(`{}`)})
			assert.NoError(t, err)
			done <- res
		}()
		<-agent.Acquires()
		resp, err := hc.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		res := <-done
		assert.Equal(t, FunctionErrorUnhandled, res.FunctionError)
		assert.Contains(t, string(res.Payload), "Runtime.ImportModuleError")
		assert.True(t, (<-agent.Releases()).Discard)
	})

	t.Run("the runtime never asks", func(t *testing.T) {
		inv, agent, _ := sessionSetup(t, Options{HoldIdle: -1, InitTimeout: 50 * time.Millisecond,
			Deadline: func(agentapi.FunctionSpec) time.Duration { return 30 * time.Millisecond }})
		_, err := inv.Invoke(t.Context(), Request{Function: spec("F", 0), Payload: []byte(`{}`)})
		require.ErrorIs(t, err, ErrTimeout)
		assert.ErrorContains(t, err, "did not ask for an event within 80ms", "init time plus the function's timeout")
		assert.True(t, (<-agent.Releases()).Discard)
	})
}

// logLines collects what an Invoker writes into function log streams.
type logLines struct {
	mu    sync.Mutex
	lines []string
	times []time.Time
}

func (l *logLines) add(spec agentapi.FunctionSpec, container string, at time.Time, line string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, spec.Name+" "+container+" "+line)
	l.times = append(l.times, at)
}

func TestSessionFunctionLog(t *testing.T) {
	var got logLines
	inv, agent, api := sessionSetup(t, Options{HoldIdle: -1, FunctionLog: got.add,
		Deadline: func(agentapi.FunctionSpec) time.Duration { return 200 * time.Millisecond }, TimeoutGrace: 10 * time.Millisecond})
	agent.PeakBytes.Store(41<<20 + 1) // rounds up, as Lambda's MB
	startRuntime(t, api, "127.0.0.2", echoEvent)
	s := spec("F", 0)
	s.Function.MemorySize = 256
	_, err := inv.Invoke(t.Context(), Request{Function: s, Payload: []byte(`1`), RequestID: "req-a"})
	require.NoError(t, err)

	startRuntime(t, api, "127.0.0.3", func([]byte) answer { return answer{} }) // takes the event, never answers
	_, err = inv.Invoke(t.Context(), Request{Function: s, Payload: []byte(`2`), RequestID: "req-b"})
	require.ErrorIs(t, err, ErrTimeout)

	// REPORT lines follow once the agent told the peak memory.
	require.Eventually(t, func() bool {
		got.mu.Lock()
		defer got.mu.Unlock()
		return len(got.lines) == 7
	}, 5*time.Second, 5*time.Millisecond)
	got.mu.Lock()
	defer got.mu.Unlock()
	var a, b []string
	var aTimes []time.Time
	for i, l := range got.lines {
		if strings.Contains(l, "req-a") {
			a = append(a, l)
			aTimes = append(aTimes, got.times[i])
		} else {
			b = append(b, l)
		}
	}
	// The log store orders a stream by time: each line's time is after the
	// one before it (REPORT after END, though both are written at the end).
	require.Len(t, aTimes, 3)
	assert.True(t, aTimes[1].After(aTimes[0]), "END after START")
	assert.True(t, aTimes[2].After(aTimes[1]), "REPORT after END")
	require.Len(t, a, 3, "%q", got.lines)
	assert.Equal(t, "F F-1 START RequestId: req-a Version: $LATEST", a[0])
	assert.Equal(t, "F F-1 END RequestId: req-a", a[1])
	assert.Regexp(t, `^F F-1 REPORT RequestId: req-a\tDuration: \d+\.\d\d ms\tBilled Duration: \d+ ms\tMemory Size: 256 MB\tMax Memory Used: 42 MB\tInit Duration: \d+\.\d\d ms$`, a[2],
		"the first invocation of a fresh container reports its init")
	require.Len(t, b, 4, "%q", got.lines)
	assert.Equal(t, "F F-2 START RequestId: req-b Version: $LATEST", b[0])
	assert.Regexp(t, `^F F-2 \d{4}-\d\d-\d\dT[\d:.]+Z req-b Task timed out after 0\.20 seconds$`, b[1])
	assert.Equal(t, "F F-2 END RequestId: req-b", b[2])
	assert.Regexp(t, `^F F-2 REPORT RequestId: req-b\t.*\tMax Memory Used: 42 MB$`, b[3], "a warm container reports no init")
}

func TestReportLine(t *testing.T) {
	tests := []struct {
		name string
		r    report
		want string
	}{
		{name: "what is known", r: report{id: "r1", duration: 1500 * time.Microsecond, memoryMB: 128},
			want: "REPORT RequestId: r1\tDuration: 1.50 ms\tBilled Duration: 2 ms\tMemory Size: 128 MB"},
		{name: "peak memory in MB, rounded up", r: report{id: "r1", duration: time.Millisecond, memoryMB: 128, maxBytes: 1},
			want: "REPORT RequestId: r1\tDuration: 1.00 ms\tBilled Duration: 1 ms\tMemory Size: 128 MB\tMax Memory Used: 1 MB"},
		{name: "cold start", r: report{id: "r1", duration: time.Millisecond, memoryMB: 128, maxBytes: 30 << 20, init: 250250 * time.Microsecond},
			want: "REPORT RequestId: r1\tDuration: 1.00 ms\tBilled Duration: 1 ms\tMemory Size: 128 MB\tMax Memory Used: 30 MB\tInit Duration: 250.25 ms"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, tt.r.String())
		})
	}
}

// An init that runs past InitTimeout is not a failure while the function's
// timeout lasts: Lambda runs such an init again inside the invocation.
func TestSessionSlowInit(t *testing.T) {
	inv, agent, api := sessionSetup(t, Options{HoldIdle: -1, InitTimeout: 50 * time.Millisecond,
		Deadline: func(agentapi.FunctionSpec) time.Duration { return 2 * time.Second }})
	done := make(chan error, 1)
	go func() {
		_, err := inv.Invoke(t.Context(), Request{Function: spec("F", 0), Payload: []byte(`1`)})
		done <- err
	}()
	<-agent.Acquires()
	time.Sleep(200 * time.Millisecond) // four times InitTimeout
	startRuntime(t, api, "127.0.0.2", echoEvent)
	require.NoError(t, <-done)
}

// bootingStarts grants cold leases at once, each at its own loopback
// address, whose runtimes begin to poll the Runtime API only after boot:
// a container the agent handed over but whose runtime still starts.
type bootingStarts struct {
	t        *testing.T
	api      *runtimeAPI
	boot     time.Duration
	n        atomic.Int64
	booting  atomic.Int64
	maxBoots atomic.Int64
}

func (b *bootingStarts) Acquire(context.Context, agentapi.FunctionSpec) (agentapi.Lease, error) {
	n := b.n.Add(1)
	ip := fmt.Sprintf("127.0.1.%d", n)
	cur := b.booting.Add(1)
	for m := b.maxBoots.Load(); cur > m && !b.maxBoots.CompareAndSwap(m, cur); m = b.maxBoots.Load() {
	}
	go func() {
		time.Sleep(b.boot)
		b.booting.Add(-1)
		startRuntime(b.t, b.api, ip, echoEvent)
	}()
	return agentapi.Lease{ID: fmt.Sprint(n), Endpoint: "http://" + ip + ":8080", Container: fmt.Sprint("c", n), Cold: true}, nil
}

func (b *bootingStarts) Release(context.Context, string, agentapi.ReleaseRequest) error { return nil }

// A runtime that still boots is part of its container's start: the start
// bounds count it until it asks for its first event. When they let it go
// at the agent's grant, a burst booted a runtime per waiting request at
// once, more than the node could init within the init timeout.
func TestStartBoundsCoverTheRuntimesBoot(t *testing.T) {
	srv := runtimeapi.New(runtimeapi.Options{})
	api := &runtimeAPI{Server: httptest.NewUnstartedServer(srv.Handler()), conns: map[string]int{}}
	api.Config.ConnState = api.connState
	api.Start()
	t.Cleanup(api.Close)
	leaser := &bootingStarts{t: t, api: api, boot: 200 * time.Millisecond}
	inv := New(leaser, Options{Runtimes: srv, StartsPerFunction: 2, StartsPerNode: 8})
	running(t, inv)

	var wg sync.WaitGroup
	for range 12 {
		wg.Go(func() {
			res, err := inv.Invoke(t.Context(), Request{Function: spec("F", 0), Payload: []byte(`{"a":1}`)})
			assert.NoError(t, err)
			assert.JSONEq(t, `{"a":1}`, string(res.Payload))
		})
	}
	wg.Wait()
	assert.LessOrEqual(t, leaser.maxBoots.Load(), int64(2), "runtimes booting at once, within the per-function start bound")
	assert.GreaterOrEqual(t, leaser.n.Load(), int64(2), "containers started")
	t.Logf("%d containers, at most %d booting at once", leaser.n.Load(), leaser.maxBoots.Load())
}
