// Package provision makes an env's registry credential on the host: a
// random password and its bcrypt hash in the htpasswd file the registry
// reads. It is separate from registryauth so that what only uses the
// credential (the Dagger module, the agent) does not link bcrypt.
package provision

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/crypto/bcrypt"

	"github.com/esb-dev/esb/internal/registryauth"
)

// Ensure returns the credential in dir (registryauth.Dir), making it the
// first time: 32 random bytes, hex, as the password (0600) and its bcrypt
// line in the htpasswd file (0644: a hash, and the registry's user inside
// its container need not be the host's). An existing credential is kept,
// so the running registry and the agent keep agreeing with it; a password
// whose htpasswd is gone gets it back.
func Ensure(dir string) (registryauth.Credential, error) {
	cred, err := registryauth.Load(dir)
	switch {
	case err == nil:
	case errors.Is(err, registryauth.ErrMissing):
		buf := make([]byte, 32)
		if _, err := rand.Read(buf); err != nil {
			return cred, fmt.Errorf("registry credential: %w", err)
		}
		cred = registryauth.Credential{Username: registryauth.Username, Password: hex.EncodeToString(buf)}
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return cred, fmt.Errorf("registry credential: %w", err)
		}
		if err := writeFile(filepath.Join(dir, registryauth.PasswordFile), []byte(cred.Password+"\n"), 0o600); err != nil {
			return cred, err
		}
		// A new password makes any older hash wrong.
		_ = os.Remove(filepath.Join(dir, registryauth.HtpasswdFile))
	default:
		return cred, err
	}
	htpasswd := filepath.Join(dir, registryauth.HtpasswdFile)
	if _, err := os.Stat(htpasswd); err == nil {
		return cred, nil
	}
	line, err := Htpasswd(cred)
	if err != nil {
		return cred, err
	}
	return cred, writeFile(htpasswd, []byte(line), 0o644)
}

// Htpasswd is cred as one line of an htpasswd file (bcrypt), the only
// hash distribution's htpasswd auth accepts.
func Htpasswd(cred registryauth.Credential) (string, error) {
	hash, err := bcrypt.GenerateFromPassword([]byte(cred.Password), bcrypt.DefaultCost)
	if err != nil {
		return "", fmt.Errorf("registry credential: bcrypt: %w", err)
	}
	return cred.Username + ":" + string(hash) + "\n", nil
}

// writeFile writes data whole or not at all: a temp file renamed into
// place, so a crash never leaves half a password.
func writeFile(path string, data []byte, perm os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("registry credential: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("registry credential %s: %w", path, err)
	}
	if err := tmp.Chmod(perm); err != nil {
		tmp.Close()
		return fmt.Errorf("registry credential %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("registry credential %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("registry credential %s: %w", path, err)
	}
	return nil
}
