package agentapi

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestTokenRotation(t *testing.T) {
	path := filepath.Join(t.TempDir(), "token")
	first, err := NewToken(path)
	require.NoError(t, err)
	require.Len(t, first, 64)
	fi, err := os.Stat(path)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o644), fi.Mode().Perm(), "the gateway runs as another user")

	var current atomic.Value
	current.Store(first)
	var calls, refused atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		if !Authorized(r, current.Load().(string)) {
			refused.Add(1)
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write([]byte(`{"code":"Unauthorized","message":"no"}`))
			return
		}
		_, _ = w.Write([]byte(`{"runtime":"docker"}`))
	}))
	defer srv.Close()

	c := &Client{BaseURL: srv.URL, Token: &TokenFile{Path: path}}
	_, err = c.Health(t.Context())
	require.NoError(t, err)

	// The agent restarts with a new token: one refused call, one re-read.
	second, err := NewToken(path)
	require.NoError(t, err)
	current.Store(second)
	_, err = c.Health(t.Context())
	require.NoError(t, err)
	assert.Equal(t, int32(3), calls.Load())
	assert.Equal(t, int32(1), refused.Load())

	// Without a token the answer is 401, with its code.
	_, err = (&Client{BaseURL: srv.URL}).Health(t.Context())
	assert.True(t, IsCode(err, CodeUnauthorized), "%v", err)
}

func TestAuthorized(t *testing.T) {
	tests := []struct {
		name, header string
		want         bool
	}{
		{name: "bearer", header: "Bearer s3cret", want: true},
		{name: "wrong", header: "Bearer s3cre"},
		{name: "no scheme", header: "s3cret"},
		{name: "none"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "/v1/functions", nil)
			if tt.header != "" {
				r.Header.Set("Authorization", tt.header)
			}
			assert.Equal(t, tt.want, Authorized(r, "s3cret"))
		})
	}
}
