//go:build e2e

package containerdruntime

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	cerrdefs "github.com/containerd/errdefs"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/esb-dev/esb/internal/syncbuf"
	"github.com/esb-dev/esb/services/agent/engine"
)

// The test runs twice: on the host it builds the runtime-node image, starts
// a runtime node, and runs this same test binary inside a container that
// shares the node's network and PID namespaces, as the agent does in
// containerd mode; there (insideEnv set) it drives the Runtime against
// the node's containerd.
const (
	insideEnv  = "ESB_CONTAINERD_E2E_INSIDE"
	imageEnv   = "ESB_CONTAINERD_E2E_IMAGE" // docker-save tar of the test function image
	joinEnv    = "ESB_CONTAINERD_E2E_JOIN"  // the joinstderr binary
	dataEnv    = "ESB_CONTAINERD_E2E_DATA"  // function data dir, same path on the node
	imageRef   = "esb-containerd-e2e/fn:v1" // tag of the test function image
	nodeImage  = "esb/runtime-node:e2e"     // built from services/runtime-node
	waitFor    = 60 * time.Second
	tick       = 50 * time.Millisecond
	testSubnet = "10.77.0.0/24"
)

func TestContainerdRuntime(t *testing.T) {
	if os.Getenv(insideEnv) == "1" {
		testInsideNode(t)
		return
	}
	runOnNode(t)
}

// runOnNode sets up the runtime node and runs the test binary beside it.
func runOnNode(t *testing.T) {
	ctx := t.Context()
	root, err := filepath.Abs(filepath.Join("..", "..", ".."))
	require.NoError(t, err)
	suffix := strings.ToLower(rand.Text()[:8])
	work := t.TempDir()
	data := filepath.Join(work, "data")
	require.NoError(t, os.MkdirAll(data, 0o755))

	runDocker(t, ctx, "build", "-q", "-t", nodeImage, "-f", filepath.Join(root, "services/runtime-node/Dockerfile"), root)

	// The function image: fnserver as ENTRYPOINT with a default CMD, like a
	// Lambda image whose CMD is the handler.
	imgDir := filepath.Join(work, "image")
	require.NoError(t, os.MkdirAll(imgDir, 0o755))
	goBuild(t, ctx, filepath.Join(imgDir, "fn"), "../testdata/fnserver")
	require.NoError(t, os.WriteFile(filepath.Join(imgDir, "Dockerfile"), []byte("FROM debian:bookworm-slim\nCOPY fn /usr/local/bin/fn\n"+
		"ENV FN_VERSION=v1\nENTRYPOINT [\"/usr/local/bin/fn\"]\nCMD [\"image.default\"]\n"), 0o644))
	tag := imageRef + "-" + suffix
	runDocker(t, ctx, "build", "-q", "-t", tag, imgDir)
	t.Cleanup(func() { _, _ = exec.Command("docker", "rmi", "-f", tag).CombinedOutput() })
	tar := filepath.Join(work, "fn.tar")
	runDocker(t, ctx, "save", "-o", tar, tag)

	goBuild(t, ctx, filepath.Join(work, "joinstderr"), "../joinstderr")

	bin := filepath.Join(work, "runtime.test")
	cmd := exec.CommandContext(ctx, "go", "test", "-c", "-tags", "e2e", "-o", bin, ".")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "compile the test binary: %s", out)

	node := "esb-containerd-e2e-" + suffix
	nested := []string{"--cap-add", "ALL", "--cap-drop", "SYS_RESOURCE", "--security-opt", "seccomp=unconfined",
		"--security-opt", "apparmor=unconfined", "--security-opt", "systempaths=unconfined"}
	args := append([]string{"run", "-d", "--name", node, "--cgroupns", "host", "-v", "/sys/fs/cgroup:/sys/fs/cgroup",
		"-v", node + "-data:/var/lib/containerd", "-v", node + "-run:/run/containerd", "-v", data + ":" + data}, nested...)
	runDocker(t, ctx, append(args, nodeImage)...)
	t.Cleanup(func() {
		_, _ = exec.Command("docker", "rm", "-f", "-v", node).CombinedOutput()
		_, _ = exec.Command("docker", "volume", "rm", node+"-data", node+"-run").CombinedOutput()
	})
	require.Eventually(t, func() bool {
		return exec.CommandContext(ctx, "docker", "exec", node, "ctr", "version").Run() == nil
	}, waitFor, 250*time.Millisecond, "containerd on the runtime node answers")

	// The agent's place: the node's network and PID namespaces, the agent's
	// capabilities, the socket and the data dir.
	inside := []string{"run", "--rm", "--network", "container:" + node, "--pid", "container:" + node,
		"--cap-add", "NET_ADMIN", "--cap-add", "NET_RAW", "--cap-add", "SYS_ADMIN", "--cap-add", "SYS_PTRACE",
		"--security-opt", "seccomp=unconfined", "--security-opt", "apparmor=unconfined", "--security-opt", "systempaths=unconfined",
		"-v", node + "-run:/run/containerd", "-v", data + ":" + data, "-v", work + ":/e2e:ro",
		"-e", insideEnv + "=1", "-e", imageEnv + "=/e2e/fn.tar", "-e", dataEnv + "=" + data, "-e", joinEnv + "=/e2e/joinstderr",
		"--entrypoint", "/e2e/runtime.test", nodeImage, "-test.run", "^TestContainerdRuntime$", "-test.v", "-test.count=1"}
	run := exec.CommandContext(ctx, "docker", inside...)
	var output bytes.Buffer
	run.Stdout, run.Stderr = &output, &output
	err = run.Run()
	for _, line := range strings.Split(strings.TrimRight(output.String(), "\n"), "\n") {
		t.Log("node: " + line)
	}
	require.NoError(t, err, "the test inside the runtime node failed (see node: lines)")
}

