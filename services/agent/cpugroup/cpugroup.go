// Package cpugroup gives the cgroup that holds a node's function
// containers the CPU weight of the node's CPUs, as kubelet gives its
// kubepods cgroup the node's allocatable CPU.
//
// Function containers weigh in proportion to their memory, as Lambda
// shares CPU (1,769 MB is one vCPU, 1024 shares): a 128 MB function gets
// 74 shares. That is fair between functions, but left among the engine's
// cgroups a function weighs next to nothing against the platform and the
// engine's own threads (containerd, its shims, runc, dockerd), which are
// busiest exactly when a burst starts containers: a warm function's
// requests then wait behind cold starts of another function. On a 2-core
// cgroup v1 node with every container under Docker's one /docker group
// (weight 1024, as much as a single dockerd or runc thread), the burst
// benchmark's warm function had a p99 of 41-51 ms; in a group of its own
// weighing the node's CPUs, 18-31 ms (3 runs each). In containerd mode,
// where the engine's threads share runtime-node's one cgroup, it made no
// measurable difference. Inside the group each function keeps its
// memory-proportional weight.
package cpugroup

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Default weights of one task: cgroup v1 cpu.shares and v2 cpu.weight.
const (
	sharesPerCPU = 1024
	weightPerCPU = 100
	maxWeight    = 10000 // cgroup v2's bound
)

// Set creates group (an absolute cgroup path such as /esb, the same in
// every hierarchy) under root, the host's cgroup filesystem, and gives it
// the CPU weight of cpus tasks of default weight. It returns the file it
// wrote and the value, for the caller's log.
func Set(root, group string, cpus int) (file string, value int, err error) {
	if cpus < 1 {
		return "", 0, fmt.Errorf("cpu group %s: %d CPUs", group, cpus)
	}
	rel := filepath.Clean("/" + group)
	if rel == "/" || strings.Contains(group, "..") {
		return "", 0, fmt.Errorf("cpu group %q: want a cgroup below the root, such as /esb", group)
	}
	if _, err := os.Stat(filepath.Join(root, "cgroup.controllers")); err == nil {
		return setV2(root, rel, cpus)
	}
	// cgroup v1: the cpu controller's own hierarchy (cpu is a link to
	// cpu,cpuacct where the two are mounted together).
	dir := filepath.Join(root, "cpu", rel)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", 0, fmt.Errorf("cpu group: %w", err)
	}
	file, value = filepath.Join(dir, "cpu.shares"), cpus*sharesPerCPU
	return file, value, write(file, value)
}

// setV2 writes cpu.weight, which exists only where the parent delegates
// the cpu controller: each ancestor's cgroup.subtree_control gets +cpu
// (runc does the same for a container's ancestors).
func setV2(root, rel string, cpus int) (string, int, error) {
	dir := filepath.Join(root, rel)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", 0, fmt.Errorf("cpu group: %w", err)
	}
	parent := root
	for _, part := range strings.Split(strings.Trim(rel, "/"), "/") {
		if err := enableCPU(parent); err != nil {
			return "", 0, err
		}
		parent = filepath.Join(parent, part)
	}
	file, value := filepath.Join(dir, "cpu.weight"), min(cpus*weightPerCPU, maxWeight)
	return file, value, write(file, value)
}

func enableCPU(dir string) error {
	file := filepath.Join(dir, "cgroup.subtree_control")
	b, err := os.ReadFile(file)
	if err != nil {
		return fmt.Errorf("cpu group: %w", err)
	}
	for _, c := range strings.Fields(string(b)) {
		if c == "cpu" {
			return nil
		}
	}
	if err := os.WriteFile(file, []byte("+cpu"), 0); err != nil {
		return fmt.Errorf("cpu group: delegate the cpu controller in %s: %w", dir, err)
	}
	return nil
}

func write(file string, value int) error {
	err := os.WriteFile(file, []byte(strconv.Itoa(value)), 0)
	if errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("cpu group: %s: no cpu controller here: %w", file, err)
	}
	if err != nil {
		return fmt.Errorf("cpu group: %w", err)
	}
	return nil
}
