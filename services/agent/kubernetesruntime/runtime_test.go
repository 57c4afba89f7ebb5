package kubernetesruntime

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/esb-dev/esb/internal/agentapi"
	"github.com/esb-dev/esb/internal/registryauth"
	"github.com/esb-dev/esb/services/agent/engine"
	"github.com/esb-dev/esb/services/agent/sandbox"
)

const (
	testNS     = "esb-dev"
	testDigest = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	waitFor    = 5 * time.Second
	tick       = 10 * time.Millisecond
)

var selector = map[string]string{agentapi.LabelManaged: "true", agentapi.LabelBrand: "esb", agentapi.LabelEnv: "dev"}

func testLabels(fn string) map[string]string {
	return map[string]string{
		agentapi.LabelManaged: "true", agentapi.LabelBrand: "esb", agentapi.LabelEnv: "dev",
		agentapi.LabelFunction: fn, agentapi.LabelDigest: testDigest, agentapi.LabelConfig: "0123abcd",
	}
}

func testSpec(name, fn string) engine.Spec {
	return engine.Spec{
		Name:        name,
		Image:       "registry:5000/esb-dev/hello@" + testDigest,
		Cmd:         []string{"app.handler"},
		Env:         []string{"AWS_LAMBDA_FUNCTION_VERSION=$LATEST", "GREETING=hi $(HOME) $$", "EMPTY="},
		Labels:      testLabels(fn),
		MemoryBytes: 128 << 20,
		Sandbox: &engine.Sandbox{
			Policy:    sandbox.Policy{UID: sandbox.LambdaUID, GID: sandbox.LambdaGID, Allow: []string{"10.0.0.1:9001"}, Egress: true},
			TmpBytes:  512 << 20,
			Pids:      1024,
			CPUShares: 74, // 128 MB on Lambda's scale
		},
	}
}

type harness struct {
	client *fake.Clientset
	rt     *Runtime
}

func newHarness(t *testing.T, opts Options, objects ...*corev1.Node) *harness {
	return newHarnessWithLogs(t, opts, nil, objects...)
}

func newHarnessWithLogs(t *testing.T, opts Options, logs func(context.Context, string, string, *corev1.PodLogOptions) (io.ReadCloser, error), objects ...*corev1.Node) *harness {
	t.Helper()
	client := fake.NewClientset()
	for _, n := range objects {
		_, err := client.CoreV1().Nodes().Create(t.Context(), n, metav1.CreateOptions{})
		require.NoError(t, err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), waitFor)
	defer cancel()
	rt, err := New(ctx, fakeAPI{c: client.CoreV1(), logs: logs}, Config{
		Namespace:     testNS,
		Registry:      "192.168.50.1:5010",
		RegistryNames: []string{"registry:5000"},
		RegistryAuth:  registryauth.Credential{Username: "esb", Password: "pw"},
		NodeSelector:  map[string]string{"esb.dev/functions": "true"},
		Selector:      selector,
	}, opts)
	require.NoError(t, err)
	t.Cleanup(rt.Close)
	return &harness{client: client, rt: rt}
}

func node(name string, ready corev1.ConditionStatus) *corev1.Node {
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Status:     corev1.NodeStatus{Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: ready}}},
	}
}

// setStatus writes a Pod's status as a kubelet would.
func (h *harness) setStatus(t *testing.T, name, nodeName string, status corev1.PodStatus) {
	t.Helper()
	pods := h.client.CoreV1().Pods(testNS)
	pod, err := pods.Get(t.Context(), name, metav1.GetOptions{})
	require.NoError(t, err)
	pod.Spec.NodeName = nodeName
	pod.Status = status
	_, err = pods.Update(t.Context(), pod, metav1.UpdateOptions{})
	require.NoError(t, err)
}

func running(ip string) corev1.PodStatus {
	return corev1.PodStatus{Phase: corev1.PodRunning, PodIP: ip, ContainerStatuses: []corev1.ContainerStatus{{
		Name: containerName, State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}},
	}}}
}

