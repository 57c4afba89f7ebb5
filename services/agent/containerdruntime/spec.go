package containerdruntime

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"net"
	"slices"
	"strconv"
	"strings"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/contrib/seccomp"
	"github.com/containerd/containerd/v2/core/containers"
	"github.com/containerd/containerd/v2/pkg/identifiers"
	"github.com/containerd/containerd/v2/pkg/oci"
	"github.com/distribution/reference"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/esb-dev/esb/internal/agentapi"
	"github.com/esb-dev/esb/services/agent/engine"
	"github.com/esb-dev/esb/services/agent/sandbox"
)

// Labels the runtime keeps on its own containers, beside the caller's.
const (
	// labelName keeps the name the caller created the container with: an
	// ID is the name only while the name is a valid, short enough ID.
	labelName = "dev.esb.containerd.name"
	// labelIP is the CNI address of the running task, written at start.
	labelIP = "dev.esb.containerd.ip"
	// LabelNetns (exported for tests that check it) names the prepared network namespace (its CNI ID) a
	// container was created in; CNI releases its address by that ID.
	// Absent: the task made its own, attached at start under the
	// container's ID.
	LabelNetns = "dev.esb.containerd.netns"
)

// containerID maps a container name onto a containerd ID. A name that is
// a valid ID is its own ID, so Remove finds a container by either; any
// other (a long function name, doubled separators) gets a stable hash.
func containerID(name string) string {
	if identifiers.Validate(name) == nil {
		return name
	}
	sum := sha256.Sum256([]byte(name))
	return "esb-" + hex.EncodeToString(sum[:16])
}

// normalizeRef turns a reference as the launcher writes it (familiar:
// repo:tag, repo@digest or registry:5000/repo:tag) into the fully
// qualified name containerd stores images under.
func normalizeRef(ref string) (string, error) {
	named, err := reference.ParseNormalizedNamed(ref)
	if err != nil {
		return "", fmt.Errorf("image reference %q: %w", ref, err)
	}
	return reference.TagNameOnly(named).String(), nil
}

// processArgs is what the task executes. containerd does not merge image
// and container settings as Docker does: a container's Cmd replaces the
// image's CMD and is appended to its ENTRYPOINT, which a Lambda image
// needs (entrypoint = the runtime bootstrap, CMD = the handler).
func processArgs(entrypoint, imageCmd, cmd []string) []string {
	if len(cmd) == 0 {
		cmd = imageCmd
	}
	return append(slices.Clone(entrypoint), cmd...)
}

// state maps a task status onto engine.State. A container without a task
// was created but never started, or its task was deleted after it exited.
func state(status containerd.ProcessStatus, hasTask bool) engine.State {
	if !hasTask {
		return engine.StateCreated
	}
	switch status {
	case containerd.Created:
		return engine.StateCreated
	case containerd.Running:
		return engine.StateRunning
	case containerd.Paused, containerd.Pausing:
		return engine.StatePaused
	case containerd.Stopped:
		return engine.StateExited
	default:
		return engine.StateDead
	}
}

// labelFilter selects containers carrying every label, in containerd's
// filter syntax (one filter: its conditions are ANDed). Keys and values
// are quoted: label keys contain dots.
func labelFilter(labels map[string]string) string {
	conds := make([]string, 0, len(labels))
	for _, k := range slices.Sorted(maps.Keys(labels)) {
		conds = append(conds, "labels."+strconv.Quote(k)+"=="+strconv.Quote(labels[k]))
	}
	return strings.Join(conds, ",")
}

// functionFiles are host files bind-mounted into a function container.
// Their paths are the same in the agent and on the runtime node (a shared
// volume), since runc resolves them on the node.
type functionFiles struct {
	Hosts      string
	ResolvConf string
	JoinStderr string // the joinstderr command; empty: the process starts as is
	// Sandboxinit is the sandboxinit command, required for a spec with a
	// Sandbox.
	Sandboxinit string
}

