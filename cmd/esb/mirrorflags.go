package main

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/spf13/pflag"

	"github.com/esb-dev/esb/pipeline"
)

// mirrorOptions are where a deploy's pip and npm installs fetch packages
// from, shared by deploy and validate.
type mirrorOptions struct {
	pipIndex  string
	pipExtra  []string
	wheelDir  string
	npmRegist string
}

// bindMirrors adds the package mirror flags. Each defaults to its ESB_
// variable, else the variable pip or npm itself reads, so a shell (or CI
// job) set up for one env carries that env's mirrors.
func bindMirrors(fs *pflag.FlagSet, c *cli, into *mirrorOptions) {
	fs.StringVar(&into.pipIndex, "pip-index-url", firstEnv(c, "ESB_PIP_INDEX_URL", "PIP_INDEX_URL"),
		"Python package index `URL` pip installs requirements.txt from instead of PyPI ($ESB_PIP_INDEX_URL, else $PIP_INDEX_URL)")
	fs.StringArrayVar(&into.pipExtra, "pip-extra-index-url", strings.Fields(firstEnv(c, "ESB_PIP_EXTRA_INDEX_URL", "PIP_EXTRA_INDEX_URL")),
		"further Python package index `URL` (repeatable; $ESB_PIP_EXTRA_INDEX_URL, else $PIP_EXTRA_INDEX_URL, space-separated)")
	fs.StringVar(&into.wheelDir, "wheel-dir", c.getenv("ESB_WHEEL_DIR"),
		"host `DIR` of wheels pip installs from (--find-links); without an index URL pip uses it alone (--no-index) ($ESB_WHEEL_DIR)")
	fs.StringVar(&into.npmRegist, "npm-registry", firstEnv(c, "ESB_NPM_REGISTRY", "NPM_CONFIG_REGISTRY", "npm_config_registry"),
		"npm registry `URL` npm installs package.json from ($ESB_NPM_REGISTRY, else $NPM_CONFIG_REGISTRY)")
}

// mirrors are the settings as the pipeline takes them; a relative wheel
// directory is taken from the current directory.
func (o mirrorOptions) mirrors() (pipeline.Mirrors, error) {
	m := pipeline.Mirrors{PipIndexURL: o.pipIndex, PipExtraIndexURLs: o.pipExtra, NPMRegistry: o.npmRegist}
	if o.wheelDir != "" {
		dir, err := filepath.Abs(o.wheelDir)
		if err != nil {
			return m, fmt.Errorf("--wheel-dir %s: %w", o.wheelDir, err)
		}
		m.WheelDir = dir
	}
	return m, nil
}

// firstEnv is the first of the variables that is set.
func firstEnv(c *cli, keys ...string) string {
	for _, k := range keys {
		if v := c.getenv(k); v != "" {
			return v
		}
	}
	return ""
}

// printInstalls says where each function's dependency install takes its
// packages from; manifests are named relative to the template's
// directory.
func printInstalls(c *cli, templateDir string, installs []pipeline.Install) {
	if abs, err := filepath.Abs(templateDir); err == nil {
		templateDir = abs
	}
	for _, in := range installs {
		manifest := in.Manifest
		if rel, err := filepath.Rel(templateDir, manifest); err == nil && !strings.HasPrefix(rel, "..") {
			manifest = rel
		}
		fmt.Fprintf(c.stderr, "dependencies: %s installs %s from %s\n", in.Function, manifest, in.From)
	}
}
