package runtimeconfig

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/gofrs/flock"
)

// DefaultLockTimeout is how long Lock waits when LockOptions.Timeout is
// zero: long enough for another deploy's merge (milliseconds) or a gateway's
// seed init, short enough that a stuck holder is reported, not waited out.
const DefaultLockTimeout = 30 * time.Second

// DefaultLockRetryInterval is how often Lock polls a held lock when
// LockOptions.RetryInterval is zero.
const DefaultLockRetryInterval = 50 * time.Millisecond

// ErrLockHeld is wrapped by the error Lock returns when it gave up waiting.
var ErrLockHeld = errors.New("another deploy or gateway start holds it")

// errEmptyDir guards against an unset CONFIG_DIR turning into the current
// directory: the contract wants a clear error, never a silent default.
var errEmptyDir = errors.New("config dir is empty (CONFIG_DIR not set?)")

// LockOptions tunes waiting for the deploy lock. Zero values mean the
// defaults.
type LockOptions struct {
	Timeout       time.Duration // DefaultLockTimeout when zero
	RetryInterval time.Duration // DefaultLockRetryInterval when zero
}

// Lock takes the env's deploy lock, ${dir}/.deploy.lock, creating dir first
// (the lock file lives inside it). Deploys and the gateway's seed init hold
// it while they read and write the config files, so neither sees the other
// half done. It waits up to opts.Timeout, then fails with an error wrapping
// ErrLockHeld; a cancelled ctx ends the wait early. The returned func
// releases the lock.
//
// The lock is an flock(2) on a file, so it is released by the kernel when
// the holder dies, and it also excludes goroutines of one process from each
// other, since each call opens the file anew. Waiters poll every
// opts.RetryInterval and are not queued: fine for deploys seconds apart, but
// a holder that re-locks in a tight loop can starve them.
func Lock(ctx context.Context, dir string, opts LockOptions) (unlock func() error, err error) {
	timeout := opts.Timeout
	if timeout <= 0 {
		timeout = DefaultLockTimeout
	}
	retry := opts.RetryInterval
	if retry <= 0 {
		retry = DefaultLockRetryInterval
	}
	if dir == "" {
		return nil, errEmptyDir
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create config dir: %w", err)
	}
	path := filepath.Join(dir, LockFileName)
	fl := flock.New(path)

	waitCtx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	locked, err := fl.TryLockContext(waitCtx, retry)
	switch {
	case locked:
		return func() error {
			if err := fl.Unlock(); err != nil {
				return fmt.Errorf("unlock %s: %w", path, err)
			}
			return nil
		}, nil
	case ctx.Err() != nil:
		return nil, fmt.Errorf("lock %s: %w", path, ctx.Err())
	case errors.Is(err, context.DeadlineExceeded):
		return nil, fmt.Errorf("lock %s: timed out after %s: %w", path, timeout, ErrLockHeld)
	case err != nil:
		return nil, fmt.Errorf("lock %s: %w", path, err)
	default:
		return nil, fmt.Errorf("lock %s: not acquired", path)
	}
}