func waiting(reason, message string) corev1.PodStatus {
	return corev1.PodStatus{Phase: corev1.PodPending, ContainerStatuses: []corev1.ContainerStatus{{
		Name: containerName, State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason, Message: message}},
	}}}
}

func TestBuildPod(t *testing.T) {
	h := newHarness(t, Options{})
	spec := testSpec("esb-dev-fn-HelloFunction-0a1b2c3d", "HelloFunction")
	id, err := h.rt.Create(t.Context(), spec)
	require.NoError(t, err)
	assert.Empty(t, validation.IsDNS1123Label(id), "the ID is a valid Pod name")
	assert.True(t, strings.HasPrefix(id, "esb-dev-fn-hellofunction-0a1b2c3d-"), id)

	pods, err := h.client.CoreV1().Pods(testNS).List(t.Context(), metav1.ListOptions{})
	require.NoError(t, err)
	assert.Empty(t, pods.Items, "Create records the Pod; only Start makes it run")
	pod := h.rt.created[id]
	require.NotNil(t, pod)

	// Labels: selector-ready values; the digest, no label value, hashed;
	// the caller's values kept whole in the annotation.
	assert.Equal(t, "HelloFunction", pod.Labels[agentapi.LabelFunction])
	assert.Equal(t, "true", pod.Labels[agentapi.LabelManaged])
	assert.NotEqual(t, testDigest, pod.Labels[agentapi.LabelDigest])
	for k, v := range pod.Labels {
		assert.Empty(t, validation.IsValidLabelValue(v), "label %s=%s", k, v)
	}
	var kept map[string]string
	require.NoError(t, json.Unmarshal([]byte(pod.Annotations[annotationLabels]), &kept))
	assert.Equal(t, spec.Labels, kept)
	assert.Equal(t, spec.Name, pod.Annotations[annotationName])
	assert.Equal(t, spec.Image, pod.Annotations[annotationImage])

	ps := pod.Spec
	assert.Equal(t, corev1.RestartPolicyNever, ps.RestartPolicy)
	assert.False(t, *ps.AutomountServiceAccountToken)
	assert.False(t, *ps.EnableServiceLinks)
	assert.Equal(t, int64(terminationGrace), *ps.TerminationGracePeriodSeconds)
	assert.Equal(t, map[string]string{"esb.dev/functions": "true"}, ps.NodeSelector)
	assert.Equal(t, []corev1.LocalObjectReference{{Name: PullSecretName}}, ps.ImagePullSecrets)
	require.Len(t, ps.TopologySpreadConstraints, 1)
	assert.Equal(t, corev1.LabelHostname, ps.TopologySpreadConstraints[0].TopologyKey)
	assert.Equal(t, corev1.SeccompProfileTypeRuntimeDefault, ps.SecurityContext.SeccompProfile.Type)
	assert.True(t, *ps.SecurityContext.RunAsNonRoot)

	require.Len(t, ps.Containers, 1)
	c := ps.Containers[0]
	assert.Equal(t, "192.168.50.1:5010/esb-dev/hello@"+testDigest, c.Image, "the nodes' registry address")
	assert.Equal(t, corev1.PullIfNotPresent, c.ImagePullPolicy, "a digest never changes")
	assert.Nil(t, c.Command, "the image's entrypoint stays")
	assert.Equal(t, []string{"app.handler"}, c.Args)
	assert.Equal(t, []corev1.EnvVar{
		{Name: "AWS_LAMBDA_FUNCTION_VERSION", Value: "$$LATEST"},
		{Name: "GREETING", Value: "hi $$(HOME) $$$$"},
		{Name: "EMPTY", Value: ""},
	}, c.Env, "escaped: the kubelet hands the values over as given")

	mem := resource.MustParse("128Mi")
	assert.True(t, mem.Equal(c.Resources.Limits[corev1.ResourceMemory]))
	assert.True(t, mem.Equal(c.Resources.Requests[corev1.ResourceMemory]))
	assert.Equal(t, int64(72), c.Resources.Requests.Cpu().MilliValue(), "74 shares of 1024")
	_, cpuLimit := c.Resources.Limits[corev1.ResourceCPU]
	assert.False(t, cpuLimit, "CPU is a weight, as in docker mode")

	sc := c.SecurityContext
	require.NotNil(t, sc)
	assert.Equal(t, int64(sandbox.LambdaUID), *sc.RunAsUser)
	assert.Equal(t, int64(sandbox.LambdaGID), *sc.RunAsGroup)
	assert.True(t, *sc.RunAsNonRoot)
	assert.True(t, *sc.ReadOnlyRootFilesystem)
	assert.False(t, *sc.AllowPrivilegeEscalation)
	assert.False(t, *sc.Privileged)
	assert.Equal(t, []corev1.Capability{"ALL"}, sc.Capabilities.Drop)
	assert.Empty(t, sc.Capabilities.Add)
	assert.Equal(t, corev1.SeccompProfileTypeRuntimeDefault, sc.SeccompProfile.Type)

	require.Len(t, ps.Volumes, 1)
	assert.Equal(t, []corev1.VolumeMount{{Name: tmpVolume, MountPath: "/tmp"}}, c.VolumeMounts)
	dir := ps.Volumes[0].EmptyDir
	require.NotNil(t, dir)
	assert.Equal(t, corev1.StorageMediumMemory, dir.Medium)
	assert.Equal(t, int64(512<<20), dir.SizeLimit.Value())
}

