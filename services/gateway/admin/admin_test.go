package admin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/esb-dev/esb/internal/adminapi"
	"github.com/esb-dev/esb/internal/agentapi"
	"github.com/esb-dev/esb/internal/confighistory"
	"github.com/esb-dev/esb/internal/runtimeconfig"
	"github.com/esb-dev/esb/services/gateway/configwatch"
	"github.com/esb-dev/esb/services/gateway/generation"
	"github.com/esb-dev/esb/services/gateway/lambdainvoke"
	"github.com/esb-dev/esb/services/gateway/metrics"
)

const functionsYML = `
functions:
  Hello: {image: "reg/hello:t", digest: "sha256:0123456789abcdef0123", runtime: python3.13, memory_size: 256}
  Items: {image: "reg/items:t", runtime: nodejs22.x}
`

const routingYML = `
routes:
  - {path: /hello, method: GET, function: Hello, payload: "1.0", stage: Prod}
  - {path: "/items/{id}", method: PUT, function: Items, payload: "1.0", stage: Prod}
`

type fakeAgent struct {
	metrics string
	err     error
}

func (a fakeAgent) Metrics(context.Context) ([]byte, error) { return []byte(a.metrics), a.err }
func (a fakeAgent) Health(context.Context) (agentapi.Health, error) {
	return agentapi.Health{Runtime: "docker", Containers: 3, Busy: 1, MemoryMB: 384, IdleByFunction: map[string]int{"Hello": 1}}, a.err
}

type fixedLoad []lambdainvoke.FunctionLoad

func (f fixedLoad) Load() []lambdainvoke.FunctionLoad { return f }

type env struct {
	srv     *httptest.Server
	m       *metrics.Metrics
	history *History
	gens    *generation.Manager
}

func newEnv(t *testing.T, agent Agent, logsURL string) *env {
	t.Helper()
	load := fixedLoad{{Name: "Hello", Busy: 1, Warm: 2}}
	e := &env{m: metrics.New(load), history: &History{}}
	e.gens = generation.New(t.Context(), generation.Options{OnLive: func(g *generation.Generation) {
		e.history.Record(g.ID, g.LoadedAt, g.Table.Functions())
	}})
	apply(t, e.gens, functionsYML)
	s := New(Options{Env: "dev", Generations: e.gens, Metrics: e.m, Load: load, Agent: agent, History: e.history, LogsURL: logsURL, LogEnv: "dev"})
	e.srv = httptest.NewServer(s.Handler())
	t.Cleanup(e.srv.Close)
	return e
}

func apply(t *testing.T, gens *generation.Manager, fns string) {
	t.Helper()
	cfg, err := runtimeconfig.Decode(runtimeconfig.Files{Functions: []byte(fns), Routing: []byte(routingYML)})
	require.NoError(t, err)
	_, err = gens.Apply(configwatch.Snapshot{Config: cfg})
	require.NoError(t, err)
}

func get(t *testing.T, u string) (int, string) {
	t.Helper()
	resp, err := http.Get(u)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(body)
}

func TestMetricsCarryTheAgents(t *testing.T) {
	e := newEnv(t, fakeAgent{metrics: "# TYPE esb_agent_reaps_total counter\nesb_agent_reaps_total 4\n# TYPE go_goroutines gauge\ngo_goroutines 9\n"}, "")
	e.m.Observe(time.Now(), "Hello", lambdainvoke.Result{Cold: true, Duration: time.Millisecond}, nil)
	status, body := get(t, e.srv.URL+"/metrics")
	require.Equal(t, http.StatusOK, status)
	assert.Contains(t, body, `esb_invocations_total{function="Hello"} 1`)
	assert.Contains(t, body, `esb_cold_starts_total{function="Hello"} 1`)
	assert.Contains(t, body, `esb_concurrent_executions{function="Hello"} 1`)
	assert.Contains(t, body, "esb_agent_up 1")
	assert.Contains(t, body, "esb_agent_reaps_total 4")
	assert.Contains(t, body, "esb_agent_go_goroutines 9", "the agent's runtime series apart from the gateway's")
	assert.Contains(t, body, "\ngo_goroutines ", "the gateway's own")
}

func TestMetricsWithoutTheAgent(t *testing.T) {
	e := newEnv(t, fakeAgent{err: errors.New("connection refused")}, "")
	status, body := get(t, e.srv.URL+"/metrics")
	require.Equal(t, http.StatusOK, status, "the gateway's metrics still serve")
	assert.Contains(t, body, "esb_agent_up 0")
	assert.Contains(t, body, "esb_config_generation 0")
}

