package server

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/esb-dev/esb/internal/agentapi"
	"github.com/esb-dev/esb/internal/runtimeconfig"
	"github.com/esb-dev/esb/services/agent/agentmetrics"
	"github.com/esb-dev/esb/services/agent/engine"
	"github.com/esb-dev/esb/services/agent/engine/enginetest"
	"github.com/esb-dev/esb/services/agent/fnlogs"
	"github.com/esb-dev/esb/services/agent/launcher"
	"github.com/esb-dev/esb/services/agent/pool"
)

type agent struct {
	fake   *enginetest.Fake
	client *agentapi.Client
	url    string
}

// newAgent wires the real launcher, pool and handler over a fake runtime.
func newAgent(t *testing.T, fake *enginetest.Fake) *agent {
	t.Helper()
	return newAgentWith(t, fake, Options{Runtime: fake.Name()})
}

func newAgentWith(t *testing.T, fake *enginetest.Fake, opts Options) *agent {
	t.Helper()
	logs := fnlogs.New(t.Context(), fake, fnlogs.Options{})
	l := launcher.New(fake, launcher.Config{
		Brand:        "esb",
		Env:          "test",
		PullPolicy:   launcher.PullIfNotPresent,
		StartTimeout: 200 * time.Millisecond,
	}, launcher.Options{Dial: fake.Dial, Logs: logs})
	p := pool.New(t.Context(), l, pool.Options{})
	srv := httptest.NewServer(New(p, opts))
	t.Cleanup(func() {
		srv.Close()
		p.Close()
	})
	return &agent{fake: fake, client: &agentapi.Client{BaseURL: srv.URL}, url: srv.URL}
}

func digestOf(s string) string {
	h := sha256.Sum256([]byte(s))
	return "sha256:" + hex.EncodeToString(h[:])
}

func spec(name, version string) agentapi.FunctionSpec {
	return agentapi.FunctionSpec{Name: name, Function: runtimeconfig.Function{
		Image:   "127.0.0.1:5010/esb-test/" + strings.ToLower(name) + ":latest",
		Digest:  digestOf(name + version),
		Handler: "app.handler",
	}}
}

func TestLeaseLifecycle(t *testing.T) {
	a := newAgent(t, enginetest.New())
	ctx := t.Context()

	h, err := a.client.Health(ctx)
	require.NoError(t, err)
	assert.Equal(t, agentapi.Health{Status: "ok", Runtime: "fake"}, h)

	cold, err := a.client.Acquire(ctx, spec("Hello", "1"))
	require.NoError(t, err)
	assert.True(t, cold.Cold)
	assert.NotEmpty(t, cold.ID)
	assert.Regexp(t, `^http://10\.88\.\d+\.\d+:8080$`, cold.Endpoint)
	assert.Regexp(t, `^esb-test-fn-Hello-[0-9a-f]{8}$`, cold.Container)

	h, err = a.client.Health(ctx)
	require.NoError(t, err)
	assert.Equal(t, 1, h.Busy)

	require.NoError(t, a.client.Release(ctx, cold.ID, agentapi.ReleaseRequest{}))
	warm, err := a.client.Acquire(ctx, spec("Hello", "1"))
	require.NoError(t, err)
	assert.False(t, warm.Cold)
	assert.Equal(t, cold.Container, warm.Container)

	require.NoError(t, a.client.Release(ctx, warm.ID, agentapi.ReleaseRequest{Discard: true, Reason: "timeout"}))
	require.Eventually(t, func() bool { return len(a.fake.Removed()) == 1 }, 5*time.Second, time.Millisecond)

	err = a.client.Release(ctx, warm.ID, agentapi.ReleaseRequest{})
	assert.True(t, agentapi.IsCode(err, agentapi.CodeUnknownLease), "second release: %s", err)
}

func TestDesired(t *testing.T) {
	a := newAgent(t, enginetest.New())
	ctx := t.Context()
	l, err := a.client.Acquire(ctx, spec("Hello", "1"))
	require.NoError(t, err)
	require.NoError(t, a.client.Release(ctx, l.ID, agentapi.ReleaseRequest{}))

	require.NoError(t, a.client.SetDesired(ctx, agentapi.Desired{Generation: 4, Functions: []agentapi.FunctionSpec{spec("Hello", "2")}}))
	require.Eventually(t, func() bool { return len(a.fake.Removed()) == 1 }, 5*time.Second, time.Millisecond, "redeploy retires the idle container")
	h, err := a.client.Health(ctx)
	require.NoError(t, err)
	assert.Equal(t, uint64(4), h.Generation)

	next, err := a.client.Acquire(ctx, spec("Hello", "2"))
	require.NoError(t, err)
	assert.True(t, next.Cold)
}

