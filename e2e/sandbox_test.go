//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/client"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/esb-dev/esb/internal/awsid"
	"github.com/esb-dev/esb/services/agent/containerdruntime"
	"github.com/esb-dev/esb/services/agent/dockerruntime"
)

// TestSandbox deploys a probe function into a docker-mode and a
// containerd-mode env and checks, from inside the function, what issue 16
// asks of the function sandbox: nothing of the control plane (agent,
// registry, log store, engine, other functions) is reachable by name or
// address, only the Runtime API and the data services; the function runs
// as Lambda's non-root user with no capabilities and no_new_privs, / and
// /var/task are read-only, /tmp is a 512 MB tmpfs, and a fork bomb stops
// at the pids limit while the gateway keeps serving; a thief function
// cannot take or answer another's invocation at the Runtime API. Both
// modes also switch egress off.
func TestSandbox(t *testing.T) {
	t.Parallel()
	envs := []struct {
		name   string
		offset int
		mode   string
	}{
		{"sandbox-d", 500, "docker"},
		{"sandbox-c", 600, "containerd"},
	}
	for _, e := range envs {
		t.Run(e.mode, func(t *testing.T) {
			t.Parallel()
			sandboxFlow(t, newModeStack(t, e.name, e.offset, e.mode))
		})
	}
}

// probeReport is what testdata/sandbox/src/probe.py answers.
type probeReport struct {
	UID       int               `json:"uid"`
	GID       int               `json:"gid"`
	EUID      int               `json:"euid"`
	Status    map[string]string `json:"status"`
	RawSocket string            `json:"raw_socket"`
	WriteRoot string            `json:"write_root"`
	WriteTask string            `json:"write_task"`
	WriteTmp  string            `json:"write_tmp"`
	TmpMB     int               `json:"tmp_mb"`
	Reach     map[string]string `json:"reach"`
	FillTmp   *struct {
		MB        int    `json:"mb"`
		StoppedBy string `json:"stopped_by"`
	} `json:"fill_tmp"`
	ForkBomb *struct {
		Started   int     `json:"started"`
		StoppedBy string  `json:"stopped_by"`
		Seconds   float64 `json:"seconds"`
	} `json:"fork_bomb"`
}

// invokeUntilOK invokes function through the env's Invoke API with event
// until it answers 200 (a cold start, a deploy still reloading) or limit
// passes, and returns the answer.
func invokeUntilOK(ctx context.Context, t *testing.T, s *stack, function string, event any, limit time.Duration) []byte {
	t.Helper()
	body, err := json.Marshal(event)
	require.NoError(t, err)
	url := s.url("PORT_GATEWAY", "/2015-03-31/functions/"+function+"/invocations")
	var out []byte
	require.NoError(t, poll(ctx, 500*time.Millisecond, limit, func() error {
		status, _, b := dpRequest(ctx, t, http.MethodPost, url, string(body))
		if status != http.StatusOK {
			return fmt.Errorf("invoke %s: %d %s", function, status, b)
		}
		out = b
		return nil
	}))
	return out
}

// probePeer is where PeerFunction of testdata/sandbox listens.
type probePeer struct {
	IP   string `json:"ip"`
	Port int    `json:"port"`
}

// deploySandboxProbe deploys testdata/sandbox into s (extra deploy flags
// after the template) and returns an invoker that waits up to limit for a
// 200, and where PeerFunction listens.
func deploySandboxProbe(t *testing.T, s *stack, limit time.Duration, deployArgs ...string) (func(t *testing.T, function string, event any) []byte, probePeer) {
	t.Helper()
	ctx := t.Context()
	work := t.TempDir()
	copyTree(t, filepath.Join("testdata", "sandbox"), work)
	res := s.esb(ctx, t, append([]string{"deploy", "-t", filepath.Join(work, "template.yml")}, deployArgs...)...)
	require.NoError(t, res.err, res.stderr)
	invoke := func(t *testing.T, function string, event any) []byte {
		t.Helper()
		return invokeUntilOK(ctx, t, s, function, event, limit)
	}
	var peer probePeer
	require.NoError(t, json.Unmarshal(invoke(t, "PeerFunction", map[string]any{}), &peer))
	require.NotEmpty(t, peer.IP)
	return invoke, peer
}

