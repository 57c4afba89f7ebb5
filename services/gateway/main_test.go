package main

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestConfigFromEnv(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		check   func(t *testing.T, c config)
		wantErr []string
	}{
		{
			name: "defaults",
			env:  map[string]string{},
			check: func(t *testing.T, c config) {
				assert.Equal(t, config{
					ConfigDir: "/app/runtime-config", SeedDir: "/app/seed-config", ReloadInterval: time.Second,
					AgentURL: "http://agent:9000", Listen: ":8080", Region: "us-east-1", AccountID: "123456789012",
					MaxQueueWait: 10 * time.Second,
				}, c)
			},
		},
		{
			name: "everything set",
			env: map[string]string{
				"CONFIG_DIR": "/c", "SEED_DIR": "/s", "CONFIG_RELOAD_INTERVAL": "750ms", "AGENT_URL": "http://a:1",
				"LOGS_URL": "http://logs:9428", "LISTEN": ":9", "ESB_ENV": "prod", "AWS_REGION": "eu-west-1",
				"ACCOUNT_ID": "000000000000", "MAX_QUEUE_WAIT": "2.5",
			},
			check: func(t *testing.T, c config) {
				assert.Equal(t, config{
					ConfigDir: "/c", SeedDir: "/s", ReloadInterval: 750 * time.Millisecond, AgentURL: "http://a:1",
					LogsURL: "http://logs:9428", Listen: ":9", Env: "prod", Region: "eu-west-1", AccountID: "000000000000",
					MaxQueueWait: 2500 * time.Millisecond,
				}, c)
			},
		},
		{name: "interval in plain seconds", env: map[string]string{"CONFIG_RELOAD_INTERVAL": "0.5"}, check: func(t *testing.T, c config) {
			assert.Equal(t, 500*time.Millisecond, c.ReloadInterval)
		}},
		{name: "interval below the minimum", env: map[string]string{"CONFIG_RELOAD_INTERVAL": "100ms"},
			wantErr: []string{"CONFIG_RELOAD_INTERVAL: 100ms is below the minimum of 500ms"}},
		{name: "interval unreadable", env: map[string]string{"CONFIG_RELOAD_INTERVAL": "soon"},
			wantErr: []string{`CONFIG_RELOAD_INTERVAL: "soon" is neither a duration`}},
		{name: "all problems at once", env: map[string]string{"MAX_QUEUE_WAIT": "0s", "AGENT_URL": "agent:9000", "LOGS_URL": "ftp://x", "ACCOUNT_ID": "12"},
			wantErr: []string{"MAX_QUEUE_WAIT: must be positive", "AGENT_URL:", "LOGS_URL:", "ACCOUNT_ID: want 12 digits"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := configFromEnv(func(k string) string { return tt.env[k] })
			if len(tt.wantErr) > 0 {
				require.Error(t, err)
				for _, w := range tt.wantErr {
					assert.Contains(t, err.Error(), w)
				}
				return
			}
			require.NoError(t, err)
			tt.check(t, c)
		})
	}
}
