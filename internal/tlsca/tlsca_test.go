package tlsca

import (
	"crypto/x509"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// verify checks the certificate Ensure left in dir the way a client does:
// chained to the CA file, for the given host name, at the given time.
func verify(t *testing.T, dir, host string, at time.Time) error {
	t.Helper()
	ca, err := ReadCA(dir)
	require.NoError(t, err)
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	cert, _, err := loadPair(filepath.Join(dir, CertFile), filepath.Join(dir, certKeyFile))
	require.NoError(t, err)
	_, err = cert.Verify(x509.VerifyOptions{DNSName: host, Roots: pool, CurrentTime: at, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
	return err
}

func TestEnsureFirstStart(t *testing.T) {
	dir := filepath.Join(t.TempDir(), Dir)
	now := time.Date(2026, 12, 3, 8, 0, 0, 0, time.UTC)
	res, err := Ensure(dir, Hostnames([]string{"esb.example.com", "10.0.0.5"}), Options{Subject: "dev", Now: func() time.Time { return now }})
	require.NoError(t, err)
	assert.True(t, res.IssuedCA)
	assert.True(t, res.IssuedCert)
	assert.Equal(t, now.Add(DefaultCertValidity), res.NotAfter)
	for _, host := range []string{"localhost", "127.0.0.1", "::1", "ordersapi.execute-api.localhost", "fn.lambda-url.localhost", "esb.example.com", "10.0.0.5"} {
		assert.NoError(t, verify(t, dir, host, now), host)
	}
	for _, host := range []string{"example.org", "a.b.execute-api.localhost", "10.0.0.6"} {
		assert.Error(t, verify(t, dir, host, now), host)
	}
	for name, mode := range map[string]os.FileMode{CAFile: 0o644, caKeyFile: 0o600, CertFile: 0o644, certKeyFile: 0o600} {
		st, err := os.Stat(filepath.Join(dir, name))
		require.NoError(t, err)
		assert.Equal(t, mode, st.Mode().Perm(), name)
	}
}

func TestEnsureRenews(t *testing.T) {
	start := time.Date(2026, 12, 3, 8, 0, 0, 0, time.UTC)
	names := Hostnames(nil)
	tests := []struct {
		name     string
		at       time.Time
		names    []string
		breakIt  func(t *testing.T, dir string)
		wantCA   bool
		wantCert bool
	}{
		{name: "valid: kept", at: start.Add(24 * time.Hour), names: names},
		{name: "inside the renewal window: new certificate, same CA", at: start.Add(DefaultCertValidity - DefaultRenewBefore + time.Hour), names: names, wantCert: true},
		{name: "expired: new certificate", at: start.Add(DefaultCertValidity + time.Hour), names: names, wantCert: true},
		{name: "a new host name: new certificate", at: start.Add(time.Hour), names: Hostnames([]string{"esb.lan"}), wantCert: true},
		{name: "CA ending before a new certificate would: new CA and certificate", at: start.Add(DefaultCAValidity - DefaultCertValidity + time.Hour), names: names, wantCA: true, wantCert: true},
		{name: "server key lost: new certificate", at: start.Add(time.Hour), names: names, wantCert: true,
			breakIt: func(t *testing.T, dir string) { require.NoError(t, os.Remove(filepath.Join(dir, certKeyFile))) }},
		{name: "CA key garbage: new CA and certificate", at: start.Add(time.Hour), names: names, wantCA: true, wantCert: true,
			breakIt: func(t *testing.T, dir string) {
				require.NoError(t, os.WriteFile(filepath.Join(dir, caKeyFile), []byte("junk"), 0o600))
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			first, err := Ensure(dir, names, Options{Now: func() time.Time { return start }})
			require.NoError(t, err)
			caBefore, err := os.ReadFile(filepath.Join(dir, CAFile))
			require.NoError(t, err)
			if tt.breakIt != nil {
				tt.breakIt(t, dir)
			}
			res, err := Ensure(dir, tt.names, Options{Now: func() time.Time { return tt.at }})
			require.NoError(t, err)
			assert.Equal(t, tt.wantCA, res.IssuedCA, res.Why)
			assert.Equal(t, tt.wantCert, res.IssuedCert, res.Why)
			assert.Equal(t, tt.wantCert || tt.wantCA, res.Why != "")
			caAfter, err := os.ReadFile(filepath.Join(dir, CAFile))
			require.NoError(t, err)
			assert.Equal(t, !tt.wantCA, string(caBefore) == string(caAfter), "CA file kept")
			if !tt.wantCert {
				assert.Equal(t, first.NotAfter, res.NotAfter)
				return
			}
			assert.True(t, res.NotAfter.After(tt.at.Add(DefaultRenewBefore)), "renewed certificate outlives the window")
			for _, n := range tt.names {
				if n[0] != '*' {
					assert.NoError(t, verify(t, dir, n, tt.at), n)
				}
			}
		})
	}
}

func TestEnsureUnreadableIsAnError(t *testing.T) {
	dir := t.TempDir()
	_, err := Ensure(dir, Hostnames(nil), Options{})
	require.NoError(t, err)
	// A directory in the key's place: unreadable even for root.
	key := filepath.Join(dir, caKeyFile)
	require.NoError(t, os.Remove(key))
	require.NoError(t, os.Mkdir(key, 0o700))
	_, err = Ensure(dir, Hostnames(nil), Options{})
	assert.ErrorContains(t, err, "is a directory", "a key it cannot read is not silently replaced")
}

func TestHostnames(t *testing.T) {
	got := Hostnames([]string{" ESB.example.com ", "", "localhost", "192.168.1.9"})
	assert.Equal(t, []string{"localhost", "127.0.0.1", "::1", "*.execute-api.localhost", "*.lambda-url.localhost", "esb.example.com", "192.168.1.9"}, got)
}
