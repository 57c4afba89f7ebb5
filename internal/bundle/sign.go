package bundle

import (
	"crypto"
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
)

// A signed bundle has a detached signature beside it, FILE.sig: one line
// "ed25519 <base64 signature>" over the sha256 of the bundle's bytes,
// made with a key the operator holds (a PKCS#8 PEM file, as
// `openssl genpkey -algorithm ed25519` writes it) and checked with its
// public half (PKIX PEM, `openssl pkey -pubout`).
const sigScheme = "ed25519"

// SignatureFile is where the signature of a bundle lives.
func SignatureFile(bundle string) string { return bundle + ".sig" }

// Sign writes the signature of the bundle at file with the private key in
// keyFile, and returns its path.
func Sign(file, keyFile string) (string, error) {
	key, err := readPEM(keyFile, "PRIVATE KEY")
	if err != nil {
		return "", err
	}
	parsed, err := x509.ParsePKCS8PrivateKey(key)
	if err != nil {
		return "", fmt.Errorf("signing key %s: %w", keyFile, err)
	}
	priv, ok := parsed.(ed25519.PrivateKey)
	if !ok {
		return "", fmt.Errorf("signing key %s: a %T, want an ed25519 key", keyFile, parsed)
	}
	sum, err := fileSHA256(file)
	if err != nil {
		return "", err
	}
	sig, err := priv.Sign(nil, sum, crypto.Hash(0))
	if err != nil {
		return "", fmt.Errorf("sign %s: %w", file, err)
	}
	out := SignatureFile(file)
	if err := os.WriteFile(out, []byte(sigScheme+" "+base64.StdEncoding.EncodeToString(sig)+"\n"), 0o644); err != nil {
		return "", fmt.Errorf("write signature: %w", err)
	}
	return out, nil
}

// WriteKeyPair makes a new ed25519 key pair for signing bundles: the
// private key at prefix+".pem" (PKCS#8, readable by its owner only) and the
// public key at prefix+".pub" (PKIX); neither may exist yet.
func WriteKeyPair(prefix string) (private, public string, err error) {
	pub, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		return "", "", err
	}
	privDER, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return "", "", err
	}
	pubDER, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return "", "", err
	}
	private, public = prefix+".pem", prefix+".pub"
	for _, k := range []struct {
		file string
		kind string
		der  []byte
		mode os.FileMode
	}{{private, "PRIVATE KEY", privDER, 0o600}, {public, "PUBLIC KEY", pubDER, 0o644}} {
		f, err := os.OpenFile(k.file, os.O_WRONLY|os.O_CREATE|os.O_EXCL, k.mode)
		if err != nil {
			return "", "", fmt.Errorf("key pair: %w", err)
		}
		werr := pem.Encode(f, &pem.Block{Type: k.kind, Bytes: k.der})
		if err := errors.Join(werr, f.Close()); err != nil {
			return "", "", fmt.Errorf("key pair: %w", err)
		}
	}
	return private, public, nil
}

// ErrSignature is wrapped by every refusal of a bundle's signature.
var ErrSignature = errors.New("bad bundle signature")

// VerifySignature checks the signature beside the bundle at file against
// the public key in pubFile.
func VerifySignature(file, pubFile string) error {
	sum, err := fileSHA256(file)
	if err != nil {
		return err
	}
	return VerifySignatureSum(file, sum, pubFile)
}

// VerifySignatureSum is VerifySignature for a caller that already read the
// file and holds its sha256 (a reader that checks every byte anyway, and
// must not sign off on bytes other than those it read).
func VerifySignatureSum(file string, sum []byte, pubFile string) error {
	key, err := readPEM(pubFile, "PUBLIC KEY")
	if err != nil {
		return err
	}
	parsed, err := x509.ParsePKIXPublicKey(key)
	if err != nil {
		return fmt.Errorf("public key %s: %w", pubFile, err)
	}
	pub, ok := parsed.(ed25519.PublicKey)
	if !ok {
		return fmt.Errorf("public key %s: a %T, want an ed25519 key", pubFile, parsed)
	}
	sigFile := SignatureFile(file)
	data, err := os.ReadFile(sigFile)
	if errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("%w: no %s (export with --sign)", ErrSignature, sigFile)
	}
	if err != nil {
		return err
	}
	scheme, encoded, _ := strings.Cut(strings.TrimSpace(string(data)), " ")
	sig, err := base64.StdEncoding.DecodeString(encoded)
	if scheme != sigScheme || err != nil {
		return fmt.Errorf("%w: %s is not an %s signature line", ErrSignature, sigFile, sigScheme)
	}
	if !ed25519.Verify(pub, sum, sig) {
		return fmt.Errorf("%w: %s does not match %s under the key %s (changed, or signed with another key)", ErrSignature, sigFile, file, pubFile)
	}
	return nil
}

func readPEM(file, kind string) ([]byte, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("key: %w", err)
	}
	block, _ := pem.Decode(data)
	if block == nil || block.Type != kind {
		return nil, fmt.Errorf("key %s: no PEM %q block", file, kind)
	}
	return block.Bytes, nil
}

func fileSHA256(file string) ([]byte, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return nil, fmt.Errorf("hash %s: %w", file, err)
	}
	return h.Sum(nil), nil
}
