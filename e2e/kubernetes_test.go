//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/esb-dev/esb/internal/agentapi"
	"github.com/esb-dev/esb/internal/localcluster"
)

// kubeCluster is the local two-node cluster of scripts/k8s/cluster.sh
// with a client of its API server, for what the test observes.
type kubeCluster struct {
	*localcluster.Cluster
	client kubernetes.Interface
}

func startKubeCluster(t *testing.T) *kubeCluster {
	t.Helper()
	c := localcluster.Start(t, repoRoot(t))
	cfg, err := clientcmd.BuildConfigFromFlags("", c.Vars["ESB_K8S_KUBECONFIG"])
	require.NoError(t, err)
	client, err := kubernetes.NewForConfig(cfg)
	require.NoError(t, err)
	return &kubeCluster{Cluster: c, client: client}
}

// nodes lists the cluster's node names.
func (k *kubeCluster) nodes() []string {
	return strings.Split(k.Vars["ESB_K8S_NODES"], ",")
}

// connect prepares the cluster for the env s: its namespace and the
// agent's least-privilege kubeconfig, the nodes' trust of its registry,
// and the firewall's allowance of the ports its functions call.
func (k *kubeCluster) connect(t *testing.T, s *stack) {
	t.Helper()
	ns := s.layout.Env.Project()
	kubeconfig := filepath.Join(t.TempDir(), "agent.kubeconfig")
	k.Run(t, time.Minute, "agent-kubeconfig", ns, kubeconfig)
	s.set("ESB_K8S_HOST_ADDR", k.Vars["ESB_K8S_HOST_ADDR"])
	s.set("ESB_K8S_KUBECONFIG", kubeconfig)
	registry := net.JoinHostPort(k.Vars["ESB_K8S_HOST_ADDR"], strconv.Itoa(s.layout.Ports["PORT_REGISTRY"]))
	k.Run(t, time.Minute, "trust-registry", registry)
	var ports []string
	for _, p := range []string{"PORT_RUNTIME_API", "PORT_INVOKE", "PORT_S3", "PORT_DATABASE", "PORT_MESSAGING"} {
		ports = append(ports, strconv.Itoa(s.layout.Ports[p]))
	}
	k.Run(t, time.Minute, append([]string{"allow-ports"}, ports...)...)
	// Separate cleanups: one that fails does not keep the others from
	// running. The env's Pods went with its agent (compose down drains
	// them); the namespace goes with the env.
	t.Cleanup(func() { k.Run(t, time.Minute, append([]string{"deny-ports"}, ports...)...) })
	t.Cleanup(func() { k.Run(t, time.Minute, "untrust-registry", registry) })
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		_ = k.client.CoreV1().Namespaces().Delete(ctx, ns, metav1.DeleteOptions{})
	})
}

// functionPods lists the env's Pods of one function that run.
func (k *kubeCluster) functionPods(ctx context.Context, t testing.TB, ns, function string) []corev1.Pod {
	t.Helper()
	list, err := k.client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: agentapi.LabelFunction + "=" + function})
	require.NoError(t, err)
	var out []corev1.Pod
	for _, p := range list.Items {
		if p.Status.Phase == corev1.PodRunning && p.DeletionTimestamp == nil {
			out = append(out, p)
		}
	}
	return out
}

