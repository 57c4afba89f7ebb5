package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/esb-dev/esb/internal/lambdaclient"
	"github.com/esb-dev/esb/internal/logquery"
)

// Bounds of `esb invoke`.
const (
	// invokeDeadline covers Lambda's longest timeout (15 minutes) and the
	// gateway's queue wait and cold start around it.
	invokeDeadline = 17 * time.Minute
	// logWait bounds waiting for an invocation's REPORT line to reach the
	// log store (logship sends within a quarter second, the store shows it
	// about a second later).
	logWait = 15 * time.Second
	// logPoll is how often the log store is asked meanwhile.
	logPoll = 250 * time.Millisecond
	// logSettle is how long after the REPORT line the function's own
	// lines may still be on their way: the agent ships them, apart from
	// the gateway's lines, within a quarter second of reading them (which
	// may be a moment after the gateway timed REPORT), and the store shows
	// them about a second later.
	logSettle = 2 * time.Second
	// maxEventFile is Lambda's limit for a synchronous payload.
	maxEventFile = 6 << 20
)

// errFunctionFailed marks an invocation whose function returned an error:
// the CLI exits 1 after printing it.
var errFunctionFailed = errors.New("function returned an error")

type invokeOptions struct {
	envOptions
	function       string
	payload        string
	eventFile      string
	invocationType string
	noLogs         bool
}

func invokeCommand() command {
	const summary = "Invoke a deployed function through the gateway and print its result and log lines"
	return command{
		name:    "invoke",
		summary: summary,
		run: func(ctx context.Context, c *cli, args []string) error {
			var opts invokeOptions
			fs := newFlagSet(c, "invoke", "FUNCTION [--payload JSON | --event FILE] [--type RequestResponse|Event] [-e ENV]", summary+`.
The call goes through the env's Lambda Invoke API, signed with the env's
root key ($ESB_ACCESS_KEY_ID, $ESB_SECRET_ACCESS_KEY), over HTTPS verified
with the env CA when $ESB_GATEWAY_HTTP=off. As 'sam local invoke', the
function's result goes to stdout; its log lines (START, its output, END,
REPORT) follow on stderr, read back from the log store. Exits 1 when the
function returned an error. An Event invocation returns once the event is
queued and prints its request id.`)
			opts.bind(fs, c)
			fs.StringVar(&opts.payload, "payload", "", "the event, as JSON (default {})")
			fs.StringVar(&opts.eventFile, "event", "", "read the event from a JSON file")
			fs.StringVar(&opts.invocationType, "type", lambdaclient.RequestResponse, "invocation type: RequestResponse or Event")
			fs.BoolVar(&opts.noLogs, "no-logs", false, "print the result only, not the invocation's log lines")
			pos, err := parseArgs(fs, args, 1, 1, "FUNCTION")
			if err != nil {
				return err
			}
			opts.function = pos[0]
			payload, err := opts.event()
			if err != nil {
				return err
			}
			l, err := opts.layout(c)
			if err != nil {
				return err
			}
			gw, err := gatewayClient(c, l)
			if err != nil {
				return err
			}
			var logs lineReader
			if !opts.noLogs {
				logs = logStore(l)
			}
			return runInvoke(ctx, c, opts, payload, gw, logs)
		},
	}
}

// event returns the payload the flags give, checked to be JSON.
func (o *invokeOptions) event() ([]byte, error) {
	switch o.invocationType {
	case lambdaclient.RequestResponse, lambdaclient.Event:
	default:
		return nil, usageError{fmt.Errorf("--type %q: want RequestResponse or Event", o.invocationType)}
	}
	var payload []byte
	switch {
	case o.payload != "" && o.eventFile != "":
		return nil, usageError{errors.New("--payload and --event: give one")}
	case o.eventFile != "":
		f, err := os.Open(o.eventFile)
		if err != nil {
			return nil, fmt.Errorf("event file: %w", err)
		}
		defer f.Close()
		if payload, err = io.ReadAll(io.LimitReader(f, maxEventFile+1)); err != nil {
			return nil, fmt.Errorf("event file %s: %w", o.eventFile, err)
		}
		if len(payload) > maxEventFile {
			return nil, fmt.Errorf("event file %s: larger than Lambda's %d bytes", o.eventFile, maxEventFile)
		}
		if !json.Valid(payload) {
			return nil, fmt.Errorf("event file %s: not valid JSON", o.eventFile)
		}
	case o.payload != "":
		payload = []byte(o.payload)
		if !json.Valid(payload) {
			return nil, usageError{fmt.Errorf("--payload %q: not valid JSON", o.payload)}
		}
	default:
		payload = []byte("{}")
	}
	return payload, nil
}

