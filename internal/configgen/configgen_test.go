package configgen

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/esb-dev/esb/internal/sam"
)

func TestImage(t *testing.T) {
	tests := []struct {
		name string
		opts Options
		fn   string
		want string
	}{
		{name: "defaults", fn: "HelloFunction", want: "127.0.0.1:5010/esb-dev/hellofunction:latest"},
		{name: "prefix and tag", opts: Options{ImagePrefix: "10.0.0.5:5010/esb-prod/", Tag: "e2e-42"}, fn: "item-crud", want: "10.0.0.5:5010/esb-prod/item-crud:e2e-42"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, tt.opts.Image(tt.fn))
		})
	}
}

func TestGenerate(t *testing.T) {
	tests := []struct {
		name    string
		tmpl    sam.Template
		opts    Options
		wantErr string
	}{
		{
			name:    "name that is no image repository",
			tmpl:    sam.Template{Functions: []sam.Function{{LogicalID: "Fn", Name: "fn-", Timeout: 3, MemorySize: 128}}},
			wantErr: `function Fn: name "fn-" does not make a valid image repository name (use letters and digits separated by single '-', '_' or '.')`,
		},
		{
			name: "scaling and idle timeout",
			tmpl: sam.Template{Functions: []sam.Function{{LogicalID: "Fn", Name: "Fn", Timeout: 3, MemorySize: 128, ReservedConcurrency: 4, ProvisionedConcurrency: 1}}},
			opts: Options{IdleTimeout: 60},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := Generate(&tt.tmpl, tt.opts)
			if tt.wantErr != "" {
				require.Error(t, err)
				assert.Equal(t, tt.wantErr, err.Error())
				return
			}
			require.NoError(t, err)
			fn := cfg.Functions.Functions["Fn"]
			assert.Equal(t, 4, fn.Scaling.MaxConcurrency)
			assert.Equal(t, 1, fn.Scaling.MinWarm)
			assert.Equal(t, 60, fn.Scaling.IdleTimeout)
			assert.Empty(t, fn.Digest, "the deploy pipeline fills the digest")
			assert.Empty(t, cfg.Routing.Routes)
		})
	}
}
