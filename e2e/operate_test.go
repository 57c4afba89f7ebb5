//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// operateFlow checks the operator surfaces of an env (issue 20): it
// deploys testdata/operate, makes exactly one cold start, one function
// error and one throttle of OpsFunction, and reads them back from the
// admin listener's /metrics (the agent's metrics through the gateway
// too), from `esb ls`, and from the dashboard as headless Chromium renders
// it; a screenshot is kept and its path printed. deployArgs are the mode's
// own deploy flags. It runs in an env whose other subtests are done: it
// adds a function and a route.
func operateFlow(t *testing.T, s *stack, deployArgs ...string) {
	ctx := t.Context()
	work := t.TempDir()
	copyTree(t, filepath.Join("testdata", "operate"), work)
	res := s.esb(ctx, t, append([]string{"deploy", "-t", filepath.Join(work, "template.yml")}, deployArgs...)...)
	require.NoError(t, res.err)
	ops := s.url("PORT_GATEWAY", "/ops")
	admin := func(path string) string { return s.url("PORT_ADMIN", path) }

	// The first request that reaches the function is its cold start; the
	// ones before the route is live are 404s that invoke nothing.
	wctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	require.NoError(t, waitHTTP(wctx, ops, http.StatusOK, 500*time.Millisecond), "the deploy's /ops never served")
	cancel()
	status, _ := httpGet(ctx, t, ops+"?fail=1")
	assert.Equal(t, http.StatusBadGateway, status, "a function error is API Gateway's 502")

	// OpsFunction has one slot (ReservedConcurrentExecutions: 1): a
	// request that holds it past the queue wait (MAX_QUEUE_WAIT, 10 s)
	// makes the next one a throttle.
	var sleeper sync.WaitGroup
	sleeper.Go(func() {
		status, body := httpGet(ctx, t, ops+"?sleep=13")
		assert.Equal(t, http.StatusOK, status, body)
	})
	require.NoError(t, pollMetric(ctx, admin("/metrics"), `esb_concurrent_executions{function="OpsFunction"} 1`, 30*time.Second))
	// A REST API answers Lambda's throttle 500, as API Gateway does.
	status, body := httpGet(ctx, t, ops)
	assert.Equal(t, http.StatusInternalServerError, status, body)
	assert.Equal(t, `{"message": "Internal server error"}`, body)
	sleeper.Wait()

	t.Run("metrics count exactly one cold start, one error, one throttle", func(t *testing.T) {
		status, metrics := httpGet(ctx, t, admin("/metrics"))
		require.Equal(t, http.StatusOK, status)
		lines := map[string]bool{}
		var opsErrors []string
		for l := range strings.SplitSeq(metrics, "\n") {
			lines[l] = true
			if strings.HasPrefix(l, `esb_invocation_errors_total{function="OpsFunction"`) {
				opsErrors = append(opsErrors, l)
			}
		}
		for _, want := range []string{
			`esb_invocations_total{function="OpsFunction"} 3`, // the cold one, the error, the sleeper
			`esb_throttles_total{function="OpsFunction"} 1`,
			`esb_cold_starts_total{function="OpsFunction"} 1`,
			`esb_invocation_duration_seconds_count{function="OpsFunction"} 3`,
			`esb_init_duration_seconds_count{function="OpsFunction"} 1`,
			`esb_queue_wait_seconds_count{function="OpsFunction"} 3`,
			`esb_concurrent_executions{function="OpsFunction"} 0`,
			`esb_queue_depth{function="OpsFunction"} 0`,
			`esb_agent_up 1`,
			`esb_agent_container_starts_total{function="OpsFunction",result="ok"} 1`,
			`esb_config_reload_failures_total 0`,
		} {
			assert.True(t, lines[want], "want the line %q", want)
		}
		assert.Equal(t, []string{`esb_invocation_errors_total{function="OpsFunction",type="function"} 1`}, opsErrors)
		for _, name := range []string{"esb_config_generation ", `esb_agent_containers{state="idle"} `, "esb_agent_reaps_total ", "esb_agent_images_removed_total "} {
			assert.Contains(t, metrics, "\n"+name)
		}
	})

	t.Run("esb ls shows the functions", func(t *testing.T) {
		res := s.esb(ctx, t, "ls")
		require.NoError(t, res.err)
		var row string
		for l := range strings.SplitSeq(res.stdout, "\n") {
			if strings.HasPrefix(l, "OpsFunction ") {
				row = l
			}
		}
		require.NotEmpty(t, row, res.stdout)
		assert.Regexp(t, `^OpsFunction\s+python3\.13\s+128 MB\s+[0-9a-f]{12}\s+0\s+1\s+GET /ops$`, row, "warm: the container the gateway holds")
		assert.Contains(t, res.stdout, "last deploy: generation ")
		assert.Contains(t, res.stdout, ", deploy of "+filepath.Join(work, "template.yml")+", ", "from the deploy history")
	})

	t.Run("the dashboard lists functions, routes and the invocations", func(t *testing.T) {
		page := renderDashboard(ctx, t, admin("/"))
		for _, want := range []string{"OpsFunction", "/ops", "python3.13", "throttled", `<span class="cold">cold</span>`} {
			assert.Contains(t, page, want)
		}
		// The recent invocations table names the function with an outcome.
		assert.Regexp(t, `<td>OpsFunction</td><td class="bad">function</td>`, page)
		// The deploy history (CONFIG_DIR/.history) has this test's deploy
		// as the current generation, with its template and the function
		// it added.
		assert.Regexp(t, `<td>\d+ <b>\(current\)</b></td><td>[-0-9: ]+</td><td>deploy</td><td>`+regexp.QuoteMeta(filepath.Join(work, "template.yml"))+`</td><td>[^<]*OpsFunction`, page)
	})

	t.Run("the log tail shows the function's output", func(t *testing.T) {
		err := poll(ctx, time.Second, 30*time.Second, func() error {
			status, body := httpGet(ctx, t, admin("/logs/OpsFunction"))
			if status != http.StatusOK || !strings.Contains(body, "ops answered") {
				return fmt.Errorf("status %d, no 'ops answered' in %.300s", status, body)
			}
			return nil
		})
		assert.NoError(t, err)
	})
}

