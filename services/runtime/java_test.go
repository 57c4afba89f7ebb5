package lambdaimages

import (
	"archive/zip"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// javaFixtures is what TestJavaClient builds once: the client as the image
// lays it out (bootstrap + classes), and two function code directories.
type javaFixtures struct {
	runtime string // holds bootstrap and esb-lambda-runtime.jar, like /var/runtime
	// plain has loose classes compiled without aws-lambda-java-core and
	// a dependency in lib/dep.jar: a Map handler from plain sources.
	plain string
	// packaged has the function in a jar lying in the task root, built
	// against a minimal aws-lambda-java-core compiled here and shipped in
	// lib/, as a deployment package carries it.
	packaged string
}

// javac compiles every .java file under srcDirs into out.
func javac(t *testing.T, out string, classpath []string, srcDirs ...string) {
	t.Helper()
	var files []string
	for _, dir := range srcDirs {
		require.NoError(t, filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err == nil && strings.HasSuffix(p, ".java") {
				files = append(files, p)
			}
			return err
		}))
	}
	require.NoError(t, os.MkdirAll(out, 0o755))
	args := []string{"--release", "17", "-Xlint:all", "-Werror", "-d", out}
	if len(classpath) > 0 {
		args = append(args, "-cp", strings.Join(classpath, ":"))
	}
	cmd := exec.CommandContext(t.Context(), "javac", append(args, files...)...)
	output, err := cmd.CombinedOutput()
	require.NoError(t, err, "javac: %s", output)
}

// jar writes the files under dir into a jar (a zip) at path.
func jar(t *testing.T, dir, path string) {
	t.Helper()
	require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
	f, err := os.Create(path)
	require.NoError(t, err)
	zw := zip.NewWriter(f)
	require.NoError(t, filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		w, err := zw.Create(filepath.ToSlash(rel))
		if err != nil {
			return err
		}
		src, err := os.Open(p)
		if err != nil {
			return err
		}
		defer src.Close()
		_, err = io.Copy(w, src)
		return err
	}))
	require.NoError(t, zw.Close())
	require.NoError(t, f.Close())
}

func buildJavaFixtures(t *testing.T) javaFixtures {
	t.Helper()
	root := t.TempDir()
	fx := filepath.Join("java", "tests", "fixtures")
	jackson := []string{"/usr/share/java/jackson-core.jar", "/usr/share/java/jackson-annotations.jar", "/usr/share/java/jackson-databind.jar"}
	f := javaFixtures{runtime: filepath.Join(root, "runtime"), plain: filepath.Join(root, "plain"), packaged: filepath.Join(root, "packaged")}

	clientClasses := filepath.Join(root, "client-classes")
	javac(t, clientClasses, jackson, filepath.Join("java", "src"))
	jar(t, clientClasses, filepath.Join(f.runtime, "esb-lambda-runtime.jar"))
	bootstrap, err := os.ReadFile(filepath.Join("java", "bootstrap"))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(f.runtime, "bootstrap"), bootstrap, 0o755))

	depClasses := filepath.Join(root, "dep-classes")
	javac(t, depClasses, nil, filepath.Join(fx, "dep"))
	jar(t, depClasses, filepath.Join(f.plain, "lib", "dep.jar"))
	javac(t, f.plain, []string{depClasses}, filepath.Join(fx, "plain"))

	coreClasses := filepath.Join(root, "core-classes")
	javac(t, coreClasses, nil, filepath.Join(fx, "core"))
	jar(t, coreClasses, filepath.Join(f.packaged, "lib", "aws-lambda-java-core.jar"))
	taskClasses := filepath.Join(root, "task-classes")
	javac(t, taskClasses, []string{coreClasses}, filepath.Join(fx, "task"))
	jar(t, taskClasses, filepath.Join(f.packaged, "function.jar"))
	return f
}