func TestBuildPodWithoutSandbox(t *testing.T) {
	spec := testSpec("plain", "Plain")
	spec.Sandbox = nil
	spec.Image = "docker.io/library/busybox:1.37"
	pod, err := buildPod(spec, podConfig{Namespace: testNS, Image: spec.Image})
	require.NoError(t, err)
	c := pod.Spec.Containers[0]
	assert.Nil(t, c.SecurityContext)
	assert.Empty(t, pod.Spec.Volumes)
	assert.Empty(t, pod.Spec.ImagePullSecrets)
	assert.Equal(t, corev1.PullAlways, c.ImagePullPolicy, "a tag may move")
}

func TestNodeImage(t *testing.T) {
	names := []string{"registry:5000"}
	for in, want := range map[string]string{
		"registry:5000/esb-dev/fn@" + testDigest: "10.0.0.5:5010/esb-dev/fn@" + testDigest,
		"registry:5000/esb-dev/fn:latest":        "10.0.0.5:5010/esb-dev/fn:latest",
		"registry:5000/esb-dev/fn":               "10.0.0.5:5010/esb-dev/fn",
		"public.ecr.aws/lambda/python:3.13":      "public.ecr.aws/lambda/python:3.13",
		"busybox:1.37":                           "busybox:1.37",
	} {
		got, err := nodeImage(in, names, "10.0.0.5:5010")
		require.NoError(t, err, in)
		assert.Equal(t, want, got, in)
	}
	_, err := nodeImage(testDigest, names, "10.0.0.5:5010")
	assert.Error(t, err, "an engine's image ID is no registry reference")
}

func TestPodName(t *testing.T) {
	for _, name := range []string{
		"esb-dev-fn-hello-0a1b2c3d",
		"esb-dev-fn-HelloFunction-0a1b2c3d",
		"esb-dev-fn-My_Function.v2-0a1b2c3d",
		"esb-dev-fn-" + strings.Repeat("VeryLongFunctionName", 5) + "-0a1b2c3d",
		"---",
	} {
		got := podName(name)
		assert.Empty(t, validation.IsDNS1123Label(got), "%s -> %s", name, got)
		assert.Equal(t, got, podName(got), "a Pod name is its own Pod name")
	}
	assert.NotEqual(t, podName("esb-dev-fn-Hello-1"), podName("esb-dev-fn-hello-1"), "case-only differences stay apart")
}

