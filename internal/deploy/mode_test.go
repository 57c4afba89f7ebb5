package deploy

import (
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/esb-dev/esb/internal/runtimeconfig"
	"github.com/esb-dev/esb/pipeline"
)

func containerdOptions(t *testing.T) Options {
	opts := options(t, "hello-python")
	opts.Mode = "containerd"
	opts.PullRegistry = PullRegistry(opts.Mode)
	return opts
}

// TestPullRegistry: only containerd mode names images by the registry's
// service name; docker mode keeps the address the engine publishes to.
func TestPullRegistry(t *testing.T) {
	assert.Equal(t, "registry:5000", PullRegistry("containerd"))
	assert.Empty(t, PullRegistry("docker"))
}

// TestContainerdModeRefs: functions.yml names the image as the runtime
// node pulls it, while the engine publishes the same repository and tag
// through the host's registry address.
func TestContainerdModeRefs(t *testing.T) {
	opts := containerdOptions(t)
	steps := &fakeSteps{digest: digestOf("a")}
	_, err := Run(t.Context(), opts, steps)
	require.NoError(t, err)

	cfg, err := runtimeconfig.Load(opts.ConfigDir)
	require.NoError(t, err)
	fn := cfg.Functions.Functions["HelloWorldFunction"]
	assert.Equal(t, "registry:5000/esb-test/helloworldfunction:latest", fn.Image)
	assert.Equal(t, "127.0.0.1:5010", steps.request.PublishRegistry)
	publish, err := pipeline.PublishRef(fn.Image, steps.request.PublishRegistry)
	require.NoError(t, err)
	assert.Equal(t, "127.0.0.1:5010/esb-test/helloworldfunction:latest", publish)
}

func TestDockerModeNeitherRehostsNorPulls(t *testing.T) {
	opts := options(t, "hello-python")
	steps := &fakeSteps{digest: digestOf("a")}
	_, err := Run(t.Context(), opts, steps)
	require.NoError(t, err)
	assert.Empty(t, steps.request.PublishRegistry)
	assert.Empty(t, steps.pulls)
	assert.Equal(t, []string{"provision"}, steps.calls)
}

// TestContainerdModePullsChangedImages: after the merge, the changed
// images are pulled by digest before the provisioner runs; an unchanged
// redeploy pulls nothing.
func TestContainerdModePullsChangedImages(t *testing.T) {
	opts := containerdOptions(t)
	steps := &fakeSteps{digest: digestOf("a")}
	_, err := Run(t.Context(), opts, steps)
	require.NoError(t, err)
	require.Len(t, steps.pulls, 1)
	assert.Equal(t, []string{"registry:5000/esb-test/helloworldfunction@" + digestOf("a")("HelloWorldFunction")}, steps.pulls[0])
	assert.Equal(t, []string{"pull", "provision"}, steps.calls)

	_, err = Run(t.Context(), opts, steps)
	require.NoError(t, err)
	assert.Len(t, steps.pulls, 1, "same digest: nothing to pull")

	steps.digest = digestOf("bb") // same tag, new code
	_, err = Run(t.Context(), opts, steps)
	require.NoError(t, err)
	require.Len(t, steps.pulls, 2)
	assert.True(t, strings.HasSuffix(steps.pulls[1][0], "@"+digestOf("bb")("HelloWorldFunction")), steps.pulls[1][0])
}

func TestContainerdModePullFailureRestoresConfigDir(t *testing.T) {
	opts := containerdOptions(t)
	_, err := Run(t.Context(), opts, &fakeSteps{digest: digestOf("a")})
	require.NoError(t, err)
	before := readDir(t, opts.ConfigDir)

	steps := &fakeSteps{digest: digestOf("bb"), pullErr: errors.New("exit status 1\npull registry:5000/x failed")}
	_, err = Run(t.Context(), opts, steps)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "pull into the function runtime")
	assert.Equal(t, before, readDir(t, opts.ConfigDir))
	assert.Zero(t, steps.provisions, "no provisioning after a failed pull")
}

func TestModeMismatch(t *testing.T) {
	tests := []struct {
		name    string
		mode    string
		running map[string]bool
		want    string
	}{
		{name: "docker env, docker deploy", mode: "docker", running: map[string]bool{"agent": true}},
		{name: "containerd env, containerd deploy", mode: "containerd", running: map[string]bool{"agent": true, "runtime-node": true}},
		{name: "containerd env, docker deploy", mode: "docker", running: map[string]bool{"agent": true, "runtime-node": true}, want: "--mode containerd"},
		{name: "docker env, containerd deploy", mode: "containerd", running: map[string]bool{"agent": true}, want: "--mode docker"},
		{name: "env not up: nothing to tell", mode: "containerd", running: map[string]bool{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := modeMismatch(tt.mode, tt.running)
			if tt.want == "" {
				assert.Empty(t, got)
				return
			}
			assert.Contains(t, got, tt.want)
		})
	}
}
