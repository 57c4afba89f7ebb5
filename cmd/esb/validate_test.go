package main

import (
	"bytes"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const fixtureDir = "../../fixtures/sam"

// runESB runs esb with an empty environment and returns exit code, stdout
// and stderr.
func runESB(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	c := &cli{stdout: &stdout, stderr: &stderr, lookupEnv: func(string) (string, bool) { return "", false }}
	code := run(t.Context(), c, args)
	return code, stdout.String(), stderr.String()
}

func TestValidatePrintsConfig(t *testing.T) {
	tmpl := filepath.Join(fixtureDir, "hello-python", "template.yml")
	code, out, errOut := runESB(t, "validate", "-t", tmpl)
	require.Equal(t, 0, code, errOut)
	golden := func(name string) string {
		data, err := os.ReadFile(filepath.Join(fixtureDir, "hello-python", "golden", name))
		require.NoError(t, err)
		return string(data)
	}
	want := "# functions.yml\n" + golden("functions.yml") +
		"---\n# routing.yml\n" + golden("routing.yml") +
		"---\n# resources.yml\n" + golden("resources.yml")
	assert.Equal(t, want, out)
	assert.Equal(t, "dependencies: HelloWorldFunction installs hello_world/requirements.txt from PyPI (pip's default index)\n"+
		tmpl+" is valid: 1 function, 1 route, 0 tables, 0 buckets, 0 layers\n", errOut)
}

func TestValidateWritesFiles(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "out")
	code, out, errOut := runESB(t, "validate", "--template", filepath.Join(fixtureDir, "unsupported", "template.yml"), "-o", dir)
	require.Equal(t, 0, code, errOut)
	assert.Empty(t, out)
	for _, name := range []string{"functions.yml", "routing.yml", "resources.yml"} {
		got, err := os.ReadFile(filepath.Join(dir, name))
		require.NoError(t, err)
		want, err := os.ReadFile(filepath.Join(fixtureDir, "unsupported", "golden", name))
		require.NoError(t, err)
		assert.Equal(t, string(want), string(got), name)
	}
	assert.Contains(t, errOut, "warning: "+filepath.Join(fixtureDir, "unsupported", "template.yml")+":15:11: Resources.WorkerRole: resource type AWS::IAM::Role is not supported locally; WorkerRole skipped\n")
	assert.Contains(t, errOut, "(written to "+dir+")")
}

func TestValidateParameterOverrides(t *testing.T) {
	tmpl := filepath.Join(fixtureDir, "parameters", "template.yml")
	tests := []struct {
		name      string
		overrides []string
		wantCode  int
		wantOut   []string
		wantErr   string
	}{
		{
			name:      "repeated K=V",
			overrides: []string{"Stage=staging", "MemoryMb=1024"},
			wantOut:   []string{"  catalog-staging:\n", "memory_size: 1024\n", "path: /staging/products\n"},
		},
		{
			name:      "several pairs in one value, quoted value",
			overrides: []string{`Stage=prod ServiceName="shop"`},
			wantOut:   []string{"  shop-prod:\n"},
		},
		{
			name:      "CloudFormation form, list value with commas",
			overrides: []string{"ParameterKey=AllowedOrigins,ParameterValue=https://a.example,https://b.example"},
			wantOut:   []string{"ORIGINS: https://a.example,https://b.example\n"},
		},
		{
			name:      "undeclared parameter",
			overrides: []string{"Stag=prod"},
			wantCode:  1,
			wantErr:   "esb validate: " + tmpl + " has 1 error:\n" + tmpl + `: parameter override "Stag": the template declares no such parameter (known parameters: AllowedOrigins, ApiKey, MemoryMb, Ports, ServiceName, Stage, SubnetIds, TimeoutSeconds)` + "\n",
		},
		{
			name:      "value not allowed",
			overrides: []string{"Stage=qa"},
			wantCode:  1,
			wantErr:   "esb validate: " + tmpl + " has 1 error:\n" + tmpl + `:8:3: Parameters.Stage: override value "qa" is not one of the AllowedValues (dev, staging, prod)` + "\n",
		},
		{
			name:      "not K=V",
			overrides: []string{"Stage"},
			wantCode:  2,
			wantErr:   "esb validate: parameter override \"Stage\": want KEY=VALUE\nRun 'esb validate --help' for usage.\n",
		},
		{
			name:      "unterminated quote",
			overrides: []string{`Stage="prod`},
			wantCode:  2,
			wantErr:   "esb validate: parameter overrides \"Stage=\\\"prod\": unterminated \" quote\nRun 'esb validate --help' for usage.\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := []string{"validate", "-t", tmpl}
			for _, o := range tt.overrides {
				args = append(args, "--parameter-overrides", o)
			}
			code, out, errOut := runESB(t, args...)
			require.Equal(t, tt.wantCode, code, errOut)
			for _, w := range tt.wantOut {
				assert.Contains(t, out, w)
			}
			if tt.wantErr != "" {
				assert.Equal(t, tt.wantErr, errOut)
			}
		})
	}
}

