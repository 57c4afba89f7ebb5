package logship

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// post is one request the fake log store received.
type post struct {
	path, query, contentType string
	body                     string
}

// fakeStore is a VictoriaLogs stand-in that reports every POST on a channel.
func fakeStore(t *testing.T, status int) (*httptest.Server, chan post) {
	t.Helper()
	posts := make(chan post, 100)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		assert.NoError(t, err)
		posts <- post{path: r.URL.Path, query: r.URL.RawQuery, contentType: r.Header.Get("Content-Type"), body: string(body)}
		w.WriteHeader(status)
	}))
	t.Cleanup(srv.Close)
	return srv, posts
}

// lines splits a batch into decoded entries, checking that every line,
// the last one included, ends with a newline.
func lines(t *testing.T, body string) []map[string]any {
	t.Helper()
	require.True(t, strings.HasSuffix(body, "\n"), "last line must end with a newline: %q", body)
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSuffix(body, "\n"), "\n") {
		var m map[string]any
		require.NoError(t, json.Unmarshal([]byte(l), &m), "line %q", l)
		out = append(out, m)
	}
	return out
}

func run(t *testing.T, s *Shipper) (cancel func()) {
	t.Helper()
	ctx, stop := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	wg.Go(func() { assert.NoError(t, s.Run(ctx)) })
	return func() { stop(); wg.Wait() }
}

func TestShipperBatches(t *testing.T) {
	tests := []struct {
		name      string
		batchSize int
		entries   int
		want      []int // lines per POST
	}{
		{name: "one batch flushed on stop", batchSize: 10, entries: 3, want: []int{3}},
		{name: "full batches then the rest on stop", batchSize: 2, entries: 5, want: []int{2, 2, 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, posts := fakeStore(t, http.StatusNoContent)
			// A flush interval far beyond the test keeps the ticker out of it:
			// only batch size and the final flush decide the cut.
			s := New(srv.URL+"/", Options{BatchSize: tt.batchSize, FlushInterval: time.Hour})
			for i := range tt.entries {
				s.Send(map[string]any{"service": "gateway", "env": "dev", "message": "m", "i": i})
			}
			stop := run(t, s)
			stop()
			close(posts)

			var got []int
			i := 0
			for p := range posts {
				assert.Equal(t, "/insert/jsonline", p.path)
				assert.Equal(t, "_stream_fields=service,env&_msg_field=message&_time_field=time", p.query)
				entries := lines(t, p.body)
				got = append(got, len(entries))
				for _, e := range entries {
					assert.EqualValues(t, i, e["i"], "order kept")
					assert.Equal(t, "gateway", e["service"])
					assert.NotEmpty(t, e["time"], "time added")
					i++
				}
			}
			assert.Equal(t, tt.want, got)
			assert.EqualValues(t, tt.entries, s.Shipped())
			assert.Zero(t, s.Dropped())
		})
	}
}

func TestShipperFlushesOnInterval(t *testing.T) {
	srv, posts := fakeStore(t, http.StatusOK)
	s := New(srv.URL, Options{BatchSize: 100, FlushInterval: 5 * time.Millisecond})
	stop := run(t, s)
	defer stop()
	s.Send(map[string]any{"message": "tick", "time": "2026-01-02T03:04:05Z"})
	p := <-posts // the ticker, not the stop, flushed it: stop has not been called
	entries := lines(t, p.body)
	require.Len(t, entries, 1)
	assert.Equal(t, "2026-01-02T03:04:05Z", entries[0]["time"], "a given time is kept")
}

func TestShipperDropsWhenFull(t *testing.T) {
	srv, posts := fakeStore(t, http.StatusOK)
	s := New(srv.URL, Options{BufferSize: 2, FlushInterval: time.Hour})
	for i := range 5 {
		s.Send(map[string]any{"message": "m", "i": i})
	}
	assert.EqualValues(t, 3, s.Dropped(), "Send never blocks: what does not fit is dropped")
	stop := run(t, s)
	stop()
	close(posts)
	var n int
	for p := range posts {
		n += len(lines(t, p.body))
	}
	assert.Equal(t, 2, n)
}

func TestShipperCountsRejectedBatches(t *testing.T) {
	srv, posts := fakeStore(t, http.StatusBadRequest)
	s := New(srv.URL, Options{FlushInterval: time.Hour})
	s.Send(map[string]any{"message": "a"})
	s.Send(map[string]any{"message": "b"})
	stop := run(t, s)
	stop()
	require.Len(t, posts, 1)
	assert.EqualValues(t, 2, s.Dropped())
	assert.Zero(t, s.Shipped())
}

func TestShipperEncodesAtSend(t *testing.T) {
	srv, posts := fakeStore(t, http.StatusOK)
	s := New(srv.URL, Options{FlushInterval: time.Hour})
	entry := map[string]any{"message": "before"}
	s.Send(entry)
	entry["message"] = "after" // the caller reuses its map
	_, hasTime := entry["time"]
	assert.False(t, hasTime, "Send must not write into the caller's map")
	stop := run(t, s)
	stop()
	p := <-posts
	assert.Equal(t, "before", lines(t, p.body)[0]["message"])
}
