// Package admin is the gateway's admin listener: /metrics (the gateway's
// metrics and the agent's, scraped through the agent's token-protected
// API), /api/status (what `esb ls` shows), the dashboard at / and a live
// log tail per function. Compose publishes it on host loopback only
// (PORT_ADMIN): it has no authentication, so it never serves on a
// client-facing address, and function sandboxes do not allow its port.
package admin

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/esb-dev/esb/internal/adminapi"
	"github.com/esb-dev/esb/internal/agentapi"
	"github.com/esb-dev/esb/internal/confighistory"
	"github.com/esb-dev/esb/services/gateway/generation"
	"github.com/esb-dev/esb/services/gateway/lambdainvoke"
	"github.com/esb-dev/esb/services/gateway/metrics"
)

// agentTimeout bounds one call to the agent or the log store: a scrape or
// a page must not hang on a stuck service.
const agentTimeout = 3 * time.Second

// Generations gives the live config generation; *generation.Manager
// implements it.
type Generations interface {
	Current() *generation.Generation
	Rejected() *generation.Rejection
}

// Agent is what the admin listener asks the agent; *agentapi.Client
// implements it.
type Agent interface {
	Metrics(ctx context.Context) ([]byte, error)
	Health(ctx context.Context) (agentapi.Health, error)
}

// Options are the admin listener's sources. Metrics and Generations are
// required.
type Options struct {
	Env         string
	Generations Generations
	Metrics     *metrics.Metrics
	Load        metrics.LoadSource // nil: no container counts
	Agent       Agent              // nil: no agent metrics
	// AgentSync reports the push of the live generation's desired state
	// to the agent, which /api/live shows; nil: not shown.
	AgentSync func() adminapi.AgentSync
	// LogsURL is the env's log store (VictoriaLogs); empty: no log tail.
	LogsURL string
	// LogEnv is the env as function log lines name it.
	LogEnv string
	// History is the record of config reloads the gateway keeps; nil: an
	// empty one.
	History *History
	// ConfigDir is the env's CONFIG_DIR, whose .history is the deploy
	// history the dashboard lists; empty: none.
	ConfigDir string
	HTTP      *http.Client // for the log store; http.DefaultClient when nil
	Logger    *slog.Logger // nil discards
}

// Server serves the admin listener.
type Server struct {
	opts    Options
	mux     *http.ServeMux
	history *History
}

// New builds the admin listener's handler.
func New(opts Options) *Server {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.HTTP == nil {
		opts.HTTP = http.DefaultClient
	}
	if opts.History == nil {
		opts.History = &History{}
	}
	s := &Server{opts: opts, mux: http.NewServeMux(), history: opts.History}
	gatherers := prometheus.Gatherers{opts.Metrics.Registry()}
	if opts.Agent != nil {
		gatherers = append(gatherers, &agentGatherer{agent: opts.Agent, log: opts.Logger})
	}
	s.mux.Handle("GET /metrics", promhttp.HandlerFor(gatherers, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError}))
	s.mux.HandleFunc("GET "+adminapi.StatusPath, s.status)
	s.mux.HandleFunc("GET "+adminapi.LivePath, s.live)
	s.mux.HandleFunc("GET /logs/{function}", s.logs)
	s.mux.HandleFunc("GET /{$}", s.dashboard)
	return s
}

// Handler is the admin listener's HTTP handler.
func (s *Server) Handler() http.Handler { return s.mux }

// agentGatherer scrapes the agent's metrics at each scrape of /metrics,
// adding esb_agent_up: 0 when the agent did not answer (its other series
// are then missing, not stale).
type agentGatherer struct {
	agent Agent
	log   *slog.Logger
}

var upName, upHelp = "esb_agent_up", "1 when the gateway could scrape the agent's metrics, 0 when not."

