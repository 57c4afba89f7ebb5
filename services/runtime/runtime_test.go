package lambdaimages

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/esb-dev/esb/internal/runtimecatalog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestClientSuites runs the runtime clients' own suites (real client against
// a fake Runtime API) so `go test ./...` covers them.
func TestClientSuites(t *testing.T) {
	tests := []struct {
		name string
		dir  string
		cmd  []string
	}{
		{name: "python", dir: "python", cmd: []string{"python3", "-m", "unittest", "discover", "-s", "tests", "-t", "."}},
		{name: "nodejs", dir: "nodejs", cmd: []string{"node", "--test", "tests/runtime.test.mjs"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cmd := exec.CommandContext(t.Context(), tt.cmd[0], tt.cmd[1:]...)
			cmd.Dir = tt.dir
			// No __pycache__ left in the source tree.
			cmd.Env = append(os.Environ(), "PYTHONDONTWRITEBYTECODE=1")
			out, err := cmd.CombinedOutput()
			require.NoError(t, err, "%s suite failed:\n%s", tt.name, out)
			t.Logf("%s suite:\n%s", tt.name, tail(out, 12))
		})
	}
}

func TestDockerfileForEveryCatalogRuntime(t *testing.T) {
	for _, name := range runtimecatalog.Names() {
		t.Run(name, func(t *testing.T) {
			rt, ok := runtimecatalog.Lookup(name)
			require.True(t, ok)
			dockerfile, err := Dockerfile(rt.Name)
			require.NoError(t, err)
			_, err = fs.Stat(Context(), dockerfile)
			assert.NoError(t, err, "Dockerfile %s not in the build context", dockerfile)
			data, err := fs.ReadFile(Context(), dockerfile)
			require.NoError(t, err)
			if rt.Family != runtimecatalog.FamilyProvided {
				assert.Contains(t, string(data), "AWS_EXECUTION_ENV=AWS_Lambda_"+rt.Name, "the image says which runtime it is, as AWS's do")
			}
		})
	}
	_, err := Dockerfile("python3.12")
	assert.ErrorIs(t, err, ErrNoBase)
}

// TestContextHoldsEveryCopySource guards the embed patterns: a file a
// Dockerfile COPYs but the Go embed misses would only fail at deploy time.
func TestContextHoldsEveryCopySource(t *testing.T) {
	dockerfiles, err := fs.Glob(Context(), "*.Dockerfile")
	require.NoError(t, err)
	require.Len(t, dockerfiles, len(runtimecatalog.Names())-1, "one per runtime, provided.* sharing one")
	for _, name := range dockerfiles {
		t.Run(name, func(t *testing.T) {
			data, err := fs.ReadFile(Context(), name)
			require.NoError(t, err)
			sources := CopySources(string(data))
			require.NotEmpty(t, sources)
			for _, src := range sources {
				_, err := fs.Stat(Context(), strings.TrimSuffix(src, "/"))
				assert.NoError(t, err, "%s copies %s", name, src)
			}
		})
	}
	require.NoError(t, fs.WalkDir(Context(), ".", func(path string, d fs.DirEntry, err error) error {
		assert.NotContains(t, path, "tests", "tests must not be shipped in images")
		return err
	}))
	_, err = fs.Stat(Context(), "python/esb_lambda_runtime/__init__.py")
	assert.NoError(t, err, "package marker must be embedded")
}

