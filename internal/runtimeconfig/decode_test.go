package runtimeconfig

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func readFixture(t *testing.T, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", path))
	require.NoError(t, err)
	return data
}

func TestLoadValidKeepsUnknownFields(t *testing.T) {
	cfg, err := Load(filepath.Join("testdata", "valid"))
	require.NoError(t, err)

	fns := cfg.Functions
	require.Contains(t, fns.Functions, "HelloFunction")
	hello := fns.Functions["HelloFunction"]
	assert.Equal(t, "127.0.0.1:5010/esb-dev/hellofunction:latest", hello.Image)
	assert.Equal(t, 3, hello.Timeout)
	assert.Equal(t, 128, hello.MemorySize)
	assert.Equal(t, map[string]string{"TABLE": "items"}, hello.Environment)
	assert.Equal(t, Scaling{MaxConcurrency: 10, IdleTimeout: 300, Extra: map[string]any{"x_burst": 4}}, hello.Scaling)
	assert.Equal(t, map[string]any{"x_snapstart": true}, hello.Extra)
	assert.Equal(t, map[string]any{"version": 2}, fns.Extra)
	assert.Equal(t, map[string]any{"x_tracing": map[string]any{"enabled": true}}, fns.Defaults.Extra)

	require.Len(t, cfg.Routing.Routes, 2)
	assert.Equal(t, Route{Path: "/items/{id}", Method: "ANY", Function: "ItemsFunction", Payload: "2.0",
		Extra: map[string]any{"x_authorizer": "jwt"}}, cfg.Routing.Routes[1])
	assert.Equal(t, map[string]any{"allow_origins": []any{"*"}}, cfg.Routing.Extra["x_cors"])

	res := cfg.Resources.Resources
	require.Len(t, res.DynamoDB, 1)
	assert.Equal(t, map[string]any{"SSESpecification": map[string]any{"SSEEnabled": true}}, res.DynamoDB[0].Extra)
	assert.Equal(t, []KeySchemaElement{{AttributeName: "id", KeyType: "HASH"}}, res.DynamoDB[0].KeySchema)
	assert.Equal(t, []S3Bucket{{BucketName: "uploads"}}, res.S3)
	assert.Equal(t, []Layer{{Name: "common", ContentURI: "layers/common"}}, res.Layers)
	assert.Equal(t, map[string]any{"queues": []any{map[string]any{"QueueName": "jobs"}}}, res.Extra)
}

func TestEmptyDirIsAnError(t *testing.T) {
	_, err := Load("")
	assert.ErrorContains(t, err, "config dir is empty")
	_, err = MergeInto(t.Context(), "", Empty(), MergeOptions{})
	assert.ErrorContains(t, err, "config dir is empty")
	_, err = Seed(t.Context(), "", "", SeedOptions{})
	assert.ErrorContains(t, err, "config dir is empty")
}

func TestLoadMissingFile(t *testing.T) {
	dir := t.TempDir()
	copyFixture(t, "valid", dir)
	require.NoError(t, os.Remove(filepath.Join(dir, RoutingFileName)))

	_, err := Load(dir)
	require.Error(t, err)
	assert.ErrorIs(t, err, fs.ErrNotExist)
	assert.Contains(t, err.Error(), RoutingFileName)
}

// errorLines splits a joined error into its lines, the form users read.
func errorLines(err error) []string {
	if err == nil {
		return nil
	}
	return strings.Split(err.Error(), "\n")
}

