package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/docker/docker/client"

	"github.com/esb-dev/esb/internal/compose"
	"github.com/esb-dev/esb/internal/platform"
)

func statusCommand() command {
	const summary = "Show which platform services of an env run and are healthy"
	return command{
		name:    "status",
		summary: summary,
		run: func(ctx context.Context, c *cli, args []string) error {
			var opts envOptions
			fs := newFlagSet(c, "status", "[-e ENV]", summary+".\nExits 1 unless every service runs and passes its healthcheck.")
			opts.bind(fs, c)
			if err := parseFlags(fs, args); err != nil {
				return err
			}
			l, err := opts.layout(c)
			if err != nil {
				return err
			}
			docker, err := newDockerClient()
			if err != nil {
				return err
			}
			defer docker.Close()
			return runStatus(ctx, c, l, dockerContainers{docker})
		},
	}
}

// containerLister reports the containers of a compose project.
type containerLister interface {
	ProjectContainers(ctx context.Context, project string) ([]platform.ContainerState, error)
}

func runStatus(ctx context.Context, c *cli, l platform.Layout, lister containerLister) error {
	observed, err := lister.ProjectContainers(ctx, l.Env.Project())
	if err != nil {
		return err
	}
	rows := platform.Status(platform.Expected(observed), observed)
	fmt.Fprintf(c.stdout, "env %s (project %s, CONFIG_DIR %s)\n", l.Env.Key(), l.Env.Project(), l.ConfigDir)
	tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SERVICE\tSTATE\tHEALTH\tROLE")
	var bad []string
	for _, r := range rows {
		health := r.Health
		if health == "" {
			health = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", r.Name, r.State, health, r.Role)
		if r.Role != "" && !r.OK() {
			bad = append(bad, r.Name)
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(bad) > 0 {
		return errors.New("not running or not healthy: " + strings.Join(bad, ", "))
	}
	return nil
}

// dockerContainers lists a project's containers through the Docker API.
type dockerContainers struct{ api client.APIClient }

func (d dockerContainers) ProjectContainers(ctx context.Context, project string) ([]platform.ContainerState, error) {
	return compose.Containers(ctx, d.api, project)
}
