package provision

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/bcrypt"

	"github.com/esb-dev/esb/internal/registryauth"
)

func TestEnsure(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "registry-auth")
	_, err := registryauth.Load(dir)
	require.ErrorIs(t, err, registryauth.ErrMissing)

	first, err := Ensure(dir)
	require.NoError(t, err)
	assert.Equal(t, registryauth.Username, first.Username)
	assert.Len(t, first.Password, 64)

	st, err := os.Stat(filepath.Join(dir, registryauth.PasswordFile))
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), st.Mode().Perm(), "the password is the owner's only")

	line, err := os.ReadFile(filepath.Join(dir, registryauth.HtpasswdFile))
	require.NoError(t, err)
	user, hash, ok := strings.Cut(strings.TrimSpace(string(line)), ":")
	require.True(t, ok)
	assert.Equal(t, registryauth.Username, user)
	assert.NoError(t, bcrypt.CompareHashAndPassword([]byte(hash), []byte(first.Password)))

	again, err := Ensure(dir)
	require.NoError(t, err)
	assert.Equal(t, first, again, "an existing credential is kept")
	loaded, err := registryauth.Load(dir)
	require.NoError(t, err)
	assert.Equal(t, first, loaded)

	other, err := Ensure(filepath.Join(t.TempDir(), "registry-auth"))
	require.NoError(t, err)
	assert.NotEqual(t, first.Password, other.Password, "each env gets its own")

	require.NoError(t, os.Remove(filepath.Join(dir, registryauth.HtpasswdFile)))
	_, err = Ensure(dir)
	require.NoError(t, err)
	line, err = os.ReadFile(filepath.Join(dir, registryauth.HtpasswdFile))
	require.NoError(t, err)
	_, hash, _ = strings.Cut(strings.TrimSpace(string(line)), ":")
	assert.NoError(t, bcrypt.CompareHashAndPassword([]byte(hash), []byte(first.Password)), "a lost htpasswd is made again from the password")
}
