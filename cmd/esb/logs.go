package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/esb-dev/esb/internal/duration"
	"github.com/esb-dev/esb/internal/logquery"
	"github.com/esb-dev/esb/internal/runtimeconfig"
)

// followInterval is how often `esb logs -f` asks the log store for new
// lines.
const followInterval = 250 * time.Millisecond

type logsOptions struct {
	envOptions
	function string
	follow   bool
	since    string
	filter   string
}

func logsCommand() command {
	const summary = "Print the log lines of an env's functions from the log store"
	return command{
		name:    "logs",
		summary: summary,
		run: func(ctx context.Context, c *cli, args []string) error {
			var opts logsOptions
			fs := newFlagSet(c, "logs", "[FUNCTION] [-f] [--since DUR] [--filter TEXT] [-e ENV]", summary+`.
Every line a function printed, and Lambda's START, END and REPORT lines
around each invocation, oldest first, one per line: time (UTC), function,
line. Without FUNCTION, every function of the env. -f keeps printing new
lines as they reach the log store, until interrupted.`)
			opts.bind(fs, c)
			fs.BoolVarP(&opts.follow, "follow", "f", false, "keep printing new lines")
			fs.StringVar(&opts.since, "since", "10m", "print lines from this long ago on, e.g. 30s, 2h")
			fs.StringVar(&opts.filter, "filter", "", "only lines that contain this text (words or a phrase)")
			pos, err := parseArgs(fs, args, 0, 1)
			if err != nil {
				return err
			}
			if len(pos) == 1 {
				opts.function = pos[0]
			}
			since, err := duration.Parse(opts.since)
			if err != nil || since <= 0 {
				return usageError{fmt.Errorf("--since %q: want a positive duration such as 10m or 2h", opts.since)}
			}
			l, err := opts.layout(c)
			if err != nil {
				return err
			}
			if opts.function != "" {
				// A function deployed no more still has its lines; only
				// say so, in case the name is mistyped.
				if cfg, err := runtimeconfig.Load(l.ConfigDir); err == nil {
					if _, ok := cfg.Functions.Functions[opts.function]; !ok {
						fmt.Fprintf(c.stderr, "warning: env %s has no function %s deployed now\n", l.Env.Name, opts.function)
					}
				}
			}
			return runLogs(ctx, c, opts, time.Now().Add(-since), logStore(l))
		},
	}
}

// lineFollower is the log store, read once or followed;
// *logquery.Client implements it.
type lineFollower interface {
	lineReader
	Follow(ctx context.Context, query string, since time.Time, interval time.Duration, emit func(logquery.Entry) error) error
}

func runLogs(ctx context.Context, c *cli, opts logsOptions, since time.Time, store lineFollower) error {
	q := logquery.FunctionQuery(opts.function, opts.filter)
	emit := func(e logquery.Entry) error { return writeEntry(c.stdout, e) }
	if opts.follow {
		err := store.Follow(ctx, q, since, followInterval, emit)
		if errors.Is(err, context.Canceled) {
			return nil
		}
		return err
	}
	entries, err := store.Query(ctx, q, since, time.Time{}, 0)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if err := emit(e); err != nil {
			return err
		}
	}
	return nil
}

// writeEntry prints one line: time, function, the line itself. A line the
// function printed with a trailing newline or carriage return keeps one
// line on the terminal.
func writeEntry(w io.Writer, e logquery.Entry) error {
	_, err := fmt.Fprintf(w, "%s %s %s\n", e.Time.UTC().Format("2006-01-02T15:04:05.000Z"), e.Function, strings.TrimRight(e.Message, "\r\n"))
	return err
}
