// Package pipeline is the deploy pipeline that runs on the Dagger engine:
// it builds one image per function of a parsed SAM template (runtime base,
// layers in /opt, code in /var/task, dependencies installed), publishes
// each to the platform registry, and exports the generated runtime config
// with the published digests to the host. It builds function images only,
// never the platform's own images.
package pipeline

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"dagger.io/dagger"
	"github.com/distribution/reference"
	"golang.org/x/sync/errgroup"

	"github.com/esb-dev/esb/internal/progress"
	"github.com/esb-dev/esb/internal/runtimecatalog"
	"github.com/esb-dev/esb/internal/runtimeconfig"
	"github.com/esb-dev/esb/internal/sam"
)

// Request is one deploy of one template.
type Request struct {
	Template *sam.Template
	// Config is the template's generated runtime config; its image refs are
	// where the functions are published. Run fills in the digests.
	Config runtimeconfig.Config
	// Previous holds the functions the env serves now, by name: a function
	// whose Source fingerprint is unchanged and whose digest the registry
	// still has is not built again.
	Previous map[string]runtimeconfig.Function
	// Exists reports whether the registry still has image@digest; nil means
	// never (always build).
	Exists func(ctx context.Context, image, digest string) (bool, error)
	// CacheNamespace names the env's cache volumes: parallel envs never
	// share a package cache.
	CacheNamespace string
	// NoCache rebuilds every step and uses fresh, empty cache volumes.
	NoCache bool
	// Bases builds the runtime base images.
	Bases Bases
	// BaseImages are ready-built runtime bases (runtime name -> image
	// ref the engine resolves), used instead of building Bases'
	// Dockerfiles: the machine's copy of the same build. They do not enter
	// a function's Source fingerprint, which already covers the
	// Dockerfiles they were built from.
	BaseImages map[string]string
	// BasePins are the docker.io images builds start from, as Dockerfiles
	// and ImageUri name them (debian:trixie-slim), each to the same image
	// at the digest checked in the env's registry (PinFrom): the build
	// resolves them by digest. An image not named here resolves by tag.
	BasePins map[string]string
	// PublishBases asks that the base of a runtime, when this run builds
	// it from its Dockerfile, be published to the ref given (runtime name
	// -> ref), so later deploys start from it (Result.Bases).
	PublishBases map[string]string
	// Sources, when set, is where function code, layers and Docker
	// contexts are read from instead of the host: the same tree the
	// template was parsed from, which lies at SourcesRoot on the local
	// filesystem. A Dagger module gets its source this way; building from
	// the caller's upload rather than a local copy keeps unchanged code on
	// cached layers and so on the same digests.
	Sources     *dagger.Directory
	SourcesRoot string
	// PublishRegistry, when set, is the registry (host:port) the engine
	// publishes to, under the repository and tag of the config's image
	// refs. Containerd mode needs it: functions.yml names images as the
	// runtime node pulls them (registry:5000/...), while the engine reaches
	// that same registry through its host port.
	PublishRegistry string
	// Output is the host directory the generated files are exported to;
	// empty keeps them in the engine only (Result.Files), as a Dagger
	// module returning them to its caller needs.
	Output string
	// Mirrors are where pip and npm installs fetch packages from.
	Mirrors Mirrors
	// MavenMirror is the Maven repository (URL) Maven and Gradle builds of
	// Java functions fetch from; empty refuses such builds (CheckBuilds).
	MavenMirror string
	// Architecture (x86_64 or arm64) is what functions that declare no
	// Architectures are built for: the host's. Empty leaves it to the
	// engine's native platform.
	Architecture string
	// RegistryAuth is the env's registry credential; nil is anonymous.
	// The registry answers no request without it, pulls through the
	// engine's docker.io mirror included.
	RegistryAuth *RegistryAuth
	// Concurrency bounds parallel function builds; 0 means 4.
	Concurrency int
	Events      progress.Sink
}

