package lambdaimages

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fakeRuntimeAPI is the Lambda Runtime API as a runtime client sees it:
// tests queue invocations, the client under test pulls them with GET
// .../invocation/next and whatever it posts back is recorded. It drives the
// Java and Ruby clients from Go, the way python/tests/fakeapi.py drives
// the Python one.
type fakeRuntimeAPI struct {
	srv     *httptest.Server
	pending chan fakeInvocation
	done    chan struct{}

	mu     sync.Mutex
	posted []posted
	signal chan struct{} // closed and replaced on every post
}

type fakeInvocation struct {
	id      string
	body    string
	headers map[string]string
}

// posted is one POST of the client: kind is "response", "error" or
// "init_error".
type posted struct {
	kind      string
	requestID string
	header    http.Header
	body      []byte
}

func (p posted) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	require.NoError(t, json.Unmarshal(p.body, &m), "posted body %s", p.body)
	return m
}

func newFakeRuntimeAPI(t *testing.T) *fakeRuntimeAPI {
	t.Helper()
	f := &fakeRuntimeAPI{pending: make(chan fakeInvocation, 16), done: make(chan struct{}), signal: make(chan struct{})}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(func() {
		close(f.done)
		// Clients still long-polling hold connections; Close waits for
		// handlers, which return once done is closed.
		f.srv.CloseClientConnections()
		f.srv.Close()
	})
	return f
}

// addr is host:port/prefix, the form AWS_LAMBDA_RUNTIME_API takes on ESB:
// the gateway names each container's session by the path, so a client
// must send every call under it (a call without it is refused here, as
// there).
func (f *fakeRuntimeAPI) addr() string {
	return strings.TrimPrefix(f.srv.URL, "http://") + sessionPrefix
}

const (
	runtimeBase   = "/2018-06-01/runtime"
	sessionPrefix = "/0123456789abcdef0123456789abcdef"
)

func (f *fakeRuntimeAPI) serve(w http.ResponseWriter, r *http.Request) {
	path, ok := strings.CutPrefix(r.URL.Path, sessionPrefix)
	if !ok {
		http.Error(w, "call without the session prefix of AWS_LAMBDA_RUNTIME_API: "+r.URL.Path, http.StatusForbidden)
		return
	}
	r.URL.Path = path
	switch {
	case r.Method == http.MethodGet && r.URL.Path == runtimeBase+"/invocation/next":
		select {
		case inv := <-f.pending:
			for k, v := range inv.headers {
				w.Header().Set(k, v)
			}
			w.Header().Set("Lambda-Runtime-Aws-Request-Id", inv.id)
			w.WriteHeader(http.StatusOK)
			_, _ = io.WriteString(w, inv.body)
		case <-f.done:
			http.Error(w, "closed", http.StatusInternalServerError)
		case <-r.Context().Done():
		}
	case r.Method == http.MethodPost:
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		p := posted{header: r.Header.Clone(), body: body}
		rest := strings.TrimPrefix(r.URL.Path, runtimeBase+"/")
		switch {
		case rest == "init/error":
			p.kind = "init_error"
		case strings.HasPrefix(rest, "invocation/"):
			parts := strings.Split(rest, "/")
			if len(parts) != 3 || (parts[2] != "response" && parts[2] != "error") {
				http.NotFound(w, r)
				return
			}
			id, err := url.PathUnescape(parts[1])
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			p.kind, p.requestID = parts[2], id
		default:
			http.NotFound(w, r)
			return
		}
		f.mu.Lock()
		f.posted = append(f.posted, p)
		close(f.signal)
		f.signal = make(chan struct{})
		f.mu.Unlock()
		w.WriteHeader(http.StatusAccepted)
		_, _ = io.WriteString(w, `{"status":"OK"}`)
	default:
		http.NotFound(w, r)
	}
}

// invoke queues an event with a deadline 30 s away (unless headers set
// one) and returns its request id.
func (f *fakeRuntimeAPI) invoke(body string, headers map[string]string) string {
	h := map[string]string{
		"Lambda-Runtime-Deadline-Ms":          strconv.FormatInt(time.Now().Add(30*time.Second).UnixMilli(), 10),
		"Lambda-Runtime-Invoked-Function-Arn": "arn:aws:lambda:us-east-1:012345678912:function:fn",
		"Content-Type":                        "application/json",
	}
	for k, v := range headers {
		h[k] = v
	}
	id := fmt.Sprintf("req-%d", time.Now().UnixNano())
	if v, ok := headers["Lambda-Runtime-Aws-Request-Id"]; ok {
		id = v
	}
	f.pending <- fakeInvocation{id: id, body: body, headers: h}
	return id
}

