//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/stretchr/testify/require"

	"github.com/esb-dev/esb/internal/agentapi"
)

// benchEvent is the payload 2.0 event the gateway builds for GET /bench,
// posted as is to the function's RIE by the direct case, so both cases
// hand the function the same bytes.
const benchEvent = `{"version":"2.0","routeKey":"GET /bench","rawPath":"/bench","rawQueryString":"",` +
	`"headers":{"accept-encoding":"gzip","host":"127.0.0.1:5700","user-agent":"Go-http-client/1.1","x-amzn-trace-id":"Root=1-00000000-000000000000000000000000","x-forwarded-for":"127.0.0.1","x-forwarded-port":"5700","x-forwarded-proto":"http"},` +
	`"requestContext":{"accountId":"123456789012","apiId":"esbdpbench","domainName":"127.0.0.1","domainPrefix":"127","http":{"method":"GET","path":"/bench","protocol":"HTTP/1.1","sourceIp":"127.0.0.1","userAgent":"Go-http-client/1.1"},` +
	`"requestId":"00000000-0000-4000-8000-000000000000","routeKey":"GET /bench","stage":"$default","time":"01/Jan/2026:00:00:00 +0000","timeEpoch":1767225600000},` +
	`"isBase64Encoded":false}`

// BenchmarkWarmInvoke measures one warm invocation of a trivial Python
// function two ways in one env: "direct" posts the event straight to the
// function container's RIE (its IP on the platform network), "gateway"
// sends GET /bench through the gateway's published port (route match,
// event, agent lease, RIE, lease release, response mapping).
// "gateway_container_ip" is the gateway path without Docker's port
// publishing in front. The ratio to direct is reported as the x-direct
// metric of the other two cases and logged; the data plane target for
// gateway/direct is <= 1.15x. Run with `just bench-e2e`.
func BenchmarkWarmInvoke(b *testing.B) {
	s := newStack(b, "dpbench", 700)
	docker := dockerClient(b)
	b.Cleanup(func() { removeEnvLeftovers(b, docker, s) }) // runs after the env is down
	s.up(b)
	ctx := b.Context()

	work := b.TempDir()
	copyTree(b, filepath.Join("testdata", "dataplane"), work)
	res := s.esb(ctx, b, "deploy", "-t", filepath.Join(work, "bench.yml"))
	require.NoError(b, res.err)
	gateway := s.url("PORT_GATEWAY", "/bench")
	require.NoError(b, waitHTTP(ctx, gateway, http.StatusOK, time.Second))

	hc := &http.Client{Transport: &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 4}}
	b.Cleanup(hc.CloseIdleConnections)
	// Warm: sequential requests keep exactly one container busy.
	for range 50 {
		benchCall(b, hc, http.MethodGet, gateway, "", "ok")
	}

	network := s.layout.Env.Project() + "_platform"
	list, err := docker.ContainerList(ctx, container.ListOptions{Filters: functionFilter(s, "BenchFunction")})
	require.NoError(b, err)
	require.Len(b, list, 1, "sequential requests should keep one warm container")
	fn, err := docker.ContainerInspect(ctx, list[0].ID)
	require.NoError(b, err)
	ep, ok := fn.NetworkSettings.Networks[network]
	require.True(b, ok && ep.IPAddress != "", "function container not on %s", network)
	direct := "http://" + ep.IPAddress + ":8080" + agentapi.Invocations
	gw := gatewayContainer(ctx, b, docker, s)
	gwEP, ok := gw.NetworkSettings.Networks[network]
	require.True(b, ok && gwEP.IPAddress != "", "gateway container not on %s", network)
	gatewayIP := "http://" + gwEP.IPAddress + ":8080/bench"

	cases := []struct {
		name, method, url, body, want string
	}{
		{name: "direct", method: http.MethodPost, url: direct, body: benchEvent, want: `"ok"`},
		{name: "gateway", method: http.MethodGet, url: gateway, want: `ok`},
		{name: "gateway_container_ip", method: http.MethodGet, url: gatewayIP, want: `ok`},
	}
	perOp := map[string]time.Duration{}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			benchCall(b, hc, c.method, c.url, c.body, c.want) // a fresh connection is not what is measured
			for b.Loop() {
				benchCall(b, hc, c.method, c.url, c.body, c.want)
			}
			perOp[c.name] = b.Elapsed() / time.Duration(b.N)
			if d := perOp["direct"]; c.name != "direct" && d > 0 {
				// The ratio as a metric too: a parent benchmark's log only
				// shows with -v.
				b.ReportMetric(float64(perOp[c.name])/float64(d), "x-direct")
			}
		})
	}
	if perOp["direct"] > 0 {
		d := float64(perOp["direct"])
		b.Logf("warm invoke: direct %s/op, gateway %s/op, gateway via container IP %s/op", perOp["direct"], perOp["gateway"], perOp["gateway_container_ip"])
		b.Logf("warm invoke ratio gateway/direct = %.3fx (target <= 1.15x); gateway_container_ip/direct = %.3fx",
			float64(perOp["gateway"])/d, float64(perOp["gateway_container_ip"])/d)
	}
}

// benchCall sends one request and checks the answer.
func benchCall(b *testing.B, hc *http.Client, method, url, body, want string) {
	var r io.Reader
	if body != "" {
		r = bytes.NewReader([]byte(body))
	}
	req, err := http.NewRequestWithContext(context.Background(), method, url, r)
	if err != nil {
		b.Fatal(err)
	}
	resp, err := hc.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	got, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		b.Fatal(err)
	}
	// want is the body through the gateway; direct, it is a string in the
	// function's raw result.
	if resp.StatusCode != http.StatusOK || !bytes.Contains(got, []byte(want)) {
		b.Fatalf("%s %s: %d %s, want 200 with %s", method, url, resp.StatusCode, got, want)
	}
}
