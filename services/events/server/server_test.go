package server

import (
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/esb-dev/esb/internal/eventsapi"
	"github.com/esb-dev/esb/services/events/queue"
)

func TestEnqueueThroughTheClient(t *testing.T) {
	store, err := queue.Open(filepath.Join(t.TempDir(), "q.db"))
	require.NoError(t, err)
	defer store.Close()
	srv := httptest.NewServer(New(store, nil).Handler())
	defer srv.Close()
	client := &eventsapi.Client{BaseURL: srv.URL, HTTP: srv.Client()}

	require.NoError(t, client.Enqueue(t.Context(), "Hello", "req-1", []byte(`{"a":1}`)))
	due, err := store.Due(time.Now().Add(time.Second), 10)
	require.NoError(t, err)
	require.Len(t, due, 1, "stored before the answer")
	assert.Equal(t, "Hello", due[0].Function)
	assert.Equal(t, "req-1", due[0].RequestID)
	assert.Equal(t, queue.KindInvoke, due[0].Kind)
	assert.JSONEq(t, `{"a":1}`, string(due[0].Payload))

	err = client.Enqueue(t.Context(), "Hello", "req-2", []byte(`"`+strings.Repeat("x", eventsapi.MaxAsyncPayload)+`"`))
	require.ErrorIs(t, err, eventsapi.ErrTooLarge)
	err = client.Enqueue(t.Context(), "Hello", "req-3", []byte(`not json`))
	require.ErrorContains(t, err, "not JSON")
	n, err := store.Len()
	require.NoError(t, err)
	assert.Equal(t, 1, n)
}
