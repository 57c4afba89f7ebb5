package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/esb-dev/esb/internal/confighistory"
	"github.com/esb-dev/esb/internal/runtimeconfig"
)

func TestHistoryListsGenerationsAndFailsOnCorruptOnes(t *testing.T) {
	store := confighistory.Store{ConfigDir: filepath.Join(t.TempDir(), "config")}
	cfg := func(d string) runtimeconfig.Config {
		c := runtimeconfig.Empty()
		c.Functions.Functions["Hello"] = runtimeconfig.Function{Image: "127.0.0.1:5010/esb-dev/hello:latest", Digest: d, Runtime: "python3.13", Handler: "app.handler", Timeout: 3, MemorySize: 128}
		return c
	}
	a, b := cfg("sha256:"+string(bytes.Repeat([]byte("a"), 64))), cfg("sha256:"+string(bytes.Repeat([]byte("b"), 64)))
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.Local)
	for _, e := range []confighistory.Entry{
		{Kind: confighistory.KindDeploy, Template: "/app/a.yml", TemplateHash: "0123456789abcdef", Config: a, Previous: runtimeconfig.Empty(), Time: at},
		{Kind: confighistory.KindDeploy, Template: "/app/b.yml", TemplateHash: "fedcba9876543210", Config: b, Previous: a, Time: at},
		{Kind: confighistory.KindRollback, Template: "/app/a.yml", TemplateHash: "0123456789abcdef", RollbackOf: 1, Config: a, Previous: b, Time: at},
	} {
		_, _, err := store.Record(e)
		require.NoError(t, err)
	}
	var stdout, stderr bytes.Buffer
	c := &cli{stdout: &stdout, stderr: &stderr}
	require.NoError(t, runHistory(c, store))
	assert.Equal(t, `GEN  TIME                 KIND           TEMPLATE    SHA256        FUNCTIONS CHANGED
1    2026-01-02 03:04:05  deploy         /app/a.yml  0123456789ab  Hello
2    2026-01-02 03:04:05  deploy         /app/b.yml  fedcba987654  Hello
3    2026-01-02 03:04:05  rollback to 1  /app/a.yml  0123456789ab  Hello
`, stdout.String())
	assert.Contains(t, stderr.String(), "matches no generation", "CONFIG_DIR was never written here")

	require.NoError(t, os.WriteFile(filepath.Join(confighistory.Dir(store.ConfigDir), "000002", "generation.json"), []byte("{"), 0o644))
	stdout.Reset()
	err := runHistory(c, store)
	assert.ErrorContains(t, err, "1 generations cannot be read")
	assert.Contains(t, stdout.String(), "unreadable")
}
