// Package schedexpr parses and evaluates the schedule expressions of
// EventBridge rules and EventBridge Scheduler: rate(...), six-field
// cron(...) (with L, W, #, month and weekday names, years) and at(...),
// in a time zone. It knows nothing of clocks: callers pass the instant to
// look after, so tests need no real time.
package schedexpr

import (
	"fmt"
	"strconv"
	"strings"
	"time"
	// Zones are embedded: the slim images ESB runs on have no zoneinfo.
	_ "time/tzdata"
)

// Schedule yields the fire times of one expression.
type Schedule interface {
	// Next is the first fire time strictly after t; the zero time when
	// the schedule fires no more (a past at(), a cron past its years).
	Next(t time.Time) time.Time
}

// Parse reads expr ("rate(5 minutes)", "cron(0 12 * * ? *)",
// "at(2026-12-01T08:00:00)"). tz is an IANA zone name for cron and at
// ("" or "UTC" for UTC); rate ignores it, as AWS does.
func Parse(expr, tz string) (Schedule, error) {
	loc := time.UTC
	if tz != "" && tz != "UTC" {
		l, err := time.LoadLocation(tz)
		if err != nil {
			return nil, fmt.Errorf("time zone %q: %w", tz, err)
		}
		loc = l
	}
	open := strings.IndexByte(expr, '(')
	if open < 0 || !strings.HasSuffix(expr, ")") {
		return nil, fmt.Errorf("schedule %q: want rate(...), cron(...) or at(...)", expr)
	}
	kind, body := expr[:open], strings.TrimSpace(expr[open+1:len(expr)-1])
	var (
		s   Schedule
		err error
	)
	switch kind {
	case "rate":
		s, err = parseRate(body)
	case "cron":
		s, err = parseCron(body, loc)
	case "at":
		var at time.Time
		at, err = time.ParseInLocation("2006-01-02T15:04:05", body, loc)
		s = oneTime(at)
	default:
		err = fmt.Errorf("unknown kind %q", kind)
	}
	if err != nil {
		return nil, fmt.Errorf("schedule %q: %w", expr, err)
	}
	return s, nil
}

// rate fires every period after the instant it is asked about: the
// scheduler passes the previous fire, so ticks keep their spacing.
type rate time.Duration

func (r rate) Next(t time.Time) time.Time { return t.Add(time.Duration(r)) }

func parseRate(body string) (Schedule, error) {
	f := strings.Fields(body)
	if len(f) != 2 {
		return nil, fmt.Errorf("want rate(value unit)")
	}
	n, err := strconv.Atoi(f[0])
	if err != nil || n <= 0 {
		return nil, fmt.Errorf("value %q is not a positive whole number", f[0])
	}
	units := map[string]time.Duration{"minute": time.Minute, "hour": time.Hour, "day": 24 * time.Hour}
	unit := strings.TrimSuffix(f[1], "s")
	d, ok := units[unit]
	if !ok {
		return nil, fmt.Errorf("unit %q: want minute(s), hour(s) or day(s)", f[1])
	}
	// AWS wants the singular for 1 and the plural otherwise.
	if (n == 1) != (f[1] == unit) {
		return nil, fmt.Errorf("unit %q does not agree with value %d", f[1], n)
	}
	return rate(time.Duration(n) * d), nil
}

type oneTime time.Time

func (o oneTime) Next(t time.Time) time.Time {
	if at := time.Time(o); at.After(t) {
		return at
	}
	return time.Time{}
}

// cron is a parsed six-field expression: minutes hours day-of-month month
// day-of-week year.
type cron struct {
	loc     *time.Location
	minutes set
	hours   set
	months  set
	years   set
	dom     domSpec
	dow     dowSpec
	// byDOW: day-of-month is '?', so the day-of-week field decides.
	byDOW bool
}

// Year bounds AWS accepts.
const (
	minYear = 1970
	maxYear = 2199
)

type set map[int]bool

type domSpec struct {
	days        set
	last        int   // "L" (0) or "L-n": fires on the last day minus offset; -1 when unused
	weekday     []int // "nW": the weekday nearest day n
	lastWeekday bool  // "LW"
}

type dowSpec struct {
	days   set      // 1=SUN .. 7=SAT
	lastOf []int    // "nL": the last weekday n of the month
	nth    [][2]int // "n#k": the k-th weekday n of the month
}

var monthNames = map[string]int{"JAN": 1, "FEB": 2, "MAR": 3, "APR": 4, "MAY": 5, "JUN": 6, "JUL": 7, "AUG": 8, "SEP": 9, "OCT": 10, "NOV": 11, "DEC": 12}
var dayNames = map[string]int{"SUN": 1, "MON": 2, "TUE": 3, "WED": 4, "THU": 5, "FRI": 6, "SAT": 7}