// joinStderrPath is where a function container sees joinstderr.
const joinStderrPath = "/.esb/joinstderr"

// shimGroupAnnotation makes containerd's runc shim serve every container
// that carries the same value from one process.
const shimGroupAnnotation = "io.containerd.runc.v2.group"

// defaultPath is the PATH of an image that sets none, as Docker's.
const defaultPath = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// functionSpecOpts shape a function's OCI spec from the image's config
// and ours: args (behind joinstderr, when given), the Lambda environment
// on top of the image's, working dir and user, the memory limit without
// swap (Lambda has none), the hostname and the DNS files. The image
// config is applied here rather than with oci.WithImageConfig, which
// mounts the snapshot in the caller's mount namespace to read /etc/group:
// the agent is not on the node's filesystem. So only numeric users (or
// root) are supported.
func functionSpecOpts(spec engine.Spec, img ocispec.ImageConfig, files functionFiles) ([]oci.SpecOpts, error) {
	uid, gid, err := parseUser(img.User)
	if err != nil {
		return nil, err
	}
	env := img.Env
	if len(env) == 0 {
		env = []string{defaultPath}
	}
	cwd := img.WorkingDir
	if cwd == "" {
		cwd = "/"
	}
	args := processArgs(img.Entrypoint, img.Cmd, spec.Cmd)
	if spec.Sandbox != nil {
		if files.Sandboxinit == "" {
			return nil, fmt.Errorf("sandbox requested but the runtime has no sandboxinit")
		}
		// sandboxinit starts as root and becomes the Lambda user itself.
		args = spec.Sandbox.Command(img.Entrypoint, img.Cmd, spec.Cmd)
		uid, gid = 0, 0
	}
	// joinstderr first: sandboxinit's own refusals then reach the log too.
	if files.JoinStderr != "" && len(args) > 0 {
		args = append([]string{joinStderrPath}, args...)
	}
	opts := []oci.SpecOpts{
		oci.WithProcessArgs(args...),
		oci.WithEnv(env),
		oci.WithEnv(spec.Env),
		oci.WithProcessCwd(cwd),
		withUser(uid, gid),
		oci.WithHostname(hostname(spec.Name)),
	}
	if spec.MemoryBytes > 0 {
		opts = append(opts, oci.WithMemoryLimit(uint64(spec.MemoryBytes)), withMemorySwap(spec.MemoryBytes))
	}
	if fn := spec.Labels[agentapi.LabelFunction]; fn != "" {
		// One runc shim for all containers of a function, as Kubernetes
		// has one per pod: a start then reuses the running shim instead
		// of starting one more Go daemon (the shims took a seventh of
		// a containerd burst's CPU, and each holds its own memory). A
		// shim serves only its function's containers, and exits with
		// the last of them.
		opts = append(opts, oci.WithAnnotations(map[string]string{shimGroupAnnotation: spec.Labels[agentapi.LabelEnv] + "/" + fn}))
	}
	var mounts []specs.Mount
	for _, m := range []struct{ src, dst string }{{files.Hosts, "/etc/hosts"}, {files.ResolvConf, "/etc/resolv.conf"}, {files.JoinStderr, joinStderrPath}} {
		if m.src != "" {
			mounts = append(mounts, specs.Mount{Source: m.src, Destination: m.dst, Type: "bind", Options: []string{"rbind", "ro"}})
		}
	}
	if sb := spec.Sandbox; sb != nil {
		mounts = append(mounts,
			specs.Mount{Source: files.Sandboxinit, Destination: sandbox.Path, Type: "bind", Options: []string{"rbind", "ro"}},
			specs.Mount{Source: "tmpfs", Destination: "/tmp", Type: "tmpfs", Options: []string{"nosuid", "nodev", "mode=1777", fmt.Sprintf("size=%d", sb.TmpBytes)}})
		caps := make([]string, 0, len(sandbox.Capabilities))
		for _, c := range sandbox.Capabilities {
			caps = append(caps, "CAP_"+c)
		}
		opts = append(opts,
			oci.WithRootFSReadonly(),
			oci.WithCapabilities(caps),
			oci.WithNoNewPrivileges,
			oci.WithPidsLimit(sb.Pids),
			oci.WithCPUShares(sb.CPUShares),
			// After the capabilities: the profile allows what they allow.
			seccomp.WithDefaultProfile(),
		)
	}
	if len(mounts) > 0 {
		opts = append(opts, oci.WithMounts(mounts))
	}
	return opts, nil
}

