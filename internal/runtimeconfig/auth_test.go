package runtimeconfig

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRouteAuth(t *testing.T) {
	const functions = "functions:\n  Fn: {image: i}\n  Authz: {image: a}\n"
	route := func(auth string) string {
		return "routes:\n  - path: /p\n    method: GET\n    function: Fn\n    payload: \"1.0\"\n    auth: " + auth + "\n"
	}
	tests := []struct {
		name    string
		auth    string
		wantErr string
	}{
		{name: "api key", auth: "{api_key: true}"},
		{name: "iam", auth: "{iam: true}"},
		{name: "iam and api key", auth: "{iam: true, api_key: true}"},
		{name: "iam and an authorizer", auth: `{iam: true, authorizer: {name: T, type: token, function: Authz}}`, wantErr: "routes[0].auth.iam: a route has either IAM authorization or an authorizer, not both"},
		{name: "token", auth: `{authorizer: {name: T, type: token, function: Authz, identity_sources: ["header:Authorization"], ttl: 300}}`},
		{name: "jwt", auth: `{authorizer: {name: J, type: jwt, issuer: "https://i", audience: [a], identity_sources: ["header:Authorization"]}}`},
		{name: "unknown fields kept", auth: `{future: 1, authorizer: {name: T, type: token, function: Authz, later: x}}`},
		{name: "unknown type", auth: `{authorizer: {name: X, type: aws_iam}}`, wantErr: `routes[0].auth.authorizer.type: unknown authorizer type "aws_iam"`},
		{name: "unknown function", auth: `{authorizer: {name: T, type: token, function: Nope}}`, wantErr: `routes[0].auth.authorizer.function: unknown function "Nope"`},
		{name: "jwt without issuer", auth: `{authorizer: {name: J, type: jwt}}`, wantErr: "routes[0].auth.authorizer.issuer: must not be empty"},
		{name: "http payload", auth: `{authorizer: {name: H, type: http-request, function: Authz, payload: "3.0"}}`, wantErr: `unsupported payload "3.0"`},
		{name: "identity source", auth: `{authorizer: {name: T, type: request, function: Authz, identity_sources: ["context:x"]}}`, wantErr: `unsupported identity source "context:x"`},
		{name: "negative ttl", auth: `{authorizer: {name: T, type: token, function: Authz, ttl: -1}}`, wantErr: "ttl: must be >= 0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := Decode(Files{Functions: []byte(functions), Routing: []byte(route(tt.auth))})
			if tt.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.wantErr)
				return
			}
			require.NoError(t, err)
			require.NotNil(t, cfg.Routing.Routes[0].Auth)
			clone := cfg.Clone()
			assert.Equal(t, cfg, clone)
			if az := clone.Routing.Routes[0].Auth.Authorizer; az != nil {
				az.Name = "changed"
				assert.NotEqual(t, "changed", cfg.Routing.Routes[0].Auth.Authorizer.Name, "a clone shares nothing")
			}
		})
	}
}

func TestAPIKeys(t *testing.T) {
	const functions = "functions:\n  Fn: {image: i}\n"
	routing := func(keys string) string { return "routes: []\napi_keys: " + keys + "\n" }
	tests := []struct {
		name, keys, wantErr string
	}{
		{name: "every API", keys: `[{name: k, value: v0123456789012345678, enabled: true}]`},
		{name: "tied to a stage", keys: `[{name: k, value: v, enabled: true, stages: [{api: ordersapi, stage: v1}]}]`},
		{name: "no name", keys: `[{value: v}]`, wantErr: "api_keys[0].name: must not be empty"},
		{name: "no value", keys: `[{name: k}]`, wantErr: "api_keys[0].value: must not be empty"},
		{name: "duplicate", keys: `[{name: k, value: a}, {name: k, value: b}]`, wantErr: `api_keys[1]: duplicate API key "k"`},
		{name: "stage without API", keys: `[{name: k, value: v, stages: [{stage: v1}]}]`, wantErr: "api_keys[0].stages[0].api: must not be empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := Decode(Files{Functions: []byte(functions), Routing: []byte(routing(tt.keys))})
			if tt.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, cfg, cfg.Clone())
		})
	}
	t.Run("merged by name", func(t *testing.T) {
		base := cfg(func(c *Config) {
			c.Routing.APIKeys = []APIKey{{Name: "a", Value: "old"}, {Name: "b", Value: "b", Enabled: true}}
		})
		deploy := cfg(func(c *Config) {
			c.Routing.APIKeys = []APIKey{{Name: "c", Value: "c"}, {Name: "a", Value: "new", Enabled: true}}
		})
		got, warnings := Merge(base, deploy)
		assert.Empty(t, warnings)
		assert.Equal(t, []APIKey{{Name: "a", Value: "new", Enabled: true}, {Name: "b", Value: "b", Enabled: true}, {Name: "c", Value: "c"}}, got.Routing.APIKeys)
	})
}