// TestKubernetesMode runs functions as Pods on the local two-node cluster
// (issue 22): the deploy-first A/B flow with the images pulled onto the
// nodes before the deploy reports success, the data plane through the host
// address, the Pods' security context and what a function reaches from
// one, warm containers spread over both nodes, and the loss of a node
// under load, which the agent answers by replacing the lost containers on
// the other node while requests keep being served.
func TestKubernetesMode(t *testing.T) {
	t.Parallel()
	k := startKubeCluster(t)
	s := newModeStack(t, "k8s-a", 2300, "kubernetes")
	k.connect(t, s)
	ctx := t.Context()
	ns := s.layout.Env.Project()
	tag := "e2e-k8s-a"

	began := time.Now()
	s.up(t)
	t.Logf("kubernetes env up in %s", time.Since(began).Round(time.Second))

	deployTemplate := func(t *testing.T, template string) esbResult {
		t.Helper()
		began := time.Now()
		res := s.esb(ctx, t, "deploy", "--mode", "kubernetes", "-t", template, "--tag", tag)
		require.NoError(t, res.err, res.stderr)
		t.Logf("deploy %s in %s", filepath.Base(template), time.Since(began).Round(100*time.Millisecond))
		return res
	}
	deployTemplate(t, filepath.Join(s.root, "fixtures", "template-a.yml"))
	res := deployTemplate(t, filepath.Join(s.root, "fixtures", "template-b.yml"))
	assert.Contains(t, res.stderr, "1 images ready for the kubernetes runtime", "the changed image is in the registry the nodes pull from before the deploy reports success")

	t.Run("B's /hello wins after a hot reload", func(t *testing.T) {
		assert.NoError(t, pollBody(ctx, s.url("PORT_GATEWAY", "/hello"), `{"version": "B"}`, time.Second, 60*time.Second))
	})
	t.Run("functions reach the database and S3 through the host address", func(t *testing.T) {
		assertItemRoundTrip(ctx, t, s, "k8s", "green")
		assertABResources(ctx, t, s)
	})

	work := t.TempDir()
	copyTree(t, filepath.Join("testdata", "kubernetes"), work)
	deployTemplate(t, filepath.Join(work, "template.yml"))
	call := func(path string, ms int) (string, error) {
		ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		text, err := fetchText(ctx, s.url("PORT_GATEWAY", path+"?ms="+strconv.Itoa(ms)))
		if err != nil {
			return "", err
		}
		var body struct{ Host string }
		if err := json.Unmarshal([]byte(text), &body); err != nil {
			return "", err
		}
		return body.Host, nil
	}
	where := func(ms int) (string, error) { return call("/where", ms) }

	t.Run("cold start and warm invoke", func(t *testing.T) {
		// The first request of a function with no warm container waits
		// for a Pod: scheduled, pulled (the deploy pulled it already),
		// started, its runtime polling the gateway.
		began := time.Now()
		_, err := call("/cold", 0)
		require.NoError(t, err)
		cold := time.Since(began)
		var warm []time.Duration
		for range 50 {
			began := time.Now()
			_, err := call("/cold", 0)
			require.NoError(t, err)
			warm = append(warm, time.Since(began))
		}
		slices.Sort(warm)
		t.Logf("kubernetes mode: first request (cold) %s; warm p50 %s p90 %s over %d",
			cold.Round(time.Millisecond), warm[len(warm)/2].Round(100*time.Microsecond), warm[len(warm)*9/10].Round(100*time.Microsecond), len(warm))
	})

	t.Run("function Pods carry the env's labels, Lambda's limits and a locked-down security context", func(t *testing.T) {
		pods := k.functionPods(ctx, t, ns, "WhereFunction")
		require.NotEmpty(t, pods)
		for _, p := range pods {
			assert.Equal(t, "true", p.Labels[agentapi.LabelManaged], p.Name)
			assert.Equal(t, corev1.RestartPolicyNever, p.Spec.RestartPolicy)
			require.NotNil(t, p.Spec.AutomountServiceAccountToken, p.Name)
			assert.False(t, *p.Spec.AutomountServiceAccountToken, "no API token in a function")
			assert.NotEmpty(t, p.Spec.ImagePullSecrets, "pulled with the env's credential")
			require.Len(t, p.Spec.Containers, 1)
			c := p.Spec.Containers[0]
			assert.True(t, strings.HasPrefix(c.Image, net.JoinHostPort(k.Vars["ESB_K8S_HOST_ADDR"], strconv.Itoa(s.layout.Ports["PORT_REGISTRY"]))+"/"), c.Image)
			assert.Equal(t, "256Mi", c.Resources.Limits.Memory().String(), "MemorySize")
			require.NotNil(t, c.SecurityContext, p.Name)
			sc := c.SecurityContext
			require.NotNil(t, sc.AllowPrivilegeEscalation)
			assert.False(t, *sc.AllowPrivilegeEscalation)
			require.NotNil(t, sc.ReadOnlyRootFilesystem)
			assert.True(t, *sc.ReadOnlyRootFilesystem)
			require.NotNil(t, sc.Capabilities)
			assert.Contains(t, sc.Capabilities.Drop, corev1.Capability("ALL"))
		}
	})

	t.Run("a function reaches the Runtime API and the data services, nothing of the control plane", func(t *testing.T) {
		kubernetesProbe(t, s, k)
	})

	t.Run("warm containers spread over both nodes; a lost node's are replaced on the other", func(t *testing.T) {
		nodeLoss(t, s, k, where)
	})
}

