// Package logquery reads function log lines back from the platform's log
// store (VictoriaLogs) through its LogsQL query API: the lines logship
// wrote, for `esb logs` and `esb invoke`.
package logquery

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// QueryPath is VictoriaLogs' LogsQL query endpoint.
const QueryPath = "/select/logsql/query"

// DefaultTimeout bounds one query when the caller's context has no
// earlier deadline.
const DefaultTimeout = 30 * time.Second

// maxLine bounds one returned entry: logship splits lines at 16 KiB, and
// the fields around the message are short.
const maxLine = 1 << 20

// Entry is one line of a function's log stream.
type Entry struct {
	Time      time.Time
	Function  string
	Container string
	Stream    string // stdout or stderr
	Message   string
}

// Client queries one log store.
type Client struct {
	BaseURL string       // e.g. http://127.0.0.1:5040
	HTTP    *http.Client // http.DefaultClient when nil
}

// Quote makes s one LogsQL string literal: a phrase or field value with
// spaces, quotes or LogsQL's own words in it stays one term.
func Quote(s string) string { return strconv.Quote(s) }

// FunctionQuery selects the lines of one function's log stream (every
// function's when function is empty) that contain filter (any when empty).
func FunctionQuery(function, filter string) string {
	q := "service:function"
	if function != "" {
		q += " function:=" + Quote(function)
	}
	if filter != "" {
		q += " " + Quote(filter)
	}
	return q
}

// Query returns the entries query selects between start and end (either
// may be zero: unbounded), oldest first, at most limit of the newest
// (0: no limit).
func (c *Client) Query(ctx context.Context, query string, start, end time.Time, limit int) ([]Entry, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, DefaultTimeout)
		defer cancel()
	}
	form := url.Values{"query": {query + " | sort by (_time)"}}
	if !start.IsZero() {
		form.Set("start", start.UTC().Format(time.RFC3339Nano))
	}
	if !end.IsZero() {
		form.Set("end", end.UTC().Format(time.RFC3339Nano))
	}
	if limit > 0 {
		// limit keeps the newest entries; sorted afterwards below.
		form.Set("limit", strconv.Itoa(limit))
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(c.BaseURL, "/")+QueryPath, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, fmt.Errorf("log store query: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("log store query %s: %w", c.BaseURL, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 1024)) // only for the error text
		return nil, fmt.Errorf("log store query %q: %s: %s", query, resp.Status, strings.TrimSpace(string(msg)))
	}
	entries, err := decode(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("log store query %q: %w", query, err)
	}
	sortByTime(entries)
	return entries, nil
}

// decode reads VictoriaLogs' answer: one JSON object per line, every
// field a string.
func decode(r io.Reader) ([]Entry, error) {
	var out []Entry
	sc := bufio.NewScanner(r)
	sc.Buffer(nil, maxLine)
	for sc.Scan() {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		var row map[string]string
		if err := json.Unmarshal(line, &row); err != nil {
			return nil, fmt.Errorf("decode entry %.200s: %w", line, err)
		}
		at, err := time.Parse(time.RFC3339Nano, row["_time"])
		if err != nil {
			return nil, fmt.Errorf("entry time %q: %w", row["_time"], err)
		}
		out = append(out, Entry{Time: at, Function: row["function"], Container: row["container"], Stream: row["stream"], Message: row["_msg"]})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read entries: %w", err)
	}
	return out, nil
}

// sortByTime orders entries oldest first, keeping the store's order among
// equal times (the order a container printed them in).
func sortByTime(entries []Entry) {
	slices.SortStableFunc(entries, func(a, b Entry) int { return a.Time.Compare(b.Time) })
}

// Lateness is how long after its time an entry may become visible to
// queries: logship holds an entry up to a second for a fuller batch, and
// the store makes what it took searchable about a second later. Follow
// looks back this far on every poll.
const Lateness = 5 * time.Second

// Follow emits the entries query selects from since on, oldest first, and
// then each new one as it arrives, polling every interval, until ctx ends
// (then it returns nil) or a query or emit fails. An entry that becomes
// visible more than Lateness after its time is missed.
func (c *Client) Follow(ctx context.Context, query string, since time.Time, interval time.Duration, emit func(Entry) error) error {
	type key struct {
		at                         time.Time
		container, stream, message string
	}
	seen := map[key]bool{}
	from := since
	for {
		polled := time.Now()
		qctx, cancel := context.WithTimeout(ctx, max(interval, DefaultTimeout))
		entries, err := c.Query(qctx, query, from, time.Time{}, 0)
		cancel()
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			return err
		}
		for _, e := range entries {
			k := key{e.Time, e.Container, e.Stream, e.Message}
			if seen[k] {
				continue
			}
			seen[k] = true
			if err := emit(e); err != nil {
				return err
			}
		}
		if next := polled.Add(-Lateness); next.After(from) {
			from = next
		}
		for k := range seen {
			if k.at.Before(from) {
				delete(seen, k)
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(interval):
		}
	}
}