func TestStatusAndDashboard(t *testing.T) {
	e := newEnv(t, fakeAgent{}, "")
	e.m.Observe(time.Now(), "Hello", lambdainvoke.Result{Cold: true, Duration: 12 * time.Millisecond}, nil)
	e.m.Observe(time.Now(), "Items", lambdainvoke.Result{FunctionError: "Unhandled", Duration: time.Millisecond}, nil)
	apply(t, e.gens, strings.Replace(functionsYML, "sha256:0123456789abcdef0123", "sha256:fedcba", 1))

	st, err := adminapi.Fetch(t.Context(), http.DefaultClient, e.srv.URL)
	require.NoError(t, err)
	assert.Equal(t, "dev", st.Env)
	assert.EqualValues(t, 2, st.Generation)
	require.Len(t, st.Functions, 2)
	hello := st.Functions[0]
	assert.Equal(t, "Hello", hello.Name)
	assert.Equal(t, "python3.13", hello.Runtime)
	assert.Equal(t, 256, hello.MemoryMB)
	assert.Equal(t, "sha256:fedcba", hello.Digest)
	assert.Equal(t, []string{"GET /hello"}, hello.Routes)
	assert.Equal(t, 1, hello.Busy)
	assert.Equal(t, 3, hello.Warm, "2 the gateway holds, 1 the agent keeps")
	assert.Nil(t, hello.LastError)
	require.NotNil(t, st.Functions[1].LastError)
	assert.Equal(t, "function", st.Functions[1].LastError.Outcome)
	require.Len(t, st.Recent, 2)
	assert.Equal(t, "Items", st.Recent[0].Function)
	assert.True(t, st.Recent[1].Cold)
	require.Len(t, st.Deploys, 2)
	assert.Equal(t, []string{"Hello"}, st.Deploys[0].Changed, "the new digest")
	assert.Equal(t, []string{"Hello", "Items"}, st.Deploys[1].Added)
	require.NotNil(t, st.Agent)
	assert.Equal(t, 3, st.Agent.Containers)

	status, page := get(t, e.srv.URL+"/")
	require.Equal(t, http.StatusOK, status)
	for _, want := range []string{"Hello", "Items", "/items/{id}", "python3.13", "fedcba", "cold", "function", `name="viewport"`} {
		assert.Contains(t, page, want)
	}
	assert.NotContains(t, page, "http://", "nothing loaded from elsewhere")
	assert.NotContains(t, page, "https://")
	status, _ = get(t, e.srv.URL+"/nothing")
	assert.Equal(t, http.StatusNotFound, status)
}

func TestDeployHistory(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "config")
	store := confighistory.Store{ConfigDir: dir}
	decode := func(fns string) runtimeconfig.Config {
		cfg, err := runtimeconfig.Decode(runtimeconfig.Files{Functions: []byte(fns), Routing: []byte(routingYML)})
		require.NoError(t, err)
		return cfg
	}
	a := decode(functionsYML)
	b := decode(strings.Replace(functionsYML, "sha256:0123456789abcdef0123", "sha256:fedcba", 1))
	at := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	_, _, err := store.Record(confighistory.Entry{Kind: confighistory.KindDeploy, Template: "/src/a.yml", TemplateHash: "aaaa", Config: a, Previous: runtimeconfig.Empty(), Time: at})
	require.NoError(t, err)
	_, _, err = store.Record(confighistory.Entry{Kind: confighistory.KindDeploy, Template: "/src/b.yml", TemplateHash: "bbbb", Config: b, Previous: a, Time: at.Add(time.Minute)})
	require.NoError(t, err)
	g3, _, err := store.Record(confighistory.Entry{Kind: confighistory.KindRollback, RollbackOf: 1, Template: "/src/a.yml", TemplateHash: "aaaa", Config: a, Previous: b, Time: at.Add(2 * time.Minute)})
	require.NoError(t, err)
	// CONFIG_DIR holds generation 3's set, as the rollback left it.
	for _, name := range []string{"functions.yml", "routing.yml", "resources.yml"} {
		data, err := os.ReadFile(filepath.Join(confighistory.Dir(dir), fmt.Sprintf("%06d", g3.Number), name))
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), data, 0o644))
	}

	e := newEnv(t, fakeAgent{}, "")
	srv := httptest.NewServer(New(Options{Env: "dev", Generations: e.gens, Metrics: e.m, ConfigDir: dir}).Handler())
	t.Cleanup(srv.Close)
	st, err := adminapi.Fetch(t.Context(), http.DefaultClient, srv.URL)
	require.NoError(t, err)
	require.Len(t, st.History, 3, "newest first")
	assert.Equal(t, 3, st.History[0].Number)
	assert.Equal(t, "rollback to 1", st.History[0].Action)
	assert.True(t, st.History[0].Current)
	assert.Equal(t, []string{"Hello"}, st.History[0].Changed)
	assert.Equal(t, "/src/b.yml", st.History[1].Template)
	assert.False(t, st.History[1].Current)
	assert.Equal(t, "deploy", st.History[2].Action)
	assert.Equal(t, at, st.History[2].At.UTC())

	status, page := get(t, srv.URL+"/")
	require.Equal(t, http.StatusOK, status)
	for _, want := range []string{"rollback to 1", "/src/b.yml", "2026-12-03 10:01:00", "(current)"} {
		assert.Contains(t, page, want)
	}

	// A generation that cannot be read is shown as such, not left out.
	require.NoError(t, os.WriteFile(filepath.Join(confighistory.Dir(dir), "000002", "generation.json"), []byte("{"), 0o644))
	st, err = adminapi.Fetch(t.Context(), http.DefaultClient, srv.URL)
	require.NoError(t, err)
	require.Len(t, st.History, 3)
	assert.NotEmpty(t, st.History[1].Error)
	_, page = get(t, srv.URL+"/")
	assert.Contains(t, page, "unreadable")
}

