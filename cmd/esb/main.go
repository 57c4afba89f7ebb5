// Command esb deploys AWS SAM applications onto a local ESB platform.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"

	"github.com/docker/docker/client"

	"github.com/esb-dev/esb/internal/registryauth/provision"
	"github.com/spf13/pflag"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	wd, _ := os.Getwd()
	c := &cli{stdout: os.Stdout, stderr: os.Stderr, lookupEnv: os.LookupEnv, workdir: wd, uid: os.Getuid(), gid: os.Getgid(),
		ensureRegistryAuth: func(dir string) error { _, err := provision.Ensure(dir); return err }}
	code := run(ctx, c, os.Args[1:])
	stop()
	os.Exit(code)
}

// cli is what every command gets from the process: its streams and its
// environment. Tests build one with buffers and a fake environment.
type cli struct {
	stdout, stderr io.Writer
	lookupEnv      func(string) (string, bool)
	workdir        string
	uid, gid       int // -1 where the platform has none
	// ensureRegistryAuth makes an env's registry credential in a directory
	// the first time (provision.Ensure); tests record the call instead.
	ensureRegistryAuth func(dir string) error
}

func (c *cli) getenv(key string) string {
	v, _ := c.lookupEnv(key)
	return v
}

// command is one `esb <name>` subcommand.
type command struct {
	name    string
	summary string
	// run parses args with its own flag set and does the work.
	run func(ctx context.Context, c *cli, args []string) error
}

func commands() []command {
	cmds := []command{
		versionCommand(),
		bundleCommand(),
		validateCommand(),
		envCommand(),
		statusCommand(),
		deployCommand(),
		pruneCommand(),
		historyCommand(),
		rollbackCommand(),
		backupCommand(),
		restoreCommand(),
		bundleCommand(),
		lsCommand(),
		invokeCommand(),
		logsCommand(),
	}
	sort.Slice(cmds, func(i, j int) bool { return cmds[i].name < cmds[j].name })
	return cmds
}

// usageError marks a bad invocation: exit code 2, like flag parsing errors.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func run(ctx context.Context, c *cli, args []string) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		printUsage(c.stdout)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	if args[0] == "--version" {
		args = []string{"version"}
	}
	for _, cmd := range commands() {
		if cmd.name != args[0] {
			continue
		}
		err := cmd.run(ctx, c, args[1:])
		switch {
		case err == nil:
			return 0
		case errors.Is(err, pflag.ErrHelp):
			return 0
		default:
			fmt.Fprintf(c.stderr, "esb %s: %v\n", cmd.name, err)
			var ue usageError
			if errors.As(err, &ue) {
				fmt.Fprintf(c.stderr, "Run 'esb %s --help' for usage.\n", cmd.name)
				return 2
			}
			return 1
		}
	}
	fmt.Fprintf(c.stderr, "esb: unknown command %q\n\n", args[0])
	printUsage(c.stderr)
	return 2
}

func printUsage(w io.Writer) {
	fmt.Fprint(w, "esb runs AWS SAM applications on a local ESB platform.\n\nUsage:\n  esb <command> [flags]\n\nCommands:\n")
	for _, cmd := range commands() {
		fmt.Fprintf(w, "  %-10s %s\n", cmd.name, cmd.summary)
	}
	fmt.Fprint(w, "\nRun 'esb <command> --help' for the flags of a command.\n")
}

// newFlagSet returns a flag set whose --help prints a usage line, the
// command summary and its flags to the command's stdout.
func newFlagSet(c *cli, name, usage, summary string) *pflag.FlagSet {
	fs := pflag.NewFlagSet("esb "+name, pflag.ContinueOnError)
	fs.SetOutput(c.stderr)
	fs.SortFlags = false
	fs.Usage = func() {
		fmt.Fprintf(c.stdout, "Usage: esb %s %s\n\n%s\n\nFlags:\n%s", name, usage, summary, fs.FlagUsages())
	}
	return fs
}

// parseFlags parses the args of a command that takes no positional
// arguments, turning flag errors into usage errors.
func parseFlags(fs *pflag.FlagSet, args []string) error {
	_, err := parseArgs(fs, args, 0, 0)
	return err
}

// parseArgs parses args and returns between min and max positional
// arguments, named by names in errors.
func parseArgs(fs *pflag.FlagSet, args []string, min, max int, names ...string) ([]string, error) {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return nil, err
		}
		return nil, usageError{err}
	}
	pos := fs.Args()
	switch {
	case len(pos) < min:
		return nil, usageError{fmt.Errorf("missing %s", strings.Join(names[len(pos):min], " "))}
	case len(pos) > max:
		return nil, usageError{fmt.Errorf("unexpected argument %q", pos[max])}
	}
	return pos, nil
}

// newDockerClient connects to the Docker engine the environment names
// (DOCKER_HOST and the like), at the API version that engine speaks.
func newDockerClient() (*client.Client, error) {
	docker, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		return nil, fmt.Errorf("docker client: %w", err)
	}
	return docker, nil
}
