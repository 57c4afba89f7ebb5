package platform

import (
	"fmt"
	"net"
	"strings"
)

// Port names a host port of the platform, as the compose files read it.
// This list is the one owner of what an env publishes: a unit test holds
// every `ports:` entry of the compose files to it.
type Port struct {
	Var     string // environment variable, e.g. PORT_REGISTRY
	Service string // compose service that publishes it
	Default int
	// Target is the container port behind it (in containerd mode the
	// gateway's ports are published by runtime-node, whose network
	// namespace the gateway shares).
	Target int
	// Public marks the gateway's client-facing ports: ESB_BIND_ADDR widens
	// them. Every other port stays on loopback unless its own variable
	// (BindVar) asks otherwise.
	Public bool
	// LoopbackOnly marks a port no setting widens: it is published on
	// 127.0.0.1 alone and has no bind variable (the admin listener, whose
	// metrics and dashboard carry no authentication).
	LoopbackOnly bool
	// Cluster marks a port kubernetes mode publishes a second time, on
	// ClusterAddrVar, for the cluster's nodes and Pods (the data services,
	// and the registry the nodes pull from); the cluster's firewall says
	// which of them Pods reach.
	Cluster bool
	// ClusterOnly marks a port published in kubernetes mode alone, and only
	// on ClusterAddrVar: the gateway's Runtime API and Invoke API, which
	// function containers reach on the functions network in the other
	// modes and which no client outside the cluster needs.
	ClusterOnly bool
}

// ClusterAddrVar is this host's address as a Kubernetes cluster's nodes and
// Pods reach it (kubernetes mode).
const ClusterAddrVar = "ESB_K8S_HOST_ADDR"

// BindAddrVar widens the gateway's public ports (HTTP and HTTPS).
const BindAddrVar = "ESB_BIND_ADDR"

// Loopback is where every port is published unless the operator says
// otherwise.
const Loopback = "127.0.0.1"

// BindVar is the variable that sets the host address p is published on:
// ESB_BIND_ADDR for the gateway's public ports, ESB_BIND_ADDR_<NAME> for
// the others (PORT_S3: ESB_BIND_ADDR_S3), one by one; "" for a port that
// stays on loopback whatever is set.
func (p Port) BindVar() string {
	if p.LoopbackOnly || p.ClusterOnly {
		return ""
	}
	if p.Public {
		return BindAddrVar
	}
	return BindAddrVar + "_" + strings.TrimPrefix(p.Var, "PORT_")
}

// Ports returns the port block of an env with offset 0. Parallel envs use
// offsets in steps of 100.
func Ports() []Port {
	return []Port{
		{Var: "PORT_GATEWAY", Service: "gateway", Default: 5000, Target: 8081, Public: true},
		{Var: "PORT_GATEWAY_TLS", Service: "gateway", Default: 5001, Target: 8443, Public: true},
		{Var: "PORT_REGISTRY", Service: "registry", Default: 5010, Target: 5000, Cluster: true},
		{Var: "PORT_S3", Service: "s3-storage", Default: 5020, Target: 7070, Cluster: true},
		{Var: "PORT_DATABASE", Service: "database", Default: 5030, Target: 8000, Cluster: true},
		{Var: "PORT_LOGS", Service: "logs", Default: 5040, Target: 9428},
		{Var: "PORT_MESSAGING", Service: "messaging", Default: 5050, Target: 4566, Cluster: true},
		{Var: "PORT_ADMIN", Service: "gateway", Default: 5060, Target: 8082, LoopbackOnly: true},
		{Var: "PORT_RUNTIME_API", Service: "gateway", Default: 5070, Target: 9001, ClusterOnly: true},
		{Var: "PORT_INVOKE", Service: "gateway", Default: 5071, Target: 8080, ClusterOnly: true},
	}
}

// BindVars lists the bind address variables in the order of Ports, each
// once.
func BindVars() []string {
	var out []string
	for _, p := range Ports() {
		if v := p.BindVar(); v != "" && (len(out) == 0 || out[len(out)-1] != v) {
			out = append(out, v)
		}
	}
	return out
}

// BindAddrs resolves the host address of every bind variable from the
// operator's settings (by variable name; missing or empty is loopback).
// An address must be an IPv4 address of this host or 0.0.0.0 (compose's
// port syntax would misread IPv6). The registry must stay reachable on
// loopback: the deploy and the Dagger engine push and pull there.
func BindAddrs(settings map[string]string) (map[string]string, error) {
	out := map[string]string{}
	for _, v := range BindVars() {
		addr := strings.TrimSpace(settings[v])
		if addr == "" {
			addr = Loopback
		}
		ip := net.ParseIP(addr)
		if ip == nil || ip.To4() == nil {
			return nil, fmt.Errorf("%s=%q: want an IPv4 address, such as 127.0.0.1 or 0.0.0.0", v, addr)
		}
		if v == (Port{Var: "PORT_REGISTRY"}).BindVar() && !ip.IsLoopback() && !ip.IsUnspecified() {
			return nil, fmt.Errorf("%s=%q: the registry must stay reachable on 127.0.0.1 (deploys and the Dagger engine use it there): use 0.0.0.0 to add other addresses", v, addr)
		}
		out[v] = ip.String()
	}
	return out, nil
}

// PortBlock is the port block shifted by offset. Ports are never read from
// PORT_* variables: after `eval "$(esb env -e a)"` they belong to env a, and
// must not leak into env b.
func PortBlock(offset int) (map[string]int, error) {
	if offset < 0 || offset > 60000 {
		return nil, fmt.Errorf("port offset %d out of range 0..60000", offset)
	}
	ports := Ports()
	block := make(map[string]int, len(ports))
	for _, p := range ports {
		block[p.Var] = p.Default + offset
	}
	return block, nil
}
