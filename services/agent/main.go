// Command agent owns the function containers of one ESB env: it alone
// holds the container runtime's socket, serves the internal agentapi to the
// gateway, and ships function logs. See internal/agentapi for the API and
// ARCHITECTURE.md for its place in the platform.
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"sync"
	"syscall"
	"time"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/docker/docker/client"
	"golang.org/x/sync/errgroup"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/klog/v2"

	"github.com/esb-dev/esb/internal/agentapi"
	"github.com/esb-dev/esb/internal/logship"
	"github.com/esb-dev/esb/services/agent/agentmetrics"
	"github.com/esb-dev/esb/services/agent/cgroupmem"
	"github.com/esb-dev/esb/services/agent/containerdruntime"
	"github.com/esb-dev/esb/services/agent/cpugroup"
	"github.com/esb-dev/esb/services/agent/dockerruntime"
	"github.com/esb-dev/esb/services/agent/engine"
	"github.com/esb-dev/esb/services/agent/executable"
	"github.com/esb-dev/esb/services/agent/fnlogs"
	"github.com/esb-dev/esb/services/agent/kubernetesruntime"
	"github.com/esb-dev/esb/services/agent/launcher"
	"github.com/esb-dev/esb/services/agent/pool"
	"github.com/esb-dev/esb/services/agent/server"
)

const (
	// startupTimeout bounds the checks against the runtime before serving.
	startupTimeout = 30 * time.Second
	// shutdownTimeout bounds in-flight requests (a cold start) at shutdown.
	shutdownTimeout = 8 * time.Second
	// drainTimeout bounds removing the function containers at a graceful
	// stop; with shutdownTimeout it stays under the agent's stop grace in
	// compose (30 s). Removals left undone when compose kills the agent
	// keep the env's network in use, and `compose down` then leaves it
	// behind with a warning: 5 s was too short for 20-odd containers,
	// each with its prepared namespace, on a busy 2-core node.
	drainTimeout = 20 * time.Second
)

func main() {
	logger := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if len(os.Args) > 1 && os.Args[1] == "pull" {
		if err := runPull(ctx, os.Args[2:], os.Stdout, logger); err != nil {
			fmt.Fprintln(os.Stderr, "agent pull:", err)
			stop()
			os.Exit(1)
		}
		return
	}
	if err := runMain(ctx, logger); err != nil {
		logger.Error("agent stopped", "error", err)
		stop()
		os.Exit(1)
	}
}

func runMain(ctx context.Context, logger *slog.Logger) error {
	cfg, err := loadConfig(os.Getenv)
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	startCtx, cancel := context.WithTimeout(ctx, startupTimeout)
	defer cancel()
	rt, closeRuntime, err := newRuntime(startCtx, cfg, logger)
	if err != nil {
		return err
	}
	defer closeRuntime()
	if pooled, ok := rt.(interface{ Run(context.Context) }); ok {
		// The pool of prepared network namespaces (docker and containerd
		// mode). It stops with the stop signal, not after serving: what
		// it prepared goes while the HTTP server drains (a start in the
		// drain makes its own namespace), so that the whole stop stays
		// inside compose's grace period. A docker-mode holder left by a
		// killed agent would keep the env's network from being removed.
		poolCtx, stopPool := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { defer close(done); pooled.Run(poolCtx) }()
		// Emptied before the engine's client closes.
		defer func() { stopPool(); <-done }()
	}
	if k, ok := rt.(*kubernetesruntime.Runtime); ok && cfg.FunctionMemoryMB == 0 {
		// The cluster's nodes run the functions, not this host; they
		// reserve their own share (allocatable is what is left).
		if cfg.FunctionMemoryMB = k.AllocatableMemoryMB(); cfg.FunctionMemoryMB == 0 {
			return errors.New("function memory: no ready node (matching KUBE_NODE_SELECTOR) reports allocatable memory; set FUNCTION_MEMORY")
		}
	}
	if cfg.FunctionMemoryMB == 0 {
		f, err := os.Open("/proc/meminfo")
		if err != nil {
			return fmt.Errorf("node memory (set FUNCTION_MEMORY): %w", err)
		}
		total, err := memTotalMB(f)
		f.Close()
		if err != nil {
			return fmt.Errorf("node memory (set FUNCTION_MEMORY): %w", err)
		}
		cfg.FunctionMemoryMB = int(float64(total) * functionMemoryShare)
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen %s: %w", cfg.Listen, err)
	}
	// Every call to the engine gets a deadline: a hung daemon fails one
	// call, not the agent.
	return run(ctx, cfg, engine.WithDeadlines(rt, engine.Deadlines{}), ln, logger)
}

