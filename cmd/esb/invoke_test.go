package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/esb-dev/esb/internal/lambdaclient"
	"github.com/esb-dev/esb/internal/logquery"
	"github.com/esb-dev/esb/internal/platform"
	"github.com/esb-dev/esb/internal/tlsca"
)

func TestInvokeFlags(t *testing.T) {
	event := filepath.Join(t.TempDir(), "event.json")
	require.NoError(t, os.WriteFile(event, []byte(`{"from":"file"}`), 0o644))
	bad := filepath.Join(t.TempDir(), "bad.json")
	require.NoError(t, os.WriteFile(bad, []byte(`{nope`), 0o644))
	tests := []struct {
		name    string
		args    []string
		code    int
		wantErr string
	}{
		{name: "no function", args: []string{"invoke"}, code: 2, wantErr: "esb invoke: missing FUNCTION"},
		{name: "two functions", args: []string{"invoke", "A", "B"}, code: 2, wantErr: `unexpected argument "B"`},
		{name: "payload and event", args: []string{"invoke", "A", "--payload", "{}", "--event", event}, code: 2, wantErr: "--payload and --event: give one"},
		{name: "payload not JSON", args: []string{"invoke", "A", "--payload", "{x"}, code: 2, wantErr: `--payload "{x": not valid JSON`},
		{name: "event file not JSON", args: []string{"invoke", "A", "--event", bad}, code: 1, wantErr: "bad.json: not valid JSON"},
		{name: "missing event file", args: []string{"invoke", "A", "--event", bad + ".gone"}, code: 1, wantErr: "event file: open "},
		{name: "unknown type", args: []string{"invoke", "A", "--type", "DryRun"}, code: 2, wantErr: `--type "DryRun": want RequestResponse or Event`},
		{name: "logs: two functions", args: []string{"logs", "A", "B"}, code: 2, wantErr: `unexpected argument "B"`},
		{name: "logs: bad since", args: []string{"logs", "--since", "yesterday"}, code: 2, wantErr: `--since "yesterday": want a positive duration`},
		{name: "logs: negative since", args: []string{"logs", "--since", "-5m"}, code: 2, wantErr: `--since "-5m"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, errOut := testCLI(t, map[string]string{"HOME": t.TempDir()}, tt.args...)
			assert.Equal(t, tt.code, code, errOut)
			assert.Contains(t, errOut, tt.wantErr)
		})
	}
	t.Run("the event file is the payload", func(t *testing.T) {
		o := invokeOptions{eventFile: event, invocationType: lambdaclient.Event}
		p, err := o.event()
		require.NoError(t, err)
		assert.Equal(t, `{"from":"file"}`, string(p))
		o = invokeOptions{invocationType: lambdaclient.RequestResponse}
		p, err = o.event()
		require.NoError(t, err)
		assert.Equal(t, `{}`, string(p), "no payload is an empty event")
	})
	t.Run("help", func(t *testing.T) {
		code, out, _ := testCLI(t, nil, "invoke", "--help")
		assert.Equal(t, 0, code)
		assert.Contains(t, out, "Usage: esb invoke FUNCTION [--payload JSON | --event FILE] [--type RequestResponse|Event]")
		code, out, _ = testCLI(t, nil, "logs", "--help")
		assert.Equal(t, 0, code)
		assert.Contains(t, out, "Usage: esb logs [FUNCTION] [-f] [--since DUR] [--filter TEXT]")
	})
}

func TestGatewayClient(t *testing.T) {
	e, err := platform.New("", "dev")
	require.NoError(t, err)
	l, err := platform.Resolve(e, platform.LayoutOptions{Dirs: platform.Dirs{Home: t.TempDir()}})
	require.NoError(t, err)
	env := map[string]string{}
	c := &cli{lookupEnv: func(k string) (string, bool) { v, ok := env[k]; return v, ok }}
	gw, err := gatewayClient(c, l)
	require.NoError(t, err)
	assert.Equal(t, "http://127.0.0.1:5000", gw.BaseURL)
	assert.Equal(t, "us-east-1", gw.Region)
	assert.Equal(t, platform.DefaultAccessKeyID, gw.Credentials.AccessKeyID, "the compose files' default root key")
	assert.Equal(t, platform.DefaultSecretAccessKey, gw.Credentials.SecretAccessKey)

	env["ESB_ACCESS_KEY_ID"], env["ESB_SECRET_ACCESS_KEY"], env["ESB_AWS_REGION"] = "AKIAOWN", "own-secret", "eu-west-1"
	env["ESB_GATEWAY_HTTP"] = "off"
	_, err = gatewayClient(c, l)
	require.ErrorContains(t, err, "the gateway answers HTTPS only (ESB_GATEWAY_HTTP=off): env CA", "HTTPS needs the env CA the gateway made")

	_, err = tlsca.Ensure(filepath.Dir(l.TLSCAFile()), tlsca.Hostnames(nil), tlsca.Options{})
	require.NoError(t, err)
	gw, err = gatewayClient(c, l)
	require.NoError(t, err)
	assert.Equal(t, "https://127.0.0.1:5001", gw.BaseURL)
	assert.Equal(t, "eu-west-1", gw.Region)
	assert.Equal(t, "AKIAOWN", gw.Credentials.AccessKeyID)
	assert.Equal(t, "own-secret", gw.Credentials.SecretAccessKey)
}

// fakeGateway answers every call with res.
type fakeGateway struct {
	res   lambdaclient.Result
	calls []string
}

func (f *fakeGateway) Call(_ context.Context, function, invocationType string, payload []byte) (lambdaclient.Result, error) {
	f.calls = append(f.calls, function+" "+invocationType+" "+string(payload))
	return f.res, nil
}

// fakeStore is a log store holding entries; it answers a query by the
// request id or container in it, as the real store's filters would.
type fakeStore struct {
	entries []logquery.Entry
	queries []string
}

func (f *fakeStore) Query(_ context.Context, query string, start, end time.Time, _ int) ([]logquery.Entry, error) {
	f.queries = append(f.queries, query)
	var out []logquery.Entry
	for _, e := range f.entries {
		if !start.IsZero() && e.Time.Before(start) || !end.IsZero() && e.Time.After(end) {
			continue
		}
		if i := strings.Index(query, `"RequestId: `); i >= 0 && !strings.Contains(e.Message, strings.TrimSuffix(query[i+1:], `"`)) {
			continue
		}
		out = append(out, e)
	}
	return out, nil
}

func (f *fakeStore) Follow(ctx context.Context, query string, since time.Time, _ time.Duration, emit func(logquery.Entry) error) error {
	entries, _ := f.Query(ctx, query, since, time.Time{}, 0)
	for _, e := range entries {
		if err := emit(e); err != nil {
			return err
		}
	}
	return context.Canceled
}

func invocationLog(t0 time.Time) []logquery.Entry {
	e := func(ms int, container, msg string) logquery.Entry {
		return logquery.Entry{Time: t0.Add(time.Duration(ms) * time.Millisecond), Function: "Fn", Container: container, Stream: "stdout", Message: msg}
	}
	return []logquery.Entry{
		e(0, "Fn-1", "START RequestId: r0 Version: $LATEST"),
		e(1, "Fn-1", "REPORT RequestId: r0\tDuration: 1.00 ms"),
		e(10, "Fn-1", "START RequestId: r1 Version: $LATEST"),
		e(11, "Fn-1", "hello from r1"),
		e(20, "Fn-1", "END RequestId: r1"),
		e(20, "Fn-1", "REPORT RequestId: r1\tDuration: 10.00 ms\tBilled Duration: 10 ms\tMemory Size: 128 MB\tMax Memory Used: 40 MB"),
		e(25, "Fn-1", "late line of r1"),
		e(30, "Fn-1", "START RequestId: r2 Version: $LATEST"),
		e(31, "Fn-1", "line of r2"),
	}
}

func TestRunInvoke(t *testing.T) {
	t0 := time.Now().Add(-5 * time.Second) // past the settle time: no wait
	tests := []struct {
		name       string
		res        lambdaclient.Result
		typ        string
		wantErr    string
		wantStdout string
		wantStderr string
	}{
		{
			name: "result, then the invocation's lines", typ: lambdaclient.RequestResponse,
			res:        lambdaclient.Result{StatusCode: 200, Payload: []byte(`{"ok":true}`), RequestID: "r1"},
			wantStdout: "{\"ok\":true}\n",
			wantStderr: "START RequestId: r1 Version: $LATEST\nhello from r1\nlate line of r1\nEND RequestId: r1\nREPORT RequestId: r1\tDuration: 10.00 ms\tBilled Duration: 10 ms\tMemory Size: 128 MB\tMax Memory Used: 40 MB\n",
		},
		{
			name: "a function error exits 1 after the lines", typ: lambdaclient.RequestResponse,
			res:        lambdaclient.Result{StatusCode: 200, FunctionError: "Unhandled", Payload: []byte(`{"errorType":"ValueError"}`), RequestID: "r1"},
			wantErr:    "Fn: function returned an error (Unhandled)",
			wantStdout: "{\"errorType\":\"ValueError\"}\n",
			wantStderr: "hello from r1\n",
		},
		{
			name: "an Event invocation prints its request id", typ: lambdaclient.Event,
			res:        lambdaclient.Result{StatusCode: 202, RequestID: "r9"},
			wantStderr: "Fn: event queued (202), request id r9\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			c := &cli{stdout: &stdout, stderr: &stderr}
			gw := &fakeGateway{res: tt.res}
			store := &fakeStore{entries: invocationLog(t0)}
			err := runInvoke(t.Context(), c, invokeOptions{function: "Fn", invocationType: tt.typ}, []byte(`{"a":1}`), gw, store)
			if tt.wantErr != "" {
				require.ErrorIs(t, err, errFunctionFailed)
				assert.EqualError(t, err, tt.wantErr)
			} else {
				require.NoError(t, err)
			}
			assert.Equal(t, []string{"Fn " + tt.typ + ` {"a":1}`}, gw.calls)
			assert.Equal(t, tt.wantStdout, stdout.String())
			assert.Contains(t, stderr.String(), tt.wantStderr)
		})
	}
}

func TestInvocationLinesWaitsForReport(t *testing.T) {
	store := &fakeStore{}
	_, err := invocationLines(t.Context(), store, "Fn", "r1", 300*time.Millisecond, time.Second)
	assert.ErrorContains(t, err, "no START and REPORT line in the log store after 300ms")
	assert.Greater(t, len(store.queries), 1, "asked again until the wait ran out")
	assert.Equal(t, `service:function function:="Fn" "RequestId: r1"`, store.queries[0])
}

func TestCutInvocation(t *testing.T) {
	got := cutInvocation(invocationLog(time.Now()), "r1")
	var msgs []string
	for _, e := range got {
		msgs = append(msgs, e.Message)
	}
	assert.Equal(t, []string{
		"START RequestId: r1 Version: $LATEST", "hello from r1", "late line of r1", "END RequestId: r1",
		"REPORT RequestId: r1\tDuration: 10.00 ms\tBilled Duration: 10 ms\tMemory Size: 128 MB\tMax Memory Used: 40 MB",
	}, msgs, "the next START ends it; END and REPORT go last")
}

func TestRunLogs(t *testing.T) {
	t0 := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	for _, follow := range []bool{false, true} {
		var stdout bytes.Buffer
		store := &fakeStore{entries: invocationLog(t0)[2:4]}
		err := runLogs(t.Context(), &cli{stdout: &stdout}, logsOptions{function: "Fn", filter: "hello", follow: follow}, t0, store)
		require.NoError(t, err, "follow %v: an interrupt ends -f without an error", follow)
		assert.Equal(t, "2026-12-03T10:00:00.010Z Fn START RequestId: r1 Version: $LATEST\n2026-12-03T10:00:00.011Z Fn hello from r1\n", stdout.String())
		assert.Equal(t, []string{`service:function function:="Fn" "hello"`}, store.queries)
	}
}
