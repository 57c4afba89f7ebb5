package runtimeconfig

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
)

// Digest identifies a config by what it says, not by its bytes: the
// sha256 of its canonical encoding (Marshal), "sha256:<hex>". A deploy
// computes it from the files it wrote, decoded; the gateway from the files
// it loaded, decoded the same way; so the two agree exactly when the
// gateway serves what the deploy wrote, whatever formatting or comments
// the files had, and a set equal to the one already live (which the
// gateway does not reload) has the live set's digest.
func (c Config) Digest() (string, error) {
	files, err := Marshal(c)
	if err != nil {
		return "", fmt.Errorf("config digest: %w", err)
	}
	h := sha256.New()
	for _, name := range FileNames {
		data := files.Get(name)
		// Each file framed by its name and length, so no two sets share
		// one concatenation.
		fmt.Fprintf(h, "%s %d\n", name, len(data))
		h.Write(data)
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil)), nil
}
