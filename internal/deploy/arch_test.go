package deploy

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/esb-dev/esb/internal/sam"
)

func TestLambdaArch(t *testing.T) {
	for in, want := range map[string]string{"x86_64": ArchX86, "amd64": ArchX86, "aarch64": ArchARM, "arm64": ArchARM, "riscv64": "riscv64"} {
		assert.Equal(t, want, LambdaArch(in), in)
	}
}

func TestCheckArchitectures(t *testing.T) {
	fns := []sam.Function{
		{LogicalID: "Default", Name: "Default"},
		{LogicalID: "Intel", Name: "Intel", Architectures: []string{ArchX86}},
		{LogicalID: "Graviton", Name: "graviton-fn", Architectures: []string{ArchARM}},
	}
	tests := []struct {
		name         string
		host         string
		fns          []sam.Function
		wantWarnings []string
		wantErr      string
	}{
		{name: "x86 host, x86 and default functions", host: ArchX86, fns: fns[:2]},
		{name: "x86 host refuses an arm64 function", host: ArchX86, fns: fns,
			wantErr: "t.yml: Resources.Graviton.Properties.Architectures: function graviton-fn is declared for arm64, and this host runs x86_64: " +
				"it cannot run arm64 images, so ESB does not build one; deploy it on an arm64 host, or declare x86_64"},
		{name: "arm64 host: default built for arm64 with a warning, x86 refused", host: ArchARM, fns: fns,
			wantWarnings: []string{"t.yml: Resources.Default.Properties.Architectures: function Default declares no Architectures (AWS's default is x86_64): built for this host's arm64"},
			wantErr:      "t.yml: Resources.Intel.Properties.Architectures: function Intel is declared for x86_64, and this host runs arm64"},
		{name: "unknown host: nothing refused, declared ones warned", host: "", fns: fns[2:],
			wantWarnings: []string{"t.yml: Resources.Graviton.Properties.Architectures: function graviton-fn declares Architectures [arm64]; the host's architecture is unknown, so it was not checked"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			warnings, err := CheckArchitectures(&sam.Template{Path: "t.yml", Functions: tt.fns}, tt.host)
			assert.Equal(t, tt.wantWarnings, warnings)
			if tt.wantErr == "" {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.wantErr)
		})
	}
}
