package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/esb-dev/esb/internal/backup"
	"github.com/esb-dev/esb/internal/compose"
	"github.com/esb-dev/esb/internal/deploy"
)

type restoreOptions struct {
	envOptions
	mode        string
	projectDir  string
	historyKeep int
	verbose     bool
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
generation. Nothing is built.`)
			opts.bind(fs, c)
			fs.StringVarP(&opts.mode, "mode", "m", compose.ModeDocker, "function runtime of the env: docker or containerd")
			fs.StringVar(&opts.projectDir, "project-dir", c.getenv("ESB_PROJECT_DIR"), "ESB checkout holding compose/ (default: found above the current directory; $ESB_PROJECT_DIR)")
			bindHistoryKeep(fs, c, &opts.historyKeep)
			fs.BoolVarP(&opts.verbose, "verbose", "v", false, "stream the provisioner's output")
			if err := parseFlagsArgs(fs, args, 1); err != nil {
				return err
			}
			if fs.NArg() != 1 {
				return usageError{fmt.Errorf("name the backup FILE")}
			}
			return runRestore(ctx, c, opts, fs.Arg(0))
		},
	}
}

func runRestore(ctx context.Context, c *cli, opts restoreOptions, file string) error {
	if err := compose.CheckMode(opts.mode); err != nil {
		return usageError{err}
	}
	if err := checkHistoryKeep(opts.historyKeep); err != nil {
		return err
	}
	l, err := opts.layout(c)
	if err != nil {
		return err
	}
	projectDir, err := compose.FindDir(opts.projectDir, c.workdir)
	if err != nil {
		return err
	}
	reg, err := envRegistry(c, l)
	if err != nil {
		return err
	}
	if file, err = filepath.Abs(file); err != nil {
		return err
	}
	docker, err := newDockerClient()
	if err != nil {
		return err
	}
	defer docker.Close()
	steps := deploy.PlatformSteps{
		Registry: reg,
		Docker:   docker,
		Project:  compose.Project{Dir: projectDir, Mode: opts.mode, Layout: l, Environ: os.Environ()},
	}
	if opts.verbose {
		steps.Verbose = c.stderr
	}
	if err := steps.WaitRegistry(ctx); err != nil {
		return err
	}
	for _, w := range steps.PlatformWarnings(ctx) {
		fmt.Fprintf(c.stderr, "warning: %s\n", w)
	}
	pullRegistry := deploy.PullRegistry(opts.mode)
	if pullRegistry == "" {
		pullRegistry = reg.Addr
	}
	targets := backup.Targets{Registry: reg, Tables: envTables(c, l), Objects: envObjects(c, l), Provision: steps.Provision}
	if opts.mode == compose.ModeContainerd {
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
	fmt.Fprintf(c.stdout, "restored %d functions, %d generations, %d images, %d items, %d objects into %s in %.1fs\n",
		sum.Functions, sum.Generations, sum.Images, sum.Items, sum.Objects, l.ConfigDir, time.Since(began).Seconds())
	return nil
}
