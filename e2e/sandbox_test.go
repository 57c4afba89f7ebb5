//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net"
	"net/http"
	"path/filepath"
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
)

// TestSandbox deploys a probe function into a docker-mode and a
// containerd-mode env and checks, from inside the function, what issue 16
// asks of the function sandbox: nothing of the control plane (agent,
// registry, log store, engine, other functions) is reachable by name or
// address, only the Runtime API and the data services; the function runs
// as Lambda's non-root user with no capabilities and no_new_privs, / and
// /var/task are read-only, /tmp is a 512 MB tmpfs, and a fork bomb stops
// at the pids limit while the gateway keeps serving. Docker mode also
// switches egress off and back.
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

func sandboxFlow(t *testing.T, s *stack) {
	ctx := t.Context()
	docker := dockerClient(t)
	s.up(t)
	work := t.TempDir()
	copyTree(t, filepath.Join("testdata", "sandbox"), work)
	args := []string{"deploy", "-t", filepath.Join(work, "template.yml")}
	if s.mode == "containerd" {
		args = append(args, "--mode", "containerd", "--tag", "e2e-sandbox")
	}
	res := s.esb(ctx, t, args...)
	require.NoError(t, res.err, res.stderr)

	invoke := func(t *testing.T, function string, event any) []byte {
		t.Helper()
		body, err := json.Marshal(event)
		require.NoError(t, err)
		url := s.url("PORT_GATEWAY", "/2015-03-31/functions/"+function+"/invocations")
		var out []byte
		require.NoError(t, poll(ctx, 500*time.Millisecond, 60*time.Second, func() error {
			status, _, b := dpRequest(ctx, t, http.MethodPost, url, string(body))
			if status != http.StatusOK {
				return fmt.Errorf("invoke %s: %d %s", function, status, b)
			}
			out = b
			return nil
		}))
		return out
	}
	var peer struct {
		IP   string `json:"ip"`
		Port int    `json:"port"`
	}
	require.NoError(t, json.Unmarshal(invoke(t, "PeerFunction", map[string]any{}), &peer))
	require.NotEmpty(t, peer.IP)

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
		allowed["runtime api"] = "10.88.0.1:9001"
		allowed["lambda invoke api"] = "10.88.0.1:8080"
	}
	targets := map[string]string{}
	for k, v := range control {
		targets[k] = v
	}
	for k, v := range allowed {
		targets[k] = v
	}

	var r probeReport
	raw := invoke(t, "ProbeFunction", map[string]any{"targets": targets, "fill_tmp": true, "fork_bomb": true})
	require.NoError(t, json.Unmarshal(raw, &r), "%s", raw)
	t.Logf("probe (%s mode): %s", s.mode, raw)

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

	diskFlow(t, s, invoke)

	if s.mode != "docker" {
		return
	}
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
