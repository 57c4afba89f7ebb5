package sam

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/esb-dev/esb/internal/runtimecatalog"
)

// TestRuntimeResolution checks where runtime refusals and warnings land:
// on the Runtime field (file, line, column), with the alias applied.
func TestRuntimeResolution(t *testing.T) {
	now := time.Date(2026, time.December, 2, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name         string
		runtime      string
		handler      string
		files        map[string]string
		aliases      runtimecatalog.Aliases
		wantRuntime  string
		wantWarnings []string
		wantErr      string
	}{
		{name: "current runtime, no warning", runtime: "python3.14", handler: "app.handler", files: map[string]string{"app.py": ""},
			wantRuntime: "python3.14"},
		{name: "deprecated on AWS: warned at the field", runtime: "nodejs20.x", handler: "app.handler", files: map[string]string{"app.mjs": ""},
			wantRuntime: "nodejs20.x",
			wantWarnings: []string{"template.yml:7:16: Resources.Fn.Properties.Runtime: runtime nodejs20.x is deprecated on AWS Lambda since 2026-04-30 " +
				"(AWS has refused new functions on it from 2026-08-31): ESB still runs it; move to nodejs24.x so the template keeps deploying on AWS"}},
		{name: "no source: refused at the field with the opt-in", runtime: "python3.12", handler: "app.handler",
			wantErr: "template.yml:7:16: Resources.Fn.Properties.Runtime: unsupported runtime python3.12: no package source ESB builds from ships it " +
				"(Debian has Python 3.11, 3.13 and 3.14); the nearest supported runtime is python3.13: to run the function on it, opt in with " +
				"--runtime-alias python3.12=python3.13 (or ESB_RUNTIME_ALIAS=python3.12=python3.13)"},
		{name: "alias opted in: runs on the target, warned", runtime: "python3.12", handler: "app.handler", files: map[string]string{"app.py": ""},
			aliases: runtimecatalog.Aliases{"python3.12": "python3.13"}, wantRuntime: "python3.13",
			wantWarnings: []string{"template.yml:7:16: Resources.Fn.Properties.Runtime: runtime python3.12 runs on python3.13 (alias python3.12=python3.13): " +
				"the function is built and run as python3.13, which may behave differently from AWS's python3.12"}},
		{name: "ruby handler file is before the first dot", runtime: "ruby3.3", handler: "lib/app.Handlers::Api.call", files: map[string]string{"lib/app.rb": ""},
			wantRuntime: "ruby3.3"},
		{name: "missing ruby file is warned", runtime: "ruby3.3", handler: "app.handler", wantRuntime: "ruby3.3",
			wantWarnings: []string{"template.yml:6:16: Resources.Fn.Properties.Handler: handler file not found: looked for app.rb in src"}},
		{name: "java handler without a package is fine", runtime: "java21", handler: "Hello::handleRequest", wantRuntime: "java21"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			require.NoError(t, os.MkdirAll(filepath.Join(dir, "src"), 0o755))
			for name, content := range tt.files {
				p := filepath.Join(dir, "src", name)
				require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
				require.NoError(t, os.WriteFile(p, []byte(content), 0o644))
			}
			src := "Transform: AWS::Serverless-2016-10-31\nResources:\n  Fn:\n    Type: AWS::Serverless::Function\n    Properties:\n" +
				"      Handler: " + tt.handler + "\n      Runtime: " + tt.runtime + "\n      CodeUri: src\n"
			tmpl, err := Parse("template.yml", []byte(src), dir, Options{RuntimeAliases: tt.aliases, Now: now})
			if tt.wantErr != "" {
				require.Error(t, err)
				assert.Equal(t, tt.wantErr, err.Error())
				return
			}
			require.NoError(t, err)
			require.Len(t, tmpl.Functions, 1)
			assert.Equal(t, tt.wantRuntime, tmpl.Functions[0].Runtime)
			var got []string
			for _, w := range tmpl.Warnings {
				got = append(got, w.String())
			}
			assert.Equal(t, tt.wantWarnings, got)
		})
	}
}

func TestFunctionFieldError(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "src"), 0o755))
	path := filepath.Join(dir, "template.yml")
	require.NoError(t, os.WriteFile(path, []byte(`Transform: AWS::Serverless-2016-10-31
Globals:
  Function:
    Architectures: [arm64]
Resources:
  Own:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: src
      Handler: app.handler
      Runtime: python3.13
  Inherits:
    Type: AWS::Serverless::Function
    Properties: {CodeUri: src, Handler: app.handler, Runtime: python3.13}
`), 0o644))
	tmpl, err := ParseFile(path, Options{})
	require.NoError(t, err)
	tests := []struct {
		name, fn, prop, want string
	}{
		{name: "the function's own property", fn: "Own", prop: "CodeUri", want: path + ":9:16: Resources.Own.Properties.CodeUri: x"},
		{name: "inherited from Globals", fn: "Inherits", prop: "Architectures", want: path + ":4:20: Globals.Function.Architectures: x"},
		{name: "set nowhere: the function", fn: "Inherits", prop: "Layers", want: path + ":13:5: Resources.Inherits: x"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, FunctionFieldError(tmpl, function(t, tmpl, tt.fn), tt.prop, errors.New("x")).Error())
		})
	}
	mem := &Template{}
	assert.Equal(t, ": Resources.Own.Properties.CodeUri: x", FunctionFieldError(mem, Function{LogicalID: "Own"}, "CodeUri", errors.New("x")).Error(), "no file, no position")
}
