package httpapi

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/stretchr/testify/require"

	"github.com/esb-dev/esb/internal/agentapi"
	"github.com/esb-dev/esb/internal/awsid"
	"github.com/esb-dev/esb/internal/runtimeconfig"
	"github.com/esb-dev/esb/services/gateway/configwatch"
	"github.com/esb-dev/esb/services/gateway/fakeagent"
	"github.com/esb-dev/esb/services/gateway/generation"
	"github.com/esb-dev/esb/services/gateway/lambdainvoke"
	"github.com/esb-dev/esb/services/gateway/logwait"
	"github.com/esb-dev/esb/services/gateway/sigv4"
)

// harness is the whole gateway stack in one process: the real generation
// manager, invoker and HTTP server, with fakes only at the seams (the
// agent over HTTP, function containers over HTTP).
type harness struct {
	agent *fakeagent.Agent
	gens  *generation.Manager
	srv   *Server
	http  *httptest.Server
	log   *logwait.Recorder
	// container serves every function's RIE endpoint, at /fn/<name>/<tag>.
	container *httptest.Server

	mu  sync.Mutex
	fns map[string]http.HandlerFunc // function name -> what its container answers
}

type harnessOptions struct {
	invoker lambdainvoke.Options
	hold    bool // run the invoker's lease holding, as the gateway does
	server  Options
}

func newHarness(t testing.TB, functionsYML, routingYML string, opts harnessOptions) *harness {
	t.Helper()
	h := &harness{fns: make(map[string]http.HandlerFunc)}
	// One container server for all functions: it dispatches on the path
	// prefix the fake agent puts in each lease's endpoint, /fn/<name>/<tag>,
	// where tag is the spec's TAG environment variable: the container a
	// spec started from knows which spec that was.
	container := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		parts := strings.SplitN(strings.TrimPrefix(r.URL.Path, "/fn/"), "/", 3)
		if len(parts) != 3 || "/"+parts[2] != agentapi.Invocations {
			http.NotFound(w, r)
			return
		}
		name := parts[0]
		r.Header.Set("X-Test-Tag", parts[1])
		h.mu.Lock()
		fn := h.fns[name]
		h.mu.Unlock()
		if fn == nil {
			fn = echoEventV1
		}
		fn(w, r)
	}))
	t.Cleanup(container.Close)
	h.agent = fakeagent.New(t, func(spec agentapi.FunctionSpec) string {
		tag := spec.Function.Environment["TAG"]
		if tag == "" {
			tag = "-"
		}
		return container.URL + "/fn/" + spec.Name + "/" + tag
	})

	rec, log := logwait.New()
	h.log = rec
	ctx, cancel := context.WithCancel(t.Context())
	h.gens = generation.New(ctx, generation.Options{Logger: log})
	h.apply(t, functionsYML, routingYML)
	h.container = container

	if opts.invoker.Logger == nil {
		opts.invoker.Logger = log
	}
	inv := lambdainvoke.New(h.agent.Client(), opts.invoker)
	if opts.hold {
		holding := make(chan struct{})
		t.Cleanup(func() { <-holding }) // runs last: the held leases went back
		go func() {
			defer close(holding)
			_ = inv.Run(ctx)
		}()
	}
	if opts.server.Logger == nil {
		opts.server.Logger = log
	}
	opts.server.Env = "test"
	if opts.server.Verifier == nil {
		opts.server.Verifier = sigv4.New(sigv4.NewKeyring(testRootKey, h.gens), "us-east-1", sigv4.Options{})
	}
	h.srv = New(ctx, h.gens, inv, opts.server)
	h.http = httptest.NewServer(h.srv.Handler())
	t.Cleanup(func() {
		h.http.Close()
		waitCtx, stop := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer stop()
		require.NoError(t, h.srv.Wait(waitCtx))
		cancel()
	})
	return h
}

// apply publishes a new generation from YAML.
func (h *harness) apply(t testing.TB, functionsYML, routingYML string) *generation.Generation {
	t.Helper()
	g, err := h.tryApply(functionsYML, routingYML)
	require.NoError(t, err)
	return g
}

// tryApply is apply for goroutines other than the test's, which must not
// stop the test themselves.
func (h *harness) tryApply(functionsYML, routingYML string) (*generation.Generation, error) {
	cfg, err := runtimeconfig.Decode(runtimeconfig.Files{Functions: []byte(functionsYML), Routing: []byte(routingYML)})
	if err != nil {
		return nil, err
	}
	return h.gens.Apply(configwatch.Snapshot{Config: cfg})
}

