package tlsconfig

import (
	"crypto/tls"
	"crypto/x509"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/esb-dev/esb/internal/tlsca"
)

// handshake dials a listener serving cfg as a client trusting caFile.
func handshake(t *testing.T, cfg *tls.Config, caFile, host string, maxVersion uint16) (*tls.ConnectionState, error) {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
	require.NoError(t, err)
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err == nil {
			_ = c.(*tls.Conn).Handshake()
			c.Close()
		}
	}()
	pem, err := os.ReadFile(caFile)
	require.NoError(t, err)
	pool := x509.NewCertPool()
	require.True(t, pool.AppendCertsFromPEM(pem))
	conn, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{RootCAs: pool, ServerName: host, MaxVersion: maxVersion})
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	st := conn.ConnectionState()
	return &st, nil
}

func TestEnvCA(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "tls")
	s, err := New(Options{Dir: dir, Hostnames: []string{"esb.lan"}, Subject: "dev"})
	require.NoError(t, err)
	for _, host := range []string{"localhost", "ordersapi.execute-api.localhost", "esb.lan"} {
		st, err := handshake(t, s.Config(), filepath.Join(dir, tlsca.CAFile), host, 0)
		require.NoError(t, err, host)
		assert.Equal(t, s.NotAfter(), st.PeerCertificates[0].NotAfter)
	}
	_, err = handshake(t, s.Config(), filepath.Join(dir, tlsca.CAFile), "localhost", tls.VersionTLS11)
	assert.Error(t, err, "TLS 1.1 is refused")

	// A restart keeps the CA clients already trust.
	again, err := New(Options{Dir: dir, Hostnames: []string{"esb.lan"}, Subject: "dev"})
	require.NoError(t, err)
	assert.Equal(t, s.NotAfter(), again.NotAfter())
}

func TestOperatorCertificate(t *testing.T) {
	// The operator's own CA and certificate, made here with tlsca.
	opDir := t.TempDir()
	_, err := tlsca.Ensure(opDir, []string{"esb.example.com"}, tlsca.Options{Subject: "operator"})
	require.NoError(t, err)
	envDir := filepath.Join(t.TempDir(), "tls")
	s, err := New(Options{CertFile: filepath.Join(opDir, tlsca.CertFile), KeyFile: filepath.Join(opDir, "server.key"), Dir: envDir})
	require.NoError(t, err)
	_, err = handshake(t, s.Config(), filepath.Join(opDir, tlsca.CAFile), "esb.example.com", 0)
	require.NoError(t, err)
	_, err = os.Stat(envDir)
	assert.ErrorIs(t, err, os.ErrNotExist, "no env CA when the operator brings a certificate")

	_, err = New(Options{CertFile: filepath.Join(opDir, tlsca.CertFile)})
	assert.ErrorContains(t, err, "both or neither")
	_, err = New(Options{CertFile: filepath.Join(opDir, "missing.crt"), KeyFile: filepath.Join(opDir, "server.key")})
	assert.ErrorContains(t, err, "missing.crt")
}
