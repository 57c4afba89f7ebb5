//go:build e2e

package main

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/build"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/client"
	"github.com/docker/docker/pkg/jsonmessage"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/esb-dev/esb/internal/awsid"

	"github.com/esb-dev/esb/internal/agentapi"
	"github.com/esb-dev/esb/internal/runtimeconfig"
	"github.com/esb-dev/esb/services/agent/cgroupmem"
	"github.com/esb-dev/esb/services/agent/dockerruntime"
	"github.com/esb-dev/esb/services/agent/launcher"
)

const (
	waitFor = 60 * time.Second
	tick    = 50 * time.Millisecond
)

// world is what every e2e case shares: a Docker client, a network and two
// versions of a function image built in the test.
type world struct {
	docker  *client.Client
	network string
	repo    string
	ids     map[string]string // version -> image ID
	suffix  string
}

// TestAgentDocker drives the real agent (run from main.go) against the
// local Docker engine.
func TestAgentDocker(t *testing.T) {
	w := newWorld(t)
	t.Run("acquire, warm reuse, discard, logs", w.testLeases)
	t.Run("redeploy retires the old digest", w.testRedeploy)
	t.Run("reaper and min_warm", w.testReaper)
	t.Run("restart adopts running and removes exited", w.testRestart)
	t.Run("a graceful stop removes the env's containers", w.testStopDrains)
	t.Run("crashing function answers StartTimeout with its output", w.testCrash)
}

func newWorld(t *testing.T) *world {
	docker, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	require.NoError(t, err)
	t.Cleanup(func() { docker.Close() })
	_, err = docker.Ping(t.Context())
	require.NoError(t, err, "docker must run (scripts/setup.sh starts it)")

	suffix := strings.ToLower(rand.Text()[:8]) // parallel runs never share names
	w := &world{docker: docker, repo: "esb-agent-e2e-" + suffix + "/fn", ids: map[string]string{}, suffix: suffix}

	bin := filepath.Join(t.TempDir(), "fn")
	cmd := exec.CommandContext(t.Context(), "go", "build", "-o", bin, "./testdata/fnserver")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "build fnserver: %s", out)
	for _, v := range []string{"v1", "v2"} {
		w.ids[v] = w.buildImage(t, bin, v)
	}

	w.network = "esb-agent-e2e-" + suffix
	_, err = docker.NetworkCreate(t.Context(), w.network, network.CreateOptions{Driver: "bridge"})
	require.NoError(t, err)
	t.Cleanup(func() {
		assert.NoError(t, docker.NetworkRemove(context.WithoutCancel(t.Context()), w.network))
	})
	return w
}

// buildImage builds FROM debian:bookworm-slim with the binary as
// entrypoint and a default CMD, like a Lambda image whose CMD is the
// handler.
func (w *world) buildImage(t *testing.T, bin, version string) string {
	dockerfile := "FROM debian:bookworm-slim\nCOPY fn /usr/local/bin/fn\nENV FN_VERSION=" + version +
		"\nENTRYPOINT [\"/usr/local/bin/fn\"]\nCMD [\"image.default\"]\n"
	binData, err := os.ReadFile(bin)
	require.NoError(t, err)
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range []struct {
		name string
		mode int64
		data []byte
	}{{"Dockerfile", 0o644, []byte(dockerfile)}, {"fn", 0o755, binData}} {
		require.NoError(t, tw.WriteHeader(&tar.Header{Name: f.name, Mode: f.mode, Size: int64(len(f.data))}))
		_, err := tw.Write(f.data)
		require.NoError(t, err)
	}
	require.NoError(t, tw.Close())

	tag := w.repo + ":" + version
	resp, err := w.docker.ImageBuild(t.Context(), &buf, build.ImageBuildOptions{
		Tags: []string{tag}, Remove: true, ForceRemove: true, Version: build.BuilderV1,
	})
	require.NoError(t, err)
	defer resp.Body.Close()
	require.NoError(t, jsonmessage.DisplayJSONMessagesStream(resp.Body, io.Discard, 0, false, nil), "build %s", tag)
	t.Cleanup(func() {
		_, err := w.docker.ImageRemove(context.WithoutCancel(t.Context()), tag, image.RemoveOptions{Force: true, PruneChildren: true})
		assert.NoError(t, err)
	})
	img, err := w.docker.ImageInspect(t.Context(), tag)
	require.NoError(t, err)
	return img.ID
}

