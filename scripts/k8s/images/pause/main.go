// Command pause is the sandbox ("pause") container of the local Kubernetes
// cluster (scripts/k8s/cluster.sh): it holds a Pod's namespaces open, reaps
// zombies (it is PID 1 of the Pod when the PID namespace is shared) and exits
// on SIGTERM/SIGINT. The machine is offline, so registry.k8s.io/pause cannot
// be pulled: cluster.sh builds this into a FROM-scratch image and imports it
// into each node's containerd.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGCHLD)
	for s := range sigs {
		if s != syscall.SIGCHLD {
			os.Exit(0)
		}
		reap()
	}
}

// reap collects every exited child without blocking.
func reap() {
	for {
		var ws syscall.WaitStatus
		if pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil); pid <= 0 || err != nil {
			return
		}
	}
}
