package main

import (
	"fmt"
	"strconv"

	"github.com/spf13/pflag"

	"github.com/esb-dev/esb/internal/compose"
	"github.com/esb-dev/esb/internal/platform"
	"github.com/esb-dev/esb/internal/registry"
	"github.com/esb-dev/esb/internal/registryauth"
)

// envOptions selects an env; every command that talks to a platform env
// embeds it so -e/--env, --brand and --port-offset mean the same everywhere.
type envOptions struct {
	env        string
	brand      string
	portOffset int
}

func (o *envOptions) bind(fs *pflag.FlagSet, c *cli) {
	env := c.getenv("ESB_ENV")
	if env == "" {
		env = "dev"
	}
	brand := c.getenv("ESB_BRAND")
	if brand == "" {
		brand = platform.DefaultBrand
	}
	offset, _ := strconv.Atoi(c.getenv("ESB_PORT_OFFSET"))
	fs.StringVarP(&o.env, "env", "e", env, "environment name (default from $ESB_ENV)")
	fs.StringVar(&o.brand, "brand", brand, "brand prefix of projects, images and cache dirs ($ESB_BRAND)")
	fs.IntVar(&o.portOffset, "port-offset", offset, "shift the env's host port block; parallel envs use steps of 100 ($ESB_PORT_OFFSET)")
}

// layout resolves the selected env against the process environment.
func (o *envOptions) layout(c *cli) (platform.Layout, error) {
	e, err := platform.New(o.brand, o.env)
	if err != nil {
		return platform.Layout{}, usageError{err}
	}
	if o.portOffset%100 != 0 {
		return platform.Layout{}, usageError{fmt.Errorf("--port-offset %d: use a multiple of 100", o.portOffset)}
	}
	bind := map[string]string{}
	for _, v := range platform.BindVars() {
		bind[v] = c.getenv(v)
	}
	l, err := platform.Resolve(e, platform.LayoutOptions{
		Dirs:       platform.Dirs{XDGCacheHome: c.getenv("XDG_CACHE_HOME"), Home: c.getenv("HOME")},
		PortOffset: o.portOffset,
		Bind:       bind,
	})
	if err != nil {
		return l, err
	}
	l.OperatorCert = c.getenv("ESB_TLS_CERT_FILE") != ""
	if c.uid >= 0 && c.gid >= 0 {
		l.UID, l.GID = strconv.Itoa(c.uid), strconv.Itoa(c.gid)
	}
	// Inside an ESB checkout, ESB's own images are tagged by their sources,
	// so compose builds them again exactly when they changed; a site
	// installed from a platform bundle names the tag it loaded.
	if dir, err := compose.FindDir(c.getenv("ESB_PROJECT_DIR"), c.workdir); err == nil {
		if l.ImageTag, err = compose.ImageTag(dir); err != nil {
			return l, err
		}
	}
	return l, nil
}

// envRegistry is the client of the env's registry as the host reaches it:
// $HOST_REGISTRY_ADDR, else the env's published port, with the env's
// credential.
func envRegistry(c *cli, l platform.Layout) (registry.Client, error) {
	addr := c.getenv("HOST_REGISTRY_ADDR")
	if addr == "" {
		addr = l.RegistryAddr()
	}
	cred, err := registryauth.Load(registryauth.Dir(l.ConfigDir))
	if err != nil {
		return registry.Client{}, err
	}
	return registry.Client{Addr: addr, Auth: cred, Ledger: registry.EnvLedger(l.ConfigDir)}, nil
}
