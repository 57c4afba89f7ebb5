// Package sandbox is the seal every function container gets before its
// code runs: which addresses of the env it may reach, and the user it runs
// as. The agent writes a Policy into the container's command line in front
// of the image's entrypoint (Args); the sandboxinit command, running first
// inside the container, reads it back (Parse), installs the network rules
// in the container's own network namespace (Apply), drops to the Lambda
// user with no capabilities and no_new_privs, and executes the entrypoint.
//
// Why inside the container: in docker mode a function shares a bridge
// with the gateway and the data services it must reach, and Docker offers
// no per-destination rule on one network; in containerd mode the bridge
// is the runtime node's, shared with the gateway and agent. Rules in the
// function's own namespace, set while it still holds CAP_NET_ADMIN and
// before any function code runs, cover both modes the same way.
package sandbox

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
)

// Lambda's sandbox user: uid 993 (sbx_user1051) in group 990 on AWS's images.
const (
	LambdaUID = 993
	LambdaGID = 990
)

// Path is where a function container sees the sandboxinit command.
const Path = "/.esb/sandboxinit"

// Capabilities are what sandboxinit needs and drops before the function
// runs: NET_ADMIN for the rules, SETUID/SETGID for the user, SETPCAP to
// empty the bounding set. Nothing else is ever granted.
var Capabilities = []string{"NET_ADMIN", "SETUID", "SETGID", "SETPCAP"}

// Policy is what one function container may do.
type Policy struct {
	UID, GID uint32
	// Allow are the host:port endpoints of the env the function may reach
	// (the gateway's Runtime API, S3, DynamoDB); every other private,
	// link-local or shared address is refused.
	Allow []string
	// Egress lets the function reach public addresses (the default, as on
	// Lambda); false refuses everything but Allow and DNS.
	Egress bool
}

// Args encodes p as sandboxinit's arguments, ending with "--": the
// entrypoint follows.
func (p Policy) Args() []string {
	args := []string{Path, "--uid=" + strconv.FormatUint(uint64(p.UID), 10), "--gid=" + strconv.FormatUint(uint64(p.GID), 10)}
	for _, a := range p.Allow {
		args = append(args, "--allow="+a)
	}
	egress := "none"
	if p.Egress {
		egress = "all"
	}
	return append(args, "--egress="+egress, "--")
}

// Parse reads the arguments after the command name, as Args wrote them,
// and returns the policy and the command to execute.
func Parse(args []string) (Policy, []string, error) {
	var p Policy
	var haveUID, haveGID, haveEgress bool
	for i, a := range args {
		if a == "--" {
			if !haveUID || !haveGID || !haveEgress {
				return Policy{}, nil, errors.New("sandbox: --uid, --gid and --egress are required")
			}
			if i == len(args)-1 {
				return Policy{}, nil, errors.New("sandbox: no command after --")
			}
			return p, args[i+1:], nil
		}
		key, val, ok := strings.Cut(a, "=")
		if !ok {
			return Policy{}, nil, fmt.Errorf("sandbox: argument %q: want --key=value", a)
		}
		switch key {
		case "--uid", "--gid":
			n, err := strconv.ParseUint(val, 10, 32)
			if err != nil || n == 0 {
				return Policy{}, nil, fmt.Errorf("sandbox: %s %q: want a non-zero id", key, val)
			}
			if key == "--uid" {
				p.UID, haveUID = uint32(n), true
			} else {
				p.GID, haveGID = uint32(n), true
			}
		case "--allow":
			if host, port, err := net.SplitHostPort(val); err != nil || host == "" || port == "" {
				return Policy{}, nil, fmt.Errorf("sandbox: --allow %q: want host:port", val)
			}
			p.Allow = append(p.Allow, val)
		case "--egress":
			switch val {
			case "all":
				p.Egress = true
			case "none":
			default:
				return Policy{}, nil, fmt.Errorf("sandbox: --egress %q: want all or none", val)
			}
			haveEgress = true
		default:
			return Policy{}, nil, fmt.Errorf("sandbox: unknown argument %q", a)
		}
	}
	return Policy{}, nil, errors.New("sandbox: missing -- before the command")
}
