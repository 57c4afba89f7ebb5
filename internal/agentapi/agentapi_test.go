package agentapi

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/esb-dev/esb/internal/runtimeconfig"
)

func TestFunctionSpecTimeout(t *testing.T) {
	assert.Equal(t, 3*time.Second, FunctionSpec{}.Timeout(), "Lambda's default when unset")
	assert.Equal(t, 3*time.Second, FunctionSpec{Function: runtimeconfig.Function{Timeout: -1}}.Timeout())
	assert.Equal(t, 900*time.Second, FunctionSpec{Function: runtimeconfig.Function{Timeout: 900}}.Timeout())
}
