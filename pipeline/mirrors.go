package pipeline

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"dagger.io/dagger"

	"github.com/esb-dev/esb/internal/runtimecatalog"
	"github.com/esb-dev/esb/internal/sam"
)

// Mirrors are where dependency installs fetch packages from: a site
// without PyPI or the public npm registry points them at its own mirrors,
// or at a directory of wheels it carried in.
type Mirrors struct {
	// PipIndexURL replaces PyPI as pip's index (pip's --index-url).
	PipIndexURL string
	// PipExtraIndexURLs are further indexes pip searches
	// (--extra-index-url).
	PipExtraIndexURLs []string
	// WheelDir is a host directory of wheels (and sdists) pip installs
	// from (--find-links). Without PipIndexURL pip uses it alone
	// (--no-index): a site with no index never waits on one.
	WheelDir string
	// NPMRegistry replaces the npm registry (npm's --registry).
	NPMRegistry string
}

// wheelMount is where the wheel directory is mounted for pip, beside the
// image's content rather than in it.
const wheelMount = "/tmp/esb-wheels"

// Check refuses settings a build would only fail on later: an index
// that is not an http(s) URL, a wheel directory that is not one.
func (m Mirrors) Check() error {
	var errs []error
	for _, u := range append([]string{m.PipIndexURL, m.NPMRegistry}, m.PipExtraIndexURLs...) {
		if u == "" {
			continue
		}
		p, err := url.Parse(u)
		if err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
			errs = append(errs, fmt.Errorf("package index %q: want an http:// or https:// URL", u))
		}
	}
	if m.WheelDir != "" {
		if !filepath.IsAbs(m.WheelDir) {
			errs = append(errs, fmt.Errorf("wheel directory %s: want an absolute path", m.WheelDir))
		} else if st, err := os.Stat(m.WheelDir); err != nil || !st.IsDir() {
			errs = append(errs, fmt.Errorf("wheel directory %s: not a directory", m.WheelDir))
		}
	}
	return errors.Join(errs...)
}

// PipSource says where pip installs from, for people.
func (m Mirrors) PipSource() string {
	var parts []string
	switch {
	case m.PipIndexURL != "":
		parts = append(parts, "index "+redact(m.PipIndexURL))
	case m.WheelDir != "":
		parts = append(parts, "wheel directory "+m.WheelDir+" (no index)")
	default:
		parts = append(parts, "PyPI (pip's default index)")
	}
	if m.PipIndexURL != "" || m.WheelDir == "" {
		for _, u := range m.PipExtraIndexURLs {
			parts = append(parts, "extra index "+redact(u))
		}
	}
	if m.PipIndexURL != "" && m.WheelDir != "" {
		parts = append(parts, "wheel directory "+m.WheelDir)
	}
	return strings.Join(parts, ", ")
}

// NPMSource says where npm installs from, for people.
func (m Mirrors) NPMSource() string {
	if m.NPMRegistry != "" {
		return "registry " + redact(m.NPMRegistry)
	}
	return "the npm registry (npm's default, https://registry.npmjs.org/)"
}

// pipArgs are pip install's index options.
func (m Mirrors) pipArgs() []string {
	var args []string
	if m.PipIndexURL != "" {
		args = append(args, "--index-url", m.PipIndexURL)
	} else if m.WheelDir != "" {
		args = append(args, "--no-index")
	}
	if m.PipIndexURL != "" || m.WheelDir == "" {
		for _, u := range m.PipExtraIndexURLs {
			args = append(args, "--extra-index-url", u)
		}
	}
	if m.WheelDir != "" {
		args = append(args, "--find-links", wheelMount)
	}
	return args
}

// npmArgs are npm install's registry options.
func (m Mirrors) npmArgs() []string {
	if m.NPMRegistry == "" {
		return nil
	}
	return []string{"--registry", m.NPMRegistry}
}

// redact hides a URL's password: index URLs often carry credentials.
func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.User == nil {
		return raw
	}
	return u.Redacted()
}

// Install is one dependency install a deploy runs: the manifest of a
// function (or of one of its layers) and where its packages come from.
type Install struct {
	Function string
	Manifest string // requirements.txt or package.json, as the template's directory has it
	From     string // Mirrors.PipSource or NPMSource
}

// Installs lists the pip and npm installs the template's functions run,
// in template order.
func Installs(t *sam.Template, m Mirrors) []Install {
	var out []Install
	for _, f := range t.Functions {
		out = append(out, m.installs(f)...)
	}
	return out
}

