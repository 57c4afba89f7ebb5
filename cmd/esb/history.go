package main

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/spf13/pflag"

	"github.com/esb-dev/esb/internal/confighistory"
)

func historyCommand() command {
	const summary = "List an env's config generations: every deploy and rollback"
	return command{
		name:    "history",
		summary: summary,
		run: func(ctx context.Context, c *cli, args []string) error {
			var opts envOptions
			fs := newFlagSet(c, "history", "[-e ENV]", summary+`.
Each successful deploy or rollback records the config set it made current
(functions.yml, routing.yml, resources.yml), the image digests it names and
the template's sha256, in CONFIG_DIR/.history. The current generation is marked
with *. esb rollback makes an earlier one current again.`)
			opts.bind(fs, c)
			if err := parseFlags(fs, args); err != nil {
				return err
			}
			l, err := opts.layout(c)
			if err != nil {
				return err
			}
			return runHistory(c, confighistory.Store{ConfigDir: l.ConfigDir})
		},
	}
}

func runHistory(c *cli, store confighistory.Store) error {
	listed, err := store.List()
	if err != nil {
		return err
	}
	if len(listed) == 0 {
		fmt.Fprintf(c.stderr, "no generations in %s: nothing deployed yet (or deployed by an esb without history)\n", confighistory.Dir(store.ConfigDir))
		return nil
	}
	tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "GEN\tTIME\tKIND\tTEMPLATE\tSHA256\tFUNCTIONS CHANGED")
	var corrupt int
	for _, l := range listed {
		gen := strconv.Itoa(l.Number)
		if l.Current {
			gen += "*"
		}
		if l.Err != nil {
			corrupt++
			fmt.Fprintf(tw, "%s\t-\tunreadable\t-\t-\t%v\n", gen, l.Err)
			continue
		}
		kind := l.Action()
		tmpl, hash := l.Template, l.TemplateHash
		if tmpl == "" {
			tmpl = "-"
		}
		if len(hash) > 12 {
			hash = hash[:12]
		}
		if hash == "" {
			hash = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", gen, l.Time.Local().Format("2006-01-02 15:04:05"), kind, tmpl, hash, changes(l.Generation))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if !anyCurrent(listed) {
		fmt.Fprintln(c.stderr, "warning: CONFIG_DIR matches no generation: it was written outside esb deploy and esb rollback")
	}
	if corrupt > 0 {
		return fmt.Errorf("%d generations cannot be read (see above); esb rollback refuses them", corrupt)
	}
	return nil
}

// changes is a generation's function changes for people: "A, B, -C" (C
// removed), or "none".
func changes(g confighistory.Generation) string {
	parts := append([]string{}, g.Changed...)
	for _, r := range g.Removed {
		parts = append(parts, "-"+r)
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

func anyCurrent(listed []confighistory.Listed) bool {
	for _, l := range listed {
		if l.Current {
			return true
		}
	}
	return false
}

// bindHistoryKeep binds --history-keep, shared by the commands that
// record generations.
func bindHistoryKeep(fs *pflag.FlagSet, c *cli, keep *int) {
	def := confighistory.DefaultKeep
	if v, err := strconv.Atoi(c.getenv("ESB_HISTORY_KEEP")); err == nil && v > 0 {
		def = v
	}
	fs.IntVar(keep, "history-keep", def, "generations the env's history keeps; older ones and the images only they name become collectable ($ESB_HISTORY_KEEP)")
}

// checkHistoryKeep refuses a history bound that would drop the current
// generation.
func checkHistoryKeep(keep int) error {
	if keep < 1 {
		return usageError{errors.New("--history-keep must be at least 1")}
	}
	return nil
}
