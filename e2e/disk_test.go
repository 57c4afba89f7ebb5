//go:build e2e

package e2e

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/client"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/esb-dev/esb/internal/agentapi"
	"github.com/esb-dev/esb/internal/registry"
	"github.com/esb-dev/esb/internal/registrygc"
	"github.com/esb-dev/esb/services/agent/dockerruntime"
)

// diskFlow checks issue 17's bounds on disk and leftovers in an env that
// has deployed PeerFunction (TestSandbox's): 100 images pushed to the
// function's repository leave the registry where it was once pruned, the
// deployed image survives the prune (untagged, as after a rolled-back
// deploy) and still runs; and a SIGKILLed agent leaks no container.
func diskFlow(t *testing.T, s *stack, invoke func(t *testing.T, function string, event any) []byte) {
	ctx := t.Context()
	docker := dockerClient(t)
	reg := s.registry(t)
	project := s.layout.Env.Project()
	id, err := registrygc.FindRegistry(ctx, docker, project)
	require.NoError(t, err)
	storage := registrygc.DockerStorage{API: docker, Container: id}

	t.Run("100 pushes of a changing function leave the registry within a bound once pruned", func(t *testing.T) {
		res := s.esb(ctx, t, "prune", "registry")
		require.NoError(t, res.err, res.stderr)
		base, err := storage.Usage(ctx)
		require.NoError(t, err)

		peer := s.config(t).Functions.Functions["PeerFunction"]
		keep, err := registrygc.Referenced(s.config(t))
		require.NoError(t, err)
		var repo, tag string
		for _, img := range keep {
			if img.Digest == peer.Digest {
				repo, tag = img.Repo, img.Tag
			}
		}
		require.NotEmpty(t, repo, "PeerFunction's image in functions.yml")

		// Each push is a new image under the function's tag, as a deploy
		// of changed code is: a 128 KiB layer of its own and a config.
		const pushes, layerBytes = 100, 128 << 10
		start := time.Now()
		for i := range pushes {
			pushChurnImage(ctx, t, reg, repo, tag, i, layerBytes)
		}
		t.Logf("%d pushes in %.1fs", pushes, time.Since(start).Seconds())
		churned, err := storage.Usage(ctx)
		require.NoError(t, err)
		require.GreaterOrEqual(t, churned.Bytes-base.Bytes, int64(pushes*layerBytes), "the pushes took space")
		_, tagged, err := reg.Manifest(ctx, repo, tag)
		require.NoError(t, err)
		require.True(t, tagged)

		res = s.esb(ctx, t, "prune", "registry")
		require.NoError(t, res.err, res.stderr)
		// One manifest the tag pointed at, deleted by the prune; the 99
		// the tag had moved away from, untagged, by the collection.
		assert.Contains(t, res.stdout, fmt.Sprintf("deleted %d manifests (1 tagged, %d untagged)", pushes, pushes-1))
		after, err := storage.Usage(ctx)
		require.NoError(t, err)
		t.Logf("registry: %d KiB in %d blobs, %d entries pruned; %d KiB in %d blobs, %d entries after %d pushes; %d KiB in %d blobs, %d entries pruned again",
			base.Bytes>>10, base.Blobs, base.Entries, churned.Bytes>>10, churned.Blobs, churned.Entries, pushes, after.Bytes>>10, after.Blobs, after.Entries)
		assert.Equal(t, base.Blobs, after.Blobs, "every pushed blob reclaimed, no other")
		// Every file and directory the pushes made is gone (the deployed
		// image's keep tag replaces the tag the pushes took over, entry
		// for entry): nothing accumulates per deploy.
		assert.Equal(t, base.Entries, after.Entries, "every file and directory the pushes made removed")
		// What du may still count: ext4 does not shrink a directory file
		// once emptied, and the pushes put 200 layer links and 100
		// revisions (72 bytes a directory entry) into two directories of
		// the repository: about 16 KiB more. Bounded: a directory grows to
		// the most entries it held at once, not with the deploys.
		assert.LessOrEqual(t, after.Bytes, base.Bytes+64<<10, "back within 64 KiB of the pruned size")

		// The deployed image is whole: its manifest and every blob.
		assertPullable(ctx, t, reg, repo, peer.Digest)
		tags, err := reg.Tags(ctx, repo)
		require.NoError(t, err)
		assert.Equal(t, []string{registrygc.KeepTagPrefix + strings.TrimPrefix(peer.Digest, "sha256:")[:32]}, tags,
			"the deployed image, untagged by the pushes, kept under a keep tag")
	})

	t.Run("a SIGKILLed agent leaks no container and serves again", func(t *testing.T) {
		invoke(t, "PeerFunction", map[string]any{}) // a warm container
		crash(ctx, t, docker, serviceContainer(ctx, t, docker, s, "agent"))
		// Compose's restart policy brings it back; the next cold start
		// pulls the pruned registry's image in containerd mode.
		out := invoke(t, "PeerFunction", map[string]any{})
		assert.Contains(t, string(out), "ip")
		require.NoError(t, poll(ctx, time.Second, 60*time.Second, func() error {
			// The gateway may have answered from a container it held warm
			// while the agent is still coming back: not serving is a retry.
			h, err := agentHealth(ctx, s)
			if err != nil {
				return err
			}
			known := agentContainers(h)
			if running := runtimeContainers(ctx, t, s); known != running {
				return fmt.Errorf("the agent knows %d function containers, the runtime runs %d", known, running)
			}
			// What the killed agent had prepared went with it (docker
			// mode: removed by the next agent; containerd mode: released
			// from its ledger).
			if h.Prepared == 0 && os.Getenv("ESB_NETNS_POOL") != "0" {
				return errors.New("the new agent has prepared no network namespace yet")
			}
			if n, err := netnsLeaked(ctx, t, s, h); err != nil || n != 0 {
				return fmt.Errorf("network namespaces beyond containers and the agent's %d prepared: %d (%v)", h.Prepared, n, err)
			}
			return nil
		}))
	})
}

