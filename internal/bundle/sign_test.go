package bundle

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func keyPair(t *testing.T) (string, string) {
	t.Helper()
	priv, pub, err := WriteKeyPair(filepath.Join(t.TempDir(), "operator"))
	require.NoError(t, err)
	return priv, pub
}

func TestSignedBundleImportsUnderItsKeyOnly(t *testing.T) {
	file, _ := exported(t)
	priv, pub := keyPair(t)
	_, otherPub := keyPair(t)
	sig, err := Sign(file, priv)
	require.NoError(t, err)
	assert.Equal(t, file+".sig", sig)
	require.NoError(t, VerifySignature(file, pub))

	importWith := func(key string) (Imported, *fakeSteps, error) {
		steps := &fakeSteps{}
		res, err := Import(t.Context(), ImportOptions{File: file, ConfigDir: filepath.Join(t.TempDir(), "config"), Repository: "esb-site", Registry: "r:5000", Mode: "docker", HistoryKeep: 5, VerifyKey: key},
			Targets{Registry: registryContent{}, Steps: steps})
		return res, steps, err
	}
	_, steps, err := importWith(otherPub)
	require.ErrorIs(t, err, ErrSignature)
	assert.ErrorContains(t, err, "bundle refused, nothing changed")
	assert.Zero(t, steps.provisions)

	_, _, err = importWith(pub)
	require.NoError(t, err)

	res, _, err := importWith("")
	require.NoError(t, err)
	assert.Equal(t, []string{file + ".sig was not checked: pass --verify PUBKEY to check it"}, res.Warnings)

	// A bundle changed after signing fails the signature, before its
	// manifest is even read.
	f, err := os.OpenFile(file, os.O_WRONLY|os.O_APPEND, 0)
	require.NoError(t, err)
	_, err = f.Write([]byte{0})
	require.NoError(t, err)
	require.NoError(t, f.Close())
	_, _, err = importWith(pub)
	assert.ErrorIs(t, err, ErrSignature)

	require.NoError(t, os.Remove(sig))
	_, _, err = importWith(pub)
	assert.ErrorContains(t, err, "no "+sig)
}

func TestWriteKeyPairKeepsThePrivateKeyPrivate(t *testing.T) {
	priv, pub := keyPair(t)
	st, err := os.Stat(priv)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), st.Mode().Perm())
	_, _, err = WriteKeyPair(priv[:len(priv)-len(".pem")])
	assert.ErrorIs(t, err, os.ErrExist, "an existing key is never overwritten")
	assert.FileExists(t, pub)
}

func TestSignRefusesAPublicKey(t *testing.T) {
	file, _ := exported(t)
	_, pub := keyPair(t)
	_, err := Sign(file, pub)
	assert.ErrorContains(t, err, `no PEM "PRIVATE KEY" block`)
}