// spec is a function of the test image. The digest is the local image ID:
// nothing is pushed, and the agent accepts an image ID as an exact digest.
func (w *world) spec(name, version string) agentapi.FunctionSpec {
	return agentapi.FunctionSpec{Name: name, Function: runtimeconfig.Function{
		Image:       w.repo + ":" + version,
		Digest:      w.ids[version],
		Handler:     "app.handler",
		Timeout:     5,
		MemorySize:  128,
		Environment: map[string]string{"TABLE": "items", "AWS_LAMBDA_FUNCTION_NAME": "spoofed"},
	}}
}

// runningAgent is one agent process, in-process.
type runningAgent struct {
	client *agentapi.Client
	stop   func()
}

type logStore struct {
	mu      sync.Mutex
	entries []map[string]any
}

func (s *logStore) find(match func(map[string]any) bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range s.entries {
		if match(e) {
			return true
		}
	}
	return false
}

// newLogStore is a stand-in VictoriaLogs that keeps what logship posts.
func newLogStore(t *testing.T) (*logStore, string) {
	s := &logStore{}
	srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		sc := bufio.NewScanner(r.Body)
		for sc.Scan() {
			var e map[string]any
			if json.Unmarshal(sc.Bytes(), &e) == nil {
				s.mu.Lock()
				s.entries = append(s.entries, e)
				s.mu.Unlock()
			}
		}
		rw.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(srv.Close)
	return s, srv.URL
}

func (w *world) startAgent(t *testing.T, env, logsURL string) *runningAgent {
	return w.startAgentKeeping(t, env, logsURL, true)
}

// startAgentKeeping starts an agent; keep says whether a stop leaves its
// containers running (the tests' default, so each test controls its own
// cleanup) or removes them as `docker compose down` does.
func (w *world) startAgentKeeping(t *testing.T, env, logsURL string, keep bool) *runningAgent {
	cfg := config{
		KeepOnStop:   keep,
		Brand:        "esb",
		Env:          env,
		Network:      w.network,
		PullPolicy:   launcher.PullIfNotPresent,
		Runtime:      "docker",
		LogsURL:      logsURL,
		StartTimeout: 20 * time.Second,
		ReapInterval: 100 * time.Millisecond,
		Platform: launcher.Platform{
			Region: "us-east-1", KeyRootSecret: "esb-local-secret",
			S3Endpoint: "http://s3-storage:7070", DynamoDBEndpoint: "http://database:8000",
		},
	}
	// Peak memory is read from the host's cgroup files, as the agent's
	// container does through its read-only mount of them.
	cgroups, err := cgroupmem.New("/sys/fs/cgroup")
	require.NoError(t, err)
	rt, err := dockerruntime.New(t.Context(), w.docker, w.network, dockerruntime.Options{Cgroups: cgroups})
	require.NoError(t, err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.WithoutCancel(t.Context()))
	done := make(chan error, 1)
	logger := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	go func() { done <- run(ctx, cfg, rt, ln, logger) }()
	a := &runningAgent{client: &agentapi.Client{BaseURL: "http://" + ln.Addr().String()}}
	var once sync.Once
	a.stop = func() {
		once.Do(func() {
			cancel()
			assert.NoError(t, <-done)
		})
	}
	t.Cleanup(a.stop)
	require.Eventually(t, func() bool {
		_, err := a.client.Health(t.Context())
		return err == nil
	}, waitFor, tick)
	return a
}

// newEnv returns a fresh env name whose containers are removed when the
// test ends, after its agents stopped.
func (w *world) newEnv(t *testing.T, name string) string {
	env := "e2e" + w.suffix + "-" + name
	t.Cleanup(func() {
		ctx := context.WithoutCancel(t.Context())
		list, err := w.docker.ContainerList(ctx, container.ListOptions{All: true, Filters: filters.NewArgs(
			filters.Arg("label", agentapi.LabelEnv+"="+env))})
		if !assert.NoError(t, err) {
			return
		}
		for _, c := range list {
			assert.NoError(t, w.docker.ContainerRemove(ctx, c.ID, container.RemoveOptions{Force: true}))
		}
	})
	return env
}

func (w *world) inspect(t *testing.T, name string) (container.InspectResponse, bool) {
	c, err := w.docker.ContainerInspect(t.Context(), name)
	if cerrdefs.IsNotFound(err) {
		return c, false
	}
	require.NoError(t, err)
	return c, true
}

