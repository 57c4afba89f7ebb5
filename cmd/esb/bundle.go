package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/esb-dev/esb/internal/bundle"
	"github.com/esb-dev/esb/internal/confighistory"
	"github.com/esb-dev/esb/internal/deploy"
	"github.com/esb-dev/esb/internal/registrygc"
)

func bundleCommand() command {
	const summary = "Offline bundles for air-gapped sites: applications (export, import) and the platform itself (platform)"
	return command{
		name:    "bundle",
		summary: summary,
		run: func(ctx context.Context, c *cli, args []string) error {
			sub := ""
			if len(args) > 0 {
				sub = args[0]
			}
			switch sub {
			case "export":
				return bundleExport(ctx, c, args[1:])
			case "import":
				return bundleImport(ctx, c, args[1:])
			case "keygen":
				return bundleKeygen(c, args[1:])
			case "platform":
				return runBundlePlatform(ctx, c, args[1:])
			case "-h", "--help", "help":
				printBundleUsage(c.stdout, summary)
				return nil
			case "":
				printBundleUsage(c.stderr, summary)
				return usageError{errors.New("missing subcommand")}
			default:
				printBundleUsage(c.stderr, summary)
				return usageError{fmt.Errorf("unknown subcommand %q", sub)}
			}
		},
	}
}

func printBundleUsage(w io.Writer, summary string) {
	fmt.Fprintf(w, `Usage: esb bundle <subcommand> [flags]

%s.

Subcommands:
  export     Build a template as esb deploy would and write its images and config into one file
  import     Install an exported bundle into an env: no package index, no Dagger engine
  keygen     Make an ed25519 key pair for export --sign and import --verify
  platform   Export ESB's own images, the esb binary and the site files; verify or install such a bundle

Run 'esb bundle <subcommand> --help' for its flags.
`, summary)
}

func bundleExport(ctx context.Context, c *cli, args []string) error {
	const summary = "Build a SAM template as esb deploy would and write its images and config into one file"
	var opts deployOptions
	var out, signKey string
	fs := newFlagSet(c, "bundle export", "-t template.yml -o app.esbundle [-e ENV] [flags]", summary+`.
Runs on a machine that can build, in an env that is up (its registry and
Dagger engine): the deploy's pipeline builds and publishes the images into
that env's registry, but nothing is merged into its CONFIG_DIR. The bundle
holds every function image, complete (all its layers, its base image's
included) and addressed by digest, the functions.yml, routing.yml and
resources.yml the pipeline generated, the template's path and sha256, and a
manifest with the size and sha256 of every entry, which esb bundle import
checks before it changes anything.`)
	opts.bind(fs, c)
	fs.StringVarP(&out, "output", "o", "", "the bundle file to write")
	fs.StringVar(&signKey, "sign", "", "sign the bundle with this ed25519 private key (PKCS#8 PEM, e.g. openssl genpkey -algorithm ed25519): writes FILE.sig")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if out == "" {
		return usageError{errors.New("-o FILE is required")}
	}
	out, err := filepath.Abs(out)
	if err != nil {
		return err
	}
	stage, err := os.MkdirTemp(filepath.Dir(out), ".esb-bundle-")
	if err != nil {
		return fmt.Errorf("stage the exported config: %w", err)
	}
	defer os.RemoveAll(stage)
	opts.output = stage
	opts.historyKeep = confighistory.DefaultKeep

	began := time.Now()
	run, err := prepareDeploy(ctx, c, opts)
	if run.close != nil {
		defer run.close()
	}
	if err != nil {
		return err
	}
	built, err := deploy.Build(ctx, run.options, run.steps)
	// Held until the images are read: a registry prune must not take them.
	defer built.Release()
	for _, w := range built.Warnings {
		fmt.Fprintf(c.stderr, "warning: %s\n", w)
	}
	if err != nil {
		return templateError(run.template, err)
	}
	buildTime := time.Since(began)
	if !opts.quiet {
		fmt.Fprintf(c.stderr, "built %d functions in %.1fs; writing %d images into %s\n", len(built.Functions), buildTime.Seconds(), len(built.Functions), out)
	}
	sum, err := bundle.Export(ctx, bundle.ExportOptions{
		Output: out, Template: run.template, TemplateHash: built.TemplateHash,
		Env: run.layout.Env.Name, Mode: opts.mode, ConfigDir: stage, Functions: built.Functions, Created: time.Now(),
	}, run.steps.Registry)
	if err != nil {
		return err
	}
	if signKey != "" {
		sig, err := bundle.Sign(out, signKey)
		if err != nil {
			return err
		}
		fmt.Fprintf(c.stderr, "signed: %s\n", sig)
	}
	for _, f := range built.Functions {
		fmt.Fprintf(c.stdout, "%s\t%s\n", f.Function, f.Digest)
	}
	fmt.Fprintf(c.stdout, "exported %d functions, %d images: %s (%.1f MB) in %.1fs (build %.1fs)\n",
		sum.Functions, sum.Images, out, float64(sum.Bytes)/(1<<20), time.Since(began).Seconds(), buildTime.Seconds())
	return nil
}

