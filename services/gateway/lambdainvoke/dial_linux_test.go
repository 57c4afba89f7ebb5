package lambdainvoke

import (
	"fmt"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/esb-dev/esb/internal/agentapi"
	"github.com/esb-dev/esb/services/gateway/fakeagent"
)

// unanswered returns an address whose connects hang: a socket that
// listens with a backlog of one, already taken, and never accepts, so the
// kernel drops every further SYN, as it would for a container whose
// process stopped accepting.
func unanswered(t *testing.T) string {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	require.NoError(t, err)
	t.Cleanup(func() { syscall.Close(fd) })
	require.NoError(t, syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}))
	require.NoError(t, syscall.Listen(fd, 0))
	sa, err := syscall.Getsockname(fd)
	require.NoError(t, err)
	addr := fmt.Sprintf("127.0.0.1:%d", sa.(*syscall.SockaddrInet4).Port)
	taken, err := net.DialTimeout("tcp", addr, time.Second)
	require.NoError(t, err, "the one connection the backlog holds")
	t.Cleanup(func() { taken.Close() })
	return addr
}

func TestConnectGivesUpAfterDialTimeout(t *testing.T) {
	addr := unanswered(t)
	agent := fakeagent.New(t, func(agentapi.FunctionSpec) string { return "http://" + addr })
	inv := New(agent.Client(), Options{DialTimeout: 100 * time.Millisecond})
	s := spec("F", 0)
	s.Function.Timeout = 900 // were the dial bounded by the function's timeout only, the test would hang

	_, err := inv.Invoke(t.Context(), Request{Function: s, Payload: []byte(`{}`)})
	require.Error(t, err)
	assert.ErrorIs(t, err, ErrCrashed, "a container that does not take the connection is not a function timeout")
	assert.NotErrorIs(t, err, ErrTimeout)
	assert.ErrorContains(t, err, "i/o timeout")
	select {
	case r := <-agent.Releases():
		assert.True(t, r.Discard, "the container is not reused")
	case <-time.After(5 * time.Second):
		t.Fatal("the lease was not returned")
	}
	assert.Len(t, agent.Acquires(), 1, "a fresh lease that fails is not retried on another")
}
