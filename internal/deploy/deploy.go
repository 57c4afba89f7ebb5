// Package deploy is `esb deploy` as a library: parse a SAM template,
// generate its runtime config, wait for the env's registry, build and
// publish the function images on the Dagger engine, fold the exported
// config into CONFIG_DIR under the deploy lock, and provision the
// template's tables and buckets. A failed deploy leaves CONFIG_DIR as it
// was.
package deploy

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/esb-dev/esb/internal/agentapi"
	"github.com/esb-dev/esb/internal/compose"
	"github.com/esb-dev/esb/internal/configgen"
	"github.com/esb-dev/esb/internal/confighistory"
	"github.com/esb-dev/esb/internal/platform"
	"github.com/esb-dev/esb/internal/progress"
	"github.com/esb-dev/esb/internal/registry"
	"github.com/esb-dev/esb/internal/runtimecatalog"
	"github.com/esb-dev/esb/internal/runtimeconfig"
	"github.com/esb-dev/esb/internal/sam"
	"github.com/esb-dev/esb/pipeline"
)

// Registry readiness, as the contract fixes it.
const (
	RegistryInterval = time.Second
	RegistryTimeout  = 60 * time.Second
)

// Options describe one deploy. Paths are absolute.
type Options struct {
	Template           string
	ParameterOverrides map[string]string
	// RuntimeAliases run functions of one runtime on another
	// (sam.Options.RuntimeAliases).
	RuntimeAliases runtimecatalog.Aliases
	StackName      string // AWS::StackName; the compose project name
	ConfigDir      string
	Output         string // where the pipeline exports the generated files
	Registry       string // host:port the images are published to (the host's view)
	// PullRegistry is host:port of the same registry as the function
	// runtime reaches it, written into functions.yml; empty means
	// Registry. Containerd mode: registry:5000, the runtime node's view.
	PullRegistry   string
	Repository     string // "<brand>-<env>"
	Tag            string
	CacheNamespace string
	NoCache        bool
	Mode           string
	// GatewayPort is the gateway's port on the host, for the API URLs the
	// summary gives; 0 leaves the port out.
	GatewayPort int
	// GatewayHTTPS says GatewayPort is the gateway's HTTPS port (its plain
	// HTTP is turned off): the URLs start with https://.
	GatewayHTTPS bool
	// Budget is what the env's node gives functions, as its agent reports
	// it: warm containers past it are refused before anything is built.
	// Nil: unknown (no env running, or a bundle export), not checked.
	Budget *agentapi.Budget
	// MavenMirror is the Maven repository Maven and Gradle builds of Java
	// functions fetch from; without it such functions are refused before
	// anything is built.
	MavenMirror string
	// Mirrors are where pip and npm installs fetch packages from.
	Mirrors pipeline.Mirrors
	// HostArch is the architecture (Lambda's name: x86_64 or arm64) of the
	// engine that runs the functions; empty when unknown. Functions are
	// built for it, and a function declared for another is refused.
	HostArch string
	// Publishing, when set, is taken before the first push and released
	// once the config naming the pushed images is merged (or the deploy
	// failed): a registry garbage collection, which takes it exclusively,
	// then never sees a pushed image the config does not name yet.
	Publishing func(ctx context.Context) (release func() error, err error)
	// HistoryKeep is how many generations the env's history keeps
	// (confighistory.DefaultKeep when zero).
	HistoryKeep int
	Events      progress.Sink
}

