package deploy

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/esb-dev/esb/internal/agentapi"
	"github.com/esb-dev/esb/internal/configgen"
	"github.com/esb-dev/esb/internal/runtimeconfig"
	"github.com/esb-dev/esb/internal/sam"
)

const warmTemplate = `Transform: AWS::Serverless-2016-10-31
Resources:
  Cold:
    Type: AWS::Serverless::Function
    Properties:
      Runtime: python3.13
      Handler: app.handler
      InlineCode: "def handler(e, c): return 1"
  Warm:
    Type: AWS::Serverless::Function
    Properties:
      Runtime: python3.13
      Handler: app.handler
      InlineCode: "def handler(e, c): return 1"
      MemorySize: 1280
      ProvisionedConcurrencyConfig:
        ProvisionedConcurrentExecutions: %d
`

func budgetCase(t *testing.T, warm int) (*sam.Template, runtimeconfig.Config) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "template.yml")
	require.NoError(t, os.WriteFile(path, fmt.Appendf(nil, warmTemplate, warm), 0o644))
	tmpl, err := sam.ParseFile(path, sam.Options{})
	require.NoError(t, err)
	gen, err := configgen.Generate(tmpl, configgen.Options{ImagePrefix: "registry:5000/e", Tag: "t"})
	require.NoError(t, err)
	return tmpl, gen
}

func TestCheckBudget(t *testing.T) {
	budget := &agentapi.Budget{MemoryMB: 4096, Concurrency: 1000}
	other := map[string]runtimeconfig.Function{
		"Elsewhere": {Image: "registry:5000/e/elsewhere:t", MemorySize: 1280, Scaling: runtimeconfig.Scaling{MinWarm: 2}},
	}

	tmpl, gen := budgetCase(t, 2)
	assert.NoError(t, checkBudget(tmpl, budget, nil, gen), "2 x 1280 MB fits 4096 MB")
	assert.NoError(t, checkBudget(tmpl, nil, other, gen), "no budget known: nothing checked")

	err := checkBudget(tmpl, budget, other, gen)
	require.Error(t, err)
	assert.Equal(t, tmpl.Path+":17:9: Resources.Warm.Properties.ProvisionedConcurrencyConfig.ProvisionedConcurrentExecutions: "+
		"min_warm of all functions takes 5120 MB, more than the node's memory for functions (4096 MB, ESB_FUNCTION_MEMORY) "+
		"(this template: Warm 2 x 1280 MB; already in the env: Elsewhere 2 x 1280 MB)", err.Error())

	// A redeploy replaces the env's own copy of the function: not counted twice.
	mine := map[string]runtimeconfig.Function{"Warm": {Image: "x", MemorySize: 1280, Scaling: runtimeconfig.Scaling{MinWarm: 3}}}
	assert.NoError(t, checkBudget(tmpl, budget, mine, gen))

	tmpl, gen = budgetCase(t, 4)
	err = checkBudget(tmpl, budget, nil, gen)
	require.Error(t, err)
	var positioned *sam.Error
	require.ErrorAs(t, err, &positioned)
	assert.Equal(t, 17, positioned.Line)
	assert.Contains(t, err.Error(), "min_warm 4 x 1280 MB = 5120 MB exceeds the node's memory for functions (4096 MB, ESB_FUNCTION_MEMORY)")
}
