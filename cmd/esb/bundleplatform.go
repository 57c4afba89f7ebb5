package main

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"
	"github.com/docker/docker/errdefs"
	"github.com/docker/docker/pkg/jsonmessage"
	"github.com/klauspost/compress/zstd"

	"github.com/esb-dev/esb/internal/bundle"
	"github.com/esb-dev/esb/internal/compose"
	"github.com/esb-dev/esb/internal/platformbundle"
	lambdaimages "github.com/esb-dev/esb/services/runtime"
)

// imagesStream is the bundle's `docker save` stream, zstd-compressed.
const imagesStream = "images.tar.zst"

// siteDir is where, inside a bundle, the files of a site live; they are
// installed into the site directory as they are named below it.
const siteDir = "site/"

// siteFiles are the files of a checkout a site needs to run the platform
// and `just demo` (globs relative to the checkout), besides the esb binary
// and ImageTagFile, which the export writes.
func siteFiles() []string {
	return []string{
		"README.md", "justfile", "docker-compose.yml", "compose/*.yml",
		"scripts/setup.sh", "scripts/demo-check.sh",
		"fixtures/template-a.yml", "fixtures/template-b.yml",
		"fixtures/functions/hello_a/*", "fixtures/functions/items_a/*", "fixtures/functions/hello_b/*",
	}
}

type bundlePlatformOptions struct {
	output     string
	projectDir string
	imageTag   string
	verbose    bool
	// install and verify
	dir    string
	sha256 string
	// verifyKey: refuse unless FILE.sig verifies under this public key.
	verifyKey string
	// signKey: the export signs the bundle with this private key.
	signKey string
}

// bundleImages is what the bundle needs of the Docker engine.
type bundleImages interface {
	ImageInspect(ctx context.Context, ref string, opts ...client.ImageInspectOption) (image.InspectResponse, error)
	ImageSave(ctx context.Context, refs []string, opts ...client.ImageSaveOption) (io.ReadCloser, error)
	ImageLoad(ctx context.Context, input io.Reader, opts ...client.ImageLoadOption) (image.LoadResponse, error)
}

func runBundlePlatform(ctx context.Context, c *cli, args []string) error {
	const summary = "Export ESB's own images (services, runtime bases, Dagger engine), the esb binary and the site files into one archive, or verify or install one"
	var opts bundlePlatformOptions
	fs := newFlagSet(c, "bundle platform", "-o FILE | verify FILE | install FILE --dir DIR",
		summary+`.

  esb bundle platform -o esb-platform.esbundle     (on a machine that built ESB's images)
  esb bundle platform verify esb-platform.esbundle [--sha256 HEX]
  esb bundle platform install esb-platform.esbundle --dir DIR [--sha256 HEX]

install verifies the whole bundle first (every entry's size and sha256
against its manifest; with --sha256, the whole file against the sum the
export printed) and changes nothing when it fails; then it loads the
images into the Docker engine and writes the site files (compose files,
justfile, scripts, bin/esb, tools/) into DIR. scripts/setup.sh
--from-bundle FILE runs it and installs the tools.`)
	fs.StringVarP(&opts.output, "output", "o", "", "bundle file to write")
	fs.StringVar(&opts.projectDir, "project-dir", c.getenv("ESB_PROJECT_DIR"), "ESB checkout to export from (default: found above the current directory; $ESB_PROJECT_DIR)")
	fs.StringVar(&opts.imageTag, "image-tag", "", "tag of the service images to export (default: the checkout's source tag, ESB_IMAGE_TAG of `esb env`)")
	fs.StringVar(&opts.dir, "dir", "", "install: the site directory to write")
	fs.StringVar(&opts.sha256, "sha256", "", "verify, install: the whole file's sha256 as the export printed it; refuse the bundle when it differs")
	fs.StringVar(&opts.signKey, "sign", "", "export: sign the bundle with this ed25519 private key (esb bundle keygen): writes FILE.sig")
	fs.StringVar(&opts.verifyKey, "verify", "", "verify, install: refuse the bundle unless FILE.sig verifies under this ed25519 public key")
	fs.BoolVarP(&opts.verbose, "verbose", "v", false, "show each image as the engine saves or loads it")
	pos, err := parseArgs(fs, args, 0, 2, "verify|install", "FILE")
	if err != nil {
		return err
	}
	if len(pos) > 0 && (pos[0] == "verify" || pos[0] == "install") {
		if len(pos) != 2 {
			return usageError{fmt.Errorf("%s takes one bundle file", pos[0])}
		}
		if opts.output != "" {
			return usageError{fmt.Errorf("-o is for the export, not %s", pos[0])}
		}
		if pos[0] == "verify" {
			_, err := verifyPlatformBundle(c, pos[1], opts.sha256, opts.verifyKey)
			return err
		}
		if opts.dir == "" {
			return usageError{errors.New("install needs --dir DIR (the site directory)")}
		}
		docker, err := newDockerClient()
		if err != nil {
			return err
		}
		defer docker.Close()
		return installPlatformBundle(ctx, c, docker, pos[1], opts)
	}
	if len(pos) > 0 {
		return usageError{fmt.Errorf("unexpected argument %q", pos[0])}
	}
	if opts.output == "" {
		return usageError{errors.New("-o FILE is required (or: verify FILE, install FILE --dir DIR)")}
	}
	dir, err := compose.FindDir(opts.projectDir, c.workdir)
	if err != nil {
		return err
	}
	if opts.imageTag == "" {
		if opts.imageTag, err = compose.ImageTag(dir); err != nil {
			return err
		}
	}
	docker, err := newDockerClient()
	if err != nil {
		return err
	}
	defer docker.Close()
	return exportPlatformBundle(ctx, c, docker, dir, opts)
}

