package containerdruntime

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestOpenForWriting(t *testing.T) {
	path := filepath.Join(t.TempDir(), "output.log")
	require.NoError(t, os.WriteFile(path, []byte("x\n"), 0o644))
	r, err := os.Open(path)
	require.NoError(t, err)
	defer r.Close()

	writing, err := openForWriting(r)
	require.NoError(t, err)
	assert.False(t, writing, "only a reader")

	other, err := os.Open(path)
	require.NoError(t, err)
	writing, err = openForWriting(r)
	require.NoError(t, err)
	assert.False(t, writing, "two readers")
	require.NoError(t, other.Close())

	w, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	require.NoError(t, err)
	writing, err = openForWriting(r)
	require.NoError(t, err)
	assert.True(t, writing, "a writer holds it")
	writing, err = openForWriting(r)
	require.NoError(t, err)
	assert.True(t, writing, "asking again changes nothing")

	require.NoError(t, w.Close())
	writing, err = openForWriting(r)
	require.NoError(t, err)
	assert.False(t, writing, "the writer let go")

	// Asking left no lease behind: a writer opens without waiting for a
	// lease break (which would block it for lease-break-time seconds).
	w, err = os.OpenFile(path, os.O_WRONLY|os.O_APPEND|syscall.O_NONBLOCK, 0)
	require.NoError(t, err, "a lease still held makes a non-blocking open fail")
	require.NoError(t, w.Close())
}