func runDocker(t *testing.T, ctx context.Context, args ...string) string {
	t.Helper()
	out, err := exec.CommandContext(ctx, "docker", args...).CombinedOutput()
	require.NoError(t, err, "docker %s: %s", strings.Join(args, " "), out)
	return string(out)
}

func goBuild(t *testing.T, ctx context.Context, out, pkg string) {
	t.Helper()
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, pkg)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	b, err := cmd.CombinedOutput()
	require.NoError(t, err, "build %s: %s", pkg, b)
}

type invocation struct {
	Env   map[string]string `json:"env"`
	Args  []string          `json:"args"`
	Hosts string            `json:"hosts"`
}

// testInsideNode drives the Runtime against the node's containerd.
func testInsideNode(t *testing.T) {
	ctx := t.Context()
	const ns = "esb-e2e"
	client, err := containerd.New("/run/containerd/containerd.sock")
	require.NoError(t, err)
	t.Cleanup(func() { client.Close() })

	f, err := os.Open(os.Getenv(imageEnv))
	require.NoError(t, err)
	imported, err := client.Import(namespaces.WithNamespace(ctx, ns), f)
	f.Close()
	require.NoError(t, err)
	require.NotEmpty(t, imported)
	image := imported[0].Name

	cniDir := t.TempDir()
	network, err := NewCNI(CNIConfig{PluginDirs: []string{"/usr/lib/cni"}, Bridge: "esbe2e0", Subnet: netip.MustParsePrefix(testSubnet), DataDir: cniDir})
	require.NoError(t, err)
	data := os.Getenv(dataEnv)
	rt, err := New(ctx, client, network, Config{Namespace: ns, DataDir: data, HostNames: []string{"platform.test", "missing.test"}, JoinStderr: os.Getenv(joinEnv)},
		Options{LookupHost: func(_ context.Context, host string) ([]string, error) {
			if host == "platform.test" {
				return []string{"192.0.2.10"}, nil
			}
			return nil, errors.New("no such host")
		}})
	require.NoError(t, err)

	t.Run("images", func(t *testing.T) {
		img, err := rt.InspectImage(ctx, image)
		require.NoError(t, err)
		assert.Equal(t, imported[0].Target.Digest.String(), img.ID)
		_, err = rt.InspectImage(ctx, "registry:5000/nothing/here:latest")
		assert.ErrorIs(t, err, engine.ErrNotFound)
		err = rt.PullImage(ctx, "127.0.0.1:1/nothing/here:latest")
		require.Error(t, err, "nothing listens there")
		assert.NotContains(t, err.Error(), "HTTPS", "localhost is pulled over plain HTTP")
	})

	labels := map[string]string{"dev.esb.managed": "true", "dev.esb.env": "e2e", "dev.esb.function": "Hello"}
	spec := engine.Spec{
		Name:        "esb-e2e-fn-Hello-" + strings.ToLower(rand.Text()[:8]),
		Image:       image,
		Cmd:         []string{"app.handler"},
		Env:         []string{"TABLE=items", "AWS_ENDPOINT_URL_S3=http://platform.test:7070"},
		Labels:      labels,
		MemoryBytes: 128 << 20,
	}

	t.Run("lifecycle", func(t *testing.T) {
		id, err := rt.Create(ctx, spec)
		require.NoError(t, err)
		assert.Equal(t, spec.Name, id, "the name is the ID")
		ctr, err := client.LoadContainer(namespaces.WithNamespace(ctx, ns), id)
		require.NoError(t, err)
		ociSpec, err := ctr.Spec(namespaces.WithNamespace(ctx, ns))
		require.NoError(t, err)
		assert.Equal(t, int64(128<<20), *ociSpec.Linux.Resources.Memory.Limit)
		list, err := rt.List(ctx, labels)
		require.NoError(t, err)
		require.Len(t, list, 1)
		assert.Equal(t, engine.StateCreated, list[0].State)

		require.NoError(t, rt.Start(ctx, id))
		ip, err := rt.Address(ctx, id)
		require.NoError(t, err)
		assert.True(t, netip.MustParsePrefix(testSubnet).Contains(netip.MustParseAddr(ip)), ip)

		logs := &syncbuf.Buffer{}
		followed := make(chan error, 1)
		go func() { followed <- rt.FollowLogs(ctx, id, time.Time{}, logs, logs) }()

		inv := invoke(t, ip)
		assert.Equal(t, []string{"app.handler"}, inv.Args, "image ENTRYPOINT + our Cmd")
		assert.Equal(t, "v1", inv.Env["FN_VERSION"], "image env kept")
		assert.Equal(t, "items", inv.Env["TABLE"])
		assert.Contains(t, inv.Hosts, "192.0.2.10\tplatform.test\n", "platform names resolved on the node")
		assert.NotContains(t, inv.Hosts, "missing.test")

		list, err = rt.List(ctx, labels)
		require.NoError(t, err)
		require.Len(t, list, 1)
		assert.Equal(t, engine.Container{ID: id, Name: spec.Name, Image: image, Labels: labels, State: engine.StateRunning, IP: ip}, list[0])
		others, err := rt.List(ctx, map[string]string{"dev.esb.env": "other"})
		require.NoError(t, err)
		assert.Empty(t, others)

		require.Eventually(t, func() bool {
			s := logs.String()
			return strings.Contains(s, "fnserver listening, handler app.handler") && strings.Contains(s, "fnserver stderr works") &&
				strings.Contains(s, "invoked")
		}, waitFor, tick, "output in the log file: %q", logs.String())

		require.NoError(t, rt.Stop(ctx, id, time.Second))
		select {
		case err := <-followed:
			require.NoError(t, err, "FollowLogs ends when the task exits")
		case <-time.After(waitFor):
			t.Fatal("FollowLogs did not end after the stop")
		}
		list, err = rt.List(ctx, labels)
		require.NoError(t, err)
		require.Len(t, list, 1)
		assert.Equal(t, engine.StateExited, list[0].State)
		assert.Empty(t, list[0].IP)
		_, err = rt.Address(ctx, id)
		assert.Error(t, err, "a stopped container has no address")

		require.NoError(t, rt.Remove(ctx, spec.Name), "by name")
		_, err = client.LoadContainer(namespaces.WithNamespace(ctx, ns), id)
		assert.True(t, cerrdefs.IsNotFound(err), "container deleted: %v", err)
		_, err = client.SnapshotService("").Stat(namespaces.WithNamespace(ctx, ns), id)
		assert.True(t, cerrdefs.IsNotFound(err), "snapshot deleted: %v", err)
		assert.NoDirExists(t, filepath.Join(data, ns, id))
		assert.Empty(t, allocated(t, cniDir), "address released")
		require.NoError(t, rt.Remove(ctx, id), "removing twice is not an error")
	})

	t.Run("remove kills a running container", func(t *testing.T) {
		s := spec
		s.Name += "-rm"
		id, err := rt.Create(ctx, s)
		require.NoError(t, err)
		require.NoError(t, rt.Start(ctx, id))
		require.NoError(t, rt.Remove(ctx, id))
		list, err := rt.List(ctx, labels)
		require.NoError(t, err)
		assert.Empty(t, list)
		assert.Empty(t, allocated(t, cniDir))
	})

	t.Run("a restarted agent finds running containers", func(t *testing.T) {
		s := spec
		s.Name += "-adopt"
		id, err := rt.Create(ctx, s)
		require.NoError(t, err)
		require.NoError(t, rt.Start(ctx, id))
		ip, err := rt.Address(ctx, id)
		require.NoError(t, err)
		invoke(t, ip)

		// Everything the next agent needs is in containerd and the volumes.
		network2, err := NewCNI(CNIConfig{PluginDirs: []string{"/usr/lib/cni"}, Bridge: "esbe2e0", Subnet: netip.MustParsePrefix(testSubnet), DataDir: cniDir})
		require.NoError(t, err)
		rt2, err := New(ctx, client, network2, Config{Namespace: ns, DataDir: data}, Options{})
		require.NoError(t, err)
		list, err := rt2.List(ctx, labels)
		require.NoError(t, err)
		require.Len(t, list, 1)
		assert.Equal(t, engine.StateRunning, list[0].State)
		assert.Equal(t, ip, list[0].IP)
		assert.Equal(t, s.Name, list[0].Name)

		// Adoption follows from now on: earlier output is not shipped twice.
		logs := &syncbuf.Buffer{}
		followCtx, stop := context.WithCancel(ctx)
		followed := make(chan error, 1)
		go func() { followed <- rt2.FollowLogs(followCtx, id, time.Now(), logs, logs) }()
		// Each poll invokes again: the follower may start after an
		// invocation printed its line.
		require.Eventually(t, func() bool {
			if resp, err := http.Post(invocationURL(ip), "application/json", strings.NewReader(`{}`)); err == nil {
				resp.Body.Close()
			}
			return strings.Contains(logs.String(), "invoked")
		}, waitFor, 250*time.Millisecond)
		assert.NotContains(t, logs.String(), "fnserver listening")
		stop()
		require.NoError(t, <-followed)

		require.NoError(t, rt2.Remove(ctx, id))
		assert.Empty(t, allocated(t, cniDir))
	})

	t.Run("a container starts in a network namespace prepared ahead", func(t *testing.T) {
		pooled, err := New(ctx, client, network, Config{Namespace: ns, DataDir: data, JoinStderr: os.Getenv(joinEnv)}, Options{NetnsPool: 2})
		require.NoError(t, err)
		poolCtx, stopPool := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { defer close(done); pooled.Run(poolCtx) }()
		require.Eventually(t, func() bool { return pooled.netns.pool.Ready() == 2 }, waitFor, tick)
		assert.Len(t, allocated(t, cniDir), 2, "on the network before any container asks")

		s := spec
		s.Name += "-netns"
		id, err := pooled.Create(ctx, s)
		require.NoError(t, err)
		info, err := client.ContainerService().Get(namespaces.WithNamespace(ctx, ns), id)
		require.NoError(t, err)
		prepared := info.Labels[LabelNetns]
		require.NotEmpty(t, prepared, "created in a prepared namespace")
		holderPath := pooled.netns.taken[prepared].holder.Path()
		heldNS, err := os.Readlink(holderPath)
		require.NoError(t, err)
		status, err := os.ReadFile(strings.TrimSuffix(holderPath, "/ns/net") + "/status")
		require.NoError(t, err)
		assert.Contains(t, string(status), "CapEff:\t0000000000000000", "the holder has no capability")

		require.NoError(t, pooled.Start(ctx, id))
		ip, err := pooled.Address(ctx, id)
		require.NoError(t, err)
		assert.Equal(t, info.Labels[labelIP], ip)
		invoke(t, ip)
		task, err := pooled.task(namespaces.WithNamespace(ctx, ns), id)
		require.NoError(t, err)
		taskNS, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/net", task.Pid()))
		require.NoError(t, err)
		assert.Equal(t, heldNS, taskNS, "the task runs in the prepared namespace")
		require.Eventually(t, func() bool {
			_, err := os.Stat(holderPath)
			return err != nil
		}, waitFor, tick, "the holder process exits once the task holds the namespace")

		require.NoError(t, pooled.Remove(ctx, id))
		assert.NotContains(t, allocated(t, cniDir), ip, "its address went with it")

		// A holder that died before its task was created: the start
		// fails rather than trust a /proc path another process may own.
		s.Name += "-orphan"
		orphan, err := pooled.Create(ctx, s)
		require.NoError(t, err)
		info, err = client.ContainerService().Get(namespaces.WithNamespace(ctx, ns), orphan)
		require.NoError(t, err)
		prepared = info.Labels[LabelNetns]
		require.NotEmpty(t, prepared)
		pooled.netns.taken[prepared].holder.Release()
		require.Eventually(t, func() bool { return !pooled.netns.holds(prepared) }, waitFor, tick)
		err = pooled.Start(ctx, orphan)
		require.ErrorContains(t, err, "is no longer held")
		require.NoError(t, pooled.Remove(ctx, orphan))
		assert.NotContains(t, allocated(t, cniDir), info.Labels[labelIP], "released with its container")

		stopPool()
		<-done
		assert.Empty(t, allocated(t, cniDir), "what was not taken is released at stop")
		ledger, err := os.ReadDir(filepath.Join(data, "netns", ns))
		require.NoError(t, err)
		assert.Empty(t, ledger)
	})

	// A crash's last words go to stderr, written just before the exit. The
	// shim lost them in one start out of ten to twenty before function processes
	// started behind joinstderr, so one start would not tell.
	t.Run("a crashing function exits and its output stays readable", func(t *testing.T) {
		for i := range 40 {
			s := spec
			s.Name += fmt.Sprintf("-crash%d", i)
			s.Cmd = []string{"crash"}
			id, err := rt.Create(ctx, s)
			require.NoError(t, err)
			require.NoError(t, rt.Start(ctx, id))
			var logs syncbuf.Buffer
			require.NoError(t, rt.FollowLogs(ctx, id, time.Time{}, &logs, &logs), "returns once the task exited")
			assert.Contains(t, logs.String(), "crashing on purpose", "start %d", i)
			// The stream ended because the shim let go of the file, not by
			// waiting out quiet polls: the agent can ask the kernel here.
			f, err := os.Open(rt.logPath(id))
			require.NoError(t, err)
			writing, err := openForWriting(f)
			f.Close()
			require.NoError(t, err, "file leases work on the function data dir")
			assert.False(t, writing)
			require.Eventually(t, func() bool {
				list, err := rt.List(ctx, map[string]string{"dev.esb.function": "Hello", "dev.esb.env": "e2e"})
				return err == nil && len(list) == 1 && list[0].State == engine.StateExited
			}, waitFor, tick)
			require.NoError(t, rt.Remove(ctx, id))
		}
	})

	t.Run("an image goes once no container runs from it", func(t *testing.T) {
		s := spec
		s.Name += "-image"
		id, err := rt.Create(ctx, s)
		require.NoError(t, err)
		assert.ErrorIs(t, rt.RemoveImage(ctx, image), engine.ErrInUse)
		_, err = rt.InspectImage(ctx, image)
		require.NoError(t, err, "still there")

		require.NoError(t, rt.Remove(ctx, id))
		require.NoError(t, rt.RemoveImage(ctx, image))
		_, err = rt.InspectImage(ctx, image)
		assert.ErrorIs(t, err, engine.ErrNotFound)
		assert.ErrorIs(t, rt.RemoveImage(ctx, image), engine.ErrNotFound)
	})
}

// invoke posts an invocation to the function's RIE port, waiting until it
// accepts.
func invoke(t *testing.T, ip string) invocation {
	t.Helper()
	url := invocationURL(ip)
	var inv invocation
	require.Eventually(t, func() bool {
		resp, err := http.Post(url, "application/json", strings.NewReader(`{}`))
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		return resp.StatusCode == http.StatusOK && json.NewDecoder(resp.Body).Decode(&inv) == nil
	}, waitFor, tick, "invoke %s", url)
	return inv
}

func invocationURL(ip string) string {
	return fmt.Sprintf("http://%s/2015-03-31/functions/function/invocations", net.JoinHostPort(ip, "8080"))
}

// allocated lists the addresses host-local IPAM holds in dir.
func allocated(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if _, perr := netip.ParseAddr(d.Name()); perr == nil {
			out = append(out, d.Name())
		}
		return nil
	})
	require.NoError(t, err)
	return out
}