func TestLogTail(t *testing.T) {
	var query string
	logs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		require.NoError(t, r.ParseForm())
		query = r.Form.Get("query")
		_, _ = io.WriteString(w, `{"_time":"2026-01-01T00:00:02Z","_msg":"second <b>"}`+"\n"+`{"_time":"2026-01-01T00:00:01Z","_msg":"first"}`+"\n")
	}))
	t.Cleanup(logs.Close)
	e := newEnv(t, fakeAgent{}, logs.URL)

	status, page := get(t, e.srv.URL+"/logs/Hello")
	require.Equal(t, http.StatusOK, status)
	assert.Contains(t, query, `function:"Hello"`)
	assert.Contains(t, query, `env:"dev"`)
	assert.Less(t, strings.Index(page, "first"), strings.Index(page, "second"), "oldest first")
	assert.Contains(t, page, "second &lt;b&gt;", "escaped")

	status, _ = get(t, e.srv.URL+"/logs/"+url.PathEscape(`x" OR *`))
	assert.Equal(t, http.StatusNotFound, status, "only a function of the live config reaches the query")
}

func TestStatusJSONShape(t *testing.T) {
	e := newEnv(t, nil, "")
	_, body := get(t, e.srv.URL+adminapi.StatusPath)
	var raw map[string]any
	require.NoError(t, json.Unmarshal([]byte(body), &raw))
	for _, k := range []string{"env", "generation", "functions", "routes", "deploys"} {
		assert.Contains(t, raw, k)
	}
	assert.NotContains(t, raw, "agent", "no agent: no agent section")
}

func TestLiveConfig(t *testing.T) {
	e := newEnv(t, fakeAgent{}, "")
	cfg, err := runtimeconfig.Decode(runtimeconfig.Files{Functions: []byte(functionsYML), Routing: []byte(routingYML)})
	require.NoError(t, err)
	want, err := cfg.Digest()
	require.NoError(t, err)

	live, err := adminapi.FetchLive(t.Context(), http.DefaultClient, e.srv.URL)
	require.NoError(t, err)
	assert.EqualValues(t, 1, live.Generation)
	assert.Equal(t, want, live.ConfigDigest, "the digest a deploy computes from the same files")
	assert.Nil(t, live.Rejected)

	e.gens.Reject("", []string{"functions.yml:3:5: functions.Hello.image: required"})
	live, err = adminapi.FetchLive(t.Context(), http.DefaultClient, e.srv.URL)
	require.NoError(t, err)
	require.NotNil(t, live.Rejected)
	assert.Equal(t, []string{"functions.yml:3:5: functions.Hello.image: required"}, live.Rejected.Problems)
	assert.Equal(t, want, live.ConfigDigest, "the refused set changed nothing")

	apply(t, e.gens, strings.Replace(functionsYML, "sha256:0123456789abcdef0123", "sha256:fedcba", 1))
	live, err = adminapi.FetchLive(t.Context(), http.DefaultClient, e.srv.URL)
	require.NoError(t, err)
	assert.EqualValues(t, 2, live.Generation)
	assert.NotEqual(t, want, live.ConfigDigest)
	assert.Nil(t, live.Rejected, "a later set went live")
}

func TestLiveConfigCarriesTheAgentsAnswer(t *testing.T) {
	e := newEnv(t, fakeAgent{}, "")
	live, err := adminapi.FetchLive(t.Context(), http.DefaultClient, e.srv.URL)
	require.NoError(t, err)
	assert.Nil(t, live.Agent, "no push reported: no agent section")

	sync := adminapi.AgentSync{Generation: 1, State: adminapi.AgentRefused, Problem: "function Hello: min_warm 9 x 128 MB = 1152 MB exceeds the node's memory for functions (1024 MB, ESB_FUNCTION_MEMORY)"}
	srv := httptest.NewServer(New(Options{Generations: e.gens, Metrics: e.m, AgentSync: func() adminapi.AgentSync { return sync }}).Handler())
	t.Cleanup(srv.Close)
	live, err = adminapi.FetchLive(t.Context(), http.DefaultClient, srv.URL)
	require.NoError(t, err)
	require.NotNil(t, live.Agent)
	assert.Equal(t, sync.Problem, live.Agent.Problem)
	assert.Equal(t, adminapi.AgentRefused, live.Agent.State)
	assert.EqualValues(t, 1, live.Agent.Generation)
}
