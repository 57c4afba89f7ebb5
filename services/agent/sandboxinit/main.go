//go:build linux

// Command sandboxinit seals a function container before its code runs
// (see package sandbox): it resolves the endpoints the function may reach,
// installs the network rules in the container's own network namespace,
// empties the capability bounding set, becomes the Lambda user with no
// capabilities and no_new_privs, and executes the function's entrypoint.
//
// It fails closed: when any step fails the function does not start, and
// its container's log says why. The agent mounts this static binary
// read-only into every function container and starts it first:
//
//	sandboxinit --uid=993 --gid=990 --allow=gateway:9001 --egress=all -- /lambda-entrypoint.sh app.handler
package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/esb-dev/esb/services/agent/sandbox"
)

// resolveTimeout bounds the lookups of the allowed endpoints: Docker's DNS
// can need a moment after the container's network comes up.
const resolveTimeout = 10 * time.Second

func main() {
	// Bounding set and no_new_privs are per thread: set them on the thread
	// that executes the entrypoint.
	runtime.LockOSThread()
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintf(os.Stderr, "sandboxinit: %v\n", err)
		os.Exit(126)
	}
}

func run(args []string) error {
	policy, command, err := sandbox.Parse(args)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), resolveTimeout)
	defer cancel()
	rules := sandbox.Rules{Egress: policy.Egress}
	if rules.Allow, err = resolveAll(ctx, policy.Allow, lookupIP); err != nil {
		return err
	}
	if rules.DNS, err = nameservers("/etc/resolv.conf"); err != nil {
		return err
	}
	if err := sandbox.Apply(rules); err != nil {
		return fmt.Errorf("network rules: %w", err)
	}
	path, err := exec.LookPath(command[0])
	if err != nil {
		return err
	}
	if err := dropPrivileges(policy.UID, policy.GID); err != nil {
		return err
	}
	err = syscall.Exec(path, command, os.Environ())
	return fmt.Errorf("exec %s: %w", path, err)
}

// resolveAll resolves every allowed endpoint at once rather than one after
// another: in docker mode each lookup is answered by dockerd's embedded
// DNS, which is busy with the other starts of a burst, so their waits
// would add up in the cold start. The addresses keep the order of allow.
func resolveAll(ctx context.Context, allow []string, lookup lookupFunc) ([]netip.AddrPort, error) {
	found := make([][]netip.AddrPort, len(allow))
	errs := make([]error, len(allow))
	var wg sync.WaitGroup
	for i, hostport := range allow {
		wg.Go(func() { found[i], errs[i] = resolve(ctx, hostport, lookup) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return slices.Concat(found...), nil
}

// lookupFunc finds the addresses of a host name.
type lookupFunc func(ctx context.Context, host string) ([]netip.Addr, error)

// lookupIP asks the container's resolver (Docker's embedded DNS, or the
// hosts file the agent writes in containerd mode).
func lookupIP(ctx context.Context, host string) ([]netip.Addr, error) {
	return net.DefaultResolver.LookupNetIP(ctx, "ip", host)
}

// resolve looks hostport up until it resolves or ctx ends.
func resolve(ctx context.Context, hostport string, lookup lookupFunc) ([]netip.AddrPort, error) {
	host, portText, _ := net.SplitHostPort(hostport) // sandbox.Parse checked it
	port, err := strconv.ParseUint(portText, 10, 16)
	if err != nil {
		return nil, fmt.Errorf("allow %s: port: %w", hostport, err)
	}
	for {
		addrs, err := lookup(ctx, host)
		if err == nil && len(addrs) > 0 {
			out := make([]netip.AddrPort, 0, len(addrs))
			for _, a := range addrs {
				out = append(out, netip.AddrPortFrom(a.Unmap(), uint16(port)))
			}
			return out, nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("allow %s: resolve %s: %w", hostport, host, errors.Join(err, ctx.Err()))
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// nameservers are the resolvers the container is configured with.
func nameservers(path string) ([]netip.Addr, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []netip.Addr
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) >= 2 && fields[0] == "nameserver" {
			if a, err := netip.ParseAddr(fields[1]); err == nil {
				out = append(out, a.Unmap())
			}
		}
	}
	return out, sc.Err()
}

// dropPrivileges empties the bounding set (nothing can be gained back
// through a file capability), becomes uid:gid, which clears the permitted,
// effective and ambient sets, and sets no_new_privs.
func dropPrivileges(uid, gid uint32) error {
	last, err := lastCap()
	if err != nil {
		return err
	}
	for c := 0; c <= last; c++ {
		if err := unix.Prctl(unix.PR_CAPBSET_DROP, uintptr(c), 0, 0, 0); err != nil && !errors.Is(err, unix.EINVAL) {
			return fmt.Errorf("drop capability %d from the bounding set: %w", c, err)
		}
	}
	if err := syscall.Setgroups([]int{int(gid)}); err != nil {
		return fmt.Errorf("setgroups: %w", err)
	}
	if err := syscall.Setresgid(int(gid), int(gid), int(gid)); err != nil {
		return fmt.Errorf("setresgid %d: %w", gid, err)
	}
	if err := syscall.Setresuid(int(uid), int(uid), int(uid)); err != nil {
		return fmt.Errorf("setresuid %d: %w", uid, err)
	}
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("no_new_privs: %w", err)
	}
	return nil
}

// lastCap is the highest capability the kernel knows.
func lastCap() (int, error) {
	b, err := os.ReadFile("/proc/sys/kernel/cap_last_cap")
	if err != nil {
		return 0, fmt.Errorf("capabilities: %w", err)
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return 0, fmt.Errorf("capabilities: cap_last_cap: %w", err)
	}
	return n, nil
}
