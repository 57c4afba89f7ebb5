// Package compose drives one env's compose project: it knows where the
// compose files are, runs `docker compose` with the env's variables, and
// lists the project's containers through the Docker API.
package compose

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/client"

	"github.com/esb-dev/esb/internal/platform"
)

// The function runtimes a project can run on; each has its compose file,
// compose/docker-compose.<mode>.yml.
const (
	ModeDocker     = "docker"
	ModeContainerd = "containerd"
	ModeKubernetes = "kubernetes"
)

// Modes lists the function runtimes.
func Modes() []string { return []string{ModeDocker, ModeContainerd, ModeKubernetes} }

// CheckMode rejects a mode without a compose file.
func CheckMode(mode string) error {
	if slices.Contains(Modes(), mode) {
		return nil
	}
	m := Modes()
	return fmt.Errorf("mode %q: want %s or %s", mode, strings.Join(m[:len(m)-1], ", "), m[len(m)-1])
}

// Project is one env's compose project.
type Project struct {
	Dir    string // repository root: holds docker-compose.yml and compose/
	Mode   string // docker, containerd or kubernetes
	Layout platform.Layout
	// Environ is the base environment of compose commands, os.Environ()
	// at the edge; the env's variables are added on top.
	Environ []string
}

// Files are the compose files of the project's mode, as the E2E contract
// and deploy use them: never through the root file's include.
func (p Project) Files() []string {
	return []string{
		filepath.Join(p.Dir, "compose", "docker-compose.infra.yml"),
		filepath.Join(p.Dir, "compose", "docker-compose."+p.Mode+".yml"),
	}
}

// Command returns `docker compose -f infra -f <mode> <args...>` for the
// env, not yet started.
func (p Project) Command(ctx context.Context, args ...string) *exec.Cmd {
	// No --project-directory: it would resolve the files' relative build
	// contexts (..) against it instead of against each file's own folder.
	full := []string{"compose"}
	for _, f := range p.Files() {
		full = append(full, "-f", f)
	}
	cmd := exec.CommandContext(ctx, "docker", append(full, args...)...)
	cmd.Dir = p.Dir
	cmd.Env = append([]string{}, p.Environ...)
	for _, v := range p.Layout.Vars() {
		cmd.Env = append(cmd.Env, v.Name+"="+v.Value)
	}
	return cmd
}

// Run runs a compose command with its output going to out.
func (p Project) Run(ctx context.Context, out io.Writer, args ...string) error {
	cmd := p.Command(ctx, args...)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("docker compose %s: %w", strings.Join(args, " "), err)
	}
	return nil
}

// FindDir locates the repository root holding the compose files: the
// explicit dir when given, else the first of the start dirs or one of their
// parents that has compose/docker-compose.infra.yml.
func FindDir(explicit string, start ...string) (string, error) {
	if explicit != "" {
		if !isProjectDir(explicit) {
			return "", fmt.Errorf("%s has no compose/docker-compose.infra.yml", explicit)
		}
		return filepath.Abs(explicit)
	}
	for _, s := range start {
		dir, err := filepath.Abs(s)
		if err != nil {
			continue
		}
		for {
			if isProjectDir(dir) {
				return dir, nil
			}
			parent := filepath.Dir(dir)
			if parent == dir {
				break
			}
			dir = parent
		}
	}
	return "", errors.New("cannot find the ESB compose files (compose/docker-compose.infra.yml) above the current or template directory: pass --project-dir or set ESB_PROJECT_DIR")
}

func isProjectDir(dir string) bool {
	st, err := os.Stat(filepath.Join(dir, "compose", "docker-compose.infra.yml"))
	return err == nil && !st.IsDir()
}

// Containers lists the containers of a compose project by its label.
func Containers(ctx context.Context, api client.APIClient, project string) ([]platform.ContainerState, error) {
	list, err := api.ContainerList(ctx, container.ListOptions{
		All:     true,
		Filters: filters.NewArgs(filters.Arg("label", "com.docker.compose.project="+project)),
	})
	if err != nil {
		return nil, fmt.Errorf("list containers of %s: %w", project, err)
	}
	out := make([]platform.ContainerState, 0, len(list))
	for _, ct := range list {
		out = append(out, platform.ContainerState{
			Service: ct.Labels["com.docker.compose.service"],
			State:   string(ct.State),
			Health:  healthFromStatus(ct.Status),
		})
	}
	return out, nil
}

// healthFromStatus reads the health the list API puts in the status text,
// e.g. "Up 3 minutes (healthy)", saving one inspect call per container.
func healthFromStatus(status string) string {
	for _, h := range []string{"unhealthy", "healthy", "health: starting"} {
		if strings.Contains(status, "("+h+")") {
			return strings.TrimPrefix(h, "health: ")
		}
	}
	return ""
}