func TestDecodeErrors(t *testing.T) {
	tests := []struct {
		name      string
		functions string // fixture under testdata, "valid/functions.yml" when empty
		routing   string
		resources string
		want      []string
	}{
		{
			name:      "invalid functions",
			functions: "invalid/functions.yml",
			routing:   "seed/empty/routing.yml",
			want: []string{
				"functions.yml:10:15: functions.Bad.scaling.max_concurrency: must be >= 0, got -2",
				"functions.yml:6:5: functions.Negative.timeout: must be >= 0, got -1",
				"functions.yml:7:5: functions.Negative.memory_size: must be >= 0, got -128",
				"functions.yml:2:3: functions.NoImage.image: must not be empty",
			},
		},
		{
			name:    "invalid routes, checked against functions.yml",
			routing: "invalid/routing.yml",
			want: []string{
				`routing.yml:6:5: routes[1].path: must start with "/", got "no-slash"`,
				`routing.yml:9:5: routes[1].payload: unsupported payload "3.0" (want "1.0" or "2.0")`,
				`routing.yml:10:5: routes[2]: duplicate route GET /hello (first at routes[0])`,
				`routing.yml:12:5: routes[3].method: unsupported method "FETCH"`,
				`routing.yml:13:5: routes[3].function: unknown function "Missing" (not in functions.yml)`,
				`routing.yml:16:5: routes[4].method: unsupported method "get"`,
				`routing.yml:15:5: routes[4].function: must not be empty`,
				`routing.yml:18:73: routes[5].kind: unknown API kind "websocket" (want "rest" or "http")`,
				`routing.yml:19:93: routes[6].timeout_ms: 30001 is out of range [50, 30000] (HTTP API)`,
				`routing.yml:20:82: routes[7].timeout_ms: 49 is out of range [50, 900000] (REST API)`,
			},
		},
		{
			name:      "invalid resources",
			resources: "invalid/resources.yml",
			want: []string{
				"resources.yml:3:7: resources.dynamodb[0].TableName: must not be empty",
				"resources.yml:4:7: resources.dynamodb[0].KeySchema: must not be empty",
				`resources.yml:7:7: resources.dynamodb[2]: duplicate table "items" (first at resources.dynamodb[1])`,
				"resources.yml:10:7: resources.s3[0].BucketName: must not be empty",
				"resources.yml:12:7: resources.layers[0].Name: must not be empty",
			},
		},
		{
			name:      "every file at fault at once",
			functions: "invalid/functions.yml",
			routing:   "malformed/twodocs.yml",
			resources: "malformed/toplevel.yml",
			want: []string{
				"functions.yml:10:15: functions.Bad.scaling.max_concurrency: must be >= 0, got -2",
				"functions.yml:6:5: functions.Negative.timeout: must be >= 0, got -1",
				"functions.yml:7:5: functions.Negative.memory_size: must be >= 0, got -128",
				"functions.yml:2:3: functions.NoImage.image: must not be empty",
				"routing.yml:2:1: more than one YAML document",
				"resources.yml:1:1: top level must be a mapping",
			},
		},
		{
			name:      "syntax error",
			functions: "malformed/syntax.yml",
			want:      []string{"functions.yml:3: invalid YAML: found character that cannot start any token"},
		},
		{
			name:      "value of the wrong type",
			functions: "malformed/type.yml",
			want:      []string{"functions.yml:4: cannot unmarshal !!str `abc` into int"},
		},
		{
			name:      "duplicate key",
			functions: "malformed/dupkey.yml",
			want:      []string{`functions.yml:3: mapping key "A" already defined at line 2`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			or := func(path, name string) []byte {
				if path == "" {
					path = filepath.Join("valid", name)
				}
				return readFixture(t, path)
			}
			cfg, err := Decode(Files{
				Functions: or(tt.functions, FunctionsFileName),
				Routing:   or(tt.routing, RoutingFileName),
				Resources: or(tt.resources, ResourcesFileName),
			})
			require.Error(t, err)
			assert.Equal(t, tt.want, errorLines(err))
			assert.Equal(t, Config{}, cfg)
			var fe *FieldError
			assert.True(t, errors.As(err, &fe), "every problem is a *FieldError")
		})
	}
}

func TestLoadReportsFieldError(t *testing.T) {
	dir := t.TempDir()
	copyFixture(t, "valid", dir)
	require.NoError(t, os.WriteFile(filepath.Join(dir, RoutingFileName), readFixture(t, "invalid/routing.yml"), 0o644))

	_, err := Load(dir)
	require.Error(t, err)
	var fe *FieldError
	require.True(t, errors.As(err, &fe))
	assert.Equal(t, &FieldError{File: RoutingFileName, Line: 6, Column: 5, Field: "routes[1].path", Msg: `must start with "/", got "no-slash"`}, fe)
	assert.Contains(t, errorLines(err), `routing.yml:12:5: routes[3].method: unsupported method "FETCH"`)
}

func TestDecodeEmptyForms(t *testing.T) {
	tests := []struct {
		name      string
		functions string
		routing   string
		resources string
	}{
		{name: "empty files"},
		{name: "canonical empty forms", functions: "functions: {}\n", routing: "routes: []\n", resources: "resources: {}\n"},
		{name: "null values", functions: "functions:\n", routing: "routes: ~\n", resources: "resources: null\n"},
		{name: "null documents", functions: "~\n", routing: "null\n", resources: "---\n"},
		{name: "comments only", functions: "# nothing deployed\n", routing: "# none\n", resources: "\n\n"},
		{name: "defaults without functions", functions: "defaults: {}\nfunctions:\n", routing: "routes: []\n", resources: "resources: {}\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := Decode(Files{Functions: []byte(tt.functions), Routing: []byte(tt.routing), Resources: []byte(tt.resources)})
			require.NoError(t, err)
			assert.Equal(t, Empty(), cfg)
		})
	}
}

