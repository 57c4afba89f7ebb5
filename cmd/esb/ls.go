package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/esb-dev/esb/internal/adminapi"
	"github.com/esb-dev/esb/internal/platform"
)

// lsTimeout bounds the call to the gateway's admin listener.
const lsTimeout = 10 * time.Second

func lsCommand() command {
	const summary = "List an env's functions: runtime, digest, routes, containers, last deploy"
	return command{
		name:    "ls",
		summary: summary,
		run: func(ctx context.Context, c *cli, args []string) error {
			var opts envOptions
			var asJSON bool
			fs := newFlagSet(c, "ls", "[-e ENV] [--json]", summary+".\n"+
				"Reads the gateway's admin listener (PORT_ADMIN on 127.0.0.1), the same source as its dashboard.")
			opts.bind(fs, c)
			fs.BoolVar(&asJSON, "json", false, "print the gateway's status as JSON")
			if err := parseFlags(fs, args); err != nil {
				return err
			}
			l, err := opts.layout(c)
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(ctx, lsTimeout)
			defer cancel()
			st, err := adminapi.Fetch(ctx, &http.Client{}, "http://"+l.DialAddr("PORT_ADMIN"))
			if err != nil {
				return fmt.Errorf("env %s: %w (is it up? esb status -e %s)", l.Env.Key(), err, l.Env.Name)
			}
			if asJSON {
				enc := json.NewEncoder(c.stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(st)
			}
			return printLs(c.stdout, l, st, time.Now())
		},
	}
}

// printLs writes the functions as a table, then the last deploy.
func printLs(w io.Writer, l platform.Layout, st adminapi.Status, now time.Time) error {
	fmt.Fprintf(w, "env %s: config generation %d, %d functions, %d routes\n", l.Env.Key(), st.Generation, len(st.Functions), len(st.Routes))
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "FUNCTION\tRUNTIME\tMEMORY\tDIGEST\tBUSY\tWARM\tROUTES")
	for _, f := range st.Functions {
		runtime := f.Runtime
		if runtime == "" {
			runtime = "image"
		}
		digest := strings.TrimPrefix(f.Digest, "sha256:")
		if len(digest) > 12 {
			digest = digest[:12]
		}
		if digest == "" {
			digest = "-"
		}
		routes := strings.Join(f.Routes, ", ")
		if routes == "" {
			routes = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%d\t%s\n", f.Name, runtime, strconv.Itoa(f.MemoryMB)+" MB", digest, f.Busy, f.Warm, routes)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if a := st.AgentSync; a != nil && a.Generation == st.Generation && a.State != adminapi.AgentApplied {
		switch a.State {
		case adminapi.AgentRefused:
			fmt.Fprintf(w, "warning: the agent refused generation %d's warm containers and keeps the previous ones: %s\n", a.Generation, a.Problem)
		default:
			fmt.Fprintf(w, "note: the agent has not taken generation %d yet (%s)\n", a.Generation, a.Problem)
		}
	}
	// The env's deploy history names the template; the gateway's own
	// record of reloads is the fallback for a CONFIG_DIR written by hand.
	if len(st.History) > 0 && st.History[0].Error == "" {
		g := st.History[0]
		what := g.Action
		if g.Template != "" {
			what += " of " + g.Template
		}
		fmt.Fprintf(w, "last deploy: generation %d, %s, %s ago (%s)\n", g.Number, what, now.Sub(g.At).Round(time.Second),
			changeSummary(nil, g.Changed, g.Removed))
		return nil
	}
	if len(st.Deploys) == 0 {
		fmt.Fprintln(w, "last deploy: none since the gateway started")
		return nil
	}
	d := st.Deploys[0]
	fmt.Fprintf(w, "last deploy: generation %d, %s ago (%s)\n", d.Generation, now.Sub(d.At).Round(time.Second),
		changeSummary(d.Added, d.Changed, d.Removed))
	return nil
}

// changeSummary is "added A; changed B; removed C", leaving out what is
// empty.
func changeSummary(added, changed, removed []string) string {
	var parts []string
	for _, p := range []struct {
		label string
		names []string
	}{{"added", added}, {"changed", changed}, {"removed", removed}} {
		if len(p.names) > 0 {
			parts = append(parts, p.label+" "+strings.Join(p.names, ", "))
		}
	}
	if len(parts) == 0 {
		return "no function changed"
	}
	return strings.Join(parts, "; ")
}