// Steps are the side effects a deploy needs, so the workflow is tested
// without Docker or an engine.
type Steps interface {
	// WaitRegistry returns once the registry answers, or fails.
	WaitRegistry(ctx context.Context) error
	// PlatformWarnings names platform services that should run but do not.
	PlatformWarnings(ctx context.Context) []string
	// PrepareBases makes the images the build starts from resolvable by
	// the engine and says, per runtime, whether its base is built or taken
	// ready-made (BasePlan). The caller releases the plan once the deploy
	// is over.
	PrepareBases(ctx context.Context, needs BaseNeeds) (BasePlan, error)
	// KeepBases keeps the runtime bases the build published for the next
	// deploys (BasePlan.Publish); it returns what it did and warnings. A
	// failure only costs a later deploy a rebuild.
	KeepBases(ctx context.Context, published []pipeline.PublishedBase) (done string, warnings []string)
	// ImageExists reports whether the registry still has image@digest.
	ImageExists(ctx context.Context, image, digest string) (bool, error)
	// Build runs the pipeline.
	Build(ctx context.Context, req pipeline.Request) (pipeline.Result, error)
	// Provision creates the tables and buckets of the merged config and
	// returns a one-line summary.
	Provision(ctx context.Context) (string, error)
	// PullImages pulls image refs (repo@digest) into the function runtime
	// (containerd mode), so the first invocation after the deploy runs the
	// new code without a registry round trip; it returns what it did and
	// warnings.
	PullImages(ctx context.Context, refs []string) (done string, warnings []string, err error)
}

// Summary is what a successful deploy did.
type Summary struct {
	Functions []pipeline.Built
	Routes    map[string][]string // "GET /hello" by function
	APIs      []APIEndpoint       // the template's APIs, sorted by id
	URLs      []URLEndpoint       // the template's function URLs, sorted by function
	Warnings  []string
	ConfigDir string
	Written   []string // config files that changed
	// ConfigDigest identifies the config set now current (see
	// runtimeconfig.Config.Digest): the gateway reports the same digest
	// once it serves the set.
	ConfigDigest string
	// Generation is the history record of the config set the deploy made
	// current.
	Generation confighistory.Generation
	Duration   time.Duration
}

// Run deploys one template: Build, then Install what it built.
func Run(ctx context.Context, opts Options, steps Steps) (Summary, error) {
	start := time.Now()
	built, err := Build(ctx, opts, steps)
	defer built.Release()
	sum := Summary{Functions: built.Functions, Warnings: built.Warnings}
	if err != nil {
		return sum, err
	}
	inst, err := Install(ctx, InstallOptions{
		ConfigDir: opts.ConfigDir, Kind: confighistory.KindDeploy, Template: opts.Template, TemplateHash: built.TemplateHash,
		Pull: pullRefs(opts.Mode, built.Functions), HistoryKeep: opts.HistoryKeep, Events: opts.Events,
	}, built.Config, steps)
	sum.Warnings = append(sum.Warnings, inst.Warnings...)
	if err != nil {
		return sum, err
	}
	sum.Written, sum.Generation, sum.ConfigDigest = inst.Written, inst.Generation, inst.Digest
	sum.ConfigDir = opts.ConfigDir
	sum.Routes = routesByFunction(built.Config)
	sum.APIs = APIEndpoints(built.Config, opts.GatewayPort, opts.GatewayHTTPS)
	sum.URLs = URLEndpoints(built.Config, sam.DefaultRegion, opts.GatewayPort, opts.GatewayHTTPS)
	sum.Duration = time.Since(start)
	return sum, nil
}

// Built is what the build half of a deploy produced: the images in the
// env's registry and the config the pipeline exported, not merged yet.
type Built struct {
	Functions []pipeline.Built
	// Config is the exported config (Options.Output), as the pipeline
	// wrote it.
	Config       runtimeconfig.Config
	TemplateHash string // sha256 (hex) of the template's bytes
	Warnings     []string
	release      func() error
}

// Release ends the registry's publishing hold (Options.Publishing): call
// it once the config naming the images is merged or the images are read.
func (b Built) Release() {
	if b.release != nil {
		_ = b.release()
	}
}