// renderDashboard loads url in headless Chromium (Debian's chromium
// package): the DOM it built, and a phone-sized screenshot kept in a
// directory that outlives the test, whose path is printed.
func renderDashboard(ctx context.Context, t *testing.T, url string) string {
	t.Helper()
	bin, err := exec.LookPath("chromium")
	require.NoError(t, err, "headless Chromium is needed (apt-get install chromium; scripts/setup.sh installs it)")
	// Root in CI: Chromium's own sandbox needs a user namespace it may not
	// get; the page is our own.
	base := []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--hide-scrollbars", "--no-first-run"}
	run := func(args ...string) string {
		ctx, cancel := context.WithTimeout(ctx, 90*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, bin, append(append(append([]string{}, base...), "--user-data-dir="+t.TempDir()), args...)...)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		require.NoError(t, cmd.Run(), "chromium %v: %s", args, stderr.String())
		return stdout.String()
	}
	dom := run("--dump-dom", url)
	dir, err := os.MkdirTemp("", "esb-dashboard-")
	require.NoError(t, err)
	shot := filepath.Join(dir, "dashboard.png")
	run("--screenshot="+shot, "--window-size=412,1400", url)
	data, err := os.ReadFile(shot)
	require.NoError(t, err)
	require.True(t, bytes.HasPrefix(data, []byte("\x89PNG")), "a PNG screenshot")
	t.Logf("dashboard screenshot: %s (%d bytes)", shot, len(data))
	return dom
}

// httpGet answers status and body of a GET, or fails the test.
func httpGet(ctx context.Context, t testing.TB, url string) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(body)
}

// pollMetric scrapes url until a line of it is line, for at most limit.
func pollMetric(ctx context.Context, url, line string, limit time.Duration) error {
	return poll(ctx, 100*time.Millisecond, limit, func() error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			return err
		}
		for l := range strings.SplitSeq(string(body), "\n") {
			if l == line {
				return nil
			}
		}
		return fmt.Errorf("no line %q in %s", line, url)
	})
}
