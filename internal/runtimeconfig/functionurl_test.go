package runtimeconfig

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestFunctionURL(t *testing.T) {
	const id1, id2 = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb2"
	functions := func(url1, url2 string) string {
		s := "functions:\n  Fn: {image: i, url: " + url1 + "}\n"
		if url2 != "" {
			s += "  Other: {image: o, url: " + url2 + "}\n"
		}
		return s
	}
	tests := []struct {
		name       string
		url1, url2 string
		wantErr    string
	}{
		{name: "none", url1: "{id: " + id1 + ", auth_type: NONE}"},
		{name: "iam with cors", url1: "{id: " + id1 + ", auth_type: AWS_IAM, invoke_mode: BUFFERED, cors: {kind: http, allow_origins: ['*'], max_age: 0}}"},
		{name: "unknown fields kept", url1: "{id: " + id1 + ", auth_type: NONE, later: 1}"},
		{name: "two urls", url1: "{id: " + id1 + ", auth_type: NONE}", url2: "{id: " + id2 + ", auth_type: NONE}"},
		{name: "id too short", url1: "{id: abc, auth_type: NONE}", wantErr: `functions.Fn.url.id: want 32 lower-case letters and digits, got "abc"`},
		{name: "id upper case", url1: "{id: AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA, auth_type: NONE}", wantErr: "want 32 lower-case letters and digits"},
		{name: "id twice", url1: "{id: " + id1 + ", auth_type: NONE}", url2: "{id: " + id1 + ", auth_type: NONE}", wantErr: `functions.Other.url.id: url-id "` + id1 + `" is also the URL of function "Fn"`},
		{name: "unknown auth type fails closed", url1: "{id: " + id1 + ", auth_type: aws_iam}", wantErr: `functions.Fn.url.auth_type: unsupported auth type "aws_iam"`},
		{name: "missing auth type", url1: "{id: " + id1 + "}", wantErr: `unsupported auth type ""`},
		{name: "streaming is not served", url1: "{id: " + id1 + ", auth_type: NONE, invoke_mode: RESPONSE_STREAM}", wantErr: `functions.Fn.url.invoke_mode: unsupported invoke mode "RESPONSE_STREAM"`},
		{name: "REST CORS", url1: "{id: " + id1 + ", auth_type: NONE, cors: {kind: rest}}", wantErr: `functions.Fn.url.cors.kind: want "http"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := Decode(Files{Functions: []byte(functions(tt.url1, tt.url2))})
			if tt.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.wantErr)
				return
			}
			require.NoError(t, err)
			u := cfg.Functions.Functions["Fn"].URL
			require.NotNil(t, u)
			assert.Equal(t, id1, u.ID)
			clone := cfg.Clone()
			assert.Equal(t, cfg, clone)
			clone.Functions.Functions["Fn"].URL.ID = "changed"
			if c := clone.Functions.Functions["Fn"].URL.Cors; c != nil {
				c.AllowOrigins[0] = "changed"
				assert.Equal(t, "*", cfg.Functions.Functions["Fn"].URL.Cors.AllowOrigins[0], "a clone shares nothing")
			}
			assert.Equal(t, id1, cfg.Functions.Functions["Fn"].URL.ID, "a clone shares nothing")
		})
	}
}
