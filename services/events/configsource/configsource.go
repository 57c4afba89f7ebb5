// Package configsource keeps the events service's view of CONFIG_DIR: it
// reloads the runtime config every interval and serves the last one that
// loaded. The events service needs only the functions' schedules and
// asynchronous settings, which change at deploys; a poll is enough.
package configsource

import (
	"context"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/esb-dev/esb/internal/runtimeconfig"
)

// Source serves the latest good runtime config.
type Source struct {
	dir      string
	interval time.Duration
	log      *slog.Logger
	cur      atomic.Pointer[runtimeconfig.Config]
}

// New loads dir once; an error there is the caller's to report (the
// gateway seeds CONFIG_DIR, so at start the files may not exist yet: the
// source then serves an empty config until they do).
func New(dir string, interval time.Duration, log *slog.Logger) *Source {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Source{dir: dir, interval: interval, log: log}
	empty := runtimeconfig.Config{}
	s.cur.Store(&empty)
	s.reload()
	return s
}

// Config is the current config; callers must not modify it.
func (s *Source) Config() *runtimeconfig.Config { return s.cur.Load() }

// Function is the named function's entry, if deployed.
func (s *Source) Function(name string) (runtimeconfig.Function, bool) {
	fn, ok := s.cur.Load().Functions.Functions[name]
	return fn, ok
}

// Run reloads every interval until ctx ends.
func (s *Source) Run(ctx context.Context) error {
	t := time.NewTicker(s.interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			s.reload()
		}
	}
}

func (s *Source) reload() {
	cfg, err := runtimeconfig.Load(s.dir)
	if err != nil {
		// A deploy in progress or a bad file: keep the last good config.
		s.log.Debug("runtime config not reloaded", "dir", s.dir, "error", err.Error())
		return
	}
	s.cur.Store(&cfg)
}
