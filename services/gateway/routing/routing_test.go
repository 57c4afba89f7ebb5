package routing

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/esb-dev/esb/internal/runtimeconfig"
)

func config(routes ...runtimeconfig.Route) runtimeconfig.Config {
	cfg := runtimeconfig.Empty()
	for _, r := range routes {
		if _, ok := cfg.Functions.Functions[r.Function]; !ok {
			cfg.Functions.Functions[r.Function] = runtimeconfig.Function{Image: "img/" + r.Function}
		}
		if r.Payload == "" {
			r.Payload = runtimeconfig.PayloadV1
		}
		cfg.Routing.Routes = append(cfg.Routing.Routes, r)
	}
	return cfg
}

func route(method, path, fn string) runtimeconfig.Route {
	return runtimeconfig.Route{Method: method, Path: path, Function: fn}
}

func TestMatchPrecedence(t *testing.T) {
	table, warnings, err := Build(config(
		route("GET", "/", "Root"),
		route("GET", "/items", "ListItems"),
		route("POST", "/items", "CreateItem"),
		route("GET", "/items/{id}", "GetItem"),
		route("ANY", "/items/{id}", "AnyItem"),
		route("GET", "/items/special", "Special"),
		route("GET", "/items/{id}/parts/{part}", "GetPart"),
		route("ANY", "/files/{proxy+}", "Files"),
		route("GET", "/files/readme", "Readme"),
		route("GET", "/files/{name}", "FileByName"),
		route("ANY", "/{proxy+}", "CatchAll"),
		route("HEAD", "/head-only", "HeadOnly"),
		route("ANY", "/any-only", "AnyOnly"),
		route("GET", "/get-and-any", "GetExact"),
		route("ANY", "/get-and-any", "GetAny"),
	))
	require.NoError(t, err)
	require.Empty(t, warnings)

	tests := []struct {
		name       string
		method     string
		path       string
		wantFn     string // "" means no match
		wantParams map[string]string
	}{
		{name: "root", method: "GET", path: "/", wantFn: "Root"},
		{name: "exact literal", method: "GET", path: "/items", wantFn: "ListItems"},
		{name: "trailing slash ignored", method: "GET", path: "/items/", wantFn: "ListItems"},
		{name: "method picks among literal routes", method: "POST", path: "/items", wantFn: "CreateItem"},
		{name: "literal beats param", method: "GET", path: "/items/special", wantFn: "Special"},
		{name: "param", method: "GET", path: "/items/42", wantFn: "GetItem", wantParams: map[string]string{"id": "42"}},
		{name: "exact method beats ANY on the same path", method: "GET", path: "/items/7", wantFn: "GetItem", wantParams: map[string]string{"id": "7"}},
		{name: "ANY takes other methods", method: "DELETE", path: "/items/7", wantFn: "AnyItem", wantParams: map[string]string{"id": "7"}},
		{name: "more specific path beats exact method", method: "DELETE", path: "/items/special", wantFn: "AnyItem", wantParams: map[string]string{"id": "special"}},
		{name: "two params", method: "GET", path: "/items/1/parts/2", wantFn: "GetPart", wantParams: map[string]string{"id": "1", "part": "2"}},
		{name: "literal beats param beats greedy", method: "GET", path: "/files/readme", wantFn: "Readme"},
		{name: "param beats greedy", method: "GET", path: "/files/a.txt", wantFn: "FileByName", wantParams: map[string]string{"name": "a.txt"}},
		{name: "greedy takes the rest", method: "GET", path: "/files/a/b/c.txt", wantFn: "Files", wantParams: map[string]string{"proxy": "a/b/c.txt"}},
		{name: "greedy keeps a trailing slash", method: "PUT", path: "/files/a/b/", wantFn: "Files", wantParams: map[string]string{"proxy": "a/b/"}},
		{name: "deeper greedy beats root greedy", method: "POST", path: "/files/x", wantFn: "Files", wantParams: map[string]string{"proxy": "x"}},
		{name: "root greedy catches the rest", method: "GET", path: "/other/thing", wantFn: "CatchAll", wantParams: map[string]string{"proxy": "other/thing"}},
		{name: "wrong method on a literal path falls to a greedy ANY", method: "DELETE", path: "/items", wantFn: "CatchAll", wantParams: map[string]string{"proxy": "items"}},
		{name: "HEAD uses an exact HEAD route", method: "HEAD", path: "/head-only", wantFn: "HeadOnly"},
		{name: "HEAD falls back to GET", method: "HEAD", path: "/items", wantFn: "ListItems"},
		{name: "HEAD prefers ANY over GET", method: "HEAD", path: "/get-and-any", wantFn: "GetAny"},
		{name: "GET prefers exact over ANY", method: "GET", path: "/get-and-any", wantFn: "GetExact"},
		{name: "ANY only", method: "PATCH", path: "/any-only", wantFn: "AnyOnly"},
		{name: "empty param segment does not match", method: "GET", path: "/items//parts/2", wantFn: "CatchAll", wantParams: map[string]string{"proxy": "items//parts/2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, ok := table.Match(tt.method, tt.path)
			if tt.wantFn == "" {
				assert.False(t, ok)
				return
			}
			require.True(t, ok, "no match")
			assert.Equal(t, tt.wantFn, m.Route.Function)
			assert.Equal(t, tt.wantFn, m.Function.Name, "spec comes with the route")
			assert.Equal(t, tt.wantParams, m.Params)
		})
	}
}