// platformImages are the images a site runs and deploys with: every
// `image:` of the compose files (both modes, the Dagger engine included),
// each runtime's base (esb/lambda-base, what deploys start from), and the
// images those bases are built from (Debian, lambda-rie), so a site can
// build a base again (deploy --no-cache).
func platformImages(dir, tag string) ([]string, error) {
	var refs []string
	files, err := filepath.Glob(filepath.Join(dir, "compose", "*.yml"))
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("no compose files in %s", filepath.Join(dir, "compose"))
	}
	imageLine := regexp.MustCompile(`(?m)^\s+image:\s*(\S+)\s*$`)
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		for _, m := range imageLine.FindAllStringSubmatch(string(data), -1) {
			ref := strings.ReplaceAll(m[1], "${ESB_IMAGE_TAG:-latest}", tag)
			if strings.Contains(ref, "$") {
				return nil, fmt.Errorf("%s: image %s: only ${ESB_IMAGE_TAG:-latest} can be resolved for a bundle", f, m[1])
			}
			refs = append(refs, ref)
		}
	}
	bases, err := lambdaimages.BaseRefs()
	if err != nil {
		return nil, err
	}
	_, from, err := runtimeBases(nil)
	if err != nil {
		return nil, err
	}
	refs = append(refs, bases...)
	refs = append(refs, from...)
	slices.Sort(refs)
	return slices.Compact(refs), nil
}

