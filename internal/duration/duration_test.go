package duration

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParse(t *testing.T) {
	for _, tt := range []struct {
		name, in string
		want     time.Duration
	}{
		{name: "go duration", in: "1m30s", want: 90 * time.Second},
		{name: "seconds", in: "0.5", want: 500 * time.Millisecond},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse(tt.in)
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
	_, err := Parse("soon")
	assert.ErrorContains(t, err, "neither a duration")
}
