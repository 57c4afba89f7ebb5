// Package platform describes one env of the ESB platform: its compose
// project name, its CONFIG_DIR and its host port block. The CLI, the compose
// files (through `esb env`) and the E2E suite all derive these from here.
package platform

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
)

// DefaultBrand prefixes compose projects, image repositories and cache dirs.
const DefaultBrand = "esb"

// Env identifies one isolated platform instance.
type Env struct {
	Brand string // e.g. "esb"
	Name  string // as the user typed it, e.g. "Dev"
}

var namePattern = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]*$`)

// New validates brand and env name. Both end up in compose project names and
// image repositories, so they follow compose's project name rules once
// lower-cased.
func New(brand, name string) (Env, error) {
	if brand == "" {
		brand = DefaultBrand
	}
	if name == "" {
		return Env{}, errors.New("env name is empty (pass --env/-e)")
	}
	for _, v := range []struct{ what, s string }{{"brand", brand}, {"env", name}} {
		if !namePattern.MatchString(strings.ToLower(v.s)) {
			return Env{}, fmt.Errorf("%s %q: use letters, digits, '-' and '_', starting with a letter or digit", v.what, v.s)
		}
	}
	return Env{Brand: strings.ToLower(brand), Name: name}, nil
}

// Key is the lower-cased env name used in every derived name.
func (e Env) Key() string { return strings.ToLower(e.Name) }

// Project is the compose project name, "<brand>-<env>".
func (e Env) Project() string { return e.Brand + "-" + e.Key() }

// StageKey is "<project>-<first 8 hex of sha256("<project>:<env>")>".
func (e Env) StageKey() string {
	sum := sha256.Sum256([]byte(e.Project() + ":" + e.Key()))
	return e.Project() + "-" + hex.EncodeToString(sum[:])[:8]
}

// Dirs are the inputs of the CONFIG_DIR rule, read by the caller from the
// environment (XDG_CACHE_HOME, HOME).
type Dirs struct {
	XDGCacheHome string
	Home         string
}

// StagingRoot is $XDG_CACHE_HOME/<brand>/staging, else ~/.<brand>/.cache/staging.
func (e Env) StagingRoot(d Dirs) (string, error) {
	if d.XDGCacheHome != "" {
		if !filepath.IsAbs(d.XDGCacheHome) {
			return "", fmt.Errorf("XDG_CACHE_HOME %q is not an absolute path", d.XDGCacheHome)
		}
		return filepath.Join(d.XDGCacheHome, e.Brand, "staging"), nil
	}
	if d.Home == "" {
		return "", errors.New("neither XDG_CACHE_HOME nor HOME is set: cannot place CONFIG_DIR")
	}
	return filepath.Join(d.Home, "."+e.Brand, ".cache", "staging"), nil
}

// EnvDir is <root>/<stage_key>/<env>: everything host-side that belongs to
// the env lives below it (config, the Dagger engine socket).
func (e Env) EnvDir(d Dirs) (string, error) {
	root, err := e.StagingRoot(d)
	if err != nil {
		return "", err
	}
	return filepath.Join(root, e.StageKey(), e.Key()), nil
}

// ConfigDir is <root>/<stage_key>/<env>/config, the only config source of
// gateway and provisioner.
func (e Env) ConfigDir(d Dirs) (string, error) {
	dir, err := e.EnvDir(d)
	if err != nil {
		return "", err
	}
	return filepath.Join(dir, "config"), nil
}