// bundleTools are binaries a site needs and may not be able to get
// offline, by their name in the bundle's tools/: the Compose v2 plugin
// (built from the Go module proxy otherwise) and just (from npm). Those
// this machine lacks are left out, with a note.
func bundleTools(c *cli) (map[string]string, []string) {
	found := map[string]string{}
	var notes []string
	var plugins []string
	if d := c.getenv("DOCKER_CONFIG"); d != "" {
		plugins = append(plugins, filepath.Join(d, "cli-plugins", "docker-compose"))
	}
	plugins = append(plugins, filepath.Join(c.getenv("HOME"), ".docker", "cli-plugins", "docker-compose"),
		"/usr/local/lib/docker/cli-plugins/docker-compose", "/usr/libexec/docker/cli-plugins/docker-compose", "/usr/lib/docker/cli-plugins/docker-compose")
	for _, p := range plugins {
		if isELF(p) {
			found["docker-compose"] = p
			break
		}
	}
	if found["docker-compose"] == "" {
		notes = append(notes, "no Docker Compose v2 plugin found: the site builds one (needs the Go module proxy)")
	}
	if p, err := exec.LookPath("just"); err == nil {
		if real, err := filepath.EvalSymlinks(p); err == nil {
			p = real
		}
		if isELF(p) {
			found["just"] = p
		} else if m, _ := filepath.Glob(filepath.Join(filepath.Dir(p), "..", "node_modules", "rust-just-linux-*", "bin", "just")); len(m) > 0 && isELF(m[0]) {
			// npm's rust-just: the binary next to its launcher script.
			found["just"] = m[0]
		}
	}
	if found["just"] == "" {
		notes = append(notes, "no just binary found: the site installs it with npm")
	}
	return found, notes
}

func isELF(p string) bool {
	f, err := os.Open(p)
	if err != nil {
		return false
	}
	defer f.Close()
	magic := make([]byte, 4)
	_, err = io.ReadFull(f, magic)
	return err == nil && string(magic) == "\x7fELF"
}

