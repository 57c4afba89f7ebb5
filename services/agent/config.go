package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/esb-dev/esb/internal/awsid"
	"github.com/esb-dev/esb/internal/platform"
	"github.com/esb-dev/esb/internal/registryauth"
	"github.com/esb-dev/esb/services/agent/kubernetesruntime"
	"github.com/esb-dev/esb/services/agent/launcher"
)

// config is the agent's whole environment, read once at startup.
type config struct {
	Listen     string
	Brand      string
	Env        string // lower-cased, as in every derived name
	Network    string
	PullPolicy launcher.PullPolicy
	Runtime    string
	LogsURL    string
	Platform   launcher.Platform
	// Sandbox seals every function container. Configuration from the
	// environment always sets it; only tests of the pool's mechanics on a
	// runtime without a sandbox volume leave it nil.
	Sandbox *launcher.Sandbox
	// Sandboxinit is the sandboxinit command in the agent's image; every
	// function container starts behind it.
	Sandboxinit string
	// SandboxVolume (docker mode) is the Docker volume function containers
	// mount sandboxinit from, and SandboxDir where the agent sees it.
	SandboxVolume string
	// CgroupRoot (HOST_CGROUP_ROOT; docker and containerd mode) is the
	// host's cgroup filesystem. The agent gives the cgroup of its
	// function containers the node's CPU weight there (package cpugroup),
	// and in docker mode reads a function container's peak memory there
	// instead of through Docker's stats API. Empty: neither.
	CgroupRoot string
	SandboxDir string
	// TokenFile is where the agent writes the env's API token at start;
	// the gateway mounts the same file. Empty: the API is open (tests).
	TokenFile string
	// RegistryAuth is the env's registry credential (REGISTRY_PASSWORD_FILE,
	// made by `esb env`): every pull needs it. Empty: anonymous pulls
	// (tests against an open registry).
	RegistryAuth registryauth.Credential
	StartTimeout time.Duration
	ReapInterval time.Duration
	// FunctionMemoryMB is the node's memory for function containers
	// (FUNCTION_MEMORY); 0: the default, 75% of the node's memory, which
	// main reads from /proc/meminfo.
	FunctionMemoryMB int
	// AccountConcurrency (ACCOUNT_CONCURRENCY, default 1,000) bounds the
	// sum of min_warm, as it bounds concurrency in the gateway.
	AccountConcurrency int
	// Containerd is read only with CONTAINER_RUNTIME=containerd.
	Containerd containerdConfig
	// Kubernetes is read only with CONTAINER_RUNTIME=kubernetes.
	Kubernetes kubernetesConfig
	// KeepOnStop leaves the function containers running at a graceful stop
	// for the next agent to adopt; by default a stop removes them, so
	// `docker compose down` leaves nothing of the env behind.
	KeepOnStop bool
	// NetnsPool (docker and containerd mode, NETNS_POOL, default 16) is
	// how many network namespaces the agent keeps prepared for cold
	// starts (see package netnspool); 0 turns the pool off.
	NetnsPool int
}

// containerdConfig is where the runtime node's containerd is and how
// function containers are wired there.
type containerdConfig struct {
	Address   string // containerd socket, shared with the runtime node
	Namespace string // containerd namespace; the brand by default
	// DataDir holds per-container logs, hosts and resolv.conf; the runtime
	// node mounts the same volume at the same path.
	DataDir    string
	PlainHTTP  []string // registries pulled over plain HTTP
	CNIPlugins []string // CNI plugin directories
	CNIBridge  string
	CNISubnet  netip.Prefix
	CNIDataDir string // IPAM allocations; a volume, as they outlive the agent
	JoinStderr string // the joinstderr command every function process starts behind
}

// kubernetesConfig is which cluster runs the function Pods, where, and
// from which registry address the nodes pull.
type kubernetesConfig struct {
	Kubeconfig string // KUBECONFIG; empty: the in-cluster config
	Namespace  string // KUBE_NAMESPACE; <brand>-<env> by default
	// Registry (KUBE_REGISTRY, required) is the env's registry as the
	// nodes reach it, host:port.
	Registry string
	// RegistryNames (KUBE_REGISTRY_NAMES, default registry:5000) are the
	// names function specs and the agent give the env's registry; image
	// references on them are rewritten to Registry for the nodes.
	RegistryNames []string
	NodeSelector  map[string]string // KUBE_NODE_SELECTOR, key=value,...
}

