package runtimeconfig

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestMergeIntoKeepsUnknownFields runs the deploy path end to end on
// fixtures written by a "newer" ESB and compares the files byte for byte
// with testdata/merged: unknown fields of the aggregate and of the deploy
// both survive, and the output is deterministic.
func TestMergeIntoKeepsUnknownFields(t *testing.T) {
	dir := t.TempDir()
	copyFixture(t, "valid", dir)
	deploy, err := Load(filepath.Join("testdata", "deploy"))
	require.NoError(t, err)

	res, err := MergeInto(t.Context(), dir, deploy, MergeOptions{})
	require.NoError(t, err)

	assert.Equal(t, []string{`resources.yml: skipped resource kind "topics" from the deploy: no merge key is defined for it`}, res.Warnings)
	assert.Equal(t, []string{FunctionsFileName, RoutingFileName, ResourcesFileName}, res.Written)
	for _, name := range FileNames {
		want := readFixture(t, filepath.Join("merged", name))
		got, err := os.ReadFile(filepath.Join(dir, name))
		require.NoError(t, err)
		assert.Equal(t, string(want), string(got), name)
	}
	onDisk, err := Load(dir)
	require.NoError(t, err)
	assert.Equal(t, res.Config, onDisk)
}

func TestMergeInto(t *testing.T) {
	valid := func() Config {
		return cfg(func(c *Config) {
			c.Functions.Functions["A"] = fn("a")
			c.Routing.Routes = []Route{route("/a", "GET", "A")}
		})
	}
	tests := []struct {
		name        string
		setup       func(t *testing.T, dir string) // prepares dir before the merge
		deploy      Config
		wantErr     string // substring; dir must then be unchanged
		wantWritten []string
	}{
		{
			name:        "into an empty dir",
			deploy:      valid(),
			wantWritten: []string{FunctionsFileName, RoutingFileName, ResourcesFileName},
		},
		{
			name: "unchanged files are not rewritten",
			setup: func(t *testing.T, dir string) {
				_, err := MergeInto(t.Context(), dir, valid(), MergeOptions{})
				require.NoError(t, err)
			},
			deploy:      valid(),
			wantWritten: nil,
		},
		{
			name: "only the changed file is rewritten",
			setup: func(t *testing.T, dir string) {
				_, err := MergeInto(t.Context(), dir, valid(), MergeOptions{})
				require.NoError(t, err)
			},
			deploy:      cfg(func(c *Config) { c.Resources.Resources.S3 = []S3Bucket{{BucketName: "b"}} }),
			wantWritten: []string{ResourcesFileName},
		},
		{
			name: "a missing file counts as empty",
			setup: func(t *testing.T, dir string) {
				copyFixture(t, "valid", dir)
				require.NoError(t, os.Remove(filepath.Join(dir, ResourcesFileName)))
			},
			deploy:      valid(),
			wantWritten: []string{FunctionsFileName, RoutingFileName, ResourcesFileName},
		},
		{
			name: "a leftover .tmp of the old layout's writer does not matter and is removed",
			setup: func(t *testing.T, dir string) {
				copyFixture(t, "valid", dir)
				require.NoError(t, os.WriteFile(filepath.Join(dir, RoutingFileName+".tmp"), []byte("routes: [{pa"), 0o644))
			},
			deploy:      valid(),
			wantWritten: []string{FunctionsFileName, RoutingFileName, ResourcesFileName},
		},
		{
			name: "malformed existing file",
			setup: func(t *testing.T, dir string) {
				copyFixture(t, "valid", dir)
				require.NoError(t, os.WriteFile(filepath.Join(dir, FunctionsFileName), readFixture(t, "malformed/syntax.yml"), 0o644))
			},
			deploy:  valid(),
			wantErr: "functions.yml:3: invalid YAML: found character that cannot start any token",
		},
		{
			name: "invalid existing file",
			setup: func(t *testing.T, dir string) {
				copyFixture(t, "valid", dir)
				require.NoError(t, os.WriteFile(filepath.Join(dir, RoutingFileName), readFixture(t, "invalid/routing.yml"), 0o644))
			},
			deploy:  valid(),
			wantErr: `routing.yml:12:5: routes[3].method: unsupported method "FETCH"`,
		},
		{
			name:    "invalid merge result",
			setup:   func(t *testing.T, dir string) { copyFixture(t, "valid", dir) },
			deploy:  cfg(func(c *Config) { c.Routing.Routes = []Route{route("/x", "GET", "Nowhere")} }),
			wantErr: `invalid merged config, nothing written: routing.yml: routes[2].function: unknown function "Nowhere" (not in functions.yml)`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "does", "not", "exist", "yet")
			require.NoError(t, os.MkdirAll(dir, 0o755))
			if tt.setup != nil {
				tt.setup(t, dir)
			}
			before := snapshot(t, dir)

			res, err := MergeInto(t.Context(), dir, tt.deploy, MergeOptions{})

			if tt.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.wantErr)
				assert.Equal(t, Result{}, res)
				after := snapshot(t, dir)
				delete(after, LockFileName)
				assert.Equal(t, before, after, "a failed merge must leave the dir as it was")
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.wantWritten, res.Written)
			for _, name := range res.Written {
				assert.NoFileExists(t, filepath.Join(dir, name+".tmp"), "no temp file is left")
			}
			onDisk, err := Load(dir)
			require.NoError(t, err)
			assert.Equal(t, res.Config, onDisk)
		})
	}
}

func TestMergeIntoCreatesConfigDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "staging", "esb-dev-7a9f2a81", "dev", "config")
	_, err := MergeInto(t.Context(), dir, Empty(), MergeOptions{})
	require.NoError(t, err)
	got, err := Load(dir)
	require.NoError(t, err)
	assert.Equal(t, Empty(), got)
	assert.FileExists(t, filepath.Join(dir, LockFileName))
}

func TestMergeIntoCancelled(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := MergeInto(ctx, dir, Empty(), MergeOptions{})
	require.Error(t, err)
	assert.ErrorIs(t, err, context.Canceled)
	assert.NoFileExists(t, filepath.Join(dir, FunctionsFileName))
}

func TestMergeIntoWaitsForTheLock(t *testing.T) {
	dir := t.TempDir()
	unlock, err := Lock(t.Context(), dir, LockOptions{})
	require.NoError(t, err)

	done := make(chan error, 1)
	go func() {
		_, err := MergeInto(t.Context(), dir, deployOf("Waiting", 0), MergeOptions{})
		done <- err
	}()
	// The merge cannot have written anything while the lock is held; it
	// runs only once released.
	assert.NoFileExists(t, filepath.Join(dir, FunctionsFileName))
	require.NoError(t, unlock())
	require.NoError(t, <-done)
	got, err := Load(dir)
	require.NoError(t, err)
	assert.Contains(t, got.Functions.Functions, "Waiting")
}

