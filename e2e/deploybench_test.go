//go:build e2e

package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// BenchmarkDeploy10 measures `esb deploy` of a 10-function Python template
// on a fresh env: the cold deploy (runtime base built, every function
// built), a warm redeploy with nothing changed, and a redeploy after one
// function changed. Ratios are against the cold deploy of the same run.
// Run it once: go test -tags e2e -run '^$' -bench BenchmarkDeploy10 -benchtime 1x ./e2e/
func BenchmarkDeploy10(b *testing.B) {
	s := newStack(b, "deploybench", 1000)
	s.up(b)
	work := b.TempDir()
	tmpl := writeTenFunctions(b, work)
	ctx := b.Context()

	timed := func(name string) (time.Duration, esbResult) {
		start := time.Now()
		res := s.esb(ctx, b, "deploy", "-t", tmpl)
		d := time.Since(start)
		if res.err != nil {
			b.Fatalf("%s deploy: %v\n%s", name, res.err, res.stderr)
		}
		return d, res
	}
	for b.Loop() {
		cold, _ := timed("cold")
		warm, res := timed("warm")
		if n := strings.Count(res.stdout, "unchanged (not rebuilt)"); n != 10 {
			b.Fatalf("warm redeploy rebuilt %d functions:\n%s", 10-n, res.stdout)
		}
		app := filepath.Join(work, "fn03", "app.py")
		if err := os.WriteFile(app, []byte("def handler(event, context):\n    return {'fn': 3, 'changed': True}\n"), 0o644); err != nil {
			b.Fatal(err)
		}
		one, res := timed("one changed")
		if n := strings.Count(res.stdout, "unchanged (not rebuilt)"); n != 9 {
			b.Fatalf("after changing 1 of 10, %d functions were rebuilt, want exactly 1:\n%s", 10-n, res.stdout)
		}
		b.ReportMetric(cold.Seconds(), "s-cold")
		b.ReportMetric(warm.Seconds(), "s-warm-unchanged")
		b.ReportMetric(one.Seconds(), "s-one-changed")
		b.ReportMetric(warm.Seconds()/cold.Seconds(), "warm/cold")
		b.ReportMetric(one.Seconds()/cold.Seconds(), "one/cold")
		b.ReportMetric(1, "rebuilt-after-one-change")
	}
}

// writeTenFunctions writes a template with ten Python functions, each with
// its own code directory and route.
func writeTenFunctions(b *testing.B, dir string) string {
	b.Helper()
	var tmpl strings.Builder
	tmpl.WriteString("Transform: AWS::Serverless-2016-10-31\nGlobals:\n  Function:\n    Runtime: python3.13\n    Handler: app.handler\nResources:\n")
	for i := range 10 {
		code := fmt.Sprintf("fn%02d", i)
		if err := os.MkdirAll(filepath.Join(dir, code), 0o755); err != nil {
			b.Fatal(err)
		}
		src := fmt.Sprintf("def handler(event, context):\n    return {'fn': %d}\n", i)
		if err := os.WriteFile(filepath.Join(dir, code, "app.py"), []byte(src), 0o644); err != nil {
			b.Fatal(err)
		}
		fmt.Fprintf(&tmpl, "  Fn%02d:\n    Type: AWS::Serverless::Function\n    Properties:\n      CodeUri: %s/\n      Events:\n        Get:\n          Type: HttpApi\n          Properties:\n            Path: /fn%02d\n            Method: get\n", i, code, i)
	}
	path := filepath.Join(dir, "template.yml")
	if err := os.WriteFile(path, []byte(tmpl.String()), 0o644); err != nil {
		b.Fatal(err)
	}
	return path
}