func sandboxFlow(t *testing.T, s *stack) {
	ctx := t.Context()
	docker := dockerClient(t)
	s.up(t)
	var deployArgs []string
	if s.mode == "containerd" {
		deployArgs = []string{"--mode", "containerd", "--tag", "e2e-sandbox"}
	}
	invoke, peer := deploySandboxProbe(t, s, 60*time.Second, deployArgs...)

	// Control-plane services, by name and by their address on the
	// platform (control) network, the peer function by address; then what
	// a function must reach.
	control := map[string]string{
		"agent by name":     "agent:9000",
		"registry by name":  "registry:5000",
		"logs by name":      "logs:9428",
		"events by name":    "events:9100",
		"peer function":     net.JoinHostPort(peer.IP, strconv.Itoa(peer.Port)),
		"peer function udp": "udp:" + net.JoinHostPort(peer.IP, "7777"),
		"cloud metadata":    "169.254.169.254:80",
		// The admin listener: metrics, dashboard and log tails, for the
		// operator on host loopback only.
		"gateway admin": "gateway:8082",
	}
	for svc, port := range map[string]int{"registry": 5000, "logs": 9428, "agent": 9000} {
		if s.mode == "containerd" && svc == "agent" {
			continue // in runtime-node's namespace: the bridge address below
		}
		ip := serviceIP(ctx, t, docker, s, svc)
		control[svc+" by address"] = net.JoinHostPort(ip, strconv.Itoa(port))
		if svc == "registry" {
			control["registry udp"] = "udp:" + net.JoinHostPort(ip, "5000")
		}
	}
	// The gateway's Invoke API is the function's AWS_ENDPOINT_URL_LAMBDA
	// (Lambda's own endpoint, reachable from a function on AWS too).
	allowed := map[string]string{
		"s3": "s3-storage:7070", "dynamodb": "database:8000", "sqs and sns": "messaging:4566",
		"runtime api": "gateway:9001", "lambda invoke api": "gateway:8080",
	}
	if s.mode == "containerd" {
		// The bridge's address is runtime-node's namespace: gateway and agent.
		control["agent by address"] = "10.88.0.1:9000"
		control["gateway admin"] = "10.88.0.1:8082"
		allowed["runtime api"] = "10.88.0.1:9001"
		allowed["lambda invoke api"] = "10.88.0.1:8080"
	}
	targets := maps.Clone(control)
	maps.Copy(targets, allowed)

	var r probeReport
	raw := invoke(t, "ProbeFunction", map[string]any{"targets": targets, "fill_tmp": true, "fork_bomb": true})
	require.NoError(t, json.Unmarshal(raw, &r), "%s", raw)
	t.Logf("probe (%s mode): %s", s.mode, raw)

	if s.mode == "docker" {
		// What this flow checks holds for a container that joined a
		// netns holder (NETNS_POOL, on by default): the probe must be one.
		t.Run("docker mode: the probe runs in a network namespace the agent prepared", func(t *testing.T) {
			probes := functionContainers(ctx, t, docker, s, "ProbeFunction")
			require.NotEmpty(t, probes)
			for _, c := range probes {
				holder, ok := strings.CutPrefix(c.HostConfig.NetworkMode, "container:")
				require.True(t, ok, "network mode %q", c.HostConfig.NetworkMode)
				h, err := docker.ContainerInspect(ctx, holder)
				require.NoError(t, err)
				assert.Equal(t, s.layout.Env.Project()+"_functions", h.Config.Labels[dockerruntime.LabelHolder])
				assert.Equal(t, []string{"ALL"}, []string(h.HostConfig.CapDrop), "the holder has no capabilities")
			}
		})
	}
	if s.mode == "containerd" {
		// Likewise for a task created in a namespace the agent prepared
		// with its CNI address (NETNS_POOL, on by default).
		t.Run("containerd mode: the probe runs in a network namespace the agent prepared", func(t *testing.T) {
			ids, err := s.compose(ctx, "exec", "-T", "runtime-node", "ctr", "-n", s.layout.Env.Brand, "containers", "ls", "-q")
			require.NoError(t, err, "%s", ids)
			probes := 0
			for _, id := range strings.Fields(ids) {
				raw, err := s.compose(ctx, "exec", "-T", "runtime-node", "ctr", "-n", s.layout.Env.Brand, "containers", "info", id)
				require.NoError(t, err, "%s", raw)
				var info struct {
					Labels map[string]string `json:"Labels"`
				}
				require.NoError(t, json.Unmarshal([]byte(raw), &info), "%s", raw)
				if info.Labels["dev.esb.function"] != "ProbeFunction" {
					continue
				}
				probes++
				assert.Regexp(t, "^esb-netns-[0-9a-f]{16}$", info.Labels[containerdruntime.LabelNetns], "container %s", id)
			}
			assert.NotZero(t, probes, "the probe's container is on the node")
		})
	}
	t.Run("function containers are in the functions' CPU group, which weighs as the node's CPUs", func(t *testing.T) {
		group := s.layout.Env.Brand // containerd's namespace, and docker mode's cgroup parent
		if s.mode == "docker" {
			info, err := docker.Info(ctx)
			require.NoError(t, err)
			if info.CgroupDriver != "cgroupfs" {
				// A parent must then be a systemd slice: the agent says so.
				out, _ := s.compose(ctx, "logs", "--no-color", "agent")
				assert.Contains(t, out, "function CPU group not set")
				return
			}
			probes := functionContainers(ctx, t, docker, s, "ProbeFunction")
			require.NotEmpty(t, probes)
			for _, c := range probes {
				full, err := docker.ContainerInspect(ctx, c.ID)
				require.NoError(t, err)
				assert.Equal(t, "/"+group, full.HostConfig.CgroupParent)
			}
		} else {
			ids, err := s.compose(ctx, "exec", "-T", "runtime-node", "ctr", "-n", s.layout.Env.Brand, "containers", "ls", "-q")
			require.NoError(t, err, "%s", ids)
			require.NotEmpty(t, strings.Fields(ids))
			for _, id := range strings.Fields(ids) {
				raw, err := s.compose(ctx, "exec", "-T", "runtime-node", "ctr", "-n", s.layout.Env.Brand, "containers", "info", id)
				require.NoError(t, err, "%s", raw)
				var info struct {
					Spec struct {
						Linux struct {
							CgroupsPath string `json:"cgroupsPath"`
						} `json:"linux"`
					} `json:"Spec"`
				}
				require.NoError(t, json.Unmarshal([]byte(raw), &info), "%s", raw)
				assert.Equal(t, "/"+group+"/"+id, info.Spec.Linux.CgroupsPath)
			}
		}
		// The test runs on the node, as root (CI does).
		file, want := filepath.Join("/sys/fs/cgroup/cpu", group, "cpu.shares"), runtime.NumCPU()*1024
		if _, err := os.Stat("/sys/fs/cgroup/cgroup.controllers"); err == nil {
			file, want = filepath.Join("/sys/fs/cgroup", group, "cpu.weight"), min(runtime.NumCPU()*100, 10000)
		}
		b, err := os.ReadFile(file)
		require.NoError(t, err)
		assert.Equal(t, strconv.Itoa(want), strings.TrimSpace(string(b)), "%s", file)
	})
	t.Run("the control plane and other functions are out of reach", func(t *testing.T) {
		for label, result := range r.Reach {
			if _, ok := control[label]; !ok {
				continue
			}
			// A dropped SYN: the connect times out (as on Lambda for an
			// address it does not route); a UDP send is refused at once.
			want := []string{"timeout", "refused-by-sandbox"}
			if strings.HasSuffix(label, "by name") {
				want = append(want, "no-such-host")
			}
			if strings.HasSuffix(label, "udp") {
				want = []string{"refused-by-sandbox"} // nothing else refuses a send to a live peer
			}
			assert.Contains(t, want, result, "%s (%s)", label, control[label])
		}
	})
	t.Run("the Runtime API and the data services are reachable", func(t *testing.T) {
		for label := range allowed {
			assert.Equal(t, "open", r.Reach[label], "%s (%s)", label, allowed[label])
		}
	})
	t.Run("runs as Lambda's user with no capabilities", func(t *testing.T) {
		assert.Equal(t, 993, r.UID)
		assert.Equal(t, 993, r.EUID)
		assert.Equal(t, 990, r.GID)
		for _, set := range []string{"CapEff", "CapPrm", "CapBnd", "CapAmb"} {
			assert.Equal(t, "0000000000000000", r.Status[set], set)
		}
		assert.Equal(t, "1", r.Status["NoNewPrivs"])
		assert.Equal(t, "EPERM", r.RawSocket, "no raw sockets: no forged source address")
		if s.mode == "containerd" {
			assert.Equal(t, "2", r.Status["Seccomp"], "the default seccomp profile")
		}
	})
	t.Run("root and /var/task read-only, /tmp a 512 MB tmpfs", func(t *testing.T) {
		assert.Equal(t, "EROFS", r.WriteRoot)
		assert.Equal(t, "EROFS", r.WriteTask)
		assert.Equal(t, "written", r.WriteTmp)
		assert.Equal(t, 512, r.TmpMB)
		require.NotNil(t, r.FillTmp)
		assert.Equal(t, "ENOSPC", r.FillTmp.StoppedBy)
		assert.InDelta(t, 512, r.FillTmp.MB, 2)
	})
	t.Run("a fork bomb stops at the pids limit; the gateway keeps serving", func(t *testing.T) {
		require.NotNil(t, r.ForkBomb)
		assert.Equal(t, "EAGAIN", r.ForkBomb.StoppedBy)
		assert.Less(t, r.ForkBomb.Started, 1024)
		assert.Greater(t, r.ForkBomb.Started, 900)
		gatewayHealth(ctx, t, s.url("PORT_GATEWAY", "/health")) // answers 200
		var again struct{ IP string }
		require.NoError(t, json.Unmarshal(invoke(t, "PeerFunction", map[string]any{}), &again))
		assert.NotEmpty(t, again.IP)
	})

	t.Run("the agent refuses a call without the env's token, and logs it", func(t *testing.T) {
		agent := "http://agent:9000"
		if s.mode == "containerd" {
			agent = "http://127.0.0.1:9000"
		}
		out, err := s.compose(ctx, "exec", "-T", "gateway", "curl", "-s", "-o", "/dev/null", "-w", "%{http_code}",
			"-X", "PUT", "-d", `{"functions":[]}`, agent+"/v1/functions")
		require.NoError(t, err, out)
		assert.Equal(t, "401", strings.TrimSpace(out))
		require.NoError(t, poll(ctx, 500*time.Millisecond, 30*time.Second, func() error {
			logs, err := s.compose(ctx, "logs", "--no-log-prefix", "agent")
			if err != nil {
				return err
			}
			if !strings.Contains(logs, "unauthenticated agent call refused") {
				return fmt.Errorf("no refusal in the agent's log")
			}
			return nil
		}))
	})

	t.Run("the registry refuses anonymous writes and reads; esb deploy's credential reads", func(t *testing.T) {
		registryChecks(t, s)
	})

	t.Run("the function uses the data services with its own key pair, not the root key", func(t *testing.T) {
		var got struct {
			Data struct {
				AccessKeyID string `json:"access_key_id"`
				S3Get       string `json:"s3_get"`
				DynamoDB    string `json:"dynamodb"`
				SQS         string `json:"sqs"`
			} `json:"data"`
		}
		raw := invoke(t, "ProbeFunction", map[string]any{"s3_bucket": "sandbox-probe-data"})
		require.NoError(t, json.Unmarshal(raw, &got), "%s", raw)
		t.Logf("data services (%s mode): %s", s.mode, raw)
		root, err := platformCredentials.Retrieve(ctx)
		require.NoError(t, err)
		assert.Equal(t, awsid.FunctionKey(root.SecretAccessKey, "ProbeFunction").AccessKeyID, got.Data.AccessKeyID)
		assert.NotEqual(t, root.AccessKeyID, got.Data.AccessKeyID)
		assert.Equal(t, "written with the function's own key", got.Data.S3Get, "S3 knows the function's own account")
		// dynalite and fauxqs check no signature: any key works there.
		assert.Equal(t, "ok", got.Data.DynamoDB)
		assert.Equal(t, "ok", got.Data.SQS)
	})

	t.Run("a function cannot take or answer another's invocation at the Runtime API", func(t *testing.T) {
		var got struct {
			Answer    string         `json:"answer"`
			RequestID string         `json:"request_id"`
			VictimIP  string         `json:"victim_ip"`
			Thief     map[string]any `json:"thief"`
		}
		raw := invoke(t, "VictimFunction", map[string]any{})
		require.NoError(t, json.Unmarshal(raw, &got), "%s", raw)
		t.Logf("hijack (%s mode): %s", s.mode, raw)
		assert.Equal(t, "the victim's own", got.Answer, "the caller gets the victim's real answer")
		require.NotEmpty(t, got.RequestID)
		require.NotEmpty(t, got.VictimIP)
		want := map[string]any{
			"raw_socket": "EPERM",
			// Not the victim's: the thief's own session, which has no such invocation.
			"response with own secret": float64(http.StatusBadRequest),
			"error with own secret":    float64(http.StatusBadRequest),
		}
		for _, try := range []string{"next without secret", "next with guessed secret", "next forwarded for victim",
			"response without secret", "response with guessed secret", "response forwarded for victim",
			"error without secret", "init error without secret"} {
			want[try] = float64(http.StatusForbidden)
		}
		for try, w := range want {
			assert.Equal(t, w, got.Thief[try], "%s", try)
		}
		// From the victim's address: the SYN may leave (IP_FREEBIND needs
		// no capability), but the answer goes to the victim; or the kernel
		// has no route for a source that is not the thief's (ENETUNREACH,
		// seen in both modes).
		assert.Contains(t, []any{"timeout", "ECONNREFUSED", "EADDRNOTAVAIL", "EPERM", "ENETUNREACH", "refused-by-sandbox"}, got.Thief["freebind_connect"])
		require.NoError(t, poll(ctx, 500*time.Millisecond, 30*time.Second, func() error {
			logs, err := s.compose(ctx, "logs", "--no-log-prefix", "gateway")
			if err != nil {
				return err
			}
			if !strings.Contains(logs, "runtime API call refused") {
				return fmt.Errorf("no refusal in the gateway's log")
			}
			return nil
		}))
	})

	diskFlow(t, s, invoke)

	t.Run("ESB_FUNCTION_EGRESS=none leaves only the env's endpoints", func(t *testing.T) {
		// A public address: with egress on the sandbox lets the packet go
		// (wherever this machine's network takes it); with egress off it
		// never leaves the container.
		public := map[string]any{"targets": map[string]string{"public": "udp:192.0.2.10:53", "s3": "s3-storage:7070"}}
		var before probeReport
		require.NoError(t, json.Unmarshal(invoke(t, "ProbeFunction", public), &before))
		assert.Equal(t, "sent", before.Reach["public"])

		s.set("ESB_FUNCTION_EGRESS", "none")
		out, err := s.compose(ctx, "up", "-d", "--wait", "agent")
		require.NoError(t, err, out)
		var after probeReport
		require.NoError(t, poll(ctx, time.Second, 60*time.Second, func() error {
			after = probeReport{}
			if err := json.Unmarshal(invoke(t, "ProbeFunction", public), &after); err != nil {
				return err
			}
			if after.Reach["public"] != "refused-by-sandbox" {
				return fmt.Errorf("public address: %s", after.Reach["public"])
			}
			return nil
		}))
		assert.Equal(t, "open", after.Reach["s3"])
	})
}

