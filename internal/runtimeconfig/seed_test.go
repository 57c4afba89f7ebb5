package runtimeconfig

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestSeed(t *testing.T) {
	const (
		withFunctions = "seed/with-functions"
		emptyForms    = "seed/empty"
	)
	all := []string{FunctionsFileName, RoutingFileName, ResourcesFileName}
	tests := []struct {
		name          string
		existing      map[string]string // file name -> fixture copied into CONFIG_DIR first
		seed          string            // fixture dir used as the seed dir; "" for none
		seedFiles     []string          // which of the seed fixture's files exist; all when nil
		missingSeed   bool              // point at a seed dir that does not exist
		wantKept      []string
		wantCopied    []string
		wantCreated   []string
		wantFunctions []string
		wantErr       string
	}{
		{
			name:          "1. existing config is used as it is, even with a seed",
			existing:      map[string]string{FunctionsFileName: "valid/functions.yml", RoutingFileName: "valid/routing.yml", ResourcesFileName: "valid/resources.yml"},
			seed:          withFunctions,
			wantKept:      all,
			wantFunctions: []string{"HelloFunction", "ItemsFunction"},
		},
		{
			name:     "1. existing empty config is used and warned about",
			existing: map[string]string{FunctionsFileName: "seed/empty/functions.yml", RoutingFileName: "seed/empty/routing.yml", ResourcesFileName: "seed/empty/resources.yml"},
			seed:     withFunctions,
			wantKept: all,
		},
		{
			name:          "2. empty config dir gets the seed files",
			seed:          withFunctions,
			wantCopied:    all,
			wantFunctions: []string{"SeededFunction"},
		},
		{
			name:       "2. empty seed files are copied and warned about",
			seed:       emptyForms,
			wantCopied: all,
		},
		{
			name:          "1+2. only missing files are copied, existing ones never overwritten",
			existing:      map[string]string{FunctionsFileName: "valid/functions.yml", RoutingFileName: "valid/routing.yml"},
			seed:          withFunctions,
			wantKept:      []string{FunctionsFileName, RoutingFileName},
			wantCopied:    []string{ResourcesFileName},
			wantFunctions: []string{"HelloFunction", "ItemsFunction"},
		},
		{
			name:          "2+3. files missing from the seed are written empty",
			seed:          withFunctions,
			seedFiles:     []string{FunctionsFileName},
			wantCopied:    []string{FunctionsFileName},
			wantCreated:   []string{RoutingFileName, ResourcesFileName},
			wantFunctions: []string{"SeededFunction"},
		},
		{
			name:        "3. no seed dir at all",
			missingSeed: true,
			wantCreated: all,
		},
		{
			name:        "3. seed dir not configured",
			wantCreated: all,
		},
		{
			name:     "a malformed existing file fails and nothing is written",
			existing: map[string]string{FunctionsFileName: "malformed/syntax.yml"},
			seed:     withFunctions,
			wantErr:  "functions.yml:3: invalid YAML: found character that cannot start any token",
		},
		{
			name:     "a seed that does not fit the existing config fails and nothing is written",
			existing: map[string]string{FunctionsFileName: "valid/functions.yml"},
			seed:     withFunctions,
			wantErr:  `routing.yml:2:34: routes[0].function: unknown function "SeededFunction" (not in functions.yml)`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			configDir := filepath.Join(t.TempDir(), "config")
			require.NoError(t, os.MkdirAll(configDir, 0o755))
			for name, fixture := range tt.existing {
				require.NoError(t, os.WriteFile(filepath.Join(configDir, name), readFixture(t, fixture), 0o644))
			}
			seedDir := ""
			if tt.seed != "" {
				seedDir = t.TempDir()
				files := tt.seedFiles
				if files == nil {
					files = all
				}
				for _, name := range files {
					require.NoError(t, os.WriteFile(filepath.Join(seedDir, name), readFixture(t, filepath.Join(tt.seed, name)), 0o644))
				}
			}
			if tt.missingSeed {
				seedDir = filepath.Join(t.TempDir(), "no-such-seed-config")
			}
			before := snapshot(t, configDir)
			var logs bytes.Buffer
			logger := slog.New(slog.NewTextHandler(&logs, nil))

			res, err := Seed(t.Context(), configDir, seedDir, SeedOptions{Logger: logger})

			if tt.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.wantErr)
				after := snapshot(t, configDir)
				delete(after, LockFileName)
				assert.Equal(t, before, after, "a failed seed must leave the dir as it was")
				assert.NotContains(t, logs.String(), NoConfigWarning)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.wantKept, res.Kept)
			assert.Equal(t, tt.wantCopied, res.Copied)
			assert.Equal(t, tt.wantCreated, res.Created)

			for _, name := range tt.wantKept {
				got, err := os.ReadFile(filepath.Join(configDir, name))
				require.NoError(t, err)
				assert.Equal(t, before[name], string(got), "%s was overwritten", name)
			}
			for _, name := range tt.wantCopied {
				got, err := os.ReadFile(filepath.Join(configDir, name))
				require.NoError(t, err)
				assert.Equal(t, string(readFixture(t, filepath.Join(tt.seed, name))), string(got), "%s is not a copy of the seed", name)
			}
			empty, err := Marshal(Empty())
			require.NoError(t, err)
			for _, name := range tt.wantCreated {
				got, err := os.ReadFile(filepath.Join(configDir, name))
				require.NoError(t, err)
				assert.Equal(t, string(empty.Get(name)), string(got))
			}

			onDisk, err := Load(configDir)
			require.NoError(t, err)
			assert.Equal(t, onDisk, res.Config)
			var names []string
			for name := range res.Config.Functions.Functions {
				names = append(names, name)
			}
			assert.ElementsMatch(t, tt.wantFunctions, names)

			// The warning is there exactly when there are no functions.
			if len(tt.wantFunctions) == 0 {
				assert.Equal(t, []string{NoConfigWarning}, res.Warnings)
				assert.Equal(t, 1, strings.Count(logs.String(), NoConfigWarning), logs.String())
			} else {
				assert.Empty(t, res.Warnings)
				assert.NotContains(t, logs.String(), NoConfigWarning)
			}
		})
	}
}

func TestSeedTwiceKeepsFirstResult(t *testing.T) {
	configDir := filepath.Join(t.TempDir(), "not", "created", "yet")
	seedDir := filepath.Join("testdata", "seed", "with-functions")

	first, err := Seed(t.Context(), configDir, seedDir, SeedOptions{})
	require.NoError(t, err)
	require.Len(t, first.Copied, 3)

	// A deploy lands between two gateway starts; the restart must keep it.
	_, err = MergeInto(t.Context(), configDir, deployOf("Deployed", 0), MergeOptions{})
	require.NoError(t, err)

	second, err := Seed(t.Context(), configDir, seedDir, SeedOptions{})
	require.NoError(t, err)
	assert.Equal(t, []string{FunctionsFileName, RoutingFileName, ResourcesFileName}, second.Kept)
	assert.Empty(t, second.Copied)
	assert.Contains(t, second.Config.Functions.Functions, "Deployed")
	assert.Contains(t, second.Config.Functions.Functions, "SeededFunction")
}

func TestNoConfigWarningText(t *testing.T) {
	// Operators and the E2E suite grep for this exact line.
	assert.Equal(t, "WARNING: No runtime config found. Using empty config. Deploy required.", NoConfigWarning)
}
