package configgen

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"

	"github.com/esb-dev/esb/internal/runtimeconfig"
	"github.com/esb-dev/esb/internal/sam"
)

// writeBigTemplate writes a SAM template with n functions, each with its own
// code dir, an Api route, Globals and a few intrinsics, plus one table per
// ten functions: the shape of a large real application.
func writeBigTemplate(tb testing.TB, dir string, n int) []byte {
	tb.Helper()
	var b strings.Builder
	b.WriteString("AWSTemplateFormatVersion: '2010-09-09'\nTransform: AWS::Serverless-2016-10-31\n")
	b.WriteString("Parameters:\n  Stage:\n    Type: String\n    Default: dev\n")
	b.WriteString("Globals:\n  Function:\n    Runtime: python3.13\n    Timeout: 10\n    Environment:\n      Variables:\n        STAGE: !Ref Stage\n")
	b.WriteString("Resources:\n")
	for i := range n {
		code := fmt.Sprintf("fn%03d", i)
		require.NoError(tb, os.MkdirAll(filepath.Join(dir, code), 0o755))
		require.NoError(tb, os.WriteFile(filepath.Join(dir, code, "app.py"), []byte("def handler(e, c):\n    return {}\n"), 0o644))
		fmt.Fprintf(&b, "  Fn%03d:\n    Type: AWS::Serverless::Function\n    Properties:\n      CodeUri: %s/\n      Handler: app.handler\n", i, code)
		fmt.Fprintf(&b, "      Environment:\n        Variables:\n          TABLE: !Ref Table%03d\n          NAME: !Sub '${AWS::StackName}-fn%03d'\n", i/10*10, i)
		fmt.Fprintf(&b, "      Events:\n        Get:\n          Type: Api\n          Properties:\n            Path: /items%03d/{id}\n            Method: get\n", i)
		if i%10 == 0 {
			fmt.Fprintf(&b, "  Table%03d:\n    Type: AWS::Serverless::SimpleTable\n", i)
		}
	}
	src := []byte(b.String())
	require.NoError(tb, os.WriteFile(filepath.Join(dir, "template.yml"), src, 0o644))
	return src
}

// BenchmarkDeployConfig200 measures what `esb deploy` does on the host for a
// 200-function template: parse, generate, merge into an aggregate that
// already holds those 200 functions (a redeploy). The yaml-decode case is
// the baseline of the same run: decoding the same bytes into yaml.Node,
// the least any parser has to do. Compare the others against it as ratios.
func BenchmarkDeployConfig200(b *testing.B) {
	dir := b.TempDir()
	src := writeBigTemplate(b, dir, 200)
	path := filepath.Join(dir, "template.yml")

	parse := func(b *testing.B) *sam.Template {
		t, err := sam.ParseFile(path, sam.Options{})
		if err != nil {
			b.Fatal(err)
		}
		return t
	}
	t := parse(b)
	require.Len(b, t.Functions, 200)
	existing, err := Generate(t, Options{})
	require.NoError(b, err)

	b.Run("baseline-yaml-decode", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var n yaml.Node
			if err := yaml.Unmarshal(src, &n); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("parse", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			parse(b)
		}
	})
	b.Run("parse+generate", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := Generate(parse(b), Options{}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("parse+generate+merge", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			cfg, err := Generate(parse(b), Options{})
			if err != nil {
				b.Fatal(err)
			}
			merged, _ := runtimeconfig.Merge(existing, cfg)
			if err := merged.Validate(); err != nil {
				b.Fatal(err)
			}
			if _, err := runtimeconfig.Marshal(merged); err != nil {
				b.Fatal(err)
			}
		}
	})
	// Adds the lock, reading the aggregate back and the fsynced atomic
	// writes: disk-bound, so it varies with the machine more than the rest.
	b.Run("parse+generate+merge-into-dir", func(b *testing.B) {
		b.ReportAllocs()
		configDir := b.TempDir()
		for b.Loop() {
			cfg, err := Generate(parse(b), Options{})
			if err != nil {
				b.Fatal(err)
			}
			if _, err := runtimeconfig.MergeInto(b.Context(), configDir, cfg, runtimeconfig.MergeOptions{}); err != nil {
				b.Fatal(err)
			}
		}
	})
}