func (w *world) gone(t *testing.T, name string) {
	t.Helper()
	require.Eventually(t, func() bool {
		_, ok := w.inspect(t, name)
		return !ok
	}, waitFor, tick, "container %s should be removed", name)
}

// envCount is the number of containers of env, in any state.
func (w *world) envCount(t *testing.T, env string) int {
	list, err := w.docker.ContainerList(t.Context(), container.ListOptions{All: true, Filters: filters.NewArgs(
		filters.Arg("label", agentapi.LabelEnv+"="+env))})
	require.NoError(t, err)
	return len(list)
}

type invocation struct {
	Env  map[string]string `json:"env"`
	Args []string          `json:"args"`
}

// invoke calls the container behind a lease from the host, through its IP
// on the bridge network, as the gateway does from the platform network.
func invoke(t *testing.T, l agentapi.Lease) invocation {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, l.Endpoint+agentapi.Invocations, strings.NewReader(`{}`))
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var inv invocation
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&inv))
	return inv
}

func (w *world) testLeases(t *testing.T) {
	env := w.newEnv(t, "leases")
	logs, logsURL := newLogStore(t)
	a := w.startAgent(t, env, logsURL)
	ctx := t.Context()
	spec := w.spec("Hello", "v1")

	cold, err := a.client.Acquire(ctx, spec)
	require.NoError(t, err)
	assert.True(t, cold.Cold)
	assert.Regexp(t, `^esb-`+env+`-fn-Hello-[0-9a-f]{8}$`, cold.Container)

	c, ok := w.inspect(t, cold.Container)
	require.True(t, ok)
	assert.Equal(t, "running", c.State.Status)
	assert.Equal(t, int64(128)<<20, c.HostConfig.Memory)
	assert.Equal(t, []string{"app.handler"}, []string(c.Config.Cmd))
	assert.Equal(t, w.ids["v1"], c.Image, "runs exactly the digest")
	assert.Contains(t, c.NetworkSettings.Networks, w.network)
	assert.Subset(t, c.Config.Labels, map[string]string{
		agentapi.LabelManaged:  "true",
		agentapi.LabelBrand:    "esb",
		agentapi.LabelEnv:      env,
		agentapi.LabelFunction: "Hello",
		agentapi.LabelDigest:   w.ids["v1"],
	})
	assert.NotEmpty(t, c.Config.Labels[agentapi.LabelConfig])

	inv := invoke(t, cold)
	assert.Equal(t, []string{"app.handler"}, inv.Args)

	// REPORT's Max Memory Used: the cgroup's own peak, the counter Docker's
	// stats report on a cgroup v1 host; a peak never falls, so the read
	// after Docker's is at least Docker's. Read where the agent reads it,
	// not through Docker (which the runtime falls back on).
	stats, err := w.docker.ContainerStatsOneShot(ctx, c.ID)
	require.NoError(t, err)
	var st container.StatsResponse
	require.NoError(t, json.NewDecoder(stats.Body).Decode(&st))
	stats.Body.Close()
	mem, err := a.client.Memory(ctx, cold.ID)
	require.NoError(t, err)
	cgroups, err := cgroupmem.New("/sys/fs/cgroup")
	require.NoError(t, err)
	peak, err := cgroups.Peak(c.ID)
	require.NoError(t, err, "the container's memory cgroup is where the agent looks")
	assert.Greater(t, mem.MaxBytes, int64(1<<20), "a Python runtime takes more than 1 MB")
	assert.LessOrEqual(t, mem.MaxBytes, int64(128)<<20, "within the container's 128 MB")
	assert.LessOrEqual(t, mem.MaxBytes, peak)
	if st.MemoryStats.MaxUsage > 0 { // cgroup v1: Docker reports the same counter
		assert.LessOrEqual(t, int64(st.MemoryStats.MaxUsage), mem.MaxBytes)
	}
	// The function holds its own derived key pair, never the env's root secret.
	key := awsid.FunctionKey("esb-local-secret", "Hello")
	assert.Subset(t, inv.Env, map[string]string{
		"AWS_LAMBDA_FUNCTION_NAME":        "Hello",
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128",
		"AWS_LAMBDA_FUNCTION_TIMEOUT":     "5",
		"AWS_LAMBDA_FUNCTION_VERSION":     "$LATEST",
		"AWS_LAMBDA_LOG_GROUP_NAME":       "/aws/lambda/Hello",
		"AWS_REGION":                      "us-east-1",
		"AWS_DEFAULT_REGION":              "us-east-1",
		"AWS_ACCESS_KEY_ID":               key.AccessKeyID,
		"AWS_SECRET_ACCESS_KEY":           key.SecretAccessKey,
		"AWS_ENDPOINT_URL_S3":             "http://s3-storage:7070",
		"AWS_ENDPOINT_URL_DYNAMODB":       "http://database:8000",
		"_HANDLER":                        "app.handler",
		"TABLE":                           "items",
		"FN_VERSION":                      "v1",
	})
	assert.Regexp(t, `^\d{4}/\d{2}/\d{2}/\[\$LATEST\][0-9a-f]{32}$`, inv.Env["AWS_LAMBDA_LOG_STREAM_NAME"])
	for k, v := range inv.Env {
		assert.NotContains(t, v, "esb-local-secret", "%s carries the root secret", k)
	}

	require.NoError(t, a.client.Release(ctx, cold.ID, agentapi.ReleaseRequest{}))
	warm, err := a.client.Acquire(ctx, spec)
	require.NoError(t, err)
	assert.False(t, warm.Cold)
	assert.Equal(t, cold.Container, warm.Container)
	invoke(t, warm)

	h, err := a.client.Health(ctx)
	require.NoError(t, err)
	assert.Equal(t, agentapi.Health{Status: "ok", Runtime: "docker", Containers: 1, Busy: 1, MemoryMB: 128}, h, "one 128 MB container, busy")

	require.NoError(t, a.client.Release(ctx, warm.ID, agentapi.ReleaseRequest{Discard: true, Reason: "test"}))
	w.gone(t, cold.Container)

	for _, want := range []map[string]any{
		{"stream": "stdout", "message": "fnserver listening, handler app.handler"},
		{"stream": "stderr", "message": "fnserver stderr works"},
		{"stream": "stdout", "message": "invoked"},
	} {
		require.Eventually(t, func() bool {
			return logs.find(func(e map[string]any) bool {
				return e["service"] == "function" && e["env"] == env && e["function"] == "Hello" &&
					e["container"] == cold.Container && e["stream"] == want["stream"] && e["message"] == want["message"]
			})
		}, waitFor, tick, "shipped log line %v", want)
	}
}