// RegistryAuth is a registry credential as the engine takes it: the
// password a secret of the session, never a plain value in a query.
type RegistryAuth struct {
	Address  string // host:port, as the engine reaches the registry
	Username string
	Password *dagger.Secret
}

// Bases provides the base image of each runtime: either built from the
// Dockerfiles in FS, or an image a user pointed a runtime at.
type Bases struct {
	FS fs.FS
	// Dockerfile names the Dockerfile in FS of a runtime.
	Dockerfile func(runtime string) (string, error)
	// Fingerprint hashes a Dockerfile of FS with what it copies; when set,
	// a function's Source covers its own base only, so editing one
	// runtime's client rebuilds that runtime's functions alone. Unset, the
	// whole of FS counts.
	Fingerprint func(dockerfile string) (string, error)
	// Images overrides the base of a runtime with an image ref, e.g.
	// python3.13=public.ecr.aws/lambda/python:3.13 where that is reachable.
	Images map[string]string
}

// Built is one published function image.
type Built struct {
	Function string
	Image    string    // the ref published to
	Digest   string    // sha256:...
	Source   string    // fingerprint of the inputs, see Source
	Changed  bool      // the digest differs from what the env served
	Skipped  bool      // inputs unchanged: the served image was kept, nothing built
	Installs []Install // the pip and npm installs the build ran
	Duration time.Duration
}

// Result is what a successful Run produced.
type Result struct {
	Config    runtimeconfig.Config // the generated config with digests
	Functions []Built              // sorted by function name
	// Files holds functions.yml, routing.yml and resources.yml, the same
	// files Run exports to Request.Output.
	Files *dagger.Directory
	// Bases are the runtime bases published as Request.PublishBases asked.
	Bases []PublishedBase
	// Warnings say what Run could not do that the deploy does without,
	// such as publishing a base for later deploys.
	Warnings []string
}

// PublishedBase is a runtime base image Run built and published.
type PublishedBase struct {
	Ref    string // as Request.PublishBases named it
	Digest string // sha256:...
}

// Run builds and publishes every function of the request's template, then
// exports functions.yml, routing.yml and resources.yml to req.Output (when
// set). On error nothing is exported; images published before the error
// stay in the registry, unreferenced by any config.
func Run(ctx context.Context, dag *dagger.Client, req Request) (Result, error) {
	if req.Events == nil {
		req.Events = progress.Discard{}
	}
	r := &run{dag: dag, req: req, bases: map[string]*dagger.Container{}, builtBases: map[string]string{}}
	defer func() {
		for _, dir := range r.temps {
			_ = os.RemoveAll(dir) // a leftover in the temp dir harms nothing
		}
	}()
	if req.NoCache {
		r.nonce = fmt.Sprintf("%d", time.Now().UnixNano())
	}
	if err := Authorize(ctx, dag, req.RegistryAuth); err != nil {
		return Result{}, err
	}
	built, err := r.buildAll(ctx)
	if err != nil {
		return Result{}, err
	}
	cfg := req.Config.Clone()
	for _, b := range built {
		fn := cfg.Functions.Functions[b.Function]
		fn.Digest = b.Digest
		fn.Source = b.Source
		cfg.Functions.Functions[b.Function] = fn
	}
	files, err := r.export(ctx, cfg)
	if err != nil {
		return Result{}, err
	}
	bases, warnings := r.publishBases(ctx)
	r.mu.Lock()
	warnings = append(r.warnings, warnings...)
	r.mu.Unlock()
	return Result{Config: cfg, Functions: built, Files: files, Bases: bases, Warnings: warnings}, nil
}

// Authorize gives the session the registry's credential before anything
// pulls: the engine asks the session for it on every pull and push to that
// host, the docker.io mirror's included. A credential joins the session
// only when the call that adds it runs, and the engine answers a call
// it has seen from cache without running it: the call carries a value of
// this run alone.
func Authorize(ctx context.Context, dag *dagger.Client, auth *RegistryAuth) error {
	if auth == nil {
		return nil
	}
	_, err := dag.Container().
		WithEnvVariable("ESB_REGISTRY_AUTH_RUN", fmt.Sprintf("%d", time.Now().UnixNano())).
		WithRegistryAuth(auth.Address, auth.Username, auth.Password).
		Sync(ctx)
	if err != nil {
		return fmt.Errorf("registry credential for %s: %w", auth.Address, err)
	}
	return nil
}

