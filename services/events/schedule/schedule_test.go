package schedule

import (
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/esb-dev/esb/internal/runtimeconfig"
	"github.com/esb-dev/esb/services/events/queue"
)

type config struct{ c runtimeconfig.Config }

func (c *config) Config() *runtimeconfig.Config { return &c.c }

type clock struct{ now time.Time }

func (c *clock) Now() time.Time { return c.now }

func setup(t *testing.T, path string, schedules ...runtimeconfig.Schedule) (*Scheduler, *queue.Store, *clock) {
	t.Helper()
	store, err := queue.Open(path)
	require.NoError(t, err)
	t.Cleanup(func() { store.Close() })
	cfg := &config{c: runtimeconfig.Config{Functions: runtimeconfig.FunctionsFile{Functions: map[string]runtimeconfig.Function{
		"Job": {Schedules: schedules},
	}}}}
	clk := &clock{now: time.Date(2026, 3, 1, 23, 50, 0, 0, time.UTC)}
	return New(store, cfg, Options{Now: clk.Now, Region: "eu-west-1", AccountID: "111122223333"}), store, clk
}

func drain(t *testing.T, store *queue.Store) []queue.Event {
	t.Helper()
	evs, err := store.Due(time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC), 100)
	require.NoError(t, err)
	for _, ev := range evs {
		require.NoError(t, store.Settle(ev, nil))
	}
	return evs
}

func TestRateFiresOncePerTickAcrossRestarts(t *testing.T) {
	path := filepath.Join(t.TempDir(), "q.db")
	s, store, clk := setup(t, path, runtimeconfig.Schedule{Event: "Every", Kind: runtimeconfig.ScheduleKindRule, Expression: "rate(1 minute)"})
	require.NoError(t, s.Tick())
	assert.Empty(t, drain(t, store), "armed, not fired: AWS counts from creation")
	clk.now = clk.now.Add(61 * time.Second)
	require.NoError(t, s.Tick())
	require.NoError(t, s.Tick())
	evs := drain(t, store)
	require.Len(t, evs, 1, "one fire per tick")
	var ev scheduledEvent
	require.NoError(t, json.Unmarshal(evs[0].Payload, &ev))
	assert.Equal(t, "Scheduled Event", ev.DetailType)
	assert.Equal(t, "aws.events", ev.Source)
	assert.Equal(t, "0", ev.Version)
	assert.Equal(t, "111122223333", ev.Account)
	assert.Equal(t, "eu-west-1", ev.Region)
	assert.Equal(t, "2026-03-01T23:51:00Z", ev.Time)
	assert.Equal(t, []string{"arn:aws:events:eu-west-1:111122223333:rule/JobEvery"}, ev.Resources)
	assert.Equal(t, "Job", evs[0].Function)

	// A restart (a new scheduler on the same file) does not fire the tick again.
	require.NoError(t, store.Close())
	s2, store2, clk2 := setup(t, path, runtimeconfig.Schedule{Event: "Every", Kind: runtimeconfig.ScheduleKindRule, Expression: "rate(1 minute)"})
	clk2.now = clk.now
	require.NoError(t, s2.Tick())
	assert.Empty(t, drain(t, store2))

	// Downtime: the latest missed tick fires if within the grace, once.
	clk2.now = clk.now.Add(10*time.Minute + 30*time.Second)
	require.NoError(t, s2.Tick())
	require.Len(t, drain(t, store2), 1, "no catch-up storm")
	// An hour later: 60 ticks missed, only the latest (30 s old) fires.
	clk2.now = clk2.now.Add(time.Hour)
	require.NoError(t, s2.Tick())
	require.Len(t, drain(t, store2), 1)
}

func TestStaleTickIsSkipped(t *testing.T) {
	s, store, clk := setup(t, filepath.Join(t.TempDir(), "q.db"), runtimeconfig.Schedule{Event: "Hourly", Expression: "rate(1 hour)"})
	require.NoError(t, s.Tick())
	clk.now = clk.now.Add(3*time.Hour + 5*time.Minute) // the last tick is 5 minutes old
	require.NoError(t, s.Tick())
	assert.Empty(t, drain(t, store))
	clk.now = clk.now.Add(55 * time.Minute) // the next tick is on time again
	require.NoError(t, s.Tick())
	assert.Len(t, drain(t, store), 1)
}

func TestCronInTimeZoneWithInput(t *testing.T) {
	s, store, clk := setup(t, filepath.Join(t.TempDir(), "q.db"),
		runtimeconfig.Schedule{Event: "Morning", Kind: runtimeconfig.ScheduleKindScheduler, Expression: "cron(0 9 * * ? *)", Timezone: "Asia/Tokyo", Input: `{"job":"report"}`},
		runtimeconfig.Schedule{Event: "Off", Expression: "rate(1 minute)", Enabled: new(false)})
	require.NoError(t, s.Tick()) // 23:50 UTC: armed
	clk.now = time.Date(2026, 3, 1, 23, 59, 59, 0, time.UTC)
	require.NoError(t, s.Tick())
	assert.Empty(t, drain(t, store), "09:00 in Tokyo is 00:00 UTC, not yet")
	clk.now = time.Date(2026, 3, 2, 0, 0, 1, 0, time.UTC)
	require.NoError(t, s.Tick())
	evs := drain(t, store)
	require.Len(t, evs, 1, "the disabled schedule never fires")
	assert.JSONEq(t, `{"job":"report"}`, string(evs[0].Payload), "Scheduler sends its Input verbatim")
}

func TestStartAndEndDateBoundTheFires(t *testing.T) {
	// The clock starts at 2026-03-01T23:50:00Z.
	s, store, clk := setup(t, filepath.Join(t.TempDir(), "q.db"), runtimeconfig.Schedule{
		Event: "Window", Kind: runtimeconfig.ScheduleKindScheduler, Expression: "rate(1 minute)",
		StartDate: "2026-03-01T23:52:30Z", EndDate: "2026-03-01T23:54:30Z",
	})
	require.NoError(t, s.Tick())
	var fired int
	for range 8 {
		clk.now = clk.now.Add(time.Minute)
		require.NoError(t, s.Tick())
		fired += len(drain(t, store))
	}
	assert.Equal(t, 2, fired, "only the ticks at 23:53 and 23:54 are inside the window")
}
