package registry

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/gofrs/flock"

	"github.com/esb-dev/esb/internal/registryauth"
)

// Ledger is the host's record of the base images ESB put into an env's
// registry: repository:tag (as the registry names it, e.g.
// library/debian:trixie-slim) to the manifest digest ESB pushed or
// published. The registry's own answer is never the source of truth for a
// base: a build starts from a base only when the registry still serves
// the recorded digest.
type Ledger struct {
	// Path is the JSON file (EnvLedger).
	Path string
}

// EnvLedger is the ledger of the env whose CONFIG_DIR is configDir,
// beside its registry credential: CONFIG_DIR/../registry-auth/bases.json.
func EnvLedger(configDir string) Ledger {
	return Ledger{Path: filepath.Join(registryauth.Dir(configDir), "bases.json")}
}

// ErrDigestMismatch means the registry serves another digest for a base
// than the one ESB recorded when it seeded it.
var ErrDigestMismatch = errors.New("base image digest changed")

// DigestMismatchError names the base and both digests.
type DigestMismatchError struct {
	Ref      string // as the deploy asked for it, e.g. debian:trixie-slim
	Registry string // host:port
	Served   string // what the registry answers now
	Recorded string // what ESB pushed
	Ledger   string // the ledger file
}

func (e *DigestMismatchError) Error() string {
	return fmt.Sprintf("base image %s: the env's registry %s serves %s, but ESB seeded %s (recorded in %s): "+
		"refusing to build on an image ESB did not put there; if it was replaced on purpose, remove its entry from that file and deploy again (ESB then pushes this host's copy)",
		e.Ref, e.Registry, e.Served, e.Recorded, e.Ledger)
}

func (e *DigestMismatchError) Unwrap() error { return ErrDigestMismatch }

// Check compares what the registry serves for key with the record:
// recorded reports whether the ledger has key at all; a record that
// differs from served is a DigestMismatchError.
func (l Ledger) Check(key, ref, addr, served string) (recorded bool, err error) {
	entries, err := l.load()
	if err != nil {
		return false, err
	}
	want, ok := entries[key]
	if !ok {
		return false, nil
	}
	if want != served {
		return true, &DigestMismatchError{Ref: ref, Registry: addr, Served: served, Recorded: want, Ledger: l.Path}
	}
	return true, nil
}

// Record notes that ESB put digest under key.
func (l Ledger) Record(key, digest string) error {
	if l.Path == "" {
		return errors.New("base image ledger: no path")
	}
	if err := os.MkdirAll(filepath.Dir(l.Path), 0o755); err != nil {
		return fmt.Errorf("base image ledger: %w", err)
	}
	// Deploys of one env may run side by side: read, change and write
	// under a lock so neither loses the other's record.
	lock := flock.New(l.Path + ".lock")
	if err := lock.Lock(); err != nil {
		return fmt.Errorf("base image ledger lock: %w", err)
	}
	defer func() { _ = lock.Unlock() }()
	entries, err := l.load()
	if err != nil {
		return err
	}
	entries[key] = digest
	data, err := json.MarshalIndent(entries, "", "  ")
	if err != nil {
		return fmt.Errorf("base image ledger: %w", err)
	}
	tmp := fmt.Sprintf("%s.%d.tmp", l.Path, time.Now().UnixNano())
	if err := os.WriteFile(tmp, append(data, '\n'), 0o644); err != nil {
		return fmt.Errorf("base image ledger: %w", err)
	}
	if err := os.Rename(tmp, l.Path); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("base image ledger: %w", err)
	}
	return nil
}

func (l Ledger) load() (map[string]string, error) {
	if l.Path == "" {
		return nil, errors.New("base image ledger: no path")
	}
	entries := map[string]string{}
	data, err := os.ReadFile(l.Path)
	if errors.Is(err, fs.ErrNotExist) {
		return entries, nil
	}
	if err != nil {
		return nil, fmt.Errorf("base image ledger: %w", err)
	}
	if err := json.Unmarshal(data, &entries); err != nil {
		return nil, fmt.Errorf("base image ledger %s: %w", l.Path, err)
	}
	return entries, nil
}
