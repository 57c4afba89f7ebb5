package runtimecatalog

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestLookup(t *testing.T) {
	tests := []struct {
		name       string
		in         string
		wantFamily string
		wantOK     bool
	}{
		{name: "python", in: "python3.13", wantFamily: FamilyPython, wantOK: true},
		{name: "python 3.14", in: "python3.14", wantFamily: FamilyPython, wantOK: true},
		{name: "node 24", in: "nodejs24.x", wantFamily: FamilyNodejs, wantOK: true},
		{name: "java 25", in: "java25", wantFamily: FamilyJava, wantOK: true},
		{name: "ruby", in: "ruby3.3", wantFamily: FamilyRuby, wantOK: true},
		{name: "provided al2023", in: "provided.al2023", wantFamily: FamilyProvided, wantOK: true},
		{name: "provided al2", in: "provided.al2", wantFamily: FamilyProvided, wantOK: true},
		{name: "known but not buildable", in: "python3.12"},
		{name: "retired runtime", in: "python2.7"},
		{name: "case matters", in: "Python3.13"},
		{name: "empty", in: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := Lookup(tt.in)
			assert.Equal(t, tt.wantOK, ok)
			if tt.wantOK {
				assert.Equal(t, tt.in, got.Name)
			}
			assert.Equal(t, tt.wantFamily, got.Family)
		})
	}
}

func TestNamesSortedAndFresh(t *testing.T) {
	names := Names()
	assert.Equal(t, []string{
		"java17", "java21", "java25",
		"nodejs18.x", "nodejs20.x", "nodejs22.x", "nodejs24.x",
		"provided.al2", "provided.al2023",
		"python3.11", "python3.13", "python3.14",
		"ruby3.3",
	}, names)
	names[0] = "mutated"
	assert.Equal(t, "java17", Names()[0], "callers must not be able to change the catalog")
}

func TestCatalogIsConsistent(t *testing.T) {
	seen := map[string]bool{}
	for _, r := range All() {
		assert.False(t, seen[r.Name], "%s listed twice", r.Name)
		seen[r.Name] = true
		if r.Family != FamilyProvided {
			assert.NotEmpty(t, r.Version, r.Name)
		}
	}
	for _, u := range unbuildables() {
		assert.False(t, seen[u.Name], "%s is both supported and unbuildable", u.Name)
		seen[u.Name] = true
		assert.NotEmpty(t, u.Why, u.Name)
	}
}

func TestNearest(t *testing.T) {
	tests := []struct {
		name, family, version, want string
	}{
		{name: "3.12 between 3.11 and 3.13 takes the newer", family: FamilyPython, version: "3.12", want: "python3.13"},
		{name: "3.9 is nearest 3.11, not 3.13", family: FamilyPython, version: "3.9", want: "python3.11"},
		{name: "old node goes to the oldest supported", family: FamilyNodejs, version: "16", want: "nodejs18.x"},
		{name: "java 11 to 17", family: FamilyJava, version: "11", want: "java17"},
		{name: "ruby 3.4 to 3.3", family: FamilyRuby, version: "3.4", want: "ruby3.3"},
		{name: "provided", family: FamilyProvided, want: "provided.al2023"},
		{name: "no dotnet", family: FamilyDotnet, version: "8"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := Nearest(tt.family, tt.version)
			assert.Equal(t, tt.want != "", ok)
			assert.Equal(t, tt.want, got.Name)
		})
	}
}