func parseCron(body string, loc *time.Location) (Schedule, error) {
	f := strings.Fields(body)
	if len(f) != 6 {
		return nil, fmt.Errorf("want six fields (minutes hours day-of-month month day-of-week year), got %d", len(f))
	}
	c := &cron{loc: loc}
	var err error
	if c.minutes, err = parseField(f[0], 0, 59, nil); err != nil {
		return nil, fmt.Errorf("minutes: %w", err)
	}
	if c.hours, err = parseField(f[1], 0, 23, nil); err != nil {
		return nil, fmt.Errorf("hours: %w", err)
	}
	if c.months, err = parseField(f[3], 1, 12, monthNames); err != nil {
		return nil, fmt.Errorf("month: %w", err)
	}
	if c.years, err = parseField(f[5], minYear, maxYear, nil); err != nil {
		return nil, fmt.Errorf("year: %w", err)
	}
	c.byDOW = f[2] == "?"
	if (f[2] == "?") == (f[4] == "?") {
		return nil, fmt.Errorf("exactly one of day-of-month and day-of-week must be '?'")
	}
	if c.dom, err = parseDOM(f[2]); err != nil {
		return nil, fmt.Errorf("day-of-month: %w", err)
	}
	if c.dow, err = parseDOW(f[4]); err != nil {
		return nil, fmt.Errorf("day-of-week: %w", err)
	}
	return c, nil
}

// parseField reads a list of values, ranges, '*' and steps ("0/15",
// "10-40/5", "MON-FRI").
func parseField(s string, lo, hi int, names map[string]int) (set, error) {
	out := set{}
	for part := range strings.SplitSeq(s, ",") {
		step := 1
		if i := strings.IndexByte(part, '/'); i >= 0 {
			n, err := strconv.Atoi(part[i+1:])
			if err != nil || n <= 0 {
				return nil, fmt.Errorf("step %q", part[i+1:])
			}
			step, part = n, part[:i]
		}
		from, to := lo, hi
		switch {
		case part == "*" || part == "?":
		case strings.Contains(part, "-"):
			a, b, _ := strings.Cut(part, "-")
			var err error
			if from, err = value(a, lo, hi, names); err != nil {
				return nil, err
			}
			if to, err = value(b, lo, hi, names); err != nil {
				return nil, err
			}
		default:
			v, err := value(part, lo, hi, names)
			if err != nil {
				return nil, err
			}
			from = v
			if step == 1 {
				to = v
			}
		}
		// A range may wrap (FRI-MON, 22-2): walk it modulo the field.
		size := hi - lo + 1
		span := (to - from + size) % size
		for i := 0; i <= span; i += step {
			v := from + i
			if v > hi {
				v -= size
			}
			out[v] = true
		}
	}
	return out, nil
}

func value(s string, lo, hi int, names map[string]int) (int, error) {
	if v, ok := names[strings.ToUpper(s)]; ok {
		return v, nil
	}
	v, err := strconv.Atoi(s)
	if err != nil || v < lo || v > hi {
		return 0, fmt.Errorf("value %q out of %d-%d", s, lo, hi)
	}
	return v, nil
}

func parseDOM(s string) (domSpec, error) {
	d := domSpec{last: -1, days: set{}}
	if s == "?" {
		return d, nil
	}
	var plain []string
	for part := range strings.SplitSeq(s, ",") {
		switch {
		case part == "LW":
			d.lastWeekday = true
		case part == "L":
			d.last = 0
		case strings.HasPrefix(part, "L-"):
			n, err := strconv.Atoi(part[2:])
			if err != nil || n < 0 || n > 30 {
				return d, fmt.Errorf("offset %q", part)
			}
			d.last = n
		case strings.HasSuffix(part, "W"):
			n, err := value(strings.TrimSuffix(part, "W"), 1, 31, nil)
			if err != nil {
				return d, err
			}
			d.weekday = append(d.weekday, n)
		default:
			plain = append(plain, part)
		}
	}
	if len(plain) > 0 {
		days, err := parseField(strings.Join(plain, ","), 1, 31, nil)
		if err != nil {
			return d, err
		}
		d.days = days
	}
	return d, nil
}

func parseDOW(s string) (dowSpec, error) {
	d := dowSpec{days: set{}}
	if s == "?" {
		return d, nil
	}
	var plain []string
	for part := range strings.SplitSeq(s, ",") {
		switch {
		case part == "L": // alone, the last day of the week: Saturday
			d.days[7] = true
		case strings.HasSuffix(part, "L"):
			n, err := value(strings.TrimSuffix(part, "L"), 1, 7, dayNames)
			if err != nil {
				return d, err
			}
			d.lastOf = append(d.lastOf, n)
		case strings.Contains(part, "#"):
			a, b, _ := strings.Cut(part, "#")
			n, err := value(a, 1, 7, dayNames)
			if err != nil {
				return d, err
			}
			k, err := value(b, 1, 5, nil)
			if err != nil {
				return d, err
			}
			d.nth = append(d.nth, [2]int{n, k})
		default:
			plain = append(plain, part)
		}
	}
	if len(plain) > 0 {
		days, err := parseField(strings.Join(plain, ","), 1, 7, dayNames)
		if err != nil {
			return d, err
		}
		maps(d.days, days)
	}
	return d, nil
}