// wait returns the first post that matches, waiting up to timeout for it.
func (f *fakeRuntimeAPI) wait(t *testing.T, timeout time.Duration, match func(posted) bool) posted {
	t.Helper()
	deadline := time.After(timeout)
	for {
		f.mu.Lock()
		for _, p := range f.posted {
			if match(p) {
				f.mu.Unlock()
				return p
			}
		}
		signal := f.signal
		f.mu.Unlock()
		select {
		case <-signal:
		case <-deadline:
			f.mu.Lock()
			defer f.mu.Unlock()
			require.FailNow(t, "no matching post", "posted so far: %d", len(f.posted))
			return posted{}
		}
	}
}

// result waits for the response or error of one request.
func (f *fakeRuntimeAPI) result(t *testing.T, id string) posted {
	t.Helper()
	return f.wait(t, 30*time.Second, func(p posted) bool { return p.requestID == id })
}

func (f *fakeRuntimeAPI) initError(t *testing.T) posted {
	t.Helper()
	return f.wait(t, 30*time.Second, func(p posted) bool { return p.kind == "init_error" })
}

// clientProcess is a runtime client under test.
type clientProcess struct {
	cmd    *exec.Cmd
	out    *os.File // stdout and stderr: a file, so reading it races nothing
	exited chan struct{}
	err    error
}

// output is what the process printed so far.
func (p *clientProcess) output() string {
	data, err := os.ReadFile(p.out.Name())
	if err != nil {
		return "read output: " + err.Error()
	}
	return string(data)
}

// startClient starts a runtime client against api with the function
// environment Lambda sets, plus env; it is killed when the test ends.
func startClient(t *testing.T, api *fakeRuntimeAPI, dir string, env map[string]string, argv ...string) *clientProcess {
	t.Helper()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = dir
	cmd.Env = []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + os.Getenv("HOME"),
		"AWS_LAMBDA_RUNTIME_API=" + api.addr(),
		"AWS_LAMBDA_FUNCTION_NAME=fn",
		"AWS_LAMBDA_FUNCTION_VERSION=$LATEST",
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE=256",
		"AWS_LAMBDA_LOG_GROUP_NAME=/aws/lambda/fn",
		"AWS_LAMBDA_LOG_STREAM_NAME=2026/01/01/[$LATEST]abc",
		"LAMBDA_TASK_ROOT=" + dir,
	}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	out, err := os.CreateTemp(t.TempDir(), "client-output")
	require.NoError(t, err)
	p := &clientProcess{cmd: cmd, out: out, exited: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = out, out
	require.NoError(t, cmd.Start())
	go func() {
		p.err = cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-p.exited
		if t.Failed() {
			t.Logf("client output:\n%s", p.output())
		}
		_ = out.Close()
	})
	return p
}

// exitCode waits for the process to end and returns its exit code.
func (p *clientProcess) exitCode(t *testing.T) int {
	t.Helper()
	select {
	case <-p.exited:
	case <-time.After(30 * time.Second):
		require.FailNow(t, "client did not exit", "output:\n%s", p.output())
	}
	if p.err == nil {
		return 0
	}
	exitErr, ok := p.err.(*exec.ExitError)
	require.True(t, ok, "wait: %v", p.err)
	return exitErr.ExitCode()
}

// running reports whether the process is still up.
func (p *clientProcess) running() bool {
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

// checkTraceID asserts that a handler returning the current trace id sees
// each invocation's own, and none after an invocation without one.
func checkTraceID(t *testing.T, api *fakeRuntimeAPI) {
	t.Helper()
	a := api.result(t, api.invoke(`{}`, map[string]string{"Lambda-Runtime-Trace-Id": "Root=1-aaa"}))
	assert.Equal(t, `"Root=1-aaa"`, string(a.body))
	b := api.result(t, api.invoke(`{}`, nil))
	assert.Equal(t, `null`, string(b.body), "an invocation without trace id must not see the previous one")
}

// checkRemaining asserts what a handler measured of its remaining time:
// two readings 50 ms apart, and the clock at the second, against the
// deadline the invocation carried (5 s away).
func checkRemaining(t *testing.T, deadline int64, first, second, nowMs any) {
	t.Helper()
	f, s, now := first.(float64), second.(float64), nowMs.(float64)
	assert.LessOrEqual(t, f, 5000.0)
	assert.Positive(t, f)
	assert.GreaterOrEqual(t, f-s, 40.0, "remaining time goes down while the handler runs")
	// The clock was read after the second reading, so deadline - now can
	// only be smaller than it (by however long a loaded machine took in
	// between); a reading not derived from the deadline would not be.
	assert.GreaterOrEqual(t, s, float64(deadline)-now-50, "remaining = deadline - now, read before now")
	assert.LessOrEqual(t, s, float64(deadline)-now+5000, "remaining = deadline - now")
}
