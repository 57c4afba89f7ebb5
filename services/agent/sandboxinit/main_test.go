//go:build linux

package main

import (
	"context"
	"errors"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// barrierLookup answers each name only once every name of the set has
// been asked for: lookups made one after another never get past the first.
func barrierLookup(answers map[string]string) lookupFunc {
	var asked sync.WaitGroup
	asked.Add(len(answers))
	return func(ctx context.Context, host string) ([]netip.Addr, error) {
		addr, ok := answers[host]
		if !ok {
			return nil, errors.New("no such host")
		}
		asked.Done()
		done := make(chan struct{})
		go func() { asked.Wait(); close(done) }()
		select {
		case <-done:
			return []netip.Addr{netip.MustParseAddr(addr)}, nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

func TestResolveAllAsksForEveryNameAtOnceAndKeepsTheOrder(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	lookup := barrierLookup(map[string]string{"gateway": "172.20.0.2", "s3": "172.20.0.3", "database": "fd00::4"})
	got, err := resolveAll(ctx, []string{"gateway:9001", "s3:9000", "database:8000"}, lookup)
	require.NoError(t, err)
	assert.Equal(t, []netip.AddrPort{
		netip.MustParseAddrPort("172.20.0.2:9001"),
		netip.MustParseAddrPort("172.20.0.3:9000"),
		netip.MustParseAddrPort("[fd00::4]:8000"),
	}, got)
}

func TestResolveAllFailsWhenOneNameDoesNot(t *testing.T) {
	// A name that never resolves: its lookups retry until the deadline.
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	lookup := func(_ context.Context, host string) ([]netip.Addr, error) {
		if host == "gateway" {
			return []netip.Addr{netip.MustParseAddr("172.20.0.2")}, nil
		}
		return nil, errors.New("no such host")
	}
	_, err := resolveAll(ctx, []string{"gateway:9001", "nowhere:2"}, lookup)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "allow nowhere:2: resolve nowhere")
	assert.ErrorIs(t, err, context.DeadlineExceeded)
}