// publish publishes ctr to ref with the request's credential.
func (r *run) publish(ctx context.Context, ctr *dagger.Container, ref string) (string, error) {
	if auth := r.req.RegistryAuth; auth != nil {
		ctr = ctr.WithRegistryAuth(auth.Address, auth.Username, auth.Password)
	}
	return ctr.Publish(ctx, ref)
}

// publishBases publishes the bases this run built from their Dockerfiles
// where the request asked for it. A base nobody's function needed this
// time is not built just to be kept. A failure costs later deploys a
// rebuild, not this one its result: it comes back as a warning.
func (r *run) publishBases(ctx context.Context) ([]PublishedBase, []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []PublishedBase
	var warnings []string
	done := map[string]bool{}
	for _, key := range slices.Sorted(maps.Keys(r.builtBases)) {
		rt := r.builtBases[key]
		ref := r.req.PublishBases[rt]
		if ref == "" || done[ref] {
			continue
		}
		done[ref] = true
		published, err := r.publish(ctx, r.bases[key], ref)
		if err != nil {
			warnings = append(warnings, fmt.Sprintf("runtime base %s not kept for later deploys: publish %s: %s", rt, ref, err))
			continue
		}
		_, digest, _ := strings.Cut(published, "@")
		out = append(out, PublishedBase{Ref: ref, Digest: digest})
	}
	return out, warnings
}

type run struct {
	dag   *dagger.Client
	req   Request
	nonce string // set with NoCache: busts every cached step

	mu    sync.Mutex
	bases map[string]*dagger.Container
	// builtBases are the bases (runtime@platform) this run builds from
	// their Dockerfile (not an image), with their runtime.
	builtBases map[string]string
	warnings   []string
	temps      []string // host directories to remove when Run returns
}

func (r *run) event(id string, st progress.Status, text string) {
	r.req.Events.Event(progress.Event{ID: id, Parent: "build", Status: st, Text: text, At: time.Now()})
}