// serviceIP is the address of the env's compose service svc on its
// platform (control) network.
func serviceIP(ctx context.Context, t *testing.T, docker client.APIClient, s *stack, svc string) string {
	t.Helper()
	project := s.layout.Env.Project()
	list, err := docker.ContainerList(ctx, container.ListOptions{Filters: filters.NewArgs(
		filters.Arg("label", "com.docker.compose.project="+project),
		filters.Arg("label", "com.docker.compose.service="+svc),
	)})
	require.NoError(t, err)
	require.Len(t, list, 1, "one %s container of %s", svc, project)
	network := project + "_platform"
	ep, ok := list[0].NetworkSettings.Networks[network]
	require.True(t, ok && ep.IPAddress != "", "%s not on %s (%v)", svc, network, slices.Collect(maps.Keys(list[0].NetworkSettings.Networks)))
	return ep.IPAddress
}

// registryChecks calls the env's registry on its host port as anyone on
// the host (or, with ESB_BIND_ADDR, its network) could: a blob upload, a
// manifest PUT and a DELETE without credentials get 401, and so does a
// read; with the env's credential the catalog lists the repository the
// deploy published (the deploy itself, and the invocations that pulled its
// images, went through the same credential).
func registryChecks(t *testing.T, s *stack) {
	ctx := t.Context()
	base := "http://" + s.layout.RegistryAddr()
	repo := s.layout.Env.Project() + "/probefunction"
	cred := s.registryAuth(t)
	call := func(method, path, contentType, body string, auth bool) (int, string) {
		t.Helper()
		rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		req, err := http.NewRequestWithContext(rctx, method, base+path, strings.NewReader(body))
		require.NoError(t, err)
		if contentType != "" {
			req.Header.Set("Content-Type", contentType)
		}
		// Without Accept the registry answers a manifest lookup only for
		// the types it assumes (a HEAD by digest of an OCI manifest got 404).
		req.Header.Set("Accept", strings.Join([]string{
			"application/vnd.oci.image.manifest.v1+json", "application/vnd.oci.image.index.v1+json",
			"application/vnd.docker.distribution.manifest.v2+json", "application/vnd.docker.distribution.manifest.list.v2+json",
		}, ", "))
		if auth {
			req.SetBasicAuth(cred.Username, cred.Password)
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
		return resp.StatusCode, string(data)
	}

	// The served digest of a published function: a DELETE would remove it.
	status, _ := call(http.MethodGet, "/v2/"+repo+"/tags/list", "", "", true)
	require.Equal(t, http.StatusOK, status, "the deploy published %s", repo)
	digest := s.config(t).Functions.Functions["ProbeFunction"].Digest
	require.True(t, strings.HasPrefix(digest, "sha256:"), digest)

	manifest := `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2},"layers":[]}`
	for _, c := range []struct {
		name, method, path, contentType, body string
	}{
		{"blob upload", http.MethodPost, "/v2/" + repo + "/blobs/uploads/", "", ""},
		{"manifest put", http.MethodPut, "/v2/" + repo + "/manifests/planted", "application/vnd.oci.image.manifest.v1+json", manifest},
		{"manifest put over a base", http.MethodPut, "/v2/library/debian/manifests/trixie-slim", "application/vnd.oci.image.manifest.v1+json", manifest},
		{"delete", http.MethodDelete, "/v2/" + repo + "/manifests/" + digest, "", ""},
		{"catalog read", http.MethodGet, "/v2/_catalog", "", ""},
		{"manifest read", http.MethodGet, "/v2/" + repo + "/manifests/" + digest, "", ""},
	} {
		status, body := call(c.method, c.path, c.contentType, c.body, false)
		assert.Equal(t, http.StatusUnauthorized, status, "anonymous %s: %s", c.name, body)
	}

	status, body := call(http.MethodGet, "/v2/_catalog", "", "", true)
	require.Equal(t, http.StatusOK, status, body)
	var catalog struct {
		Repositories []string `json:"repositories"`
	}
	require.NoError(t, json.Unmarshal([]byte(body), &catalog), body)
	assert.Contains(t, catalog.Repositories, repo)

	// Nothing anonymous changed what the env serves.
	status, _ = call(http.MethodHead, "/v2/"+repo+"/manifests/"+digest, "", "", true)
	assert.Equal(t, http.StatusOK, status, "the function's image is still there")
	status, _ = call(http.MethodHead, "/v2/"+repo+"/manifests/planted", "", "", true)
	assert.Equal(t, http.StatusNotFound, status, "no planted tag")
}