// TestEntrypoint checks how lambda-entrypoint.sh picks the runtime and
// whether it puts RIE in front, with stand-ins for RIE and the bootstraps.
func TestEntrypoint(t *testing.T) {
	tests := []struct {
		name             string
		args             []string
		runtimeBootstrap bool
		taskBootstrap    bool
		runtimeAPI       string
		wantOut          string
		wantCode         int
	}{
		{name: "local run: RIE in front of the runtime client", args: []string{"app.handler"}, runtimeBootstrap: true, taskBootstrap: true,
			wantOut: "rie <runtime>/bootstrap app.handler\n"},
		{name: "on Lambda: the runtime client directly", args: []string{"app.handler"}, runtimeBootstrap: true, runtimeAPI: "127.0.0.1:9001",
			wantOut: "runtime-bootstrap app.handler _HANDLER=app.handler\n"},
		{name: "provided: the function's bootstrap behind RIE", args: []string{"function.handler"}, taskBootstrap: true,
			wantOut: "rie <task>/bootstrap function.handler\n"},
		{name: "provided on Lambda", args: []string{"function.handler"}, taskBootstrap: true, runtimeAPI: "127.0.0.1:9001",
			wantOut: "task-bootstrap function.handler _HANDLER=function.handler\n"},
		{name: "no bootstrap at all: RIE reports it on invoke", args: []string{"h"},
			wantOut: "rie <task>/bootstrap h\n"},
		{name: "no handler", args: nil, runtimeBootstrap: true, wantCode: 142},
		{name: "two arguments", args: []string{"a", "b"}, runtimeBootstrap: true, wantCode: 142},
	}
	entrypoint, err := filepath.Abs("lambda-entrypoint.sh")
	require.NoError(t, err)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bin, runtimeDir, taskDir := t.TempDir(), t.TempDir(), t.TempDir()
			writeScript(t, filepath.Join(bin, "aws-lambda-rie"), `echo "rie $*"`)
			if tt.runtimeBootstrap {
				writeScript(t, filepath.Join(runtimeDir, "bootstrap"), `echo "runtime-bootstrap $* _HANDLER=$_HANDLER"`)
			}
			if tt.taskBootstrap {
				writeScript(t, filepath.Join(taskDir, "bootstrap"), `echo "task-bootstrap $* _HANDLER=$_HANDLER"`)
			}
			cmd := exec.CommandContext(t.Context(), "sh", append([]string{entrypoint}, tt.args...)...)
			cmd.Env = []string{
				"PATH=" + bin + ":/usr/bin:/bin",
				"LAMBDA_RUNTIME_DIR=" + runtimeDir,
				"LAMBDA_TASK_ROOT=" + taskDir,
			}
			if tt.runtimeAPI != "" {
				cmd.Env = append(cmd.Env, "AWS_LAMBDA_RUNTIME_API="+tt.runtimeAPI)
			}
			var stdout bytes.Buffer
			cmd.Stdout = &stdout
			err := cmd.Run()
			code := 0
			var exitErr *exec.ExitError
			if errors.As(err, &exitErr) {
				code = exitErr.ExitCode()
			} else {
				require.NoError(t, err)
			}
			assert.Equal(t, tt.wantCode, code)
			want := strings.NewReplacer("<runtime>", runtimeDir, "<task>", taskDir).Replace(tt.wantOut)
			assert.Equal(t, want, stdout.String())
		})
	}
}

func writeScript(t *testing.T, path, body string) {
	t.Helper()
	require.NoError(t, os.WriteFile(path, []byte("#!/bin/sh\n"+body+"\n"), 0o755))
}

func tail(out []byte, n int) string {
	lines := strings.Split(strings.TrimRight(string(out), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func TestBaseRef(t *testing.T) {
	dockerfiles, err := fs.Glob(Context(), "*.Dockerfile")
	require.NoError(t, err)
	seen := map[string]string{}
	for _, name := range dockerfiles {
		ref, err := BaseRef(name)
		require.NoError(t, err)
		stem := strings.TrimSuffix(name, ".Dockerfile")
		assert.Regexp(t, `^esb/lambda-base:`+regexp.QuoteMeta(stem)+`-[0-9a-f]{16}$`, ref)
		again, err := BaseRef(name)
		require.NoError(t, err)
		assert.Equal(t, ref, again, "stable")
		assert.NotContains(t, seen, ref, "%s and %s name the same base", name, seen[ref])
		seen[ref] = name
	}
	_, err = BaseRef("missing.Dockerfile")
	assert.Error(t, err)
}

func TestFingerprintCoversWhatIsCopied(t *testing.T) {
	// The python base copies python/..., the node base nodejs/...: an edit
	// of one client must rename its base only.
	py, err := Fingerprint("python3.13.Dockerfile")
	require.NoError(t, err)
	node, err := Fingerprint("nodejs20.x.Dockerfile")
	require.NoError(t, err)
	assert.NotEqual(t, py, node)

	data, err := fs.ReadFile(Context(), "python3.13.Dockerfile")
	require.NoError(t, err)
	sources := CopySources(string(data))
	assert.Contains(t, sources, "python/esb_lambda_runtime/")
	assert.Contains(t, sources, "lambda-entrypoint.sh")
	assert.NotContains(t, sources, "/aws-lambda-rie", "COPY --from=rie is another stage")
}

func TestCopySources(t *testing.T) {
	df := "FROM x AS rie\nFROM y\nCOPY --from=rie /a /b\nCOPY --chmod=0755 a.sh b/ /dst/\ncopy c /d\nCOPY single\nRUN COPY x y\n"
	assert.Equal(t, []string{"a.sh", "b/", "c"}, CopySources(df))
}

func TestRuntimeBaseRef(t *testing.T) {
	py, err := RuntimeBaseRef("python3.13")
	require.NoError(t, err)
	want, err := BaseRef("python3.13.Dockerfile")
	require.NoError(t, err)
	assert.Equal(t, want, py)
	al2, err := RuntimeBaseRef("provided.al2")
	require.NoError(t, err)
	al2023, err := RuntimeBaseRef("provided.al2023")
	require.NoError(t, err)
	assert.Equal(t, al2, al2023, "one Dockerfile, one base")
	_, err = RuntimeBaseRef("python2.7")
	assert.ErrorIs(t, err, ErrNoBase)
}