// Build runs the build half of a deploy: parse the template, generate its
// config, wait for the registry, build and publish the function images on
// the Dagger engine, and load the config the pipeline exported. CONFIG_DIR
// is not touched (esb deploy installs the result, esb bundle export
// packs it). The caller calls Release on the result, even on an error.
func Build(ctx context.Context, opts Options, steps Steps) (Built, error) {
	ev := events{opts.Events}
	var sum Built

	ev.phase("parse", progress.Working, "parsing "+opts.Template)
	tmpl, err := sam.ParseFile(opts.Template, sam.Options{ParameterOverrides: opts.ParameterOverrides, StackName: opts.StackName, RuntimeAliases: opts.RuntimeAliases})
	if err != nil {
		ev.phase("parse", progress.Failed, "template has errors")
		return sum, err
	}
	for _, w := range tmpl.Warnings {
		sum.Warnings = append(sum.Warnings, w.String())
	}
	if sum.TemplateHash, err = FileHash(opts.Template); err != nil {
		ev.phase("parse", progress.Failed, "cannot read the template")
		return sum, err
	}
	if err := pipeline.CheckBuilds(tmpl, opts.MavenMirror); err != nil {
		ev.phase("parse", progress.Failed, "a function cannot be built here")
		return sum, err
	}
	if err := opts.Mirrors.Check(); err != nil {
		ev.phase("parse", progress.Failed, "a package mirror setting is wrong")
		return sum, err
	}
	archWarnings, err := CheckArchitectures(tmpl, opts.HostArch)
	sum.Warnings = append(sum.Warnings, archWarnings...)
	if err != nil {
		ev.phase("parse", progress.Failed, "a function is declared for another architecture")
		return sum, err
	}
	// functions.yml names images as the runtime pulls them; the engine
	// publishes the same repository and tag through the host's address.
	pullRegistry, publishRegistry := opts.Registry, ""
	if opts.PullRegistry != "" && opts.PullRegistry != opts.Registry {
		pullRegistry, publishRegistry = opts.PullRegistry, opts.Registry
	}
	generated, err := configgen.Generate(tmpl, configgen.Options{ImagePrefix: pullRegistry + "/" + opts.Repository, Tag: opts.Tag})
	if err != nil {
		ev.phase("parse", progress.Failed, "cannot generate config")
		return sum, err
	}
	previous, err := currentFunctions(opts.ConfigDir)
	if err != nil {
		ev.phase("parse", progress.Failed, "cannot read the env's config")
		return sum, err
	}
	if err := checkBudget(tmpl, opts.Budget, previous, generated); err != nil {
		ev.phase("parse", progress.Failed, "the warm containers do not fit the node's budget")
		return sum, err
	}
	ev.phase("parse", progress.Done, fmt.Sprintf("%d functions, %d routes, %d tables, %d buckets",
		len(tmpl.Functions), len(generated.Routing.Routes), len(generated.Resources.Resources.DynamoDB), len(generated.Resources.Resources.S3)))

	ev.phase("preflight", progress.Working, "waiting for registry "+opts.Registry)
	if err := steps.WaitRegistry(ctx); err != nil {
		ev.phase("preflight", progress.Failed, "registry not ready")
		return sum, err
	}
	warnings := steps.PlatformWarnings(ctx)
	sum.Warnings = append(sum.Warnings, warnings...)
	status := progress.Done
	if len(warnings) > 0 {
		status = progress.Warning
	}
	ev.phase("preflight", status, "registry ready"+joinPrefixed("; ", warnings))

	if opts.Publishing != nil {
		release, err := opts.Publishing(ctx)
		if err != nil {
			return sum, err
		}
		sum.release = release
	}

	// On an air-gapped site the engine resolves docker.io bases through the
	// env's registry; the first deploy of an env pushes them there.
	ev.phase("bases", progress.Working, "making runtime base images available to the engine")
	extra, err := imageBases(tmpl)
	if err != nil {
		ev.phase("bases", progress.Failed, "cannot read a Dockerfile")
		return sum, err
	}
	plan, err := steps.PrepareBases(ctx, BaseNeeds{Runtimes: zipRuntimes(tmpl), Extra: extra, NoCache: opts.NoCache})
	if err != nil {
		ev.phase("bases", progress.Failed, "cannot mirror base images")
		return sum, err
	}
	defer plan.release()
	sum.Warnings = append(sum.Warnings, plan.Warnings...)
	ev.phase("bases", progress.Done, plan.Done)

	ev.phase("build", progress.Working, fmt.Sprintf("building %d function images", len(tmpl.Functions)))
	res, err := steps.Build(ctx, pipeline.Request{
		Template:        tmpl,
		Config:          generated,
		PublishRegistry: publishRegistry,
		Previous:        previous,
		Exists:          steps.ImageExists,
		CacheNamespace:  opts.CacheNamespace,
		NoCache:         opts.NoCache,
		Output:          opts.Output,
		Events:          opts.Events,
		BaseImages:      plan.Images,
		PublishBases:    plan.Publish,
		BasePins:        plan.Pins,
		MavenMirror:     opts.MavenMirror,
		Mirrors:         opts.Mirrors,
		Architecture:    opts.HostArch,
	})
	if err != nil {
		ev.phase("build", progress.Failed, "pipeline failed")
		return sum, err
	}
	sum.Functions = res.Functions
	sum.Warnings = append(sum.Warnings, res.Warnings...)
	ev.phase("build", progress.Done, fmt.Sprintf("%d functions: %d built, %d unchanged", len(res.Functions), countBuilt(res.Functions), len(res.Functions)-countBuilt(res.Functions)))
	if len(res.Bases) > 0 {
		ev.phase("bases", progress.Working, "keeping the new runtime bases for the next deploys")
		done, warnings := steps.KeepBases(ctx, res.Bases)
		sum.Warnings = append(sum.Warnings, warnings...)
		status := progress.Done
		if len(warnings) > 0 {
			status = progress.Warning
		}
		ev.phase("bases", status, done)
	}
	// Other deploys of this machine waiting for these bases may go on.
	plan.release()

	// Merge what the pipeline exported, not what it was asked to build:
	// the files on the host are the contract.
	exported, err := runtimeconfig.Load(opts.Output)
	if err != nil {
		return sum, fmt.Errorf("exported config in %s: %w", opts.Output, err)
	}
	sum.Config = exported
	if resources := exported.Resources.Resources; len(resources.DynamoDB)+len(resources.S3)+len(resources.Layers) == 0 {
		sum.Warnings = append(sum.Warnings, "the template declares no tables, buckets or layers: resources.yml stays empty and the provisioner has nothing to do")
	}

	return sum, nil
}

