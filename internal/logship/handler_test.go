package logship

import (
	"bytes"
	"log/slog"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestHandlerTeesInfoAndAbove(t *testing.T) {
	var out bytes.Buffer
	var sent []map[string]any
	h := NewHandler(slog.NewJSONHandler(&out, &slog.HandlerOptions{Level: slog.LevelDebug}), func(e map[string]any) { sent = append(sent, e) }, "events", "dev")
	log := slog.New(h).With("service", "ignored", "function", "Job")
	log.Debug("quiet")
	log.Warn("schedule fired", "tick", "2026-01-01T00:00:00Z", "attempts", 2)
	require.Len(t, sent, 1, "debug lines stay local")
	e := sent[0]
	assert.Equal(t, "events", e["service"])
	assert.Equal(t, "dev", e["env"])
	assert.Equal(t, "schedule fired", e["message"])
	assert.Equal(t, "warn", e["level"])
	assert.Equal(t, "Job", e["function"])
	assert.Equal(t, int64(2), e["attempts"])
	assert.NotEmpty(t, e["time"])
	assert.Contains(t, out.String(), `"msg":"quiet"`, "every line still reaches the next handler")
	assert.Contains(t, out.String(), `"msg":"schedule fired"`)
}
