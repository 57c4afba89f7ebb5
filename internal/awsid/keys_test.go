package awsid

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestFunctionKey(t *testing.T) {
	a := FunctionKey("root-secret", "orders")
	assert.Regexp(t, `^AKIAESB[A-Z2-7]{13}$`, a.AccessKeyID)
	assert.Len(t, a.SecretAccessKey, 40)
	assert.True(t, IsFunctionKey(a.AccessKeyID))
	assert.False(t, IsFunctionKey("esb"))

	assert.Equal(t, a, FunctionKey("root-secret", "orders"), "derivation is deterministic")
	b := FunctionKey("root-secret", "billing")
	assert.NotEqual(t, a.AccessKeyID, b.AccessKeyID, "each function has its own key")
	assert.NotEqual(t, a.SecretAccessKey, b.SecretAccessKey)
	c := FunctionKey("other-root", "orders")
	assert.NotEqual(t, a.SecretAccessKey, c.SecretAccessKey, "a new root secret rotates every function key")
}