func (r *run) buildAll(ctx context.Context) ([]Built, error) {
	fns := r.req.Template.Functions
	limit := r.req.Concurrency
	if limit <= 0 {
		limit = 4
	}
	built := make([]Built, len(fns))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(limit)
	for i, f := range fns {
		g.Go(func() error {
			b, err := r.buildOne(gctx, f)
			if err != nil {
				r.event(f.Name, progress.Failed, err.Error())
				return fmt.Errorf("function %s: %w", f.Name, err)
			}
			built[i] = b
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	sort.Slice(built, func(i, j int) bool { return built[i].Function < built[j].Function })
	return built, nil
}

func (r *run) buildOne(ctx context.Context, f sam.Function) (Built, error) {
	start := time.Now()
	fn, ok := r.req.Config.Functions.Functions[f.Name]
	if !ok || fn.Image == "" {
		return Built{}, errors.New("no image ref in the generated config")
	}
	source, pinned, err := Source(f, r.req.Bases)
	if err != nil {
		return Built{}, err
	}
	if prev, ok := r.unchanged(ctx, f.Name, fn.Image, source, pinned); ok {
		r.event(f.Name, progress.Skipped, "unchanged, kept "+shortDigest(prev.Digest))
		return Built{Function: f.Name, Image: fn.Image, Digest: prev.Digest, Source: source, Skipped: true, Duration: time.Since(start)}, nil
	}
	installs := r.req.Mirrors.installs(f)
	r.event(f.Name, progress.Working, "building "+describe(f)+describeInstalls(installs))
	ctr, err := r.container(f)
	if err != nil {
		return Built{}, err
	}
	ref, err := PublishRef(fn.Image, r.req.PublishRegistry)
	if err != nil {
		return Built{}, err
	}
	published, err := r.publish(ctx, ctr, ref)
	if err != nil {
		if ie, ok := r.req.Mirrors.installError(err); ok {
			return Built{}, ie
		}
		return Built{}, fmt.Errorf("build and publish %s: %w", ref, err)
	}
	_, digest, ok := strings.Cut(published, "@")
	if !ok {
		return Built{}, fmt.Errorf("publish %s: engine returned %q without a digest", ref, published)
	}
	if !pinned {
		source = ""
	}
	b := Built{
		Function: f.Name,
		Image:    fn.Image,
		Digest:   digest,
		Source:   source,
		Changed:  r.req.Previous[f.Name].Digest != digest,
		Installs: installs,
		Duration: time.Since(start),
	}
	r.event(f.Name, progress.Done, fmt.Sprintf("published %s (%.1fs)", shortDigest(digest), b.Duration.Seconds()))
	return b, nil
}

// unchanged returns the served function when its image can be kept: same
// fingerprint, same image ref, and the registry still has the digest (a
// registry volume reset while CONFIG_DIR survived must not leave a digest
// nobody can pull).
func (r *run) unchanged(ctx context.Context, name, image, source string, pinned bool) (runtimeconfig.Function, bool) {
	prev, ok := r.req.Previous[name]
	if !ok || !pinned || r.nonce != "" || r.req.Exists == nil {
		return runtimeconfig.Function{}, false
	}
	if prev.Source != source || prev.Image != image || prev.Digest == "" {
		return runtimeconfig.Function{}, false
	}
	exists, err := r.req.Exists(ctx, image, prev.Digest)
	if err != nil || !exists {
		return runtimeconfig.Function{}, false
	}
	return prev, true
}

func describe(f sam.Function) string {
	switch {
	case f.PackageType == sam.PackageImage && f.ImageURI != "":
		return "from " + f.ImageURI
	case f.PackageType == sam.PackageImage:
		return "from its Dockerfile"
	default:
		return f.Runtime
	}
}

func shortDigest(d string) string {
	if len(d) > 19 {
		return d[:19]
	}
	return d
}

// container is the function's image, not yet evaluated.
func (r *run) container(f sam.Function) (*dagger.Container, error) {
	platform := r.platform(f)
	if f.PackageType == sam.PackageImage {
		if f.ImageURI != "" {
			ref := f.ImageURI
			if pinned, ok := r.req.BasePins[ref]; ok {
				ref = pinned
			}
			return r.dag.Container(dagger.ContainerOpts{Platform: platform}).From(ref), nil
		}
		opts := dagger.DirectoryDockerBuildOpts{Dockerfile: f.Dockerfile, Platform: platform}
		if r.nonce != "" {
			opts.BuildArgs = []dagger.BuildArg{{Name: "ESB_CACHEBUST", Value: r.nonce}}
		}
		dir, err := r.pinnedContext(r.hostDir(f.DockerContext), f.Dockerfile, func() ([]byte, error) {
			return os.ReadFile(filepath.Join(f.DockerContext, f.Dockerfile))
		})
		if err != nil {
			return nil, fmt.Errorf("Dockerfile: %w", err)
		}
		return dir.DockerBuild(opts), nil
	}
	rt, ok := runtimecatalog.Lookup(f.Runtime)
	if !ok {
		return nil, fmt.Errorf("unsupported runtime %q (supported: %s)", f.Runtime, strings.Join(runtimecatalog.Names(), ", "))
	}
	ctr, err := r.base(rt, platform)
	if err != nil {
		return nil, err
	}
	if r.nonce != "" {
		ctr = ctr.WithEnvVariable("ESB_CACHEBUST", r.nonce)
	}
	for _, l := range f.Layers {
		ctr = ctr.WithDirectory("/opt", r.hostDir(l.ContentDir))
		if ctr, err = r.installDeps(ctr, rt, l.ContentDir, layerDepsDir(rt.Family)); err != nil {
			return nil, fmt.Errorf("layer %s: %w", l.Name, err)
		}
	}
	code, err := r.code(f)
	if err != nil {
		return nil, err
	}
	ctr = ctr.WithDirectory("/var/task", code)
	if f.CodeDir != "" {
		// A deployment package (archive or inline code) is used as it is,
		// as Lambda does: its dependencies are already inside.
		if ctr, err = r.installDeps(ctr, rt, f.CodeDir, "/var/task"); err != nil {
			return nil, err
		}
	}
	if r.nonce != "" {
		ctr = ctr.WithoutEnvVariable("ESB_CACHEBUST")
	}
	return ctr.WithDefaultArgs([]string{f.Handler}), nil
}

// code is what goes into /var/task: the code directory, the extracted
// archive, or the inline code as the one file CloudFormation would write.
func (r *run) code(f sam.Function) (*dagger.Directory, error) {
	switch {
	case f.InlineCode != "":
		return r.dag.Directory().WithNewFile(f.InlineFile, f.InlineCode), nil
	case f.CodeArchive != "":
		dir, err := r.tempDir()
		if err != nil {
			return nil, err
		}
		if err := ExtractArchive(f.CodeArchive, dir); err != nil {
			return nil, err
		}
		return r.dag.Host().Directory(dir), nil
	case f.CodeFile != "":
		return r.dag.Directory().WithFile(filepath.Base(f.CodeFile), r.dag.Host().File(f.CodeFile)), nil
	}
	return r.hostDir(f.CodeDir), nil
}

// tempDir is a host directory that lives until Run returns: the engine
// reads host directories when the image is built, not when referenced.
func (r *run) tempDir() (string, error) {
	dir, err := os.MkdirTemp("", "esb-package-")
	if err != nil {
		return "", fmt.Errorf("extract deployment package: %w", err)
	}
	r.mu.Lock()
	r.temps = append(r.temps, dir)
	r.mu.Unlock()
	return dir, nil
}

// layerDepsDir is where a layer's own dependencies land, as AWS's layer
// layout has them. Java and Ruby layers are used as they come (jars in
// java/lib, gems in ruby/gems/<version>): installDeps warns about a build
// file it leaves alone there.
func layerDepsDir(family string) string {
	switch family {
	case runtimecatalog.FamilyPython:
		return "/opt/python"
	case runtimecatalog.FamilyNodejs:
		return "/opt/nodejs"
	default:
		return ""
	}
}

// installDeps installs the dependencies a code directory declares
// (requirements.txt, package.json, Gemfile) into target inside the image,
// through the env's package caches, and compiles a Java function. Each
// needs its package index reachable (PyPI, the npm registry, a gem server,
// a Maven mirror, or a mirror of them configured in the base image);
// vendored gems (vendor/cache) and plain Java sources need none.
func (r *run) installDeps(ctr *dagger.Container, rt runtimecatalog.Runtime, hostDir, target string) (*dagger.Container, error) {
	if target == "" {
		for _, manifest := range []string{"Gemfile", "pom.xml", "build.gradle", "requirements.txt", "package.json"} {
			if fileExists(filepath.Join(hostDir, manifest)) {
				r.warn(fmt.Sprintf("layer %s: %s is not installed: ESB installs %s layers as they are (lay them out as AWS's layer layout wants)", hostDir, manifest, rt.Family))
			}
		}
		return ctr, nil
	}
	switch rt.Family {
	case runtimecatalog.FamilyPython:
		if !fileExists(filepath.Join(hostDir, "requirements.txt")) {
			return ctr, nil
		}
		src := target
		if target == "/opt/python" {
			src = "/opt" // a layer's requirements.txt sits at its root
		}
		if dir := r.req.Mirrors.WheelDir; dir != "" {
			// Mounted, not copied: the wheels serve the install and stay
			// out of the image.
			ctr = ctr.WithMountedDirectory(wheelMount, r.dag.Host().Directory(dir))
		}
		args := append([]string{"python3", "-m", "pip", "install", "--disable-pip-version-check", "--break-system-packages",
			"--no-compile", "-r", src + "/requirements.txt", "--target", target}, r.req.Mirrors.pipArgs()...)
		ctr = ctr.
			WithMountedCache("/root/.cache/pip", r.cache("pip")).
			WithExec(args)
		if r.req.Mirrors.WheelDir != "" {
			ctr = ctr.WithoutMount(wheelMount)
		}
		return ctr, nil
	case runtimecatalog.FamilyNodejs:
		dir := target
		if target == "/opt/nodejs" {
			dir = "/opt"
		}
		if !fileExists(filepath.Join(hostDir, "package.json")) {
			return ctr, nil
		}
		// The official node binaries trust their own CA list only: the
		// system bundle (where the engine puts a site's extra CAs) is added
		// for the install, not for the function.
		return ctr.
			WithMountedCache("/root/.npm", r.cache("npm")).
			WithWorkdir(dir).
			WithEnvVariable("NODE_EXTRA_CA_CERTS", "/etc/ssl/certs/ca-certificates.crt").
			WithExec(append([]string{"npm", "install", "--omit=dev", "--no-audit", "--no-fund", "--no-update-notifier"}, r.req.Mirrors.npmArgs()...)).
			WithoutEnvVariable("NODE_EXTRA_CA_CERTS").
			WithWorkdir("/var/task"), nil
	case runtimecatalog.FamilyRuby:
		if !fileExists(filepath.Join(hostDir, "Gemfile")) {
			return ctr, nil
		}
		return r.bundleInstall(ctr, hostDir, target), nil
	case runtimecatalog.FamilyJava:
		return r.javaBuild(ctr, hostDir, rt.Version)
	default:
		return ctr, nil
	}
}

// warn records something the build did not do, for Result.Warnings.
func (r *run) warn(w string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.warnings = append(r.warnings, w)
}

func dirExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.IsDir()
}

func fileExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir()
}

// cache is a package cache volume of the env; with NoCache a fresh one.
func (r *run) cache(kind string) *dagger.CacheVolume {
	name := r.req.CacheNamespace + "-" + kind
	if r.nonce != "" {
		name += "-" + r.nonce
	}
	return r.dag.CacheVolume(name)
}

// hostDir uploads a directory of the template, without what local tooling
// leaves behind; with Sources set, it is taken from there.
func (r *run) hostDir(path string) *dagger.Directory {
	if r.req.Sources != nil {
		if rel, ok := within(r.req.SourcesRoot, path); ok {
			return r.dag.Directory().WithDirectory(".", r.req.Sources.Directory(rel),
				dagger.DirectoryWithDirectoryOpts{Exclude: uploadExcludes()})
		}
	}
	return r.dag.Host().Directory(path, dagger.HostDirectoryOpts{Exclude: uploadExcludes()})
}

// within returns path relative to root, slash-separated, when path lies
// inside root.
func within(root, path string) (string, bool) {
	rel, err := filepath.Rel(root, path)
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return "", false
	}
	return filepath.ToSlash(rel), true
}

