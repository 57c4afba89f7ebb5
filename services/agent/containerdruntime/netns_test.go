package containerdruntime

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fakeNetwork hands out addresses by CNI ID, as host-local does.
type fakeNetwork struct {
	mu       sync.Mutex
	next     int
	attached map[string]string // ID -> netns path
	failDel  bool
}

func (f *fakeNetwork) Attach(_ context.Context, id, netns string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.next++
	f.attached[id] = netns
	return fmt.Sprintf("10.88.0.%d", f.next), nil
}

func (f *fakeNetwork) Detach(_ context.Context, id, _ string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.failDel {
		return errors.New("cni del: plugin failed")
	}
	delete(f.attached, id)
	return nil
}

func (f *fakeNetwork) ids() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for id := range f.attached {
		out = append(out, id)
	}
	return out
}

type fakeHolder struct {
	path     string
	released chan struct{}
	once     sync.Once
}

func (h *fakeHolder) Path() string { return h.path }
func (h *fakeHolder) Release()     { h.once.Do(func() { close(h.released) }) }
func (h *fakeHolder) Holds() bool  { return !h.isReleased() }

func (h *fakeHolder) isReleased() bool {
	select {
	case <-h.released:
		return true
	default:
		return false
	}
}

type fakeHolders struct {
	mu  sync.Mutex
	all []*fakeHolder
}

func (f *fakeHolders) hold() (holder, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	h := &fakeHolder{path: fmt.Sprintf("/proc/%d/ns/net", 100+len(f.all)), released: make(chan struct{})}
	f.all = append(f.all, h)
	return h, nil
}

func ledgerIDs(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	var out []string
	for _, e := range entries {
		out = append(out, e.Name())
	}
	return out
}

func TestAPreparedNamespaceHasItsAddressAndGoesWithItsContainer(t *testing.T) {
	net, holders, ledger := &fakeNetwork{attached: map[string]string{}}, &fakeHolders{}, t.TempDir()
	n, err := newNetnsPool(net, 2, ledger, holders.hold, nil)
	require.NoError(t, err)
	ctx, stop := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { defer close(done); n.pool.Run(ctx) }()
	require.Eventually(t, func() bool { return n.pool.Ready() == 2 }, 2*time.Second, time.Millisecond)
	assert.Len(t, net.ids(), 2, "on the network before any container asks")
	assert.ElementsMatch(t, net.ids(), ledgerIDs(t, ledger), "each address is in the ledger")

	p := n.take()
	require.NotNil(t, p)
	assert.Regexp(t, "^esb-netns-[0-9a-f]{16}$", p.id)
	assert.Equal(t, p.holder.Path(), net.attached[p.id], "CNI ran into the held namespace")
	assert.NotEmpty(t, p.ip)
	h := p.holder.(*fakeHolder)
	assert.False(t, h.isReleased(), "held until a task joins")
	assert.True(t, n.holds(p.id))
	n.joined(p.id)
	assert.False(t, n.holds(p.id), "joined: no longer this pool's to hand out")
	assert.True(t, h.isReleased(), "the task keeps the namespace now")
	assert.Contains(t, net.ids(), p.id, "the address stays with the container")

	require.NoError(t, n.removed(t.Context(), p.id))
	assert.NotContains(t, net.ids(), p.id)
	assert.NotContains(t, ledgerIDs(t, ledger), p.id)

	// Taken but never joined (the create failed): removed lets the holder go.
	q := n.take()
	require.NotNil(t, q)
	require.NoError(t, n.removed(t.Context(), q.id))
	assert.True(t, q.holder.(*fakeHolder).isReleased())

	stop()
	<-done
	assert.Empty(t, net.ids(), "the pool refilled in between is released at stop")
	assert.Empty(t, ledgerIDs(t, ledger))
	for _, h := range holders.all {
		assert.True(t, h.isReleased(), "no holder process is left")
	}
}

func TestANewAgentReleasesWhatACrashedOneHadPrepared(t *testing.T) {
	net, holders, ledger := &fakeNetwork{attached: map[string]string{}}, &fakeHolders{}, t.TempDir()
	first, err := newNetnsPool(net, 3, ledger, holders.hold, nil)
	require.NoError(t, err)
	var kept []*preparedNetns
	for range 3 {
		p, err := first.prepare(t.Context())
		require.NoError(t, err)
		kept = append(kept, p)
	}
	// The agent dies: its holders with it, CNI's state and the ledger not.
	// One namespace had been taken by a container that still runs.
	inUse := kept[0].id

	second, err := newNetnsPool(net, 3, ledger, holders.hold, nil)
	require.NoError(t, err)
	assert.False(t, second.holds(inUse), "an earlier agent's namespace is no new task's to join")
	require.NoError(t, second.reclaim(t.Context(), map[string]bool{inUse: true}))
	assert.Equal(t, []string{inUse}, net.ids(), "the unused addresses are released, the running container's kept")
	assert.Equal(t, []string{inUse}, ledgerIDs(t, ledger))

	// A CNI DEL that fails keeps the entry for the next agent.
	net.failDel = true
	require.Error(t, second.removed(t.Context(), inUse))
	assert.Equal(t, []string{inUse}, ledgerIDs(t, ledger), "kept in the ledger")
	net.failDel = false
	require.NoError(t, second.reclaim(t.Context(), nil))
	assert.Empty(t, net.ids(), "released by the next try")
	assert.Empty(t, ledgerIDs(t, ledger))
}
