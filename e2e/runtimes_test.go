//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/docker/docker/client"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/esb-dev/esb/internal/registryauth"
	"github.com/esb-dev/esb/internal/runtimecatalog"
	"github.com/esb-dev/esb/internal/runtimeconfig"
	lambdaimages "github.com/esb-dev/esb/services/runtime"
)

// languageCase is one function of testdata/runtimes/every and what its
// runtime answers.
type languageCase struct {
	function string // its twin <function>Init fails at init
	runtime  string
	language string // prefix of the "language" field the handler reports
	// errorType of an uncaught exception in the handler, and of one its
	// module or class throws while loading.
	errorType, initErrorType string
	initMessage              string
}

func languageCases() []languageCase {
	python := func(fn, rt, version string) languageCase {
		return languageCase{function: fn, runtime: rt, language: "python " + version, errorType: "ValueError", initErrorType: "ValueError", initMessage: "init asked to fail"}
	}
	node := func(fn, rt, major string) languageCase {
		return languageCase{function: fn, runtime: rt, language: "node v" + major + ".", errorType: "TypeError", initErrorType: "TypeError", initMessage: "init asked to fail"}
	}
	java := func(fn, rt, version, class string) languageCase {
		return languageCase{function: fn, runtime: rt, language: "java " + version, errorType: "java.lang.IllegalStateException",
			initErrorType: "java.lang.ExceptionInInitializerError", initMessage: "Error loading class " + class}
	}
	return []languageCase{
		python("Py311", "python3.11", "3.11."),
		python("Py313", "python3.13", "3.13."),
		python("Py314", "python3.14", "3.14."),
		node("Node18", "nodejs18.x", "18"),
		node("Node20", "nodejs20.x", "20"),
		node("Node22", "nodejs22.x", "22"),
		node("Node24", "nodejs24.x", "24"),
		java("Java17", "java17", "17", "example.Handler"),
		java("Java21", "java21", "21", "example.OrderHandler"),
		java("Java25", "java25", "25", "example.Handler"),
		{function: "Ruby33", runtime: "ruby3.3", language: "ruby 3.3.", errorType: "Function<RuntimeError>", initErrorType: "Init<RuntimeError>", initMessage: "init asked to fail"},
	}
}

