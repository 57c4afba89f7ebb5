package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/esb-dev/esb/internal/agentapi"
	"github.com/esb-dev/esb/internal/runtimeconfig"
	"github.com/esb-dev/esb/services/gateway/configwatch"
	"github.com/esb-dev/esb/services/gateway/fakeagent"
	"github.com/esb-dev/esb/services/gateway/generation"
	"github.com/esb-dev/esb/services/gateway/httpapi"
	"github.com/esb-dev/esb/services/gateway/lambdainvoke"
)

// BenchmarkReloadLatency measures hot reload end to end, in process, with
// the real watcher on a temp dir: each iteration deploys one more function
// and route the way a deploy does (functions.yml, then routing.yml, each
// written to a temp file and renamed over), and times from the rename of
// routing.yml to the first request answered 200 by the new route (an
// invocation through the fake agent and function included). Run with e.g.
// -benchtime=50x; p50/p95/max are reported in ms.
//
// CONFIG_RELOAD_INTERVAL is 1s in every case, so with file events the poll
// plays no part; the poll-only case shows the backstop on its own.
func BenchmarkReloadLatency(b *testing.B) {
	cases := []struct {
		name string
		opts configwatch.Options
	}{
		{name: "events/settle=100ms(default)", opts: configwatch.Options{Interval: time.Second}},
		{name: "events/settle=10ms", opts: configwatch.Options{Interval: time.Second, Settle: 10 * time.Millisecond}},
		{name: "poll-only/interval=1s", opts: configwatch.Options{Interval: time.Second, PollOnly: true}},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) { reloadLatency(b, c.opts) })
	}
}

func reloadLatency(b *testing.B, opts configwatch.Options) {
	dir := b.TempDir()
	deploy := func(n int) {
		var fns, routes strings.Builder
		fns.WriteString("functions:\n")
		routes.WriteString("routes:\n")
		for i := 0; i <= n; i++ {
			fmt.Fprintf(&fns, "  F%d: {image: img/f%d}\n", i, i)
			fmt.Fprintf(&routes, "  - {path: /v%d, method: GET, function: F%d, payload: \"2.0\"}\n", i, i)
		}
		for _, f := range []struct{ name, data string }{
			{runtimeconfig.FunctionsFileName, fns.String()},
			{runtimeconfig.RoutingFileName, routes.String()},
		} {
			tmp := filepath.Join(dir, f.name+".tmp")
			if err := os.WriteFile(tmp, []byte(f.data), 0o644); err != nil {
				b.Fatal(err)
			}
			if err := os.Rename(tmp, filepath.Join(dir, f.name)); err != nil {
				b.Fatal(err)
			}
		}
	}
	deploy(0)
	if err := os.WriteFile(filepath.Join(dir, runtimeconfig.ResourcesFileName), []byte("resources: {}\n"), 0o644); err != nil {
		b.Fatal(err)
	}
	initial, err := runtimeconfig.Load(dir)
	if err != nil {
		b.Fatal(err)
	}

	fn := fakeagent.Function(b, func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		_, _ = io.WriteString(w, `"ok"`)
	})
	agent := fakeagent.New(b, func(agentapi.FunctionSpec) string { return fn.URL })
	quiet := slog.New(slog.NewJSONHandler(io.Discard, nil))
	ctx, cancel := context.WithCancel(b.Context())
	live := make(chan struct{}, 1)
	gens := generation.New(ctx, generation.Options{Logger: quiet, OnLive: func(*generation.Generation) {
		select {
		case live <- struct{}{}:
		default:
		}
	}})
	if _, err := gens.Apply(configwatch.Snapshot{Config: initial}); err != nil {
		b.Fatal(err)
	}
	<-live
	opts.Initial, opts.Logger = &initial, quiet
	watcher := configwatch.New(dir, opts)
	server := httpapi.New(ctx, gens, lambdainvoke.New(agent.Client(), lambdainvoke.Options{}), httpapi.Options{Logger: quiet})
	var wg sync.WaitGroup
	wg.Go(func() { _ = watcher.Run(ctx) })
	wg.Go(func() { _ = gens.Run(ctx, watcher.Snapshots()) })
	b.Cleanup(func() { cancel(); wg.Wait() })

	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 1; i <= b.N; i++ {
		deploy(i)
		start := time.Now() // right after the rename of routing.yml
		path := fmt.Sprintf("/v%d", i)
		for {
			if _, ok := gens.Current().Table.Match(http.MethodGet, path); ok {
				break
			}
			<-live
		}
		rec := httptest.NewRecorder()
		server.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		if rec.Code != http.StatusOK {
			b.Fatalf("%s: status %d: %s", path, rec.Code, rec.Body)
		}
		lat = append(lat, time.Since(start))
		for len(agent.Releases()) > 0 {
			<-agent.Releases()
		}
		for len(agent.Acquires()) > 0 {
			<-agent.Acquires()
		}
		for len(agent.Desired()) > 0 {
			<-agent.Desired()
		}
	}
	b.StopTimer()
	slices.Sort(lat)
	pct := func(p float64) float64 {
		i := int(p*float64(len(lat))+0.999999) - 1
		return float64(lat[max(i, 0)].Microseconds()) / 1000
	}
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.95), "p95-ms")
	b.ReportMetric(pct(1), "max-ms")
}