func TestResolve(t *testing.T) {
	now := time.Date(2026, time.December, 2, 12, 0, 0, 0, time.UTC)
	aliases := Aliases{"python3.12": "python3.13", "nodejs20.x": "nodejs22.x"}
	tests := []struct {
		name         string
		in           string
		now          time.Time
		want         string
		wantWarnings []string
		wantErr      []string
	}{
		{name: "supported and current", in: "python3.14", now: now, want: "python3.14"},
		{name: "supported, AWS deprecated it: warned with the dates", in: "nodejs18.x", now: now, want: "nodejs18.x",
			wantWarnings: []string{"runtime nodejs18.x is deprecated on AWS Lambda since 2025-09-01: ESB still runs it; move to nodejs24.x so the template keeps deploying on AWS"}},
		{name: "deprecated AL2 runtime", in: "python3.11", now: now, want: "python3.11",
			wantWarnings: []string{"runtime python3.11 is deprecated on AWS Lambda since 2026-06-30: ESB still runs it; move to python3.14 so the template keeps deploying on AWS"}},
		{name: "deprecation is dated: not yet before the day", in: "nodejs22.x", now: now, want: "nodejs22.x"},
		{name: "deprecation is dated: warned from the day on", in: "nodejs22.x", now: time.Date(2027, time.April, 30, 0, 0, 0, 0, time.UTC), want: "nodejs22.x",
			wantWarnings: []string{"runtime nodejs22.x is deprecated on AWS Lambda since 2027-04-30: ESB still runs it; move to nodejs24.x so the template keeps deploying on AWS"}},
		{name: "no source: refused with the nearest and the opt-in", in: "python3.12", now: now,
			wantErr: []string{"unsupported runtime python3.12: no package source ESB builds from ships it", "nearest supported runtime is python3.13", "--runtime-alias python3.12=python3.13", "ESB_RUNTIME_ALIAS=python3.12=python3.13"}},
		{name: "dotnet has no nearest", in: "dotnet8", now: now, wantErr: []string{"unsupported runtime dotnet8: ESB has no .NET runtime client"}},
		{name: "unknown: the list of supported ones", in: "cobol1", now: now,
			wantErr: []string{`unsupported runtime "cobol1" (supported: java17, java21, java25, nodejs18.x,`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Resolve(tt.in, nil, tt.now)
			if len(tt.wantErr) > 0 {
				require.Error(t, err)
				assert.ErrorIs(t, err, ErrUnsupported)
				for _, s := range tt.wantErr {
					assert.Contains(t, err.Error(), s)
				}
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got.Runtime.Name)
			assert.Equal(t, tt.in, got.Requested)
			assert.Equal(t, tt.wantWarnings, got.Warnings)
		})
	}

	t.Run("an alias runs the function on its target and says so", func(t *testing.T) {
		got, err := Resolve("python3.12", aliases, now)
		require.NoError(t, err)
		assert.Equal(t, "python3.13", got.Runtime.Name)
		assert.Equal(t, "python3.12", got.Requested)
		require.Len(t, got.Warnings, 1)
		assert.Contains(t, got.Warnings[0], "runtime python3.12 runs on python3.13 (alias python3.12=python3.13)")
	})
	t.Run("an alias of a supported runtime wins over it", func(t *testing.T) {
		got, err := Resolve("nodejs20.x", aliases, now)
		require.NoError(t, err)
		assert.Equal(t, "nodejs22.x", got.Runtime.Name)
		assert.Len(t, got.Warnings, 1)
	})
}

func TestDeprecationWarningWithBlockDates(t *testing.T) {
	rt, ok := Lookup("nodejs20.x")
	require.True(t, ok)
	before := deprecationWarning(rt, time.Date(2026, time.May, 1, 0, 0, 0, 0, time.UTC))
	assert.Equal(t, "runtime nodejs20.x is deprecated on AWS Lambda since 2026-04-30 (AWS refuses new functions on it from 2026-08-31): ESB still runs it; move to nodejs24.x so the template keeps deploying on AWS", before)
	after := deprecationWarning(rt, time.Date(2026, time.December, 2, 0, 0, 0, 0, time.UTC))
	assert.Contains(t, after, "(AWS has refused new functions on it from 2026-08-31)")
	assert.Empty(t, deprecationWarning(rt, time.Date(2026, time.April, 29, 0, 0, 0, 0, time.UTC)))
}

func TestParseAliases(t *testing.T) {
	tests := []struct {
		name    string
		in      []string
		want    Aliases
		wantErr string
	}{
		{name: "one", in: []string{"python3.12=python3.13"}, want: Aliases{"python3.12": "python3.13"}},
		{name: "several in one value, commas and spaces", in: []string{"python3.12=python3.13, nodejs16.x=nodejs18.x ruby3.4=ruby3.3"},
			want: Aliases{"python3.12": "python3.13", "nodejs16.x": "nodejs18.x", "ruby3.4": "ruby3.3"}},
		{name: "later wins", in: []string{"python3.12=python3.13", "python3.12=python3.11"}, want: Aliases{"python3.12": "python3.11"}},
		{name: "empty", in: []string{"", " "}, want: Aliases{}},
		{name: "no equals", in: []string{"python3.12"}, wantErr: `runtime alias "python3.12": want FROM=TO`},
		{name: "unknown source", in: []string{"cobol=python3.13"}, wantErr: "cobol is not a Lambda runtime"},
		{name: "unsupported target", in: []string{"python3.12=python3.10"}, wantErr: "ESB does not run python3.10"},
		{name: "across languages", in: []string{"python3.12=nodejs22.x"}, wantErr: "python3.12 and nodejs22.x are different languages"},
		{name: "itself", in: []string{"python3.13=python3.13"}, wantErr: "cannot be an alias of itself"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseAliases(tt.in...)
			if tt.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
	assert.Equal(t, "nodejs16.x=nodejs18.x,python3.12=python3.13", Aliases{"python3.12": "python3.13", "nodejs16.x": "nodejs18.x"}.String())
}

func TestLatest(t *testing.T) {
	now := time.Date(2026, time.December, 2, 0, 0, 0, 0, time.UTC)
	for family, want := range map[string]string{
		FamilyPython: "python3.14", FamilyNodejs: "nodejs24.x", FamilyJava: "java25", FamilyRuby: "ruby3.3", FamilyProvided: "provided.al2023",
	} {
		got, ok := Latest(family, now)
		assert.True(t, ok, family)
		assert.Equal(t, want, got.Name, family)
	}
	_, ok := Latest(FamilyRuby, time.Date(2027, time.April, 1, 0, 0, 0, 0, time.UTC))
	assert.False(t, ok, "ruby3.3 is deprecated then and nothing newer is supported")
}