func TestErrors(t *testing.T) {
	tooBig := `{"spec":{"name":"Hello","function":{"image":"x","environment":{"A":"` + strings.Repeat("a", 1<<20) + `"}}}}`
	tests := []struct {
		name       string
		setup      func(f *enginetest.Fake)
		method     string
		path       string
		body       string
		wantStatus int
		wantCode   string
		wantInMsg  string
	}{
		{
			name:       "image pull failure",
			setup:      func(f *enginetest.Fake) { f.PullErr = func(string) error { return assert.AnError } },
			method:     http.MethodPost,
			path:       "/v1/functions/Hello/acquire",
			body:       mustJSON(agentapi.AcquireRequest{Spec: spec("Hello", "1")}),
			wantStatus: http.StatusBadGateway,
			wantCode:   agentapi.CodeImagePullFailed,
		},
		{
			name: "start timeout quotes the container's last lines",
			setup: func(f *enginetest.Fake) {
				f.NotReady = func(engine.Spec) bool { return true }
				f.Output = func(engine.Spec) []string { return []string{"Runtime.ImportModuleError: No module named 'app'"} }
			},
			method:     http.MethodPost,
			path:       "/v1/functions/Hello/acquire",
			body:       mustJSON(agentapi.AcquireRequest{Spec: spec("Hello", "1")}),
			wantStatus: http.StatusGatewayTimeout,
			wantCode:   agentapi.CodeStartTimeout,
			wantInMsg:  "No module named 'app'",
		},
		{
			name: "a hung engine",
			setup: func(f *enginetest.Fake) {
				f.CreateErr = func(engine.Spec) error {
					return fmt.Errorf("create container: %w after 1m0s: %w", engine.ErrEngineTimeout, context.DeadlineExceeded)
				}
			},
			method:     http.MethodPost,
			path:       "/v1/functions/Hello/acquire",
			body:       mustJSON(agentapi.AcquireRequest{Spec: spec("Hello", "1")}),
			wantStatus: http.StatusGatewayTimeout,
			wantCode:   agentapi.CodeEngineTimeout,
			wantInMsg:  "did not answer in time",
		},
		{
			name:       "spec name differs from path",
			method:     http.MethodPost,
			path:       "/v1/functions/Other/acquire",
			body:       mustJSON(agentapi.AcquireRequest{Spec: spec("Hello", "1")}),
			wantStatus: http.StatusBadRequest,
			wantCode:   agentapi.CodeBadRequest,
			wantInMsg:  "does not match",
		},
		{
			name:       "spec without image",
			method:     http.MethodPost,
			path:       "/v1/functions/Hello/acquire",
			body:       `{"spec":{"name":"Hello","function":{}}}`,
			wantStatus: http.StatusBadRequest,
			wantCode:   agentapi.CodeBadRequest,
		},
		{
			name:       "malformed digest",
			method:     http.MethodPost,
			path:       "/v1/functions/Hello/acquire",
			body:       `{"spec":{"name":"Hello","function":{"image":"hello:latest","digest":"sha256:zz"}}}`,
			wantStatus: http.StatusBadRequest,
			wantCode:   agentapi.CodeBadRequest,
		},
		{
			name:       "malformed JSON",
			method:     http.MethodPost,
			path:       "/v1/functions/Hello/acquire",
			body:       `{"spec":`,
			wantStatus: http.StatusBadRequest,
			wantCode:   agentapi.CodeBadRequest,
		},
		{
			name:       "body over 1 MB",
			method:     http.MethodPost,
			path:       "/v1/functions/Hello/acquire",
			body:       tooBig,
			wantStatus: http.StatusRequestEntityTooLarge,
			wantCode:   agentapi.CodeBadRequest,
		},
		{
			name:       "unknown lease",
			method:     http.MethodPost,
			path:       "/v1/leases/nope/release",
			body:       `{}`,
			wantStatus: http.StatusNotFound,
			wantCode:   agentapi.CodeUnknownLease,
		},
		{
			name:       "duplicate function in desired state",
			method:     http.MethodPut,
			path:       "/v1/functions",
			body:       mustJSON(agentapi.Desired{Functions: []agentapi.FunctionSpec{spec("Hello", "1"), spec("Hello", "2")}}),
			wantStatus: http.StatusBadRequest,
			wantCode:   agentapi.CodeBadRequest,
			wantInMsg:  "duplicate",
		},
		{
			name:       "unknown fields are ignored",
			method:     http.MethodPut,
			path:       "/v1/functions",
			body:       `{"generation":1,"functions":[],"future":true}`,
			wantStatus: http.StatusNoContent,
		},
		{
			name:       "no such endpoint",
			method:     http.MethodDelete,
			path:       "/v1/functions",
			wantStatus: http.StatusNotFound,
			wantCode:   agentapi.CodeNotFound,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := enginetest.New()
			if tt.setup != nil {
				tt.setup(fake)
			}
			a := newAgent(t, fake)
			req, err := http.NewRequestWithContext(t.Context(), tt.method, a.url+tt.path, bytes.NewBufferString(tt.body))
			require.NoError(t, err)
			resp, err := http.DefaultClient.Do(req)
			require.NoError(t, err)
			defer resp.Body.Close()
			assert.Equal(t, tt.wantStatus, resp.StatusCode)
			if tt.wantCode == "" {
				return
			}
			assert.Equal(t, "application/json", resp.Header.Get("Content-Type"))
			var e agentapi.Error
			require.NoError(t, json.NewDecoder(resp.Body).Decode(&e))
			assert.Equal(t, tt.wantCode, e.Code)
			assert.Contains(t, e.Message, tt.wantInMsg)
			assert.Empty(t, fake.Running(), "no container outlives a failed acquire")
		})
	}
}

