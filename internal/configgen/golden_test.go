package configgen

import (
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"

	"github.com/esb-dev/esb/internal/runtimeconfig"
	"github.com/esb-dev/esb/internal/sam"
)

var update = flag.Bool("update", false, "rewrite the golden files under fixtures/sam/*/golden")

const fixtures = "../../fixtures/sam"

// caseOptions is a fixture's options.yml: what the CLI would pass.
type caseOptions struct {
	ParameterOverrides map[string]string `yaml:"parameter_overrides"`
	Region             string            `yaml:"region"`
	StackName          string            `yaml:"stack_name"`
	AccountID          string            `yaml:"account_id"`
}

// goldenNow dates the runtime deprecation warnings, so the golden files do
// not change on the day AWS deprecates a runtime a fixture uses.
func goldenNow() time.Time { return time.Date(2026, time.January, 1, 0, 0, 0, 0, time.UTC) }

func readCaseOptions(t *testing.T, dir string) sam.Options {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, "options.yml"))
	if os.IsNotExist(err) {
		return sam.Options{Now: goldenNow()}
	}
	require.NoError(t, err)
	var o caseOptions
	require.NoError(t, yaml.Unmarshal(data, &o))
	return sam.Options{ParameterOverrides: o.ParameterOverrides, Region: o.Region, StackName: o.StackName, AccountID: o.AccountID, Now: goldenNow()}
}

// TestGolden parses every fixture template and compares the generated
// functions.yml, routing.yml and resources.yml, and the warnings, with the
// files in its golden/ directory. Run with -update to rewrite them, then
// review the diff: the golden files are the specification.
func TestGolden(t *testing.T) {
	templates, err := filepath.Glob(filepath.Join(fixtures, "*", "template.yml"))
	require.NoError(t, err)
	require.GreaterOrEqual(t, len(templates), 15, "the fixture corpus shrank")
	for _, tmplPath := range templates {
		dir := filepath.Dir(tmplPath)
		t.Run(filepath.Base(dir), func(t *testing.T) {
			got := parseOutcome(t, tmplPath, dir, readCaseOptions(t, dir))
			require.Equal(t, "accepted", got.cause, "%s", got.files["errors.txt"])
			compareGolden(t, filepath.Join(dir, "golden"), got.files)

			// What the generator writes must be what the gateway and the
			// merge accept.
			decoded, err := runtimeconfig.Decode(runtimeconfig.Files{
				Functions: got.files[runtimeconfig.FunctionsFileName],
				Routing:   got.files[runtimeconfig.RoutingFileName],
				Resources: got.files[runtimeconfig.ResourcesFileName],
			})
			require.NoError(t, err)
			again, err := runtimeconfig.Marshal(decoded)
			require.NoError(t, err)
			assert.Equal(t, string(got.files[runtimeconfig.FunctionsFileName]), string(again.Functions), "functions.yml survives a decode")
			assert.Equal(t, string(got.files[runtimeconfig.RoutingFileName]), string(again.Routing), "routing.yml survives a decode")
		})
	}
}