// installs are the pip and npm installs of one function: its layers',
// then its own.
func (m Mirrors) installs(f sam.Function) []Install {
	if f.PackageType == sam.PackageImage {
		return nil
	}
	rt, ok := runtimecatalog.Lookup(f.Runtime)
	if !ok {
		return nil
	}
	var manifest, from string
	switch rt.Family {
	case runtimecatalog.FamilyPython:
		manifest, from = "requirements.txt", m.PipSource()
	case runtimecatalog.FamilyNodejs:
		manifest, from = "package.json", m.NPMSource()
	default:
		return nil
	}
	var dirs []string
	for _, l := range f.Layers {
		dirs = append(dirs, l.ContentDir)
	}
	if f.CodeDir != "" {
		dirs = append(dirs, f.CodeDir)
	}
	var out []Install
	for _, dir := range dirs {
		if p := filepath.Join(dir, manifest); fileExists(p) {
			out = append(out, Install{Function: f.Name, Manifest: p, From: from})
		}
	}
	return out
}

// InstallError is a failed pip or npm install, said in one line: the
// packages that could not be installed and where they were looked for.
// Output keeps the installer's own output for --verbose.
type InstallError struct {
	Tool     string   // pip or npm
	Manifest string   // path inside the image
	Packages []string // what the installer could not find; empty when its output does not say
	From     string   // Mirrors.PipSource or NPMSource
	Reason   string   // what else the output tells, e.g. the index did not answer
	Output   string   // the installer's stdout and stderr
}

func (e *InstallError) Error() string {
	what := "its dependencies"
	if len(e.Packages) > 0 {
		what = strings.Join(e.Packages, ", ")
	}
	msg := fmt.Sprintf("%s install of %s failed: could not install %s from %s", e.Tool, e.Manifest, what, e.From)
	if e.Reason != "" {
		msg += " (" + e.Reason + ")"
	}
	return msg + "; --verbose shows " + e.Tool + "'s output"
}

var (
	pipMissing = []*regexp.Regexp{
		regexp.MustCompile(`No matching distribution found for (\S+)`),
		regexp.MustCompile(`Could not find a version that satisfies the requirement (\S+)`),
	}
	npmMissing = []*regexp.Regexp{
		regexp.MustCompile(`'([^'\s]+)' is not in (?:this|the npm) registry`),
		regexp.MustCompile(`No matching version found for (\S+?)\.?(?:\s|$)`),
		regexp.MustCompile(`404 Not Found - GET \S+/((?:@|%40)[^/\s]+(?:/|%2[fF])[^/\s]+|[^/@\s%]+)(?:\s|$)`),
	}
	unreachable = regexp.MustCompile(`(?i)Failed to establish a new connection|Max retries exceeded|ENOTFOUND|ECONNREFUSED|ETIMEDOUT|EAI_AGAIN|Name or service not known|Connection refused|network is unreachable`)
)

// installError turns an engine error of a pip or npm install the
// pipeline ran into an InstallError; false for any other error.
func (m Mirrors) installError(err error) (*InstallError, bool) {
	var exec *dagger.ExecError
	if !errors.As(err, &exec) || len(exec.Cmd) < 2 {
		return nil, false
	}
	var tool, from, manifest string
	var patterns []*regexp.Regexp
	switch {
	case len(exec.Cmd) > 3 && slices.Equal(exec.Cmd[:4], []string{"python3", "-m", "pip", "install"}):
		tool, from, patterns = "pip", m.PipSource(), pipMissing
		if i := slices.Index(exec.Cmd, "-r"); i >= 0 && i+1 < len(exec.Cmd) {
			manifest = exec.Cmd[i+1]
		}
	case exec.Cmd[0] == "npm" && exec.Cmd[1] == "install":
		tool, from, patterns, manifest = "npm", m.NPMSource(), npmMissing, "package.json"
	default:
		return nil, false
	}
	output := strings.TrimSpace(exec.Stdout + "\n" + exec.Stderr)
	ie := &InstallError{Tool: tool, Manifest: manifest, From: from, Output: output}
	for _, re := range patterns {
		for _, match := range re.FindAllStringSubmatch(output, -1) {
			pkg, _ := url.PathUnescape(match[1])
			if !slices.Contains(ie.Packages, pkg) {
				ie.Packages = append(ie.Packages, pkg)
			}
		}
	}
	if unreachable.MatchString(output) {
		ie.Reason = "the index did not answer"
	}
	return ie, true
}

// describeInstalls is the progress line's note of where a function's
// dependencies come from.
func describeInstalls(installs []Install) string {
	var b strings.Builder
	for _, in := range installs {
		fmt.Fprintf(&b, "; %s from %s", filepath.Base(in.Manifest), in.From)
	}
	return b.String()
}
