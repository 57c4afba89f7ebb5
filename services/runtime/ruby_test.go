package lambdaimages

import (
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// rubyClient starts ESB's Ruby runtime client (the real bootstrap) on a
// handler of ruby/tests/fixtures/task.
func rubyClient(t *testing.T, api *fakeRuntimeAPI, handler string, env map[string]string) *clientProcess {
	t.Helper()
	task, err := filepath.Abs(filepath.Join("ruby", "tests", "fixtures", "task"))
	require.NoError(t, err)
	bootstrap, err := filepath.Abs(filepath.Join("ruby", "bootstrap"))
	require.NoError(t, err)
	return startClient(t, api, task, env, "sh", bootstrap, handler)
}

// TestRubyClient runs the Ruby client against the fake Runtime API:
// results, error shapes, context, init errors and logs as AWS's Ruby
// runtime produces them.
func TestRubyClient(t *testing.T) {
	t.Parallel()
	t.Run("results", func(t *testing.T) {
		t.Parallel()
		tests := []struct {
			name, handler, event string
			headers              map[string]string
			wantType, wantBody   string
		}{
			{name: "hash as JSON", handler: "app.echo", event: `{"name":"esb"}`,
				wantType: "application/json", wantBody: `{"ok":true,"event":{"name":"esb"}}`},
			{name: "class method", handler: "app.Handlers::Api.call", event: `{}`, headers: map[string]string{"Lambda-Runtime-Aws-Request-Id": "req-class"},
				wantType: "application/json", wantBody: `{"via":"class method","request_id":"req-class"}`},
			{name: "file in a subdirectory, required relative to the task", handler: "app.from_lib", event: `{}`,
				wantType: "application/json", wantBody: `"hello from lib"`},
			{name: "StringIO is sent raw", handler: "app.raw", event: `{}`,
				wantType: "application/unknown", wantBody: "\x00raw"},
			{name: "a non-JSON payload reaches the handler as a string", handler: "app.echo", event: "plain",
				headers: map[string]string{"Content-Type": "text/plain"}, wantType: "application/json", wantBody: `{"ok":true,"event":"plain"}`},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				t.Parallel()
				api := newFakeRuntimeAPI(t)
				rubyClient(t, api, tt.handler, nil)
				got := api.result(t, api.invoke(tt.event, tt.headers))
				assert.Equal(t, "response", got.kind)
				assert.Equal(t, tt.wantType, got.header.Get("Content-Type"))
				assert.Equal(t, tt.wantBody, string(got.body))
			})
		}
	})

	t.Run("warm invocations share the process", func(t *testing.T) {
		t.Parallel()
		api := newFakeRuntimeAPI(t)
		rubyClient(t, api, "app.count", nil)
		var pids []any
		for i := 1; i <= 3; i++ {
			got := api.result(t, api.invoke(`{}`, nil)).json(t)
			assert.EqualValues(t, i, got["invocations"])
			pids = append(pids, got["pid"])
		}
		assert.Equal(t, pids[0], pids[2])
	})

	t.Run("context", func(t *testing.T) {
		t.Parallel()
		api := newFakeRuntimeAPI(t)
		rubyClient(t, api, "app.describe_context", nil)
		deadline := time.Now().Add(5 * time.Second).UnixMilli()
		got := api.result(t, api.invoke(`{}`, map[string]string{
			"Lambda-Runtime-Aws-Request-Id":   "req-ctx-1",
			"Lambda-Runtime-Deadline-Ms":      strconv.FormatInt(deadline, 10),
			"Lambda-Runtime-Client-Context":   `{"custom":{"k":"v"}}`,
			"Lambda-Runtime-Cognito-Identity": `{"cognitoIdentityId":"id-1"}`,
		})).json(t)
		assert.Equal(t, "fn", got["function_name"])
		assert.Equal(t, "$LATEST", got["function_version"])
		assert.Equal(t, "arn:aws:lambda:us-east-1:012345678912:function:fn", got["invoked_function_arn"])
		assert.Equal(t, "256", got["memory_limit_in_mb"], "a string, as AWS reads it from the environment")
		assert.Equal(t, "req-ctx-1", got["aws_request_id"])
		assert.Equal(t, "/aws/lambda/fn", got["log_group_name"])
		assert.Equal(t, "2026/01/01/[$LATEST]abc", got["log_stream_name"])
		assert.Equal(t, map[string]any{"cognitoIdentityId": "id-1"}, got["identity"])
		assert.Equal(t, map[string]any{"custom": map[string]any{"k": "v"}}, got["client_context"])
		checkRemaining(t, deadline, got["remaining_first"], got["remaining_second"], got["now_ms"])
	})

	t.Run("trace id follows each invocation", func(t *testing.T) {
		t.Parallel()
		api := newFakeRuntimeAPI(t)
		rubyClient(t, api, "app.trace_id", nil)
		checkTraceID(t, api)
	})

	t.Run("handler error: Function<Class>, user stack, process goes on", func(t *testing.T) {
		t.Parallel()
		api := newFakeRuntimeAPI(t)
		rt := rubyClient(t, api, "app.fail", nil)
		id := api.invoke(`{"amount":5}`, nil)
		got := api.result(t, id)
		require.Equal(t, "error", got.kind)
		body := got.json(t)
		assert.Equal(t, "Function<PaymentDeclined>", body["errorType"])
		assert.Equal(t, "card declined for 5", body["errorMessage"])
		trace := body["stackTrace"].([]any)
		require.NotEmpty(t, trace)
		assert.Contains(t, trace[0], "app.rb")
		assert.Contains(t, trace[0], "charge")
		for _, f := range trace {
			assert.NotContains(t, f, "esb_lambda_runtime", "the runtime's own frames are cut")
		}
		assert.Equal(t, "Function<UserException>", got.header.Get("Lambda-Runtime-Function-Error-Type"), "user classes stay out of the header")
		assert.Contains(t, got.header.Get("Lambda-Runtime-Function-XRay-Error-Cause"), `"type":"PaymentDeclined"`)
		assert.Equal(t, "error", api.result(t, api.invoke(`{"amount":6}`, nil)).kind)
		assert.True(t, rt.running())
		assert.Contains(t, rt.output(), "Error raised from handler method\n{\n  \"errorMessage\": \"card declined for 5\",")
	})

	t.Run("NoMethodError is critical: reported, then the process exits", func(t *testing.T) {
		t.Parallel()
		api := newFakeRuntimeAPI(t)
		rt := rubyClient(t, api, "app.nil_method", nil)
		got := api.result(t, api.invoke(`{}`, nil))
		body := got.json(t)
		assert.Equal(t, "Function<NoMethodError>", body["errorType"])
		assert.Contains(t, body["errorMessage"], "upcase")
		assert.Equal(t, "Function<NoMethodError>", got.header.Get("Lambda-Runtime-Function-Error-Type"))
		assert.Equal(t, 255, rt.exitCode(t))
		assert.Contains(t, rt.output(), "Critical exception from handler")
	})

	t.Run("missing handler method: reported on invoke", func(t *testing.T) {
		t.Parallel()
		api := newFakeRuntimeAPI(t)
		rt := rubyClient(t, api, "app.nope", nil)
		body := api.result(t, api.invoke(`{}`, nil)).json(t)
		assert.Equal(t, "Function<NoMethodError>", body["errorType"])
		assert.Contains(t, body["errorMessage"], "nope")
		assert.Equal(t, 255, rt.exitCode(t))
	})

	t.Run("init errors", func(t *testing.T) {
		t.Parallel()
		tests := []struct {
			name, handler, wantType, wantMessage, wantHeader string
		}{
			{name: "missing file", handler: "nosuchfile.handler", wantType: "Init<LoadError>", wantMessage: "cannot load such file", wantHeader: "Init<LoadError>"},
			{name: "missing gem", handler: "needs_missing_gem.handler", wantType: "Init<LoadError>", wantMessage: "a_gem_nobody_installed", wantHeader: "Init<LoadError>"},
			{name: "syntax error", handler: "broken_syntax.handler", wantType: "Init<SyntaxError>", wantMessage: "broken_syntax.rb", wantHeader: "Init<UserException>"},
			{name: "raise at load", handler: "raises_at_load.handler", wantType: "Init<RuntimeError>", wantMessage: "MISSING_SETTING not set", wantHeader: "Init<UserException>"},
			{name: "no method in the handler string", handler: "app", wantType: "Init<ArgumentError>", wantMessage: "Invalid handler app", wantHeader: "Init<ArgumentError>"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				t.Parallel()
				api := newFakeRuntimeAPI(t)
				rt := rubyClient(t, api, tt.handler, nil)
				got := api.initError(t)
				body := got.json(t)
				assert.Equal(t, tt.wantType, body["errorType"])
				assert.Contains(t, body["errorMessage"], tt.wantMessage)
				assert.Equal(t, tt.wantHeader, got.header.Get("Lambda-Runtime-Function-Error-Type"))
				assert.Equal(t, 252, rt.exitCode(t), "an init failure exits non-zero")
				assert.Contains(t, rt.output(), "Init error when loading handler "+tt.handler)
			})
		}
	})

	t.Run("logs: puts as is, Logger with the request id", func(t *testing.T) {
		t.Parallel()
		api := newFakeRuntimeAPI(t)
		rt := rubyClient(t, api, "app.chatty", nil)
		id := api.invoke(`{"n":1}`, nil)
		api.result(t, id)
		out := rt.output()
		assert.Contains(t, out, "hello from puts 1\n")
		line := ""
		for _, l := range strings.Split(out, "\n") {
			if strings.Contains(l, "info via logger") {
				line = l
			}
		}
		assert.Regexp(t, `^I, \[\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6} #\d+\]  INFO `+id+` -- : info via logger$`, line)
	})

	t.Run("JSON log format", func(t *testing.T) {
		t.Parallel()
		api := newFakeRuntimeAPI(t)
		rt := rubyClient(t, api, "app.chatty", map[string]string{"AWS_LAMBDA_LOG_FORMAT": "JSON"})
		id := api.invoke(`{"n":2}`, nil)
		api.result(t, id)
		assert.Regexp(t, `\{"timestamp":"[^"]+Z","level":"INFO","message":"info via logger","requestId":"`+id+`"\}`, rt.output())
	})
}