// function sets what a function's container answers.
func (h *harness) function(name string, fn http.HandlerFunc) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.fns[name] = fn
}

// do sends a request to the gateway and returns the answer with its body read.
func (h *harness) do(t *testing.T, method, path string, body io.Reader, header http.Header) (*http.Response, string) {
	t.Helper()
	resp, data, err := h.tryDo(t.Context(), method, path, body, header)
	require.NoError(t, err)
	return resp, data
}

// testRootKey is the env's root key in the harness; aws-sdk-go-v2 clients
// of the tests sign with it.
var testRootKey = awsid.Key{AccessKeyID: "AKIDEXAMPLE", SecretAccessKey: "secret"}

// unsignedHeader asks tryDo not to sign an Invoke API request.
const unsignedHeader = "X-Test-Unsigned"

// tryDo is do for goroutines other than the test's. Invoke API and
// /health requests are signed with testRootKey, as an AWS SDK signs them, unless header
// has unsignedHeader.
func (h *harness) tryDo(ctx context.Context, method, path string, body io.Reader, header http.Header) (*http.Response, string, error) {
	var payload []byte
	if body != nil {
		var err error
		if payload, err = io.ReadAll(body); err != nil {
			return nil, "", err
		}
	}
	req, err := http.NewRequestWithContext(ctx, method, h.http.URL+path, bytes.NewReader(payload))
	if err != nil {
		return nil, "", err
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	if (strings.HasPrefix(path, "/2015-03-31/") || path == "/health") && req.Header.Get(unsignedHeader) == "" {
		if err := signRequest(ctx, req, testRootKey, sigv4.ServiceLambda, payload); err != nil {
			return nil, "", err
		}
	}
	req.Header.Del(unsignedHeader)
	resp, err := h.http.Client().Do(req)
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	return resp, string(data), err
}

// signRequest signs req as aws-sdk-go-v2 does.
func signRequest(ctx context.Context, req *http.Request, key awsid.Key, service string, payload []byte) error {
	sum := sha256.Sum256(payload)
	return v4.NewSigner().SignHTTP(ctx, aws.Credentials{AccessKeyID: key.AccessKeyID, SecretAccessKey: key.SecretAccessKey},
		req, hex.EncodeToString(sum[:]), service, "us-east-1", time.Now())
}

// echoEventV1 answers with a 1.0 proxy response whose body is the event it
// got, so a test can look at what the function saw.
func echoEventV1(w http.ResponseWriter, r *http.Request) {
	event, _ := io.ReadAll(r.Body)
	resp, _ := json.Marshal(map[string]any{
		"statusCode": 200,
		"headers":    map[string]string{"Content-Type": "application/json", "X-Fn": "echo"},
		"body":       string(event),
	})
	_, _ = w.Write(resp)
}

// answer returns a container handler that reads the event and answers body.
func answer(status int, header map[string]string, body string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.ReadAll(r.Body)
		for k, v := range header {
			w.Header().Set(k, v)
		}
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}
}

// gate is a function that holds every invocation until the test opens it.
type gate struct {
	entered chan []byte
	open    chan struct{}
	reply   string
}

func newGate(reply string) *gate {
	return &gate{entered: make(chan []byte, 64), open: make(chan struct{}), reply: reply}
}

func (g *gate) handler(w http.ResponseWriter, r *http.Request) {
	event, _ := io.ReadAll(r.Body)
	g.entered <- event
	select {
	case <-g.open:
	case <-r.Context().Done():
		return
	}
	_, _ = io.WriteString(w, g.reply)
}

const functionsYML = `
functions:
  Hello: {image: img/hello}
  Items: {image: img/items}
  Slow: {image: img/slow, timeout: 1}
  Limited: {image: img/limited, scaling: {max_concurrency: 1}}
`

const routingYML = `
routes:
  - {path: /hello, method: GET, function: Hello, payload: "1.0"}
  - {path: "/items/{id}", method: ANY, function: Items, payload: "2.0"}
  - {path: /slow, method: GET, function: Slow, payload: "1.0"}
  - {path: /limited, method: GET, function: Limited, payload: "1.0"}
`