// kubernetesProbe deploys the sandbox probe and checks from inside a Pod
// what a function reaches: the allowed ports of the host address and
// nothing else of the host (API server, kubelet, the registry and the
// admin port published beside), nor another function's Pod.
func kubernetesProbe(t *testing.T, s *stack, k *kubeCluster) {
	invoke, peer := deploySandboxProbe(t, s, 90*time.Second, "--mode", "kubernetes", "--tag", "e2e-k8s-probe")

	host := k.Vars["ESB_K8S_HOST_ADDR"]
	at := func(port string) string { return net.JoinHostPort(host, strconv.Itoa(s.layout.Ports[port])) }
	api := strings.TrimPrefix(k.Vars["ESB_K8S_API"], "https://")
	control := map[string]string{
		"api server":               api,
		"registry on the host":     at("PORT_REGISTRY"),
		"logs on the host":         net.JoinHostPort(host, strconv.Itoa(s.layout.Ports["PORT_LOGS"])),
		"gateway's public port":    at("PORT_GATEWAY"),
		"peer function":            net.JoinHostPort(peer.IP, strconv.Itoa(peer.Port)),
		"cloud metadata":           "169.254.169.254:80",
		"host's ssh":               net.JoinHostPort(host, "22"),
		"agent by name":            "agent:9000",
		"registry by service name": "registry:5000",
	}
	allowed := map[string]string{
		"runtime api": at("PORT_RUNTIME_API"), "lambda invoke api": at("PORT_INVOKE"),
		"s3": at("PORT_S3"), "dynamodb": at("PORT_DATABASE"), "sqs and sns": at("PORT_MESSAGING"),
	}
	targets := maps.Clone(control)
	maps.Copy(targets, allowed)
	var r probeReport
	raw := invoke(t, "ProbeFunction", map[string]any{"targets": targets, "fill_tmp": true})
	require.NoError(t, json.Unmarshal(raw, &r), "%s", raw)
	t.Logf("probe (kubernetes mode): %s", raw)
	for label, result := range r.Reach {
		if _, ok := control[label]; !ok {
			continue
		}
		want := []string{"timeout", "refused-by-sandbox"}
		if strings.HasSuffix(label, "name") {
			want = append(want, "no-such-host")
		}
		assert.Contains(t, want, result, "%s (%s)", label, control[label])
	}
	for label := range allowed {
		assert.Equal(t, "open", r.Reach[label], "%s (%s)", label, allowed[label])
	}
	assert.Equal(t, 993, r.UID, "Lambda's user")
	assert.Equal(t, 990, r.GID)
	for _, set := range []string{"CapEff", "CapPrm", "CapAmb"} {
		assert.Equal(t, "0000000000000000", r.Status[set], set)
	}
	assert.Equal(t, "1", r.Status["NoNewPrivs"])
	assert.Equal(t, "EPERM", r.RawSocket, "no raw sockets")
	assert.Equal(t, "EROFS", r.WriteRoot)
	assert.Equal(t, "EROFS", r.WriteTask)
	assert.Equal(t, "written", r.WriteTmp)
	require.NotNil(t, r.FillTmp)
	assert.Equal(t, "ENOSPC", r.FillTmp.StoppedBy, "/tmp is bounded")
	assert.InDelta(t, 512, r.FillTmp.MB, 16, "Lambda's 512 MB of /tmp")
}

