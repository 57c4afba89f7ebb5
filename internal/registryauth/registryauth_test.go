package registryauth

import (
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestDockerAuth(t *testing.T) {
	decode := func(t *testing.T, header string) map[string]string {
		data, err := base64.URLEncoding.DecodeString(header)
		require.NoError(t, err)
		out := map[string]string{}
		require.NoError(t, json.Unmarshal(data, &out))
		return out
	}
	cred := Credential{Username: "esb", Password: "pw"}
	assert.Equal(t, map[string]string{"username": "esb", "password": "pw", "serveraddress": "127.0.0.1:5010"}, decode(t, cred.DockerAuth("127.0.0.1:5010")))
	assert.Empty(t, decode(t, Credential{}.DockerAuth("x")), "anonymous: valid, empty JSON")
	assert.Equal(t, "esb:pw", cred.UserPass())
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	_, err := Load(dir)
	require.ErrorIs(t, err, ErrMissing)
	assert.ErrorContains(t, err, "esb env")
	require.NoError(t, os.WriteFile(filepath.Join(dir, PasswordFile), []byte("pw\n"), 0o600))
	cred, err := Load(dir)
	require.NoError(t, err)
	assert.Equal(t, Credential{Username: Username, Password: "pw"}, cred)
	assert.Equal(t, "/s/esb-dev-1/dev/registry-auth", Dir("/s/esb-dev-1/dev/config"))
}
