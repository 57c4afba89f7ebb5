package awsid

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestUUID(t *testing.T) {
	a, b := UUID(), UUID()
	assert.Regexp(t, `^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`, a)
	assert.NotEqual(t, a, b)
}

func TestFunctionURLID(t *testing.T) {
	a := FunctionURLID("esb-dev", "Echo")
	assert.Regexp(t, `^[a-z0-9]{32}$`, a)
	assert.Equal(t, a, FunctionURLID("esb-dev", "Echo"), "stable per env and function")
	assert.NotEqual(t, a, FunctionURLID("esb-prod", "Echo"), "another env, another id")
	assert.NotEqual(t, a, FunctionURLID("esb-dev", "Other"), "another function, another id")
}
