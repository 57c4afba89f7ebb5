package platform

import "fmt"

// Port names a host port of the platform, as the compose files read it.
type Port struct {
	Var     string // environment variable, e.g. PORT_REGISTRY
	Service string // compose service that publishes it
	Default int
}

// Ports returns the port block of an env with offset 0. Every port is
// published on 127.0.0.1 only. Parallel envs use offsets in steps of 100.
func Ports() []Port {
	return []Port{
		{Var: "PORT_GATEWAY", Service: "gateway", Default: 5000},
		{Var: "PORT_REGISTRY", Service: "registry", Default: 5010},
		{Var: "PORT_S3", Service: "s3-storage", Default: 5020},
		{Var: "PORT_DATABASE", Service: "database", Default: 5030},
		{Var: "PORT_LOGS", Service: "logs", Default: 5040},
		{Var: "PORT_MESSAGING", Service: "messaging", Default: 5050},
	}
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
