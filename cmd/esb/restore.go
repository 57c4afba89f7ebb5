package main

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"github.com/esb-dev/esb/internal/backup"
	"github.com/esb-dev/esb/internal/deploy"
)

type restoreOptions struct {
	switchOptions
	wait time.Duration
}

func restoreCommand() command {
	const summary = "Make a fresh env identical to the one a backup was taken from"
	return command{
		name:    "restore",
		summary: summary,
		run: func(ctx context.Context, c *cli, args []string) error {
			var opts restoreOptions
			fs := newFlagSet(c, "restore", "FILE -e NEWENV [flags]", summary+`.
The env must be up (esb env, docker compose up) and have no functions yet;
it may be on another machine. The whole file is checked against its
manifest first: a truncated or tampered one changes nothing. Then the
images are pushed into the env's registry under its own repository, the
backup's tables and buckets are provisioned and filled, and only then do
its functions and routes go live; the history comes along (image names
rewritten for the new env, digests kept) and the restore is recorded as a
generation. Nothing is built. It returns once the gateway serves the
restored config (see --wait).`)
			opts.switchOptions.bind(fs, c)
			bindServeWait(fs, &opts.wait)
			pos, err := parseArgs(fs, args, 1, 1, "the backup FILE")
			if err != nil {
				return err
			}
			return runRestore(ctx, c, opts, pos[0])
		},
	}
}

func runRestore(ctx context.Context, c *cli, opts restoreOptions, file string) error {
	l, steps, closeFn, err := opts.steps(c)
	if err != nil {
		return err
	}
	defer closeFn()
	if file, err = filepath.Abs(file); err != nil {
		return err
	}
	if err := steps.WaitRegistry(ctx); err != nil {
		return err
	}
	for _, w := range steps.PlatformWarnings(ctx) {
		fmt.Fprintf(c.stderr, "warning: %s\n", w)
	}
	pullRegistry := deploy.PullRegistry(opts.mode)
	if pullRegistry == "" {
		pullRegistry = steps.Registry.Addr
	}
	targets := backup.Targets{Registry: steps.Registry, Tables: envTables(c, l), Objects: envObjects(c, l), Provision: steps.Provision}
	if deploy.PullsImages(opts.mode) {
		targets.PullImages = func(ctx context.Context, refs []string) error {
			_, warnings, err := steps.PullImages(ctx, refs)
			for _, w := range warnings {
				fmt.Fprintf(c.stderr, "warning: %s\n", w)
			}
			return err
		}
	}
	began := time.Now()
	fmt.Fprintf(c.stderr, "restoring %s into env %s\n", file, l.Env.Name)
	sum, err := backup.Restore(ctx, backup.RestoreOptions{
		File: file, ConfigDir: l.ConfigDir, Repository: l.Env.Project(), Registry: pullRegistry, HistoryKeep: opts.historyKeep,
	}, targets)
	if err != nil {
		return err
	}
	if err := awaitServed(ctx, c, l, sum.ConfigDigest, opts.wait, selectRenderer(c.stderr, isTerminal(c.stderr) && !opts.verbose, false)); err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "restored %d functions, %d generations, %d images, %d items, %d objects into %s in %.1fs\n",
		sum.Functions, sum.Generations, sum.Images, sum.Items, sum.Objects, l.ConfigDir, time.Since(began).Seconds())
	return nil
}