// parseUser reads an image's USER: empty or root, uid or uid:gid.
func parseUser(user string) (uint32, uint32, error) {
	if user == "" || user == "root" || user == "0" || user == "root:root" {
		return 0, 0, nil
	}
	u, g, hasGroup := strings.Cut(user, ":")
	uid, err := strconv.ParseUint(u, 10, 32)
	if err != nil {
		return 0, 0, fmt.Errorf("image user %q: only numeric users are supported in containerd mode", user)
	}
	gid := uid
	if hasGroup {
		if gid, err = strconv.ParseUint(g, 10, 32); err != nil {
			return 0, 0, fmt.Errorf("image user %q: only numeric groups are supported in containerd mode", user)
		}
	}
	return uint32(uid), uint32(gid), nil
}

func withUser(uid, gid uint32) oci.SpecOpts {
	return func(_ context.Context, _ oci.Client, _ *containers.Container, s *oci.Spec) error {
		if s.Process == nil {
			s.Process = &specs.Process{}
		}
		s.Process.User = specs.User{UID: uid, GID: gid}
		return nil
	}
}

// withMemorySwap sets memory+swap equal to the memory limit, as the Docker
// runtime does, so a function cannot swap.
func withMemorySwap(limit int64) oci.SpecOpts {
	return func(_ context.Context, _ oci.Client, _ *containers.Container, s *oci.Spec) error {
		if s.Linux == nil {
			s.Linux = &specs.Linux{}
		}
		if s.Linux.Resources == nil {
			s.Linux.Resources = &specs.LinuxResources{}
		}
		if s.Linux.Resources.Memory == nil {
			s.Linux.Resources.Memory = &specs.LinuxMemory{}
		}
		s.Linux.Resources.Memory.Swap = &limit
		return nil
	}
}

// hostname is the container name cut to the kernel's 64-byte limit.
func hostname(name string) string {
	if len(name) > 64 {
		return name[:64]
	}
	return name
}

// hostEntry is one line of a function's /etc/hosts.
type hostEntry struct {
	Name string
	IP   string
}

// hostsFile is a function's /etc/hosts: loopback, the container's own
// name, and the platform services it calls by name (s3-storage,
// database), whose addresses the agent resolved on the node.
func hostsFile(name string, entries []hostEntry) string {
	var b strings.Builder
	b.WriteString("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n")
	fmt.Fprintf(&b, "127.0.1.1\t%s\n", hostname(name))
	for _, e := range entries {
		fmt.Fprintf(&b, "%s\t%s\n", e.IP, e.Name)
	}
	return b.String()
}

// resolvConf keeps the nameservers of the node's resolver configuration
// that a function's network can reach. Loopback ones (Docker's embedded
// DNS at 127.0.0.11) live in the node's network namespace only, which is
// why platform names go to /etc/hosts instead.
func resolvConf(nodeConf string) string {
	var b strings.Builder
	b.WriteString("# generated by the ESB agent: platform services are in /etc/hosts\n")
	for _, line := range strings.Split(nodeConf, "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		switch f[0] {
		case "nameserver":
			if ip := net.ParseIP(f[1]); ip == nil || ip.IsLoopback() {
				continue
			}
		case "search", "options":
		default:
			continue
		}
		b.WriteString(strings.Join(f, " ") + "\n")
	}
	return b.String()
}