// oneFunctionTemplate writes a template of one function with code in src/
// (holding app.py) and the given extra property lines; it returns its path.
func oneFunctionTemplate(t *testing.T, runtime, extra string) string {
	t.Helper()
	dir := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "src"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "src", "app.py"), nil, 0o644))
	tmpl := filepath.Join(dir, "template.yml")
	require.NoError(t, os.WriteFile(tmpl, []byte(`Transform: AWS::Serverless-2016-10-31
Resources:
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: src/
      Handler: app.handler
      Runtime: `+runtime+"\n"+extra), 0o644))
	return tmpl
}

func TestValidateBadTemplate(t *testing.T) {
	tmpl := oneFunctionTemplate(t, "python2.7", "      Timeout: 3000\n")
	code, out, errOut := runESB(t, "validate", "-t", tmpl)
	assert.Equal(t, 1, code)
	assert.Empty(t, out)
	assert.Equal(t, "esb validate: "+tmpl+" has 2 errors:\n"+
		tmpl+`:8:16: Resources.Fn.Properties.Runtime: unsupported runtime "python2.7" (supported: java17, java21, java25, nodejs18.x, nodejs20.x, nodejs22.x, nodejs24.x, provided.al2, provided.al2023, python3.11, python3.13, python3.14, ruby3.3)`+"\n"+
		tmpl+":9:16: Resources.Fn.Properties.Timeout: 3000 is out of range [1, 900]\n", errOut)
}

func TestValidateUsage(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		wantCode int
		wantErr  string
	}{
		{name: "extra argument", args: []string{"validate", "-t", "x.yml", "extra"}, wantCode: 2, wantErr: "esb validate: unexpected argument \"extra\"\n"},
		{name: "missing file", args: []string{"validate", "-t", "does-not-exist.yml"}, wantCode: 1, wantErr: "esb validate: read template: open does-not-exist.yml: no such file or directory\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, errOut := runESB(t, tt.args...)
			assert.Equal(t, tt.wantCode, code)
			assert.Contains(t, errOut, tt.wantErr)
		})
	}
}

func TestValidateDefaultTemplate(t *testing.T) {
	t.Chdir(filepath.Join(fixtureDir, "schedules"))
	code, _, errOut := runESB(t, "validate")
	require.Equal(t, 0, code, errOut)
	assert.Contains(t, errOut, "template.yml is valid: 2 functions, 1 route")
}

// TestValidateRuntimeAliases: a runtime ESB cannot build is refused with
// the opt-in; the flag or ESB_RUNTIME_ALIAS runs it on the alias's target,
// with a warning naming both.
func TestValidateRuntimeAliases(t *testing.T) {
	tmpl := oneFunctionTemplate(t, "python3.12", "")
	tests := []struct {
		name        string
		env         string
		flags       []string
		wantCode    int
		wantErr     string
		wantRuntime string
	}{
		{name: "refused without an opt-in", wantCode: 1,
			wantErr: tmpl + ":8:16: Resources.Fn.Properties.Runtime: unsupported runtime python3.12: no package source ESB builds from ships it (Debian has Python 3.11, 3.13 and 3.14); " +
				"the nearest supported runtime is python3.13: to run the function on it, opt in with --runtime-alias python3.12=python3.13 (or ESB_RUNTIME_ALIAS=python3.12=python3.13)\n"},
		{name: "flag", flags: []string{"--runtime-alias", "python3.12=python3.13"}, wantRuntime: "runtime: python3.13\n",
			wantErr: "warning: " + tmpl + ":8:16: Resources.Fn.Properties.Runtime: runtime python3.12 runs on python3.13 (alias python3.12=python3.13)"},
		{name: "env", env: "python3.12=python3.11", wantRuntime: "runtime: python3.11\n",
			wantErr: "runtime python3.12 runs on python3.11 (alias python3.12=python3.11)"},
		{name: "the flag wins over the env", env: "python3.12=python3.11", flags: []string{"--runtime-alias", "python3.12=python3.14"}, wantRuntime: "runtime: python3.14\n",
			wantErr: "runtime python3.12 runs on python3.14"},
		{name: "bad alias is a usage error", flags: []string{"--runtime-alias", "python3.12=nodejs22.x"}, wantCode: 2,
			wantErr: "esb validate: runtime alias python3.12=nodejs22.x: python3.12 and nodejs22.x are different languages\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			c := &cli{stdout: &stdout, stderr: &stderr, lookupEnv: func(k string) (string, bool) {
				if k == "ESB_RUNTIME_ALIAS" && tt.env != "" {
					return tt.env, true
				}
				return "", false
			}}
			code := run(t.Context(), c, append([]string{"validate", "-t", tmpl}, tt.flags...))
			require.Equal(t, tt.wantCode, code, stderr.String())
			assert.Contains(t, stderr.String(), tt.wantErr)
			if tt.wantRuntime != "" {
				assert.Contains(t, stdout.String(), tt.wantRuntime)
			}
		})
	}
}