// invoker is the gateway's Invoke API; *lambdaclient.Client implements it.
type invoker interface {
	Call(ctx context.Context, function, invocationType string, payload []byte) (lambdaclient.Result, error)
}

// lineReader is the log store; *logquery.Client implements it.
type lineReader interface {
	Query(ctx context.Context, query string, start, end time.Time, limit int) ([]logquery.Entry, error)
}

func runInvoke(ctx context.Context, c *cli, opts invokeOptions, payload []byte, gw invoker, logs lineReader) error {
	callCtx, cancel := context.WithTimeout(ctx, invokeDeadline)
	defer cancel()
	res, err := gw.Call(callCtx, opts.function, opts.invocationType, payload)
	if err != nil {
		return err
	}
	if opts.invocationType == lambdaclient.Event {
		fmt.Fprintf(c.stderr, "%s: event queued (%d), request id %s\n", opts.function, res.StatusCode, res.RequestID)
		return nil
	}
	fmt.Fprintf(c.stdout, "%s\n", strings.TrimRight(string(res.Payload), "\n"))
	if logs != nil {
		if res.RequestID == "" {
			fmt.Fprintln(c.stderr, "warning: the gateway named no request id; its log lines cannot be found")
		} else {
			lines, err := invocationLines(ctx, logs, opts.function, res.RequestID, logWait, logSettle)
			if err != nil {
				fmt.Fprintf(c.stderr, "warning: log lines of request %s: %v\n", res.RequestID, err)
			}
			for _, e := range lines {
				fmt.Fprintln(c.stderr, e.Message)
			}
		}
	}
	if res.FunctionError != "" {
		return fmt.Errorf("%s: %w (%s)", opts.function, errFunctionFailed, res.FunctionError)
	}
	return nil
}

// invocationLines finds one invocation's lines in the function's log
// stream: those of its container from its START line up to its REPORT
// line, waiting up to wait for the REPORT line to be stored, and then
// until settle after it for the function's own lines. The
// function's own output carries no request id; a container runs one
// invocation at a time, so its lines between the two are the invocation's.
func invocationLines(ctx context.Context, logs lineReader, function, requestID string, wait, settle time.Duration) ([]logquery.Entry, error) {
	findCtx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	marks := logquery.FunctionQuery(function, "RequestId: "+requestID)
	var start, report *logquery.Entry
	for {
		found, err := logs.Query(findCtx, marks, time.Time{}, time.Time{}, 0)
		if err != nil && findCtx.Err() == nil {
			return nil, err
		}
		start, report = nil, nil
		for i := range found {
			switch {
			case strings.HasPrefix(found[i].Message, "START RequestId: "+requestID):
				start = &found[i]
			case strings.HasPrefix(found[i].Message, "REPORT RequestId: "+requestID):
				report = &found[i]
			}
		}
		if start != nil && report != nil {
			break
		}
		select {
		case <-findCtx.Done():
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return nil, fmt.Errorf("no START and REPORT line in the log store after %s", wait)
		case <-time.After(logPoll):
		}
	}
	// The container's own lines are timed when the agent read them, which
	// may be a moment after the gateway timed REPORT: look a second past
	// it, once they had time to arrive, and stop at the container's next
	// invocation.
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-time.After(time.Until(report.Time.Add(settle))):
	}
	q := logquery.FunctionQuery(function, "") + " container:=" + logquery.Quote(start.Container)
	all, err := logs.Query(ctx, q, start.Time, report.Time.Add(time.Second), 0)
	if err != nil {
		return nil, err
	}
	return cutInvocation(all, requestID), nil
}

// cutInvocation keeps the lines from requestID's START line to the next
// START line, with its END and REPORT lines last: output the agent read a
// moment after the gateway timed END still belongs before it.
func cutInvocation(lines []logquery.Entry, requestID string) []logquery.Entry {
	var out, tail []logquery.Entry
	in := false
	for _, e := range lines {
		switch {
		case strings.HasPrefix(e.Message, "START RequestId: "+requestID):
			in = true
		case strings.HasPrefix(e.Message, "START RequestId: "):
			in = false
		case e.Message == "END RequestId: "+requestID || strings.HasPrefix(e.Message, "REPORT RequestId: "+requestID):
			tail = append(tail, e)
			continue
		}
		if in {
			out = append(out, e)
		}
	}
	return append(out, tail...)
}
