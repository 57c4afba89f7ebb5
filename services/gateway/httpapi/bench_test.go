package httpapi

import (
	"bytes"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/esb-dev/esb/internal/agentapi"
	"github.com/esb-dev/esb/services/gateway/lambdainvoke"
)

// BenchmarkWarmInvoke compares one warm invocation sent straight to a
// function's RIE endpoint with the same request through the whole gateway:
// route match, event build, lease, invoke, response mapping, access log
// (JSON, discarded). The gateway runs two ways, both with the fake agent
// over HTTP: leases held between invocations as in production
// (Invoker.Run: a warm call costs no agent hop and reuses the lease's
// connection to the container), and every lease returned (two more hops,
// acquire and release, and a new connection per call). Both run
// interleaved with direct in one loop, so they see the same machine state;
// the figures to read are the ratios to direct.
func BenchmarkWarmInvoke(b *testing.B) {
	quiet := slog.New(slog.NewJSONHandler(io.Discard, nil))
	h := newHarness(b, functionsYML, routingYML, harnessOptions{server: Options{Logger: quiet}})
	reply := []byte(`{"statusCode":200,"headers":{"Content-Type":"text/plain"},"body":"hello"}`)
	h.function("Hello", func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		_, _ = w.Write(reply)
	})
	client := h.http.Client()
	direct := h.container.URL + "/fn/Hello/-" + agentapi.Invocations
	holding := lambdainvoke.New(h.agent.Client(), lambdainvoke.Options{})
	go func() { _ = holding.Run(b.Context()) }()
	heldHTTP := httptest.NewServer(New(b.Context(), h.gens, holding, Options{Logger: quiet}).Handler())
	b.Cleanup(heldHTTP.Close)
	event := []byte(`{"resource":"/hello","path":"/hello","httpMethod":"GET","headers":{"Host":"localhost"},"body":null,"isBase64Encoded":false}`)
	call := func(req *http.Request) {
		resp, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			b.Fatalf("status %d", resp.StatusCode)
		}
	}
	var directTime, heldTime, gatewayTime time.Duration
	b.ResetTimer()
	for b.Loop() {
		req, _ := http.NewRequest(http.MethodPost, direct, bytes.NewReader(event))
		start := time.Now()
		call(req)
		directTime += time.Since(start)

		req, _ = http.NewRequest(http.MethodGet, heldHTTP.URL+"/hello", nil)
		start = time.Now()
		call(req)
		heldTime += time.Since(start)

		req, _ = http.NewRequest(http.MethodGet, h.http.URL+"/hello", nil)
		start = time.Now()
		call(req)
		gatewayTime += time.Since(start)
		for len(h.agent.Releases()) > 0 {
			<-h.agent.Releases() // the fake records every release; keep its buffer from filling
		}
		for len(h.agent.Acquires()) > 0 {
			<-h.agent.Acquires()
		}
	}
	n := float64(b.N)
	b.ReportMetric(float64(directTime.Nanoseconds())/n, "direct-ns/op")
	b.ReportMetric(float64(heldTime.Nanoseconds())/n, "gw-held-lease-ns/op")
	b.ReportMetric(float64(gatewayTime.Nanoseconds())/n, "gw-http-agent-ns/op")
	b.ReportMetric(float64(heldTime)/float64(directTime), "held-lease/direct")
	b.ReportMetric(float64(gatewayTime)/float64(directTime), "http-agent/direct")
}