func TestMatchWithoutCatchAll(t *testing.T) {
	table, _, err := Build(config(
		route("GET", "/items", "ListItems"),
		route("GET", "/files/{proxy+}", "Files"),
		route("GET", "/users/{id}", "User"),
	))
	require.NoError(t, err)
	tests := []struct {
		name, method, path string
	}{
		{name: "unknown path", method: "GET", path: "/nope"},
		{name: "wrong method on a known path", method: "POST", path: "/items"},
		{name: "greedy needs a segment", method: "GET", path: "/files"},
		{name: "greedy needs a segment after a slash", method: "GET", path: "/files/"},
		{name: "param does not span segments", method: "GET", path: "/users/1/2"},
		{name: "root", method: "GET", path: "/"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, ok := table.Match(tt.method, tt.path)
			assert.False(t, ok)
		})
	}
}

func TestRouteKeyAndStage(t *testing.T) {
	tests := []struct {
		name      string
		route     runtimeconfig.Route
		wantKey   string
		wantStage string
		probe     string
	}{
		{name: "v2 catch-all is $default and answers /", route: runtimeconfig.Route{Method: "ANY", Path: "/{proxy+}", Payload: "2.0"}, wantKey: "$default", wantStage: "$default", probe: "/"},
		{name: "v2 route", route: runtimeconfig.Route{Method: "GET", Path: "/items/{id}", Payload: "2.0"}, wantKey: "GET /items/{id}", wantStage: "$default", probe: "/items/1"},
		{name: "v1 stage default", route: runtimeconfig.Route{Method: "GET", Path: "/hello", Payload: "1.0"}, wantKey: "GET /hello", wantStage: "Prod", probe: "/hello"},
		{name: "stage from routing.yml", route: runtimeconfig.Route{Method: "GET", Path: "/hello", Payload: "1.0", Stage: "dev"}, wantKey: "GET /hello", wantStage: "dev", probe: "/hello"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.route.Function = "F"
			table, _, err := Build(config(tt.route))
			require.NoError(t, err)
			m, ok := table.Match("GET", tt.probe)
			require.True(t, ok)
			assert.Equal(t, tt.wantKey, m.Route.Key)
			assert.Equal(t, tt.wantStage, m.Route.Stage)
		})
	}
}

func TestBuildRejectsBadTemplates(t *testing.T) {
	tests := []struct {
		name string
		path string
	}{
		{name: "greedy not last", path: "/a/{proxy+}/b"},
		{name: "empty segment", path: "/a//b"},
		{name: "mixed segment", path: "/a/x{id}"},
		{name: "empty param", path: "/a/{}"},
		{name: "duplicate param", path: "/a/{id}/{id}"},
		{name: "bad param name", path: "/a/{i d}"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := Build(config(route("GET", "/ok", "F"), route("GET", tt.path, "F")))
			require.Error(t, err)
			var pe *PathError
			require.True(t, errors.As(err, &pe))
			assert.Equal(t, 1, pe.Index)
			assert.Contains(t, err.Error(), "routing.yml: routes[1].path")
		})
	}
}

func TestBuildLaterRouteWinsOverSameShape(t *testing.T) {
	table, warnings, err := Build(config(
		route("GET", "/items/{id}", "Old"),
		route("GET", "/items/{itemId}", "New"),
		route("POST", "/items/{id}", "Post"),
	))
	require.NoError(t, err)
	require.Len(t, warnings, 1)
	assert.Contains(t, warnings[0], "routes[1] GET /items/{itemId} shadows routes[0] GET /items/{id}")
	m, ok := table.Match("GET", "/items/9")
	require.True(t, ok)
	assert.Equal(t, "New", m.Route.Function)
	assert.Equal(t, map[string]string{"itemId": "9"}, m.Params)
	assert.Equal(t, 2, table.RouteCount())
}

