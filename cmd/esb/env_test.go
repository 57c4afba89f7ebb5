package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// testCLI runs esb with a fixed environment and returns exit code and output.
func testCLI(t *testing.T, env map[string]string, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	c := &cli{stdout: &stdout, stderr: &stderr, workdir: t.TempDir(), uid: 1000, gid: 1001, lookupEnv: func(k string) (string, bool) {
		v, ok := env[k]
		return v, ok
	}, ensureRegistryAuth: func(dir string) error {
		fmt.Fprintf(&stderr, "registry credential in %s\n", dir)
		return nil
	}}
	code := run(t.Context(), c, args)
	return code, stdout.String(), stderr.String()
}

func TestEnvShell(t *testing.T) {
	code, out, errOut := testCLI(t, map[string]string{"HOME": "/home/u", "XDG_CACHE_HOME": "/x"}, "env", "-e", "Dev")
	require.Equal(t, 0, code, errOut)
	assert.Contains(t, out, "export ENV=dev\n")
	assert.Contains(t, out, "export COMPOSE_PROJECT_NAME=esb-dev\n")
	assert.Contains(t, errOut, "registry credential in /x/esb/staging/esb-dev-7a9f2a81/dev/registry-auth\n", "esb env makes the env's registry credential beside CONFIG_DIR")
	assert.Contains(t, out, "export CONFIG_DIR=/x/esb/staging/esb-dev-7a9f2a81/dev/config\n")
	assert.Contains(t, out, "export PORT_REGISTRY=5010\n")
	assert.Contains(t, out, "export PORT_GATEWAY=5000\n")
	assert.Contains(t, out, "export PORT_GATEWAY_TLS=5001\n")
	assert.Contains(t, out, "export ESB_BIND_ADDR=127.0.0.1\n")
	assert.Contains(t, out, "export ESB_BIND_ADDR_S3=127.0.0.1\n")
	assert.Contains(t, out, "export ESB_TLS_CA_FILE=/x/esb/staging/esb-dev-7a9f2a81/dev/config/tls/ca.crt\n")
	assert.Contains(t, out, "export ESB_UID=1000\nexport ESB_GID=1001\n")
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		assert.True(t, strings.HasPrefix(line, "export "), "line %q", line)
	}
}

func TestEnvDefaultsFromEnvironment(t *testing.T) {
	code, out, errOut := testCLI(t, map[string]string{
		"HOME": "/home/u", "ESB_ENV": "stage", "ESB_BRAND": "acme", "ESB_PORT_OFFSET": "300",
		// A stale port from another env's eval must not leak in.
		"PORT_REGISTRY": "9999",
	}, "env", "--format", "json")
	require.Equal(t, 0, code, errOut)
	var vars map[string]string
	require.NoError(t, json.Unmarshal([]byte(out), &vars))
	assert.Equal(t, "acme-stage", vars["COMPOSE_PROJECT_NAME"])
	assert.Equal(t, "5310", vars["PORT_REGISTRY"])
	assert.True(t, strings.HasPrefix(vars["CONFIG_DIR"], "/home/u/.acme/.cache/staging/acme-stage-"), vars["CONFIG_DIR"])
}

func TestEnvQuotesPaths(t *testing.T) {
	code, out, _ := testCLI(t, map[string]string{"XDG_CACHE_HOME": "/with space/it's"}, "env")
	require.Equal(t, 0, code)
	assert.Contains(t, out, `export CONFIG_DIR='/with space/it'\''s/esb/staging/`)
}

func TestEnvErrors(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		args []string
		code int
		msg  string
	}{
		{"bad env name", map[string]string{"HOME": "/h"}, []string{"env", "-e", "a b"}, 2, `env "a b"`},
		{"offset not a multiple of 100", map[string]string{"HOME": "/h"}, []string{"env", "--port-offset", "150"}, 2, "multiple of 100"},
		{"no home", map[string]string{}, []string{"env"}, 1, "neither XDG_CACHE_HOME nor HOME"},
		{"unknown flag", map[string]string{"HOME": "/h"}, []string{"env", "--nope"}, 2, "unknown flag"},
		{"bad format", map[string]string{"HOME": "/h"}, []string{"env", "--format", "xml"}, 2, `--format "xml"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, errOut := testCLI(t, tt.env, tt.args...)
			assert.Equal(t, tt.code, code)
			assert.Contains(t, errOut, tt.msg)
		})
	}
}

func TestHelpOnEveryCommand(t *testing.T) {
	for _, cmd := range commands() {
		t.Run(cmd.name, func(t *testing.T) {
			code, out, errOut := testCLI(t, map[string]string{"HOME": "/h"}, cmd.name, "--help")
			assert.Equal(t, 0, code, errOut)
			assert.Contains(t, out, "Usage: esb "+cmd.name)
		})
	}
	code, out, _ := testCLI(t, nil, "--help")
	assert.Equal(t, 0, code)
	assert.Contains(t, out, "Commands:")
	code, _, errOut := testCLI(t, nil, "bogus")
	assert.Equal(t, 2, code)
	assert.Contains(t, errOut, `unknown command "bogus"`)
}

func TestEnvImageTagInsideACheckout(t *testing.T) {
	code, out, _ := testCLI(t, map[string]string{"HOME": "/h"}, "env")
	require.Equal(t, 0, code)
	assert.NotContains(t, out, "ESB_IMAGE_TAG", "outside a checkout compose keeps its default tag")

	repo, err := filepath.Abs(filepath.Join("..", ".."))
	require.NoError(t, err)
	code, out, _ = testCLI(t, map[string]string{"HOME": "/h", "ESB_PROJECT_DIR": repo}, "env")
	require.Equal(t, 0, code)
	assert.Regexp(t, `export ESB_IMAGE_TAG=src-[0-9a-f]{12}\n`, out)
}

func TestEnvBindAddresses(t *testing.T) {
	code, out, errOut := testCLI(t, map[string]string{"HOME": "/h", "ESB_BIND_ADDR": "0.0.0.0", "ESB_BIND_ADDR_LOGS": "10.0.0.5",
		"ESB_TLS_CERT_FILE": "/etc/esb/gw.crt"}, "env")
	require.Equal(t, 0, code, errOut)
	assert.Contains(t, out, "export ESB_BIND_ADDR=0.0.0.0\n", "the gateway's public ports")
	assert.Contains(t, out, "export ESB_BIND_ADDR_LOGS=10.0.0.5\n")
	assert.Contains(t, out, "export ESB_BIND_ADDR_S3=127.0.0.1\n", "ESB_BIND_ADDR does not widen the data services")
	assert.NotContains(t, out, "ESB_TLS_CA_FILE", "the operator's certificate: no env CA")

	code, _, errOut = testCLI(t, map[string]string{"HOME": "/h", "ESB_BIND_ADDR_S3": "s3.lan"}, "env")
	assert.Equal(t, 1, code)
	assert.Contains(t, errOut, `ESB_BIND_ADDR_S3="s3.lan": want an IPv4 address`)
}