// TestJavaClient runs ESB's Java runtime client (the real bootstrap and
// the compiled client) against the fake Runtime API.
func TestJavaClient(t *testing.T) {
	t.Parallel()
	f := buildJavaFixtures(t)
	startWith := func(t *testing.T, api *fakeRuntimeAPI, task, handler string, env map[string]string) *clientProcess {
		t.Helper()
		all := map[string]string{"ESB_RUNTIME_OPT_DIR": filepath.Join(task, "no-opt")}
		for k, v := range env {
			all[k] = v
		}
		return startClient(t, api, task, all, "sh", filepath.Join(f.runtime, "bootstrap"), handler)
	}
	start := func(t *testing.T, api *fakeRuntimeAPI, task, handler string) *clientProcess {
		t.Helper()
		return startWith(t, api, task, handler, nil)
	}

	t.Run("results", func(t *testing.T) {
		t.Parallel()
		tests := []struct {
			name, task, handler, event string
			headers                    map[string]string
			want                       string
		}{
			{name: "Map handler from plain classes, dependency from lib/", task: f.plain, handler: "example.MapHandler::handle", event: `{"a":1}`,
				want: `{"greeting":"hello plain from lib/dep.jar","invocations":1,"event":{"a":1}}`},
			{name: "RequestHandler with POJOs, by class name, from a jar in the task root", task: f.packaged, handler: "example.OrderHandler",
				event: `{"id":"o-1","quantities":[2,3],"note":"n","unknown":true}`, headers: map[string]string{"Lambda-Runtime-Aws-Request-Id": "req-order"},
				want: `{"orderId":"o-1","total":5,"requestId":"req-order"}`},
			{name: "RequestStreamHandler", task: f.packaged, handler: "example.StreamHandler", event: `"abc"`, want: `[fn] "ABC"`},
			{name: "InputStream and OutputStream without Context", task: f.packaged, handler: "example.Methods::copy", event: `{"raw": true}`, want: `{"raw": true}`},
			{name: "the overload with Context wins", task: f.packaged, handler: "example.Methods::pick", event: `{}`,
				headers: map[string]string{"Lambda-Runtime-Aws-Request-Id": "req-pick"}, want: `"with context req-pick"`},
			{name: "generic parameter, static method", task: f.packaged, handler: "example.Methods::sum", event: `[1,2,3]`, want: `6`},
			{name: "void answers null", task: f.packaged, handler: "example.Methods::nothing", event: `{}`, want: `null`},
			{name: "the function sees neither the runtime nor its Jackson", task: f.plain, handler: "example.Isolation::check", event: `{}`,
				want: `{"com.fasterxml.jackson.databind.ObjectMapper":false,"esb.lambda.runtime.Main":false,"dep.Greeter":true}`},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				t.Parallel()
				api := newFakeRuntimeAPI(t)
				start(t, api, tt.task, tt.handler)
				got := api.result(t, api.invoke(tt.event, tt.headers))
				require.Equal(t, "response", got.kind, "%s", got.body)
				if strings.HasPrefix(tt.want, "{") {
					assert.JSONEq(t, tt.want, string(got.body))
				} else {
					assert.Equal(t, tt.want, string(got.body))
				}
			})
		}
	})

	t.Run("warm invocations share the handler object", func(t *testing.T) {
		t.Parallel()
		api := newFakeRuntimeAPI(t)
		start(t, api, f.plain, "example.MapHandler::handle")
		for i := 1; i <= 3; i++ {
			got := api.result(t, api.invoke(`{}`, nil)).json(t)
			assert.EqualValues(t, i, got["invocations"])
		}
	})

	t.Run("context: a proxy of the function's own Context", func(t *testing.T) {
		t.Parallel()
		api := newFakeRuntimeAPI(t)
		rt := start(t, api, f.packaged, "example.Methods::describe")
		deadline := time.Now().Add(5 * time.Second).UnixMilli()
		got := api.result(t, api.invoke(`{}`, map[string]string{
			"Lambda-Runtime-Aws-Request-Id":   "req-ctx",
			"Lambda-Runtime-Deadline-Ms":      strconv.FormatInt(deadline, 10),
			"Lambda-Runtime-Client-Context":   `{"custom":{"k":"v"},"client":{"installation_id":"inst-1"}}`,
			"Lambda-Runtime-Cognito-Identity": `{"cognitoIdentityId":"id-1"}`,
		})).json(t)
		assert.Equal(t, "req-ctx", got["requestId"])
		assert.Equal(t, "fn", got["functionName"])
		assert.Equal(t, "$LATEST", got["functionVersion"])
		assert.EqualValues(t, 256, got["memoryLimitInMB"], "an int, as aws-lambda-java-core declares it")
		assert.Equal(t, "/aws/lambda/fn", got["logGroupName"])
		assert.Equal(t, "2026/01/01/[$LATEST]abc", got["logStreamName"])
		assert.Equal(t, "arn:aws:lambda:us-east-1:012345678912:function:fn", got["invokedFunctionArn"])
		assert.Equal(t, "id-1", got["identityId"])
		assert.Equal(t, map[string]any{"k": "v"}, got["custom"])
		assert.Equal(t, "inst-1", got["installationId"])
		assert.Equal(t, "default body", got["defaultMethod"], "methods of newer library versions run their default body")
		checkRemaining(t, deadline, got["remainingFirst"], got["remainingSecond"], got["nowMs"])
		assert.Contains(t, rt.output(), "logged through the context")
	})

	t.Run("trace id follows each invocation", func(t *testing.T) {
		t.Parallel()
		api := newFakeRuntimeAPI(t)
		start(t, api, f.packaged, "example.Methods::trace")
		checkTraceID(t, api)
	})

	t.Run("handler exception: class name, user frames, process goes on", func(t *testing.T) {
		t.Parallel()
		api := newFakeRuntimeAPI(t)
		rt := start(t, api, f.packaged, "example.Failing::fail")
		got := api.result(t, api.invoke(`{"amount":5}`, nil))
		require.Equal(t, "error", got.kind)
		body := got.json(t)
		assert.Equal(t, "java.lang.IllegalStateException", body["errorType"])
		assert.Equal(t, "card declined for 5", body["errorMessage"])
		trace := body["stackTrace"].([]any)
		require.NotEmpty(t, trace)
		assert.Regexp(t, `^example\.Failing\.charge\(Failing\.java:\d+\)$`, trace[0])
		assert.Regexp(t, `^example\.Failing\.fail\(Failing\.java:\d+\)$`, trace[1])
		for _, frame := range trace {
			assert.NotContains(t, frame, "esb.lambda.runtime", "the runtime's own frames are cut")
		}
		assert.Equal(t, "java.lang.IllegalStateException", got.header.Get("Lambda-Runtime-Function-Error-Type"))
		assert.Contains(t, got.header.Get("Lambda-Runtime-Function-XRay-Error-Cause"), `"type":"java.lang.IllegalStateException"`)
		assert.Equal(t, "error", api.result(t, api.invoke(`{"amount":6}`, nil)).kind)
		assert.True(t, rt.running())
		assert.Contains(t, rt.output(), "card declined for 5: java.lang.IllegalStateException\njava.lang.IllegalStateException: card declined for 5\n\tat example.Failing.charge(Failing.java:")
	})

	t.Run("logs: text as is, JSON records with level filtering", func(t *testing.T) {
		t.Parallel()
		api := newFakeRuntimeAPI(t)
		text := start(t, api, f.packaged, "example.Methods::levels")
		api.result(t, api.invoke(`{}`, nil))
		assert.Contains(t, text.output(), "debug lineinfo lineplain line", "text: each message as is, no level filter")

		jsonAPI := newFakeRuntimeAPI(t)
		rt := startWith(t, jsonAPI, f.packaged, "example.Methods::levels", map[string]string{"AWS_LAMBDA_LOG_FORMAT": "JSON", "AWS_LAMBDA_LOG_LEVEL": "INFO"})
		id := jsonAPI.invoke(`{}`, nil)
		jsonAPI.result(t, id)
		out := rt.output()
		assert.NotContains(t, out, "debug line", "below AWS_LAMBDA_LOG_LEVEL")
		assert.Regexp(t, `\{"timestamp":"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z","message":"info line","level":"INFO","AWSRequestId":"`+id+`"\}\n`, out)
		assert.Contains(t, out, `"message":"plain line","level":"UNDEFINED","AWSRequestId":"`+id+`"}`)

		failAPI := newFakeRuntimeAPI(t)
		failing := startWith(t, failAPI, f.packaged, "example.Failing::fail", map[string]string{"AWS_LAMBDA_LOG_FORMAT": "JSON"})
		failAPI.result(t, failAPI.invoke(`{"amount":1}`, nil))
		assert.Regexp(t, `\{"timestamp":"[^"]+","message":"card declined for 1: java.lang.IllegalStateException\\njava.lang.IllegalStateException: card declined for 1\\n\\tat example.Failing.charge[^"]*","level":"ERROR"`, failing.output())
	})

	t.Run("faults reported on each invocation", func(t *testing.T) {
		t.Parallel()
		tests := []struct {
			name, task, handler, event string
			wantMessage, wantType      string
		}{
			{name: "class not found", task: f.packaged, handler: "example.Nope::handle", event: `{}`,
				wantMessage: "Class not found: example.Nope", wantType: "java.lang.ClassNotFoundException"},
			{name: "no suitable method", task: f.plain, handler: "example.MapHandler::nope", event: `{}`,
				wantMessage: "No public method named nope with appropriate method signature found on class example.MapHandler"},
			{name: "class name alone without a handler interface", task: f.plain, handler: "example.MapHandler", event: `{}`,
				wantMessage: "Class does not implement an appropriate handler interface: example.MapHandler"},
			{name: "event that does not bind", task: f.packaged, handler: "example.OrderHandler", event: `{"quantities":"many"}`,
				wantMessage: "An error occurred during JSON parsing", wantType: "java.lang.RuntimeException"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				t.Parallel()
				api := newFakeRuntimeAPI(t)
				rt := start(t, api, tt.task, tt.handler)
				for range 2 {
					got := api.result(t, api.invoke(tt.event, nil))
					require.Equal(t, "error", got.kind)
					body := got.json(t)
					assert.Equal(t, tt.wantMessage, body["errorMessage"])
					if tt.wantType != "" {
						assert.Equal(t, tt.wantType, body["errorType"])
					}
				}
				assert.True(t, rt.running(), "a fault is no reason to stop")
			})
		}
	})

	t.Run("init errors", func(t *testing.T) {
		t.Parallel()
		tests := []struct {
			name, handler, wantMessage, wantType string
		}{
			{name: "static initialiser throws", handler: "example.BrokenInit::handle",
				wantMessage: "Error loading class example.BrokenInit", wantType: "java.lang.ExceptionInInitializerError"},
			{name: "constructor throws", handler: "example.ThrowingConstructor::handle",
				wantMessage: "no config", wantType: "java.lang.IllegalArgumentException"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				t.Parallel()
				api := newFakeRuntimeAPI(t)
				rt := start(t, api, f.packaged, tt.handler)
				got := api.initError(t)
				body := got.json(t)
				assert.Equal(t, tt.wantMessage, body["errorMessage"])
				assert.Equal(t, tt.wantType, body["errorType"])
				assert.Equal(t, tt.wantType, got.header.Get("Lambda-Runtime-Function-Error-Type"))
				assert.Equal(t, 1, rt.exitCode(t))
				assert.Contains(t, rt.output(), tt.wantMessage+": "+tt.wantType+"\n")
			})
		}
	})
}

