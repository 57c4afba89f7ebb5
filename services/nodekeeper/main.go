// Command nodekeeper keeps the gateway and the agent of a containerd-mode
// env running: they share runtime-node's network and PID namespaces, and
// Docker does not retry a start of such a container that found
// runtime-node down (after a daemon restart, or a crash of runtime-node),
// nor restart one left in runtime-node's dead namespaces. See keeper.
//
// It holds the Docker socket and has no network: nothing can reach it, and
// it runs nothing of a function's. It acts only on containers of its own
// compose project that join the node's namespaces and whose restart policy
// asks for them to run.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/docker/docker/client"
)

func main() {
	log := slog.New(slog.NewJSONHandler(os.Stdout, nil)).With("service", "nodekeeper")
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	if err := run(ctx, log); err != nil {
		log.Error("nodekeeper stopped", "error", err.Error())
		os.Exit(1)
	}
}

func run(ctx context.Context, log *slog.Logger) error {
	interval, err := durationEnv("KEEP_INTERVAL", 2*time.Second)
	if err != nil {
		return err
	}
	node := os.Getenv("NODE_SERVICE")
	if node == "" {
		node = "runtime-node"
	}
	docker, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		return fmt.Errorf("docker client: %w", err)
	}
	defer docker.Close()
	project, err := ownProject(ctx, docker)
	if err != nil {
		return err
	}
	log = log.With("project", project)
	log.Info("keeping the services that join the node's namespaces", "node", node, "interval", interval.String())
	// A joiner left in dead namespaces serves nobody: its clients' connections
	// died with them, so a long drain on SIGTERM would only delay its return.
	k := &keeper{docker: docker, project: project, node: node, stop: 2 * time.Second, log: log}
	k.run(ctx, interval)
	return nil
}

// ownProject is the compose project of the keeper's own container (its
// hostname is the container's ID).
func ownProject(ctx context.Context, docker dockerAPI) (string, error) {
	host, err := os.Hostname()
	if err != nil {
		return "", fmt.Errorf("hostname: %w", err)
	}
	ictx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	self, err := docker.ContainerInspect(ictx, host)
	if err != nil {
		return "", fmt.Errorf("inspect own container %s: %w", host, err)
	}
	project := self.Config.Labels[composeProject]
	if project == "" {
		return "", fmt.Errorf("own container %s has no %s label: nodekeeper runs as a compose service", host, composeProject)
	}
	return project, nil
}

func durationEnv(name string, fallback time.Duration) (time.Duration, error) {
	v := os.Getenv(name)
	if v == "" {
		return fallback, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("%s=%q: want a positive duration such as 2s", name, v)
	}
	return d, nil
}
