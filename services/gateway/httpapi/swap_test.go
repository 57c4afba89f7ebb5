package httpapi

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestRequestsDuringSwapsSeeOneGeneration swaps between two configs while
// requests run (go test -race). Generation A routes /r with payload 1.0,
// stage A, to a function whose spec carries TAG=A; generation B uses 2.0,
// stage B, TAG=B. Every answer must be all A or all B: route, event format
// and function spec from the same generation.
func TestRequestsDuringSwapsSeeOneGeneration(t *testing.T) {
	config := func(tag, payload string) (string, string) {
		fns := fmt.Sprintf("functions:\n  F: {image: img/f, environment: {TAG: %s}}\n", tag)
		routes := fmt.Sprintf("routes:\n  - {path: /r, method: GET, function: F, payload: %q, stage: %s}\n", payload, tag)
		return fns, routes
	}
	fnsA, routesA := config("A", "1.0")
	fnsB, routesB := config("B", "2.0")
	h := newHarness(t, fnsA, routesA, harnessOptions{})
	h.function("F", func(w http.ResponseWriter, r *http.Request) {
		raw, _ := io.ReadAll(r.Body)
		var ev struct {
			Version        string `json:"version"`
			RequestContext struct {
				Stage string `json:"stage"`
			} `json:"requestContext"`
		}
		_ = json.Unmarshal(raw, &ev)
		if ev.Version == "" {
			ev.Version = "1.0"
		}
		body := r.Header.Get("X-Test-Tag") + "|" + ev.RequestContext.Stage + "|" + ev.Version
		resp, _ := json.Marshal(map[string]any{"statusCode": 200, "body": body})
		_, _ = w.Write(resp)
	})

	const clients, perClient = 4, 50
	var done atomic.Bool
	var swaps atomic.Int64
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := 0; !done.Load(); i++ {
			var err error
			if i%2 == 0 {
				_, err = h.tryApply(fnsB, routesB)
			} else {
				_, err = h.tryApply(fnsA, routesA)
			}
			assert.NoError(t, err)
			swaps.Add(1)
		}
	})
	var mu sync.Mutex
	seen := map[string]int{}
	var clientsWG sync.WaitGroup
	for range clients {
		clientsWG.Go(func() {
			for range perClient {
				resp, body, err := h.tryDo(t.Context(), "GET", "/r", nil, nil)
				if !assert.NoError(t, err) {
					return
				}
				assert.Equal(t, 200, resp.StatusCode)
				mu.Lock()
				seen[body]++
				mu.Unlock()
			}
		})
	}
	clientsWG.Wait()
	done.Store(true)
	wg.Wait()

	for body := range seen {
		assert.Contains(t, []string{"A|A|1.0", "B|B|2.0"}, body, "a request mixed two generations")
	}
	t.Logf("%d swaps during %d requests: %v", swaps.Load(), clients*perClient, seen)
}