func TestSpecAppliesDefaults(t *testing.T) {
	cfg := runtimeconfig.Empty()
	cfg.Functions.Defaults.Environment = map[string]string{"LOG_LEVEL": "INFO", "SHARED": "default"}
	cfg.Functions.Functions["B"] = runtimeconfig.Function{Image: "b", Environment: map[string]string{"SHARED": "own"}, Timeout: 10, MemorySize: 512}
	cfg.Functions.Functions["A"] = runtimeconfig.Function{Image: "a"}
	table, _, err := Build(cfg)
	require.NoError(t, err)

	specs := table.Functions()
	require.Len(t, specs, 2)
	assert.Equal(t, "A", specs[0].Name, "sorted by name")
	assert.Equal(t, map[string]string{"LOG_LEVEL": "INFO", "SHARED": "default"}, specs[0].Function.Environment)
	assert.Equal(t, DefaultTimeout, specs[0].Function.Timeout)
	assert.Equal(t, DefaultMemorySize, specs[0].Function.MemorySize)
	assert.Equal(t, map[string]string{"LOG_LEVEL": "INFO", "SHARED": "own"}, specs[1].Function.Environment, "the function's own value wins")
	assert.Equal(t, 10, specs[1].Function.Timeout)
	assert.Equal(t, map[string]string{"SHARED": "own"}, cfg.Functions.Functions["B"].Environment, "the decoded config is not modified")
}

// TestSeveralAPIs: each API answers on its own host name, with or without
// its stage in front of the path; the bare address serves every route,
// the later deploy winning where two APIs share a method and path.
func TestSeveralAPIs(t *testing.T) {
	orders := runtimeconfig.Route{Method: "GET", Path: "/items", Function: "Orders", API: "ordersapi", Stage: "v1"}
	admin := runtimeconfig.Route{Method: "GET", Path: "/items", Function: "Admin", API: "adminapi", Stage: "Prod"}
	health := runtimeconfig.Route{Method: "GET", Path: "/health", Function: "Health", API: "serverlesshttpapi", Payload: runtimeconfig.PayloadV2}
	table, warnings, err := Build(config(orders, admin, health))
	require.NoError(t, err)
	assert.Empty(t, warnings, "another API's route at the bare address is no mistake")
	assert.Equal(t, []string{"adminapi", "ordersapi", "serverlesshttpapi"}, table.APIs())

	tests := []struct {
		name       string
		api        string // "" is the bare address
		path       string
		wantFn     string
		wantPrefix string
	}{
		{name: "bare address, later route wins", path: "/items", wantFn: "Admin"},
		{name: "first API by host", api: "ordersapi", path: "/items", wantFn: "Orders"},
		{name: "first API with its stage", api: "ordersapi", path: "/v1/items", wantFn: "Orders", wantPrefix: "/v1"},
		{name: "another API's stage is no prefix", api: "ordersapi", path: "/Prod/items"},
		{name: "second API by host, case-insensitive", api: "AdminApi", path: "/Prod/items", wantFn: "Admin", wantPrefix: "/Prod"},
		{name: "$default stage has no prefix", api: "serverlesshttpapi", path: "/health", wantFn: "Health"},
		{name: "route of another API", api: "serverlesshttpapi", path: "/items"},
		{name: "unknown API", api: "nope", path: "/items"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var m Match
			var prefix string
			var ok bool
			if tt.api == "" {
				m, ok = table.Match("GET", tt.path)
			} else {
				m, prefix, ok = table.MatchAPI(tt.api, "GET", tt.path)
			}
			if tt.wantFn == "" {
				assert.False(t, ok)
				return
			}
			require.True(t, ok)
			assert.Equal(t, tt.wantFn, m.Route.Function)
			assert.Equal(t, tt.wantPrefix, prefix)
		})
	}
}

