package containerdruntime

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/esb-dev/esb/services/agent/netnspool"
)

// A prepared network namespace in containerd mode is a new namespace held
// open by an inert process (see holdNetns), already on the function
// network: CNI ADD ran into it under an ID of its own. A function task
// is created in it (the spec names its path) instead of getting a fresh
// one that CNI configures while the start waits. Once the task is
// created it keeps the namespace alive and the holder process exits.
type preparedNetns struct {
	id     string // the CNI container ID: netnsIDPrefix + 16 hex digits
	ip     string
	holder holder
}

// holder keeps a network namespace open.
type holder interface {
	// Path is the namespace's path as runc on the node opens it.
	Path() string
	// Release lets the process go; the namespace lives on in whatever
	// joined it.
	Release()
	// Holds reports that Path still names the namespace held: a holder
	// that died would leave the path to whatever process gets its PID.
	Holds() bool
}

const netnsIDPrefix = "esb-netns-"

// Deadlines of the pool's own calls, which run outside any request.
const (
	netnsPrepareTimeout = 30 * time.Second
	netnsDiscardTimeout = 10 * time.Second
)

// netnsPool is the pool of prepared namespaces and the ones taken by a
// container whose task does not exist yet.
type netnsPool struct {
	network Network
	hold    func() (holder, error)
	// ledger has one empty file per CNI ID that holds an address: a
	// crashed agent's prepared namespaces are gone with their holders,
	// their addresses and NAT rules are not, and the next agent releases
	// them from here.
	ledger string
	pool   *netnspool.Pool[*preparedNetns]

	mu    sync.Mutex
	taken map[string]*preparedNetns // CNI ID -> taken, until its task exists
}

func newNetnsPool(network Network, size int, ledger string, hold func() (holder, error), logger *slog.Logger) (*netnsPool, error) {
	if err := os.MkdirAll(ledger, 0o700); err != nil {
		return nil, fmt.Errorf("netns pool ledger: %w", err)
	}
	n := &netnsPool{network: network, hold: hold, ledger: ledger, taken: map[string]*preparedNetns{}}
	n.pool = netnspool.New(netnspool.Options[*preparedNetns]{Size: size, Prepare: n.prepare, Discard: n.discard, Logger: logger})
	return n, nil
}

func (n *netnsPool) prepare(ctx context.Context) (*preparedNetns, error) {
	ctx, cancel := context.WithTimeout(ctx, netnsPrepareTimeout)
	defer cancel()
	var b [8]byte
	_, _ = rand.Read(b[:])
	id := netnsIDPrefix + hex.EncodeToString(b[:])
	// Recorded before CNI ADD: a crash in between leaves an entry to
	// release, never an address nobody knows of.
	if err := os.WriteFile(filepath.Join(n.ledger, id), nil, 0o600); err != nil {
		return nil, fmt.Errorf("netns pool ledger: %w", err)
	}
	h, err := n.hold()
	if err != nil {
		n.forget(id)
		return nil, fmt.Errorf("hold a network namespace: %w", err)
	}
	ip, err := n.network.Attach(ctx, id, h.Path())
	if err != nil {
		_ = n.release(context.WithoutCancel(ctx), id, h.Path())
		h.Release()
		return nil, err
	}
	return &preparedNetns{id: id, ip: ip, holder: h}, nil
}

// discard undoes prepare, even when ctx has ended.
func (n *netnsPool) discard(ctx context.Context, p *preparedNetns) {
	_ = n.release(ctx, p.id, p.holder.Path())
	p.holder.Release()
}

// release gives back CNI ID id's address and NAT rules (netns may be
// empty once the namespace is gone) and drops its ledger entry, even
// when ctx has ended. What CNI fails to release stays in the ledger: the
// next agent tries again.
func (n *netnsPool) release(ctx context.Context, id, netns string) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), netnsDiscardTimeout)
	defer cancel()
	if err := n.network.Detach(ctx, id, netns); err != nil {
		return err
	}
	n.forget(id)
	return nil
}

func (n *netnsPool) forget(id string) {
	_ = os.Remove(filepath.Join(n.ledger, id))
}

// take returns a prepared namespace, recorded as taken until joined or
// returned; nil when none is ready.
func (n *netnsPool) take() *preparedNetns {
	p, ok := n.pool.Take()
	if !ok {
		return nil
	}
	n.mu.Lock()
	n.taken[p.id] = p
	n.mu.Unlock()
	return p
}

// holds reports that CNI ID id was taken by this agent and its holder
// still holds the namespace, so a task created now joins that one.
func (n *netnsPool) holds(id string) bool {
	n.mu.Lock()
	p := n.taken[id]
	n.mu.Unlock()
	return p != nil && p.holder.Holds()
}

// joined lets the holder of CNI ID id go: a task lives in the namespace
// now. The address stays until the container is removed.
func (n *netnsPool) joined(id string) {
	n.mu.Lock()
	p := n.taken[id]
	delete(n.taken, id)
	n.mu.Unlock()
	if p != nil {
		p.holder.Release()
	}
}

// removed releases CNI ID id with its container: the address, the ledger
// entry, and the holder if no task ever joined.
func (n *netnsPool) removed(ctx context.Context, id string) error {
	n.joined(id)
	return n.release(ctx, id, "")
}

// reclaim releases the ledger's entries no container in inUse was
// created in: an earlier agent's unused prepared namespaces.
func (n *netnsPool) reclaim(ctx context.Context, inUse map[string]bool) error {
	entries, err := os.ReadDir(n.ledger)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("netns pool ledger: %w", err)
	}
	for _, e := range entries {
		if id := e.Name(); !inUse[id] {
			_ = n.release(ctx, id, "")
		}
	}
	return nil
}