func TestLock(t *testing.T) {
	t.Run("times out with a clear error while another holder has it", func(t *testing.T) {
		dir := t.TempDir()
		unlock, err := Lock(t.Context(), dir, LockOptions{})
		require.NoError(t, err)
		defer func() { require.NoError(t, unlock()) }()

		_, err = Lock(t.Context(), dir, LockOptions{Timeout: 100 * time.Millisecond, RetryInterval: 10 * time.Millisecond})
		require.Error(t, err)
		assert.ErrorIs(t, err, ErrLockHeld)
		assert.EqualError(t, err, "lock "+filepath.Join(dir, LockFileName)+": timed out after 100ms: another deploy or gateway start holds it")
	})
	t.Run("the default timeout is named in the error", func(t *testing.T) {
		assert.Equal(t, "30s", DefaultLockTimeout.String())
	})
	t.Run("MergeInto and Seed report the timeout", func(t *testing.T) {
		dir := t.TempDir()
		unlock, err := Lock(t.Context(), dir, LockOptions{})
		require.NoError(t, err)
		defer func() { require.NoError(t, unlock()) }()

		opts := LockOptions{Timeout: 50 * time.Millisecond}
		_, err = MergeInto(t.Context(), dir, Empty(), MergeOptions{Lock: opts})
		assert.ErrorIs(t, err, ErrLockHeld)
		_, err = Seed(t.Context(), dir, "", SeedOptions{Lock: opts})
		assert.ErrorIs(t, err, ErrLockHeld)
		assert.NoFileExists(t, filepath.Join(dir, FunctionsFileName))
	})
	t.Run("creates the dir like mkdir -p", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "a", "b", "c")
		unlock, err := Lock(t.Context(), dir, LockOptions{})
		require.NoError(t, err)
		assert.FileExists(t, filepath.Join(dir, LockFileName))
		require.NoError(t, unlock())
	})
	t.Run("can be taken again after release", func(t *testing.T) {
		dir := t.TempDir()
		for range 3 {
			unlock, err := Lock(t.Context(), dir, LockOptions{Timeout: 50 * time.Millisecond})
			require.NoError(t, err)
			require.NoError(t, unlock())
		}
	})
	t.Run("a cancelled context ends the wait", func(t *testing.T) {
		dir := t.TempDir()
		unlock, err := Lock(t.Context(), dir, LockOptions{})
		require.NoError(t, err)
		defer func() { require.NoError(t, unlock()) }()

		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		_, err = Lock(ctx, dir, LockOptions{})
		assert.ErrorIs(t, err, context.Canceled)
		assert.False(t, errors.Is(err, ErrLockHeld))
	})
	t.Run("a dir that cannot be created", func(t *testing.T) {
		file := filepath.Join(t.TempDir(), "file")
		require.NoError(t, os.WriteFile(file, nil, 0o644))
		_, err := Lock(t.Context(), filepath.Join(file, "config"), LockOptions{})
		require.Error(t, err)
		assert.Contains(t, err.Error(), "create config dir")
	})
}

func TestMergeIntoAfterWrite(t *testing.T) {
	deploy := cfg(func(c *Config) {
		c.Functions.Functions["B"] = fn("b")
		c.Routing.Routes = []Route{route("/b", "GET", "B")}
	})
	snapshot := func(t *testing.T, dir string) map[string]string {
		t.Helper()
		files := map[string]string{}
		for _, name := range FileNames {
			data, err := os.ReadFile(filepath.Join(dir, name))
			if errors.Is(err, os.ErrNotExist) {
				continue
			}
			require.NoError(t, err)
			files[name] = string(data)
		}
		return files
	}

	t.Run("a failing hook restores the previous files", func(t *testing.T) {
		dir := t.TempDir()
		copyFixture(t, "valid", dir)
		before := snapshot(t, dir)
		var sawB bool
		_, err := MergeInto(t.Context(), dir, deploy, MergeOptions{AfterWrite: func(ctx context.Context, res Result) error {
			onDisk, err := Load(dir)
			require.NoError(t, err)
			_, sawB = onDisk.Functions.Functions["B"]
			return errors.New("provisioner exited 1")
		}})
		require.EqualError(t, err, "provisioner exited 1")
		assert.True(t, sawB, "the hook runs with the merged files on disk")
		assert.Equal(t, before, snapshot(t, dir))
	})

	t.Run("a failing hook on a fresh dir leaves no files", func(t *testing.T) {
		dir := t.TempDir()
		_, err := MergeInto(t.Context(), dir, deploy, MergeOptions{AfterWrite: func(context.Context, Result) error {
			return errors.New("no")
		}})
		require.Error(t, err)
		assert.Empty(t, snapshot(t, dir))
	})

	t.Run("a passing hook keeps the merge", func(t *testing.T) {
		dir := t.TempDir()
		calls := 0
		res, err := MergeInto(t.Context(), dir, deploy, MergeOptions{AfterWrite: func(_ context.Context, res Result) error {
			calls++
			assert.Contains(t, res.Config.Functions.Functions, "B")
			return nil
		}})
		require.NoError(t, err)
		assert.Equal(t, 1, calls)
		onDisk, err := Load(dir)
		require.NoError(t, err)
		assert.Equal(t, res.Config, onDisk)
	})
}