// everyRuntime deploys testdata/runtimes/every (one function per language
// runtime, each with a dependency the build installs) into the stack and
// checks each through the gateway, as a Lambda SDK sees it: result,
// context, environment, error shapes of an uncaught exception and an init
// error, and Lambda's START/END/REPORT lines around the function's own
// output in the log store. It measures a cold start (the first invocation
// of a deployed function: container start, runtime init, handler) and warm
// invocations per runtime, and the size of each runtime's base image.
func everyRuntime(t *testing.T, s *stack, docker client.APIClient) {
	ctx := t.Context()
	work := t.TempDir()
	copyTree(t, filepath.Join("testdata", "runtimes", "every"), work)
	buildLanguageDeps(t, work)
	tmpl := filepath.Join(work, "template.yml")

	res := s.esb(ctx, t, "deploy", "-t", tmpl)
	require.NoError(t, res.err, "%s", res.stderr)
	for _, rt := range []string{"nodejs18.x", "nodejs20.x", "python3.11", "java17"} {
		assert.Contains(t, res.stderr, "runtime "+rt+" is deprecated on AWS Lambda since ", "deploy warns about %s with AWS's dates", rt)
	}

	fns := lambda.New(lambda.Options{
		Region:           "us-east-1",
		BaseEndpoint:     aws.String(s.url("PORT_GATEWAY", "")),
		Credentials:      platformCredentials,
		RetryMaxAttempts: 1,
	})
	invoke := func(t *testing.T, name, payload string) (*lambda.InvokeOutput, time.Duration) {
		t.Helper()
		start := time.Now()
		out, err := fns.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String(name), Payload: []byte(payload)})
		require.NoError(t, err, "invoke %s", name)
		return out, time.Since(start)
	}

	type measured struct {
		runtime, function string
		first, warm       time.Duration
	}
	var bench []measured
	for _, tc := range languageCases() {
		t.Run(tc.runtime, func(t *testing.T) {
			marker := fmt.Sprintf("m-%s-%d", tc.function, time.Now().UnixNano())
			out, first := invoke(t, tc.function, `{"marker":"`+marker+`"}`)
			require.Nil(t, out.FunctionError, "%s", out.Payload)
			var got struct {
				Language     string            `json:"language"`
				RequestID    string            `json:"requestId"`
				FunctionName string            `json:"functionName"`
				Memory       string            `json:"memory"`
				Remaining    int64             `json:"remaining"`
				Env          map[string]string `json:"env"`
				Dep          string            `json:"dep"`
			}
			require.NoError(t, json.Unmarshal(out.Payload, &got), "%s", out.Payload)
			assert.True(t, strings.HasPrefix(got.Language, tc.language), "language %q, want %q...", got.Language, tc.language)
			sdkID, _ := awsmiddleware.GetRequestIDMetadata(out.ResultMetadata)
			assert.Equal(t, sdkID, got.RequestID, "the context's request id is the invocation's")
			assert.Equal(t, tc.function, got.FunctionName)
			assert.Equal(t, "256", got.Memory)
			assert.Greater(t, got.Remaining, int64(20_000), "a 30 s timeout leaves most of it")
			assert.LessOrEqual(t, got.Remaining, int64(30_000))
			assert.Equal(t, map[string]string{
				"AWS_EXECUTION_ENV":               "AWS_Lambda_" + tc.runtime,
				"AWS_LAMBDA_FUNCTION_NAME":        tc.function,
				"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
				"AWS_LAMBDA_FUNCTION_VERSION":     "$LATEST",
			}, got.Env)
			assert.Contains(t, got.Dep, "hello ", "the dependency the build installed answers")

			var warm []time.Duration
			for range 10 {
				_, d := invoke(t, tc.function, `{}`)
				warm = append(warm, d)
			}
			slices.Sort(warm)
			bench = append(bench, measured{runtime: tc.runtime, function: tc.function, first: first, warm: warm[len(warm)/2]})

			failed, _ := invoke(t, tc.function, `{"fail":true}`)
			require.NotNil(t, failed.FunctionError, "%s", failed.Payload)
			assert.Equal(t, "Unhandled", *failed.FunctionError)
			var ferr map[string]any
			require.NoError(t, json.Unmarshal(failed.Payload, &ferr), "%s", failed.Payload)
			assert.Equal(t, tc.errorType, ferr["errorType"])
			assert.Equal(t, "asked to fail", ferr["errorMessage"])

			initFailed, _ := invoke(t, tc.function+"Init", `{}`)
			require.NotNil(t, initFailed.FunctionError, "%s", initFailed.Payload)
			var ierr map[string]any
			require.NoError(t, json.Unmarshal(initFailed.Payload, &ierr), "%s", initFailed.Payload)
			assert.Equal(t, tc.initErrorType, ierr["errorType"], "%s", initFailed.Payload)
			assert.Equal(t, tc.initMessage, ierr["errorMessage"], "%s", initFailed.Payload)

			// The function's output and Lambda's lines of that invocation,
			// in the function's log stream.
			var lines []map[string]string
			err := poll(ctx, 500*time.Millisecond, 60*time.Second, func() error {
				var err error
				lines, err = queryLogStore(ctx, s, `service:function function:`+tc.function+` ("RequestId: `+got.RequestID+`" OR "`+marker+`")`)
				if err == nil && len(lines) < 4 {
					err = fmt.Errorf("%d lines of START, marker, END, REPORT", len(lines))
				}
				return err
			})
			require.NoError(t, err)
			var msgs []string
			for _, l := range lines {
				msgs = append(msgs, l["_msg"])
			}
			assert.Contains(t, msgs, "START RequestId: "+got.RequestID+" Version: $LATEST")
			assert.Contains(t, msgs, "END RequestId: "+got.RequestID)
			assert.True(t, slices.ContainsFunc(msgs, func(m string) bool { return strings.HasPrefix(m, "REPORT RequestId: "+got.RequestID+"\tDuration: ") }), "%q", msgs)
			assert.True(t, slices.ContainsFunc(msgs, func(m string) bool { return strings.Contains(m, "e2e-marker "+marker) }), "the function's own output: %q", msgs)
		})
	}

	// Figures for the README, no assertion on time. The cold start is
	// timed on a container of the function's image (already on the host)
	// behind its RIE, from container start to the first answer, so it
	// leaves out the gateway's first pull of the image; warm is the median
	// through the gateway.
	deployed := s.config(t).Functions.Functions
	var rows []string
	for _, m := range bench {
		cold := rieColdStart(ctx, t, docker, s.registryAuth(t), deployed[m.function], m.function)
		rows = append(rows, fmt.Sprintf("| %s | %d | %d | %.1f | %s |", m.runtime, cold.Milliseconds(), m.first.Milliseconds(),
			float64(m.warm.Microseconds())/1000, baseImageSize(ctx, t, docker, m.runtime)))
	}
	t.Logf("runtime benchmark:\n| runtime | cold start (RIE) ms | first invoke after deploy (gateway) ms | warm invoke (gateway, median of 10) ms | base image |\n|---|---|---|---|---|\n%s",
		strings.Join(rows, "\n"))

	t.Run("a function declared for another architecture is refused", func(t *testing.T) {
		arch := filepath.Join(work, "arm64.yml")
		require.NoError(t, os.WriteFile(arch, []byte("Transform: AWS::Serverless-2016-10-31\nResources:\n  Graviton:\n    Type: AWS::Serverless::Function\n"+
			"    Properties:\n      CodeUri: python/\n      Handler: app.handler\n      Runtime: python3.13\n      Architectures: [arm64]\n"), 0o644))
		res := s.esb(ctx, t, "deploy", "-t", arch)
		require.Error(t, res.err)
		assert.Contains(t, res.stderr, "Resources.Graviton.Properties.Architectures: function Graviton is declared for arm64, and this host runs x86_64")
	})

	t.Run("an unbuildable runtime is refused, and runs on its alias when opted in", func(t *testing.T) {
		py312 := filepath.Join(work, "py312.yml")
		require.NoError(t, os.WriteFile(py312, []byte("Transform: AWS::Serverless-2016-10-31\nResources:\n  Py312:\n    Type: AWS::Serverless::Function\n"+
			"    Properties:\n      CodeUri: python/\n      Handler: app.handler\n      Runtime: python3.12\n"), 0o644))
		res := s.esb(ctx, t, "deploy", "-t", py312)
		require.Error(t, res.err)
		assert.Contains(t, res.stderr, "unsupported runtime python3.12")
		assert.Contains(t, res.stderr, "--runtime-alias python3.12=python3.13")
		res = s.esb(ctx, t, "deploy", "-t", py312, "--runtime-alias", "python3.12=python3.13")
		require.NoError(t, res.err, "%s", res.stderr)
		assert.Contains(t, res.stderr, "runtime python3.12 runs on python3.13 (alias python3.12=python3.13)")
		out, _ := invoke(t, "Py312", `{}`)
		require.Nil(t, out.FunctionError, "%s", out.Payload)
		assert.Contains(t, string(out.Payload), `"AWS_EXECUTION_ENV": "AWS_Lambda_python3.13"`)
	})
}

