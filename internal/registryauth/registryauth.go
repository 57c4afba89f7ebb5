// Package registryauth is the env's registry credential: where it lives on
// the host, reading it, and presenting it to the clients that push to or
// pull from the registry (HTTP basic auth, the Docker engine's
// X-Registry-Auth header, containerd's `ctr --user`). Making it is
// package provision's job.
//
// The registry (distribution with htpasswd auth) answers every request,
// reads included, only with this credential: `esb deploy`, the Dagger
// engine's pulls and pushes during a deploy (through the deploy's
// session), and the agent hold it; functions never do.
package registryauth

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Username is the one user of an env's registry. The password alone is
// the secret.
const Username = "esb"

// File names inside the credential directory (Dir).
const (
	PasswordFile = "password" // the password, mode 0600
	HtpasswdFile = "htpasswd" // its bcrypt hash, which the registry reads
)

// ErrMissing means the env has no credential yet.
var ErrMissing = errors.New("no registry credential")

// Credential is a username and password for the env's registry.
type Credential struct {
	Username string
	Password string
}

// Dir is where the credential of the env whose CONFIG_DIR is configDir
// lives on the host: <CONFIG_DIR>/../registry-auth. The compose files
// mount the same directory (registry: the htpasswd; agent: the password).
func Dir(configDir string) string {
	return filepath.Join(filepath.Dir(configDir), "registry-auth")
}

// Load reads the credential from dir (Dir). A missing one is ErrMissing
// with what makes it.
func Load(dir string) (Credential, error) {
	data, err := os.ReadFile(filepath.Join(dir, PasswordFile))
	if errors.Is(err, fs.ErrNotExist) {
		return Credential{}, fmt.Errorf("%w in %s: `esb env` makes it; run eval \"$(esb env -e ENV)\" and `docker compose up -d` again", ErrMissing, dir)
	}
	if err != nil {
		return Credential{}, fmt.Errorf("registry credential: %w", err)
	}
	return Parse(string(data))
}

// Parse reads a password file's content.
func Parse(content string) (Credential, error) {
	pw := strings.TrimSpace(content)
	if pw == "" {
		return Credential{}, fmt.Errorf("%w: the password file is empty", ErrMissing)
	}
	return Credential{Username: Username, Password: pw}, nil
}

// Empty reports whether c carries no credential (an anonymous client).
func (c Credential) Empty() bool { return c.Username == "" && c.Password == "" }

// DockerAuth is the X-Registry-Auth header value the Docker engine API
// takes for a push or pull from server (host:port). The API requires
// valid JSON even when anonymous.
func (c Credential) DockerAuth(server string) string {
	var v any = struct{}{}
	if !c.Empty() {
		v = struct {
			Username      string `json:"username"`
			Password      string `json:"password"`
			ServerAddress string `json:"serveraddress"`
		}{c.Username, c.Password, server}
	}
	data, _ := json.Marshal(v) // a struct of strings always marshals
	return base64.URLEncoding.EncodeToString(data)
}

// UserPass is "user:password", as `ctr --user` takes it.
func (c Credential) UserPass() string { return c.Username + ":" + c.Password }