func TestNewMakesNamespaceAndPullSecret(t *testing.T) {
	h := newHarness(t, Options{})
	ns, err := h.client.CoreV1().Namespaces().Get(t.Context(), testNS, metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, "dev", ns.Labels[agentapi.LabelEnv])

	secret, err := h.client.CoreV1().Secrets(testNS).Get(t.Context(), PullSecretName, metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, corev1.SecretTypeDockerConfigJson, secret.Type)
	var cfg struct {
		Auths map[string]struct{ Username, Password, Auth string }
	}
	require.NoError(t, json.Unmarshal(secret.Data[corev1.DockerConfigJsonKey], &cfg))
	entry, ok := cfg.Auths["192.168.50.1:5010"]
	require.True(t, ok, "the credential is for the nodes' registry address: %v", cfg.Auths)
	assert.Equal(t, "esb", entry.Username)
	assert.Equal(t, "pw", entry.Password)
	assert.Equal(t, base64.StdEncoding.EncodeToString([]byte("esb:pw")), entry.Auth)

	// A restarted agent with a new password updates the secret.
	rt2, err := New(t.Context(), fakeAPI{c: h.client.CoreV1()}, Config{
		Namespace: testNS, Registry: "192.168.50.1:5010", RegistryNames: []string{"registry:5000"},
		RegistryAuth: registryauth.Credential{Username: "esb", Password: "pw2"}, Selector: selector,
	}, Options{})
	require.NoError(t, err)
	rt2.Close()
	secret, err = h.client.CoreV1().Secrets(testNS).Get(t.Context(), PullSecretName, metav1.GetOptions{})
	require.NoError(t, err)
	assert.Contains(t, string(secret.Data[corev1.DockerConfigJsonKey]), `"password":"pw2"`)
}

// startAsync runs Start in the background.
// startRunning creates and starts a container of spec, the kubelet reporting
// it running on node-a at ip, and returns its ID.
func startRunning(t *testing.T, h *harness, spec engine.Spec, ip string) string {
	t.Helper()
	id, err := h.rt.Create(t.Context(), spec)
	require.NoError(t, err)
	started := startAsync(h, id)
	h.waitPod(t, id)
	h.setStatus(t, id, "node-a", running(ip))
	require.NoError(t, <-started)
	return id
}

func startAsync(h *harness, id string) <-chan error {
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*waitFor)
		defer cancel()
		done <- h.rt.Start(ctx, id)
	}()
	return done
}

func (h *harness) waitPod(t *testing.T, id string) {
	t.Helper()
	require.Eventually(t, func() bool {
		_, err := h.client.CoreV1().Pods(testNS).Get(t.Context(), id, metav1.GetOptions{})
		return err == nil
	}, waitFor, tick, "Start creates the Pod")
}

func TestStartWaitsForRunning(t *testing.T) {
	h := newHarness(t, Options{}, node("node-a", corev1.ConditionTrue))
	id, err := h.rt.Create(t.Context(), testSpec("fn-a", "Hello"))
	require.NoError(t, err)
	done := startAsync(h, id)
	h.waitPod(t, id)

	h.setStatus(t, id, "node-a", waiting("ContainerCreating", ""))
	select {
	case err := <-done:
		t.Fatalf("Start returned before the Pod ran: %v", err)
	case <-time.After(200 * time.Millisecond):
	}
	h.setStatus(t, id, "node-a", running("10.244.1.7"))
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(waitFor):
		t.Fatal("Start did not see the Pod run")
	}
	ip, err := h.rt.Address(t.Context(), id)
	require.NoError(t, err)
	assert.Equal(t, "10.244.1.7", ip)
}

