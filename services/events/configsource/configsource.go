// Package configsource keeps the events service's view of CONFIG_DIR: it
// reloads the runtime config every interval and serves the last one that
// loaded. The events service needs only the functions' schedules and
// asynchronous settings, which change at deploys; a poll is enough.
package configsource

import (
	"context"
	"log/slog"
	"sync"
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
	loaded   chan struct{} // closed once a config has loaded
	once     sync.Once
}

// New loads dir once; an error there is the caller's to report (the
// gateway seeds CONFIG_DIR, so at start the files may not exist yet: the
// source then serves an empty config until they do).
func New(dir string, interval time.Duration, log *slog.Logger) *Source {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Source{dir: dir, interval: interval, log: log, loaded: make(chan struct{})}
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
	s.once.Do(func() { close(s.loaded) })
}

// WaitLoaded blocks until a config has loaded or ctx ends: until then
// every function would look undeployed, and queued events for them
// must not be judged by that.
func (s *Source) WaitLoaded(ctx context.Context) error {
	select {
	case <-s.loaded:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
