package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/esb-dev/esb/internal/adminapi"
)

func TestPrintLs(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	st := adminapi.Status{
		Generation: 3,
		Functions: []adminapi.Function{
			{Name: "Hello", Runtime: "python3.13", MemoryMB: 128, Digest: "sha256:0123456789abcdef", Routes: []string{"GET /hello"}, Busy: 1, Warm: 2},
			{Name: "Worker", MemoryMB: 512},
		},
		Routes:  []adminapi.Route{{Method: "GET", Path: "/hello", Function: "Hello"}},
		Deploys: []adminapi.Deploy{{Generation: 3, At: now.Add(-90 * time.Second), Added: []string{"Worker"}, Changed: []string{"Hello"}}},
	}
	var out bytes.Buffer
	require.NoError(t, printLs(&out, statusLayout(t), st, now))
	assert.Equal(t, `env dev: config generation 3, 2 functions, 1 routes
FUNCTION  RUNTIME     MEMORY  DIGEST        BUSY  WARM  ROUTES
Hello     python3.13  128 MB  0123456789ab  1     2     GET /hello
Worker    image       512 MB  -             0     0     -
last deploy: generation 3, 1m30s ago (added Worker; changed Hello)
`, out.String())

	st.History = []adminapi.Generation{{Number: 5, At: now.Add(-time.Hour), Action: "rollback to 4", Template: "/src/a.yml", Changed: []string{"Hello"}, Removed: []string{"Worker"}}}
	out.Reset()
	require.NoError(t, printLs(&out, statusLayout(t), st, now))
	assert.Contains(t, out.String(), "\nlast deploy: generation 5, rollback to 4 of /src/a.yml, 1h0m0s ago (changed Hello; removed Worker)\n",
		"the deploy history first")

	out.Reset()
	require.NoError(t, printLs(&out, statusLayout(t), adminapi.Status{Generation: 1}, now))
	assert.Contains(t, out.String(), "last deploy: none since the gateway started")

	// The agent's answer on the live generation's warm containers shows
	// when it is not a plain yes.
	for _, c := range []struct {
		sync adminapi.AgentSync
		want string
	}{
		{adminapi.AgentSync{Generation: 3, State: adminapi.AgentRefused, Problem: "function Hello: min_warm 9 x 128 MB = 1152 MB exceeds the node's memory for functions (1024 MB, ESB_FUNCTION_MEMORY)"},
			"\nwarning: the agent refused generation 3's warm containers and keeps the previous ones: function Hello: min_warm 9 x 128 MB"},
		{adminapi.AgentSync{Generation: 3, State: adminapi.AgentPending, Problem: "connection refused"}, "\nnote: the agent has not taken generation 3 yet (connection refused)\n"},
		{adminapi.AgentSync{Generation: 3, State: adminapi.AgentApplied}, ""},
		{adminapi.AgentSync{Generation: 2, State: adminapi.AgentRefused, Problem: "old"}, ""},
	} {
		st.AgentSync = &c.sync
		out.Reset()
		require.NoError(t, printLs(&out, statusLayout(t), st, now))
		if c.want == "" {
			assert.NotContains(t, out.String(), "agent", "%+v", c.sync)
		} else {
			assert.Contains(t, out.String(), c.want)
		}
	}
}

// esb ls reads the admin listener at the env's PORT_ADMIN on loopback.
func TestLsReadsTheAdminListener(t *testing.T) {
	// An env's PORT_ADMIN is its default plus a multiple of 100: take the
	// first free one of those.
	var ln net.Listener
	offset := 30000
	for ; offset <= 60000; offset += 100 {
		var err error
		if ln, err = net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(5060+offset)); err == nil {
			break
		}
	}
	require.NotNil(t, ln, "no free port for a stand-in admin listener")
	srv := &httptest.Server{Listener: ln, Config: &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		assert.Equal(t, adminapi.StatusPath, r.URL.Path)
		_ = json.NewEncoder(w).Encode(adminapi.Status{Generation: 7, Functions: []adminapi.Function{{Name: "Hello", Runtime: "nodejs22.x", MemoryMB: 128}}})
	})}}
	srv.Start()
	t.Cleanup(srv.Close)

	var stdout, stderr bytes.Buffer
	c := &cli{stdout: &stdout, stderr: &stderr, lookupEnv: func(k string) (string, bool) {
		if k == "HOME" {
			return t.TempDir(), true
		}
		return "", false
	}, workdir: t.TempDir(), uid: -1, gid: -1}
	code := run(context.Background(), c, []string{"ls", "-e", "dev", "--port-offset", strconv.Itoa(offset)})
	require.Equal(t, 0, code, stderr.String())
	assert.Contains(t, stdout.String(), "config generation 7, 1 functions")
	assert.Contains(t, stdout.String(), "Hello     nodejs22.x")

	srv.Close()
	stdout.Reset()
	code = run(context.Background(), c, []string{"ls", "-e", "dev", "--port-offset", strconv.Itoa(offset)})
	assert.Equal(t, 1, code)
	assert.Contains(t, stderr.String(), "is it up? esb status -e dev")
}