// platform is the OCI platform a function is built for: its declared
// architecture, else the host's (deploy refuses a function declared for
// another architecture than the host's before anything is built).
func (r *run) platform(f sam.Function) dagger.Platform {
	arch := r.req.Architecture
	if len(f.Architectures) > 0 {
		arch = f.Architectures[0]
	}
	switch arch {
	case "x86_64":
		return "linux/amd64"
	case "arm64":
		return "linux/arm64"
	}
	return ""
}

// base is the runtime's base image for a platform, built once per run.
func (r *run) base(rt runtimecatalog.Runtime, platform dagger.Platform) (*dagger.Container, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	key := rt.Name + "@" + string(platform)
	if ctr, ok := r.bases[key]; ok {
		return ctr, nil
	}
	var ctr *dagger.Container
	if img := r.req.Bases.Images[rt.Name]; img != "" {
		ctr = r.dag.Container(dagger.ContainerOpts{Platform: platform}).From(img)
	} else if img := r.req.BaseImages[rt.Name]; img != "" && r.nonce == "" {
		ctr = r.dag.Container(dagger.ContainerOpts{Platform: platform}).From(img)
	} else {
		if r.req.Bases.FS == nil || r.req.Bases.Dockerfile == nil {
			return nil, errors.New("no runtime base images configured")
		}
		dockerfile, err := r.req.Bases.Dockerfile(rt.Name)
		if err != nil {
			return nil, err
		}
		dir, err := directoryFromFS(r.dag, r.req.Bases.FS)
		if err != nil {
			return nil, fmt.Errorf("runtime %s: %w", rt.Name, err)
		}
		opts := dagger.DirectoryDockerBuildOpts{Dockerfile: dockerfile, Platform: platform}
		if r.nonce != "" {
			opts.BuildArgs = []dagger.BuildArg{{Name: "ESB_CACHEBUST", Value: r.nonce}}
		}
		if dir, err = r.pinnedContext(dir, dockerfile, func() ([]byte, error) { return fs.ReadFile(r.req.Bases.FS, dockerfile) }); err != nil {
			return nil, fmt.Errorf("runtime %s: %w", rt.Name, err)
		}
		ctr = dir.DockerBuild(opts)
		r.builtBases[key] = rt.Name
	}
	r.bases[key] = ctr
	return ctr, nil
}