func (g *agentGatherer) Gather() ([]*dto.MetricFamily, error) {
	ctx, cancel := context.WithTimeout(context.Background(), agentTimeout)
	defer cancel()
	up := func(v float64) *dto.MetricFamily {
		return &dto.MetricFamily{Name: &upName, Help: &upHelp, Type: dto.MetricType_GAUGE.Enum(),
			Metric: []*dto.Metric{{Gauge: &dto.Gauge{Value: &v}}}}
	}
	data, err := g.agent.Metrics(ctx)
	if err != nil {
		g.log.Warn("scrape the agent's metrics", "error", err.Error())
		return []*dto.MetricFamily{up(0)}, nil
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(bytes.NewReader(data))
	if err != nil {
		g.log.Warn("parse the agent's metrics", "error", err.Error())
		return []*dto.MetricFamily{up(0)}, nil
	}
	out := []*dto.MetricFamily{up(1)}
	for name, f := range families {
		// The gateway's own process and Go runtime series are the ones
		// without prefix; the agent's get one so the two do not collide.
		if !strings.HasPrefix(name, "esb_") {
			prefixed := "esb_agent_" + name
			f.Name = &prefixed
		}
		out = append(out, f)
	}
	slices.SortFunc(out, func(a, b *dto.MetricFamily) int { return strings.Compare(a.GetName(), b.GetName()) })
	return out, nil
}

// History records each config generation that went live and what it
// changed; the gateway keeps the last historyLen.
type History struct {
	mu      sync.Mutex
	deploys []adminapi.Deploy // newest first
	last    map[string]string // function: fingerprint of its spec
}

const historyLen = 20

// Record notes generation g, with the functions it serves, as live.
func (h *History) Record(id uint64, at time.Time, functions []agentapi.FunctionSpec) {
	now := make(map[string]string, len(functions))
	for _, f := range functions {
		now[f.Name] = fingerprint(f)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	d := adminapi.Deploy{Generation: id, At: at}
	for name, fp := range now {
		old, ok := h.last[name]
		switch {
		case !ok:
			d.Added = append(d.Added, name)
		case old != fp:
			d.Changed = append(d.Changed, name)
		}
	}
	for name := range h.last {
		if _, ok := now[name]; !ok {
			d.Removed = append(d.Removed, name)
		}
	}
	slices.Sort(d.Added)
	slices.Sort(d.Changed)
	slices.Sort(d.Removed)
	h.last = now
	h.deploys = append([]adminapi.Deploy{d}, h.deploys...)
	if len(h.deploys) > historyLen {
		h.deploys = h.deploys[:historyLen]
	}
}

// Deploys lists the recorded generations, newest first.
func (h *History) Deploys() []adminapi.Deploy {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.deploys)
}

// fingerprint tells two specs of a function apart: a new digest or any
// config change.
func fingerprint(f agentapi.FunctionSpec) string {
	return fmt.Sprintf("%s|%s|%d|%d|%v|%v", f.Function.Image, f.Function.Digest, f.Function.MemorySize, f.Function.Timeout,
		f.Function.Environment, f.Function.Scaling)
}

// liveConfig is what /api/live shows.
func (s *Server) liveConfig() adminapi.Live {
	var l adminapi.Live
	if g := s.opts.Generations.Current(); g != nil {
		l.Generation, l.LoadedAt, l.ConfigDigest = g.ID, g.LoadedAt, g.Digest
	}
	if r := s.opts.Generations.Rejected(); r != nil {
		l.Rejected = &adminapi.Rejection{ConfigDigest: r.Digest, At: r.At, Problems: r.Problems}
	}
	l.Agent = s.agentSync()
	return l
}

// agentSync is how the push of the live generation's desired state to
// the agent went, for /api/live and /api/status alike; nil without a
// reporter.
func (s *Server) agentSync() *adminapi.AgentSync {
	if s.opts.AgentSync == nil {
		return nil
	}
	a := s.opts.AgentSync()
	return &a
}

// snapshot is the Status the dashboard and /api/status show.
func (s *Server) snapshot(ctx context.Context) adminapi.Status {
	st := adminapi.Status{Env: s.opts.Env, Deploys: s.history.Deploys()}
	st.History, st.HistoryError = s.deployHistory()
	g := s.opts.Generations.Current()
	if g == nil {
		return st
	}
	st.Generation, st.LoadedAt = g.ID, g.LoadedAt
	st.AgentSync = s.agentSync()
	load := map[string]lambdainvoke.FunctionLoad{}
	if s.opts.Load != nil {
		for _, l := range s.opts.Load.Load() {
			load[l.Name] = l
		}
	}
	routes := map[string][]string{}
	for _, r := range g.Table.Routes() {
		st.Routes = append(st.Routes, adminapi.Route{Method: r.Method, Path: r.Path, Function: r.Function, API: r.API, Stage: r.Stage})
		routes[r.Function] = append(routes[r.Function], r.Method+" "+r.Path)
	}
	var idle map[string]int // the agent's warm containers, not leased
	if s.opts.Agent != nil {
		actx, cancel := context.WithTimeout(ctx, agentTimeout)
		defer cancel()
		if h, err := s.opts.Agent.Health(actx); err == nil {
			st.Agent = &adminapi.Agent{Runtime: h.Runtime, Containers: h.Containers, Busy: h.Busy, MemoryMB: h.MemoryMB, BudgetMB: h.MemoryBudgetMB, Concurrency: h.AccountConcurrency}
			idle = h.IdleByFunction
		}
	}
	for _, spec := range g.Table.Functions() {
		l := load[spec.Name]
		f := adminapi.Function{
			Name: spec.Name, Runtime: spec.Function.Runtime, MemoryMB: spec.MemoryMB(), Timeout: int(spec.Timeout().Seconds()),
			Image: spec.Function.Image, Digest: spec.Function.Digest, Routes: routes[spec.Name],
			Busy: l.Busy, Warm: l.Warm + idle[spec.Name], Queued: l.Queued,
		}
		if inv, ok := s.opts.Metrics.LastFailure(spec.Name); ok {
			a := invocation(inv)
			f.LastError = &a
		}
		st.Functions = append(st.Functions, f)
	}
	for _, inv := range s.opts.Metrics.Recent() {
		st.Recent = append(st.Recent, invocation(inv))
	}
	return st
}

// deployHistory lists CONFIG_DIR's generations, newest first. It reads
// them on every page: a few small files, and the record deploys and
// rollbacks write is then never stale, whichever process wrote it.
func (s *Server) deployHistory() ([]adminapi.Generation, string) {
	if s.opts.ConfigDir == "" {
		return nil, ""
	}
	listed, err := confighistory.Store{ConfigDir: s.opts.ConfigDir}.List()
	if err != nil {
		return nil, err.Error()
	}
	out := make([]adminapi.Generation, 0, len(listed))
	for i := len(listed) - 1; i >= 0; i-- {
		l := listed[i]
		g := adminapi.Generation{Number: l.Number, Current: l.Current}
		if l.Err != nil {
			g.Error = l.Err.Error()
		} else {
			g.At, g.Action, g.Template, g.TemplateSHA256 = l.Time, l.Action(), l.Template, l.TemplateHash
			g.Changed, g.Removed = l.Changed, l.Removed
		}
		out = append(out, g)
	}
	return out, ""
}

func invocation(inv metrics.Invocation) adminapi.Invocation {
	return adminapi.Invocation{At: inv.At, Function: inv.Function, Outcome: inv.Outcome,
		DurationMS: float64(inv.Duration.Microseconds()) / 1000, Cold: inv.Cold}
}