// TestValidateMavenNeedsMirror: a Maven project is refused up front unless
// a Maven mirror is configured (flag or ESB_MAVEN_MIRROR).
func TestValidateMavenNeedsMirror(t *testing.T) {
	tmpl := oneFunctionTemplate(t, "java21", "")
	require.NoError(t, os.WriteFile(filepath.Join(filepath.Dir(tmpl), "src", "pom.xml"), []byte("<project/>"), 0o644))
	code, _, errOut := runESB(t, "validate", "-t", tmpl)
	assert.Equal(t, 1, code)
	assert.Contains(t, errOut, "Resources.Fn.Properties.CodeUri: src is a maven project, and building it needs a Maven mirror, which is not configured")
	code, _, errOut = runESB(t, "validate", "-t", tmpl, "--maven-mirror", "http://maven.example/repo")
	assert.Equal(t, 0, code, errOut)
}

// TestValidateArchitectures: validate has no Docker engine to ask, so a
// function declared for another architecture than this machine's is a
// warning, not an error.
func TestValidateArchitectures(t *testing.T) {
	other := "arm64"
	if runtime.GOARCH == "arm64" {
		other = "x86_64"
	}
	tmpl := oneFunctionTemplate(t, "python3.13", "      Architectures: ["+other+"]\n")
	code, _, errOut := runESB(t, "validate", "-t", tmpl)
	require.Equal(t, 0, code, errOut)
	assert.Contains(t, errOut, "warning: "+tmpl+":9:22: Resources.Fn.Properties.Architectures: function Fn is declared for "+other)
	assert.Contains(t, errOut, "(esb deploy refuses it on this machine)")
}

// TestValidateNamesPackageIndexes: validate says where each function's
// pip or npm install fetches from, and refuses a wheel directory that is
// not one or an index that is not a URL.
func TestValidateNamesPackageIndexes(t *testing.T) {
	tmpl := oneFunctionTemplate(t, "python3.13", "")
	require.NoError(t, os.WriteFile(filepath.Join(filepath.Dir(tmpl), "src", "requirements.txt"), []byte("esb-dep==1.0\n"), 0o644))
	wheels := t.TempDir()

	code, _, errOut := runESB(t, "validate", "-t", tmpl, "--wheel-dir", wheels)
	require.Equal(t, 0, code, errOut)
	assert.Contains(t, errOut, "dependencies: Fn installs src/requirements.txt from wheel directory "+wheels+" (no index)\n")

	code, _, errOut = runESB(t, "validate", "-t", tmpl, "--wheel-dir", wheels, "--pip-index-url", "https://user:secret@pypi.example/simple")
	require.Equal(t, 0, code, errOut)
	assert.Contains(t, errOut, "from index https://user:xxxxx@pypi.example/simple, wheel directory "+wheels+"\n")
	assert.NotContains(t, errOut, "secret", "an index password is never printed")

	code, _, errOut = runESB(t, "validate", "-t", tmpl, "--wheel-dir", filepath.Join(wheels, "missing"))
	assert.Equal(t, 1, code)
	assert.Contains(t, errOut, "wheel directory "+filepath.Join(wheels, "missing")+": not a directory")

	code, _, errOut = runESB(t, "validate", "-t", tmpl, "--pip-index-url", "pypi.example/simple")
	assert.Equal(t, 1, code)
	assert.Contains(t, errOut, `package index "pypi.example/simple": want an http:// or https:// URL`)

	node := oneFunctionTemplate(t, "nodejs20.x", "")
	require.NoError(t, os.WriteFile(filepath.Join(filepath.Dir(node), "src", "package.json"), []byte(`{"dependencies":{"is-number":"7.0.0"}}`), 0o644))
	code, _, errOut = runESB(t, "validate", "-t", node, "--npm-registry", "https://registry.npmjs.org/")
	require.Equal(t, 0, code, errOut)
	assert.Contains(t, errOut, "dependencies: Fn installs src/package.json from registry https://registry.npmjs.org/\n")
}

// TestMirrorsFromEnvironment: the mirror settings come from the deploying
// shell's variables when no flag is given, ESB's own before pip's and
// npm's.
func TestMirrorsFromEnvironment(t *testing.T) {
	tmpl := oneFunctionTemplate(t, "python3.13", "")
	require.NoError(t, os.WriteFile(filepath.Join(filepath.Dir(tmpl), "src", "requirements.txt"), []byte("esb-dep==1.0\n"), 0o644))
	wheels := t.TempDir()
	env := map[string]string{
		"ESB_WHEEL_DIR":       wheels,
		"PIP_INDEX_URL":       "http://pip.example/simple",
		"ESB_PIP_INDEX_URL":   "http://esb.example/simple",
		"PIP_EXTRA_INDEX_URL": "http://a.example/simple http://b.example/simple",
	}
	var stdout, stderr bytes.Buffer
	c := &cli{stdout: &stdout, stderr: &stderr, lookupEnv: func(k string) (string, bool) { v, ok := env[k]; return v, ok }}
	require.Equal(t, 0, run(t.Context(), c, []string{"validate", "-t", tmpl}), stderr.String())
	assert.Contains(t, stderr.String(), "from index http://esb.example/simple, extra index http://a.example/simple, extra index http://b.example/simple, wheel directory "+wheels+"\n")
}
