package schedexpr

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func utc(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

func TestNext(t *testing.T) {
	tests := []struct {
		name, expr, tz, after string
		want                  []string // successive fire times, RFC 3339
	}{
		{name: "rate minutes", expr: "rate(5 minutes)", after: "2026-01-01T00:00:30Z", want: []string{"2026-01-01T00:05:30Z", "2026-01-01T00:10:30Z"}},
		{name: "rate one day", expr: "rate(1 day)", after: "2026-01-01T10:00:00Z", want: []string{"2026-01-02T10:00:00Z"}},
		{name: "every 15 minutes", expr: "cron(0/15 * * * ? *)", after: "2026-01-01T00:07:00Z", want: []string{"2026-01-01T00:15:00Z", "2026-01-01T00:30:00Z"}},
		{name: "weekdays at 10 by name", expr: "cron(0 10 ? * MON-FRI *)", after: "2026-01-02T11:00:00Z", // a Friday
			want: []string{"2026-01-05T10:00:00Z", "2026-01-06T10:00:00Z"}},
		{name: "last day of month", expr: "cron(0 0 L * ? *)", after: "2026-02-01T00:00:00Z", want: []string{"2026-02-28T00:00:00Z", "2026-03-31T00:00:00Z"}},
		{name: "nearest weekday", expr: "cron(0 9 15W * ? *)", after: "2026-08-01T00:00:00Z", // Aug 15 2026 is a Saturday
			want: []string{"2026-08-14T09:00:00Z", "2026-09-15T09:00:00Z"}},
		{name: "first monday", expr: "cron(0 8 ? * 2#1 *)", after: "2026-03-01T00:00:00Z", want: []string{"2026-03-02T08:00:00Z", "2026-04-06T08:00:00Z"}},
		{name: "last friday", expr: "cron(0 17 ? * 6L *)", after: "2026-01-01T00:00:00Z", want: []string{"2026-01-30T17:00:00Z", "2026-02-27T17:00:00Z"}},
		{name: "months by name and year", expr: "cron(0 0 1 JAN,JUL ? 2027)", after: "2026-06-01T00:00:00Z", want: []string{"2027-01-01T00:00:00Z", "2027-07-01T00:00:00Z", "0001-01-01T00:00:00Z"}},
		{name: "time zone", expr: "cron(30 9 * * ? *)", tz: "Asia/Tokyo", after: "2026-01-01T00:00:00Z", want: []string{"2026-01-01T00:30:00Z", "2026-01-02T00:30:00Z"}},
		{name: "time zone across DST", expr: "cron(0 9 * * ? *)", tz: "Europe/Berlin", after: "2026-03-28T09:00:00Z",
			want: []string{"2026-03-29T07:00:00Z", "2026-03-30T07:00:00Z"}}, // 08:00 UTC before, 07:00 UTC after the switch
		{name: "at", expr: "at(2026-05-01T12:00:00)", tz: "America/New_York", after: "2026-01-01T00:00:00Z", want: []string{"2026-05-01T16:00:00Z", "0001-01-01T00:00:00Z"}},
		{name: "wrapping range", expr: "cron(0 22-1 * * ? *)", after: "2026-01-01T21:00:00Z", want: []string{"2026-01-01T22:00:00Z", "2026-01-01T23:00:00Z", "2026-01-02T00:00:00Z", "2026-01-02T01:00:00Z", "2026-01-02T22:00:00Z"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Parse(tt.expr, tt.tz)
			require.NoError(t, err)
			at := utc(tt.after)
			for _, w := range tt.want {
				next := s.Next(at)
				assert.Equal(t, utc(w), next.UTC(), "after %s", at)
				at = next
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	for _, tt := range []struct{ name, expr, tz, want string }{
		{name: "five fields", expr: "cron(0 12 * * ?)", want: "six fields"},
		{name: "two question marks", expr: "cron(0 12 ? * ? *)", want: "exactly one"},
		{name: "no question mark", expr: "cron(0 12 * * MON *)", want: "exactly one"},
		{name: "minute out of range", expr: "cron(60 12 * * ? *)", want: "out of 0-59"},
		{name: "plural for one", expr: "rate(1 minutes)", want: "does not agree"},
		{name: "zero rate", expr: "rate(0 hours)", want: "positive"},
		{name: "unknown kind", expr: "every(5 minutes)", want: "unknown kind"},
		{name: "bad zone", expr: "rate(1 hour)", tz: "Mars/Olympus", want: "time zone"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse(tt.expr, tt.tz)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
		})
	}
}

func TestLatest(t *testing.T) {
	r, err := Parse("rate(1 minute)", "")
	require.NoError(t, err)
	last := utc("2026-01-01T00:00:00Z")
	_, _, ok := Latest(r, last, last.Add(59*time.Second))
	assert.False(t, ok, "not due before a full period")
	tick, skipped, ok := Latest(r, last, last.Add(61*time.Second))
	require.True(t, ok)
	assert.Equal(t, last.Add(time.Minute), tick)
	assert.Zero(t, skipped)
	tick, skipped, ok = Latest(r, last, last.Add(10*time.Hour+30*time.Second))
	require.True(t, ok)
	assert.Equal(t, last.Add(10*time.Hour), tick)
	assert.Equal(t, 599, skipped)

	c, err := Parse("cron(0 * * * ? *)", "")
	require.NoError(t, err)
	tick, skipped, ok = Latest(c, last, last.Add(3*time.Hour+5*time.Minute))
	require.True(t, ok)
	assert.Equal(t, last.Add(3*time.Hour), tick)
	assert.Equal(t, 2, skipped)
}
