//go:build e2e

package kubernetesruntime

import (
	"context"
	"crypto/rand"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/esb-dev/esb/internal/agentapi"
	"github.com/esb-dev/esb/internal/localcluster"
	"github.com/esb-dev/esb/internal/registryauth"
	"github.com/esb-dev/esb/internal/registryauth/provision"
	"github.com/esb-dev/esb/services/agent/engine"
	"github.com/esb-dev/esb/services/agent/sandbox"
)

// The test runs against a real cluster: the one scripts/k8s/cluster.sh
// starts (internal/localcluster: built once per machine, started unless it
// runs, described by its contract). It starts its own registry (the env's registry image, with a
// credential) published on the cluster's host address, has the nodes
// trust it, pushes a probe image, and drives the Runtime through a Pod's
// life: create, start (watched), address, list, logs, remove, and a start
// that fails on a pull.
const (
	registryImage = "esb/registry:v3.1.2-esb2" // the platform's registry (htpasswd required)
	e2eWait       = 2 * time.Minute
)

func TestKubernetesRuntime(t *testing.T) {
	ctx := t.Context()
	root, err := filepath.Abs(filepath.Join("..", "..", ".."))
	require.NoError(t, err)
	cluster := localcluster.Start(t, root)
	kubeconfig, hostAddr := cluster.Vars["ESB_K8S_KUBECONFIG"], cluster.Vars["ESB_K8S_HOST_ADDR"]
	clusterSh := cluster.Script()
	suffix := strings.ToLower(rand.Text()[:8])
	work := t.TempDir()

	// The env's registry: credential, published for the nodes on the
	// host address and for pushes on loopback.
	cred := registryauth.Credential{Username: registryauth.Username, Password: rand.Text()}
	line, err := provision.Htpasswd(cred)
	require.NoError(t, err)
	htpasswd := filepath.Join(work, "htpasswd")
	require.NoError(t, os.WriteFile(htpasswd, []byte(line), 0o644))
	reg := "esb-k8srt-e2e-" + suffix
	run(t, ctx, "docker", "run", "-d", "--name", reg, "-p", hostAddr+"::5000", "-p", "127.0.0.1::5000",
		"-v", htpasswd+":/etc/distribution/auth/htpasswd:ro", registryImage)
	t.Cleanup(func() { _ = exec.Command("docker", "rm", "-f", "-v", reg).Run() })
	nodeRegistry := strings.TrimSpace(run(t, ctx, "docker", "port", reg, "5000/tcp"))
	var agentRegistry string
	for _, l := range strings.Split(nodeRegistry, "\n") {
		if strings.HasPrefix(l, "127.0.0.1:") {
			agentRegistry = l
		} else if strings.HasPrefix(l, hostAddr+":") {
			nodeRegistry = l
		}
	}
	require.NotEmpty(t, agentRegistry)
	require.True(t, strings.HasPrefix(nodeRegistry, hostAddr+":"), nodeRegistry)
	t.Logf("registry: agent %s, nodes %s", agentRegistry, nodeRegistry)
	run(t, ctx, clusterSh, "trust-registry", nodeRegistry)
	t.Cleanup(func() { _ = exec.Command(clusterSh, "untrust-registry", nodeRegistry).Run() })

	// The probe image, pushed under the agent's name of the registry.
	imgDir := filepath.Join(work, "image")
	require.NoError(t, os.MkdirAll(imgDir, 0o755))
	build := exec.CommandContext(ctx, "go", "build", "-o", filepath.Join(imgDir, "probe"), "./testdata/podprobe")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	out, err := build.CombinedOutput()
	require.NoError(t, err, "build the probe: %s", out)
	require.NoError(t, os.WriteFile(filepath.Join(imgDir, "Dockerfile"), []byte("FROM scratch\nCOPY probe /probe\nENTRYPOINT [\"/probe\"]\nCMD [\"image.default\"]\n"), 0o644))
	tag := agentRegistry + "/esb-k8srt-e2e/probe:v1"
	run(t, ctx, "docker", "build", "-q", "-t", tag, imgDir)
	t.Cleanup(func() { _ = exec.Command("docker", "rmi", "-f", tag).Run() })
	dockerConfig := filepath.Join(work, "docker") // the login stays out of the machine's config
	login := exec.CommandContext(ctx, "docker", "--config", dockerConfig, "login", "-u", cred.Username, "--password-stdin", agentRegistry)
	login.Stdin = strings.NewReader(cred.Password)
	out, err = login.CombinedOutput()
	require.NoError(t, err, "docker login: %s", out)
	require.Eventually(t, func() bool {
		return exec.CommandContext(ctx, "docker", "--config", dockerConfig, "push", "-q", tag).Run() == nil
	}, time.Minute, time.Second, "push the probe")
	repoDigest := strings.TrimSpace(run(t, ctx, "docker", "inspect", "--format", "{{index .RepoDigests 0}}", tag))
	_, dgst, ok := strings.Cut(repoDigest, "@")
	require.True(t, ok, repoDigest)
	image := agentRegistry + "/esb-k8srt-e2e/probe@" + dgst

	// The runtime, as the agent makes it, with the agent's own
	// credential: confined to its namespace, nodes read-only.
	adminRest, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	require.NoError(t, err)
	admin, err := kubernetes.NewForConfig(adminRest) // the test's own cleanup
	require.NoError(t, err)
	ns := "esb-k8srt-e2e-" + suffix
	agentKubeconfig := filepath.Join(work, "agent.kubeconfig")
	t.Cleanup(func() {
		_ = admin.CoreV1().Namespaces().Delete(context.Background(), ns, metav1.DeleteOptions{})
		_ = admin.RbacV1().ClusterRoleBindings().Delete(context.Background(), "esb-agent-nodes-"+ns, metav1.DeleteOptions{})
	})
	run(t, ctx, clusterSh, "agent-kubeconfig", ns, agentKubeconfig)
	rest, err := clientcmd.BuildConfigFromFlags("", agentKubeconfig)
	require.NoError(t, err)
	client, err := NewAPI(rest)
	require.NoError(t, err)
	sel := map[string]string{agentapi.LabelManaged: "true", agentapi.LabelBrand: "esb", agentapi.LabelEnv: "e2e-" + suffix}
	newCtx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	rt, err := New(newCtx, client, Config{
		Namespace: ns, Registry: nodeRegistry, RegistryNames: []string{agentRegistry}, RegistryAuth: cred, Selector: sel,
	}, Options{Logger: slog.New(slog.NewTextHandler(testWriter{t}, nil))})
	require.NoError(t, err)
	t.Cleanup(rt.Close)
	secret, err := admin.CoreV1().Secrets(ns).Get(ctx, PullSecretName, metav1.GetOptions{})
	require.NoError(t, err, "the agent made the pull secret")
	assert.Contains(t, string(secret.Data[".dockerconfigjson"]), nodeRegistry)

	// Images are the registry's.
	img, err := rt.InspectImage(ctx, image)
	require.NoError(t, err)
	assert.Equal(t, dgst, img.ID)
	require.NoError(t, rt.PullImage(ctx, image))
	missing := agentRegistry + "/esb-k8srt-e2e/probe@sha256:" + strings.Repeat("e", 64)
	_, err = rt.InspectImage(ctx, missing)
	require.ErrorIs(t, err, engine.ErrNotFound)

	// A Pod's life.
	labels := map[string]string{}
	for k, v := range sel {
		labels[k] = v
	}
	labels[agentapi.LabelFunction] = "ProbeFunction"
	labels[agentapi.LabelDigest] = dgst
	spec := engine.Spec{
		Name:        "esb-e2e-fn-ProbeFunction-" + suffix,
		Image:       image,
		Cmd:         []string{"handler.main"},
		Env:         []string{"GREETING=hi $(HOME) $$"},
		Labels:      labels,
		MemoryBytes: 64 << 20,
		Sandbox: &engine.Sandbox{
			Policy:    sandbox.Policy{UID: sandbox.LambdaUID, GID: sandbox.LambdaGID, Egress: true},
			TmpBytes:  16 << 20,
			Pids:      256,
			CPUShares: 37,
		},
	}
	id, err := rt.Create(ctx, spec)
	require.NoError(t, err)
	startCtx, cancel := context.WithTimeout(ctx, e2eWait)
	defer cancel()
	began := time.Now()
	require.NoError(t, rt.Start(startCtx, id))
	t.Logf("pod %s running after %s (pull included)", id, time.Since(began).Round(time.Millisecond))
	ip, err := rt.Address(ctx, id)
	require.NoError(t, err)
	require.NotEmpty(t, ip)

	found, err := rt.List(ctx, sel)
	require.NoError(t, err)
	require.Len(t, found, 1)
	c := found[0]
	assert.Equal(t, engine.Container{ID: id, Name: spec.Name, Image: image, Labels: labels, State: engine.StateRunning, IP: ip}, c)
	pod, err := client.GetPod(ctx, ns, id)
	require.NoError(t, err)
	assert.Equal(t, nodeRegistry+"/esb-k8srt-e2e/probe@"+dgst, pod.Spec.Containers[0].Image)
	t.Logf("pod %s on node %s, ip %s", id, pod.Spec.NodeName, ip)

	// A file: written by the stream, read by the test meanwhile.
	logs, err := os.Create(filepath.Join(work, "pod.log"))
	require.NoError(t, err)
	defer logs.Close()
	logged := func() string { b, _ := os.ReadFile(logs.Name()); return string(b) }
	followed := make(chan error, 1)
	go func() { followed <- rt.FollowLogs(context.Background(), id, time.Time{}, logs, io.Discard) }()
	want := []string{
		"uid=993 gid=990", "args=handler.main", "greeting=hi $(HOME) $$", "root-writable=false", "tmp-writable=true",
		"CapEff: 0000000000000000", "NoNewPrivs: 1", "stderr-line", "tick 1",
	}
	require.Eventually(t, func() bool {
		for _, w := range want {
			if !strings.Contains(logged(), w) {
				return false
			}
		}
		return true
	}, e2eWait, 100*time.Millisecond, "the Pod's logs show the sandbox: %v", want)
	t.Logf("logs:\n%s", logged())

	// An agent that restarts finds the Pod in the list and follows it
	// from now on.
	againCtx, cancelAgain := context.WithTimeout(ctx, time.Minute)
	defer cancelAgain()
	again, err := New(againCtx, client, Config{
		Namespace: ns, Registry: nodeRegistry, RegistryNames: []string{agentRegistry}, RegistryAuth: cred, Selector: sel,
	}, Options{})
	require.NoError(t, err)
	defer again.Close()
	adopted, err := again.List(ctx, sel)
	require.NoError(t, err)
	assert.Equal(t, found, adopted)
	var fromNow strings.Builder
	followCtx, stopFollow := context.WithTimeout(ctx, 3*time.Second)
	defer stopFollow()
	require.NoError(t, again.FollowLogs(followCtx, id, time.Now(), &fromNow, io.Discard))
	assert.Contains(t, fromNow.String(), "tick ", "the adopted Pod's new lines")
	assert.NotContains(t, fromNow.String(), "uid=", "not its old ones")

	require.NoError(t, rt.Remove(ctx, id))
	select {
	case err := <-followed:
		require.NoError(t, err)
	case <-time.After(30 * time.Second):
		t.Fatal("the log stream outlived its Pod")
	}
	found, err = rt.List(ctx, sel)
	require.NoError(t, err)
	assert.Empty(t, found)
	require.NoError(t, rt.Remove(ctx, id), "gone is not an error")
	_, err = rt.Address(ctx, id)
	assert.ErrorIs(t, err, engine.ErrNotFound)

	// A start that cannot pull fails with the kubelet's reason, fast.
	bad := spec
	bad.Name = "esb-e2e-fn-Missing-" + suffix
	bad.Image = missing
	id, err = rt.Create(ctx, bad)
	require.NoError(t, err)
	badCtx, cancel := context.WithTimeout(ctx, e2eWait)
	defer cancel()
	began = time.Now()
	err = rt.Start(badCtx, id)
	require.Error(t, err)
	assert.NotErrorIs(t, err, context.DeadlineExceeded)
	assert.Regexp(t, "ErrImagePull|ImagePullBackOff", err.Error())
	t.Logf("missing image: failed after %s: %v", time.Since(began).Round(time.Millisecond), err)
	require.NoError(t, rt.Remove(ctx, id))
}

func run(t *testing.T, ctx context.Context, name string, args ...string) string {
	t.Helper()
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	require.NoError(t, err, "%s %s: %s", name, strings.Join(args, " "), out)
	return string(out)
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
