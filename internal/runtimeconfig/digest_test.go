package runtimeconfig

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestDigestFollowsMeaningNotBytes(t *testing.T) {
	const fns = "functions:\n  Hello:\n    image: reg/hello:latest\n    digest: sha256:aa\n    runtime: python3.13\n    handler: app.handler\n"
	const routes = "routes:\n  - {path: /hello, method: GET, function: Hello, payload: \"2.0\"}\n"
	digest := func(fns, routes string) string {
		t.Helper()
		cfg, err := Decode(Files{Functions: []byte(fns), Routing: []byte(routes)})
		require.NoError(t, err)
		d, err := cfg.Digest()
		require.NoError(t, err)
		return d
	}
	base := digest(fns, routes)
	assert.True(t, strings.HasPrefix(base, "sha256:") && len(base) == len("sha256:")+64, base)

	// What a deploy writes (Marshal) and a hand-formatted, commented copy
	// of the same config are the same set to the gateway.
	cfg, err := Decode(Files{Functions: []byte(fns), Routing: []byte(routes)})
	require.NoError(t, err)
	written, err := Marshal(cfg)
	require.NoError(t, err)
	assert.Equal(t, base, digest(string(written.Functions), string(written.Routing)))
	assert.Equal(t, base, digest("# edited by hand\n"+fns, "routes:\n- path: /hello\n  method: GET\n  function: Hello\n  payload: \"2.0\"\n"))

	assert.NotEqual(t, base, digest(strings.Replace(fns, "sha256:aa", "sha256:bb", 1), routes), "a new image")
	assert.NotEqual(t, base, digest(fns+"    memory_size: 512\n", routes), "a setting")
	assert.NotEqual(t, base, digest(fns, strings.Replace(routes, "GET", "POST", 1)), "a route")
}