func (w *world) testRedeploy(t *testing.T) {
	env := w.newEnv(t, "redeploy")
	a := w.startAgent(t, env, "")
	ctx := t.Context()

	idle, err := a.client.Acquire(ctx, w.spec("Hello", "v1"))
	require.NoError(t, err)
	busy, err := a.client.Acquire(ctx, w.spec("Hello", "v1"))
	require.NoError(t, err)
	require.NoError(t, a.client.Release(ctx, idle.ID, agentapi.ReleaseRequest{}))

	require.NoError(t, a.client.SetDesired(ctx, agentapi.Desired{Generation: 2, Functions: []agentapi.FunctionSpec{w.spec("Hello", "v2")}}))
	w.gone(t, idle.Container)
	_, ok := w.inspect(t, busy.Container)
	assert.True(t, ok, "a busy container finishes its invocation")
	invoke(t, busy)

	next, err := a.client.Acquire(ctx, w.spec("Hello", "v2"))
	require.NoError(t, err)
	assert.True(t, next.Cold)
	assert.Equal(t, "v2", invoke(t, next).Env["FN_VERSION"])

	require.NoError(t, a.client.Release(ctx, busy.ID, agentapi.ReleaseRequest{}))
	w.gone(t, busy.Container)
	h, err := a.client.Health(ctx)
	require.NoError(t, err)
	assert.Equal(t, uint64(2), h.Generation)
}

