package main

import (
	"fmt"
	"os"

	"github.com/spf13/pflag"

	"github.com/esb-dev/esb/internal/compose"
	"github.com/esb-dev/esb/internal/deploy"
	"github.com/esb-dev/esb/internal/platform"
)

// switchOptions are the flags of the commands that make a config set
// current without building one (rollback, restore): the env, its mode,
// the checkout whose compose files run the provisioner, the history bound.
type switchOptions struct {
	envOptions
	mode        string
	projectDir  string
	historyKeep int
	verbose     bool
}

func (o *switchOptions) bind(fs *pflag.FlagSet, c *cli) {
	o.envOptions.bind(fs, c)
	fs.StringVarP(&o.mode, "mode", "m", compose.ModeDocker, "function runtime of the env: docker, containerd or kubernetes")
	fs.StringVar(&o.projectDir, "project-dir", c.getenv("ESB_PROJECT_DIR"), "ESB checkout holding compose/ (default: found above the current directory; $ESB_PROJECT_DIR)")
	bindHistoryKeep(fs, c, &o.historyKeep)
	fs.BoolVarP(&o.verbose, "verbose", "v", false, "stream the provisioner's output")
}

// steps resolves the env and connects to its platform; the caller calls
// closeFn when done.
func (o *switchOptions) steps(c *cli) (l platform.Layout, steps deploy.PlatformSteps, closeFn func(), err error) {
	if err := compose.CheckMode(o.mode); err != nil {
		return l, steps, nil, usageError{err}
	}
	if err := checkHistoryKeep(o.historyKeep); err != nil {
		return l, steps, nil, err
	}
	if l, err = o.layout(c); err != nil {
		return l, steps, nil, err
	}
	projectDir, err := compose.FindDir(o.projectDir, c.workdir)
	if err != nil {
		return l, steps, nil, err
	}
	reg, err := envRegistry(c, l)
	if err != nil {
		return l, steps, nil, err
	}
	docker, err := newDockerClient()
	if err != nil {
		return l, steps, nil, fmt.Errorf("connect to Docker, which runs the provisioner: %w", err)
	}
	steps = deploy.PlatformSteps{
		Registry: reg,
		Docker:   docker,
		Project:  compose.Project{Dir: projectDir, Mode: o.mode, Layout: l, Environ: os.Environ()},
	}
	if o.verbose {
		steps.Verbose = c.stderr
	}
	return l, steps, func() { _ = docker.Close() }, nil
}
