//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/esb-dev/esb/internal/runtimeconfig"
)

// esbBinary builds the CLI once per test binary: the e2e tests drive the
// real command, as users do.
var esbBinary = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "esb-e2e-bin-")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "esb")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/esb")
	cmd.Dir = ".."
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", &exec.ExitError{Stderr: out}
	}
	return bin, nil
})

// esbResult is one run of the CLI.
type esbResult struct {
	stdout, stderr string
	err            error
}

// esb runs the CLI against the stack's env.
func (s *stack) esb(ctx context.Context, t testing.TB, args ...string) esbResult {
	t.Helper()
	cmd := s.esbCmd(ctx, t, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	t.Logf("esb %v: exit %v\n%s%s", args, err, stderr.String(), stdout.String())
	return esbResult{stdout: stdout.String(), stderr: stderr.String(), err: err}
}

// esbCmd is the command line of esb against the stack's env, for a caller
// that runs it itself (one that keeps running, as esb logs -f).
func (s *stack) esbCmd(ctx context.Context, t testing.TB, args ...string) *exec.Cmd {
	t.Helper()
	bin, err := esbBinary()
	require.NoError(t, err, "build esb")
	full := append(args, "-e", s.layout.Env.Name, "--port-offset", strconv.Itoa(s.layout.PortOffset))
	cmd := exec.CommandContext(ctx, bin, full...)
	// The env's own settings too, as in the shell that started it.
	cmd.Env = append(append(os.Environ(), s.settings...),
		"XDG_CACHE_HOME="+s.cacheHome,
		"ESB_PROJECT_DIR="+s.root,
	)
	return cmd
}

// config reads the env's CONFIG_DIR.
func (s *stack) config(t testing.TB) runtimeconfig.Config {
	t.Helper()
	cfg, err := runtimeconfig.Load(s.layout.ConfigDir)
	require.NoError(t, err)
	return cfg
}

// snapshotConfig returns the bytes of every file in CONFIG_DIR, read
// through the links of its current generation; the generation dirs and
// the ..data link themselves are skipped (their names change each merge).
func (s *stack) snapshotConfig(t testing.TB) map[string]string {
	t.Helper()
	out := map[string]string{}
	entries, err := os.ReadDir(s.layout.ConfigDir)
	if os.IsNotExist(err) {
		return out
	}
	require.NoError(t, err)
	for _, e := range entries {
		if e.IsDir() || strings.HasPrefix(e.Name(), "..") {
			continue
		}
		data, err := os.ReadFile(filepath.Join(s.layout.ConfigDir, e.Name()))
		require.NoError(t, err)
		out[e.Name()] = string(data)
	}
	return out
}

// copyTree copies a fixture tree into dst, which must exist.
func copyTree(t testing.TB, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		return os.WriteFile(target, data, info.Mode().Perm())
	})
	require.NoError(t, err)
}