// setCPUGroup gives group, which holds the node's function containers,
// the node's CPU weight (package cpugroup), and reports whether it did.
func setCPUGroup(root, group string, logger *slog.Logger) bool {
	file, value, err := cpugroup.Set(root, group, runtime.NumCPU())
	if err != nil {
		logger.Warn("function CPU group not set: function containers weigh little against the engine's own threads, so a burst's cold starts can delay warm functions",
			"group", group, "error", err)
		return false
	}
	logger.Info("function CPU group", "group", group, "file", file, "value", value)
	return true
}

// dockerCPUGroup returns the cgroup parent of docker-mode function
// containers, /<brand>, once it has the node's CPU weight; empty (Docker's
// default parent) where it cannot have it: with the systemd cgroup driver
// a parent must be a systemd slice, which systemd manages.
func dockerCPUGroup(ctx context.Context, docker *client.Client, cfg config, logger *slog.Logger) string {
	info, err := docker.Info(ctx)
	if err != nil {
		logger.Warn("function CPU group not set: docker info", "error", err)
		return ""
	}
	if info.CgroupDriver != "cgroupfs" {
		logger.Warn("function CPU group not set: function containers stay under Docker's default cgroup parent", "cgroup_driver", info.CgroupDriver)
		return ""
	}
	group := "/" + cfg.Brand
	if !setCPUGroup(cfg.CgroupRoot, group, logger) {
		return ""
	}
	return group
}

