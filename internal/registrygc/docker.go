package registrygc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/client"
	"github.com/docker/docker/pkg/stdcopy"
)

// registryRoot and registryConfig are where services/registry keeps its
// data and its configuration.
const (
	registryRoot   = "/var/lib/registry"
	registryV2     = registryRoot + "/docker/registry/v2"
	registryConfig = "/etc/distribution/config.yml"
)

// DockerStorage reaches the registry's disk through docker exec in the
// env's registry container (both modes run the registry on Docker).
type DockerStorage struct {
	API       client.APIClient
	Container string // ID or name
}

// FindRegistry returns the registry container of compose project project.
func FindRegistry(ctx context.Context, api client.APIClient, project string) (string, error) {
	list, err := api.ContainerList(ctx, container.ListOptions{Filters: filters.NewArgs(
		filters.Arg("label", "com.docker.compose.project="+project),
		filters.Arg("label", "com.docker.compose.service=registry"),
	)})
	if err != nil {
		return "", fmt.Errorf("find the registry of %s: %w", project, err)
	}
	if len(list) != 1 {
		return "", fmt.Errorf("find the registry of %s: %d running containers (is the env up?)", project, len(list))
	}
	return list[0].ID, nil
}

// Collect implements Storage.
func (s DockerStorage) Collect(ctx context.Context) (Collected, error) {
	out, err := s.exec(ctx, "registry", "garbage-collect", "--delete-untagged", registryConfig)
	if err != nil {
		return Collected{}, fmt.Errorf("registry garbage-collect: %w", err)
	}
	return ParseCollected(out)
}

// RemoveEmptyDirs implements Storage. The paths go to the shell as
// arguments, never as script text; a tree not there yet is skipped.
func (s DockerStorage) RemoveEmptyDirs(ctx context.Context, prefix string) (int, error) {
	if prefix == "" || strings.ContainsAny(prefix, "/.") {
		return 0, fmt.Errorf("registry empty directories: bad repository prefix %q", prefix)
	}
	const script = `n=0
for d in "$@"; do
	[ -d "$d" ] || continue
	found=$(find "$d" -mindepth 1 -type d -empty -print -delete) || exit 1
	[ -z "$found" ] || n=$((n + $(printf '%s\n' "$found" | wc -l)))
done
echo "$n"`
	out, err := s.exec(ctx, "sh", "-c", script, "sh", registryV2+"/repositories/"+prefix, registryV2+"/blobs")
	if err != nil {
		return 0, fmt.Errorf("registry empty directories: %w", err)
	}
	n, err := strconv.Atoi(strings.TrimSpace(out))
	if err != nil {
		return 0, fmt.Errorf("registry empty directories: unexpected output %q", out)
	}
	return n, nil
}

// Usage implements Storage: du of the registry's volume, the count of its
// blob files and of all its entries.
func (s DockerStorage) Usage(ctx context.Context) (Usage, error) {
	out, err := s.exec(ctx, "sh", "-c",
		"du -sk "+registryRoot+" | cut -f1; find "+registryRoot+" -path '*/blobs/*' -name data -type f | wc -l; find "+registryRoot+" -mindepth 1 | wc -l")
	if err != nil {
		return Usage{}, fmt.Errorf("registry disk use: %w", err)
	}
	fields := strings.Fields(out)
	if len(fields) != 3 {
		return Usage{}, fmt.Errorf("registry disk use: unexpected output %q", out)
	}
	kb, err1 := strconv.ParseInt(fields[0], 10, 64)
	blobs, err2 := strconv.Atoi(fields[1])
	entries, err3 := strconv.Atoi(fields[2])
	if err := errors.Join(err1, err2, err3); err != nil {
		return Usage{}, fmt.Errorf("registry disk use: %w", err)
	}
	return Usage{Bytes: kb * 1024, Blobs: blobs, Entries: entries}, nil
}

// exec runs cmd in the container and returns its stdout; a non-zero exit
// is an error carrying its stderr.
func (s DockerStorage) exec(ctx context.Context, cmd ...string) (string, error) {
	created, err := s.API.ContainerExecCreate(ctx, s.Container, container.ExecOptions{Cmd: cmd, AttachStdout: true, AttachStderr: true})
	if err != nil {
		return "", err
	}
	att, err := s.API.ContainerExecAttach(ctx, created.ID, container.ExecAttachOptions{})
	if err != nil {
		return "", err
	}
	defer att.Close()
	var stdout, stderr bytes.Buffer
	done := make(chan error, 1)
	go func() {
		_, err := stdcopy.StdCopy(&stdout, &stderr, att.Reader)
		done <- err
	}()
	select {
	case <-ctx.Done():
		return "", ctx.Err()
	case err := <-done:
		if err != nil {
			return "", err
		}
	}
	insp, err := s.API.ContainerExecInspect(ctx, created.ID)
	if err != nil {
		return "", err
	}
	if insp.ExitCode != 0 {
		return "", fmt.Errorf("%s: exit %d: %s", strings.Join(cmd, " "), insp.ExitCode, strings.TrimSpace(lastLines(stderr.String(), 5)))
	}
	return stdout.String() + stderr.String(), nil
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