// nodeLoss waits for WhereFunction's provisioned containers to run on both
// nodes, then kills node 2 (its kubelet and every container on it) under a steady load
// and measures what the clients saw and how long until the agent had
// replaced the lost containers on node 1.
func nodeLoss(t *testing.T, s *stack, k *kubeCluster, where func(ms int) (string, error)) {
	t.Helper()
	ctx := t.Context()
	ns := s.layout.Env.Project()
	nodes := k.nodes()
	require.Len(t, nodes, 2)
	lost := nodes[1]

	// WhereFunction's four provisioned containers, which the scheduler
	// spreads over the nodes.
	const warm = 4
	perNode := map[string]int{}
	count := func() {
		clear(perNode)
		for _, p := range k.functionPods(ctx, t, ns, "WhereFunction") {
			perNode[p.Spec.NodeName]++
		}
	}
	require.NoError(t, poll(ctx, time.Second, 2*time.Minute, func() error {
		count()
		if perNode[nodes[0]]+perNode[lost] < warm || perNode[nodes[0]] == 0 || perNode[lost] == 0 {
			return fmt.Errorf("warm Pods per node: %v", perNode)
		}
		return nil
	}))
	t.Logf("warm Pods per node before the loss: %v", perNode)
	onLost := perNode[lost]

	// A steady load: 10 requests/s, each 100 ms of work.
	var sent, failed atomic.Int64
	var failures sync.Map
	stop := make(chan struct{})
	var load sync.WaitGroup
	load.Go(func() {
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			load.Go(func() {
				sent.Add(1)
				if _, err := where(100); err != nil {
					failed.Add(1)
					failures.Store(err.Error(), true)
				}
			})
		}
	})
	time.Sleep(3 * time.Second)
	killed := time.Now()
	k.Run(t, 2*time.Minute, "kill-node", "2")
	t.Cleanup(func() { k.Run(t, 3*time.Minute, "restore-node", "2") })

	// The agent replaces the lost warm containers on the surviving node:
	// all four provisioned ones run there.
	var replaced time.Duration
	require.NoError(t, poll(ctx, 500*time.Millisecond, 3*time.Minute, func() error {
		count()
		node, err := k.client.CoreV1().Nodes().Get(ctx, lost, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if nodeReady(node) {
			return fmt.Errorf("%s still Ready", lost)
		}
		if perNode[nodes[0]] < warm {
			return fmt.Errorf("warm Pods on %s: %d of %d", nodes[0], perNode[nodes[0]], warm)
		}
		return nil
	}))
	replaced = time.Since(killed)
	time.Sleep(5 * time.Second) // requests keep being served after the replacement
	close(stop)
	load.Wait()
	var reasons []string
	failures.Range(func(key, _ any) bool { reasons = append(reasons, key.(string)); return true })
	sort.Strings(reasons)
	t.Logf("node loss: %d of %d requests failed (%v); %s NotReady and its %d warm Pods replaced on %s %s after the kill",
		failed.Load(), sent.Load(), reasons, lost, onLost, nodes[0], replaced.Round(100*time.Millisecond))
	// Requests that ran in a container of the killed node fail, as they
	// would on Lambda when a host dies; the rest are served.
	assert.Less(t, failed.Load(), sent.Load()/4, "requests keep being served: %v", reasons)
	host, err := where(0)
	require.NoError(t, err)
	pod, err := k.client.CoreV1().Pods(ns).Get(ctx, host, metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, nodes[0], pod.Spec.NodeName, "served from the surviving node")
}

func nodeReady(n *corev1.Node) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}
