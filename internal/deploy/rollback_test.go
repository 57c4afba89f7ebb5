package deploy

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/esb-dev/esb/internal/confighistory"
	"github.com/esb-dev/esb/internal/runtimeconfig"
)

// deployAB deploys the same template twice with different digests (A,
// then B) and returns the options and each deploy's digest.
func deployAB(t *testing.T) (Options, string, string) {
	t.Helper()
	opts := options(t, "hello-python")
	_, err := Run(t.Context(), opts, &fakeSteps{digest: digestOf("a")})
	require.NoError(t, err)
	_, err = Run(t.Context(), opts, &fakeSteps{digest: digestOf("bb")})
	require.NoError(t, err)
	return opts, digestOf("a")("HelloWorldFunction"), digestOf("bb")("HelloWorldFunction")
}

func servedDigest(t *testing.T, dir string) string {
	t.Helper()
	cfg, err := runtimeconfig.Load(dir)
	require.NoError(t, err)
	return cfg.Functions.Functions["HelloWorldFunction"].Digest
}

func TestRollbackAndRollbackOfRollback(t *testing.T) {
	opts, a, b := deployAB(t)
	require.Equal(t, b, servedDigest(t, opts.ConfigDir))

	steps := &fakeSteps{}
	sum, err := Rollback(t.Context(), RollbackOptions{ConfigDir: opts.ConfigDir, Mode: "containerd"}, steps)
	require.NoError(t, err)
	assert.False(t, steps.built, "a rollback builds nothing")
	assert.Equal(t, a, servedDigest(t, opts.ConfigDir))
	assert.Equal(t, 1, sum.Target.Number)
	assert.Equal(t, 3, sum.Recorded.Number)
	assert.Equal(t, confighistory.KindRollback, sum.Recorded.Kind)
	assert.Equal(t, 1, sum.Recorded.RollbackOf)
	assert.Equal(t, []string{"HelloWorldFunction"}, sum.Recorded.Changed)
	assert.Equal(t, []string{"pull", "provision"}, steps.calls, "containerd mode pulls the old image before provisioning")
	assert.Equal(t, [][]string{{"127.0.0.1:5010/esb-test/helloworldfunction@" + a}}, steps.pulls)
	assert.NotEmpty(t, sum.Recorded.TemplateHash)
	assert.Equal(t, opts.Template, sum.Recorded.Template)

	// Without a generation number the rollback goes back to the one before
	// the newest: B again.
	sum, err = Rollback(t.Context(), RollbackOptions{ConfigDir: opts.ConfigDir, Mode: "docker"}, &fakeSteps{})
	require.NoError(t, err)
	assert.Equal(t, b, servedDigest(t, opts.ConfigDir))
	assert.Equal(t, 2, sum.Target.Number)
	assert.Equal(t, 4, sum.Recorded.Number)

	listed, err := confighistory.Store{ConfigDir: opts.ConfigDir}.List()
	require.NoError(t, err)
	require.Len(t, listed, 4)
	assert.True(t, listed[3].Current)
	assert.Equal(t, []string{confighistory.KindDeploy, confighistory.KindDeploy, confighistory.KindRollback, confighistory.KindRollback},
		[]string{listed[0].Kind, listed[1].Kind, listed[2].Kind, listed[3].Kind})
}

// snapshot is everything a failed rollback must leave alone.
func snapshot(t *testing.T, configDir string) map[string]string {
	t.Helper()
	out := readDir(t, configDir)
	hist := confighistory.Dir(configDir)
	require.NoError(t, filepath.WalkDir(hist, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(path)
		out[path] = string(data)
		return err
	}))
	return out
}

