// Package bundle is the application bundle of `esb bundle export` and
// `esb bundle import`: what a deploy built on a machine that can build
// (function images, the config the pipeline exported), carried to a site
// that cannot and installed there as a deploy would, without a package
// index or a Dagger engine.
//
// A bundle is an archive of package backup (a gzip tar whose last entry,
// MANIFEST.json, lists every other entry with its size and sha256):
//
//	bundle.json                                the template and functions
//	config/<functions|routing|resources>.yml   the pipeline's exported files
//	images/index.json, images/blobs/sha256/..  every image, complete
package bundle

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"slices"
	"time"

	"github.com/distribution/reference"

	"github.com/esb-dev/esb/internal/backup"
	"github.com/esb-dev/esb/internal/confighistory"
	"github.com/esb-dev/esb/internal/deploy"
	"github.com/esb-dev/esb/internal/progress"
	"github.com/esb-dev/esb/internal/registry"
	"github.com/esb-dev/esb/internal/runtimeconfig"
	"github.com/esb-dev/esb/pipeline"
)

// Kind is bundle.json's kind: an archive of another kind (a backup) is
// refused by import.
const Kind = "esb-application-bundle"

const (
	metaName  = "bundle.json"
	configDir = "config"
)

var configFiles = []string{runtimeconfig.FunctionsFileName, runtimeconfig.RoutingFileName, runtimeconfig.ResourcesFileName}

// Meta is bundle.json.
type Meta struct {
	Kind string `json:"kind"`
	// Template is the template's path on the exporting machine, and
	// TemplateSHA256 the sha256 (hex) of its bytes: what the import's
	// history generation records.
	Template       string     `json:"template"`
	TemplateSHA256 string     `json:"template_sha256"`
	Env            string     `json:"env"`  // the env it was built in
	Mode           string     `json:"mode"` // that env's mode
	Functions      []Function `json:"functions"`
}

// Function is one function of a bundle.
type Function struct {
	Name   string `json:"name"`
	Image  string `json:"image"` // as the exporting env's functions.yml named it
	Digest string `json:"digest"`
}

// ExportOptions describe one export.
type ExportOptions struct {
	Output       string // the bundle; written as Output.tmp, then renamed
	Template     string
	TemplateHash string
	Env, Mode    string
	// ConfigDir holds the files the pipeline exported (deploy.Options.Output).
	ConfigDir string
	Functions []pipeline.Built
	Created   time.Time
}

// Summary counts what a bundle holds.
type Summary struct {
	Functions, Images int
	Bytes             int64
}

// Export writes a bundle of what a deploy's build half produced: every
// function's image, read by digest from src with all its blobs, and the
// exported config as the pipeline wrote it. A failed export leaves no
// file at Output.
func Export(ctx context.Context, opts ExportOptions, src backup.ImageSource) (Summary, error) {
	meta := Meta{Kind: Kind, Template: opts.Template, TemplateSHA256: opts.TemplateHash, Env: opts.Env, Mode: opts.Mode}
	var refs []string
	for _, b := range opts.Functions {
		if b.Digest == "" {
			return Summary{}, fmt.Errorf("function %s: no image digest: nothing to bundle", b.Function)
		}
		named, err := reference.ParseNormalizedNamed(b.Image)
		if err != nil {
			return Summary{}, fmt.Errorf("function %s: image %q: %w", b.Function, b.Image, err)
		}
		meta.Functions = append(meta.Functions, Function{Name: b.Function, Image: b.Image, Digest: b.Digest})
		if ref := reference.Path(named) + "@" + b.Digest; !slices.Contains(refs, ref) {
			refs = append(refs, ref)
		}
	}
	slices.SortFunc(meta.Functions, func(a, b Function) int { return cmp.Compare(a.Name, b.Name) })
	slices.Sort(refs)
	metaData, err := json.MarshalIndent(meta, "", "  ")
	if err != nil {
		return Summary{}, fmt.Errorf("encode %s: %w", metaName, err)
	}

	tmp := opts.Output + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return Summary{}, fmt.Errorf("create bundle: %w", err)
	}
	err = func() error {
		w := backup.NewWriter(f, opts.Env, opts.Mode, opts.Created)
		if err := w.AddBytes(metaName, metaData); err != nil {
			return err
		}
		for _, name := range configFiles {
			data, err := os.ReadFile(filepath.Join(opts.ConfigDir, name))
			if err != nil {
				return fmt.Errorf("exported config: %w", err)
			}
			if err := w.AddBytes(path.Join(configDir, name), data); err != nil {
				return err
			}
		}
		if err := backup.SaveImages(ctx, w, src, refs); err != nil {
			return fmt.Errorf("bundle images: %w", err)
		}
		if err := w.Close(); err != nil {
			return err
		}
		return f.Sync()
	}()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, opts.Output)
	}
	if err != nil {
		return Summary{}, errors.Join(err, os.Remove(tmp))
	}
	sum := Summary{Functions: len(meta.Functions), Images: len(refs)}
	if st, err := os.Stat(opts.Output); err == nil {
		sum.Bytes = st.Size()
	}
	return sum, nil
}

// Targets are the env services an import writes into.
type Targets struct {
	Registry backup.ImageSink
	// Steps pull into the runtime node and provision, as a deploy's do.
	Steps deploy.ActivateSteps
}

