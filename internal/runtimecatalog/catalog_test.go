package runtimecatalog

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestLookup(t *testing.T) {
	tests := []struct {
		name   string
		in     string
		want   Runtime
		wantOK bool
	}{
		{name: "python", in: "python3.13", want: Runtime{Name: "python3.13", Family: FamilyPython}, wantOK: true},
		{name: "node", in: "nodejs20.x", want: Runtime{Name: "nodejs20.x", Family: FamilyNodejs}, wantOK: true},
		{name: "provided al2023", in: "provided.al2023", want: Runtime{Name: "provided.al2023", Family: FamilyProvided}, wantOK: true},
		{name: "provided al2", in: "provided.al2", want: Runtime{Name: "provided.al2", Family: FamilyProvided}, wantOK: true},
		{name: "retired runtime", in: "python2.7"},
		{name: "case matters", in: "Python3.13"},
		{name: "empty", in: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := Lookup(tt.in)
			assert.Equal(t, tt.wantOK, ok)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestNamesSortedAndFresh(t *testing.T) {
	names := Names()
	assert.Equal(t, []string{"nodejs20.x", "provided.al2", "provided.al2023", "python3.13"}, names)
	names[0] = "mutated"
	assert.Equal(t, "nodejs20.x", Names()[0], "callers must not be able to change the catalog")
}
