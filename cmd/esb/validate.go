package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/spf13/pflag"

	"github.com/esb-dev/esb/internal/configgen"
	"github.com/esb-dev/esb/internal/deploy"
	"github.com/esb-dev/esb/internal/runtimecatalog"
	"github.com/esb-dev/esb/internal/runtimeconfig"
	"github.com/esb-dev/esb/internal/sam"
	"github.com/esb-dev/esb/pipeline"
)

// validateOptions are the flags of `esb validate`.
type validateOptions struct {
	template  string
	overrides []string
	output    string
	aliases   []string
	maven     string
	mirrors   mirrorOptions
}

func validateCommand() command {
	const summary = "Check a SAM template and show the runtime config it deploys, without Docker"
	return command{
		name:    "validate",
		summary: summary,
		run: func(ctx context.Context, c *cli, args []string) error {
			var opts validateOptions
			fs := newFlagSet(c, "validate", "[-t template.yml] [--parameter-overrides K=V ...] [--runtime-alias FROM=TO ...] [-o DIR]", summary)
			fs.StringVarP(&opts.template, "template", "t", "", "SAM template (default: template.yaml or template.yml in the current directory)")
			fs.StringArrayVar(&opts.overrides, "parameter-overrides", nil, "template parameter values: K=V, \"K1=V1 K2=V2\" or ParameterKey=K,ParameterValue=V (repeatable)")
			fs.StringVarP(&opts.output, "output", "o", "", "write functions.yml, routing.yml and resources.yml into `DIR` instead of printing them")
			bindRuntimeAliases(fs, &opts.aliases)
			bindMavenMirror(fs, c, &opts.maven)
			bindMirrors(fs, c, &opts.mirrors)
			if err := parseFlags(fs, args); err != nil {
				return err
			}
			return runValidate(ctx, c, opts)
		},
	}
}

func runValidate(_ context.Context, c *cli, opts validateOptions) error {
	path, err := findTemplate(opts.template)
	if err != nil {
		return err
	}
	overrides, err := parseParameterOverrides(opts.overrides)
	if err != nil {
		return usageError{err}
	}
	aliases, err := runtimeAliases(c, opts.aliases)
	if err != nil {
		return usageError{err}
	}
	tmpl, err := sam.ParseFile(path, sam.Options{ParameterOverrides: overrides, RuntimeAliases: aliases})
	if err != nil {
		return templateError(path, err)
	}
	for _, w := range tmpl.Warnings {
		fmt.Fprintf(c.stderr, "warning: %s\n", w)
	}
	if err := pipeline.CheckBuilds(tmpl, opts.maven); err != nil {
		return err
	}
	mirrors, err := opts.mirrors.mirrors()
	if err != nil {
		return usageError{err}
	}
	if err := mirrors.Check(); err != nil {
		return err
	}
	printInstalls(c, filepath.Dir(path), pipeline.Installs(tmpl, mirrors))
	// Validate runs without Docker: this machine stands in for the host
	// a deploy would build on, and a mismatch only warns (the template may
	// be deployed elsewhere).
	archWarnings, archErr := deploy.CheckArchitectures(tmpl, deploy.LambdaArch(runtime.GOARCH))
	for _, w := range archWarnings {
		fmt.Fprintf(c.stderr, "warning: %s\n", w)
	}
	if archErr != nil {
		for _, line := range strings.Split(archErr.Error(), "\n") {
			fmt.Fprintf(c.stderr, "warning: %s (esb deploy refuses it on this machine)\n", line)
		}
	}
	cfg, err := configgen.Generate(tmpl, configgen.Options{})
	if err != nil {
		return fmt.Errorf("generate config from %s: %w", path, err)
	}
	files, err := runtimeconfig.Marshal(cfg)
	if err != nil {
		return err
	}
	named := []struct {
		name string
		data []byte
	}{
		{runtimeconfig.FunctionsFileName, files.Functions},
		{runtimeconfig.RoutingFileName, files.Routing},
		{runtimeconfig.ResourcesFileName, files.Resources},
	}
	if opts.output == "" {
		for i, f := range named {
			if i > 0 {
				fmt.Fprintln(c.stdout, "---")
			}
			fmt.Fprintf(c.stdout, "# %s\n%s", f.name, f.data)
		}
	} else {
		if err := os.MkdirAll(opts.output, 0o755); err != nil {
			return fmt.Errorf("create output directory: %w", err)
		}
		for _, f := range named {
			if err := os.WriteFile(filepath.Join(opts.output, f.name), f.data, 0o644); err != nil {
				return fmt.Errorf("write %s: %w", f.name, err)
			}
		}
	}
	res := cfg.Resources.Resources
	fmt.Fprintf(c.stderr, "%s is valid: %s, %s, %s, %s, %s", path,
		plural(len(cfg.Functions.Functions), "function"), plural(len(cfg.Routing.Routes), "route"),
		plural(len(res.DynamoDB), "table"), plural(len(res.S3), "bucket"), plural(len(res.Layers), "layer"))
	if len(res.SQS)+len(res.SNS) > 0 {
		fmt.Fprintf(c.stderr, ", %s, %s", plural(len(res.SQS), "queue"), plural(len(res.SNS), "topic"))
	}
	if opts.output != "" {
		fmt.Fprintf(c.stderr, " (written to %s)", opts.output)
	}
	fmt.Fprintln(c.stderr)
	return nil
}

