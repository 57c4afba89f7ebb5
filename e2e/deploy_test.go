//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/client"
	"github.com/docker/go-connections/nat"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/esb-dev/esb/internal/registryauth"
	"github.com/esb-dev/esb/internal/runtimeconfig"
)

// TestDeployEveryRuntime deploys one function per supported language
// runtime and checks each through the gateway (everyRuntime). It has its
// own env, and is declared first so that it starts among the first: its
// deploy builds every runtime base this machine lacks, the longest single
// step of the suite, and runs beside TestDeployRuntimes rather than after it.
func TestDeployEveryRuntime(t *testing.T) {
	t.Parallel()
	s := newStack(t, "runtimes", 400)
	s.up(t)
	everyRuntime(t, s, dockerClient(t))
}

// TestDeployRuntimes deploys one Python, one Node.js and one custom-runtime
// function through the real pipeline, then runs each published image on its
// own and invokes it through its Runtime Interface Emulator.
func TestDeployRuntimes(t *testing.T) {
	t.Parallel()
	s := newStack(t, "deploy", 300)
	s.up(t)
	ctx := t.Context()
	docker := dockerClient(t)

	work := t.TempDir()
	copyTree(t, filepath.Join("testdata", "runtimes"), work)
	buildBootstrap(t, filepath.Join(work, "provided"))
	tmpl := filepath.Join(work, "template.yml")

	res := s.esb(ctx, t, "deploy", "-t", tmpl)
	require.NoError(t, res.err)
	first := s.config(t).Functions.Functions
	require.Len(t, first, 3)
	for name, fn := range first {
		assert.True(t, strings.HasPrefix(fn.Digest, "sha256:"), "%s digest %q", name, fn.Digest)
		assert.Equal(t, s.layout.RegistryAddr()+"/"+s.layout.Env.Project()+"/"+strings.ToLower(name)+":latest", fn.Image)
	}

	t.Run("each image answers through its RIE, result and error shape", func(t *testing.T) {
		py := runFunction(ctx, t, docker, s.registryAuth(t), first["PyFunction"], "PyFunction")
		out := invokeJSON(ctx, t, py, `{"echo": 42}`)
		assert.Equal(t, "python", out["runtime"])
		assert.Equal(t, "hello-py", out["greeting"])
		assert.Equal(t, "PyFunction", out["function_name"])
		assert.Equal(t, true, out["remaining_positive"])
		assert.NotEmpty(t, out["request_id"])
		assert.EqualValues(t, 42, out["echo"])
		failed := invokeJSON(ctx, t, py, `{"fail": true}`)
		assert.Equal(t, "ValueError", failed["errorType"])
		assert.Equal(t, "asked to fail", failed["errorMessage"])
		assert.NotEmpty(t, failed["stackTrace"])

		node := runFunction(ctx, t, docker, s.registryAuth(t), first["NodeFunction"], "NodeFunction")
		out = invokeJSON(ctx, t, node, `{"echo": 7}`)
		assert.Equal(t, "node", out["runtime"])
		assert.Equal(t, "NodeFunction", out["functionName"])
		assert.Equal(t, true, out["echoIsNumber"], "is-number came from npm install during the deploy")
		assert.Equal(t, true, out["remainingPositive"])
		failed = invokeJSON(ctx, t, node, `{"fail": true}`)
		assert.Equal(t, "TypeError", failed["errorType"])
		assert.Equal(t, "asked to fail", failed["errorMessage"])
		assert.NotEmpty(t, failed["trace"])

		custom := runFunction(ctx, t, docker, s.registryAuth(t), first["ProvidedFunction"], "ProvidedFunction")
		out = invokeJSON(ctx, t, custom, `{"echo": "x"}`)
		assert.Equal(t, "provided", out["runtime"])
		assert.Equal(t, "unused.handler", out["handler"])
		assert.Equal(t, "x", out["echo"])
		failed = invokeJSON(ctx, t, custom, `{"fail": true}`)
		assert.Equal(t, "CustomError", failed["errorType"])
	})

	t.Run("redeploy unchanged rebuilds nothing and keeps the digests", func(t *testing.T) {
		res := s.esb(ctx, t, "deploy", "-t", tmpl)
		require.NoError(t, res.err)
		assert.Equal(t, 3, strings.Count(res.stdout, "unchanged (not rebuilt)"), res.stdout)
		for name, fn := range s.config(t).Functions.Functions {
			assert.Equal(t, first[name].Digest, fn.Digest, name)
		}
	})

	t.Run("changing one function rebuilds only it", func(t *testing.T) {
		changePyVersion(t, work, "1", "2")
		res := s.esb(ctx, t, "deploy", "-t", tmpl)
		require.NoError(t, res.err)
		assert.Regexp(t, `PyFunction\s+sha256:\S+\s+-\s+changed`, res.stdout)
		assert.Equal(t, 2, strings.Count(res.stdout, "unchanged (not rebuilt)"), res.stdout)
		now := s.config(t).Functions.Functions
		assert.NotEqual(t, first["PyFunction"].Digest, now["PyFunction"].Digest)
		assert.Equal(t, first["NodeFunction"].Digest, now["NodeFunction"].Digest)
		assert.Equal(t, first["ProvidedFunction"].Digest, now["ProvidedFunction"].Digest)

		py := runFunction(ctx, t, docker, s.registryAuth(t), now["PyFunction"], "PyFunction")
		assert.Equal(t, "2", invokeJSON(ctx, t, py, `{}`)["version"])
	})

	t.Run("--no-cache rebuilds every function from scratch", func(t *testing.T) {
		before := s.config(t).Functions.Functions
		res := s.esb(ctx, t, "deploy", "-t", tmpl, "--no-cache")
		require.NoError(t, res.err)
		assert.NotContains(t, res.stdout, "unchanged (not rebuilt)")
		after := s.config(t).Functions.Functions
		for name := range before {
			assert.Contains(t, res.stderr, "] "+name+": building ", "%s was built again", name)
			assert.NotEqual(t, before[name].Digest, after[name].Digest, "%s was rebuilt, its layers have new timestamps", name)
		}
		py := runFunction(ctx, t, docker, s.registryAuth(t), after["PyFunction"], "PyFunction")
		assert.Equal(t, "2", invokeJSON(ctx, t, py, `{}`)["version"])
	})

	t.Run("a redeploy's old image leaves the machine with its last container", func(t *testing.T) {
		fns := lambda.New(lambda.Options{
			Region:           "us-east-1",
			BaseEndpoint:     aws.String(s.url("PORT_GATEWAY", "")),
			Credentials:      platformCredentials,
			RetryMaxAttempts: 1,
		})
		version := func() string {
			out, err := fns.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String("PyFunction"), Payload: []byte(`{}`)})
			if err != nil {
				t.Logf("invoke PyFunction: %v", err)
				return ""
			}
			var p struct{ Version string }
			if err := json.Unmarshal(out.Payload, &p); err != nil || out.FunctionError != nil {
				t.Logf("invoke PyFunction: %s", out.Payload)
			}
			return p.Version
		}
		before := s.config(t).Functions.Functions["PyFunction"]
		current := pyVersion(t, work)
		require.Eventually(t, func() bool { return version() == current }, 3*time.Minute, time.Second, "served through the gateway (a cold start pulls the image)")
		_, err := docker.ImageInspect(ctx, pinnedImage(before))
		require.NoError(t, err, "the agent pulled the deployed image")

		changePyVersion(t, work, current, "gc")
		res := s.esb(ctx, t, "deploy", "-t", tmpl)
		require.NoError(t, res.err)
		now := s.config(t).Functions.Functions["PyFunction"]
		require.NotEqual(t, before.Digest, now.Digest)

		require.Eventually(t, func() bool { return version() == "gc" }, 3*time.Minute, 500*time.Millisecond, "the new code after the hot reload")
		require.Eventually(t, func() bool {
			_, err := docker.ImageInspect(ctx, pinnedImage(before))
			return cerrdefs.IsNotFound(err)
		}, time.Minute, 500*time.Millisecond, "the old digest's image is removed once its containers are")
		_, err = docker.ImageInspect(ctx, pinnedImage(now))
		assert.NoError(t, err, "the deployed image stays")
	})

	// The install step is the same Dagger pipeline in both modes (only
	// where the image is published differs, which every other deploy of
	// the suite covers in containerd mode): docker mode alone runs it.
	t.Run("dependency mirrors: a wheel directory with no index, an npm registry, a missing package named", func(t *testing.T) {
		work := t.TempDir()
		copyTree(t, filepath.Join("testdata", "mirrors"), work)
		wheels := t.TempDir()
		writeWheel(t, wheels, "esb_mirror_dep", "1.0.0", map[string]string{"esb_mirror_dep/__init__.py": "VALUE = \"from-wheel\"\n"})
		tmpl := filepath.Join(work, "template.yml")
		const npmRegistry = "https://registry.npmjs.org/"

		// No index is set: pip reads the wheel directory alone (PyPI is
		// unreachable here anyway).
		res := s.esb(ctx, t, "deploy", "-t", tmpl, "--wheel-dir", wheels, "--npm-registry", npmRegistry)
		require.NoError(t, res.err)
		assert.Contains(t, res.stderr, "dependencies: WheelFunction installs py/requirements.txt from wheel directory "+wheels+" (no index)\n")
		assert.Contains(t, res.stderr, "dependencies: RegistryFunction installs node/package.json from registry "+npmRegistry+"\n")
		assert.Equal(t, `{"dep":"from-wheel"}`, invokeGateway(ctx, t, s, "WheelFunction", `{}`), "the function imports the wheel's package")
		assert.Equal(t, `{"odd":true}`, invokeGateway(ctx, t, s, "RegistryFunction", `{"n": 3}`), "is-odd came from the registry")
		assert.Equal(t, `{"odd":false}`, invokeGateway(ctx, t, s, "RegistryFunction", `{"n": 4}`))

		// A requirement the wheel directory lacks fails the deploy in one
		// line naming it and where pip looked; pip's log is for --verbose.
		require.NoError(t, os.WriteFile(filepath.Join(work, "py", "requirements.txt"), []byte("esb-mirror-dep==1.0.0\nesb-mirror-missing==2.0\n"), 0o644))
		before := s.snapshotConfig(t)
		res = s.esb(ctx, t, "deploy", "-t", tmpl, "--wheel-dir", wheels, "--npm-registry", npmRegistry)
		require.Error(t, res.err)
		assert.Contains(t, res.stderr, "function WheelFunction: pip install of /var/task/requirements.txt failed: could not install esb-mirror-missing==2.0 from wheel directory "+wheels+" (no index); --verbose shows pip's output")
		assert.NotContains(t, res.stderr, "Looking in links", "pip's own log stays out without --verbose")
		assert.Equal(t, before, s.snapshotConfig(t), "a failed deploy changes nothing")
		res = s.esb(ctx, t, "deploy", "-t", tmpl, "--wheel-dir", wheels, "--npm-registry", npmRegistry, "--verbose")
		require.Error(t, res.err)
		assert.Contains(t, res.stderr, "No matching distribution found for esb-mirror-missing==2.0", "--verbose shows pip's output")
	})

	t.Run("registry down fails the deploy clearly and leaves CONFIG_DIR alone", func(t *testing.T) {
		before := s.snapshotConfig(t)
		out, err := s.compose(ctx, "stop", "registry")
		require.NoError(t, err, out)
		defer func() {
			out, err := s.compose(context.WithoutCancel(ctx), "up", "-d", "--wait", "registry")
			require.NoError(t, err, out)
		}()
		res := s.esb(ctx, t, "deploy", "-t", tmpl)
		require.Error(t, res.err)
		var exit *exec.ExitError
		require.ErrorAs(t, res.err, &exit)
		assert.Equal(t, 1, exit.ExitCode())
		assert.Contains(t, res.stderr, fmt.Sprintf("registry %s not ready after 1m0s", s.layout.RegistryAddr()))
		assert.Equal(t, before, s.snapshotConfig(t))
	})
}

