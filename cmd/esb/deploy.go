package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/pflag"

	"github.com/esb-dev/esb/internal/compose"
	"github.com/esb-dev/esb/internal/deploy"
	"github.com/esb-dev/esb/internal/platform"
	"github.com/esb-dev/esb/internal/registrygc"
	"github.com/esb-dev/esb/internal/runtimecatalog"
	"github.com/esb-dev/esb/pipeline"
	lambdaimages "github.com/esb-dev/esb/services/runtime"
)

type deployOptions struct {
	envOptions
	template      string
	mode          string
	output        string
	tag           string
	noCache       bool
	verbose       bool
	quiet         bool
	overrides     []string
	projectDir    string
	engine        string
	runtimeImages []string
	aliases       []string
	maven         string
	mirrors       mirrorOptions
	historyKeep   int
	wait          time.Duration
}

func deployCommand() command {
	const summary = "Build a SAM template's functions and deploy them into an env"
	return command{
		name:    "deploy",
		summary: summary,
		run: func(ctx context.Context, c *cli, args []string) error {
			var opts deployOptions
			fs := newFlagSet(c, "deploy", "-t template.yml [-e ENV] [flags]", summary+`.
Later deploys win where templates overlap; nothing is ever deleted. The
gateway picks the new config up without a restart; esb deploy returns once
it serves it (see --wait).`)
			opts.bind(fs, c)
			fs.StringVarP(&opts.output, "output", "o", "", "where the generated functions.yml, routing.yml and resources.yml are exported (default: a folder beside CONFIG_DIR)")
			bindHistoryKeep(fs, c, &opts.historyKeep)
			bindServeWait(fs, &opts.wait)
			if err := parseFlags(fs, args); err != nil {
				return err
			}
			return runDeploy(ctx, c, opts)
		},
	}
}

// bind binds the flags of a build (esb deploy, esb bundle export) but
// --output and --history-keep.
func (o *deployOptions) bind(fs *pflag.FlagSet, c *cli) {
	fs.StringVarP(&o.template, "template", "t", "", "SAM template (default: template.yaml or template.yml in the current directory)")
	o.envOptions.bind(fs, c)
	fs.StringVarP(&o.mode, "mode", "m", compose.ModeDocker, "function runtime of the env: docker, containerd or kubernetes")
	fs.StringVar(&o.tag, "tag", envOr(c, "ESB_TAG", "latest"), "image tag the functions are published under ($ESB_TAG)")
	fs.BoolVar(&o.noCache, "no-cache", false, "rebuild every step and start from empty package caches")
	fs.BoolVarP(&o.verbose, "verbose", "v", false, "stream the Dagger engine's progress and the provisioner's output")
	fs.BoolVarP(&o.quiet, "quiet", "q", false, "no progress, only warnings, errors and the summary table")
	fs.StringArrayVar(&o.overrides, "parameter-overrides", nil, "template parameter values: K=V, \"K1=V1 K2=V2\" or ParameterKey=K,ParameterValue=V (repeatable)")
	fs.StringVar(&o.projectDir, "project-dir", c.getenv("ESB_PROJECT_DIR"), "ESB checkout holding compose/ (default: found above the current or template directory; $ESB_PROJECT_DIR)")
	fs.StringVar(&o.engine, "engine", c.getenv("ESB_DAGGER_RUNNER_HOST"), "Dagger engine to use instead of the env's (e.g. unix:///run/dagger/engine.sock, docker-container://name; $ESB_DAGGER_RUNNER_HOST)")
	fs.StringArrayVar(&o.runtimeImages, "runtime-image", nil, "use IMAGE as the base of RUNTIME instead of the built-in one: RUNTIME=IMAGE (repeatable)")
	bindRuntimeAliases(fs, &o.aliases)
	bindMavenMirror(fs, c, &o.maven)
	bindMirrors(fs, c, &o.mirrors)
}

func envOr(c *cli, key, def string) string {
	if v := c.getenv(key); v != "" {
		return v
	}
	return def
}

// deployRun is one build's options and platform steps, resolved from the
// flags; close, when set (even with an error), releases the Docker client.
type deployRun struct {
	layout   platform.Layout
	template string
	options  deploy.Options
	steps    deploy.PlatformSteps
	close    func()
}