func TestRollbackFailuresChangeNothing(t *testing.T) {
	tests := []struct {
		name    string
		gen     int
		prepare func(t *testing.T, configDir string)
		steps   *fakeSteps
		wantErr error
		want    string
	}{
		{name: "missing generation", gen: 7, steps: &fakeSteps{}, wantErr: confighistory.ErrNotFound, want: "generation 7"},
		{
			name: "corrupt generation", gen: 1, steps: &fakeSteps{}, wantErr: confighistory.ErrCorrupt, want: "checksum",
			prepare: func(t *testing.T, configDir string) {
				path := filepath.Join(confighistory.Dir(configDir), "000001", runtimeconfig.RoutingFileName)
				require.NoError(t, os.WriteFile(path, []byte("routes: []\n"), 0o644))
			},
		},
		{name: "images gone from the registry", gen: 1, steps: &fakeSteps{missing: true}, wantErr: ErrImageGone, want: "HelloWorldFunction"},
		{name: "provisioner fails", gen: 1, steps: &fakeSteps{provisionErr: errors.New("dynamodb down")}, want: "dynamodb down"},
		{name: "registry not ready", gen: 1, steps: &fakeSteps{registryErr: errors.New("registry not ready after 1m0s")}, want: "not ready"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts, _, b := deployAB(t)
			if tt.prepare != nil {
				tt.prepare(t, opts.ConfigDir)
			}
			before := snapshot(t, opts.ConfigDir)
			_, err := Rollback(t.Context(), RollbackOptions{ConfigDir: opts.ConfigDir, Generation: tt.gen, Mode: "docker"}, tt.steps)
			require.Error(t, err)
			if tt.wantErr != nil {
				assert.ErrorIs(t, err, tt.wantErr)
			}
			assert.Contains(t, err.Error(), tt.want)
			assert.Equal(t, before, snapshot(t, opts.ConfigDir), "CONFIG_DIR and history unchanged")
			assert.Equal(t, b, servedDigest(t, opts.ConfigDir))
		})
	}
}

func TestRollbackNeedsAnEarlierGeneration(t *testing.T) {
	opts := options(t, "hello-python")
	_, err := Run(t.Context(), opts, &fakeSteps{digest: digestOf("a")})
	require.NoError(t, err)
	_, err = Rollback(t.Context(), RollbackOptions{ConfigDir: opts.ConfigDir}, &fakeSteps{})
	assert.ErrorContains(t, err, "nothing earlier to roll back to")
}

// Deploys and rollbacks racing each other are serialized by the deploy
// lock: every generation's recorded change list is the difference to the
// generation before it, and the newest generation is what CONFIG_DIR
// holds. Without the lock two writers would read the same "previous" set
// or take the same generation number.
func TestConcurrentDeploysAndRollbacks(t *testing.T) {
	opts, _, _ := deployAB(t)
	opts.HistoryKeep = 100 // generations 1 and 2 are rollback targets throughout
	const rounds = 6
	var wg sync.WaitGroup
	errs := make(chan error, 2*rounds)
	for i := range rounds {
		wg.Add(2)
		go func() {
			defer wg.Done()
			o := opts
			o.Output = filepath.Join(t.TempDir(), "out") // each deploy exports on its own
			_, err := Run(t.Context(), o, &fakeSteps{digest: digestOf(fmt.Sprintf("%0*d", i+3, 0))})
			errs <- err
		}()
		go func() {
			defer wg.Done()
			_, err := Rollback(t.Context(), RollbackOptions{ConfigDir: opts.ConfigDir, Generation: 1 + i%2, HistoryKeep: 100}, &fakeSteps{})
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}

	store := confighistory.Store{ConfigDir: opts.ConfigDir, Keep: 100}
	listed, err := store.List()
	require.NoError(t, err)
	require.Len(t, listed, 2+2*rounds)
	var prev runtimeconfig.Config = runtimeconfig.Empty()
	for i, l := range listed {
		require.NoError(t, l.Err)
		assert.Equal(t, i+1, l.Number)
		_, cfg, err := store.Load(l.Number)
		require.NoError(t, err)
		changed := []string{}
		if prev.Functions.Functions["HelloWorldFunction"].Digest != cfg.Functions.Functions["HelloWorldFunction"].Digest {
			changed = []string{"HelloWorldFunction"}
		}
		assert.Equal(t, changed, l.Changed, "generation %d records its change against generation %d", l.Number, l.Number-1)
		prev = cfg
	}
	assert.True(t, listed[len(listed)-1].Current, "the newest generation is what CONFIG_DIR holds")
}