// invokeGateway invokes a function through the env's Lambda API and
// returns its payload without blanks; the first call waits out the cold
// start (the image is pulled then).
func invokeGateway(ctx context.Context, t *testing.T, s *stack, name, payload string) string {
	t.Helper()
	fns := lambda.New(lambda.Options{
		Region:           "us-east-1",
		BaseEndpoint:     aws.String(s.url("PORT_GATEWAY", "")),
		Credentials:      platformCredentials,
		RetryMaxAttempts: 1,
	})
	var got string
	require.Eventually(t, func() bool {
		out, err := fns.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String(name), Payload: []byte(payload)})
		if err != nil {
			t.Logf("invoke %s: %v", name, err)
			return false
		}
		if out.FunctionError != nil {
			t.Logf("invoke %s: %s: %s", name, *out.FunctionError, out.Payload)
			return false
		}
		got = strings.Join(strings.Fields(string(out.Payload)), "")
		return true
	}, 2*time.Minute, time.Second, "%s answers", name)
	return got
}

// writeWheel writes a pure-Python wheel of the files given into dir, as
// a site's wheel directory holds them: a wheel is a zip with the package
// and its dist-info.
func writeWheel(t *testing.T, dir, name, version string, files map[string]string) {
	t.Helper()
	info := name + "-" + version + ".dist-info/"
	content := map[string]string{
		info + "METADATA": "Metadata-Version: 2.1\nName: " + name + "\nVersion: " + version + "\n",
		info + "WHEEL":    "Wheel-Version: 1.0\nGenerator: esb-e2e\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
	}
	maps.Copy(content, files)
	var record strings.Builder
	for _, p := range slices.Sorted(maps.Keys(content)) {
		record.WriteString(p + ",,\n")
	}
	record.WriteString(info + "RECORD,,\n")
	content[info+"RECORD"] = record.String()
	writePackage(t, filepath.Join(dir, name+"-"+version+"-py3-none-any.whl"), content)
}

