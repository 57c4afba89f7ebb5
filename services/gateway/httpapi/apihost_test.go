package httpapi

import (
	"encoding/json"
	"io"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestAPIByHost: with two APIs that share a route, a client picks one by
// its host name, with or without its stage in front of the path; the
// function sees the API's id and, for a REST API, the path without the
// stage.
func TestAPIByHost(t *testing.T) {
	const fns = `
functions:
  Orders: {image: img/orders}
  Admin: {image: img/admin}
`
	const routes = `
routes:
  - {path: /items, method: GET, function: Orders, payload: "1.0", stage: v1, api: ordersapi}
  - {path: /items, method: GET, function: Admin, payload: "1.0", stage: Prod, api: adminapi}
`
	h := newHarness(t, fns, routes, harnessOptions{})
	h.function("Orders", echoEventV1)
	h.function("Admin", echoEventV1)
	tests := []struct {
		name        string
		host        string
		path        string
		wantStatus  int
		wantAPI     string
		wantPath    string
		wantCtxPath string
	}{
		{name: "bare address: the later deploy", path: "/items", wantStatus: 200, wantAPI: "adminapi", wantPath: "/items", wantCtxPath: "/items"},
		{name: "orders by host", host: "ordersapi.execute-api.localhost", path: "/items", wantStatus: 200, wantAPI: "ordersapi", wantPath: "/items", wantCtxPath: "/items"},
		{name: "orders by host and stage", host: "ordersapi.execute-api.localhost:5000", path: "/v1/items", wantStatus: 200, wantAPI: "ordersapi", wantPath: "/items", wantCtxPath: "/v1/items"},
		{name: "admin by its AWS-style host", host: "adminapi.execute-api.us-east-1.amazonaws.com", path: "/Prod/items", wantStatus: 200, wantAPI: "adminapi", wantPath: "/items", wantCtxPath: "/Prod/items"},
		{name: "unknown API", host: "nope.execute-api.localhost", path: "/items", wantStatus: 404},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequestWithContext(t.Context(), "GET", h.http.URL+tt.path, nil)
			require.NoError(t, err)
			if tt.host != "" {
				req.Host = tt.host
			}
			resp, err := h.http.Client().Do(req)
			require.NoError(t, err)
			defer resp.Body.Close()
			data, err := io.ReadAll(resp.Body)
			require.NoError(t, err)
			require.Equal(t, tt.wantStatus, resp.StatusCode, "body: %s", data)
			if tt.wantStatus != 200 {
				return
			}
			var ev map[string]any
			require.NoError(t, json.Unmarshal(data, &ev))
			rc := ev["requestContext"].(map[string]any)
			assert.Equal(t, tt.wantAPI, rc["apiId"])
			assert.Equal(t, tt.wantPath, ev["path"])
			assert.Equal(t, tt.wantCtxPath, rc["path"])
		})
	}
}