// prepareDeploy resolves the env, the template, the checkout and the
// engine for a build into the call deploy.Run or deploy.Build takes.
func prepareDeploy(ctx context.Context, c *cli, opts deployOptions) (deployRun, error) {
	var run deployRun
	if err := compose.CheckMode(opts.mode); err != nil {
		return run, usageError{err}
	}
	if err := checkHistoryKeep(opts.historyKeep); err != nil {
		return run, err
	}
	l, err := opts.layout(c)
	if err != nil {
		return run, err
	}
	tmplPath, err := findTemplate(opts.template)
	if err != nil {
		return run, err
	}
	if tmplPath, err = filepath.Abs(tmplPath); err != nil {
		return run, err
	}
	overrides, err := parseParameterOverrides(opts.overrides)
	if err != nil {
		return run, usageError{err}
	}
	images, err := parseRuntimeImages(opts.runtimeImages)
	if err != nil {
		return run, usageError{err}
	}
	aliases, err := runtimeAliases(c, opts.aliases)
	if err != nil {
		return run, usageError{err}
	}
	mirrors, err := opts.mirrors.mirrors()
	if err != nil {
		return run, usageError{err}
	}
	cwd, _ := os.Getwd()
	projectDir, err := compose.FindDir(opts.projectDir, cwd, filepath.Dir(tmplPath))
	if err != nil {
		return run, err
	}
	output := opts.output
	if output == "" {
		output = filepath.Join(filepath.Dir(l.ConfigDir), "deploys", strings.TrimSuffix(filepath.Base(tmplPath), filepath.Ext(tmplPath)))
	}
	if output, err = filepath.Abs(output); err != nil {
		return run, err
	}
	// With plain HTTP turned off the APIs are reached over HTTPS alone.
	gatewayPort, httpOff := l.Ports["PORT_GATEWAY"], strings.EqualFold(c.getenv("ESB_GATEWAY_HTTP"), "off")
	if httpOff {
		gatewayPort = l.Ports["PORT_GATEWAY_TLS"]
	}
	reg, err := envRegistry(c, l)
	if err != nil {
		return run, err
	}
	runnerHost := opts.engine
	if runnerHost == "" {
		runnerHost = "unix://" + l.DaggerSocket()
	}
	cliBin, err := daggerCLI(c)
	if err != nil {
		return run, err
	}
	// The Go SDK finds the CLI only through this variable; without it, it
	// would try to download one.
	if err := os.Setenv("_EXPERIMENTAL_DAGGER_CLI_BIN", cliBin); err != nil {
		return run, err
	}

	docker, err := newDockerClient()
	if err != nil {
		return run, err
	}
	run.close = func() { _ = docker.Close() }
	// Functions run on this engine: they are built for its architecture.
	hostArch := ""
	if info, err := docker.Info(ctx); err == nil {
		hostArch = deploy.LambdaArch(info.Architecture)
	}

	bases, baseRefs, err := runtimeBases(images)
	if err != nil {
		return run, err
	}
	var engineLog io.Writer
	if opts.verbose {
		engineLog = c.stderr
	}
	steps := deploy.PlatformSteps{
		Registry:   reg,
		Docker:     docker,
		Project:    compose.Project{Dir: projectDir, Mode: opts.mode, Layout: l, Environ: os.Environ()},
		RunnerHost: runnerHost,
		EngineLog:  engineLog,
		Bases:      bases,
		BaseRefs:   baseRefs,
		BaseCache:  deploy.BaseCache{Ref: lambdaimages.RuntimeBaseRef, LockDir: filepath.Join(esbHome(c), "locks")},
		Verbose:    engineLog,
	}
	run.layout, run.template, run.steps = l, tmplPath, steps
	run.options = deploy.Options{
		Template:           tmplPath,
		ParameterOverrides: overrides,
		RuntimeAliases:     aliases,
		StackName:          l.Env.Project(),
		ConfigDir:          l.ConfigDir,
		Output:             output,
		Registry:           reg.Addr,
		PullRegistry:       deploy.PullRegistry(opts.mode),
		Repository:         l.Env.Project(),
		Tag:                opts.tag,
		CacheNamespace:     l.Env.Project(),
		NoCache:            opts.noCache,
		Mode:               opts.mode,
		GatewayPort:        gatewayPort,
		GatewayHTTPS:       httpOff,
		MavenMirror:        opts.maven,
		Mirrors:            mirrors,
		HostArch:           hostArch,
		Publishing: func(ctx context.Context) (func() error, error) {
			return registrygc.Publishing(ctx, l.ConfigDir, registryPruneWait)
		},
		HistoryKeep: opts.historyKeep,
		Events:      selectRenderer(c.stderr, isTerminal(c.stderr) && !opts.verbose, opts.quiet),
	}
	return run, nil
}

func runDeploy(ctx context.Context, c *cli, opts deployOptions) error {
	run, err := prepareDeploy(ctx, c, opts)
	if run.close != nil {
		defer run.close()
	}
	if err != nil {
		return err
	}
	l, docker := run.layout, run.steps.Docker
	run.options.Budget = nodeBudget(ctx, l)
	sum, err := deploy.Run(ctx, run.options, run.steps)
	if err != nil {
		var install *pipeline.InstallError
		if opts.verbose && errors.As(err, &install) {
			fmt.Fprintf(c.stderr, "%s output:\n%s\n", install.Tool, install.Output)
		}
		return templateError(run.template, err)
	}
	// The deploy is done when the next request sees it.
	if err := awaitServed(ctx, c, l, sum.ConfigDigest, opts.wait, run.options.Events); err != nil {
		return err
	}
	printSummary(c, filepath.Dir(run.template), sum)
	if slices.ContainsFunc(sum.Functions, func(b pipeline.Built) bool { return b.Changed }) {
		// A replaced image is garbage from now on; the deploy itself
		// succeeded, so a failed prune is only reported.
		if line, err := autoPruneRegistry(ctx, c, l, docker); err != nil {
			fmt.Fprintf(c.stderr, "warning: registry prune after the deploy: %s\n", err)
		} else if line != "" {
			fmt.Fprintln(c.stderr, line)
		}
	}
	return nil
}

