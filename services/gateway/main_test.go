package main

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/esb-dev/esb/internal/agentapi"
	"github.com/esb-dev/esb/internal/awsid"
	"github.com/esb-dev/esb/internal/runtimeconfig"
	"github.com/esb-dev/esb/services/gateway/fakeagent"
	"github.com/esb-dev/esb/services/gateway/lambdainvoke"
	"github.com/esb-dev/esb/services/gateway/logwait"
)

// testRootKey is the env's root key of the gateways these tests run.
var testRootKey = awsid.Key{AccessKeyID: "esb", SecretAccessKey: "esb-local-secret"}

func TestConfigFromEnv(t *testing.T) {
	perFunction, perNode := lambdainvoke.DefaultStartBounds(runtime.NumCPU())
	tests := []struct {
		name    string
		env     map[string]string
		check   func(t *testing.T, c config)
		wantErr []string
	}{
		{
			name: "defaults",
			env:  map[string]string{"AWS_ACCESS_KEY_ID": "esb", "AWS_SECRET_ACCESS_KEY": "s"},
			check: func(t *testing.T, c config) {
				assert.Equal(t, config{
					ConfigDir: "/app/runtime-config", SeedDir: "/app/seed-config", ReloadInterval: time.Second,
					AgentURL: "http://agent:9000", Listen: ":8080", Region: "us-east-1", AccountID: "123456789012",
					MaxQueueWait: 10 * time.Second, BodyReadTimeout: 30 * time.Second, AccountConcurrency: 1000,
					StartsPerFunction: perFunction, StartsPerNode: perNode,
					RootKey: awsid.Key{AccessKeyID: "esb", SecretAccessKey: "s"},
					TLS:     tlsConfig{Dir: "/app/runtime-config/tls"},
				}, c)
			},
		},
		{name: "no root key", env: map[string]string{"AWS_ACCESS_KEY_ID": "esb"},
			wantErr: []string{"AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY: the env's root key is required"}},
		{
			name: "everything set",
			env: map[string]string{
				"CONFIG_DIR": "/c", "SEED_DIR": "/s", "CONFIG_RELOAD_INTERVAL": "750ms", "AGENT_URL": "http://a:1",
				"LOGS_URL": "http://logs:9428", "LISTEN": ":9", "ESB_ENV": "prod", "AWS_REGION": "eu-west-1",
				"ACCOUNT_ID": "000000000000", "MAX_QUEUE_WAIT": "2.5", "RUNTIME_API_LISTEN": ":9001",
				"BODY_READ_TIMEOUT": "5s", "AWS_ACCESS_KEY_ID": "k", "AWS_SECRET_ACCESS_KEY": "s", "ACCOUNT_CONCURRENCY": "50",
				"CONTAINER_STARTS_PER_FUNCTION": "6", "CONTAINER_STARTS_PER_NODE": "12",
				"HTTP_LISTEN": ":8081", "TLS_LISTEN": ":8443", "TLS_DIR": "/t",
				"TLS_CERT_FILE": "/op.crt", "TLS_KEY_FILE": "/op.key", "TLS_HOSTNAMES": "esb.lan, 10.0.0.5",
			},
			check: func(t *testing.T, c config) {
				assert.Equal(t, config{
					ConfigDir: "/c", SeedDir: "/s", ReloadInterval: 750 * time.Millisecond, AgentURL: "http://a:1",
					LogsURL: "http://logs:9428", Listen: ":9", Env: "prod", Region: "eu-west-1", AccountID: "000000000000",
					MaxQueueWait: 2500 * time.Millisecond, RuntimeAPIListen: ":9001", BodyReadTimeout: 5 * time.Second,
					AccountConcurrency: 50, StartsPerFunction: 6, StartsPerNode: 12,
					RootKey:    awsid.Key{AccessKeyID: "k", SecretAccessKey: "s"},
					HTTPListen: ":8081", TLS: tlsConfig{Listen: ":8443", Dir: "/t", CertFile: "/op.crt", KeyFile: "/op.key", Hostnames: []string{"esb.lan", "10.0.0.5"}},
				}, c)
			},
		},
		{name: "plain HTTP off: no public HTTP listener", env: map[string]string{"GATEWAY_HTTP": "OFF", "HTTP_LISTEN": ":8081", "TLS_LISTEN": ":8443", "AWS_ACCESS_KEY_ID": "k", "AWS_SECRET_ACCESS_KEY": "s"}, check: func(t *testing.T, c config) {
			assert.Empty(t, c.HTTPListen)
			assert.Equal(t, ":8443", c.TLS.Listen)
			assert.Equal(t, ":8080", c.Listen, "the internal listener stays")
		}},
		{name: "plain HTTP off without HTTPS", env: map[string]string{"GATEWAY_HTTP": "off", "AWS_ACCESS_KEY_ID": "k", "AWS_SECRET_ACCESS_KEY": "s"}, wantErr: []string{"GATEWAY_HTTP=off needs TLS_LISTEN"}},
		{name: "plain HTTP neither on nor off", env: map[string]string{"GATEWAY_HTTP": "no", "TLS_LISTEN": "8443", "AWS_ACCESS_KEY_ID": "k", "AWS_SECRET_ACCESS_KEY": "s"},
			wantErr: []string{`GATEWAY_HTTP: want on or off, got "no"`, `TLS_LISTEN: want [host]:port`}},
		{name: "interval in plain seconds", env: map[string]string{"CONFIG_RELOAD_INTERVAL": "0.5", "AWS_ACCESS_KEY_ID": "k", "AWS_SECRET_ACCESS_KEY": "s"}, check: func(t *testing.T, c config) {
			assert.Equal(t, 500*time.Millisecond, c.ReloadInterval)
		}},
		{name: "interval below the minimum", env: map[string]string{"CONFIG_RELOAD_INTERVAL": "100ms"},
			wantErr: []string{"CONFIG_RELOAD_INTERVAL: 100ms is below the minimum of 500ms"}},
		{name: "interval unreadable", env: map[string]string{"CONFIG_RELOAD_INTERVAL": "soon"},
			wantErr: []string{`CONFIG_RELOAD_INTERVAL: "soon" is neither a duration`}},
		{name: "start bounds", env: map[string]string{"CONTAINER_STARTS_PER_FUNCTION": "9", "CONTAINER_STARTS_PER_NODE": "8", "AWS_ACCESS_KEY_ID": "k", "AWS_SECRET_ACCESS_KEY": "s"},
			wantErr: []string{"CONTAINER_STARTS_PER_FUNCTION: 9 is above CONTAINER_STARTS_PER_NODE (8)"}},
		{name: "start bounds unreadable", env: map[string]string{"CONTAINER_STARTS_PER_FUNCTION": "many", "CONTAINER_STARTS_PER_NODE": "0", "AWS_ACCESS_KEY_ID": "k", "AWS_SECRET_ACCESS_KEY": "s"},
			wantErr: []string{`CONTAINER_STARTS_PER_FUNCTION: want a positive number, got "many"`, `CONTAINER_STARTS_PER_NODE: want a positive number, got "0"`}},
		{name: "all problems at once", env: map[string]string{"MAX_QUEUE_WAIT": "0s", "BODY_READ_TIMEOUT": "-1s", "AGENT_URL": "agent:9000", "LOGS_URL": "ftp://x", "ACCOUNT_ID": "12", "RUNTIME_API_LISTEN": "9001", "ACCOUNT_CONCURRENCY": "0"},
			wantErr: []string{"ACCOUNT_CONCURRENCY: want a positive number", "MAX_QUEUE_WAIT: must be positive", "BODY_READ_TIMEOUT: must be positive", "AGENT_URL:", "LOGS_URL:", "ACCOUNT_ID: want 12 digits", `RUNTIME_API_LISTEN: want [host]:port, such as :9001, got "9001"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := configFromEnv(func(k string) string { return tt.env[k] })
			if len(tt.wantErr) > 0 {
				require.Error(t, err)
				for _, w := range tt.wantErr {
					assert.Contains(t, err.Error(), w)
				}
				return
			}
			require.NoError(t, err)
			tt.check(t, c)
		})
	}
}

// TestRunBoundsRequests checks the public listener's bounds: API Gateway's
// 10,240 bytes of request head, and a body that stops arriving is cut off
// after BODY_READ_TIMEOUT instead of holding its connection.
func TestRunBoundsRequests(t *testing.T) {
	agent := fakeagent.New(t, func(agentapi.FunctionSpec) string { return "" })
	rec, log := logwait.New()
	cfg := config{
		ConfigDir: filepath.Join(t.TempDir(), "config"), SeedDir: "seed-config", ReloadInterval: time.Second, AgentURL: agent.Server.URL,
		Listen: "127.0.0.1:0", Env: "test", Region: "us-east-1", AccountID: "123456789012", MaxQueueWait: time.Second,
		BodyReadTimeout: 300 * time.Millisecond, RootKey: testRootKey,
	}
	runUntilCleanup(t, cfg, log)
	addr := rec.Wait(t, "gateway listening", 1).Attrs["addr"].(string)

	head := func(size int) int {
		t.Helper()
		req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, "http://"+addr+"/health", nil)
		require.NoError(t, err)
		// The request line and the other headers take about 100 bytes.
		req.Header.Set("X-Pad", strings.Repeat("a", size))
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		_ = resp.Body.Close()
		return resp.StatusCode
	}
	assert.Equal(t, http.StatusOK, head(9*1024), "a head under 10,240 bytes")
	assert.Equal(t, http.StatusRequestHeaderFieldsTooLarge, head(10240))

	conn, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer conn.Close()
	_, err = io.WriteString(conn, "POST /2015-03-31/functions/F/invocations HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{")
	require.NoError(t, err)
	start := time.Now()
	require.NoError(t, conn.SetReadDeadline(time.Now().Add(10*time.Second)))
	_, err = io.ReadAll(conn) // the server closes the connection, perhaps after an error answer
	require.NoError(t, err, "the server must end the connection itself")
	assert.Less(t, time.Since(start), 5*time.Second)
}

// TestRunServesAndHotReloads runs the gateway's own wiring (run) on a temp
// CONFIG_DIR, deploys into it the way `esb deploy` does (MergeInto), and
// checks that the new route is served without a restart, that a malformed
// file leaves it serving, and that cancelling ctx drains and returns.
func TestRunServesAndHotReloads(t *testing.T) {
	fn := fakeagent.Function(t, func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		_, _ = io.WriteString(w, `{"statusCode":200,"body":"hello from A"}`)
	})
	agent := fakeagent.New(t, func(agentapi.FunctionSpec) string { return fn.URL })
	dir := filepath.Join(t.TempDir(), "config") // not there yet: the seed init creates it
	rec, log := logwait.New()
	cfg := config{
		ConfigDir: dir, SeedDir: "seed-config", ReloadInterval: time.Second, AgentURL: agent.Server.URL,
		Listen: "127.0.0.1:0", Env: "test", Region: "us-east-1", AccountID: "123456789012", MaxQueueWait: time.Second,
		RootKey: testRootKey, AdminListen: "127.0.0.1:0",
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- run(ctx, cfg, log) }()

	rec.Wait(t, runtimeconfig.NoConfigWarning, 1)
	listening := rec.Wait(t, "gateway listening", 1)
	addr, adminAddr := listening.Attrs["addr"].(string), listening.Attrs["admin"].(string)
	get := func(path string) (int, string) {
		host := addr
		if path == "/metrics" {
			host = adminAddr
		}
		req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, "http://"+host+path, nil)
		require.NoError(t, err)
		if path == "/health" { // signed by the root key: the details
			sum := sha256.Sum256(nil)
			require.NoError(t, v4.NewSigner().SignHTTP(t.Context(), aws.Credentials{AccessKeyID: testRootKey.AccessKeyID, SecretAccessKey: testRootKey.SecretAccessKey},
				req, hex.EncodeToString(sum[:]), "lambda", "us-east-1", time.Now()))
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return resp.StatusCode, string(body)
	}
	status, body := get("/health")
	assert.Equal(t, 200, status)
	assert.JSONEq(t, `{"status":"ok","generation":1,"functions":0,"routes":0,"warm_leases":0}`, body)
	assert.EqualValues(t, 1, (<-agent.Desired()).Generation)
	for _, name := range runtimeconfig.FileNames {
		assert.FileExists(t, filepath.Join(dir, name), "seeded")
	}

	deploy := runtimeconfig.Empty()
	deploy.Functions.Functions["A"] = runtimeconfig.Function{Image: "img/a"}
	deploy.Routing.Routes = []runtimeconfig.Route{{Path: "/hello", Method: "GET", Function: "A", Payload: "1.0"}}
	_, err := runtimeconfig.MergeInto(t.Context(), dir, deploy, runtimeconfig.MergeOptions{})
	require.NoError(t, err)
	rec.Wait(t, "runtime config live", 2)
	status, body = get("/hello")
	assert.Equal(t, 200, status)
	assert.Equal(t, "hello from A", body)
	desired := <-agent.Desired()
	assert.EqualValues(t, 2, desired.Generation)
	require.Len(t, desired.Functions, 1)
	assert.Equal(t, "A", desired.Functions[0].Name)

	bad := filepath.Join(dir, "routing.yml.tmp")
	require.NoError(t, os.WriteFile(bad, []byte("routes:\n  - {path: /x, method: FETCH, function: A, payload: \"1.0\"}\n"), 0o644))
	require.NoError(t, os.Rename(bad, filepath.Join(dir, runtimeconfig.RoutingFileName)))
	rejected := rec.Wait(t, "runtime config rejected; keeping the previous config", 1)
	assert.Contains(t, rejected.Attrs["problems"], `routing.yml:2:16: routes[0].method: unsupported method "FETCH"`)
	status, _ = get("/hello")
	assert.Equal(t, 200, status, "the previous config stays live")
	_, body = get("/health")
	// The container of /hello is held for the next call: run() runs the
	// invoker's lease holding.
	assert.JSONEq(t, `{"status":"ok","generation":2,"functions":1,"routes":1,"warm_leases":1}`, body)
	// The admin listener counted all of it.
	status, body = get("/metrics")
	assert.Equal(t, 200, status)
	for _, want := range []string{"esb_config_generation 2", "esb_config_reload_failures_total 1", `esb_invocations_total{function="A"} 2`,
		`esb_cold_starts_total{function="A"} 1`, `esb_warm_containers{function="A"} 1`, "esb_agent_up 0"} {
		assert.Contains(t, body, want+"\n")
	}

	cancel()
	assert.NoError(t, <-done)
	select {
	case rel := <-agent.Releases():
		assert.False(t, rel.Discard, "a held lease goes back warm when the gateway stops")
	default:
		t.Error("the held lease was not returned when the gateway stopped")
	}
}

// TestRunServesTheRuntimeAPI runs the gateway with RUNTIME_API_LISTEN set:
// a runtime polling the Runtime API from its container's address (here
// loopback, the lease's endpoint) gets the event of a request to its route,
// and its answer is the response.
func TestRunServesTheRuntimeAPI(t *testing.T) {
	agent := fakeagent.New(t, func(agentapi.FunctionSpec) string { return "http://127.0.0.1:8080" })
	dir := filepath.Join(t.TempDir(), "config")
	rec, log := logwait.New()
	cfg := config{
		ConfigDir: dir, SeedDir: "seed-config", ReloadInterval: time.Second, AgentURL: agent.Server.URL,
		Listen: "127.0.0.1:0", Env: "test", Region: "us-east-1", AccountID: "123456789012", MaxQueueWait: time.Second,
		RuntimeAPIListen: "127.0.0.1:0",
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- run(ctx, cfg, log) }()
	listening := rec.Wait(t, "gateway listening", 1)
	addr, api := listening.Attrs["addr"].(string), listening.Attrs["runtime_api"].(string)
	require.NotEmpty(t, api)

	deploy := runtimeconfig.Empty()
	deploy.Functions.Functions["A"] = runtimeconfig.Function{Image: "img/a"}
	deploy.Routing.Routes = []runtimeconfig.Route{{Path: "/hello", Method: "GET", Function: "A", Payload: "2.0"}}
	_, err := runtimeconfig.MergeInto(t.Context(), dir, deploy, runtimeconfig.MergeOptions{})
	require.NoError(t, err)
	rec.Wait(t, "runtime config live", 2)

	// The runtime: one event, one answer.
	runtimeDone := make(chan string, 1)
	go func() {
		resp, err := http.Get("http://" + api + "/2018-06-01/runtime/invocation/next")
		if err != nil {
			runtimeDone <- err.Error()
			return
		}
		event, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		id := resp.Header.Get("Lambda-Runtime-Aws-Request-Id")
		answer := `{"statusCode":200,"body":"hello from the runtime"}`
		post, err := http.Post("http://"+api+"/2018-06-01/runtime/invocation/"+id+"/response", "application/json", strings.NewReader(answer))
		if err == nil {
			post.Body.Close()
		}
		runtimeDone <- string(event)
	}()
	resp, err := http.Get("http://" + addr + "/hello")
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "hello from the runtime", string(body))
	assert.Contains(t, <-runtimeDone, `"rawPath":"/hello"`)

	cancel()
	assert.NoError(t, <-done)
}

// TestRunServesHTTPS checks the listeners share one handler chain: the
// internal, the public HTTP and the HTTPS listener answer alike, HTTPS
// with a certificate a client verifies with the env CA the gateway
// created in CONFIG_DIR/tls, TLS 1.2 at least.
func TestRunServesHTTPS(t *testing.T) {
	agent := fakeagent.New(t, func(agentapi.FunctionSpec) string { return "" })
	rec, log := logwait.New()
	dir := filepath.Join(t.TempDir(), "config")
	cfg := config{
		ConfigDir: dir, SeedDir: "seed-config", ReloadInterval: time.Second, AgentURL: agent.Server.URL,
		Listen: "127.0.0.1:0", HTTPListen: "127.0.0.1:0", Env: "test", Region: "us-east-1", AccountID: "123456789012",
		MaxQueueWait: time.Second, BodyReadTimeout: time.Second,
		TLS: tlsConfig{Listen: "127.0.0.1:0", Dir: filepath.Join(dir, "tls")},
	}
	runUntilCleanup(t, cfg, log)
	rec2 := rec.Wait(t, "gateway listening", 1)
	public := rec2.Attrs["public"].([]string)
	require.Len(t, public, 2)

	caPEM, err := os.ReadFile(filepath.Join(dir, "tls", "ca.crt"))
	require.NoError(t, err)
	pool := x509.NewCertPool()
	require.True(t, pool.AppendCertsFromPEM(caPEM))
	verified := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	get := func(c *http.Client, url string) (int, string) {
		t.Helper()
		req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
		require.NoError(t, err)
		resp, err := c.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return resp.StatusCode, string(body)
	}
	wantStatus, wantBody := get(http.DefaultClient, "http://"+rec2.Attrs["addr"].(string)+"/health")
	require.Equal(t, http.StatusOK, wantStatus)
	status, body := get(http.DefaultClient, "http://"+public[0]+"/health")
	assert.Equal(t, wantStatus, status)
	assert.Equal(t, wantBody, body)
	_, port, err := net.SplitHostPort(public[1])
	require.NoError(t, err)
	status, body = get(verified, "https://localhost:"+port+"/health")
	assert.Equal(t, wantStatus, status)
	assert.Equal(t, wantBody, body)

	old := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MaxVersion: tls.VersionTLS11}}}
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, "https://localhost:"+port+"/health", nil)
	require.NoError(t, err)
	_, err = old.Do(req)
	assert.Error(t, err, "TLS 1.1 is refused")
}

// runUntilCleanup runs the gateway until the test ends, then checks it
// stopped cleanly.
func runUntilCleanup(t *testing.T, cfg config, log *slog.Logger) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- run(ctx, cfg, log) }()
	t.Cleanup(func() {
		cancel()
		require.NoError(t, <-done)
	})
}
