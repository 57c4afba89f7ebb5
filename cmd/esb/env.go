package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/esb-dev/esb/internal/registryauth"
)

type envCmdOptions struct {
	envOptions
	format string
}

func envCommand() command {
	const summary = "Print an env's variables (CONFIG_DIR, project name, ports) for compose; make its registry credential the first time"
	return command{
		name:    "env",
		summary: summary,
		run: func(ctx context.Context, c *cli, args []string) error {
			var opts envCmdOptions
			fs := newFlagSet(c, "env", "[-e ENV] [--format shell|json]",
				summary+".\nUse it before compose: eval \"$(esb env -e dev)\" && docker compose up -d --wait")
			opts.bind(fs, c)
			fs.StringVar(&opts.format, "format", "shell", "output format: shell (export lines) or json")
			if err := parseFlags(fs, args); err != nil {
				return err
			}
			return runEnv(c, opts)
		},
	}
}

func runEnv(c *cli, opts envCmdOptions) error {
	l, err := opts.layout(c)
	if err != nil {
		return err
	}
	// Every `up` starts here: the env's registry credential is made the
	// first time, and kept after (the registry and the agent mount it).
	if err := c.ensureRegistryAuth(registryauth.Dir(l.ConfigDir)); err != nil {
		return err
	}
	vars := l.Vars()
	switch opts.format {
	case "shell":
		for _, v := range vars {
			fmt.Fprintf(c.stdout, "export %s=%s\n", v.Name, shellQuote(v.Value))
		}
		return nil
	case "json":
		m := make(map[string]string, len(vars))
		for _, v := range vars {
			m[v.Name] = v.Value
		}
		enc := json.NewEncoder(c.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(m)
	default:
		return usageError{fmt.Errorf("--format %q: want shell or json", opts.format)}
	}
}

// shellQuote quotes s for POSIX shells unless it is plainly safe.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./:@%+=,") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