// pinnedContext is a build context whose Dockerfile starts from its bases
// by digest (Request.BasePins); the context as it is when no FROM line
// changes.
func (r *run) pinnedContext(dir *dagger.Directory, dockerfile string, read func() ([]byte, error)) (*dagger.Directory, error) {
	if len(r.req.BasePins) == 0 {
		return dir, nil
	}
	data, err := read()
	if err != nil {
		return nil, err
	}
	pinned := PinFrom(string(data), r.req.BasePins)
	if pinned == string(data) {
		return dir, nil
	}
	return dir.WithNewFile(dockerfile, pinned), nil
}

// directoryFromFS turns an embedded tree into a Dagger directory. Shell
// scripts and files named bootstrap keep their execute bit, which embed.FS
// does not record.
func directoryFromFS(dag *dagger.Client, fsys fs.FS) (*dagger.Directory, error) {
	dir := dag.Directory()
	err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := fs.ReadFile(fsys, p)
		if err != nil {
			return err
		}
		perm := 0o644
		if strings.HasSuffix(p, ".sh") || filepath.Base(p) == "bootstrap" {
			perm = 0o755
		}
		dir = dir.WithNewFile(p, string(data), dagger.DirectoryWithNewFileOpts{Permissions: perm})
		return nil
	})
	return dir, err
}

