package agentapi

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
)

// The agent's API is authenticated by a per-env secret: the agent writes a
// fresh one at every start into a file only the gateway also mounts (a
// volume of the env, never seen by function containers), and every call
// but /v1/health carries it as a bearer token. Credentials, not source
// addresses, decide who may drive the agent.

// CodeUnauthorized answers a call without the env's token (401).
const CodeUnauthorized = "Unauthorized"

// NewToken writes a fresh random token to path (readable by the gateway's
// user, replaced atomically) and returns it.
func NewToken(path string) (string, error) {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	token := hex.EncodeToString(b)
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".*")
	if err != nil {
		return "", fmt.Errorf("agent token: %w", err)
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.WriteString(token)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp.Name(), 0o644)
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		return "", fmt.Errorf("agent token %s: %w", path, err)
	}
	return token, nil
}

// Authorized reports whether r carries token.
func Authorized(r *http.Request, token string) bool {
	got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	return ok && subtle.ConstantTimeCompare([]byte(got), []byte(token)) == 1
}

// TokenFile is the gateway's side: the token read from the agent's file,
// kept until the agent refuses it (a restarted agent wrote a new one).
type TokenFile struct {
	Path string

	mu    sync.Mutex
	token string
}

// Token returns the current token, reading the file when none is cached.
func (f *TokenFile) Token() (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.token != "" {
		return f.token, nil
	}
	b, err := os.ReadFile(f.Path)
	if err != nil {
		return "", fmt.Errorf("agent token: %w", err)
	}
	token := strings.TrimSpace(string(b))
	if token == "" {
		return "", errors.New("agent token: " + f.Path + " is empty")
	}
	f.token = token
	return token, nil
}

// Forget drops the cached token if it is still stale, so the next call
// reads the file again.
func (f *TokenFile) Forget(stale string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.token == stale {
		f.token = ""
	}
}
