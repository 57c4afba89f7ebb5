// Command gateway is ESB's HTTP gateway: it serves the routes and functions
// of CONFIG_DIR like API Gateway and Lambda, picks up new deploys by
// itself, and leases function containers from the agent.
package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/esb-dev/esb/internal/agentapi"
	"github.com/esb-dev/esb/internal/eventsapi"
	"github.com/esb-dev/esb/internal/logship"
	"github.com/esb-dev/esb/internal/runtimeconfig"
	"github.com/esb-dev/esb/services/gateway/admin"
	"github.com/esb-dev/esb/services/gateway/agentsync"
	"github.com/esb-dev/esb/services/gateway/auth"
	"github.com/esb-dev/esb/services/gateway/configwatch"
	"github.com/esb-dev/esb/services/gateway/generation"
	"github.com/esb-dev/esb/services/gateway/httpapi"
	"github.com/esb-dev/esb/services/gateway/lambdainvoke"
	"github.com/esb-dev/esb/services/gateway/metrics"
	"github.com/esb-dev/esb/services/gateway/runtimeapi"
	"github.com/esb-dev/esb/services/gateway/sigv4"
)

// shutdownTimeout bounds the drain on SIGTERM; it stays under Docker's
// default 10 s stop grace so the drain finishes before a SIGKILL.
const shutdownTimeout = 8 * time.Second

// maxRequestHead is API Gateway's cap on a request's line and headers
// (10,240 bytes). net/http allows MaxHeaderBytes plus 4,096 bytes of
// buffer slack, so that much is taken off; past it the client gets 431.
const maxRequestHead = 10240 - 4096

func main() {
	log := slog.New(slog.NewJSONHandler(os.Stdout, nil)).With("service", "gateway")
	cfg, err := configFromEnv(os.Getenv)
	if err != nil {
		log.Error("gateway: invalid environment", "error", err.Error())
		os.Exit(2)
	}
	log = log.With("env", cfg.Env)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	if err := run(ctx, cfg, log); err != nil {
		log.Error("gateway stopped", "error", err.Error())
		os.Exit(1)
	}
}

