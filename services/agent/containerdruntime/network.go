package containerdruntime

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"

	gocni "github.com/containerd/go-cni"
)

// Network gives a function container's network namespace an address on
// the function network, and takes it back.
type Network interface {
	// Attach connects the namespace at netns (/proc/<pid>/ns/net) and
	// returns the container's IP.
	Attach(ctx context.Context, id, netns string) (string, error)
	// Detach releases what Attach set up. netns may be empty once the
	// task is gone: the address and NAT rules are released all the same.
	Detach(ctx context.Context, id, netns string) error
}

// CNIConfig describes the bridge network of function containers.
type CNIConfig struct {
	// PluginDirs hold the CNI plugin binaries (Debian: /usr/lib/cni).
	PluginDirs []string
	// Bridge is the Linux bridge on the node, e.g. esb0.
	Bridge string
	// Subnet is where function containers get their addresses.
	Subnet netip.Prefix
	// DataDir keeps the address allocations (host-local IPAM); it must
	// outlive the agent, or a restarted agent hands out addresses that
	// running containers still hold.
	DataDir string
}

// CNI is the Network of containerd mode: a bridge on the runtime node
// with NAT to the node's own network, so functions reach the platform
// services (S3, DynamoDB) through the node.
type CNI struct {
	cni gocni.CNI
}

var _ Network = (*CNI)(nil)

// NewCNI loads the function network's configuration.
func NewCNI(cfg CNIConfig) (*CNI, error) {
	conf, err := confList(cfg)
	if err != nil {
		return nil, err
	}
	// The bridge network first: go-cni names interfaces by position, and
	// the function's interface is then eth0, as in Docker.
	c, err := gocni.New(gocni.WithPluginDir(cfg.PluginDirs), gocni.WithMinNetworkCount(2))
	if err != nil {
		return nil, fmt.Errorf("cni: %w", err)
	}
	if err := c.Load(gocni.WithConfListBytes(conf), gocni.WithLoNetwork); err != nil {
		return nil, fmt.Errorf("cni config: %w", err)
	}
	return &CNI{cni: c}, nil
}

// Attach implements Network.
func (c *CNI) Attach(ctx context.Context, id, netns string) (string, error) {
	res, err := c.cni.Setup(ctx, id, netns)
	if err != nil {
		return "", fmt.Errorf("cni add %s: %w", id, err)
	}
	ip := resultIP(res)
	if ip == "" {
		return "", fmt.Errorf("cni add %s: no IPv4 address in the result", id)
	}
	return ip, nil
}

// Detach implements Network.
func (c *CNI) Detach(ctx context.Context, id, netns string) error {
	if err := c.cni.Remove(ctx, id, netns); err != nil {
		return fmt.Errorf("cni del %s: %w", id, err)
	}
	return nil
}

// resultIP is the first IPv4 address of the container's eth0.
func resultIP(res *gocni.Result) string {
	if res == nil {
		return ""
	}
	iface := res.Interfaces["eth0"]
	if iface == nil {
		return ""
	}
	for _, c := range iface.IPConfigs {
		if c.IP.To4() != nil {
			return c.IP.String()
		}
	}
	return ""
}

// confList is the CNI network configuration list of the function network.
func confList(cfg CNIConfig) ([]byte, error) {
	var errs []error
	if len(cfg.PluginDirs) == 0 {
		errs = append(errs, errors.New("no CNI plugin directory"))
	}
	if cfg.Bridge == "" || len(cfg.Bridge) > 15 {
		errs = append(errs, fmt.Errorf("bridge name %q: want 1 to 15 characters", cfg.Bridge))
	}
	if !cfg.Subnet.IsValid() || !cfg.Subnet.Addr().Is4() || cfg.Subnet.Bits() > 28 {
		errs = append(errs, fmt.Errorf("subnet %s: want an IPv4 prefix of /28 or larger", cfg.Subnet))
	}
	if cfg.DataDir == "" {
		errs = append(errs, errors.New("no IPAM data directory"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("cni config: %w", err)
	}
	type object = map[string]any
	return json.Marshal(object{
		"cniVersion": "1.0.0",
		"name":       "esb-functions",
		"plugins": []object{{
			"type":        "bridge",
			"bridge":      cfg.Bridge,
			"isGateway":   true,
			"ipMasq":      true,
			"hairpinMode": true,
			"ipam": object{
				"type":    "host-local",
				"ranges":  [][]object{{{"subnet": cfg.Subnet.Masked().String()}}},
				"routes":  []object{{"dst": "0.0.0.0/0"}},
				"dataDir": cfg.DataDir,
			},
		}},
	})
}