func TestClientSeesCodes(t *testing.T) {
	fake := enginetest.New()
	fake.PullErr = func(string) error { return assert.AnError }
	a := newAgent(t, fake)
	_, err := a.client.Acquire(t.Context(), spec("Hello", "1"))
	assert.True(t, agentapi.IsCode(err, agentapi.CodeImagePullFailed), "got %s", err)
}

func mustJSON(v any) string {
	data, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(data)
}

func TestWaitExit(t *testing.T) {
	fake := enginetest.New()
	fake.Output = func(engine.Spec) []string { return []string{"init done", "crashing on purpose"} }
	a := newAgent(t, fake)
	ctx := t.Context()
	l, err := a.client.Acquire(ctx, spec("Hello", "1"))
	require.NoError(t, err)

	type result struct {
		exit agentapi.Exit
		err  error
	}
	done := make(chan result, 1)
	go func() {
		e, err := a.client.WaitExit(ctx, l.ID)
		done <- result{e, err}
	}()
	select {
	case r := <-done:
		t.Fatalf("answered while the container runs: %+v", r)
	case <-time.After(100 * time.Millisecond):
	}
	running := fake.Running()
	require.Len(t, running, 1)
	fake.Exit(running[0])
	select {
	case r := <-done:
		require.NoError(t, r.err)
		assert.Equal(t, running[0], r.exit.Container)
		assert.Equal(t, []string{"init done", "crashing on purpose"}, r.exit.LastLines)
	case <-time.After(5 * time.Second):
		t.Fatal("no answer after the exit")
	}

	_, err = a.client.WaitExit(ctx, "no-such-lease")
	assert.True(t, agentapi.IsCode(err, agentapi.CodeUnknownLease), "%v", err)
}

// A shutting-down agent ends the exit watches in progress: a graceful
// shutdown waits for running requests, and a healthy container's watch
// would hold it to its deadline.
func TestWaitExitEndsAtShutdown(t *testing.T) {
	fake := enginetest.New()
	logs := fnlogs.New(t.Context(), fake, fnlogs.Options{})
	l := launcher.New(fake, launcher.Config{Brand: "esb", Env: "test", PullPolicy: launcher.PullIfNotPresent, StartTimeout: time.Second},
		launcher.Options{Dial: fake.Dial, Logs: logs})
	p := pool.New(t.Context(), l, pool.Options{})
	polls, endPolls := context.WithCancel(t.Context())
	srv := httptest.NewServer(New(p, Options{Polls: polls}))
	t.Cleanup(func() { srv.Close(); p.Close() })
	client := &agentapi.Client{BaseURL: srv.URL}

	lease, err := client.Acquire(t.Context(), spec("Hello", "1"))
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() {
		_, err := client.WaitExit(t.Context(), lease.ID)
		done <- err
	}()
	time.Sleep(50 * time.Millisecond)
	endPolls()
	select {
	case err := <-done:
		assert.True(t, agentapi.IsCode(err, agentapi.CodeUnavailable), "%v", err)
	case <-time.After(5 * time.Second):
		t.Fatal("the watch outlived the shutdown")
	}
	assert.NotEmpty(t, fake.Running(), "the container runs on")
}

