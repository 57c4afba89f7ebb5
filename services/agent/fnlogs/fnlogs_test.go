package fnlogs

import (
	"context"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// scripted writes chunks to stdout/stderr, then ends the stream.
type scripted struct {
	chunks []chunk
}

type chunk struct {
	stderr bool
	data   string
}

func (s scripted) FollowLogs(_ context.Context, _ string, _ time.Time, stdout, stderr io.Writer) error {
	for _, c := range s.chunks {
		w := stdout
		if c.stderr {
			w = stderr
		}
		if _, err := io.WriteString(w, c.data); err != nil {
			return err
		}
	}
	return nil
}

type sink struct {
	mu      sync.Mutex
	entries []map[string]any
}

func (s *sink) Send(e map[string]any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.entries = append(s.entries, e)
}

func TestCollector(t *testing.T) {
	long := strings.Repeat("x", 10)
	tests := []struct {
		name     string
		chunks   []chunk
		opts     Options
		wantTail []string
		shipped  int
		wantSent []map[string]any
	}{
		{
			name:     "lines split across writes, CRLF, unterminated last line",
			chunks:   []chunk{{data: "hel"}, {data: "lo\nwor"}, {data: "ld\r\n"}, {data: "tail"}},
			wantTail: []string{"hello", "world", "tail"},
			shipped:  3,
		},
		{
			name:     "tail keeps the last lines",
			chunks:   []chunk{{data: "1\n2\n3\n4\n5\n"}},
			opts:     Options{TailLines: 2},
			wantTail: []string{"4", "5"},
			shipped:  5,
		},
		{
			name:     "long lines are cut",
			chunks:   []chunk{{data: long + "\n"}, {data: long}},
			opts:     Options{MaxLineBytes: 4},
			wantTail: []string{"xxxx", "xxxx", "xx", "xxxx", "xxxx", "xx"},
			shipped:  6,
		},
		{
			name:     "shipped entries carry stream and source",
			chunks:   []chunk{{data: "out\n"}, {stderr: true, data: "err\n"}},
			opts:     Options{Env: "dev"},
			wantTail: []string{"out", "err"},
			shipped:  2,
			wantSent: []map[string]any{
				{"service": "function", "env": "dev", "function": "Hello", "container": "esb-dev-fn-Hello-1", "stream": "stdout", "message": "out"},
				{"service": "function", "env": "dev", "function": "Hello", "container": "esb-dev-fn-Hello-1", "stream": "stderr", "message": "err"},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &sink{}
			tt.opts.Sink = s
			c := New(t.Context(), scripted{chunks: tt.chunks}, tt.opts)
			done := c.Follow("c1", Source{Function: "Hello", Container: "esb-dev-fn-Hello-1"}, time.Time{})
			select {
			case <-done:
			case <-time.After(5 * time.Second):
				t.Fatal("stream did not end")
			}
			assert.Equal(t, tt.wantTail, c.Tail("c1"))
			if tt.wantSent != nil {
				assert.Equal(t, tt.wantSent, s.entries)
			}
			assert.Len(t, s.entries, tt.shipped, "every line is shipped")
			c.Forget("c1")
			assert.Nil(t, c.Tail("c1"))
			c.Wait()
		})
	}
}

// blocking follows until its context ends, like a running container.
type blocking struct{}

func (blocking) FollowLogs(ctx context.Context, _ string, _ time.Time, stdout, _ io.Writer) error {
	_, _ = io.WriteString(stdout, "started\n")
	<-ctx.Done()
	return ctx.Err()
}

func TestCollectorStops(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	c := New(ctx, blocking{}, Options{})
	done := c.Follow("a", Source{}, time.Time{})
	again := c.Follow("a", Source{}, time.Time{})
	require.Equal(t, done, again, "one follower per container")
	other := c.Follow("b", Source{}, time.Time{})

	c.Forget("a")
	<-done
	cancel()
	<-other
	c.Wait()
}