func (w *world) testReaper(t *testing.T) {
	env := w.newEnv(t, "reaper")
	a := w.startAgent(t, env, "")
	ctx := t.Context()

	// A function outside the desired state uses the idle_timeout of the
	// spec it was started from.
	short := w.spec("Short", "v1")
	short.Function.Scaling.IdleTimeout = 1
	l, err := a.client.Acquire(ctx, short)
	require.NoError(t, err)
	require.NoError(t, a.client.Release(ctx, l.ID, agentapi.ReleaseRequest{}))
	w.gone(t, l.Container)

	warm := w.spec("Warm", "v1")
	warm.Function.Scaling = runtimeconfig.Scaling{MinWarm: 1, IdleTimeout: 1}
	require.NoError(t, a.client.SetDesired(ctx, agentapi.Desired{Generation: 1, Functions: []agentapi.FunctionSpec{warm}}))
	require.Eventually(t, func() bool {
		h, err := a.client.Health(ctx)
		return err == nil && h.Containers == 1
	}, waitFor, tick, "min_warm starts one container")
	assert.Equal(t, 1, w.envCount(t, env))

	first, err := a.client.Acquire(ctx, warm)
	require.NoError(t, err)
	assert.False(t, first.Cold, "the min_warm container serves")
	second, err := a.client.Acquire(ctx, warm)
	require.NoError(t, err)
	assert.True(t, second.Cold)
	require.NoError(t, a.client.Release(ctx, first.ID, agentapi.ReleaseRequest{}))
	require.NoError(t, a.client.Release(ctx, second.ID, agentapi.ReleaseRequest{}))

	require.Eventually(t, func() bool { return w.envCount(t, env) == 1 }, waitFor, tick, "the reaper keeps min_warm")
	again, err := a.client.Acquire(ctx, warm)
	require.NoError(t, err)
	assert.False(t, again.Cold)
}

func (w *world) testRestart(t *testing.T) {
	env := w.newEnv(t, "restart")
	first := w.startAgent(t, env, "")
	ctx := t.Context()
	spec := w.spec("Hello", "v1")

	keep, err := first.client.Acquire(ctx, spec)
	require.NoError(t, err)
	stop, err := first.client.Acquire(ctx, spec)
	require.NoError(t, err)
	lingering, err := first.client.Acquire(ctx, spec)
	require.NoError(t, err)
	require.NoError(t, first.client.Release(ctx, keep.ID, agentapi.ReleaseRequest{}))
	require.NoError(t, first.client.Release(ctx, stop.ID, agentapi.ReleaseRequest{}))
	first.stop()

	// With KEEP_CONTAINERS_ON_STOP (or after a crash) the containers stay
	// running, leased or not; one exits meanwhile.
	for _, name := range []string{keep.Container, stop.Container, lingering.Container} {
		c, ok := w.inspect(t, name)
		require.True(t, ok)
		assert.Equal(t, "running", c.State.Status)
	}
	timeout := 0
	require.NoError(t, w.docker.ContainerStop(ctx, stop.Container, container.StopOptions{Timeout: &timeout}))

	second := w.startAgent(t, env, "")
	w.gone(t, stop.Container)
	h, err := second.client.Health(ctx)
	require.NoError(t, err)
	assert.Equal(t, 2, h.Containers, "both running containers adopted")
	assert.Zero(t, h.Busy, "leases are not carried over")

	err = second.client.Release(ctx, lingering.ID, agentapi.ReleaseRequest{})
	assert.True(t, agentapi.IsCode(err, agentapi.CodeUnknownLease), "old lease: %s", err)

	// The gateway may still be using the adopted containers under the
	// first agent's leases (it holds warm leases up to MaxLeaseHold), so
	// for now a request gets a container of its own; the pool's unit
	// tests cover the adopted ones being leased once that time is over.
	l, err := second.client.Acquire(ctx, spec)
	require.NoError(t, err)
	assert.True(t, l.Cold)
	assert.NotContains(t, []string{keep.Container, lingering.Container}, l.Container)
	invoke(t, l)
}

func (w *world) testStopDrains(t *testing.T) {
	env := w.newEnv(t, "drain")
	a := w.startAgentKeeping(t, env, "", false)
	ctx := t.Context()
	idle, err := a.client.Acquire(ctx, w.spec("Hello", "v1"))
	require.NoError(t, err)
	require.NoError(t, a.client.Release(ctx, idle.ID, agentapi.ReleaseRequest{}))
	busy, err := a.client.Acquire(ctx, w.spec("Other", "v1"))
	require.NoError(t, err)
	_, ok := w.inspect(t, idle.Container)
	require.True(t, ok)

	a.stop()
	w.gone(t, idle.Container)
	w.gone(t, busy.Container)
}

func (w *world) testCrash(t *testing.T) {
	env := w.newEnv(t, "crash")
	a := w.startAgent(t, env, "")
	spec := w.spec("Crash", "v1")
	spec.Function.Handler = "crash"
	_, err := a.client.Acquire(t.Context(), spec)
	require.Error(t, err)
	assert.True(t, agentapi.IsCode(err, agentapi.CodeStartTimeout), "got %s", err)
	assert.ErrorContains(t, err, "crashing on purpose")
	require.Eventually(t, func() bool { return w.envCount(t, env) == 0 }, waitFor, tick, "the failed container is removed")
}
