package auth

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestPolicyEvaluate(t *testing.T) {
	const arn = "arn:aws:execute-api:us-east-1:123456789012:abc123/prod/GET/items/7"
	tests := []struct {
		name   string
		policy string
		want   Effect
	}{
		{name: "exact allow", policy: `{"Statement":[{"Effect":"Allow","Action":"execute-api:Invoke","Resource":"` + arn + `"}]}`, want: Allow},
		{name: "wildcard resource", policy: `{"Statement":[{"Effect":"Allow","Action":"execute-api:Invoke","Resource":"arn:aws:execute-api:us-east-1:123456789012:abc123/*/GET/*"}]}`, want: Allow},
		{name: "question mark", policy: `{"Statement":[{"Effect":"Allow","Action":"execute-api:Invoke","Resource":"arn:aws:execute-api:us-east-1:123456789012:abc123/prod/GET/items/?"}]}`, want: Allow},
		{name: "other method", policy: `{"Statement":[{"Effect":"Allow","Action":"execute-api:Invoke","Resource":"arn:aws:execute-api:us-east-1:123456789012:abc123/prod/POST/*"}]}`, want: NoMatch},
		{name: "action wildcard and list", policy: `{"Statement":[{"Effect":"Allow","Action":["s3:GetObject","execute-api:*"],"Resource":["x","*"]}]}`, want: Allow},
		{name: "action case-insensitive", policy: `{"Statement":[{"Effect":"Allow","Action":"EXECUTE-API:invoke","Resource":"*"}]}`, want: Allow},
		{name: "other action", policy: `{"Statement":[{"Effect":"Allow","Action":"execute-api:ManageConnections","Resource":"*"}]}`, want: NoMatch},
		{name: "deny wins", policy: `{"Statement":[{"Effect":"Allow","Action":"*","Resource":"*"},{"Effect":"Deny","Action":"execute-api:Invoke","Resource":"arn:aws:execute-api:*:*:abc123/prod/GET/items/*"}]}`, want: Deny},
		{name: "deny elsewhere", policy: `{"Statement":[{"Effect":"Allow","Action":"*","Resource":"*"},{"Effect":"Deny","Action":"execute-api:Invoke","Resource":"*/DELETE/*"}]}`, want: Allow},
		{name: "empty", policy: `{"Statement":[]}`, want: NoMatch},
		{name: "resource case matters", policy: `{"Statement":[{"Effect":"Allow","Action":"*","Resource":"arn:aws:execute-api:us-east-1:123456789012:ABC123/*"}]}`, want: NoMatch},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var p Policy
			require.NoError(t, json.Unmarshal([]byte(tt.policy), &p))
			assert.Equal(t, tt.want, p.Evaluate(arn))
		})
	}
}

func TestWildcard(t *testing.T) {
	tests := []struct {
		name, pattern, s string
		want             bool
	}{
		{name: "star empty", pattern: "*", s: "", want: true},
		{name: "star middle", pattern: "a*c", s: "abbbc", want: true},
		{name: "star spans slashes", pattern: "a/*/d", s: "a/b/c/d", want: true},
		{name: "no match", pattern: "a*c", s: "abd", want: false},
		{name: "question needs one", pattern: "a?", s: "a", want: false},
		{name: "many stars", pattern: "*a*a*a*a*b", s: "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaac", want: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, wildcard(tt.pattern, tt.s))
		})
	}
}