// export writes the three config files through the engine to req.Output,
// and returns them as a directory of the engine.
func (r *run) export(ctx context.Context, cfg runtimeconfig.Config) (*dagger.Directory, error) {
	files, err := runtimeconfig.Marshal(cfg)
	if err != nil {
		return nil, fmt.Errorf("generated config: %w", err)
	}
	dir := r.dag.Directory()
	for _, name := range runtimeconfig.FileNames {
		dir = dir.WithNewFile(name, string(files.Get(name)))
	}
	if r.req.Output == "" {
		return dir, nil
	}
	if _, err := dir.Export(ctx, r.req.Output); err != nil {
		return nil, fmt.Errorf("export config to %s: %w", r.req.Output, err)
	}
	return dir, nil
}

// PublishRef is image with its registry replaced by registry, keeping
// repository and tag; an empty registry leaves image as it is. The digest
// a registry answers does not depend on the name it was reached by, so
// the config's ref at that digest is exactly what was published.
func PublishRef(image, registry string) (string, error) {
	if registry == "" {
		return image, nil
	}
	named, err := reference.ParseNormalizedNamed(image)
	if err != nil {
		return "", fmt.Errorf("image %s: %w", image, err)
	}
	ref := registry + "/" + reference.Path(named)
	if tagged, ok := named.(reference.Tagged); ok {
		ref += ":" + tagged.Tag()
	}
	return ref, nil
}
