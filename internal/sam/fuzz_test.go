package sam

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzParse feeds arbitrary bytes to the parser: it may reject them, but
// must never panic or hang. The seeds are the fixture corpus and the error
// templates, so mutations start from realistic SAM documents.
func FuzzParse(f *testing.F) {
	seeds, err := filepath.Glob("../../fixtures/sam/*/template.yml")
	if err != nil {
		f.Fatal(err)
	}
	fidelity, err := filepath.Glob("../../fixtures/sam/fidelity/*/template.yml")
	if err != nil {
		f.Fatal(err)
	}
	seeds = append(seeds, fidelity...)
	bad, err := filepath.Glob("testdata/errors/*.yml")
	if err != nil {
		f.Fatal(err)
	}
	for _, path := range append(seeds, bad...) {
		src, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(src)
	}
	f.Add([]byte("a: &x [*x, *x]"))
	f.Add([]byte("Resources: {A: {Type: AWS::S3::Bucket, Properties: {BucketName: !Sub '${A}'}}}"))
	dir := "testdata/errors"
	f.Fuzz(func(t *testing.T, src []byte) {
		tmpl, err := Parse("template.yml", src, dir, Options{})
		if err == nil && tmpl == nil {
			t.Fatal("nil template without an error")
		}
		if err != nil && err.Error() == "" {
			t.Fatal("empty error message")
		}
	})
}
