package containerdruntime

import (
	"context"
	"encoding/json"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/containers"
	"github.com/containerd/containerd/v2/pkg/identifiers"
	"github.com/containerd/containerd/v2/pkg/oci"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/esb-dev/esb/services/agent/engine"
	"github.com/esb-dev/esb/services/agent/sandbox"
)

func TestProcessArgs(t *testing.T) {
	tests := []struct {
		name                      string
		entrypoint, imageCmd, cmd []string
		want                      []string
	}{
		{name: "lambda image: entrypoint plus our handler", entrypoint: []string{"/lambda-entrypoint.sh"}, imageCmd: []string{"app.handler"}, cmd: []string{"other.handler"}, want: []string{"/lambda-entrypoint.sh", "other.handler"}},
		{name: "no cmd keeps the image's", entrypoint: []string{"/lambda-entrypoint.sh"}, imageCmd: []string{"app.handler"}, want: []string{"/lambda-entrypoint.sh", "app.handler"}},
		{name: "no entrypoint: cmd is the executable", cmd: []string{"/bin/fn", "x"}, want: []string{"/bin/fn", "x"}},
		{name: "nothing", want: []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			entry := append([]string(nil), tt.entrypoint...)
			got := processArgs(entry, tt.imageCmd, tt.cmd)
			assert.Equal(t, tt.want, append([]string{}, got...))
			assert.Equal(t, tt.entrypoint, entry, "the image's entrypoint is not modified")
		})
	}
}

func TestState(t *testing.T) {
	tests := []struct {
		name    string
		status  containerd.ProcessStatus
		hasTask bool
		want    engine.State
	}{
		{name: "no task", want: engine.StateCreated},
		{name: "created", status: containerd.Created, hasTask: true, want: engine.StateCreated},
		{name: "running", status: containerd.Running, hasTask: true, want: engine.StateRunning},
		{name: "paused", status: containerd.Paused, hasTask: true, want: engine.StatePaused},
		{name: "pausing", status: containerd.Pausing, hasTask: true, want: engine.StatePaused},
		{name: "stopped", status: containerd.Stopped, hasTask: true, want: engine.StateExited},
		{name: "unknown", status: containerd.Unknown, hasTask: true, want: engine.StateDead},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, state(tt.status, tt.hasTask))
		})
	}
}

func TestLabelFilter(t *testing.T) {
	assert.Equal(t, `labels."dev.esb.env"=="dev",labels."dev.esb.managed"=="true"`,
		labelFilter(map[string]string{"dev.esb.managed": "true", "dev.esb.env": "dev"}))
	assert.Empty(t, labelFilter(nil))
}

func TestContainerID(t *testing.T) {
	tests := []struct {
		name string
		in   string
		same bool
	}{
		{name: "launcher name is its own ID", in: "esb-dev-fn-HelloFunction-0a1b2c3d", same: true},
		{name: "too long", in: "esb-dev-fn-" + strings.Repeat("VeryLongFunctionName", 4) + "-0a1b2c3d"},
		{name: "doubled separator", in: "esb-dev-fn-a__b-0a1b2c3d"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id := containerID(tt.in)
			require.NoError(t, identifiers.Validate(id))
			assert.Equal(t, tt.same, id == tt.in)
			assert.Equal(t, id, containerID(tt.in), "stable")
			assert.Equal(t, id, containerID(id), "an ID maps onto itself")
		})
	}
}