// rieColdStart starts a container of the function's image behind its RIE
// and times container start to the first answer of the handler.
func rieColdStart(ctx context.Context, t *testing.T, docker client.APIClient, auth registryauth.Credential, fn runtimeconfig.Function, name string) time.Duration {
	t.Helper()
	id := createFunction(ctx, t, docker, auth, fn, name)
	start := time.Now()
	url := startFunction(ctx, t, docker, id)
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(`{}`))
		require.NoError(t, err)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			require.Equal(t, http.StatusOK, resp.StatusCode, "%s", body)
			require.Contains(t, string(body), `"requestId"`, "the handler answered")
			return time.Since(start)
		}
		time.Sleep(5 * time.Millisecond)
	}
	require.FailNow(t, "no answer from "+name+" within 60s")
	return 0
}

// baseImageSize is the size of the runtime's base image the deploy kept on
// the host ("?" when it is not there).
func baseImageSize(ctx context.Context, t *testing.T, docker client.APIClient, runtime string) string {
	t.Helper()
	dockerfile, err := lambdaimages.Dockerfile(runtime)
	require.NoError(t, err)
	ref, err := lambdaimages.BaseRef(dockerfile)
	require.NoError(t, err)
	inspect, err := docker.ImageInspect(ctx, ref)
	if err != nil {
		return "?"
	}
	return fmt.Sprintf("%d MB", inspect.Size/1_000_000)
}

