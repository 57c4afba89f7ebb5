// Package schedule fires the Schedule and ScheduleV2 events of the
// deployed functions into the queue. Each tick fires once: the tick is
// recorded in the same transaction as the event it queues, so a restart
// neither repeats nor loses it. AWS does not backfill, and neither does
// this: after downtime, only a tick at most Grace late fires; older
// missed ticks are skipped and logged.
package schedule

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"time"

	"github.com/esb-dev/esb/internal/awsid"
	"github.com/esb-dev/esb/internal/runtimeconfig"
	"github.com/esb-dev/esb/internal/schedexpr"
	"github.com/esb-dev/esb/services/events/queue"
)

// DefaultGrace is how late a tick may still fire (ESB_SCHEDULE_GRACE).
const DefaultGrace = 2 * time.Minute

// Config gives the current runtime config.
type Config interface {
	Config() *runtimeconfig.Config
}

// Options tunes a Scheduler. The zero value is ready to use.
type Options struct {
	Region    string           // us-east-1 when empty
	AccountID string           // 123456789012 when empty
	Grace     time.Duration    // DefaultGrace when zero
	Interval  time.Duration    // how often schedules are checked; 1 s when zero
	Now       func() time.Time // time.Now when nil
	Logger    *slog.Logger     // nil discards
}

// Scheduler fires schedules into a queue.
type Scheduler struct {
	store *queue.Store
	cfg   Config
	opts  Options
	bad   map[string]bool // expressions already reported as invalid
}

// New returns a Scheduler; Run starts it.
func New(store *queue.Store, cfg Config, opts Options) *Scheduler {
	if opts.Region == "" {
		opts.Region = awsid.DefaultRegion
	}
	if opts.AccountID == "" {
		opts.AccountID = awsid.DefaultAccountID
	}
	if opts.Grace <= 0 {
		opts.Grace = DefaultGrace
	}
	if opts.Interval <= 0 {
		opts.Interval = time.Second
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &Scheduler{store: store, cfg: cfg, opts: opts, bad: map[string]bool{}}
}

// Run checks the schedules every Interval until ctx ends.
func (s *Scheduler) Run(ctx context.Context) error {
	t := time.NewTicker(s.opts.Interval)
	defer t.Stop()
	for {
		if err := s.Tick(); err != nil {
			s.opts.Logger.Error("schedules not checked", "error", err.Error())
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Tick fires every schedule that is due now.
func (s *Scheduler) Tick() error {
	now := s.opts.Now()
	fns := s.cfg.Config().Functions.Functions
	for _, name := range slices.Sorted(maps.Keys(fns)) {
		for i, sc := range fns[name].Schedules {
			if sc.Enabled != nil && !*sc.Enabled {
				continue
			}
			if err := s.check(now, name, i, sc); err != nil {
				return err
			}
		}
	}
	return nil
}

// check fires one schedule if it is due.
func (s *Scheduler) check(now time.Time, function string, index int, sc runtimeconfig.Schedule) error {
	event := sc.Event
	if event == "" {
		event = "Schedule" + strconv.Itoa(index)
	}
	// The key names the expression too: a changed schedule starts afresh.
	key := function + "/" + event + "/" + sc.Expression + "/" + sc.Timezone
	expr, err := schedexpr.Parse(sc.Expression, sc.Timezone)
	if err != nil {
		if !s.bad[key] {
			s.bad[key] = true
			s.opts.Logger.Error("schedule never fires", "function", function, "event", event, "error", err.Error())
		}
		return nil
	}
	last, seen, err := s.store.LastFire(key)
	if err != nil {
		return err
	}
	if !seen {
		// A new schedule counts from now, as a new rule on AWS does.
		s.opts.Logger.Info("schedule armed", "function", function, "event", event, "expression", sc.Expression, "timezone", sc.Timezone, "next", expr.Next(now))
		return s.store.Fire(key, now, nil)
	}
	tick, skipped, due := schedexpr.Latest(expr, last, now)
	if !due {
		return nil
	}
	log := s.opts.Logger.With("function", function, "event", event, "tick", tick.UTC().Format(time.RFC3339))
	if late := now.Sub(tick); late > s.opts.Grace {
		log.Warn("missed schedule ticks skipped (no backfill, as AWS)", "skipped", skipped+1, "late", late.String())
		return s.store.Fire(key, tick, nil)
	}
	if skipped > 0 {
		log.Warn("missed schedule ticks skipped (no backfill, as AWS)", "skipped", skipped)
	}
	if outside := window(sc, tick); outside != "" {
		log.Info("schedule tick not fired: " + outside)
		return s.store.Fire(key, tick, nil)
	}
	ev := queue.Event{
		Kind:      queue.KindInvoke,
		Function:  function,
		RequestID: awsid.UUID(),
		Payload:   s.payload(function, event, sc, tick),
		Source:    "schedule " + event,
		Received:  now,
		Due:       now,
	}
	log.Info("schedule fired", "request_id", ev.RequestID)
	return s.store.Fire(key, tick, &ev)
}

// scheduledEvent is what an EventBridge rule sends a Lambda target.
type scheduledEvent struct {
	Version    string   `json:"version"`
	ID         string   `json:"id"`
	DetailType string   `json:"detail-type"`
	Source     string   `json:"source"`
	Account    string   `json:"account"`
	Time       string   `json:"time"`
	Region     string   `json:"region"`
	Resources  []string `json:"resources"`
	Detail     struct{} `json:"detail"`
}

// payload is the event AWS sends for this schedule: the Input verbatim
// when set; else a rule's "Scheduled Event", or Scheduler's empty object.
func (s *Scheduler) payload(function, event string, sc runtimeconfig.Schedule, tick time.Time) []byte {
	if sc.Input != "" {
		return []byte(sc.Input)
	}
	if sc.Kind == runtimeconfig.ScheduleKindScheduler {
		return []byte("{}")
	}
	rule := sc.Name
	if rule == "" {
		rule = function + event // SAM's logical ID of the rule
	}
	out, _ := json.Marshal(scheduledEvent{ // strings only: always encodes
		Version:    "0",
		ID:         awsid.UUID(),
		DetailType: "Scheduled Event",
		Source:     "aws.events",
		Account:    s.opts.AccountID,
		Time:       tick.UTC().Format("2006-01-02T15:04:05Z"),
		Region:     s.opts.Region,
		Resources:  []string{fmt.Sprintf("arn:aws:events:%s:%s:rule/%s", s.opts.Region, s.opts.AccountID, rule)},
	})
	return out
}

// window says why tick is outside the schedule's StartDate/EndDate, or ""
// when it may fire. A date that does not parse bounds nothing (the deploy
// checked it).
func window(sc runtimeconfig.Schedule, tick time.Time) string {
	if start, err := time.Parse(time.RFC3339, sc.StartDate); err == nil && tick.Before(start) {
		return "before its StartDate " + sc.StartDate
	}
	if end, err := time.Parse(time.RFC3339, sc.EndDate); err == nil && tick.After(end) {
		return "after its EndDate " + sc.EndDate
	}
	return ""
}
