//go:build e2e

package e2e

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestDaggerModuleSuite runs the module's e2e function (the deploy-first A/B
// suite on a platform inside the pipeline) twice on a throwaway env's
// engine: the first run passes, the second gives the same result from
// cache. Cold it builds the whole platform a second time inside the
// pipeline (about 15 min on two cores); just e2e-dagger runs it alone.
func TestDaggerModuleSuite(t *testing.T) {
	s := newStack(t, "dsuite", 1400)
	s.up(t)
	ctx := t.Context()
	// What the e2e function starts from; on a site, the registry mirror
	// holds them.
	mirror(ctx, t, s, "golang:1.26-bookworm", "debian:bookworm-slim", "debian:trixie-slim")

	var outputs []string
	for i := range 2 {
		start := time.Now()
		res := s.dagger(ctx, t, "call", "e-2-e")
		require.NoError(t, res.err, "run %d", i+1)
		t.Logf("dagger call e-2-e, run %d: %.0fs", i+1, time.Since(start).Seconds())
		assert.Contains(t, res.stdout, "--- PASS: TestDeployFirstFlow")
		assert.NotContains(t, res.stdout, "--- FAIL")
		outputs = append(outputs, res.stdout)
	}
	assert.Equal(t, outputs[0], outputs[1], "unchanged inputs give the recorded result")
}
