//go:build linux

package containerdruntime

import (
	"bytes"
	"crypto/sha256"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A function that prints far more than reclaimEvery while it runs holds
// about reclaimEvery of disk once its output is read, every byte of which
// reached the reader in order; an adopted container's file (read from the
// end) gives back what it held at once.
func TestFollowLogReclaimsWhatWasRead(t *testing.T) {
	tests := []struct {
		name    string
		fromEnd bool
	}{
		{name: "followed from the start"},
		{name: "adopted: followed from the end", fromEnd: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "output.log")
			w, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
			require.NoError(t, err)
			chunk := bytes.Repeat([]byte("0123456789abcdef"), 4096) // 64 KiB
			var want bytes.Buffer
			if tt.fromEnd {
				for range 64 { // 4 MiB left by the crashed agent's time
					_, err := w.Write(chunk)
					require.NoError(t, err)
				}
			}
			l, err := openLog(path, tt.fromEnd)
			require.NoError(t, err)
			defer l.Close()
			l.warn = func(msg string, args ...any) { t.Errorf("%s %v", msg, args) }
			done := make(chan struct{})
			got := sha256.New()
			errc := make(chan error, 1)
			go func() { errc <- follow(t.Context(), l, done, time.Millisecond, got) }()
			for range 160 { // 10 MiB
				_, err := w.Write(chunk)
				require.NoError(t, err)
				want.Write(chunk)
				time.Sleep(200 * time.Microsecond)
			}
			require.NoError(t, w.Close())
			close(done)
			require.NoError(t, <-errc)
			wantSum := sha256.Sum256(want.Bytes())
			assert.Equal(t, wantSum[:], got.Sum(nil), "every byte read, in order")

			var st syscall.Stat_t
			require.NoError(t, syscall.Stat(path, &st))
			size := int64(len(want.Bytes()))
			if tt.fromEnd {
				size += 4 << 20
			}
			assert.Equal(t, size, st.Size, "the file keeps its size")
			assert.LessOrEqual(t, st.Blocks*512, int64(reclaimEvery+256<<10), "its blocks are freed")
		})
	}
}