func TestNormalizeRef(t *testing.T) {
	tests := []struct{ in, want string }{
		{"registry:5000/esb-dev/hello:latest", "registry:5000/esb-dev/hello:latest"},
		{"registry:5000/esb-dev/hello", "registry:5000/esb-dev/hello:latest"},
		{"registry:5000/esb-dev/hello@sha256:" + strings.Repeat("a", 64), "registry:5000/esb-dev/hello@sha256:" + strings.Repeat("a", 64)},
		{"debian:bookworm-slim", "docker.io/library/debian:bookworm-slim"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := normalizeRef(tt.in)
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
	_, err := normalizeRef("Not A Ref")
	assert.Error(t, err)
}

func TestFunctionSpecOpts(t *testing.T) {
	spec := engine.Spec{
		Name:        "esb-dev-fn-Hello-0a1b2c3d",
		Image:       "registry:5000/esb-dev/hello:latest",
		Cmd:         []string{"app.handler"},
		Env:         []string{"AWS_REGION=eu-west-1", "PATH=/opt/bin:/usr/bin"},
		Labels:      map[string]string{"dev.esb.env": "dev", "dev.esb.function": "Hello"},
		MemoryBytes: 256 << 20,
	}
	img := ocispec.ImageConfig{
		Entrypoint: []string{"/lambda-entrypoint.sh"},
		Cmd:        []string{"image.default"},
		Env:        []string{"PATH=/usr/bin", "LAMBDA_TASK_ROOT=/var/task"},
		WorkingDir: "/var/task",
		User:       "1000:1001",
	}
	files := functionFiles{Hosts: "/data/esb/c/hosts", ResolvConf: "/data/esb/c/resolv.conf", JoinStderr: "/data/bin/joinstderr"}
	opts, err := functionSpecOpts(spec, img, files)
	require.NoError(t, err)
	s := &oci.Spec{Process: &specs.Process{}, Linux: &specs.Linux{}}
	require.NoError(t, oci.ApplyOpts(context.Background(), nil, &containers.Container{ID: spec.Name}, s, opts...))

	assert.Equal(t, []string{"/.esb/joinstderr", "/lambda-entrypoint.sh", "app.handler"}, s.Process.Args)
	assert.ElementsMatch(t, []string{"PATH=/opt/bin:/usr/bin", "LAMBDA_TASK_ROOT=/var/task", "AWS_REGION=eu-west-1"}, s.Process.Env)
	assert.Equal(t, "/var/task", s.Process.Cwd)
	assert.Equal(t, specs.User{UID: 1000, GID: 1001}, s.Process.User)
	assert.Equal(t, spec.Name, s.Hostname)
	assert.Equal(t, map[string]string{"io.containerd.runc.v2.group": "dev/Hello"}, s.Annotations, "one shim per function")
	require.NotNil(t, s.Linux.Resources.Memory)
	assert.Equal(t, int64(256<<20), *s.Linux.Resources.Memory.Limit)
	assert.Equal(t, int64(256<<20), *s.Linux.Resources.Memory.Swap, "no swap beyond memory")
	assert.Contains(t, s.Mounts, specs.Mount{Source: files.Hosts, Destination: "/etc/hosts", Type: "bind", Options: []string{"rbind", "ro"}})
	assert.Contains(t, s.Mounts, specs.Mount{Source: files.ResolvConf, Destination: "/etc/resolv.conf", Type: "bind", Options: []string{"rbind", "ro"}})
	assert.Contains(t, s.Mounts, specs.Mount{Source: files.JoinStderr, Destination: "/.esb/joinstderr", Type: "bind", Options: []string{"rbind", "ro"}})

	// An image without env, cwd or user gets Docker's defaults.
	opts, err = functionSpecOpts(engine.Spec{Name: "x"}, ocispec.ImageConfig{Cmd: []string{"/fn"}}, functionFiles{})
	require.NoError(t, err)
	s = &oci.Spec{Process: &specs.Process{}, Linux: &specs.Linux{}}
	require.NoError(t, oci.ApplyOpts(context.Background(), nil, &containers.Container{ID: "x"}, s, opts...))
	assert.Equal(t, []string{"/fn"}, s.Process.Args, "without joinstderr the process starts as is")
	assert.Equal(t, []string{defaultPath}, s.Process.Env)
	assert.Equal(t, "/", s.Process.Cwd)
	assert.Equal(t, specs.User{}, s.Process.User)
	assert.Nil(t, s.Linux.Resources, "no memory limit asked")
	assert.Empty(t, s.Mounts)
	assert.Empty(t, s.Annotations, "no function: a shim of its own")
}

func TestFunctionSpecOptsSandbox(t *testing.T) {
	sb := &engine.Sandbox{
		Policy:   sandbox.Policy{UID: sandbox.LambdaUID, GID: sandbox.LambdaGID, Allow: []string{"10.88.0.1:9001"}, Egress: true},
		TmpBytes: 512 << 20, Pids: 1024, CPUShares: 148,
	}
	spec := engine.Spec{Name: "fn", Cmd: []string{"app.handler"}, Sandbox: sb}
	img := ocispec.ImageConfig{Entrypoint: []string{"/lambda-entrypoint.sh"}, Cmd: []string{"image.default"}, User: "1000"}
	files := functionFiles{JoinStderr: "/data/bin/joinstderr", Sandboxinit: "/data/bin/sandboxinit"}
	opts, err := functionSpecOpts(spec, img, files)
	require.NoError(t, err)
	s := &oci.Spec{Process: &specs.Process{}, Linux: &specs.Linux{}}
	require.NoError(t, oci.ApplyOpts(context.Background(), nil, &containers.Container{ID: spec.Name}, s, opts...))

	want := append([]string{"/.esb/joinstderr"}, sb.Policy.Args()...)
	assert.Equal(t, append(want, "/lambda-entrypoint.sh", "app.handler"), s.Process.Args)
	assert.Equal(t, specs.User{}, s.Process.User, "sandboxinit starts as root and drops to the Lambda user")
	assert.Equal(t, []string{"CAP_NET_ADMIN", "CAP_SETUID", "CAP_SETGID", "CAP_SETPCAP"}, s.Process.Capabilities.Bounding)
	assert.True(t, s.Process.NoNewPrivileges)
	assert.True(t, s.Root.Readonly)
	assert.Equal(t, int64(1024), *s.Linux.Resources.Pids.Limit)
	assert.Equal(t, uint64(148), *s.Linux.Resources.CPU.Shares)
	require.NotNil(t, s.Linux.Seccomp, "the default seccomp profile")
	assert.Contains(t, s.Mounts, specs.Mount{Source: "/data/bin/sandboxinit", Destination: sandbox.Path, Type: "bind", Options: []string{"rbind", "ro"}})
	assert.Contains(t, s.Mounts, specs.Mount{Source: "tmpfs", Destination: "/tmp", Type: "tmpfs", Options: []string{"nosuid", "nodev", "mode=1777", "size=536870912"}})

	_, err = functionSpecOpts(spec, img, functionFiles{})
	assert.ErrorContains(t, err, "no sandboxinit", "a sandbox is never silently skipped")
}

func TestParseUser(t *testing.T) {
	tests := []struct {
		in       string
		uid, gid uint32
		wantErr  bool
	}{
		{in: ""}, {in: "root"}, {in: "0"},
		{in: "1000", uid: 1000, gid: 1000},
		{in: "1000:50", uid: 1000, gid: 50},
		{in: "sbx_user1051", wantErr: true},
		{in: "1000:staff", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			uid, gid, err := parseUser(tt.in)
			if tt.wantErr {
				assert.Error(t, err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, [2]uint32{tt.uid, tt.gid}, [2]uint32{uid, gid})
		})
	}
}

func TestHostsAndResolvConf(t *testing.T) {
	hosts := hostsFile("esb-dev-fn-Hello-0a1b2c3d", []hostEntry{{Name: "s3-storage", IP: "172.20.0.3"}, {Name: "database", IP: "172.20.0.4"}})
	assert.Contains(t, hosts, "127.0.0.1\tlocalhost\n")
	assert.Contains(t, hosts, "127.0.1.1\tesb-dev-fn-Hello-0a1b2c3d\n")
	assert.Contains(t, hosts, "172.20.0.3\ts3-storage\n172.20.0.4\tdatabase\n")

	conf := resolvConf("# Generated by Docker Engine.\nnameserver 127.0.0.11\nnameserver 10.0.0.2\nsearch corp.example\noptions ndots:0\n")
	assert.NotContains(t, conf, "127.0.0.11", "the node's loopback DNS is unreachable from a function")
	assert.Contains(t, conf, "nameserver 10.0.0.2\n")
	assert.Contains(t, conf, "search corp.example\n")
	assert.Contains(t, conf, "options ndots:0\n")
}

func TestConfList(t *testing.T) {
	cfg := CNIConfig{PluginDirs: []string{"/usr/lib/cni"}, Bridge: "esb0", Subnet: netip.MustParsePrefix("10.88.0.0/16"), DataDir: "/var/lib/cni/esb"}
	data, err := confList(cfg)
	require.NoError(t, err)
	var got struct {
		CNIVersion string `json:"cniVersion"`
		Plugins    []struct {
			Type   string `json:"type"`
			Bridge string `json:"bridge"`
			IPMasq bool   `json:"ipMasq"`
			IPAM   struct {
				Type    string                `json:"type"`
				Ranges  [][]map[string]string `json:"ranges"`
				DataDir string                `json:"dataDir"`
			} `json:"ipam"`
		} `json:"plugins"`
	}
	require.NoError(t, json.Unmarshal(data, &got))
	require.Len(t, got.Plugins, 1)
	p := got.Plugins[0]
	assert.Equal(t, "bridge", p.Type)
	assert.Equal(t, "esb0", p.Bridge)
	assert.True(t, p.IPMasq, "functions reach the platform through the node's address")
	assert.Equal(t, "host-local", p.IPAM.Type)
	assert.Equal(t, "10.88.0.0/16", p.IPAM.Ranges[0][0]["subnet"])
	assert.Equal(t, "/var/lib/cni/esb", p.IPAM.DataDir)

	for _, bad := range []CNIConfig{
		{Bridge: "esb0", Subnet: cfg.Subnet, DataDir: "/x"},
		{PluginDirs: cfg.PluginDirs, Bridge: "a-bridge-name-too-long", Subnet: cfg.Subnet, DataDir: "/x"},
		{PluginDirs: cfg.PluginDirs, Bridge: "esb0", Subnet: netip.MustParsePrefix("10.88.0.0/30"), DataDir: "/x"},
		{PluginDirs: cfg.PluginDirs, Bridge: "esb0", Subnet: cfg.Subnet},
	} {
		_, err := confList(bad)
		assert.Error(t, err, "%+v", bad)
	}
}

func TestFollowLog(t *testing.T) {
	tests := []struct {
		name    string
		fromEnd bool
		want    string
	}{
		{name: "from the start", want: "before\nafter\nlast\n"},
		{name: "from the end", fromEnd: true, want: "after\nlast\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "output.log")
			require.NoError(t, os.WriteFile(path, []byte("before\n"), 0o644))
			done := make(chan struct{})
			var f *os.File
			var out strings.Builder
			w := &signalWriter{w: &out, wrote: make(chan struct{}, 16)}
			errc := make(chan error, 1)
			l, err := openLog(path, tt.fromEnd)
			require.NoError(t, err)
			defer l.Close()
			go func() { errc <- follow(t.Context(), l, done, time.Millisecond, w) }()

			if !tt.fromEnd {
				<-w.wrote // "before" was copied
			}
			f, err = os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
			require.NoError(t, err)
			_, err = f.WriteString("after\n")
			require.NoError(t, err)
			<-w.wrote
			_, err = f.WriteString("last\n")
			require.NoError(t, err)
			require.NoError(t, f.Close())
			close(done) // the task exited: what is left is copied
			require.NoError(t, <-errc)
			assert.Equal(t, tt.want, out.String())
		})
	}
}

// The shim copies a task's last output after the exit is reported; the
// stream must wait for it while the shim holds the file, however many
// polls bring nothing meanwhile.
func TestFollowLogWaitsForTheWriter(t *testing.T) {
	path := filepath.Join(t.TempDir(), "output.log")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	require.NoError(t, err)
	_, err = f.WriteString("started\n")
	require.NoError(t, err)
	l, err := openLog(path, false)
	require.NoError(t, err)
	defer l.Close()
	done := make(chan struct{})
	close(done) // the task exited; the writer has not let go yet
	var out strings.Builder
	w := &signalWriter{w: &out, wrote: make(chan struct{}, 16)}
	errc := make(chan error, 1)
	go func() { errc <- follow(t.Context(), l, done, time.Millisecond, w) }()
	<-w.wrote

	// Many more empty polls than settleRounds pass before the last line.
	time.Sleep(20 * settleRounds * time.Millisecond)
	select {
	case err := <-errc:
		t.Fatalf("stream ended while the writer still held the file (err %v)", err)
	default:
	}
	_, err = f.WriteString("crash report\n")
	require.NoError(t, err)
	require.NoError(t, f.Close())
	require.NoError(t, <-errc)
	assert.Equal(t, "started\ncrash report\n", out.String())
}

// signalWriter reports each non-empty write, so the test waits on the
// copy instead of sleeping.
type signalWriter struct {
	w     *strings.Builder
	wrote chan struct{}
}

func (s *signalWriter) Write(p []byte) (int, error) {
	if len(p) > 0 {
		s.w.Write(p)
		s.wrote <- struct{}{}
	}
	return len(p), nil
}
