package main

import (
	"context"
	"fmt"
)

// bundleCommand is `esb bundle <kind>`: offline bundles for air-gapped
// sites. This branch carries the platform bundle only; the application
// bundle (export/import) joins the same dispatch.
func bundleCommand() command {
	const summary = "Offline bundles for air-gapped sites (platform: ESB's own images and site files)"
	return command{
		name:    "bundle",
		summary: summary,
		run: func(ctx context.Context, c *cli, args []string) error {
			if len(args) == 0 || args[0] == "-h" || args[0] == "--help" {
				fmt.Fprintf(c.stdout, "Usage: esb bundle <command> ...\n\n%s.\n\nCommands:\n"+
					"  platform   export ESB's own images, the esb binary and the site files; verify or install such a bundle\n"+
					"\nRun 'esb bundle <command> --help' for its flags.\n", summary)
				if len(args) == 0 {
					return usageError{fmt.Errorf("missing command")}
				}
				return nil
			}
			switch args[0] {
			case "platform":
				return runBundlePlatform(ctx, c, args[1:])
			default:
				return usageError{fmt.Errorf("unknown command %q", args[0])}
			}
		},
	}
}