// InstallOptions describe making a built config set current.
type InstallOptions struct {
	ConfigDir string
	// Kind, Template and TemplateHash go into the history generation.
	Kind         string
	Template     string
	TemplateHash string
	// Pull are the image refs (repo@digest) the runtime node pulls before
	// the switch completes (containerd mode; nil in docker mode).
	Pull        []string
	HistoryKeep int
	Events      progress.Sink
}

// Installed is what Install did.
type Installed struct {
	Written    []string // config files that changed
	Digest     string   // of the config set now current
	Generation confighistory.Generation
	Warnings   []string
}

// Install merges cfg into CONFIG_DIR with the usual rules under the deploy
// lock, in one atomic switch, and while still holding the lock pulls
// opts.Pull into the runtime node, provisions and records a history
// generation (activate). Any failure puts CONFIG_DIR back as it was.
func Install(ctx context.Context, opts InstallOptions, cfg runtimeconfig.Config, steps ActivateSteps) (Installed, error) {
	ev := events{opts.Events}
	var out Installed
	ev.phase("merge", progress.Working, "merging into "+opts.ConfigDir)
	var activateWarnings []string
	merged, err := runtimeconfig.MergeInto(ctx, opts.ConfigDir, cfg, runtimeconfig.MergeOptions{
		AfterWrite: func(ctx context.Context, written runtimeconfig.Result) error {
			gen, warnings, err := activate(ctx, ev, steps, opts.Pull,
				confighistory.Store{ConfigDir: opts.ConfigDir, Keep: opts.HistoryKeep},
				confighistory.Entry{
					Kind: opts.Kind, Template: opts.Template, TemplateHash: opts.TemplateHash,
					Config: written.Config, Previous: written.Previous,
				})
			out.Generation, activateWarnings = gen, warnings
			return err
		},
	})
	if err != nil {
		ev.phase("merge", progress.Failed, "CONFIG_DIR unchanged")
		return out, err
	}
	out.Warnings = append(out.Warnings, merged.Warnings...)
	out.Warnings = append(out.Warnings, activateWarnings...)
	out.Written, out.Digest = merged.Written, merged.Digest
	ev.phase("merge", progress.Done, fmt.Sprintf("%d of 3 files changed", len(merged.Written)))
	return out, nil
}