func TestStartFailsFast(t *testing.T) {
	for _, tc := range []struct {
		name   string
		status corev1.PodStatus
		want   string
	}{
		{"image pull", waiting("ErrImagePull", "pull 10.0.0.5:5010/x: not found"), "ErrImagePull: pull 10.0.0.5:5010/x: not found"},
		{"back-off", waiting("ImagePullBackOff", "Back-off pulling image"), "ImagePullBackOff"},
		{"create", waiting("CreateContainerError", "no such user"), "CreateContainerError: no such user"},
		{"exited", corev1.PodStatus{Phase: corev1.PodFailed, ContainerStatuses: []corev1.ContainerStatus{{
			Name: containerName, State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 3, Reason: "Error"}},
		}}}, "Failed"},
		{"unschedulable", corev1.PodStatus{Phase: corev1.PodPending, Conditions: []corev1.PodCondition{{
			Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: corev1.PodReasonUnschedulable, Message: "0/2 nodes: Insufficient memory",
		}}}, "unschedulable: 0/2 nodes: Insufficient memory"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, Options{}, node("node-a", corev1.ConditionTrue))
			id, err := h.rt.Create(t.Context(), testSpec("fn-"+strings.ReplaceAll(tc.name, " ", "-"), "Hello"))
			require.NoError(t, err)
			began := time.Now()
			done := startAsync(h, id)
			h.waitPod(t, id)
			nodeName := "node-a"
			if tc.name == "unschedulable" {
				nodeName = ""
			}
			h.setStatus(t, id, nodeName, tc.status)
			select {
			case err := <-done:
				require.Error(t, err)
				assert.Contains(t, err.Error(), tc.want)
				assert.Less(t, time.Since(began), waitFor, "failed fast, not at the deadline")
			case <-time.After(waitFor):
				t.Fatal("Start kept waiting for a Pod that will not run")
			}
		})
	}
}

func TestStartTimesOutWithProgress(t *testing.T) {
	h := newHarness(t, Options{}, node("node-a", corev1.ConditionTrue))
	id, err := h.rt.Create(t.Context(), testSpec("fn-slow", "Hello"))
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(t.Context(), 500*time.Millisecond)
	defer cancel()
	go func() {
		h.waitPod(t, id)
		h.setStatus(t, id, "node-a", waiting("ContainerCreating", ""))
	}()
	err = h.rt.Start(ctx, id)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Contains(t, err.Error(), "ContainerCreating")
}

func TestListMapsPhases(t *testing.T) {
	h := newHarness(t, Options{}, node("node-a", corev1.ConditionTrue), node("node-b", corev1.ConditionUnknown))
	ctx := t.Context()
	pods := h.client.CoreV1().Pods(testNS)
	put := func(name string, lbls map[string]string, nodeName string, status corev1.PodStatus, deleting bool) {
		spec := testSpec(name, "Hello")
		spec.Labels = lbls
		pod, err := buildPod(spec, podConfig{Namespace: testNS, Image: "x"})
		require.NoError(t, err)
		pod.Spec.NodeName = nodeName
		pod.Status = status
		if deleting {
			now := metav1.Now()
			pod.DeletionTimestamp = &now
			pod.Finalizers = []string{"test/keep"}
		}
		_, err = pods.Create(ctx, pod, metav1.CreateOptions{})
		require.NoError(t, err)
	}
	put("pending", testLabels("Hello"), "", corev1.PodStatus{Phase: corev1.PodPending}, false)
	put("running", testLabels("Hello"), "node-a", running("10.244.1.2"), false)
	put("lost", testLabels("Hello"), "node-b", running("10.244.2.2"), false)
	put("failed", testLabels("Hello"), "node-a", corev1.PodStatus{Phase: corev1.PodFailed}, false)
	put("done", testLabels("Hello"), "node-a", corev1.PodStatus{Phase: corev1.PodSucceeded}, false)
	put("unknown", testLabels("Hello"), "node-a", corev1.PodStatus{Phase: corev1.PodUnknown}, false)
	put("deleting", testLabels("Hello"), "node-a", running("10.244.1.3"), true)
	other := testLabels("Hello")
	other[agentapi.LabelEnv] = "prod"
	put("other-env", other, "node-a", running("10.244.1.4"), false)
	otherDigest := testLabels("Hello")
	otherDigest[agentapi.LabelDigest] = "sha256:" + strings.Repeat("f", 64)
	put("other-digest", otherDigest, "node-a", running("10.244.1.5"), false)

	found, err := h.rt.List(ctx, selector)
	require.NoError(t, err)
	got := map[string]engine.Container{}
	for _, c := range found {
		got[c.Name] = c
	}
	states := map[string]engine.State{}
	for name, c := range got {
		states[name] = c.State
	}
	assert.Equal(t, map[string]engine.State{
		"pending": engine.StateCreated, "running": engine.StateRunning, "lost": engine.StateExited,
		"failed": engine.StateExited, "done": engine.StateExited, "unknown": engine.StateExited,
		"deleting": engine.StateRemoving, "other-digest": engine.StateRunning,
	}, states, "another env's Pod is not listed")
	assert.Equal(t, "10.244.1.2", got["running"].IP)
	assert.Empty(t, got["lost"].IP, "no address on a lost node")
	assert.Equal(t, testDigest, got["running"].Labels[agentapi.LabelDigest], "labels as the caller gave them")
	assert.Equal(t, "registry:5000/esb-dev/hello@"+testDigest, got["running"].Image, "the caller's reference")

	// Labels whose values are not label values select on the full value.
	byDigest, err := h.rt.List(ctx, map[string]string{agentapi.LabelEnv: "dev", agentapi.LabelDigest: testDigest})
	require.NoError(t, err)
	for _, c := range byDigest {
		assert.NotEqual(t, "other-digest", c.Name)
	}
	assert.Len(t, byDigest, 7)

	_, err = h.rt.Address(ctx, got["lost"].ID)
	assert.Error(t, err, "a Pod on a lost node has no address")
}