// newRuntime connects to the runtime CONTAINER_RUNTIME names; the
// returned func closes its client.
func newRuntime(ctx context.Context, cfg config, logger *slog.Logger) (engine.Runtime, func(), error) {
	switch cfg.Runtime {
	case "containerd":
		cc := cfg.Containerd
		network, err := containerdruntime.NewCNI(containerdruntime.CNIConfig{
			PluginDirs: cc.CNIPlugins,
			Bridge:     cc.CNIBridge,
			Subnet:     cc.CNISubnet,
			DataDir:    cc.CNIDataDir,
		})
		if err != nil {
			return nil, nil, err
		}
		client, err := containerd.New(cc.Address)
		if err != nil {
			return nil, nil, fmt.Errorf("containerd client %s: %w", cc.Address, err)
		}
		if cfg.CgroupRoot != "" {
			// containerd puts a task's cgroup at /<namespace>/<id>.
			setCPUGroup(cfg.CgroupRoot, "/"+cc.Namespace, logger)
		}
		rt, err := containerdruntime.New(ctx, client, network, containerdruntime.Config{
			Namespace:    cc.Namespace,
			DataDir:      cc.DataDir,
			PlainHTTP:    cc.PlainHTTP,
			HostNames:    functionHostNames(cfg.Platform),
			JoinStderr:   cc.JoinStderr,
			Sandboxinit:  cfg.Sandboxinit,
			RegistryAuth: cfg.RegistryAuth,
		}, containerdruntime.Options{Logger: logger, NetnsPool: cfg.NetnsPool})
		if err != nil {
			client.Close()
			return nil, nil, err
		}
		return rt, func() { client.Close() }, nil
	case "kubernetes":
		kc := cfg.Kubernetes
		rest, err := kubernetesClientConfig(kc.Kubeconfig)
		if err != nil {
			return nil, nil, err
		}
		// client-go reports through klog (a lost watch, a retry): into the
		// agent's JSON log, not as plain lines on stderr.
		klog.SetSlogLogger(logger.With("component", "client-go"))
		client, err := kubernetesruntime.NewAPI(rest)
		if err != nil {
			return nil, nil, err
		}
		rt, err := kubernetesruntime.New(ctx, client, kubernetesruntime.Config{
			Namespace:     kc.Namespace,
			Registry:      kc.Registry,
			RegistryNames: kc.RegistryNames,
			RegistryAuth:  cfg.RegistryAuth,
			NodeSelector:  kc.NodeSelector,
			Selector: map[string]string{
				agentapi.LabelManaged: "true",
				agentapi.LabelBrand:   cfg.Brand,
				agentapi.LabelEnv:     cfg.Env,
			},
		}, kubernetesruntime.Options{Logger: logger})
		if err != nil {
			return nil, nil, err
		}
		return rt, rt.Close, nil
	default:
		// The volume is how function containers see it: the agent's own
		// files are not on the host.
		if _, err := executable.Place(cfg.Sandboxinit, filepath.Join(cfg.SandboxDir, "sandboxinit")); err != nil {
			return nil, nil, fmt.Errorf("sandbox volume: %w", err)
		}
		docker, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
		if err != nil {
			return nil, nil, fmt.Errorf("docker client: %w", err)
		}
		opts := dockerruntime.Options{SandboxVolume: cfg.SandboxVolume, RegistryAuth: cfg.RegistryAuth, Logger: logger}
		if cfg.CgroupRoot != "" {
			opts.CgroupParent = dockerCPUGroup(ctx, docker, cfg, logger)
			if opts.Cgroups, err = cgroupmem.New(cfg.CgroupRoot, opts.CgroupParent); err != nil {
				docker.Close()
				return nil, nil, fmt.Errorf("HOST_CGROUP_ROOT: %w", err)
			}
		}
		if cfg.NetnsPool > 0 {
			// Holders run the agent's own image, which is on the host
			// wherever the agent runs, air-gapped sites included.
			if image, err := ownImage(ctx, docker); err != nil {
				logger.Warn("netns holder pool off: cannot tell the agent's own image", "error", err)
			} else {
				opts.NetnsPool, opts.HolderImage = cfg.NetnsPool, image
				opts.HolderLabels = map[string]string{agentapi.LabelManaged: "true", agentapi.LabelBrand: cfg.Brand, agentapi.LabelEnv: cfg.Env}
				opts.HolderPrefix = cfg.Brand + "-" + cfg.Env + "-netns-"
				logger.Info("netns holder pool", "size", cfg.NetnsPool, "image", image)
			}
		}
		rt, err := dockerruntime.New(ctx, docker, cfg.Network, opts)
		if err != nil {
			docker.Close()
			return nil, nil, err
		}
		return rt, func() { docker.Close() }, nil
	}
}

// kubernetesClientConfig reads a kubeconfig file, or the in-cluster
// config when path is empty. The client's rate limit is raised from
// client-go's 5 requests/s: a burst of cold starts makes a create, a
// get and a delete each. No client timeout: log streams and the watch
// last; every other call gets engine.WithDeadlines' bound.
func kubernetesClientConfig(path string) (*rest.Config, error) {
	var cfg *rest.Config
	var err error
	if path == "" {
		cfg, err = rest.InClusterConfig()
	} else {
		cfg, err = clientcmd.BuildConfigFromFlags("", path)
	}
	if err != nil {
		return nil, fmt.Errorf("kubernetes client config (KUBECONFIG %q): %w", path, err)
	}
	cfg.QPS, cfg.Burst = 50, 100
	cfg.UserAgent = "esb-agent"
	return cfg, nil
}