// bindRuntimeAliases adds --runtime-alias, shared by deploy and validate so
// both read a template the same way.
func bindRuntimeAliases(fs *pflag.FlagSet, into *[]string) {
	fs.StringArrayVar(into, "runtime-alias", nil, "run functions of runtime FROM on the supported runtime TO, with a warning: FROM=TO, e.g. python3.12=python3.13 (repeatable; adds to $"+runtimecatalog.AliasEnv+")")
}

// runtimeAliases are $ESB_RUNTIME_ALIAS, then the flags (which win for the
// same runtime).
func runtimeAliases(c *cli, flags []string) (runtimecatalog.Aliases, error) {
	return runtimecatalog.ParseAliases(append([]string{c.getenv(runtimecatalog.AliasEnv)}, flags...)...)
}

// bindMavenMirror adds --maven-mirror, shared by deploy and validate.
func bindMavenMirror(fs *pflag.FlagSet, c *cli, into *string) {
	fs.StringVar(into, "maven-mirror", c.getenv("ESB_MAVEN_MIRROR"), "Maven repository `URL` that Maven and Gradle builds of Java functions fetch from ($ESB_MAVEN_MIRROR); without one such functions are refused")
}

// findTemplate returns the template to read: the one named, else the SAM
// CLI's default names in the current directory.
func findTemplate(name string) (string, error) {
	if name != "" {
		return name, nil
	}
	for _, candidate := range []string{"template.yaml", "template.yml"} {
		if _, err := os.Stat(candidate); err == nil {
			return candidate, nil
		}
	}
	return "", usageError{errors.New("no template.yaml or template.yml in the current directory (pass -t)")}
}

// templateError puts each positioned problem on its own line, after a count,
// so editors and CI annotators can pick them up.
func templateError(path string, err error) error {
	var many interface{ Unwrap() []error }
	n := 1
	if errors.As(err, &many) {
		n = len(many.Unwrap())
	}
	var positioned *sam.Error
	if n == 1 && !errors.As(err, &positioned) {
		return err // not a template problem (unreadable file...)
	}
	return fmt.Errorf("%s has %s:\n%w", path, plural(n, "error"), err)
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

// parseParameterOverrides accepts the forms `sam deploy` users type:
// repeated K=V flags, several pairs in one quoted flag ("K1=V1 K2=V2", a
// value with spaces quoted inside it) and CloudFormation's
// ParameterKey=K,ParameterValue=V.
func parseParameterOverrides(values []string) (map[string]string, error) {
	out := map[string]string{}
	for _, v := range values {
		tokens, err := splitOverrides(v)
		if err != nil {
			return nil, err
		}
		for _, tok := range tokens {
			var key, val string
			if rest, ok := strings.CutPrefix(tok, "ParameterKey="); ok {
				if key, val, ok = strings.Cut(rest, ",ParameterValue="); !ok {
					return nil, fmt.Errorf("parameter override %q: want ParameterKey=KEY,ParameterValue=VALUE", tok)
				}
			} else {
				var found bool
				if key, val, found = strings.Cut(tok, "="); !found {
					return nil, fmt.Errorf("parameter override %q: want KEY=VALUE", tok)
				}
			}
			if key == "" {
				return nil, fmt.Errorf("parameter override %q: the parameter name is empty", tok)
			}
			out[key] = val
		}
	}
	return out, nil
}

// splitOverrides splits s at unquoted white space and removes the quotes.
func splitOverrides(s string) ([]string, error) {
	var tokens []string
	var cur strings.Builder
	inToken := false
	var quote rune
	for _, r := range s {
		switch {
		case quote != 0:
			if r == quote {
				quote = 0
			} else {
				cur.WriteRune(r)
			}
		case r == '"' || r == '\'':
			quote, inToken = r, true
		case r == ' ' || r == '\t' || r == '\n':
			if inToken {
				tokens = append(tokens, cur.String())
				cur.Reset()
				inToken = false
			}
		default:
			cur.WriteRune(r)
			inToken = true
		}
	}
	if quote != 0 {
		return nil, fmt.Errorf("parameter overrides %q: unterminated %c quote", s, quote)
	}
	if inToken {
		tokens = append(tokens, cur.String())
	}
	return tokens, nil
}