func TestRemove(t *testing.T) {
	h := newHarness(t, Options{}, node("node-a", corev1.ConditionTrue))
	ctx := t.Context()
	require.NoError(t, h.rt.Remove(ctx, "never-existed"), "gone is not an error")

	spec := testSpec("esb-dev-fn-Hello-1", "Hello")
	id, err := h.rt.Create(ctx, spec)
	require.NoError(t, err)
	require.NoError(t, h.rt.Remove(ctx, spec.Name), "by name: drops the record of a Pod never started")
	err = h.rt.Start(ctx, id)
	assert.ErrorIs(t, err, engine.ErrNotFound)

	id = startRunning(t, h, spec, "10.244.1.9")
	require.NoError(t, h.rt.Remove(ctx, id))
	_, err = h.client.CoreV1().Pods(testNS).Get(ctx, id, metav1.GetOptions{})
	assert.True(t, err != nil, "the Pod is deleted")
	require.NoError(t, h.rt.Remove(ctx, id), "twice")
	_, err = h.rt.Address(ctx, id)
	assert.ErrorIs(t, err, engine.ErrNotFound)
	assert.ErrorIs(t, h.rt.Stop(ctx, id, 0), engine.ErrNotFound)
}

// hangingLogs is a log stream that prints, then hangs like one served
// by a kubelet that is gone, until its context ends.
func hangingLogs(lines string) func(ctx context.Context, namespace, pod string, opts *corev1.PodLogOptions) (io.ReadCloser, error) {
	return func(ctx context.Context, _, _ string, opts *corev1.PodLogOptions) (io.ReadCloser, error) {
		if !opts.Follow || opts.Container != containerName {
			return nil, errors.New("want a followed stream of the function container")
		}
		r, w := io.Pipe()
		go func() {
			_, _ = io.WriteString(w, lines)
			<-ctx.Done()
			w.CloseWithError(ctx.Err())
		}()
		return r, nil
	}
}

func TestFollowLogsEndsWhenNodeIsLost(t *testing.T) {
	h := newHarnessWithLogs(t, Options{}, hangingLogs("one\ntwo\n"), node("node-a", corev1.ConditionTrue))
	ctx := t.Context()
	id := startRunning(t, h, testSpec("fn-logs", "Hello"), "10.244.1.8")

	var out strings.Builder
	done := make(chan error, 1)
	go func() { done <- h.rt.FollowLogs(context.Background(), id, time.Time{}, &out, io.Discard) }()
	select {
	case err := <-done:
		t.Fatalf("the stream ended while the node is ready: %v", err)
	case <-time.After(200 * time.Millisecond):
	}

	n, err := h.client.CoreV1().Nodes().Get(ctx, "node-a", metav1.GetOptions{})
	require.NoError(t, err)
	n.Status.Conditions[0].Status = corev1.ConditionUnknown // the node controller's mark for a silent kubelet
	_, err = h.client.CoreV1().Nodes().Update(ctx, n, metav1.UpdateOptions{})
	require.NoError(t, err)
	select {
	case err := <-done:
		require.NoError(t, err, "a lost node ends the stream, as an exit does")
	case <-time.After(waitFor):
		t.Fatal("FollowLogs hung on a lost node")
	}
	assert.Equal(t, "one\ntwo\n", out.String())

	found, err := h.rt.List(ctx, selector)
	require.NoError(t, err)
	require.Len(t, found, 1)
	assert.Equal(t, engine.StateExited, found[0].State, "the pool replaces it")
}