// buildLanguageDeps builds what the template's functions depend on, as a
// user's tooling would before a deploy: the Python wheel and the Ruby gem
// the functions' manifests name, and the Java jars (aws-lambda-java-core's
// interfaces and a dependency, compiled here with javac, and the
// RequestHandler of java-jar/ packed as a jar).
func buildLanguageDeps(t *testing.T, work string) {
	t.Helper()
	run := func(dir string, argv ...string) {
		t.Helper()
		cmd := exec.CommandContext(t.Context(), argv[0], argv[1:]...)
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "%s: %s", strings.Join(argv, " "), out)
	}

	// A wheel is a zip with the package and its dist-info.
	wheelRoot := filepath.Join(work, "python-dep")
	info := filepath.Join(wheelRoot, "esb_e2e_dep-1.0.0.dist-info")
	require.NoError(t, os.MkdirAll(info, 0o755))
	for name, content := range map[string]string{
		"METADATA": "Metadata-Version: 2.1\nName: esb_e2e_dep\nVersion: 1.0.0\n",
		"WHEEL":    "Wheel-Version: 1.0\nGenerator: esb-e2e\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
		"RECORD":   "esb_e2e_dep/__init__.py,,\nesb_e2e_dep-1.0.0.dist-info/METADATA,,\nesb_e2e_dep-1.0.0.dist-info/WHEEL,,\nesb_e2e_dep-1.0.0.dist-info/RECORD,,\n",
	} {
		require.NoError(t, os.WriteFile(filepath.Join(info, name), []byte(content), 0o644))
	}
	vendor := filepath.Join(work, "python", "vendor")
	require.NoError(t, os.MkdirAll(vendor, 0o755))
	run(wheelRoot, "python3", "-m", "zipfile", "-c", filepath.Join(vendor, "esb_e2e_dep-1.0.0-py3-none-any.whl"), "esb_e2e_dep", "esb_e2e_dep-1.0.0.dist-info")

	gemRoot := filepath.Join(work, "ruby-dep")
	run(gemRoot, "gem", "build", "esb_e2e_dep.gemspec")
	cache := filepath.Join(work, "ruby", "vendor", "cache")
	require.NoError(t, os.MkdirAll(cache, 0o755))
	require.NoError(t, os.Rename(filepath.Join(gemRoot, "esb_e2e_dep-1.0.0.gem"), filepath.Join(cache, "esb_e2e_dep-1.0.0.gem")))

	fixtures, err := filepath.Abs(filepath.Join("..", "services", "runtime", "java", "tests", "fixtures"))
	require.NoError(t, err)
	classes := func(name string, classpath string, srcs ...string) string {
		t.Helper()
		out := filepath.Join(work, "classes", name)
		var files []string
		for _, src := range srcs {
			require.NoError(t, filepath.Walk(src, func(p string, fi os.FileInfo, err error) error {
				if err == nil && strings.HasSuffix(p, ".java") {
					files = append(files, p)
				}
				return err
			}))
		}
		sort.Strings(files)
		args := []string{"javac", "--release", "17", "-d", out}
		if classpath != "" {
			args = append(args, "-cp", classpath)
		}
		run(work, append(args, files...)...)
		return out
	}
	core := classes("core", "", filepath.Join(fixtures, "core"))
	dep := classes("dep", "", filepath.Join(fixtures, "dep"))
	for _, fn := range []string{"java-src", "java-jar"} {
		lib := filepath.Join(work, fn, "lib")
		require.NoError(t, os.MkdirAll(lib, 0o755))
		run(work, "jar", "--create", "--file", filepath.Join(lib, "aws-lambda-java-core.jar"), "-C", core, ".")
		run(work, "jar", "--create", "--file", filepath.Join(lib, "esb-e2e-dep.jar"), "-C", dep, ".")
	}
	// Describe.java is shared with the plain-sources function.
	handler := classes("handler", core+":"+dep, filepath.Join(work, "java-jar-src"), filepath.Join(work, "java-src", "example", "Describe.java"))
	run(work, "jar", "--create", "--file", filepath.Join(work, "java-jar", "function.jar"), "-C", handler, ".")
}

// TestLanguageCasesCoverCatalog: every supported runtime with a language
// client has a case in everyRuntime.
func TestLanguageCasesCoverCatalog(t *testing.T) {
	var covered []string
	for _, tc := range languageCases() {
		covered = append(covered, tc.runtime)
	}
	for _, rt := range runtimecatalog.All() {
		if rt.Family == runtimecatalog.FamilyProvided {
			continue
		}
		assert.Contains(t, covered, rt.Name)
	}
}