// PullRegistry is the registry address written into functions.yml for a
// mode (Options.PullRegistry): in containerd mode the runtime node pulls by
// the registry's service name on the platform network, and in kubernetes
// mode the agent, also on that network, names the same images for the
// nodes by their address (KUBE_REGISTRY); docker mode pulls through the
// address the engine publishes to.
func PullRegistry(mode string) string {
	if PullsImages(mode) {
		return platform.RuntimeRegistryAddr
	}
	return ""
}

// PullsImages tells whether a deploy into an env of this mode makes the
// changed images ready for the function runtime before it reports success:
// pulled into runtime-node in containerd mode, found in the registry the
// nodes pull from in kubernetes mode. Docker mode pulls nothing: its agent pulls at the first cold start,
// from the registry on the same host.
func PullsImages(mode string) bool {
	return mode == compose.ModeContainerd || mode == compose.ModeKubernetes
}

// pullRefs are the images a deploy pulls into the function runtime (see
// PullsImages): every function whose digest changed, pinned by digest.
func pullRefs(mode string, built []pipeline.Built) []string {
	if !PullsImages(mode) {
		return nil
	}
	var refs []string
	for _, b := range built {
		if !b.Changed || b.Digest == "" {
			continue
		}
		refs = append(refs, registry.PinnedRef(b.Image, b.Digest))
	}
	return refs
}

// FileHash is the sha256 (hex) of a file's bytes.
func FileHash(path string) (string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("hash %s: %w", path, err)
	}
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:]), nil
}

// imageBases lists the docker.io images the template's image functions
// start from: their ImageUri, or the FROM lines of their Dockerfile.
func imageBases(t *sam.Template) ([]string, error) {
	var refs []string
	for _, f := range t.Functions {
		if f.PackageType != sam.PackageImage {
			continue
		}
		if f.ImageURI != "" {
			refs = append(refs, f.ImageURI)
			continue
		}
		data, err := os.ReadFile(filepath.Join(f.DockerContext, f.Dockerfile))
		if err != nil {
			return nil, fmt.Errorf("function %s: %w", f.Name, err)
		}
		refs = append(refs, FromImages(string(data))...)
	}
	var out []string
	for _, r := range refs {
		if registry.ThroughMirror(r) && !slices.Contains(out, r) {
			out = append(out, r)
		}
	}
	return out, nil
}

// zipRuntimes lists the runtimes the template's zip functions run on, in
// template order, each once.
func zipRuntimes(t *sam.Template) []string {
	var out []string
	for _, f := range t.Functions {
		if f.PackageType != sam.PackageImage && f.Runtime != "" && !slices.Contains(out, f.Runtime) {
			out = append(out, f.Runtime)
		}
	}
	return out
}