func TestDecodePerFile(t *testing.T) {
	fns, err := DecodeFunctions(readFixture(t, "valid/functions.yml"))
	require.NoError(t, err)
	assert.Len(t, fns.Functions, 2)

	// Alone, routing.yml cannot know which functions exist.
	routes, err := DecodeRouting([]byte("routes:\n  - {path: /x, method: GET, function: Elsewhere, payload: \"1.0\"}\n"))
	require.NoError(t, err)
	assert.Equal(t, []Route{route("/x", "GET", "Elsewhere")}, routes.Routes)

	_, err = DecodeRouting(readFixture(t, "invalid/routing.yml"))
	assert.Contains(t, errorLines(err), `routing.yml:12:5: routes[3].method: unsupported method "FETCH"`)

	res, err := DecodeResources(readFixture(t, "valid/resources.yml"))
	require.NoError(t, err)
	assert.Len(t, res.Resources.DynamoDB, 1)

	_, err = DecodeResources(readFixture(t, "invalid/resources.yml"))
	assert.Contains(t, errorLines(err), "resources.yml:10:7: resources.s3[0].BucketName: must not be empty")

	_, err = DecodeFunctions(readFixture(t, "malformed/type.yml"))
	assert.Equal(t, []string{"functions.yml:4: cannot unmarshal !!str `abc` into int"}, errorLines(err))
}

func TestValidateInMemory(t *testing.T) {
	tests := []struct {
		name string
		zero bool // start from Config{} instead of Empty()
		cfg  func(c *Config)
		want []string
	}{
		{
			name: "zero config is valid",
			zero: true,
			cfg:  func(*Config) {},
		},
		{
			name: "zero config still checks route functions",
			zero: true,
			cfg:  func(c *Config) { c.Routing.Routes = []Route{route("/a", "GET", "A")} },
			want: []string{`routing.yml: routes[0].function: unknown function "A" (not in functions.yml)`},
		},
		{
			name: "valid",
			cfg: func(c *Config) {
				c.Functions.Functions["A"] = fn("a")
				c.Routing.Routes = append(c.Routing.Routes, route("/a", "GET", "A"))
			},
		},
		{
			name: "no lines without a source",
			cfg: func(c *Config) {
				c.Routing.Routes = append(c.Routing.Routes, route("/a", "GET", "A"))
			},
			want: []string{`routing.yml: routes[0].function: unknown function "A" (not in functions.yml)`},
		},
		{
			name: "odd function names are quoted",
			cfg:  func(c *Config) { c.Functions.Functions["a.b"] = Function{} },
			want: []string{
				`functions.yml: functions["a.b"].image: must not be empty`,
				`functions.yml: functions["a.b"]: function name "a.b": want 1 to 64 letters, digits, '-' or '_'`,
			},
		},
		{
			name: "Lambda's bounds",
			cfg: func(c *Config) {
				c.Functions.Functions["F"] = Function{Image: "x", MemorySize: 64, Timeout: 901, EphemeralStorage: 100, Environment: map[string]string{
					"OK_1": "v", "1BAD": "v", "BAD-NAME": "v", "BIG": strings.Repeat("x", 4096),
				}}
				c.Functions.Functions[strings.Repeat("n", 65)] = fn("x")
			},
			want: []string{
				`functions.yml: functions.F.memory_size: must be 128 to 10240 MB, got 64`,
				`functions.yml: functions.F.ephemeral_storage: must be 512 to 10240 MB, got 100`,
				`functions.yml: functions.F.timeout: must be at most 900 seconds, got 901`,
				`functions.yml: functions.F.environment.1BAD: variable name "1BAD": want a letter or '_', then letters, digits or '_'`,
				`functions.yml: functions.F.environment.BAD-NAME: variable name "BAD-NAME": want a letter or '_', then letters, digits or '_'`,
				`functions.yml: functions.F.environment: variables take 4118 bytes, more than Lambda's 4096`,
				`functions.yml: functions.nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn: function name "nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn": want 1 to 64 letters, digits, '-' or '_'`,
			},
		},
		{
			name: "scaling bounds",
			cfg: func(c *Config) {
				c.Functions.Functions["F"] = Function{Image: "x", Scaling: Scaling{MinWarm: 1 << 30}}
				c.Functions.Functions["G"] = Function{Image: "x", Scaling: Scaling{MaxConcurrency: 2, MinWarm: 3}}
			},
			want: []string{
				`functions.yml: functions.F.scaling.min_warm: must be at most 10000, got 1073741824`,
				`functions.yml: functions.G.scaling.min_warm: 3 is more than max_concurrency (2)`,
			},
		},
		{
			name: "layer bounds",
			cfg: func(c *Config) {
				c.Functions.Functions["F"] = Function{Image: "x", Layers: []string{"a", "b", "c", "d", "e", "../f"}}
				c.Resources.Resources.Layers = []Layer{
					{Name: "ok", ContentURI: "layers/ok"},
					{Name: "up", ContentURI: "layers/../../etc"},
					{Name: "abs", ContentURI: "/etc"},
					{Name: "x/y", ContentURI: "y"},
				}
			},
			want: []string{
				`functions.yml: functions.F.layers: 6 layers, more than Lambda's 5`,
				`functions.yml: functions.F.layers[5]: layer name "../f": want 1 to 140 letters, digits, '-' or '_'`,
				`resources.yml: resources.layers[1].ContentUri: "layers/../../etc": want a path relative to the template's directory, inside it`,
				`resources.yml: resources.layers[2].ContentUri: "/etc": want a path relative to the template's directory, inside it`,
				`resources.yml: resources.layers[3].Name: layer name "x/y": want 1 to 140 letters, digits, '-' or '_'`,
			},
		},
		{
			name: "empty function name",
			cfg:  func(c *Config) { c.Functions.Functions[""] = fn("x") },
			want: []string{`functions.yml: functions[""]: function name must not be empty`},
		},
		{
			name: "duplicate bucket and layer",
			cfg: func(c *Config) {
				c.Resources.Resources.S3 = []S3Bucket{{BucketName: "b"}, {BucketName: "b"}}
				c.Resources.Resources.Layers = []Layer{{Name: "l"}, {Name: "m"}, {Name: "l"}}
			},
			want: []string{
				`resources.yml: resources.s3[1]: duplicate bucket "b" (first at resources.s3[0])`,
				`resources.yml: resources.layers[2]: duplicate layer "l" (first at resources.layers[0])`,
			},
		},
		{
			name: "every method and payload the gateway knows",
			cfg: func(c *Config) {
				c.Functions.Functions["A"] = fn("a")
				for _, m := range []string{"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "ANY"} {
					c.Routing.Routes = append(c.Routing.Routes,
						Route{Path: "/v1", Method: m, Function: "A", Payload: PayloadV1},
						Route{Path: "/v2", Method: m, Function: "A", Payload: PayloadV2})
				}
			},
		},
		{
			name: "empty route",
			cfg:  func(c *Config) { c.Routing.Routes = []Route{{}} },
			want: []string{
				"routing.yml: routes[0].path: must not be empty",
				"routing.yml: routes[0].method: must not be empty",
				"routing.yml: routes[0].payload: must not be empty",
				"routing.yml: routes[0].function: must not be empty",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Empty()
			if tt.zero {
				c = Config{}
			}
			tt.cfg(&c)
			assert.Equal(t, tt.want, errorLines(c.Validate()))
		})
	}
}

