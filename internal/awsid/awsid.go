// Package awsid makes the identifiers AWS services hand out.
package awsid

import (
	"crypto/rand"
	"encoding/hex"
)

// UUID returns a random UUID (version 4), the form of Lambda's and API
// Gateway's request ids and of EventBridge's event ids.
func UUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}