// TestEsbJavac runs the deploy's compile step (java/esb-javac, as the Java
// images run it in /var/task) on plain sources that import a jar of lib/.
func TestEsbJavac(t *testing.T) {
	t.Parallel()
	task := t.TempDir()
	fx := filepath.Join("java", "tests", "fixtures")
	depClasses := filepath.Join(t.TempDir(), "dep")
	javac(t, depClasses, nil, filepath.Join(fx, "dep"))
	jar(t, depClasses, filepath.Join(task, "lib", "dep.jar"))
	src, err := os.ReadFile(filepath.Join(fx, "plain", "example", "MapHandler.java"))
	require.NoError(t, err)
	require.NoError(t, os.MkdirAll(filepath.Join(task, "src", "example"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(task, "src", "example", "MapHandler.java"), src, 0o644))

	cmd := exec.CommandContext(t.Context(), "sh", filepath.Join("java", "esb-javac"), task)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
	assert.Contains(t, string(out), "esb-javac: compiling 1 source files in "+task)
	_, err = os.Stat(filepath.Join(task, "example", "MapHandler.class"))
	assert.NoError(t, err, "classes land by package in the task root, where the runtime loads them")

	broken := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(broken, "Broken.java"), []byte("class Broken { int x = ; }"), 0o644))
	out, err = exec.CommandContext(t.Context(), "sh", filepath.Join("java", "esb-javac"), broken).CombinedOutput()
	require.Error(t, err, "a compile error fails the deploy")
	assert.Contains(t, string(out), "Broken.java:1: error")

	empty := t.TempDir()
	out, err = exec.CommandContext(t.Context(), "sh", filepath.Join("java", "esb-javac"), empty).CombinedOutput()
	require.NoError(t, err, "%s", out)
	assert.Empty(t, string(out))
}