// esbHome is where esb keeps its tools and machine-wide state: $ESB_HOME,
// else ~/.esb (scripts/setup.sh uses the same rule).
func esbHome(c *cli) string {
	if home := c.getenv("ESB_HOME"); home != "" {
		return home
	}
	return filepath.Join(c.getenv("HOME"), ".esb")
}

// daggerCLI finds the dagger CLI the Go SDK drives: $ESB_DAGGER_CLI, else
// the one scripts/setup.sh installed, else dagger on PATH.
func daggerCLI(c *cli) (string, error) {
	if p := c.getenv("ESB_DAGGER_CLI"); p != "" {
		return p, nil
	}
	home := esbHome(c)
	if p := filepath.Join(home, "bin", "dagger"); fileIsExecutable(p) {
		return p, nil
	}
	for _, dir := range filepath.SplitList(c.getenv("PATH")) {
		if p := filepath.Join(dir, "dagger"); fileIsExecutable(p) {
			return p, nil
		}
	}
	return "", fmt.Errorf("no dagger CLI in $ESB_DAGGER_CLI, %s/bin or PATH: run scripts/setup.sh", home)
}

func fileIsExecutable(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir() && st.Mode()&0o111 != 0
}

func parseRuntimeImages(values []string) (map[string]string, error) {
	out := map[string]string{}
	for _, v := range values {
		rt, img, ok := strings.Cut(v, "=")
		if !ok || rt == "" || img == "" {
			return nil, fmt.Errorf("--runtime-image %q: want RUNTIME=IMAGE", v)
		}
		out[rt] = img
	}
	return out, nil
}

func printSummary(c *cli, templateDir string, sum deploy.Summary) {
	for _, w := range sum.Warnings {
		fmt.Fprintf(c.stderr, "warning: %s\n", w)
	}
	tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "FUNCTION\tDIGEST\tROUTES\tSTATUS")
	for _, f := range sum.Functions {
		status := "unchanged"
		switch {
		case f.Skipped:
			status = "unchanged (not rebuilt)"
		case f.Changed:
			status = "changed"
		}
		routes := strings.Join(sum.Routes[f.Function], ", ")
		if routes == "" {
			routes = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", f.Function, f.Digest, routes, status)
	}
	_ = tw.Flush()
	for _, f := range sum.Functions {
		printInstalls(c, templateDir, f.Installs)
	}
	if len(sum.APIs) > 0 {
		// Each API has its own address, as on AWS; the bare gateway address
		// serves every route too (where APIs share a route, the latest
		// deploy's).
		tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "API\tSTAGE\tURL")
		for _, a := range sum.APIs {
			fmt.Fprintf(tw, "%s\t%s\t%s\n", a.ID, a.Stage, a.URL)
		}
		_ = tw.Flush()
	}
	if len(sum.URLs) > 0 {
		tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "FUNCTION URL\tAUTH\tURL")
		for _, u := range sum.URLs {
			fmt.Fprintf(tw, "%s\t%s\t%s\n", u.Function, u.AuthType, u.URL)
		}
		_ = tw.Flush()
	}
	fmt.Fprintf(c.stderr, "deployed %d functions in %.1fs into %s (generation %d; esb history lists them)\n", len(sum.Functions), sum.Duration.Seconds(), sum.ConfigDir, sum.Generation.Number)
}

// runtimeBases are the built-in Lambda base images (their Dockerfiles are
// embedded in esb) with the user's overrides, and the docker.io images
// those Dockerfiles start from.
func runtimeBases(images map[string]string) (pipeline.Bases, []string, error) {
	ctx := lambdaimages.Context()
	var dockerfiles []string
	seen := map[string]bool{}
	for _, rt := range runtimecatalog.Names() {
		name, err := lambdaimages.Dockerfile(rt)
		if err != nil {
			return pipeline.Bases{}, nil, err
		}
		if seen[name] {
			continue
		}
		seen[name] = true
		data, err := fs.ReadFile(ctx, name)
		if err != nil {
			return pipeline.Bases{}, nil, fmt.Errorf("runtime base %s: %w", name, err)
		}
		dockerfiles = append(dockerfiles, string(data))
	}
	for rt := range images {
		if _, ok := runtimecatalog.Lookup(rt); !ok {
			return pipeline.Bases{}, nil, usageError{fmt.Errorf("--runtime-image %s: unknown runtime (supported: %s)", rt, strings.Join(runtimecatalog.Names(), ", "))}
		}
	}
	return pipeline.Bases{FS: ctx, Dockerfile: lambdaimages.Dockerfile, Fingerprint: lambdaimages.Fingerprint, Images: images}, deploy.FromImages(dockerfiles...), nil
}
