package logquery

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestFunctionQuery(t *testing.T) {
	tests := []struct {
		name, function, filter, want string
	}{
		{name: "every function", want: `service:function`},
		{name: "one function", function: "Hello", want: `service:function function:="Hello"`},
		{name: "a phrase with quotes stays one term", function: "Hello", filter: `say "hi" or`, want: `service:function function:="Hello" "say \"hi\" or"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, FunctionQuery(tt.function, tt.filter))
		})
	}
}

// store is a log store answering queries from rows, filtered by start
// like VictoriaLogs; it records the queries.
type store struct {
	mu      sync.Mutex
	rows    []string // JSON lines, each with _time
	times   []time.Time
	queries []string
	status  int
}

func (s *store) add(at time.Time, msg string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rows = append(s.rows, fmt.Sprintf(`{"_time":%q,"_msg":%q,"function":"F","container":"F-1","stream":"stdout","service":"function"}`, at.UTC().Format(time.RFC3339Nano), msg))
	s.times = append(s.times, at)
}

func (s *store) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r.URL.Path != QueryPath || r.ParseForm() != nil {
		http.NotFound(w, r)
		return
	}
	s.queries = append(s.queries, r.PostForm.Get("query"))
	if s.status != 0 {
		http.Error(w, "bad query", s.status)
		return
	}
	var start time.Time
	if v := r.PostForm.Get("start"); v != "" {
		start, _ = time.Parse(time.RFC3339Nano, v)
	}
	// Newest first, as an unsorted store may answer: the client sorts.
	for i := len(s.rows) - 1; i >= 0; i-- {
		if !s.times[i].Before(start) {
			fmt.Fprintln(w, s.rows[i])
		}
	}
}

func TestQuery(t *testing.T) {
	st := &store{}
	now := time.Now().Truncate(time.Millisecond)
	st.add(now.Add(-time.Hour), "old")
	st.add(now.Add(-time.Second), "START RequestId: r1 Version: $LATEST")
	st.add(now, "hello\tworld")
	srv := httptest.NewServer(st)
	defer srv.Close()
	c := &Client{BaseURL: srv.URL + "/"}

	got, err := c.Query(t.Context(), FunctionQuery("F", ""), now.Add(-time.Minute), time.Time{}, 0)
	require.NoError(t, err)
	require.Len(t, got, 2)
	assert.Equal(t, Entry{Time: now.Add(-time.Second).UTC(), Function: "F", Container: "F-1", Stream: "stdout", Message: "START RequestId: r1 Version: $LATEST"}, got[0])
	assert.Equal(t, "hello\tworld", got[1].Message, "oldest first")
	assert.Equal(t, []string{`service:function function:="F" | sort by (_time)`}, st.queries)

	st.status = http.StatusBadRequest
	_, err = c.Query(t.Context(), "service:function", time.Time{}, time.Time{}, 0)
	assert.ErrorContains(t, err, "400 Bad Request: bad query")
}

func TestQueryHonoursDeadline(t *testing.T) {
	release := make(chan struct{})
	hung := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { <-release }))
	defer hung.Close()
	defer close(release)
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	_, err := (&Client{BaseURL: hung.URL}).Query(ctx, "x", time.Time{}, time.Time{}, 0)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
}

// TestFollow: history first, then each new line once, also a line stored
// late (timed before the previous poll).
func TestFollow(t *testing.T) {
	st := &store{}
	now := time.Now()
	st.add(now.Add(-2*time.Minute), "too old")
	st.add(now.Add(-time.Minute), "history")
	srv := httptest.NewServer(st)
	defer srv.Close()
	c := &Client{BaseURL: srv.URL}

	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	got := make(chan string, 16)
	done := make(chan error, 1)
	go func() {
		done <- c.Follow(ctx, "service:function", now.Add(-90*time.Second), 10*time.Millisecond, func(e Entry) error {
			got <- e.Message
			return nil
		})
	}()
	next := func() string {
		select {
		case m := <-got:
			return m
		case <-time.After(5 * time.Second):
			t.Fatal("no line")
			return ""
		}
	}
	assert.Equal(t, "history", next())
	st.add(time.Now(), "new")
	assert.Equal(t, "new", next())
	st.add(time.Now().Add(-2*time.Second), "late")
	assert.Equal(t, "late", next())
	time.Sleep(50 * time.Millisecond) // a few more polls: nothing twice
	select {
	case m := <-got:
		t.Fatalf("printed again: %q", m)
	default:
	}
	cancel()
	assert.NoError(t, <-done)

	st.status = http.StatusInternalServerError
	err := c.Follow(t.Context(), "x", now, time.Millisecond, func(Entry) error { return nil })
	assert.ErrorContains(t, err, "500")
}