// pyVersion reads the Python function's VERSION.
func pyVersion(t *testing.T, work string) string {
	t.Helper()
	src, err := os.ReadFile(filepath.Join(work, "py", "app.py"))
	require.NoError(t, err)
	m := regexp.MustCompile(`VERSION = "(\w+)"`).FindSubmatch(src)
	require.NotNil(t, m, "no VERSION in app.py")
	return string(m[1])
}

// changePyVersion edits the Python function's VERSION, as a code change.
func changePyVersion(t *testing.T, work, from, to string) {
	t.Helper()
	app := filepath.Join(work, "py", "app.py")
	src, err := os.ReadFile(app)
	require.NoError(t, err)
	changed := bytes.Replace(src, []byte(`VERSION = "`+from+`"`), []byte(`VERSION = "`+to+`"`), 1)
	require.NotEqual(t, src, changed, "VERSION %s not found in %s", from, app)
	require.NoError(t, os.WriteFile(app, changed, 0o644))
}

// buildBootstrap compiles the custom runtime of the provided function into
// its code dir, as a user's build would.
func buildBootstrap(t *testing.T, dir string) {
	t.Helper()
	cmd := exec.Command("go", "build", "-o", "bootstrap", "main.go")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64", "GOFLAGS=")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
	require.NoError(t, os.Remove(filepath.Join(dir, "main.go")))
}