// loadConfig reads and validates the environment, reporting every problem
// at once so a broken deployment is fixed in one round.
func loadConfig(getenv func(string) string) (config, error) {
	get := func(key, def string) string {
		if v := getenv(key); v != "" {
			return v
		}
		return def
	}
	var errs []error
	cfg := config{
		Listen:  get("LISTEN", ":9000"),
		Network: getenv("NETWORK"),
		Runtime: get("CONTAINER_RUNTIME", "docker"),
		LogsURL: getenv("LOGS_URL"),
		Platform: launcher.Platform{
			Region: get("AWS_REGION", awsid.DefaultRegion),
			// The env's root secret: each function's own key pair is
			// derived from it (awsid.FunctionKey); no function gets it.
			KeyRootSecret:    get("FUNCTION_KEY_ROOT_SECRET", "esb-local-secret"),
			S3Endpoint:       get("S3_ENDPOINT", "http://s3-storage:7070"),
			DynamoDBEndpoint: get("DYNAMODB_ENDPOINT", "http://database:8000"),
			SQSEndpoint:      get("SQS_ENDPOINT", "http://messaging:4566"),
			SNSEndpoint:      get("SNS_ENDPOINT", "http://messaging:4566"),
			RuntimeAPI:       getenv("RUNTIME_API"),
			LambdaEndpoint:   getenv("LAMBDA_ENDPOINT"),
		},
	}
	if env, err := platform.New(get("ESB_BRAND", platform.DefaultBrand), getenv("ESB_ENV")); err != nil {
		errs = append(errs, fmt.Errorf("ESB_BRAND/ESB_ENV: %w", err))
	} else {
		cfg.Brand, cfg.Env = env.Brand, env.Key()
	}
	policy, err := launcher.ParsePullPolicy(get("IMAGE_PULL_POLICY", string(launcher.PullIfNotPresent)))
	if err != nil {
		errs = append(errs, fmt.Errorf("IMAGE_PULL_POLICY: %w", err))
	}
	cfg.PullPolicy = policy
	cfg.Sandbox = &launcher.Sandbox{}
	switch v := get("FUNCTION_EGRESS", "all"); v {
	case "all":
		cfg.Sandbox.Egress = true
	case "none":
	default:
		errs = append(errs, fmt.Errorf("FUNCTION_EGRESS %q: want all or none", v))
	}
	cfg.Sandboxinit = get("SANDBOXINIT", "/usr/local/bin/sandboxinit")
	cfg.TokenFile = getenv("AUTH_TOKEN_FILE")
	if path := getenv("REGISTRY_PASSWORD_FILE"); path != "" {
		data, err := os.ReadFile(path)
		if err == nil {
			cfg.RegistryAuth, err = registryauth.Parse(string(data))
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("REGISTRY_PASSWORD_FILE: %w", err))
		}
	}
	switch v := get("KEEP_CONTAINERS_ON_STOP", "false"); v {
	case "true", "1":
		cfg.KeepOnStop = true
	case "false", "0":
	default:
		errs = append(errs, fmt.Errorf("KEEP_CONTAINERS_ON_STOP %q: want true or false", v))
	}
	if cfg.Runtime != "kubernetes" { // a cluster's nodes make their Pods' namespaces
		v := get("NETNS_POOL", "16")
		if n, err := strconv.Atoi(v); err != nil || n < 0 || n > 256 {
			errs = append(errs, fmt.Errorf("NETNS_POOL %q: want a number of prepared network namespaces from 0 (off) to 256", v))
		} else {
			cfg.NetnsPool = n
		}
	}
	switch cfg.Runtime {
	case "docker", "containerd":
		cfg.CgroupRoot = getenv("HOST_CGROUP_ROOT")
	}
	switch cfg.Runtime {
	case "docker":
		if cfg.Network == "" {
			errs = append(errs, errors.New("NETWORK is required: the docker network function containers join, e.g. esb-dev_functions"))
		}
		cfg.SandboxVolume = getenv("SANDBOX_VOLUME")
		cfg.SandboxDir = get("SANDBOX_DIR", "/var/lib/esb-sandbox")
		if cfg.SandboxVolume == "" {
			errs = append(errs, errors.New("SANDBOX_VOLUME is required: the docker volume, mounted at SANDBOX_DIR, that function containers get sandboxinit from, e.g. esb-dev_sandbox"))
		}
	case "containerd":
		cc := containerdConfig{
			Address:    get("CONTAINERD_ADDRESS", "/run/containerd/containerd.sock"),
			Namespace:  get("CONTAINERD_NAMESPACE", cfg.Brand),
			DataDir:    get("FUNCTION_DATA_DIR", "/var/lib/esb-functions"),
			PlainHTTP:  splitList(get("INSECURE_REGISTRIES", "registry:5000")),
			CNIPlugins: splitList(get("CNI_PLUGIN_DIRS", "/usr/lib/cni")),
			CNIBridge:  get("CNI_BRIDGE", "esb0"),
			CNIDataDir: get("CNI_DATA_DIR", "/var/lib/cni/networks"),
			JoinStderr: get("JOIN_STDERR", "/usr/local/bin/joinstderr"),
		}
		subnet, err := netip.ParsePrefix(get("CNI_SUBNET", "10.88.0.0/16"))
		if err != nil || !subnet.Addr().Is4() {
			errs = append(errs, fmt.Errorf("CNI_SUBNET %q: want an IPv4 prefix such as 10.88.0.0/16", getenv("CNI_SUBNET")))
		}
		cc.CNISubnet = subnet
		if api := cfg.Platform.RuntimeAPI; strings.HasPrefix(api, ":") && err == nil {
			// Functions reach the gateway at their bridge's address, which
			// is in the gateway's namespace: the subnet's first address.
			cfg.Platform.RuntimeAPI = net.JoinHostPort(subnet.Masked().Addr().Next().String(), api[1:])
		}
		if ep, ok := strings.CutPrefix(cfg.Platform.LambdaEndpoint, "http://:"); ok && err == nil {
			// As the Runtime API: the gateway is at the bridge's address.
			cfg.Platform.LambdaEndpoint = "http://" + net.JoinHostPort(subnet.Masked().Addr().Next().String(), ep)
		}
		cfg.Containerd = cc
	case "kubernetes":
		kc := kubernetesConfig{
			Kubeconfig:    getenv("KUBECONFIG"),
			Namespace:     get("KUBE_NAMESPACE", cfg.Brand+"-"+cfg.Env),
			Registry:      getenv("KUBE_REGISTRY"),
			RegistryNames: splitList(get("KUBE_REGISTRY_NAMES", platform.RuntimeRegistryAddr)),
		}
		if kc.Kubeconfig != "" {
			if _, err := os.Stat(kc.Kubeconfig); err != nil {
				errs = append(errs, fmt.Errorf("KUBECONFIG %q: %w (leave it empty for the in-cluster config)", kc.Kubeconfig, err))
			}
		}
		if msgs := validation.IsDNS1123Label(kc.Namespace); len(msgs) > 0 {
			errs = append(errs, fmt.Errorf("KUBE_NAMESPACE %q: want a namespace name: %s", kc.Namespace, strings.Join(msgs, "; ")))
		}
		if host, port, err := net.SplitHostPort(kc.Registry); err != nil || host == "" || port == "" {
			errs = append(errs, fmt.Errorf("KUBE_REGISTRY %q: want the env's registry as the cluster's nodes reach it, host:port, such as 192.168.1.10:5010", kc.Registry))
		}
		if len(kc.RegistryNames) == 0 {
			errs = append(errs, errors.New("KUBE_REGISTRY_NAMES: want the registry names function images use, such as registry:5000"))
		}
		if sel, err := kubernetesruntime.ParseNodeSelector(getenv("KUBE_NODE_SELECTOR")); err != nil {
			errs = append(errs, fmt.Errorf("KUBE_NODE_SELECTOR: %w", err))
		} else if len(sel) > 0 {
			kc.NodeSelector = sel
		}
		if !cfg.Sandbox.Egress {
			// The agent cannot close a Pod's network: the cluster does
			// (NetworkPolicy, or the host's firewall where the CNI enforces
			// none). Starting anyway would leave open what the operator
			// asked to close.
			errs = append(errs, errors.New("FUNCTION_EGRESS=none: in kubernetes mode the cluster closes a function's egress, not the agent: set FUNCTION_EGRESS=all and apply the NetworkPolicy of docs/kubernetes.md (or the cluster's firewall rules) to the namespace"))
		}
		cfg.Kubernetes = kc
	default:
		errs = append(errs, fmt.Errorf("CONTAINER_RUNTIME %q: want docker, containerd or kubernetes", cfg.Runtime))
	}
	if api := cfg.Platform.RuntimeAPI; api != "" {
		if host, port, err := net.SplitHostPort(api); err != nil || host == "" || port == "" {
			errs = append(errs, fmt.Errorf("RUNTIME_API %q: want host:port, such as gateway:9001", api))
		}
	}
	if cfg.LogsURL != "" {
		if u, err := url.Parse(cfg.LogsURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, fmt.Errorf("LOGS_URL %q: want http(s)://host[:port]", cfg.LogsURL))
		}
	}
	if v := getenv("FUNCTION_MEMORY"); v != "" {
		mb, err := parseMemoryMB(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("FUNCTION_MEMORY %q: want MB, or a size such as 12g or 4096m", v))
		}
		cfg.FunctionMemoryMB = mb
	}
	if n, err := strconv.Atoi(get("ACCOUNT_CONCURRENCY", "1000")); err != nil || n <= 0 {
		errs = append(errs, fmt.Errorf("ACCOUNT_CONCURRENCY %q: want a positive number", getenv("ACCOUNT_CONCURRENCY")))
	} else {
		cfg.AccountConcurrency = n
	}
	for _, d := range []struct {
		key string
		def string
		dst *time.Duration
	}{
		{"START_TIMEOUT", "10s", &cfg.StartTimeout},
		{"REAP_INTERVAL", "5s", &cfg.ReapInterval},
	} {
		v, err := time.ParseDuration(get(d.key, d.def))
		if err != nil || v <= 0 {
			errs = append(errs, fmt.Errorf("%s %q: want a positive duration such as %s", d.key, getenv(d.key), d.def))
			continue
		}
		*d.dst = v
	}
	return cfg, errors.Join(errs...)
}

