package awsid

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base32"
	"encoding/base64"
)

// The defaults every service falls back to when the env sets no region or
// account: one owner, so an ARN the gateway builds matches the one the events
// service or the provisioner builds.
const (
	DefaultRegion    = "us-east-1"
	DefaultAccountID = "123456789012"
)

// Key is an AWS access key pair.
type Key struct {
	AccessKeyID     string
	SecretAccessKey string
}

// functionKeyPrefix marks a derived function key: a verifier can tell at a
// glance that an access key id belongs to a function and not to the env's
// root key, and AWS SDKs accept it (20 upper-case characters, as IAM's).
const functionKeyPrefix = "AKIAESB"

// FunctionKey derives the access key pair of one function from the env's root
// secret. Every service that knows the root secret (agent, gateway,
// provisioner) computes the same pair without a key store to share, and a
// function that knows its own pair learns nothing of the root secret or of
// another function's pair (HMAC-SHA256 is a PRF). The pair changes when the
// root secret does.
func FunctionKey(rootSecret, function string) Key {
	id := mac(rootSecret, "access-key-id\x00"+function)
	secret := mac(rootSecret, "secret-access-key\x00"+function)
	return Key{
		AccessKeyID:     functionKeyPrefix + base32.StdEncoding.EncodeToString(id)[:20-len(functionKeyPrefix)],
		SecretAccessKey: base64.RawStdEncoding.EncodeToString(secret)[:40],
	}
}

// IsFunctionKey reports whether an access key id has the form FunctionKey
// gives; it says nothing of whether the key is valid.
func IsFunctionKey(accessKeyID string) bool {
	return len(accessKeyID) == 20 && accessKeyID[:len(functionKeyPrefix)] == functionKeyPrefix
}

func mac(secret, msg string) []byte {
	h := hmac.New(sha256.New, []byte(secret))
	h.Write([]byte(msg))
	return h.Sum(nil)
}
