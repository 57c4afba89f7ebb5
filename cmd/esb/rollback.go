package main

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/esb-dev/esb/internal/deploy"
)

type rollbackOptions struct {
	switchOptions
	quiet bool
	wait  time.Duration
}

func rollbackCommand() command {
	const summary = "Make an earlier config generation of an env current again, without a rebuild"
	return command{
		name:    "rollback",
		summary: summary,
		run: func(ctx context.Context, c *cli, args []string) error {
			var opts rollbackOptions
			fs := newFlagSet(c, "rollback", "[-e ENV] [GEN]", summary+`.
GEN is a generation of esb history; without it, the one recorded before the
newest (so a second rollback undoes the first). Under the deploy lock the
generation's functions.yml, routing.yml and resources.yml replace CONFIG_DIR
whole, in one rename: the gateway reloads them and the agent retires
containers of other digests. The images are the generation's own digests,
which must still be in the env's registry; nothing is built. The
provisioner creates the generation's tables and buckets if they are gone.
Data is not rolled back: items, objects and resources added since stay.
The rollback is recorded as a new generation, and esb rollback returns once
the gateway serves it (see --wait). A missing or corrupt
generation, a missing image or a failed provisioner changes nothing.`)
			opts.switchOptions.bind(fs, c)
			fs.BoolVarP(&opts.quiet, "quiet", "q", false, "no progress, only warnings, errors and the summary")
			bindServeWait(fs, &opts.wait)
			pos, err := parseArgs(fs, args, 0, 1)
			if err != nil {
				return err
			}
			gen := 0
			if len(pos) == 1 {
				n, err := strconv.Atoi(pos[0])
				if err != nil || n < 1 {
					return usageError{fmt.Errorf("generation %q: want a number from esb history", pos[0])}
				}
				gen = n
			}
			return runRollback(ctx, c, opts, gen)
		},
	}
}

func runRollback(ctx context.Context, c *cli, opts rollbackOptions, gen int) error {
	l, steps, closeFn, err := opts.steps(c)
	if err != nil {
		return err
	}
	defer closeFn()
	events := selectRenderer(c.stderr, isTerminal(c.stderr) && !opts.verbose, opts.quiet)
	sum, err := deploy.Rollback(ctx, deploy.RollbackOptions{
		ConfigDir:   l.ConfigDir,
		Generation:  gen,
		Mode:        opts.mode,
		HistoryKeep: opts.historyKeep,
		Events:      events,
	}, steps)
	if err != nil {
		return err
	}
	if err := awaitServed(ctx, c, l, sum.ConfigDigest, opts.wait, events); err != nil {
		return err
	}
	for _, w := range sum.Warnings {
		fmt.Fprintf(c.stderr, "warning: %s\n", w)
	}
	fmt.Fprintf(c.stdout, "generation %d (%s, template %s) is current again, recorded as generation %d; functions changed: %s\n",
		sum.Target.Number, sum.Target.Time.Local().Format("2006-01-02 15:04:05"), orDash(sum.Target.Template), sum.Recorded.Number, changes(sum.Recorded))
	fmt.Fprintf(c.stderr, "rolled back in %.1fs; %d of 3 config files changed in %s\n", sum.Duration.Seconds(), len(sum.Written), l.ConfigDir)
	return nil
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