// ImportOptions describe one import.
type ImportOptions struct {
	File      string
	ConfigDir string // the env's
	// Repository is the env's image repository prefix, "<brand>-<env>".
	Repository string
	// Registry is the registry address the env's functions.yml names
	// images by (the runtime's view, as deploy writes it).
	Registry    string
	Mode        string
	HistoryKeep int
	// VerifyKey, when set, is the public key file (PKIX PEM, ed25519) the
	// bundle's signature (SignatureFile) must verify under, before
	// anything else is read.
	VerifyKey string
	// Publishing, when set, is held from the first push until the config
	// naming the pushed images is merged (deploy.Options.Publishing).
	Publishing func(ctx context.Context) (release func() error, err error)
	// Progress, when set, is told each step as it starts.
	Progress func(step string)
	Events   progress.Sink
}

// Imported is what an import did.
type Imported struct {
	Meta      Meta
	Images    int
	Installed deploy.Installed
	Verify    time.Duration // checking the signature and the whole bundle
	Duration  time.Duration
	Warnings  []string
}

// Import installs a bundle into an env as esb deploy would have: it checks
// the whole bundle against its manifest first (a truncated or tampered one
// is refused and nothing changes), pushes the images into the env's
// registry under the env's repository (digests unchanged), then merges the
// config under the deploy lock in one atomic switch, pulls the images into
// the runtime node (containerd mode), provisions and records a generation
// of kind import (deploy.Install).
func Import(ctx context.Context, opts ImportOptions, dst Targets) (Imported, error) {
	began := time.Now()
	var out Imported
	step := func(s string) {
		if opts.Progress != nil {
			opts.Progress(s)
		}
	}
	stage, err := os.MkdirTemp(filepath.Dir(opts.ConfigDir), ".esb-import-")
	if err != nil {
		if stage, err = os.MkdirTemp("", "esb-import-"); err != nil {
			return out, err
		}
	}
	defer os.RemoveAll(stage)

	if opts.VerifyKey != "" {
		step("checking the signature " + SignatureFile(opts.File))
		if err := VerifySignature(opts.File, opts.VerifyKey); err != nil {
			return out, fmt.Errorf("bundle refused, nothing changed: %w", err)
		}
	} else if _, err := os.Stat(SignatureFile(opts.File)); err == nil {
		out.Warnings = append(out.Warnings, SignatureFile(opts.File)+" was not checked: pass --verify PUBKEY to check it")
	}
	step("verifying every entry of " + opts.File + " against its manifest")
	if _, err := backup.Extract(opts.File, stage); err != nil {
		return out, fmt.Errorf("bundle refused, nothing changed: %w", err)
	}
	out.Verify = time.Since(began)
	meta, cfg, err := staged(stage)
	if err != nil {
		return out, fmt.Errorf("bundle refused, nothing changed: %s: %w", opts.File, err)
	}
	out.Meta = meta
	rw, err := backup.NewRewriter(cfg, opts.Repository, opts.Registry)
	if err != nil {
		return out, fmt.Errorf("bundle refused, nothing changed: %w", err)
	}
	cfg = rw.Config(cfg)

	if opts.Publishing != nil {
		release, err := opts.Publishing(ctx)
		if err != nil {
			return out, err
		}
		defer func() { _ = release() }()
	}
	step(fmt.Sprintf("pushing %d images into the env's registry", len(meta.Functions)))
	pushed, err := backup.LoadImages(ctx, stage, dst.Registry, rw.Repository)
	if err != nil {
		return out, fmt.Errorf("push the bundle's images (CONFIG_DIR unchanged): %w", err)
	}
	out.Images = len(pushed)

	var pull []string
	if deploy.PullsImages(opts.Mode) {
		for _, f := range cfg.Functions.Functions {
			pull = append(pull, registry.PinnedRef(f.Image, f.Digest))
		}
		slices.Sort(pull)
	}
	step("merging the config, pulling and provisioning under the deploy lock")
	out.Installed, err = deploy.Install(ctx, deploy.InstallOptions{
		ConfigDir: opts.ConfigDir, Kind: confighistory.KindImport,
		Template: "bundle " + filepath.Base(opts.File) + " (" + meta.Template + ")", TemplateHash: meta.TemplateSHA256,
		Pull: pull, HistoryKeep: opts.HistoryKeep, Events: opts.Events,
	}, cfg, dst.Steps)
	if err != nil {
		return out, err
	}
	out.Duration = time.Since(began)
	return out, nil
}

// staged reads and cross-checks bundle.json and the config of a verified
// bundle: every function of the config is in bundle.json with its digest.
func staged(stage string) (Meta, runtimeconfig.Config, error) {
	var meta Meta
	data, err := os.ReadFile(filepath.Join(stage, metaName))
	if err != nil {
		return meta, runtimeconfig.Config{}, fmt.Errorf("no %s: not an application bundle (a backup? use esb restore)", metaName)
	}
	if err := json.Unmarshal(data, &meta); err != nil {
		return meta, runtimeconfig.Config{}, fmt.Errorf("%s: %w", metaName, err)
	}
	if meta.Kind != Kind {
		return meta, runtimeconfig.Config{}, fmt.Errorf("%s: kind %q, want %q", metaName, meta.Kind, Kind)
	}
	cfg, err := runtimeconfig.Load(filepath.Join(stage, configDir))
	if err != nil {
		return meta, cfg, fmt.Errorf("the bundle's config: %w", err)
	}
	digests := map[string]string{}
	for _, f := range meta.Functions {
		digests[f.Name] = f.Digest
	}
	for name, f := range cfg.Functions.Functions {
		if f.Digest == "" || digests[name] != f.Digest {
			return meta, cfg, fmt.Errorf("function %s: functions.yml says digest %q, %s %q", name, f.Digest, metaName, digests[name])
		}
	}
	if len(digests) != len(cfg.Functions.Functions) {
		return meta, cfg, fmt.Errorf("%s lists %d functions, functions.yml %d", metaName, len(digests), len(cfg.Functions.Functions))
	}
	return meta, cfg, nil
}