// pushChurnImage pushes image number i (a random layer of size bytes and its
// config) to repo:tag over the registry API.
func pushChurnImage(ctx context.Context, t *testing.T, reg registry.Client, repo, tag string, i, size int) {
	t.Helper()
	layer := make([]byte, size)
	_, _ = rand.Read(layer)
	layerDigest, err := reg.PushBlob(ctx, repo, layer)
	require.NoError(t, err)
	config, err := json.Marshal(map[string]any{
		"architecture": "amd64", "os": "linux",
		"config": map[string]any{"Labels": map[string]string{"push": strconv.Itoa(i)}},
		"rootfs": map[string]any{"type": "layers", "diff_ids": []string{layerDigest}},
	})
	require.NoError(t, err)
	configDigest, err := reg.PushBlob(ctx, repo, config)
	require.NoError(t, err)
	manifest, err := json.Marshal(map[string]any{
		"schemaVersion": 2,
		"mediaType":     "application/vnd.oci.image.manifest.v1+json",
		"config":        map[string]any{"mediaType": "application/vnd.oci.image.config.v1+json", "digest": configDigest, "size": len(config)},
		"layers":        []any{map[string]any{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": layerDigest, "size": size}},
	})
	require.NoError(t, err)
	_, err = reg.PutManifest(ctx, repo, tag, "application/vnd.oci.image.manifest.v1+json", manifest)
	require.NoError(t, err)
}

// assertPullable checks that repo@digest's manifest and every blob it
// names (an index's manifests too) are served.
func assertPullable(ctx context.Context, t *testing.T, reg registry.Client, repo, digest string) {
	t.Helper()
	body, _, _, err := reg.GetManifest(ctx, repo, digest)
	require.NoError(t, err)
	var m struct {
		Config    struct{ Digest string }
		Layers    []struct{ Digest string }
		Manifests []struct{ Digest string }
	}
	require.NoError(t, json.Unmarshal(body, &m))
	for _, child := range m.Manifests {
		assertPullable(ctx, t, reg, repo, child.Digest)
	}
	blobs := []string{m.Config.Digest}
	for _, l := range m.Layers {
		blobs = append(blobs, l.Digest)
	}
	for _, b := range blobs {
		if b == "" {
			continue
		}
		ok, err := reg.BlobExists(ctx, repo, b)
		require.NoError(t, err)
		assert.True(t, ok, "blob %s of %s@%s", b, repo, digest)
	}
}

// crash SIGKILLs the main process of container id from the host, as the
// kernel's OOM killer or a crash ends it, and returns when. Not `docker
// kill`: Docker takes that for a manual stop (HasBeenManuallyStopped), and
// the restart policy then leaves the container down for good, which no
// crash does (a SIGKILLed agent stayed down in both modes that way).
func crash(ctx context.Context, t testing.TB, docker client.APIClient, id string) time.Time {
	t.Helper()
	c, err := docker.ContainerInspect(ctx, id)
	require.NoError(t, err)
	require.True(t, c.State.Running && c.State.Pid > 0, "container %s is not running", c.Name)
	killed := time.Now()
	require.NoError(t, syscall.Kill(c.State.Pid, syscall.SIGKILL), "SIGKILL %s (pid %d)", c.Name, c.State.Pid)
	return killed
}

// serviceContainer is the ID of the env's compose service svc.
func serviceContainer(ctx context.Context, t testing.TB, docker client.APIClient, s *stack, svc string) string {
	t.Helper()
	list, err := docker.ContainerList(ctx, container.ListOptions{Filters: filters.NewArgs(
		filters.Arg("label", "com.docker.compose.project="+s.layout.Env.Project()),
		filters.Arg("label", "com.docker.compose.service="+svc),
	)})
	require.NoError(t, err)
	require.Len(t, list, 1, "one %s container", svc)
	return list[0].ID
}

// agentContainers is the number of function containers an agent's health
// accounts for: serving, starting or being removed (the last two are in
// the runtime's list too).
func agentContainers(h agentapi.Health) int { return h.Containers + h.Starting + h.Removing }

// agentHealth is the env's agent's /v1/health, asked from the gateway's
// network namespace (the agent publishes no port).
func agentHealth(ctx context.Context, s *stack) (agentapi.Health, error) {
	agent := "http://agent:9000"
	if s.mode == "containerd" {
		agent = "http://127.0.0.1:9000"
	}
	var h agentapi.Health
	out, err := s.compose(ctx, "exec", "-T", "gateway", "curl", "-fsS", agent+"/v1/health")
	if err != nil {
		return h, fmt.Errorf("agent health: %w: %s", err, out)
	}
	if i := strings.Index(out, "{"); i < 0 || json.Unmarshal([]byte(out[i:]), &h) != nil {
		return h, fmt.Errorf("agent health: not JSON: %s", out)
	}
	return h, nil
}

// netnsLeaked is how many network namespaces the runtime holds beyond
// those of the function containers and the ones the agent has prepared
// (Health.Prepared): in docker mode, netns holders no function container
// runs in; in containerd mode, addresses allocated on the function
// network (each function container has one). A crashed agent must leave
// neither behind: a holder keeps the env's network from being removed, an
// address is lost to the subnet.
func netnsLeaked(ctx context.Context, t testing.TB, s *stack, h agentapi.Health) (int, error) {
	t.Helper()
	if s.mode == "containerd" {
		// host-local IPAM keeps one file per address, named by it.
		out, err := s.compose(ctx, "exec", "-T", "agent", "ls", "-1", "/var/lib/cni/networks/esb-functions")
		if err != nil {
			return 0, fmt.Errorf("list function network addresses: %w: %s", err, out)
		}
		addrs := 0
		for _, name := range strings.Fields(out) {
			if _, err := netip.ParseAddr(name); err == nil {
				addrs++
			}
		}
		return addrs - runtimeContainers(ctx, t, s) - h.Prepared, nil
	}
	list, err := dockerClient(t).ContainerList(ctx, container.ListOptions{All: true, Filters: filters.NewArgs(
		filters.Arg("label", agentapi.LabelEnv+"="+s.layout.Env.Key()))})
	if err != nil {
		return 0, fmt.Errorf("list env containers: %w", err)
	}
	holders := map[string]bool{}
	for _, c := range list {
		if _, holder := c.Labels[dockerruntime.LabelHolder]; holder {
			holders[c.ID] = true
		}
	}
	for _, c := range list {
		if id, ok := strings.CutPrefix(c.HostConfig.NetworkMode, "container:"); ok {
			delete(holders, id) // a function container runs in it
		}
	}
	return len(holders) - h.Prepared, nil
}

// runtimeContainers is the number of the env's function containers the
// runtime holds, running or not: Docker's, or runtime-node's containerd's.
func runtimeContainers(ctx context.Context, t testing.TB, s *stack) int {
	t.Helper()
	if s.mode == "containerd" {
		out, err := s.compose(ctx, "exec", "-T", "runtime-node", "ctr", "-n", s.layout.Env.Brand, "containers", "ls", "-q")
		require.NoError(t, err, out)
		return strings.Count(out, "esb-"+s.layout.Env.Key()+"-fn-")
	}
	list, err := dockerClient(t).ContainerList(ctx, container.ListOptions{All: true, Filters: filters.NewArgs(
		filters.Arg("label", agentapi.LabelEnv+"="+s.layout.Env.Key()))})
	require.NoError(t, err)
	n := 0
	for _, c := range list {
		if _, holder := c.Labels[dockerruntime.LabelHolder]; !holder {
			n++ // a netns holder is no function container
		}
	}
	return n
}