func TestAPIFromHost(t *testing.T) {
	tests := []struct {
		host   string
		want   string
		wantOK bool
	}{
		{host: "ordersapi.execute-api.localhost:5000", want: "ordersapi", wantOK: true},
		{host: "OrdersApi.execute-api.us-east-1.amazonaws.com", want: "ordersapi", wantOK: true},
		{host: "127.0.0.1:5000"},
		{host: "localhost"},
		{host: ".execute-api.localhost"},
	}
	for _, tt := range tests {
		t.Run(tt.host, func(t *testing.T) {
			got, ok := APIFromHost(tt.host)
			assert.Equal(t, tt.wantOK, ok)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestFunctionURLs(t *testing.T) {
	cfg := config(route("GET", "/hello", "Hello"))
	u := &runtimeconfig.FunctionURL{ID: "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", AuthType: runtimeconfig.URLAuthIAM}
	cfg.Functions.Functions["Signed"] = runtimeconfig.Function{Image: "img/signed", URL: u}
	table, _, err := Build(cfg)
	require.NoError(t, err)
	assert.Equal(t, 1, table.URLCount())
	got, ok := table.URL(u.ID)
	require.True(t, ok)
	assert.Same(t, u, got.Config)
	assert.Equal(t, "Signed", got.Function.Name)
	assert.Equal(t, DefaultTimeout, got.Function.Function.Timeout, "the spec the agent runs, defaults filled in")
	_, ok = table.URL("bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb")
	assert.False(t, ok)
}

func TestAPIKey(t *testing.T) {
	orders := runtimeconfig.Route{Method: "GET", Path: "/items", Function: "Orders", API: "ordersapi", Stage: "v1"}
	admin := runtimeconfig.Route{Method: "GET", Path: "/admin", Function: "Admin", API: "adminapi", Stage: "Prod"}
	cfg := config(orders, admin)
	cfg.Routing.APIKeys = []runtimeconfig.APIKey{
		{Name: "all", Value: "key-for-every-api-000", Enabled: true},
		{Name: "orders", Value: "key-for-orders-v1-000", Enabled: true, Stages: []runtimeconfig.APIStage{{API: "OrdersApi", Stage: "v1"}}},
		{Name: "off", Value: "key-that-is-disabled0"},
	}
	table, _, err := Build(cfg)
	require.NoError(t, err)
	o, ok := table.Match("GET", "/items")
	require.True(t, ok)
	a, ok := table.Match("GET", "/admin")
	require.True(t, ok)
	assert.True(t, table.APIKey("key-for-every-api-000", o.Route))
	assert.True(t, table.APIKey("key-for-every-api-000", a.Route))
	assert.True(t, table.APIKey("key-for-orders-v1-000", o.Route))
	assert.False(t, table.APIKey("key-for-orders-v1-000", a.Route), "a key tied to another API")
	assert.False(t, table.APIKey("key-that-is-disabled0", o.Route), "a disabled key")
	assert.False(t, table.APIKey("", o.Route))
	assert.False(t, table.APIKey("key-for-every-api-00", o.Route), "a prefix of a key")
}

// A route's integration timeout is routing.yml's timeout_ms, else API
// Gateway's default for its API kind (29 s REST, 30 s HTTP API); a file
// written before routes had a kind gets the kind its payload implies.
func TestIntegrationTimeout(t *testing.T) {
	tests := []struct {
		name     string
		route    runtimeconfig.Route
		wantKind string
		want     time.Duration
	}{
		{name: "REST default", route: runtimeconfig.Route{Payload: "1.0", Kind: "rest"}, wantKind: "rest", want: 29 * time.Second},
		{name: "HTTP API default", route: runtimeconfig.Route{Payload: "2.0", Kind: "http"}, wantKind: "http", want: 30 * time.Second},
		{name: "HTTP API with payload 1.0", route: runtimeconfig.Route{Payload: "1.0", Kind: "http"}, wantKind: "http", want: 30 * time.Second},
		{name: "set by the template", route: runtimeconfig.Route{Payload: "1.0", Kind: "rest", TimeoutMillis: 1500}, wantKind: "rest", want: 1500 * time.Millisecond},
		{name: "no kind, payload 1.0", route: runtimeconfig.Route{Payload: "1.0"}, wantKind: "rest", want: 29 * time.Second},
		{name: "no kind, payload 2.0", route: runtimeconfig.Route{Payload: "2.0"}, wantKind: "http", want: 30 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.route.Function, tt.route.Method, tt.route.Path = "F", "GET", "/x"
			table, _, err := Build(config(tt.route))
			require.NoError(t, err)
			m, ok := table.Match("GET", "/x")
			require.True(t, ok)
			assert.Equal(t, tt.wantKind, m.Route.Kind)
			assert.Equal(t, tt.want, m.Route.IntegrationTimeout)
		})
	}
}