// run wires the gateway together and serves until ctx ends.
func run(ctx context.Context, cfg config, log *slog.Logger) error {
	seeded, err := runtimeconfig.Seed(ctx, cfg.ConfigDir, cfg.SeedDir, runtimeconfig.SeedOptions{})
	if errors.Is(err, fs.ErrPermission) {
		return fmt.Errorf("seed config dir: %w (the gateway runs as uid %d; run it as the owner of CONFIG_DIR, e.g. compose user:)", err, os.Getuid())
	}
	if err != nil {
		return fmt.Errorf("seed config dir: %w", err)
	}
	log.Info("runtime config seeded", "dir", cfg.ConfigDir, "kept", seeded.Kept, "copied", seeded.Copied, "created", seeded.Created)
	for _, w := range seeded.Warnings {
		log.Warn(w)
	}

	var shipper *logship.Shipper
	if cfg.LogsURL != "" {
		shipper = logship.New(cfg.LogsURL, logship.Options{Logger: log})
	}
	agent := &agentapi.Client{BaseURL: cfg.AgentURL, HTTP: &http.Client{}}
	if cfg.AgentTokenFile != "" {
		agent.Token = &agentapi.TokenFile{Path: cfg.AgentTokenFile}
	}
	pusher := agentsync.New(agent, agentsync.Options{Logger: log})

	// Generations live under their own context: they end after serving
	// stopped, not when the signal arrives.
	genCtx, endGenerations := context.WithCancel(context.WithoutCancel(ctx))
	defer endGenerations()
	// The invoker is made after the first generation (it needs the
	// Runtime API); it learns that generation's reservations when made.
	var invoker *lambdainvoke.Invoker
	// The operator's record: metrics and the deploy history follow every
	// generation from the first.
	stats := metrics.New(loadOf{&invoker})
	history := &admin.History{}
	gens := generation.New(genCtx, generation.Options{
		Logger: log,
		OnLive: func(g *generation.Generation) {
			pusher.Push(g.Context(), agentapi.Desired{Generation: g.ID, Functions: g.Table.Functions()})
			if invoker != nil {
				invoker.SetReserved(g.Table.Functions())
			}
			stats.ConfigLive(g.ID, g.Table.FunctionNames())
			history.Record(g.ID, g.LoadedAt, g.Table.Functions())
		},
		OnRejected: func([]string) { stats.ConfigRejected() },
	})
	files, _ := runtimeconfig.ReadFiles(cfg.ConfigDir) // only to point at lines if the build fails
	if _, err := gens.Apply(configwatch.Snapshot{Config: seeded.Config, Files: files, ReadAt: time.Now()}); err != nil {
		return fmt.Errorf("runtime config in %s: %w", cfg.ConfigDir, err)
	}
	watcher := configwatch.New(cfg.ConfigDir, configwatch.Options{
		Interval: cfg.ReloadInterval,
		Initial:  &seeded.Config,
		// A set that does not even decode never reaches gens: record it
		// there, so a deploy waiting for it learns why.
		OnRejected: func(problems []string) { stats.ConfigRejected(); gens.Reject("", problems) },
		Logger:     log,
	})

	// With the Runtime API, function runtimes ask the gateway for events
	// themselves; its server runs apart from the public one: it is only
	// for the platform network, and its polls wait as long as a container
	// is idle.
	var runtimes *runtimeapi.Server
	var runtimeServer *http.Server
	var runtimeLn net.Listener
	if cfg.RuntimeAPIListen != "" {
		runtimes = runtimeapi.New(runtimeapi.Options{Logger: log})
		runtimeServer = &http.Server{
			Handler:           runtimes.Handler(),
			ReadHeaderTimeout: 10 * time.Second,
			ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		}
		if runtimeLn, err = net.Listen("tcp", cfg.RuntimeAPIListen); err != nil {
			return fmt.Errorf("listen on %s: %w", cfg.RuntimeAPIListen, err)
		}
		defer runtimeLn.Close() // when serving never started
	}
	invOpts := lambdainvoke.Options{MaxQueueWait: cfg.MaxQueueWait, AccountConcurrency: cfg.AccountConcurrency,
		StartsPerFunction: cfg.StartsPerFunction, StartsPerNode: cfg.StartsPerNode, Runtimes: runtimes, Logger: log}
	if shipper != nil {
		env := strings.ToLower(cfg.Env) // as the agent names it in function lines
		invOpts.FunctionLog = func(spec agentapi.FunctionSpec, container string, at time.Time, line string) {
			shipper.Send(logship.FunctionLine(env, spec.Name, container, "stdout", line, at))
		}
	}
	invoker = lambdainvoke.New(agent, invOpts)
	invoker.SetReserved(gens.Current().Table.Functions())
	var accessLog func(map[string]any)
	if shipper != nil {
		accessLog = shipper.Send
	}
	// Event invocations outlive their requests; they get the drain deadline
	// after the listener closes, then are cut off.
	bgCtx, endBackground := context.WithCancel(context.WithoutCancel(ctx))
	defer endBackground()
	var asyncQueue httpapi.AsyncQueue
	if cfg.EventsURL != "" {
		asyncQueue = &eventsapi.Client{BaseURL: cfg.EventsURL, HTTP: &http.Client{}}
	}
	// The Invoke API and AWS_IAM routes accept the env's root key and the
	// key of each function of the live generation.
	verifier := sigv4.New(sigv4.NewKeyring(cfg.RootKey, gens), cfg.Region, sigv4.Options{MaxBodyBytes: lambdainvoke.MaxPayload})
	server := httpapi.New(bgCtx, gens, stats.Invoker(invoker), httpapi.Options{
		AsyncQueue: asyncQueue,
		Region:     cfg.Region,
		AccountID:  cfg.AccountID,
		Env:        cfg.Env,
		Auth:       auth.New(cfg.ConfigDir, auth.Options{Logger: log}),
		Verifier:   verifier,
		AccessLog:  accessLog,
		Logger:     log,
	})
	httpServer := &http.Server{
		Handler:           server.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       cfg.BodyReadTimeout,
		MaxHeaderBytes:    maxRequestHead,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	// The admin listener: its own server, as the Runtime API's, since it
	// is for the operator alone (compose publishes it on host loopback).
	var adminServer *http.Server
	var adminLn net.Listener
	if cfg.AdminListen != "" {
		adm := admin.New(admin.Options{
			Env: cfg.Env, Generations: gens, Metrics: stats, Load: invoker, Agent: agent, AgentSync: pusher.Status,
			History: history, ConfigDir: cfg.ConfigDir,
			LogsURL: cfg.LogsURL, LogEnv: strings.ToLower(cfg.Env), HTTP: &http.Client{}, Logger: log,
		})
		adminServer = &http.Server{
			Handler:           adm.Handler(),
			ReadHeaderTimeout: 10 * time.Second,
			WriteTimeout:      30 * time.Second,
			ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		}
		if adminLn, err = net.Listen("tcp", cfg.AdminListen); err != nil {
			return fmt.Errorf("listen on %s: %w", cfg.AdminListen, err)
		}
		defer adminLn.Close() // when serving never started
	}
	// One server, one handler chain, on every listener: internal plain
	// HTTP, the public plain HTTP unless turned off, and HTTPS.
	listeners, certs, err := listen(cfg, log)
	if err != nil {
		return err
	}
	defer closeAll(listeners) // when serving never started

	// The log shipper runs longest, so the access log of the last requests
	// still reaches the log store.
	shipCtx, endShipping := context.WithCancel(context.WithoutCancel(ctx))
	var shipping sync.WaitGroup
	if shipper != nil {
		shipping.Go(func() { _ = shipper.Run(shipCtx) }) // Run returns nil by contract
	}
	defer func() {
		endShipping()
		shipping.Wait()
	}()

	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return watcher.Run(gctx) })
	g.Go(func() error { return gens.Run(gctx, watcher.Snapshots()) })
	g.Go(func() error { return pusher.Run(gctx) })
	g.Go(func() error { return invoker.Run(gctx) })
	for _, ln := range listeners {
		g.Go(func() error {
			if err := httpServer.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
				return fmt.Errorf("serve %s: %w", ln.Addr(), err)
			}
			return nil
		})
	}
	if certs != nil {
		g.Go(func() error { return certs.Run(gctx) })
	}
	if adminServer != nil {
		g.Go(func() error {
			if err := adminServer.Serve(adminLn); !errors.Is(err, http.ErrServerClosed) {
				return fmt.Errorf("serve %s: %w", cfg.AdminListen, err)
			}
			return nil
		})
	}
	if runtimeServer != nil {
		g.Go(func() error {
			if err := runtimeServer.Serve(runtimeLn); !errors.Is(err, http.ErrServerClosed) {
				return fmt.Errorf("serve %s: %w", cfg.RuntimeAPIListen, err)
			}
			return nil
		})
	}
	g.Go(func() error {
		<-gctx.Done()
		log.Info("gateway shutting down", "deadline", shutdownTimeout.String())
		drain, cancel := context.WithTimeout(context.WithoutCancel(gctx), shutdownTimeout)
		defer cancel()
		var errs []error
		if err := httpServer.Shutdown(drain); err != nil {
			errs = append(errs, fmt.Errorf("drain requests: %w", err))
		}
		if err := server.Wait(drain); err != nil {
			errs = append(errs, err)
		}
		endBackground()
		if adminServer != nil {
			adminServer.Close() // nothing to drain: pages and scrapes
		}
		if runtimeServer != nil {
			// Every invocation is over: what is left are idle runtimes' polls.
			runtimeServer.Close()
		}
		return errors.Join(errs...)
	})
	first := gens.Current()
	log.Info("gateway listening", "addr", listeners[0].Addr().String(), "public", listenerAddrs(listeners[1:]), "config_dir", cfg.ConfigDir, "agent", cfg.AgentURL,
		"generation", first.ID, "functions", first.Table.FunctionCount(), "routes", first.Table.RouteCount(), "apis", first.Table.APIs(),
		"reload_interval", cfg.ReloadInterval.String(), "runtime_api", runtimeAddr(runtimeLn), "admin", runtimeAddr(adminLn))
	err = g.Wait()
	gens.Close()
	if shipper != nil && shipper.Dropped() > 0 {
		log.Warn("log entries dropped while shipping", "dropped", shipper.Dropped())
	}
	return err
}

// loadOf reads the invoker's load once it exists: the metrics are made
// before it (they count the first generation), the invoker after.
type loadOf struct{ inv **lambdainvoke.Invoker }

func (l loadOf) Load() []lambdainvoke.FunctionLoad {
	if *l.inv == nil {
		return nil
	}
	return (*l.inv).Load()
}

// runtimeAddr is where a listener that may be off listens, for the log:
// "" when off.
func runtimeAddr(ln net.Listener) string {
	if ln == nil {
		return ""
	}
	return ln.Addr().String()
}