func exportPlatformBundle(ctx context.Context, c *cli, docker bundleImages, dir string, opts bundlePlatformOptions) error {
	start := time.Now()
	refs, err := platformImages(dir, opts.imageTag)
	if err != nil {
		return err
	}
	var missing []string
	for _, ref := range refs {
		if _, err := docker.ImageInspect(ctx, ref); errdefs.IsNotFound(err) {
			missing = append(missing, ref)
		} else if err != nil {
			return fmt.Errorf("inspect %s: %w", ref, err)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("this Docker engine lacks %d of the platform's images:\n  %s\n"+
			"build them first: scripts/setup.sh (Debian, golang, lambda-rie, Dagger engine), `just up` in each mode "+
			"(ESB's service images, tag %s), and a deploy of each runtime (esb/lambda-base; or --image-tag for images built before)",
			len(missing), strings.Join(missing, "\n  "), opts.imageTag)
	}
	self, err := os.Executable()
	if err != nil {
		return fmt.Errorf("find the esb binary to bundle: %w", err)
	}
	tools, notes := bundleTools(c)
	for _, n := range notes {
		fmt.Fprintf(c.stderr, "note: %s\n", n)
	}

	out, err := filepath.Abs(opts.output)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(out), "."+filepath.Base(out)+".*")
	if err != nil {
		return fmt.Errorf("bundle: %w", err)
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	w := platformbundle.NewWriter(tmp, platformbundle.Manifest{
		Created: time.Now(), ESBVersion: buildVersion(), ImageTag: opts.imageTag, Images: refs, Arch: runtime.GOARCH,
	})
	// bin/esb first: setup.sh takes it out with tar before anything else.
	if err := w.AddFile(siteDir+"bin/esb", 0o755, self); err != nil {
		return err
	}
	if err := addSiteFiles(w, dir); err != nil {
		return err
	}
	tag := opts.imageTag + "\n"
	if err := w.Add(siteDir+compose.ImageTagFile, 0o644, int64(len(tag)), strings.NewReader(tag)); err != nil {
		return err
	}
	for _, name := range slices.Sorted(maps.Keys(tools)) {
		if err := w.AddFile(siteDir+"tools/"+name, 0o755, tools[name]); err != nil {
			return err
		}
	}

	// The engine gathers every layer before it sends the first byte: about a
	// minute of silence for the 4 GB of a full bundle.
	fmt.Fprintf(c.stderr, "==> saving %d images (tag %s) from the Docker engine, zstd-compressed (the engine gathers the layers first)\n", len(refs), opts.imageTag)
	if opts.verbose {
		for _, r := range refs {
			fmt.Fprintf(c.stderr, "    %s\n", r)
		}
	}
	raw, err := saveCompressed(ctx, docker, refs, func(pr io.Reader) (int64, error) {
		last := time.Now()
		return w.AddStream(imagesStream, pr, func(written int64) {
			if time.Since(last) > 5*time.Second {
				last = time.Now()
				fmt.Fprintf(c.stderr, "    %s compressed so far (%s)\n", humanBytes(written), time.Since(start).Round(time.Second))
			}
		})
	})
	if err != nil {
		return err
	}
	m, err := w.Close()
	if err != nil {
		return err
	}
	// A file to hand on, not a secret (CreateTemp made it 0600).
	if err := tmp.Chmod(0o644); err != nil {
		return fmt.Errorf("bundle: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("bundle: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("bundle: %w", err)
	}
	// The sum is taken from the file as written, as a site will.
	sum, err := platformbundle.Verify(tmp.Name(), nil)
	if err != nil {
		return fmt.Errorf("bundle written but does not verify: %w", err)
	}
	if err := os.Rename(tmp.Name(), out); err != nil {
		return fmt.Errorf("bundle: %w", err)
	}
	if opts.signKey != "" {
		sig, err := bundle.Sign(out, opts.signKey)
		if err != nil {
			return fmt.Errorf("bundle written, not signed: %w", err)
		}
		fmt.Fprintf(c.stderr, "signed: %s\n", sig)
	}
	fmt.Fprintf(c.stdout, "wrote %s: %s (%d images, %s uncompressed; %d entries) in %s\nsha256 %s\n",
		opts.output, humanBytes(sum.FileSize), len(refs), humanBytes(raw), len(m.Entries), time.Since(start).Round(time.Second), sum.SHA256)
	fmt.Fprintf(c.stdout, "install on a site: scripts/setup.sh --from-bundle %s (ESB_BUNDLE_SHA256=%s checks it is this one)\n", filepath.Base(out), sum.SHA256)
	return nil
}

// saveCompressed streams `docker save` of refs through zstd into write,
// and returns the uncompressed bytes saved.
func saveCompressed(ctx context.Context, docker bundleImages, refs []string, write func(io.Reader) (int64, error)) (int64, error) {
	rc, err := docker.ImageSave(ctx, refs)
	if err != nil {
		return 0, fmt.Errorf("save images: %w", err)
	}
	defer rc.Close()
	pr, pw := io.Pipe()
	raw := &byteCounter{r: rc}
	go func() {
		enc, err := zstd.NewWriter(pw, zstd.WithEncoderLevel(zstd.SpeedDefault), zstd.WithEncoderConcurrency(runtime.NumCPU()))
		if err != nil {
			pw.CloseWithError(err)
			return
		}
		_, err = io.Copy(enc, raw)
		pw.CloseWithError(errors.Join(err, enc.Close()))
	}()
	if _, err := write(pr); err != nil {
		pr.CloseWithError(err)
		return raw.n, fmt.Errorf("save images: %w", err)
	}
	return raw.n, nil
}

type byteCounter struct {
	r io.Reader
	n int64
}

func (b *byteCounter) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	b.n += int64(n)
	return n, err
}

// addSiteFiles adds siteFiles of the checkout dir, keeping the execute
// bit of scripts.
func addSiteFiles(w *platformbundle.Writer, dir string) error {
	for _, glob := range siteFiles() {
		matches, err := filepath.Glob(filepath.Join(dir, filepath.FromSlash(glob)))
		if err != nil {
			return err
		}
		if len(matches) == 0 {
			return fmt.Errorf("site file %s: not in %s", glob, dir)
		}
		for _, p := range matches {
			st, err := os.Stat(p)
			if err != nil {
				return err
			}
			if st.IsDir() {
				continue
			}
			rel, err := filepath.Rel(dir, p)
			if err != nil {
				return err
			}
			mode := int64(0o644)
			if st.Mode()&0o111 != 0 {
				mode = 0o755
			}
			if err := w.AddFile(siteDir+filepath.ToSlash(rel), mode, p); err != nil {
				return err
			}
		}
	}
	return nil
}

// verifyPlatformBundle reads the whole bundle and checks it against its
// manifest and, when given, the sum the export printed and the signature
// beside it (over the sum of the bytes this read checked).
func verifyPlatformBundle(c *cli, file, want, verifyKey string) (platformbundle.Summary, error) {
	start := time.Now()
	st, err := os.Stat(file)
	if err != nil {
		return platformbundle.Summary{}, fmt.Errorf("bundle: %w", err)
	}
	fmt.Fprintf(c.stderr, "==> verifying %s (%s)\n", file, humanBytes(st.Size()))
	sum, err := platformbundle.Verify(file, func(read int64) {
		fmt.Fprintf(c.stderr, "    %s / %s\n", humanBytes(read), humanBytes(st.Size()))
	})
	if err != nil {
		return sum, fmt.Errorf("refused: %w", err)
	}
	if want != "" && !strings.EqualFold(strings.TrimSpace(want), sum.SHA256) {
		return sum, fmt.Errorf("refused: %s has sha256 %s, not the %s it should have", file, sum.SHA256, want)
	}
	if verifyKey != "" {
		digest, err := hex.DecodeString(sum.SHA256)
		if err != nil {
			return sum, fmt.Errorf("refused: sha256 %q: %w", sum.SHA256, err)
		}
		if err := bundle.VerifySignatureSum(file, digest, verifyKey); err != nil {
			return sum, fmt.Errorf("refused: %w", err)
		}
		fmt.Fprintf(c.stderr, "    signature ok (%s)\n", verifyKey)
	} else if _, err := os.Stat(bundle.SignatureFile(file)); err == nil {
		fmt.Fprintf(c.stderr, "warning: %s is not checked: pass --verify PUBKEY (ESB_BUNDLE_PUBKEY for setup.sh)\n", bundle.SignatureFile(file))
	}
	m := sum.Manifest
	fmt.Fprintf(c.stderr, "    ok: %d entries, %d images (tag %s, %s), esb %s, exported %s; sha256 %s (%s)\n",
		len(m.Entries), len(m.Images), m.ImageTag, m.Arch, m.ESBVersion, m.Created.Format(time.RFC3339), sum.SHA256, time.Since(start).Round(time.Millisecond))
	return sum, nil
}

// installPlatformBundle verifies the bundle, then loads its images and
// writes its site files into opts.dir. Nothing is loaded or written before
// the whole bundle verified; the site files are staged next to the site
// directory and moved in only once the second read checked them too.
func installPlatformBundle(ctx context.Context, c *cli, docker bundleImages, file string, opts bundlePlatformOptions) error {
	start := time.Now()
	dir, err := filepath.Abs(opts.dir)
	if err != nil {
		return err
	}
	if err := checkSiteDir(dir); err != nil {
		return err
	}
	sum, err := verifyPlatformBundle(c, file, opts.sha256, opts.verifyKey)
	if err != nil {
		return err
	}
	if sum.Manifest.Arch != runtime.GOARCH {
		return fmt.Errorf("refused: the bundle is for %s, this machine is %s", sum.Manifest.Arch, runtime.GOARCH)
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return err
	}
	stage, err := os.MkdirTemp(filepath.Dir(dir), "."+filepath.Base(dir)+".install-")
	if err != nil {
		return fmt.Errorf("stage site files: %w", err)
	}
	defer os.RemoveAll(stage)

	fmt.Fprintf(c.stderr, "==> loading %d images into the Docker engine\n", len(sum.Manifest.Images))
	loadStart := time.Now()
	pr, pw := io.Pipe()
	loaded := make(chan error, 1)
	go func() {
		err := loadCompressed(ctx, docker, pr, c.stderr, opts.verbose)
		pr.CloseWithError(err) // a failed load stops the read below
		loaded <- err
	}()
	var imageBytes, imageTotal int64
	for _, e := range sum.Manifest.Entries {
		if platformbundle.IsPart(imagesStream, e.Name) {
			imageTotal += e.Size
		}
	}
	last := time.Now()
	err = platformbundle.Each(file, sum, func(e platformbundle.Entry, r io.Reader) error {
		if platformbundle.IsPart(imagesStream, e.Name) {
			n, err := io.Copy(pw, r)
			imageBytes += n
			if time.Since(last) > 10*time.Second {
				last = time.Now()
				fmt.Fprintf(c.stderr, "    %s / %s (%s)\n", humanBytes(imageBytes), humanBytes(imageTotal), time.Since(loadStart).Round(time.Second))
			}
			return err
		}
		rel, ok := strings.CutPrefix(e.Name, siteDir)
		if !ok {
			return fmt.Errorf("bundle entry %s: not a site file nor images", e.Name)
		}
		return stageFile(filepath.Join(stage, filepath.FromSlash(rel)), os.FileMode(e.Mode)&0o755, r)
	})
	pw.CloseWithError(err)
	if lerr := <-loaded; err == nil && lerr != nil {
		err = lerr
	}
	if err != nil {
		return fmt.Errorf("install: %w", err)
	}
	var absent []string
	for _, ref := range sum.Manifest.Images {
		if _, err := docker.ImageInspect(ctx, ref); err != nil {
			absent = append(absent, ref)
		}
	}
	if len(absent) > 0 {
		return fmt.Errorf("install: the engine loaded the bundle but lacks %s", strings.Join(absent, ", "))
	}
	fmt.Fprintf(c.stderr, "    ok: %d images (%s compressed) in %s\n", len(sum.Manifest.Images), humanBytes(imageBytes), time.Since(loadStart).Round(time.Second))

	if err := moveTree(stage, dir); err != nil {
		return fmt.Errorf("install site files into %s: %w", dir, err)
	}
	fmt.Fprintf(c.stderr, "==> site files in %s (image tag %s)\n", dir, sum.Manifest.ImageTag)
	fmt.Fprintf(c.stdout, "installed %s into %s and the Docker engine in %s\n", filepath.Base(file), dir, time.Since(start).Round(time.Second))
	return nil
}

// checkSiteDir refuses a directory that holds something other than an
// earlier site: an install overwrites the files it names.
func checkSiteDir(dir string) error {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) || (err == nil && len(entries) == 0) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("site directory: %w", err)
	}
	if _, err := os.Stat(filepath.Join(dir, filepath.FromSlash(compose.ImageTagFile))); err != nil {
		return fmt.Errorf("%s is not empty and not a site installed from a platform bundle (no %s): choose another --dir", dir, compose.ImageTagFile)
	}
	if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
		return fmt.Errorf("%s is an ESB checkout: install a site into a directory of its own", dir)
	}
	return nil
}