// parseMemoryMB reads a memory size in MB: a plain number, or a number
// with m/mb/mib or g/gb/gib (case-insensitive).
func parseMemoryMB(v string) (int, error) {
	s := strings.ToLower(strings.TrimSpace(v))
	unit := 1.0
	for _, u := range []struct {
		suffix string
		mb     float64
	}{{"gib", 1024}, {"gb", 1024}, {"g", 1024}, {"mib", 1}, {"mb", 1}, {"m", 1}} {
		if rest, ok := strings.CutSuffix(s, u.suffix); ok {
			s, unit = rest, u.mb
			break
		}
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f*unit < 1 {
		return 0, fmt.Errorf("memory size %q: want a positive size", v)
	}
	return int(f * unit), nil
}

// functionMemoryShare is the default share of the node's memory function
// containers may take: the rest is for the platform's own services, the
// engine and the host.
const functionMemoryShare = 0.75

// memTotalMB reads MemTotal from a /proc/meminfo. In a container it is
// the host's memory, where function containers run (docker mode) or
// runtime-node runs them (containerd mode, with no memory limit of its
// own).
func memTotalMB(meminfo io.Reader) (int, error) {
	sc := bufio.NewScanner(meminfo)
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), "MemTotal:")
		if !ok {
			continue
		}
		kb, err := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")))
		if err != nil {
			return 0, fmt.Errorf("meminfo MemTotal %q: %w", rest, err)
		}
		return kb / 1024, nil
	}
	if err := sc.Err(); err != nil {
		return 0, fmt.Errorf("read meminfo: %w", err)
	}
	return 0, errors.New("meminfo has no MemTotal")
}

// splitList splits a comma-separated value, dropping empty items.
func splitList(v string) []string {
	var out []string
	for _, item := range strings.Split(v, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}

// functionHostNames are the platform names function code reaches through
// the endpoints it is given; containerd mode writes them into each
// function's /etc/hosts. Literal addresses need no entry.
func functionHostNames(p launcher.Platform) []string {
	var out []string
	for _, endpoint := range []string{p.S3Endpoint, p.DynamoDBEndpoint, p.SQSEndpoint, p.SNSEndpoint, p.LambdaEndpoint} {
		u, err := url.Parse(endpoint)
		if err != nil {
			continue
		}
		host := u.Hostname()
		if host == "" || host == "localhost" || net.ParseIP(host) != nil {
			continue
		}
		if !slices.Contains(out, host) {
			out = append(out, host)
		}
	}
	return out
}
