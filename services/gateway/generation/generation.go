// Package generation holds the config generation the gateway serves: each
// snapshot that builds into a routing table becomes a new Generation,
// published with one atomic pointer swap. A request loads the pointer once
// and uses that generation to the end, so it sees the old config or the
// new one, never a mix.
package generation

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/esb-dev/esb/internal/runtimeconfig"
	"github.com/esb-dev/esb/services/gateway/configwatch"
	"github.com/esb-dev/esb/services/gateway/routing"
)

// Generation is one published config. It never changes.
type Generation struct {
	ID       uint64
	Table    *routing.Table
	LoadedAt time.Time
	// Digest is the config's runtimeconfig Config.Digest: a deploy waits
	// until the live generation has the digest of the set it wrote.
	Digest string
	ctx    context.Context
}

// Rejection is a config the gateway read and refused to serve.
type Rejection struct {
	Digest   string // empty when the files did not decode
	At       time.Time
	Problems []string // "file:line:col: field: message"
}

// Context is cancelled once the next generation is live (or the Manager
// closes): work that belongs to this generation only, such as pushing its
// desired state to the agent, runs under it.
func (g *Generation) Context() context.Context { return g.ctx }

// Options tunes a Manager. The zero value is ready to use.
type Options struct {
	// OnLive is called after a generation is published, from the goroutine
	// that applied it; it must not block.
	OnLive func(g *Generation)
	// OnRejected, when set, is called for each snapshot Run could not
	// build (the previous generation stays live).
	OnRejected func(problems []string)
	Logger     *slog.Logger // nil discards
}

// Manager builds and publishes generations.
type Manager struct {
	parent context.Context
	opts   Options
	cur    atomic.Pointer[Generation]
	// rejected is the last refused config, nil once a later one is live.
	rejected atomic.Pointer[Rejection]

	mu     sync.Mutex // serialises Apply
	nextID uint64
	cancel context.CancelFunc // of the live generation
}

// New returns a Manager with nothing published; ctx is the parent of every
// generation's context.
func New(ctx context.Context, opts Options) *Manager {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.OnLive == nil {
		opts.OnLive = func(*Generation) {}
	}
	return &Manager{parent: ctx, opts: opts, nextID: 1}
}

// Current returns the live generation, nil before the first Apply. Callers
// load it once per request and must not modify it.
func (m *Manager) Current() *Generation { return m.cur.Load() }

// Rejected is the last config refused since the live generation went
// live, nil when none was.
func (m *Manager) Rejected() *Rejection { return m.rejected.Load() }

// Reject records a config that was refused before it reached the Manager
// (its files did not read or decode), with its digest when known.
func (m *Manager) Reject(digest string, problems []string) {
	m.rejected.Store(&Rejection{Digest: digest, At: time.Now(), Problems: problems})
}

// Generation is the live generation's ID, 0 before the first Apply. With
// FunctionNames it makes the Manager the sigv4.FunctionSet whose functions'
// own keys the gateway accepts.
func (m *Manager) Generation() uint64 {
	if g := m.cur.Load(); g != nil {
		return g.ID
	}
	return 0
}

// FunctionNames lists the functions of the live generation.
func (m *Manager) FunctionNames() []string {
	if g := m.cur.Load(); g != nil {
		return g.Table.FunctionNames()
	}
	return nil
}

// Apply builds a routing table from snap and, only if that succeeds whole,
// publishes it as the next generation, then cancels the previous one's
// context. On error nothing changes and the previous generation stays live.
func (m *Manager) Apply(snap configwatch.Snapshot) (*Generation, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	table, warnings, err := routing.Build(snap.Config)
	for _, w := range warnings {
		m.opts.Logger.Warn("runtime config: " + w)
	}
	if err != nil {
		return nil, locate(err, snap.Files.Routing)
	}
	digest, err := snap.Config.Digest()
	if err != nil {
		// Only a deploy waiting for this config misses it.
		m.opts.Logger.Warn("runtime config: no digest", "error", err.Error())
	}
	ctx, cancel := context.WithCancel(m.parent)
	g := &Generation{ID: m.nextID, Table: table, LoadedAt: time.Now(), Digest: digest, ctx: ctx}
	m.nextID++
	m.cur.Store(g)
	m.rejected.Store(nil)
	// Only now that the new generation serves does the old one wind down;
	// a failed build above left it untouched.
	if m.cancel != nil {
		m.cancel()
	}
	m.cancel = cancel
	m.opts.Logger.Info("runtime config live", "generation", g.ID,
		"functions", table.FunctionCount(), "routes", table.RouteCount(), "apis", table.APIs(), "function_urls", table.URLCount())
	m.opts.OnLive(g)
	return g, nil
}

// Run applies every snapshot from snapshots until ctx ends. A snapshot that
// does not build is logged with its file, line and field, and the previous
// generation stays live.
func (m *Manager) Run(ctx context.Context, snapshots <-chan configwatch.Snapshot) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case snap := <-snapshots:
			if _, err := m.Apply(snap); err != nil {
				var live uint64
				if g := m.Current(); g != nil {
					live = g.ID
				}
				problems := configwatch.Problems(err)
				m.opts.Logger.Error("runtime config rejected; keeping the previous config",
					"generation", live, "problems", problems)
				digest, _ := snap.Config.Digest()
				m.Reject(digest, problems)
				if m.opts.OnRejected != nil {
					m.opts.OnRejected(problems)
				}
			}
		}
	}
}

// Close cancels the live generation's context.
func (m *Manager) Close() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.cancel != nil {
		m.cancel()
	}
}

// locate turns the table builder's errors into runtimeconfig.FieldErrors
// with the line of the offending route in routing.yml, the form every other
// config problem is reported in.
func locate(err error, routingYML []byte) error {
	var errs []error
	for _, e := range leaves(err) {
		var pe *routing.PathError
		if !errors.As(e, &pe) {
			errs = append(errs, e)
			continue
		}
		field := pe.Field
		if field == "" {
			field = "path"
		}
		line, col := routeLine(routingYML, pe.Index, field)
		errs = append(errs, &runtimeconfig.FieldError{
			File: runtimeconfig.RoutingFileName, Line: line, Column: col,
			Field: fmt.Sprintf("routes[%d].%s", pe.Index, field),
			Msg:   fmt.Sprintf("%s (path %q)", pe.Msg, pe.Path),
			Err:   pe,
		})
	}
	return errors.Join(errs...)
}

func leaves(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

// routeLine finds the line and column of routes[index].field in routing.yml;
// zeros when the bytes are not at hand or do not hold it.
func routeLine(data []byte, index int, field string) (line, col int) {
	if len(bytes.TrimSpace(data)) == 0 {
		return 0, 0
	}
	var doc yaml.Node
	if yaml.Unmarshal(data, &doc) != nil || len(doc.Content) == 0 {
		return 0, 0
	}
	routes := mapValue(doc.Content[0], "routes")
	if routes == nil || routes.Kind != yaml.SequenceNode || index >= len(routes.Content) {
		return 0, 0
	}
	route := routes.Content[index]
	if k := mapKey(route, field); k != nil {
		return k.Line, k.Column
	}
	return route.Line, route.Column
}

func mapKey(n *yaml.Node, key string) *yaml.Node {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i]
		}
	}
	return nil
}

func mapValue(n *yaml.Node, key string) *yaml.Node {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}
