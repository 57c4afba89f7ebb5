package platform

import (
	"fmt"
	"strconv"
)

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
	}
}

// PortBlock resolves each port: an explicit override wins, else the default
// shifted by offset. lookup reads overrides (os.LookupEnv at the edge).
func PortBlock(offset int, lookup func(string) (string, bool)) (map[string]int, error) {
	if offset < 0 || offset > 60000 {
		return nil, fmt.Errorf("port offset %d out of range 0..60000", offset)
	}
	ports := Ports()
	block := make(map[string]int, len(ports))
	for _, p := range ports {
		port := p.Default + offset
		if v, ok := lookup(p.Var); ok && v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || n > 65535 {
				return nil, fmt.Errorf("%s=%q is not a port number", p.Var, v)
			}
			port = n
		}
		block[p.Var] = port
	}
	return block, nil
}
