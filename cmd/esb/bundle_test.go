package main

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestBundleDispatch(t *testing.T) {
	code, stdout, _ := testCLI(t, nil, "bundle", "--help")
	assert.Equal(t, 0, code)
	assert.Contains(t, stdout, "export")
	assert.Contains(t, stdout, "import")

	code, _, stderr := testCLI(t, nil, "bundle")
	assert.Equal(t, 2, code)
	assert.Contains(t, stderr, "missing subcommand")

	code, _, stderr = testCLI(t, nil, "bundle", "unpack")
	assert.Equal(t, 2, code)
	assert.Contains(t, stderr, `unknown subcommand "unpack"`)

	code, stdout, _ = testCLI(t, nil, "bundle", "export", "--help")
	assert.Equal(t, 0, code)
	assert.Contains(t, stdout, "Usage: esb bundle export -t template.yml -o app.esbundle")

	code, stdout, _ = testCLI(t, nil, "bundle", "import", "--help")
	assert.Equal(t, 0, code)
	assert.Contains(t, stdout, "Usage: esb bundle import FILE")
}

func TestBundleUsageErrors(t *testing.T) {
	code, _, stderr := testCLI(t, nil, "bundle", "export", "-t", "template.yml")
	assert.Equal(t, 2, code)
	assert.Contains(t, stderr, "-o FILE is required")

	code, _, stderr = testCLI(t, nil, "bundle", "import")
	assert.Equal(t, 2, code)
	assert.Contains(t, stderr, "missing the bundle FILE")

	code, _, stderr = testCLI(t, nil, "bundle", "import", filepath.Join(t.TempDir(), "x.esbundle"), "--mode", "podman")
	assert.Equal(t, 2, code)
	assert.Contains(t, stderr, "podman")
}

func TestBundleKeygen(t *testing.T) {
	prefix := filepath.Join(t.TempDir(), "operator")
	code, stdout, stderr := testCLI(t, nil, "bundle", "keygen", "-o", prefix)
	assert.Equal(t, 0, code, stderr)
	assert.Contains(t, stdout, prefix+".pem")
	assert.FileExists(t, prefix+".pub")
	code, _, stderr = testCLI(t, nil, "bundle", "keygen", "-o", prefix)
	assert.Equal(t, 1, code)
	assert.Contains(t, stderr, "exists")
}
