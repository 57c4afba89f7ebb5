package configgen

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"

	"github.com/esb-dev/esb/internal/runtimeconfig"
	"github.com/esb-dev/esb/internal/sam"
)

const fidelityDir = "../../fixtures/sam/fidelity"

// fidelityCase is a corpus case's case.yml.
type fidelityCase struct {
	// About says which constructs the template shows.
	About string `yaml:"about"`
	// Valid is false for a template AWS refuses too (a mistake ESB must
	// name); only valid templates count in the acceptance figures.
	Valid bool `yaml:"valid"`
}

// TestFidelityCorpus parses every template of fixtures/sam/fidelity and
// compares the outcome with its golden directory: the generated
// functions.yml, routing.yml and resources.yml and warnings.txt when the
// template is accepted, errors.txt (one error per line, as esb validate
// prints them) when it is refused. Then it tallies how many valid
// templates are accepted, by cause of refusal, and compares that with
// ACCEPTANCE.txt. Run with -update to rewrite all of them, and review the
// diff.
func TestFidelityCorpus(t *testing.T) {
	dirs, err := filepath.Glob(filepath.Join(fidelityDir, "*", "template.yml"))
	require.NoError(t, err)
	require.GreaterOrEqual(t, len(dirs), 20, "the fidelity corpus shrank")
	tally := map[string][]string{} // cause -> cases
	valid := 0
	for _, tmplPath := range dirs {
		dir := filepath.Dir(tmplPath)
		name := filepath.Base(dir)
		data, err := os.ReadFile(filepath.Join(dir, "case.yml"))
		require.NoError(t, err, "%s needs a case.yml", name)
		var c fidelityCase
		require.NoError(t, yaml.Unmarshal(data, &c))
		require.NotEmpty(t, c.About, "%s: case.yml says what the case is about", name)
		got := parseOutcome(t, tmplPath, dir, sam.Options{})
		if c.Valid {
			valid++
			tally[got.cause] = append(tally[got.cause], name)
		} else {
			assert.NotEqual(t, "accepted", got.cause, "%s: an invalid template must be refused", name)
		}
		t.Run(name, func(t *testing.T) { compareGolden(t, filepath.Join(dir, "golden"), got.files) })
	}
	compareGolden(t, fidelityDir, map[string][]byte{"ACCEPTANCE.txt": []byte(acceptanceReport(valid, tally))})
}

type outcome struct {
	cause string            // "accepted", else the cause of refusal
	files map[string][]byte // golden file name -> content
}

// parseOutcome parses a template the way esb validate does and returns
// what a golden directory holds for it.
func parseOutcome(t *testing.T, tmplPath, dir string, opts sam.Options) outcome {
	src, err := os.ReadFile(tmplPath)
	require.NoError(t, err)
	tmpl, err := sam.Parse("template.yml", src, dir, opts)
	if err != nil {
		var lines []string
		for _, e := range flatten(err) {
			lines = append(lines, e.Error())
		}
		return outcome{cause: refusalCause(lines), files: map[string][]byte{"errors.txt": []byte(strings.Join(lines, "\n") + "\n")}}
	}
	cfg, err := Generate(tmpl, Options{})
	require.NoError(t, err)
	files, err := runtimeconfig.Marshal(cfg)
	require.NoError(t, err)
	var warnings strings.Builder
	for _, w := range tmpl.Warnings {
		warnings.WriteString(w.String() + "\n")
	}
	return outcome{cause: "accepted", files: map[string][]byte{
		runtimeconfig.FunctionsFileName: files.Functions,
		runtimeconfig.RoutingFileName:   files.Routing,
		runtimeconfig.ResourcesFileName: files.Resources,
		"warnings.txt":                  []byte(warnings.String()),
	}}
}

func flatten(err error) []error {
	if many, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range many.Unwrap() {
			out = append(out, flatten(e)...)
		}
		return out
	}
	return []error{err}
}

// refusalCause names why a template was refused, for the tally: a refusal
// whose every error is an unknown runtime counts apart (the runtimes issue),
// as do refusals for authorization ESB does not enforce yet.
func refusalCause(lines []string) string {
	causes := map[string]bool{}
	for _, l := range lines {
		switch {
		case strings.Contains(l, "unsupported runtime"):
			causes["runtime"] = true
		case strings.Contains(l, "does not enforce authorization") || strings.Contains(l, "requires authorization") ||
			strings.Contains(l, "does not enforce resource policies") || strings.Contains(l, "would leave"):
			causes["auth"] = true
		default:
			causes["other"] = true
		}
	}
	var out []string
	for c := range causes {
		out = append(out, c)
	}
	sort.Strings(out)
	return "refused: " + strings.Join(out, "+")
}

func acceptanceReport(valid int, tally map[string][]string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "valid templates: %d\n", valid)
	causes := make([]string, 0, len(tally))
	for c := range tally {
		causes = append(causes, c)
	}
	sort.Strings(causes)
	for _, c := range causes {
		fmt.Fprintf(&b, "%s: %d (%s)\n", c, len(tally[c]), strings.Join(tally[c], ", "))
	}
	return b.String()
}

// compareGolden compares files with the golden files in dir, or rewrites
// them with -update (removing golden files of the other outcome).
func compareGolden(t *testing.T, dir string, files map[string][]byte) {
	t.Helper()
	if *update {
		require.NoError(t, os.MkdirAll(dir, 0o755))
		for _, stale := range []string{"errors.txt", runtimeconfig.FunctionsFileName, runtimeconfig.RoutingFileName, runtimeconfig.ResourcesFileName, "warnings.txt"} {
			if _, keep := files[stale]; !keep && dir != fidelityDir {
				if err := os.Remove(filepath.Join(dir, stale)); err != nil && !errors.Is(err, os.ErrNotExist) {
					require.NoError(t, err)
				}
			}
		}
		for name, data := range files {
			require.NoError(t, os.WriteFile(filepath.Join(dir, name), data, 0o644))
		}
		return
	}
	for name, data := range files {
		want, err := os.ReadFile(filepath.Join(dir, name))
		require.NoError(t, err, "missing golden file %s; run go test ./internal/configgen -run TestFidelityCorpus -update", filepath.Join(dir, name))
		assert.Equal(t, string(want), string(data), "%s/%s", filepath.Base(dir), name)
	}
}