func stageFile(path string, mode os.FileMode, r io.Reader) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode|0o600)
	if err != nil {
		return fmt.Errorf("stage %s: %w", path, err)
	}
	_, werr := io.Copy(f, r)
	if err := errors.Join(werr, f.Close()); err != nil {
		return fmt.Errorf("stage %s: %w", path, err)
	}
	return nil
}

// moveTree moves every file below src to the same place below dst,
// replacing what is there (src and dst are on one filesystem).
func moveTree(src, dst string) error {
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		target := filepath.Join(dst, rel)
		if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
			return err
		}
		return os.Rename(p, target)
	})
}

// loadCompressed decompresses a zstd `docker save` stream into the
// engine's image load and reads the engine's report to its end.
func loadCompressed(ctx context.Context, docker bundleImages, r io.Reader, progress io.Writer, verbose bool) error {
	dec, err := zstd.NewReader(r)
	if err != nil {
		return fmt.Errorf("load images: %w", err)
	}
	defer dec.Close()
	resp, err := docker.ImageLoad(ctx, dec, client.ImageLoadWithQuiet(!verbose))
	if err != nil {
		return fmt.Errorf("load images: %w", err)
	}
	defer resp.Body.Close()
	out := io.Discard
	if verbose {
		out = progress
	}
	if err := jsonmessage.DisplayJSONMessagesStream(resp.Body, out, 0, false, nil); err != nil {
		return fmt.Errorf("load images: %w", err)
	}
	return nil
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.2f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
