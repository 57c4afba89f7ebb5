package pipeline

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestWithin(t *testing.T) {
	tests := []struct {
		name, root, path, want string
		ok                     bool
	}{
		{name: "the root itself", root: "/src", path: "/src", want: ".", ok: true},
		{name: "a subdirectory", root: "/src", path: "/src/functions/hello", want: "functions/hello", ok: true},
		{name: "unclean path", root: "/src/", path: "/src/a/../b", want: "b", ok: true},
		{name: "the parent", root: "/src", path: "/", ok: false},
		{name: "a sibling", root: "/src", path: "/srcx/a", ok: false},
		{name: "outside through ..", root: "/src", path: "/src/../etc", ok: false},
		{name: "a name starting with dots", root: "/src", path: "/src/..hidden", want: "..hidden", ok: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := within(tt.root, tt.path)
			assert.Equal(t, tt.ok, ok)
			assert.Equal(t, tt.want, got)
		})
	}
}
