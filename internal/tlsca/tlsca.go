// Package tlsca keeps an env's own certificate authority and the
// gateway's server certificate it signs, as PEM files in one directory
// (CONFIG_DIR/tls). The gateway calls Ensure at start and then
// periodically: a missing, broken, expiring or too narrow certificate is
// issued again, so HTTPS works on first start without the operator
// bringing a certificate, and keeps working. Clients trust the env by its
// CA file (CAFile), which `esb env` prints.
package tlsca

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// Dir is the directory under CONFIG_DIR that holds the env's CA and the
// gateway's certificate.
const Dir = "tls"

// File names inside Dir. CAFile is the one clients need; the keys never
// leave the directory (mode 0600).
const (
	CAFile      = "ca.crt"
	caKeyFile   = "ca.key"
	CertFile    = "server.crt"
	certKeyFile = "server.key"
)

// Validity and renewal windows. The server certificate lives 397 days,
// the longest browsers accept, and is issued again 30 days before it ends;
// the CA lives ten years and is replaced once it would end before a new
// server certificate does.
const (
	DefaultCAValidity   = 10 * 365 * 24 * time.Hour
	DefaultCertValidity = 397 * 24 * time.Hour
	DefaultRenewBefore  = 30 * 24 * time.Hour
)

// Hostnames lists every name the gateway's certificate covers: loopback by
// name and address, the host names the gateway serves APIs and Function
// URLs on (<api-id>.execute-api.localhost, <url-id>.lambda-url.localhost,
// as curl resolves *.localhost to loopback), and the operator's own names
// (ESB_TLS_HOSTNAMES), host names or IP addresses. This is the one list: a
// new kind of host name the gateway serves is added here.
func Hostnames(extra []string) []string {
	names := []string{"localhost", "127.0.0.1", "::1", "*.execute-api.localhost", "*.lambda-url.localhost"}
	for _, n := range extra {
		n = strings.ToLower(strings.TrimSpace(n))
		if n != "" && !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	return names
}

// Options tune Ensure; zero values take the defaults.
type Options struct {
	// Subject names the env in the certificates' common names, so an
	// operator who trusts several envs' CAs tells them apart.
	Subject      string
	CAValidity   time.Duration
	CertValidity time.Duration
	RenewBefore  time.Duration
	Now          func() time.Time
}

func (o Options) withDefaults() Options {
	if o.Subject == "" {
		o.Subject = "esb"
	}
	if o.CAValidity <= 0 {
		o.CAValidity = DefaultCAValidity
	}
	if o.CertValidity <= 0 {
		o.CertValidity = DefaultCertValidity
	}
	if o.RenewBefore <= 0 {
		o.RenewBefore = DefaultRenewBefore
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

// Result is the server certificate Ensure leaves in the directory.
type Result struct {
	Cert     tls.Certificate
	NotAfter time.Time
	// IssuedCA and IssuedCert tell what this call created (first start,
	// expiry, a broken file, a new host name): a new CA must be handed to
	// clients again.
	IssuedCA, IssuedCert bool
	// Why says what made the call issue, for the log; empty when nothing
	// was issued.
	Why string
}

// Ensure makes dir hold a CA and a server certificate for names (see
// Hostnames) that stays valid for at least the renewal window, issuing
// what is missing, unreadable, expiring or not covering every name.
func Ensure(dir string, names []string, opts Options) (Result, error) {
	opts = opts.withDefaults()
	now := opts.Now()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return Result{}, fmt.Errorf("tls dir: %w", err)
	}
	var res Result
	ca, caKey, err := loadPair(filepath.Join(dir, CAFile), filepath.Join(dir, caKeyFile))
	why := ""
	switch {
	case err != nil && !errors.Is(err, errUnusable):
		return Result{}, err
	case err != nil:
		why = "CA: " + err.Error()
	case !ca.IsCA:
		why = "CA: " + CAFile + " is not a CA certificate"
	case ca.NotAfter.Before(now.Add(opts.CertValidity)):
		why = "CA: ends " + ca.NotAfter.UTC().Format(time.RFC3339) + ", before a new server certificate would"
	}
	if why != "" {
		if ca, caKey, err = issueCA(dir, opts, now); err != nil {
			return Result{}, err
		}
		res.IssuedCA, res.Why = true, why
	}

	cert, key, err := loadPair(filepath.Join(dir, CertFile), filepath.Join(dir, certKeyFile))
	why = ""
	switch {
	case err != nil && !errors.Is(err, errUnusable):
		return Result{}, err
	case err != nil:
		why = "server certificate: " + err.Error()
	case res.IssuedCA:
		why = "server certificate: the CA is new"
	case cert.CheckSignatureFrom(ca) != nil:
		why = "server certificate: not signed by " + CAFile
	case cert.NotAfter.Before(now.Add(opts.RenewBefore)):
		why = "server certificate: ends " + cert.NotAfter.UTC().Format(time.RFC3339)
	default:
		if missing := uncovered(cert, names); len(missing) > 0 {
			why = "server certificate: does not cover " + strings.Join(missing, ", ")
		}
	}
	if why != "" {
		if cert, key, err = issueCert(dir, ca, caKey, names, opts, now); err != nil {
			return Result{}, err
		}
		res.IssuedCert = true
		res.Why = strings.TrimPrefix(res.Why+"; "+why, "; ")
	}
	res.Cert = tls.Certificate{Certificate: [][]byte{cert.Raw}, PrivateKey: key, Leaf: cert}
	res.NotAfter = cert.NotAfter
	return res, nil
}

// errUnusable marks a file that exists in a form Ensure replaces (missing,
// not PEM, a key that does not match), as opposed to one it cannot read.
var errUnusable = errors.New("unusable")

// loadPair reads a certificate and its key; a missing or broken pair is
// errUnusable, a file Ensure may not read is a plain error (overwriting it
// would fail too, and the operator must hear why).
func loadPair(certPath, keyPath string) (*x509.Certificate, crypto.Signer, error) {
	certPEM, err := os.ReadFile(certPath)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil, fmt.Errorf("%w: %s missing", errUnusable, filepath.Base(certPath))
	}
	if err != nil {
		return nil, nil, fmt.Errorf("read %s: %w", certPath, err)
	}
	keyPEM, err := os.ReadFile(keyPath)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil, fmt.Errorf("%w: %s missing", errUnusable, filepath.Base(keyPath))
	}
	if err != nil {
		return nil, nil, fmt.Errorf("read %s: %w", keyPath, err)
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %s: %w", errUnusable, filepath.Base(certPath), err)
	}
	signer, ok := pair.PrivateKey.(crypto.Signer)
	if !ok {
		return nil, nil, fmt.Errorf("%w: %s: key cannot sign", errUnusable, filepath.Base(keyPath))
	}
	return pair.Leaf, signer, nil
}