func bundleImport(ctx context.Context, c *cli, args []string) error {
	const summary = "Install an exported bundle into an env, as esb deploy would have"
	var opts switchOptions
	var quiet bool
	var verifyKey string
	var wait time.Duration
	fs := newFlagSet(c, "bundle import", "FILE [-e ENV] [-m MODE] [flags]", summary+`.
Needs no package index and no Dagger engine. The whole bundle is checked
against its manifest first: a truncated or tampered one is refused with
the entry that is wrong, and nothing changes. Then its images are pushed
into the env's registry under the env's repository (digests unchanged),
and under the deploy lock its config is merged into CONFIG_DIR with the
usual rules in one atomic switch, the images are pulled into runtime-node
(containerd mode), the tables and buckets are provisioned and the import is
recorded as a generation (esb history; esb rollback undoes it). A failed
pull or provisioner puts CONFIG_DIR back as it was. It returns once the
gateway serves the imported config (see --wait).`)
	opts.bind(fs, c)
	fs.BoolVarP(&quiet, "quiet", "q", false, "no progress, only warnings, errors and the summary")
	fs.StringVar(&verifyKey, "verify", "", "refuse the bundle unless FILE.sig verifies under this ed25519 public key (PKIX PEM, openssl pkey -pubout)")
	bindServeWait(fs, &wait)
	pos, err := parseArgs(fs, args, 1, 1, "the bundle FILE")
	if err != nil {
		return err
	}
	file, err := filepath.Abs(pos[0])
	if err != nil {
		return err
	}
	l, steps, closeFn, err := opts.steps(c)
	if err != nil {
		return err
	}
	defer closeFn()
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
	progressTo := func(string) {}
	if !quiet {
		progressTo = func(step string) { fmt.Fprintln(c.stderr, step) }
	}
	events := selectRenderer(c.stderr, isTerminal(c.stderr) && !opts.verbose, quiet)
	res, err := bundle.Import(ctx, bundle.ImportOptions{
		File: file, ConfigDir: l.ConfigDir, Repository: l.Env.Project(), Registry: pullRegistry, Mode: opts.mode,
		HistoryKeep: opts.historyKeep, VerifyKey: verifyKey,
		Publishing: func(ctx context.Context) (func() error, error) {
			return registrygc.Publishing(ctx, l.ConfigDir, registryPruneWait)
		},
		Progress: progressTo,
		Events:   events,
	}, bundle.Targets{Registry: steps.Registry, Steps: steps})
	for _, w := range res.Warnings {
		fmt.Fprintf(c.stderr, "warning: %s\n", w)
	}
	if err != nil {
		return err
	}
	for _, w := range res.Installed.Warnings {
		fmt.Fprintf(c.stderr, "warning: %s\n", w)
	}
	if err := awaitServed(ctx, c, l, res.Installed.Digest, wait, events); err != nil {
		return err
	}
	for _, f := range res.Meta.Functions {
		fmt.Fprintf(c.stdout, "%s\t%s\n", f.Name, f.Digest)
	}
	fmt.Fprintf(c.stdout, "imported %d functions, %d images from %s (template %s, sha256 %.12s) into %s in %.1fs (verify %.1fs); generation %d\n",
		len(res.Meta.Functions), res.Images, filepath.Base(file), res.Meta.Template, res.Meta.TemplateSHA256, l.ConfigDir,
		res.Duration.Seconds(), res.Verify.Seconds(), res.Installed.Generation.Number)
	return nil
}

func bundleKeygen(c *cli, args []string) error {
	const summary = "Make an ed25519 key pair for esb bundle export --sign and import --verify"
	var prefix string
	fs := newFlagSet(c, "bundle keygen", "-o PREFIX", summary+`.
Writes PREFIX.pem, the private key (PKCS#8 PEM, mode 0600: keep it on the
machine that exports), and PREFIX.pub, the public key the sites that import
check signatures with. Existing files are never overwritten. openssl makes
the same files: openssl genpkey -algorithm ed25519 -out PREFIX.pem;
openssl pkey -in PREFIX.pem -pubout -out PREFIX.pub.`)
	fs.StringVarP(&prefix, "output", "o", "", "path prefix of the two key files")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if prefix == "" {
		return usageError{errors.New("-o PREFIX is required")}
	}
	private, public, err := bundle.WriteKeyPair(prefix)
	if err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "private key: %s (keep it secret)\npublic key:  %s\n", private, public)
	return nil
}