// currentFunctions reads what the env serves now. A missing CONFIG_DIR is
// a first deploy; a malformed one fails before any work, as the merge
// would.
func currentFunctions(dir string) (map[string]runtimeconfig.Function, error) {
	cfg, err := runtimeconfig.Load(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return map[string]runtimeconfig.Function{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("current config in %s: %w", dir, err)
	}
	return cfg.Functions.Functions, nil
}

func routesByFunction(cfg runtimeconfig.Config) map[string][]string {
	out := map[string][]string{}
	for _, r := range cfg.Routing.Routes {
		out[r.Function] = append(out[r.Function], r.Method+" "+r.Path)
	}
	for _, rs := range out {
		sort.Strings(rs)
	}
	return out
}

// APIEndpoint is where a client reaches one API of a deploy.
type APIEndpoint struct {
	ID    string // the API's id, the first label of its host name
	Stage string
	// URL is the API's own address: the gateway on the host name
	// <id>.execute-api.localhost (curl resolves *.localhost to the
	// loopback address), with the stage path AWS puts in front, none for
	// an HTTP API's $default stage.
	URL string
}

// APIEndpoints lists the APIs the routes of cfg belong to, with their URLs
// on a gateway published on port of the host, over HTTPS when https is set.
func APIEndpoints(cfg runtimeconfig.Config, port int, https bool) []APIEndpoint {
	stages := map[string]string{}
	for _, r := range cfg.Routing.Routes {
		if r.API == "" {
			continue
		}
		if _, seen := stages[r.API]; !seen {
			stages[r.API] = r.Stage
		}
	}
	var out []APIEndpoint
	for _, id := range slices.Sorted(maps.Keys(stages)) {
		host := id + ".execute-api.localhost"
		if port > 0 {
			host += ":" + strconv.Itoa(port)
		}
		scheme := "http://"
		if https {
			scheme = "https://"
		}
		url := scheme + host + "/"
		if st := stages[id]; st != "" && st != "$default" {
			url += st + "/"
		}
		out = append(out, APIEndpoint{ID: id, Stage: stages[id], URL: url})
	}
	return out
}

// URLEndpoint is where a client reaches one function URL of a deploy.
type URLEndpoint struct {
	Function string
	AuthType string // runtimeconfig.URLAuthNone or URLAuthIAM
	// URL is the gateway on the host name
	// <url-id>.lambda-url.<region>.localhost (curl resolves *.localhost to
	// the loopback address), the local twin of Lambda's
	// https://<url-id>.lambda-url.<region>.on.aws/.
	URL string
}

// URLEndpoints lists the function URLs of cfg with their addresses on a
// gateway published on port of the host (0 leaves the port out).
func URLEndpoints(cfg runtimeconfig.Config, region string, port int, https bool) []URLEndpoint {
	var out []URLEndpoint
	for _, name := range slices.Sorted(maps.Keys(cfg.Functions.Functions)) {
		u := cfg.Functions.Functions[name].URL
		if u == nil {
			continue
		}
		host := u.ID + ".lambda-url." + region + ".localhost"
		if port > 0 {
			host += ":" + strconv.Itoa(port)
		}
		scheme := "http://"
		if https {
			scheme = "https://"
		}
		out = append(out, URLEndpoint{Function: name, AuthType: u.AuthType, URL: scheme + host + "/"})
	}
	return out
}

func countBuilt(built []pipeline.Built) int {
	n := 0
	for _, b := range built {
		if !b.Skipped {
			n++
		}
	}
	return n
}

func joinPrefixed(sep string, items []string) string {
	if len(items) == 0 {
		return ""
	}
	return sep + strings.Join(items, sep)
}

// events sends phase events; a nil sink drops them.
type events struct{ sink progress.Sink }

func (e events) phase(id string, st progress.Status, text string) {
	if e.sink == nil {
		return
	}
	e.sink.Event(progress.Event{ID: id, Status: st, Text: text, At: time.Now()})
}
