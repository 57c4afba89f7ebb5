//go:build linux

package main

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestResolveAllKeepsTheOrderOfAllow(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	got, err := resolveAll(ctx, []string{"127.0.0.2:9001", "[::1]:4566", "127.0.0.1:8000"})
	require.NoError(t, err)
	assert.Equal(t, []netip.AddrPort{
		netip.MustParseAddrPort("127.0.0.2:9001"),
		netip.MustParseAddrPort("[::1]:4566"),
		netip.MustParseAddrPort("127.0.0.1:8000"),
	}, got)
}

func TestResolveAllFailsWhenOneNameDoesNot(t *testing.T) {
	// A name that never resolves: the lookups retry until the deadline.
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_, err := resolveAll(ctx, []string{"127.0.0.1:1", "no-such-host.invalid:2"})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "allow no-such-host.invalid:2")
}