// Health reports the runtime's prepared namespaces as it has them at the
// call (the e2e leak checks account holders and addresses with it).
func TestHealthPrepared(t *testing.T) {
	var prepared atomic.Int64
	prepared.Store(16)
	c := newAgentWith(t, enginetest.New(), Options{Prepared: func() int { return int(prepared.Load()) }}).client

	h, err := c.Health(t.Context())
	require.NoError(t, err)
	assert.Equal(t, 16, h.Prepared)
	prepared.Store(3)
	h, err = c.Health(t.Context())
	require.NoError(t, err)
	assert.Equal(t, 3, h.Prepared)
}

// With a token, every call but health needs it: 401 otherwise, logged.
func TestToken(t *testing.T) {
	fake := enginetest.New()
	l := launcher.New(fake, launcher.Config{Brand: "esb", Env: "test", PullPolicy: launcher.PullIfNotPresent, StartTimeout: time.Second},
		launcher.Options{Dial: fake.Dial})
	p := pool.New(t.Context(), l, pool.Options{})
	var logged strings.Builder
	logger := slog.New(slog.NewTextHandler(&logged, nil))
	srv := httptest.NewServer(New(p, Options{Token: "s3cret", Logger: logger}))
	t.Cleanup(func() { srv.Close(); p.Close() })

	anon := &agentapi.Client{BaseURL: srv.URL}
	_, err := anon.Health(t.Context())
	require.NoError(t, err, "health stays open for the healthcheck")
	_, err = anon.Acquire(t.Context(), spec("Hello", "1"))
	assert.True(t, agentapi.IsCode(err, agentapi.CodeUnauthorized), "%v", err)
	assert.Contains(t, logged.String(), "unauthenticated agent call refused")
	assert.Empty(t, fake.Creates(), "nothing started for an unauthenticated call")

	path := filepath.Join(t.TempDir(), "token")
	require.NoError(t, os.WriteFile(path, []byte("s3cret\n"), 0o644))
	authed := &agentapi.Client{BaseURL: srv.URL, Token: &agentapi.TokenFile{Path: path}}
	_, err = authed.Acquire(t.Context(), spec("Hello", "1"))
	require.NoError(t, err)
}

// GET /v1/metrics serves the agent's metrics behind the token: a start
// shows as a start and a busy container, a discarded lease as a removal.
func TestMetrics(t *testing.T) {
	fake := enginetest.New()
	m := agentmetrics.New()
	l := launcher.New(fake, launcher.Config{Brand: "esb", Env: "test", PullPolicy: launcher.PullIfNotPresent, StartTimeout: time.Second},
		launcher.Options{Dial: fake.Dial, OnPull: m.Pulled})
	p := pool.New(t.Context(), l, pool.Options{Metrics: m})
	m.WatchContainers(p)
	srv := httptest.NewServer(New(p, Options{Token: "s3cret", Metrics: m.Handler()}))
	t.Cleanup(func() { srv.Close(); p.Close() })

	get := func(token string) (int, string) {
		req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.URL+"/v1/metrics", nil)
		require.NoError(t, err)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return resp.StatusCode, string(body)
	}
	status, _ := get("")
	assert.Equal(t, http.StatusUnauthorized, status)

	path := filepath.Join(t.TempDir(), "token")
	require.NoError(t, os.WriteFile(path, []byte("s3cret\n"), 0o644))
	client := &agentapi.Client{BaseURL: srv.URL, Token: &agentapi.TokenFile{Path: path}}
	lease, err := client.Acquire(t.Context(), spec("Hello", "1"))
	require.NoError(t, err)
	status, body := get("s3cret")
	require.Equal(t, http.StatusOK, status)
	assert.Contains(t, body, `esb_agent_container_starts_total{function="Hello",result="ok"} 1`)
	assert.Contains(t, body, `esb_agent_containers{state="busy"} 1`)
	assert.Contains(t, body, `esb_agent_container_start_duration_seconds_count{function="Hello"} 1`)

	require.NoError(t, client.Release(t.Context(), lease.ID, agentapi.ReleaseRequest{Discard: true, Reason: "test"}))
	require.Eventually(t, func() bool {
		_, body := get("s3cret")
		return strings.Contains(body, `esb_agent_container_removals_total{reason="discarded"} 1`) &&
			strings.Contains(body, `esb_agent_containers{state="busy"} 0`)
	}, 5*time.Second, 20*time.Millisecond)
}