// run serves the agent on ln until ctx ends. Shutdown goes outside in: the
// HTTP server drains first, then the pool stops (its starts still follow
// logs), then the log followers, and the shipper flushes last.
func run(ctx context.Context, cfg config, rt engine.Runtime, ln net.Listener, logger *slog.Logger) error {
	var sink fnlogs.Sink
	var shipping sync.WaitGroup
	shipCtx, stopShipping := context.WithCancel(context.WithoutCancel(ctx))
	defer func() {
		stopShipping()
		shipping.Wait()
	}()
	if cfg.LogsURL != "" {
		shipper := logship.New(cfg.LogsURL, logship.Options{Logger: logger})
		sink = shipper
		shipping.Go(func() { _ = shipper.Run(shipCtx) }) // Run always returns nil
	}

	logsCtx, stopLogs := context.WithCancel(context.WithoutCancel(ctx))
	logs := fnlogs.New(logsCtx, rt, fnlogs.Options{Sink: sink, Env: cfg.Env, Logger: logger})
	defer func() {
		stopLogs()
		logs.Wait()
	}()

	metrics := agentmetrics.New()
	l := launcher.New(rt, launcher.Config{
		Brand:        cfg.Brand,
		Env:          cfg.Env,
		PullPolicy:   cfg.PullPolicy,
		StartTimeout: cfg.StartTimeout,
		Platform:     cfg.Platform,
		Sandbox:      cfg.Sandbox,
	}, launcher.Options{Logs: logs, Logger: logger, OnPull: metrics.Pulled})
	p := pool.New(context.WithoutCancel(ctx), l, pool.Options{
		MemoryBudget:       cfg.FunctionMemoryMB,
		AccountConcurrency: cfg.AccountConcurrency,
		Metrics:            metrics,
		Logger:             logger,
	})
	metrics.WatchContainers(p)
	defer func() {
		if cfg.KeepOnStop {
			p.Close()
			return
		}
		// Runs after the HTTP server drained: no invocation is in flight.
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), drainTimeout)
		defer cancel()
		if err := p.Drain(dctx); err != nil {
			logger.Error("remove function containers at stop", "error", err)
		}
	}()

	adoptCtx, cancel := context.WithTimeout(ctx, startupTimeout+cfg.StartTimeout)
	defer cancel()
	if err := p.Adopt(adoptCtx); err != nil {
		return err
	}

	var token string
	if cfg.TokenFile == "" {
		logger.Warn("AUTH_TOKEN_FILE not set: the agent API is unauthenticated")
	} else {
		t, err := agentapi.NewToken(cfg.TokenFile)
		if err != nil {
			return err
		}
		token = t
	}

	polls, endPolls := context.WithCancel(context.WithoutCancel(ctx))
	defer endPolls()
	serverOpts := server.Options{Runtime: rt.Name(), Logger: logger, Polls: polls, Token: token, Metrics: metrics.Handler()}
	// Under the deadlines: the pool is the runtime's own, not an engine call.
	if prepared, ok := engine.Unwrap(rt).(interface{ Prepared() int }); ok {
		serverOpts.Prepared = prepared.Prepared
	}
	srv := &http.Server{
		Handler:           server.New(p, serverOpts),
		ReadHeaderTimeout: 10 * time.Second,
	}
	srv.RegisterOnShutdown(endPolls)
	logger.Info("agent serving", "listen", ln.Addr().String(), "runtime", rt.Name(), "brand", cfg.Brand, "env", cfg.Env,
		"network", cfg.Network, "function_memory_mb", cfg.FunctionMemoryMB, "account_concurrency", cfg.AccountConcurrency, "sealed", cfg.Sandbox != nil, "egress", cfg.Sandbox != nil && cfg.Sandbox.Egress, "pull_policy", string(cfg.PullPolicy), "logs", cfg.LogsURL != "")
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return p.Run(gctx, cfg.ReapInterval) })
	g.Go(func() error {
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("serve %s: %w", ln.Addr(), err)
		}
		return nil
	})
	g.Go(func() error {
		<-gctx.Done()
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
		defer cancel()
		if err := srv.Shutdown(sctx); err != nil {
			// Requests still running after the grace period are cut; the
			// pool's close ends their starts.
			logger.Warn("http server shutdown cut requests", "error", err)
			return srv.Close()
		}
		return nil
	})
	return g.Wait()
}

// ownImage is the image of the container the agent runs in: Docker names
// a container's hostname after its ID.
func ownImage(ctx context.Context, docker *client.Client) (string, error) {
	host, err := os.Hostname()
	if err != nil {
		return "", err
	}
	self, err := docker.ContainerInspect(ctx, host)
	if err != nil {
		return "", fmt.Errorf("inspect own container %s: %w", host, err)
	}
	if self.Config == nil || self.Config.Image == "" {
		return "", fmt.Errorf("own container %s: no image", host)
	}
	return self.Config.Image, nil
}