func maps(dst, src set) {
	for k := range src {
		dst[k] = true
	}
}

// Next walks day by day in the schedule's zone, skipping whole years and
// months that cannot match, so even a sparse schedule costs at most a few
// thousand steps.
func (c *cron) Next(t time.Time) time.Time {
	local := t.In(c.loc)
	y, m, d := local.Date()
	day := time.Date(y, m, d, 0, 0, 0, 0, time.UTC) // calendar arithmetic in UTC, no DST surprises
	for day.Year() <= maxYear {
		if !c.years[day.Year()] {
			day = time.Date(day.Year()+1, 1, 1, 0, 0, 0, 0, time.UTC)
			continue
		}
		if !c.months[int(day.Month())] {
			day = time.Date(day.Year(), day.Month()+1, 1, 0, 0, 0, 0, time.UTC)
			continue
		}
		if c.dayMatches(day) {
			for h := 0; h < 24; h++ {
				if !c.hours[h] {
					continue
				}
				for mi := 0; mi < 60; mi++ {
					if !c.minutes[mi] {
						continue
					}
					at := time.Date(day.Year(), day.Month(), day.Day(), h, mi, 0, 0, c.loc)
					// A local time that does not exist (DST gap) normalises
					// forward; one that exists twice is taken the first time.
					if at.After(t) {
						return at
					}
				}
			}
		}
		day = day.AddDate(0, 0, 1)
	}
	return time.Time{}
}

func (c *cron) dayMatches(day time.Time) bool {
	if c.byDOW {
		return c.dowMatches(day)
	}
	return c.domMatches(day)
}

func (c *cron) domMatches(day time.Time) bool {
	d := c.dom
	if len(d.days) == 0 && d.last < 0 && len(d.weekday) == 0 && !d.lastWeekday {
		return true // '*'
	}
	n := day.Day()
	last := lastDay(day)
	if d.days[n] || (d.last >= 0 && n == last-d.last) {
		return true
	}
	for _, w := range d.weekday {
		if n == nearestWeekday(day, w) {
			return true
		}
	}
	return d.lastWeekday && n == nearestWeekday(day, last)
}

func (d dowSpec) empty() bool { return len(d.days) == 0 && len(d.lastOf) == 0 && len(d.nth) == 0 }

func (c *cron) dowMatches(day time.Time) bool {
	d := c.dow
	if d.empty() {
		return true // '*'
	}
	wd := int(day.Weekday()) + 1 // AWS: 1 = Sunday
	if d.days[wd] {
		return true
	}
	for _, n := range d.lastOf {
		if wd == n && day.Day()+7 > lastDay(day) {
			return true
		}
	}
	for _, nk := range d.nth {
		if wd == nk[0] && (day.Day()-1)/7+1 == nk[1] {
			return true
		}
	}
	return false
}

func lastDay(day time.Time) int {
	return time.Date(day.Year(), day.Month()+1, 0, 0, 0, 0, 0, time.UTC).Day()
}

// nearestWeekday is the weekday (Mon-Fri) nearest day n of day's month,
// never leaving the month, as Quartz's "nW" defines it.
func nearestWeekday(day time.Time, n int) int {
	last := lastDay(day)
	if n > last {
		return -1
	}
	t := time.Date(day.Year(), day.Month(), n, 0, 0, 0, 0, time.UTC)
	switch t.Weekday() {
	case time.Saturday:
		if n == 1 {
			return 3 // Monday the 3rd
		}
		return n - 1
	case time.Sunday:
		if n == last {
			return n - 2
		}
		return n + 1
	}
	return n
}

// Latest is the last fire time of s after last and at or before now, and
// how many fire times it passed over to get there; ok is false when s
// does not fire in that span. A rate is computed, not walked, so a long
// downtime costs nothing.
func Latest(s Schedule, last, now time.Time) (tick time.Time, skipped int, ok bool) {
	if r, isRate := s.(rate); isRate {
		n := int(now.Sub(last) / time.Duration(r))
		if n < 1 {
			return time.Time{}, 0, false
		}
		return last.Add(time.Duration(n) * time.Duration(r)), n - 1, true
	}
	next := s.Next(last)
	if next.IsZero() || next.After(now) {
		return time.Time{}, 0, false
	}
	for {
		after := s.Next(next)
		if after.IsZero() || after.After(now) {
			return next, skipped, true
		}
		next = after
		skipped++
	}
}
