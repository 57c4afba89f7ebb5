package sigv4

import (
	"crypto/subtle"
	"sync/atomic"

	"github.com/esb-dev/esb/internal/awsid"
)

// FunctionSet is the live set of functions whose own keys are accepted.
type FunctionSet interface {
	// Generation changes whenever the set may have changed.
	Generation() uint64
	// FunctionNames lists the functions of the live generation.
	FunctionNames() []string
}

// Keyring is the env's keys: its root key, and the key awsid.FunctionKey
// derives for each function of the live generation (a function removed by
// a deploy loses its key with it).
type Keyring struct {
	root      awsid.Key
	functions FunctionSet
	// byGen maps the function key ids of one generation, built on the
	// first lookup after the generation changed.
	byGen atomic.Pointer[functionKeys]
}

type functionKeys struct {
	gen  uint64
	keys map[string]functionKey // by access key id
}

type functionKey struct {
	name   string
	secret string
}

// NewKeyring accepts root and the keys of functions' members. functions
// may be nil: the root key alone is accepted.
func NewKeyring(root awsid.Key, functions FunctionSet) *Keyring {
	return &Keyring{root: root, functions: functions}
}

// Secret implements Keys.
func (k *Keyring) Secret(accessKeyID string) (string, Identity, bool) {
	if k.root.AccessKeyID != "" && subtle.ConstantTimeCompare([]byte(accessKeyID), []byte(k.root.AccessKeyID)) == 1 {
		return k.root.SecretAccessKey, Identity{}, true
	}
	if k.functions == nil || !awsid.IsFunctionKey(accessKeyID) {
		return "", Identity{}, false
	}
	fk, ok := k.current().keys[accessKeyID]
	if !ok {
		return "", Identity{}, false
	}
	return fk.secret, Identity{Function: fk.name}, true
}

// current is the key map of the live generation. Two requests that race
// on a new generation both build it; either result is right.
func (k *Keyring) current() *functionKeys {
	gen := k.functions.Generation()
	if fk := k.byGen.Load(); fk != nil && fk.gen == gen {
		return fk
	}
	names := k.functions.FunctionNames()
	fk := &functionKeys{gen: gen, keys: make(map[string]functionKey, len(names))}
	for _, n := range names {
		key := awsid.FunctionKey(k.root.SecretAccessKey, n)
		fk.keys[key.AccessKeyID] = functionKey{name: n, secret: key.SecretAccessKey}
	}
	k.byGen.Store(fk)
	return fk
}