// runFunction pulls a function's published image by digest and starts it
// as Lambda's local tooling does (RIE on 8080, published on a loopback
// port); it returns the invoke URL.
func runFunction(ctx context.Context, t *testing.T, docker client.APIClient, auth registryauth.Credential, fn runtimeconfig.Function, name string) string {
	t.Helper()
	return startFunction(ctx, t, docker, createFunction(ctx, t, docker, auth, fn, name))
}

// createFunction pulls a function's image by digest and creates (does not
// start) a container of it with the environment functions.yml gives it.
func createFunction(ctx context.Context, t *testing.T, docker client.APIClient, auth registryauth.Credential, fn runtimeconfig.Function, name string) string {
	t.Helper()
	image := pinnedImage(fn)
	pullImage(ctx, t, docker, image, auth)
	t.Cleanup(func() { removeImage(docker, image) })
	// The environment is config, not image content: it comes from
	// functions.yml, as the agent passes it.
	env := []string{"AWS_LAMBDA_FUNCTION_NAME=" + name, "AWS_LAMBDA_FUNCTION_TIMEOUT=5", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE=256"}
	for k, v := range fn.Environment {
		env = append(env, k+"="+v)
	}
	created, err := docker.ContainerCreate(ctx, &container.Config{
		Image:        image,
		Env:          env,
		ExposedPorts: nat.PortSet{"8080/tcp": {}},
	}, &container.HostConfig{
		PortBindings: nat.PortMap{"8080/tcp": {{HostIP: "127.0.0.1", HostPort: "0"}}},
	}, nil, nil, "")
	require.NoError(t, err)
	t.Cleanup(func() {
		_ = docker.ContainerRemove(context.Background(), created.ID, container.RemoveOptions{Force: true})
	})
	return created.ID
}

// startFunction starts a container createFunction made and returns the
// invoke URL of its RIE.
func startFunction(ctx context.Context, t *testing.T, docker client.APIClient, id string) string {
	t.Helper()
	require.NoError(t, docker.ContainerStart(ctx, id, container.StartOptions{}))
	inspect, err := docker.ContainerInspect(ctx, id)
	require.NoError(t, err)
	bindings := inspect.NetworkSettings.Ports["8080/tcp"]
	require.NotEmpty(t, bindings)
	return "http://127.0.0.1:" + bindings[0].HostPort + "/2015-03-31/functions/function/invocations"
}

// pinnedImage is the function's image at its digest, the reference the
// agent pulls and runs.
func pinnedImage(fn runtimeconfig.Function) string {
	repo, _, _ := strings.Cut(fn.Image[strings.LastIndex(fn.Image, "/")+1:], ":")
	return fn.Image[:strings.LastIndex(fn.Image, "/")+1] + repo + "@" + fn.Digest
}

// invokeJSON posts an event, retrying while RIE is still starting, and
// decodes the answer.
func invokeJSON(ctx context.Context, t *testing.T, url, event string) map[string]any {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(event))
		require.NoError(t, err)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			body, rerr := io.ReadAll(resp.Body)
			resp.Body.Close()
			require.NoError(t, rerr)
			var out map[string]any
			require.NoError(t, json.Unmarshal(body, &out), "answer %d: %s", resp.StatusCode, body)
			return out
		}
		select {
		case <-ctx.Done():
			t.Fatalf("invoke %s: %v", url, err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}
