package deploy

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/esb-dev/esb/internal/adminapi"
	"github.com/esb-dev/esb/internal/progress"
	"github.com/esb-dev/esb/internal/runtimeconfig"
)

// ServeOptions describe waiting until the gateway serves a config set.
type ServeOptions struct {
	ConfigDir string
	Digest    string // runtimeconfig Config.Digest of the set written
	// Live asks the gateway's admin listener what it serves (with its own
	// deadline per call).
	Live func(ctx context.Context) (adminapi.Live, error)
	// Timeout bounds the wait for a reachable gateway; Unreachable how
	// long a gateway that never answers is waited for before the wait
	// ends without it; Interval is the poll interval.
	Timeout, Unreachable, Interval time.Duration
	Events                         progress.Sink
}

// Served is how a wait for the gateway ended without an error.
type Served struct {
	Live    adminapi.Live
	Elapsed time.Duration
	// Superseded: another deploy made a newer set current before the
	// gateway served this one; the gateway serves that one instead.
	Superseded bool
	// Unreachable: the gateway did not answer (not running, say): it
	// loads the current set when it starts. Err is its last error.
	Unreachable bool
	Err         error
}

// ErrNotServed is returned when the gateway answers but did not start
// serving the set within the timeout.
var ErrNotServed = errors.New("the gateway did not start serving the new config")

// AwaitServed returns once the gateway serves the config set opts.Digest
// names, so that a command that wrote it returns only when the next
// request sees it (the gateway reloads CONFIG_DIR by itself, a moment
// after the write). A set the gateway refused is an error listing the
// gateway's problems with it.
func AwaitServed(ctx context.Context, opts ServeOptions) (Served, error) {
	ev := events{opts.Events}
	start := time.Now()
	ev.phase("serve", progress.Working, "waiting for the gateway to serve the new config")
	parent := ctx
	ctx, cancel := context.WithTimeout(ctx, opts.Timeout)
	defer cancel()
	tick := time.NewTicker(opts.Interval)
	defer tick.Stop()
	var (
		last      adminapi.Live
		lastErr   error
		answered  bool
		lastCheck time.Time
	)
	for {
		live, err := opts.Live(ctx)
		switch {
		case err == nil:
			answered, last = true, live
			if live.ConfigDigest == opts.Digest {
				ev.phase("serve", progress.Done, fmt.Sprintf("gateway serves it (generation %d) after %.1fs", live.Generation, time.Since(start).Seconds()))
				return Served{Live: live, Elapsed: time.Since(start)}, nil
			}
			if r := live.Rejected; r != nil && (r.ConfigDigest == opts.Digest || r.ConfigDigest == "" && r.At.After(start)) {
				ev.phase("serve", progress.Failed, "the gateway refused the new config")
				return Served{Live: live}, fmt.Errorf("the gateway refused the config in %s and keeps serving generation %d: %s",
					opts.ConfigDir, live.Generation, strings.Join(r.Problems, "; "))
			}
		case ctx.Err() == nil:
			lastErr = err
			if !answered && time.Since(start) >= opts.Unreachable {
				ev.phase("serve", progress.Warning, "gateway not reachable; it serves the new config when it starts")
				return Served{Unreachable: true, Err: err, Elapsed: time.Since(start)}, nil
			}
		}
		// Another deploy may have made a newer set current: the gateway
		// then never serves this one. Checked about once a second.
		if time.Since(lastCheck) >= time.Second {
			lastCheck = time.Now()
			if cur, err := currentDigest(opts.ConfigDir); err == nil && cur != opts.Digest {
				ev.phase("serve", progress.Warning, "a later deploy replaced the new config before the gateway loaded it")
				return Served{Live: last, Superseded: true, Elapsed: time.Since(start)}, nil
			}
		}
		select {
		case <-ctx.Done():
			if err := parent.Err(); err != nil {
				return Served{Live: last}, fmt.Errorf("wait for the gateway: %w", err)
			}
			ev.phase("serve", progress.Failed, "the gateway did not load the new config")
			if !answered {
				return Served{}, fmt.Errorf("%w within %s: the gateway did not answer: %v", ErrNotServed, opts.Timeout, lastErr)
			}
			return Served{Live: last}, fmt.Errorf("%w within %s: it still serves generation %d, loaded %s (the config is written to %s; see the gateway's log: docker compose logs gateway)",
				ErrNotServed, opts.Timeout, last.Generation, last.LoadedAt.Local().Format(time.TimeOnly), opts.ConfigDir)
		case <-tick.C:
		}
	}
}

// currentDigest is the digest of the set CONFIG_DIR holds now.
func currentDigest(dir string) (string, error) {
	cfg, err := runtimeconfig.Load(dir)
	if err != nil {
		return "", err
	}
	return cfg.Digest()
}