func TestFollowLogsEndsAfterDeletion(t *testing.T) {
	h := newHarnessWithLogs(t, Options{LogDrain: 50 * time.Millisecond}, hangingLogs("last words\n"), node("node-a", corev1.ConditionTrue))
	ctx := t.Context()
	id := startRunning(t, h, testSpec("fn-del", "Hello"), "10.244.1.8")

	var out strings.Builder
	done := make(chan error, 1)
	since := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	go func() { done <- h.rt.FollowLogs(context.Background(), id, since, &out, io.Discard) }()
	require.NoError(t, h.rt.Stop(ctx, id, 0))
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(waitFor):
		t.Fatal("FollowLogs hung after the Pod was deleted")
	}
	assert.Equal(t, "last words\n", out.String())
}

func TestPeakMemoryAndRemoveImage(t *testing.T) {
	h := newHarness(t, Options{})
	_, err := h.rt.PeakMemory(t.Context(), "x")
	assert.ErrorIs(t, err, engine.ErrNoMetric)
	assert.ErrorIs(t, h.rt.RemoveImage(t.Context(), "registry:5000/esb-dev/fn@"+testDigest), engine.ErrNotFound)
}

func TestParseNodeSelector(t *testing.T) {
	sel, err := ParseNodeSelector("esb.dev/functions=true, kubernetes.io/arch=arm64")
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"esb.dev/functions": "true", "kubernetes.io/arch": "arm64"}, sel)
	for _, bad := range []string{"novalue", "bad key=x", "k=bad value"} {
		_, err := ParseNodeSelector(bad)
		assert.Error(t, err, bad)
	}
}

func TestNewWithoutNamespaceRights(t *testing.T) {
	client := fake.NewClientset()
	client.PrependReactor("get", "namespaces", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewForbidden(schema.GroupResource{Resource: "namespaces"}, testNS, errors.New("a Role in the namespace only"))
	})
	ctx, cancel := context.WithTimeout(t.Context(), waitFor)
	defer cancel()
	rt, err := New(ctx, fakeAPI{c: client.CoreV1()}, Config{Namespace: testNS, Selector: selector}, Options{})
	require.NoError(t, err, "the namespace is taken as made by whoever granted the Role")
	rt.Close()
	_, err = client.CoreV1().Namespaces().Get(t.Context(), testNS, metav1.GetOptions{})
	assert.Error(t, err, "and not created")
	_, err = client.CoreV1().Secrets(testNS).Get(t.Context(), PullSecretName, metav1.GetOptions{})
	assert.True(t, apierrors.IsNotFound(err), "anonymous registry: no pull secret")
}

func TestAllocatableMemory(t *testing.T) {
	withMem := func(n *corev1.Node, mem string, lbls map[string]string) *corev1.Node {
		n.Labels = lbls
		n.Status.Allocatable = corev1.ResourceList{corev1.ResourceMemory: resource.MustParse(mem)}
		return n
	}
	fns := map[string]string{"esb.dev/functions": "true"}
	h := newHarness(t, Options{},
		withMem(node("a", corev1.ConditionTrue), "3Gi", fns),
		withMem(node("b", corev1.ConditionTrue), "1Gi", fns),
		withMem(node("lost", corev1.ConditionUnknown), "8Gi", fns),
		withMem(node("other", corev1.ConditionTrue), "16Gi", nil),
	)
	assert.Equal(t, 4096, h.rt.AllocatableMemoryMB(), "ready nodes of the node selector")
}