func TestMarshal(t *testing.T) {
	t.Run("empty forms", func(t *testing.T) {
		for _, c := range []Config{Empty(), {}} {
			files, err := Marshal(c)
			require.NoError(t, err)
			assert.Equal(t, "functions: {}\n", string(files.Functions))
			assert.Equal(t, "routes: []\n", string(files.Routing))
			assert.Equal(t, "resources: {}\n", string(files.Resources))
		}
	})
	t.Run("functions sorted by name, routes in order", func(t *testing.T) {
		c := Empty()
		c.Functions.Functions["Zed"] = fn("z")
		c.Functions.Functions["Alpha"] = fn("a")
		c.Routing.Routes = []Route{route("/z", "GET", "Zed"), route("/a", "GET", "Alpha")}
		files, err := Marshal(c)
		require.NoError(t, err)
		assert.Equal(t, "functions:\n  Alpha:\n    image: a\n  Zed:\n    image: z\n", string(files.Functions))
		assert.Equal(t, "routes:\n"+
			"  - path: /z\n    method: GET\n    function: Zed\n    payload: \"1.0\"\n"+
			"  - path: /a\n    method: GET\n    function: Alpha\n    payload: \"1.0\"\n", string(files.Routing))
	})
	t.Run("round trip", func(t *testing.T) {
		want, err := Load(filepath.Join("testdata", "valid"))
		require.NoError(t, err)
		files, err := Marshal(want)
		require.NoError(t, err)
		got, err := Decode(files)
		require.NoError(t, err)
		assert.Equal(t, want, got)
		again, err := Marshal(got)
		require.NoError(t, err)
		assert.Equal(t, files, again, "output must be byte-for-byte stable")
	})
}