// uncovered lists the names the certificate does not name literally:
// wildcards must be in it as wildcards, so checking with VerifyHostname
// would not do.
func uncovered(cert *x509.Certificate, names []string) []string {
	var out []string
	for _, n := range names {
		if ip := net.ParseIP(n); ip != nil {
			if !slices.ContainsFunc(cert.IPAddresses, ip.Equal) {
				out = append(out, n)
			}
			continue
		}
		if !slices.Contains(cert.DNSNames, n) {
			out = append(out, n)
		}
	}
	return out
}

func issueCA(dir string, opts Options, now time.Time) (*x509.Certificate, crypto.Signer, error) {
	tmpl := &x509.Certificate{
		Subject:               pkix.Name{CommonName: "ESB env CA " + opts.Subject, Organization: []string{"ESB"}},
		NotBefore:             now.Add(-time.Hour), // clocks of clients lag
		NotAfter:              now.Add(opts.CAValidity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true, // it signs server certificates only
	}
	return issue(dir, CAFile, caKeyFile, tmpl, nil, nil)
}

func issueCert(dir string, ca *x509.Certificate, caKey crypto.Signer, names []string, opts Options, now time.Time) (*x509.Certificate, crypto.Signer, error) {
	notAfter := now.Add(opts.CertValidity)
	if notAfter.After(ca.NotAfter) {
		notAfter = ca.NotAfter
	}
	tmpl := &x509.Certificate{
		Subject:     pkix.Name{CommonName: "ESB gateway " + opts.Subject, Organization: []string{"ESB"}},
		NotBefore:   now.Add(-time.Hour),
		NotAfter:    notAfter,
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, n := range names {
		if ip := net.ParseIP(n); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, n)
		}
	}
	return issue(dir, CertFile, certKeyFile, tmpl, ca, caKey)
}

// issue makes a new key, signs tmpl with parent's key (self-signed when
// parent is nil) and writes both files.
func issue(dir, certName, keyName string, tmpl, parent *x509.Certificate, parentKey crypto.Signer) (*x509.Certificate, crypto.Signer, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", keyName, err)
	}
	if parent == nil {
		parent, parentKey = tmpl, key
	}
	der, err := sign(tmpl, parent, &key.PublicKey, parentKey)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", certName, err)
	}
	if err := writePair(dir, certName, keyName, der, key); err != nil {
		return nil, nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", certName, err)
	}
	return cert, key, nil
}

func sign(tmpl, parent *x509.Certificate, pub crypto.PublicKey, signer crypto.Signer) ([]byte, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, fmt.Errorf("serial: %w", err)
	}
	tmpl.SerialNumber = serial
	pubDER, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("public key: %w", err)
	}
	id := sha256.Sum256(pubDER)
	tmpl.SubjectKeyId = id[:20]
	return x509.CreateCertificate(rand.Reader, tmpl, parent, pub, signer)
}

// writePair writes the key first, then the certificate, each by rename: a
// crash between the two leaves a pair whose key does not match, which the
// next Ensure sees (tls.X509KeyPair) and issues again.
func writePair(dir, certName, keyName string, der []byte, key *ecdsa.PrivateKey) error {
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return fmt.Errorf("encode %s: %w", keyName, err)
	}
	if err := writeFile(dir, keyName, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		return err
	}
	return writeFile(dir, certName, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
}

func writeFile(dir, name string, data []byte, mode fs.FileMode) error {
	f, err := os.CreateTemp(dir, "."+name+".tmp-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	defer os.Remove(f.Name()) // after a rename: a no-op
	err = finish(f, data, mode)
	if err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	if err := os.Rename(f.Name(), filepath.Join(dir, name)); err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	return nil
}

// finish writes, syncs and closes f with mode, so a rename never publishes a
// half-written file.
func finish(f *os.File, data []byte, mode fs.FileMode) error {
	_, err := f.Write(data)
	err = errors.Join(err, f.Chmod(mode), f.Sync())
	return errors.Join(err, f.Close())
}

// ReadCA returns the env CA's certificate from dir, for clients that
// verify the gateway with it.
func ReadCA(dir string) (*x509.Certificate, error) {
	data, err := os.ReadFile(filepath.Join(dir, CAFile))
	if err != nil {
		return nil, fmt.Errorf("read env CA: %w", err)
	}
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, fmt.Errorf("env CA %s: no PEM certificate", filepath.Join(dir, CAFile))
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("env CA %s: %w", filepath.Join(dir, CAFile), err)
	}
	return cert, nil
}
