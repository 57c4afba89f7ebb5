package platform

import (
	"fmt"
	"net"
	"path/filepath"
	"strconv"

	"github.com/esb-dev/esb/internal/tlsca"
)

// Layout is everything the compose files and the CLI need to address one
// env: names, host paths and the port block.
type Layout struct {
	Env        Env
	ConfigDir  string
	PortOffset int
	Ports      map[string]int // by variable name, e.g. PORT_REGISTRY
	// Bind is the host address of each bind variable (BindVars), e.g.
	// ESB_BIND_ADDR_S3: 127.0.0.1.
	Bind map[string]string
	// OperatorCert is set when the gateway serves the operator's
	// certificate (ESB_TLS_CERT_FILE) instead of one from the env CA.
	OperatorCert bool
	// ImageTag tags ESB's own service images (ESB_IMAGE_TAG); empty leaves
	// the compose files' default.
	ImageTag string
	// UID and GID own CONFIG_DIR on the host; the gateway runs as them so
	// the deploy lock and the seeded files stay usable by `esb deploy`.
	UID, GID string
}

// Var is one environment variable of the compose contract.
type Var struct{ Name, Value string }

// LayoutOptions are the inputs of Resolve that come from the process
// environment; the caller reads them once at the edge.
type LayoutOptions struct {
	Dirs       Dirs
	PortOffset int
	// Bind holds the operator's ESB_BIND_ADDR* settings by variable name;
	// what is missing stays on loopback.
	Bind map[string]string
}

// Resolve computes an env's layout.
func Resolve(e Env, opts LayoutOptions) (Layout, error) {
	dir, err := e.ConfigDir(opts.Dirs)
	if err != nil {
		return Layout{}, fmt.Errorf("env %s: %w", e.Name, err)
	}
	ports, err := PortBlock(opts.PortOffset)
	if err != nil {
		return Layout{}, fmt.Errorf("env %s: %w", e.Name, err)
	}
	bind, err := BindAddrs(opts.Bind)
	if err != nil {
		return Layout{}, fmt.Errorf("env %s: %w", e.Name, err)
	}
	return Layout{Env: e, ConfigDir: dir, PortOffset: opts.PortOffset, Ports: ports, Bind: bind}, nil
}

// DialAddr is host:port where a client on this host reaches the port
// named by portVar: its bind address, or loopback when it is published on
// every address.
func (l Layout) DialAddr(portVar string) string {
	host := Loopback
	for _, p := range Ports() {
		if p.Var == portVar {
			if b := net.ParseIP(l.Bind[p.BindVar()]); b != nil && !b.IsUnspecified() {
				host = b.String()
			}
		}
	}
	return net.JoinHostPort(host, strconv.Itoa(l.Ports[portVar]))
}

// TLSCAFile is the host path of the env CA's certificate, which the
// gateway creates on first start (when the operator gives no certificate
// of their own): clients verify the gateway's HTTPS port with it.
func (l Layout) TLSCAFile() string {
	return filepath.Join(l.ConfigDir, tlsca.Dir, tlsca.CAFile)
}

// slot numbers the env's port block (offsets step by 100); it also keeps the
// Dagger engines of parallel envs, which share the host network, on distinct
// bridges and subnets.
func (l Layout) slot() int { return (l.PortOffset / 100) % 256 }

// DaggerNetwork is the CNI network name and CIDR of this env's Dagger
// engine (its bridge: DaggerBridge).
func (l Layout) DaggerNetwork() (name, cidr string) {
	return "esbdag" + strconv.Itoa(l.slot()), fmt.Sprintf("10.89.%d.0/24", l.slot())
}

// DaggerBridge is the host bridge of the env's Dagger engine: Dagger's CNI
// config names it after the network with a 0 appended
// (network/netinst/cni.go), so esbdag2's bridge is esbdag20, the name of
// another env's network.
func (l Layout) DaggerBridge() string {
	name, _ := l.DaggerNetwork()
	return name + "0"
}

// DaggerSocket is the host path of the env's Dagger engine socket. The
// compose file mounts ${CONFIG_DIR}/../dagger-run at /run/dagger.
func (l Layout) DaggerSocket() string {
	return filepath.Join(filepath.Dir(l.ConfigDir), "dagger-run", "engine.sock")
}

// RuntimeRegistryAddr is the env's registry as containerd mode's runtime
// node reaches it: the compose service name and container port on the
// platform network, served over plain HTTP.
const RuntimeRegistryAddr = "registry:5000"

// RegistryAddr is host:port of the env's registry as seen from the host.
func (l Layout) RegistryAddr() string {
	return l.DialAddr("PORT_REGISTRY")
}

// Vars lists the compose contract in a stable order.
func (l Layout) Vars() []Var {
	netName, netCIDR := l.DaggerNetwork()
	vars := []Var{
		{"ENV", l.Env.Key()},
		{"ESB_BRAND", l.Env.Brand},
		{"COMPOSE_PROJECT_NAME", l.Env.Project()},
		{"CONFIG_DIR", l.ConfigDir},
		{"ESB_PORT_OFFSET", strconv.Itoa(l.PortOffset)},
	}
	for _, p := range Ports() {
		vars = append(vars, Var{p.Var, strconv.Itoa(l.Ports[p.Var])})
	}
	for _, b := range BindVars() {
		vars = append(vars, Var{b, l.Bind[b]})
	}
	if !l.OperatorCert {
		vars = append(vars, Var{"ESB_TLS_CA_FILE", l.TLSCAFile()})
	}
	vars = append(vars,
		Var{"DAGGER_NETWORK_NAME", netName},
		Var{"DAGGER_NETWORK_CIDR", netCIDR},
	)
	if l.ImageTag != "" {
		vars = append(vars, Var{"ESB_IMAGE_TAG", l.ImageTag})
	}
	if l.UID != "" && l.GID != "" {
		vars = append(vars, Var{"ESB_UID", l.UID}, Var{"ESB_GID", l.GID})
	}
	return vars
}
