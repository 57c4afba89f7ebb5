// Package confighistory keeps an env's config generations: every
// successful deploy or rollback records the whole config set it made
// current (functions.yml, routing.yml, resources.yml), the image digests
// those files name and the template it came from, so an earlier set can be
// made current again without a rebuild.
//
//	CONFIG_DIR/.history/000007/functions.yml   the three files, as written
//	CONFIG_DIR/.history/000007/routing.yml
//	CONFIG_DIR/.history/000007/resources.yml
//	CONFIG_DIR/.history/000007/generation.json what, when, from which
//	                                           template, checksums
//	CONFIG_DIR/.history/images.txt             repository@digest of every
//	                                           image a retained generation names
//
// The history lives inside CONFIG_DIR, so resetting an env (deleting
// CONFIG_DIR) resets its history too: a generation whose images went with
// the registry's volume must not be offered. Services ignore it (they read
// the three names only). Writers hold the env's deploy lock
// (runtimeconfig.Lock) for the whole of a record: generation numbers are
// taken under it and never reused. A generation dir appears by one rename,
// so a crash leaves either no generation or a whole one.
package confighistory

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/distribution/reference"

	"github.com/esb-dev/esb/internal/atomicdir"
	"github.com/esb-dev/esb/internal/runtimeconfig"
)

// DefaultKeep is how many generations a history keeps when Store.Keep is
// zero: enough to step back through a day of deploys, few enough that the
// images they pin do not fill the registry.
const DefaultKeep = 10

// Kinds of generation.
const (
	KindDeploy   = "deploy"
	KindRollback = "rollback"
	// KindRestore is the set esb restore made current in a new env.
	KindRestore = "restore"
	// KindImport is the set esb bundle import merged in, built elsewhere.
	KindImport = "import"
)

const (
	dirName    = ".history"
	metaName   = "generation.json"
	imagesName = "images.txt"
	tmpPrefix  = ".tmp-"
)

// ErrNotFound is wrapped when a generation is not in the history.
var ErrNotFound = errors.New("no such generation")

// ErrCorrupt is wrapped when a generation's files do not match its record.
var ErrCorrupt = errors.New("generation is corrupt")

// Dir is the history of the env whose CONFIG_DIR is configDir.
func Dir(configDir string) string {
	return filepath.Join(configDir, dirName)
}

// ImagesFile is the file listing, one "repository@digest" a line, every
// image a retained generation of the env names. It is rewritten on every
// record, so registry garbage collection can keep what a rollback needs
// without reading the history itself (Referenced is the same list, read
// from the generations).
func ImagesFile(configDir string) string {
	return filepath.Join(Dir(configDir), imagesName)
}

// Generation is the record of one config set.
type Generation struct {
	Number int       `json:"generation"`
	Time   time.Time `json:"time"`
	Kind   string    `json:"kind"` // KindDeploy or KindRollback
	// Template is the deploy's template path; a rollback carries its
	// target's.
	Template     string `json:"template,omitempty"`
	TemplateHash string `json:"template_sha256,omitempty"`
	// RollbackOf is the generation a rollback made current again.
	RollbackOf int `json:"rollback_of,omitempty"`
	// Changed are functions added or changed against the set that was
	// current before; Removed are functions it no longer has.
	Changed []string `json:"changed"`
	Removed []string `json:"removed"`
	Images  []Image  `json:"images"`
	// Files are the sha256 (hex) of the three files, by name.
	Files map[string]string `json:"files"`
}

// Action is the generation's kind for people: "deploy", "restore", or
// "rollback to N".
func (g Generation) Action() string {
	if g.Kind == KindRollback {
		return fmt.Sprintf("rollback to %d", g.RollbackOf)
	}
	return g.Kind
}

// Image is one function's image in a generation.
type Image struct {
	Function string `json:"function"`
	Image    string `json:"image"`
	Digest   string `json:"digest"`
}

// Store is the history of one env.
type Store struct {
	ConfigDir string
	// Keep is how many generations to keep (DefaultKeep when zero); older
	// ones are removed by Record.
	Keep int
}

func (s Store) dir() string { return Dir(s.ConfigDir) }

func (s Store) keep() int {
	if s.Keep <= 0 {
		return DefaultKeep
	}
	return s.Keep
}

// Entry is what Record is told about a config set just made current.
type Entry struct {
	Kind         string
	Template     string
	TemplateHash string
	RollbackOf   int
	Config       runtimeconfig.Config // the set now current
	Previous     runtimeconfig.Config // the set it replaced
	Time         time.Time
}

// Record writes e as the next generation, removes generations beyond
// Keep and rewrites the images file. The caller holds the env's deploy
// lock. Failing to remove old generations or to rewrite the images file
// is not an error of the record: it comes back as a warning, since the
// generation itself is safe on disk.
func (s Store) Record(e Entry) (Generation, []string, error) {
	dir := s.dir()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return Generation{}, nil, fmt.Errorf("create history %s: %w", dir, err)
	}
	numbers, err := s.numbers()
	if err != nil {
		return Generation{}, nil, err
	}
	removeStale(dir)
	g := Generation{
		Number:       1,
		Time:         e.Time.UTC(),
		Kind:         e.Kind,
		Template:     e.Template,
		TemplateHash: e.TemplateHash,
		RollbackOf:   e.RollbackOf,
	}
	if g.Time.IsZero() {
		g.Time = time.Now().UTC()
	}
	if len(numbers) > 0 {
		g.Number = numbers[len(numbers)-1] + 1
	}
	g.Changed, g.Removed = diff(e.Previous, e.Config)
	if g, err = s.write(g, e.Config); err != nil {
		return Generation{}, nil, err
	}
	var warnings []string
	if err := s.prune(append(numbers, g.Number)); err != nil {
		warnings = append(warnings, err.Error())
	}
	if err := s.writeImages(); err != nil {
		warnings = append(warnings, err.Error())
	}
	return g, warnings, nil
}

// Import writes g, a generation of another env's history, with cfg as
// its config set (its image names already rewritten for this env): its
// number, time, kind, template and changes are kept, its checksums and
// images are those of cfg. A number the history has already is refused.
// The caller holds the env's deploy lock; Import does not prune (the
// imported history keeps the length it had).
func (s Store) Import(g Generation, cfg runtimeconfig.Config) (Generation, error) {
	if err := os.MkdirAll(s.dir(), 0o755); err != nil {
		return Generation{}, fmt.Errorf("create history %s: %w", s.dir(), err)
	}
	if _, err := os.Stat(filepath.Join(s.dir(), genName(g.Number))); err == nil {
		return Generation{}, fmt.Errorf("generation %d: already in %s", g.Number, s.dir())
	}
	g, err := s.write(g, cfg)
	if err != nil {
		return Generation{}, err
	}
	return g, s.writeImages()
}

// write fills in g's checksums and images from cfg and writes it as
// generation g.Number, whole or not at all.
func (s Store) write(g Generation, cfg runtimeconfig.Config) (Generation, error) {
	if g.Number < 1 {
		return Generation{}, fmt.Errorf("generation number %d: want 1 or more", g.Number)
	}
	files, err := runtimeconfig.Marshal(cfg)
	if err != nil {
		return Generation{}, err
	}
	g.Images = images(cfg)
	g.Files = map[string]string{}
	out := map[string][]byte{}
	for _, name := range runtimeconfig.FileNames {
		data := files.Get(name)
		sum := sha256.Sum256(data)
		g.Files[name] = hex.EncodeToString(sum[:])
		out[name] = data
	}
	meta, err := json.MarshalIndent(g, "", "  ")
	if err != nil {
		return Generation{}, fmt.Errorf("encode generation %d: %w", g.Number, err)
	}
	out[metaName] = append(meta, '\n')
	if err := writeDir(s.dir(), genName(g.Number), out); err != nil {
		return Generation{}, err
	}
	return g, nil
}

// Listed is one generation of List: its record, or why it cannot be read.
type Listed struct {
	Number int
	Generation
	Err error
	// Current says the set is what CONFIG_DIR holds now (the newest
	// generation whose files match it).
	Current bool
}

// List returns every generation on disk, oldest first. A generation that
// cannot be read is listed with its error, not left out.
func (s Store) List() ([]Listed, error) {
	numbers, err := s.numbers()
	if err != nil {
		return nil, err
	}
	now := currentHashes(s.ConfigDir)
	out := make([]Listed, 0, len(numbers))
	currentSeen := false
	for i := len(numbers) - 1; i >= 0; i-- {
		n := numbers[i]
		g, _, err := s.Load(n)
		l := Listed{Number: n, Generation: g, Err: err}
		if err == nil && !currentSeen && now != nil && maps.Equal(now, g.Files) {
			l.Current, currentSeen = true, true
		}
		out = append(out, l)
	}
	slices.Reverse(out)
	return out, nil
}

// Load reads generation n and checks it: its record must decode, its
// files must match the record's checksums and make a valid config. An
// error wraps ErrNotFound or ErrCorrupt.
func (s Store) Load(n int) (Generation, runtimeconfig.Config, error) {
	dir := filepath.Join(s.dir(), genName(n))
	meta, err := os.ReadFile(filepath.Join(dir, metaName))
	if errors.Is(err, fs.ErrNotExist) {
		if _, serr := os.Stat(dir); serr == nil {
			return Generation{}, runtimeconfig.Config{}, fmt.Errorf("generation %d: %s missing: %w", n, metaName, ErrCorrupt)
		}
		return Generation{}, runtimeconfig.Config{}, fmt.Errorf("generation %d in %s: %w", n, s.dir(), ErrNotFound)
	}
	if err != nil {
		return Generation{}, runtimeconfig.Config{}, fmt.Errorf("generation %d: %w", n, err)
	}
	var g Generation
	if err := json.Unmarshal(meta, &g); err != nil {
		return Generation{}, runtimeconfig.Config{}, fmt.Errorf("generation %d: %s: %w: %w", n, filepath.Join(dir, metaName), ErrCorrupt, err)
	}
	if g.Number != n {
		return Generation{}, runtimeconfig.Config{}, fmt.Errorf("generation %d: its record says generation %d: %w", n, g.Number, ErrCorrupt)
	}
	byName := map[string][]byte{}
	for _, name := range runtimeconfig.FileNames {
		data, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			return g, runtimeconfig.Config{}, fmt.Errorf("generation %d: %w: %w", n, ErrCorrupt, err)
		}
		sum := sha256.Sum256(data)
		if want := g.Files[name]; want != hex.EncodeToString(sum[:]) {
			return g, runtimeconfig.Config{}, fmt.Errorf("generation %d: %s does not match its checksum (recorded %q): %w", n, filepath.Join(dir, name), want, ErrCorrupt)
		}
		byName[name] = data
	}
	files := runtimeconfig.Files{
		Functions: byName[runtimeconfig.FunctionsFileName],
		Routing:   byName[runtimeconfig.RoutingFileName],
		Resources: byName[runtimeconfig.ResourcesFileName],
	}
	cfg, err := runtimeconfig.Decode(files)
	if err != nil {
		return g, runtimeconfig.Config{}, fmt.Errorf("generation %d: %w: %w", n, ErrCorrupt, err)
	}
	if err := cfg.Validate(); err != nil {
		return g, runtimeconfig.Config{}, fmt.Errorf("generation %d: %w: %w", n, ErrCorrupt, err)
	}
	return g, cfg, nil
}

// Previous is the generation recorded before the newest one: what a
// rollback without a generation number goes back to.
func (s Store) Previous() (int, error) {
	numbers, err := s.numbers()
	if err != nil {
		return 0, err
	}
	if len(numbers) < 2 {
		return 0, fmt.Errorf("history %s has %d generations: nothing earlier to roll back to", s.dir(), len(numbers))
	}
	return numbers[len(numbers)-2], nil
}

// Referenced lists, sorted and once each, the images ("repository@digest",
// the registry path without its host) the retained generations name:
// what registry garbage collection must keep (and keep tagged, if it
// deletes untagged manifests) so a rollback finds its images. A
// generation that cannot be read is an error, since what it pins is
// unknown; a collector must then delete nothing.
func Referenced(configDir string) ([]string, error) {
	s := Store{ConfigDir: configDir}
	numbers, err := s.numbers()
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	for _, n := range numbers {
		g, _, err := s.Load(n)
		if err != nil {
			return nil, fmt.Errorf("images the history pins: %w", err)
		}
		for _, img := range g.Images {
			if ref := repoDigest(img); ref != "" {
				seen[ref] = true
			}
		}
	}
	return slices.Sorted(maps.Keys(seen)), nil
}

// writeImages rewrites the images file from the retained generations.
func (s Store) writeImages() error {
	refs, err := Referenced(s.ConfigDir)
	if err != nil {
		return fmt.Errorf("%s not rewritten: %w", ImagesFile(s.ConfigDir), err)
	}
	data := strings.Join(refs, "\n")
	if data != "" {
		data += "\n"
	}
	tmp := ImagesFile(s.ConfigDir) + ".tmp"
	if err := os.Remove(tmp); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove stale %s: %w", tmp, err)
	}
	if err := atomicdir.WriteNew(tmp, []byte(data)); err != nil {
		return err
	}
	if err := os.Rename(tmp, ImagesFile(s.ConfigDir)); err != nil {
		return fmt.Errorf("rewrite %s: %w", ImagesFile(s.ConfigDir), err)
	}
	return atomicdir.SyncDir(s.dir())
}

// prune removes the oldest generations beyond Keep.
func (s Store) prune(numbers []int) error {
	slices.Sort(numbers)
	var errs []error
	for len(numbers) > s.keep() {
		if err := os.RemoveAll(filepath.Join(s.dir(), genName(numbers[0]))); err != nil {
			errs = append(errs, fmt.Errorf("remove old generation %d: %w", numbers[0], err))
		}
		numbers = numbers[1:]
	}
	return errors.Join(errs...)
}

// numbers lists the generation numbers on disk, ascending.
func (s Store) numbers() ([]int, error) {
	entries, err := os.ReadDir(s.dir())
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read history %s: %w", s.dir(), err)
	}
	var out []int
	for _, e := range entries {
		if !e.IsDir() || strings.HasPrefix(e.Name(), tmpPrefix) {
			continue
		}
		if n, err := strconv.Atoi(e.Name()); err == nil && n > 0 {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return out, nil
}

// removeStale removes what a record that crashed before its rename left;
// the caller holds the lock, so no record is under way. A failure only
// leaves litter behind.
func removeStale(dir string) {
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), tmpPrefix) {
			_ = os.RemoveAll(filepath.Join(dir, e.Name()))
		}
	}
}

func genName(n int) string { return fmt.Sprintf("%06d", n) }

// images lists the functions' images with a digest, by function name.
func images(cfg runtimeconfig.Config) []Image {
	var out []Image
	for _, name := range slices.Sorted(maps.Keys(cfg.Functions.Functions)) {
		f := cfg.Functions.Functions[name]
		if f.Digest == "" {
			continue
		}
		out = append(out, Image{Function: name, Image: f.Image, Digest: f.Digest})
	}
	return out
}

// repoDigest is img as "repository@digest", the registry's own path.
func repoDigest(img Image) string {
	named, err := reference.ParseNormalizedNamed(img.Image)
	if err != nil {
		return ""
	}
	return reference.Path(named) + "@" + img.Digest
}

// diff names the functions of next that prev lacks or has otherwise, and
// those of prev that next lacks.
func diff(prev, next runtimeconfig.Config) (changed, removed []string) {
	changed, removed = []string{}, []string{}
	for _, name := range slices.Sorted(maps.Keys(next.Functions.Functions)) {
		old, ok := prev.Functions.Functions[name]
		if !ok || !reflect.DeepEqual(old, next.Functions.Functions[name]) {
			changed = append(changed, name)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(prev.Functions.Functions)) {
		if _, ok := next.Functions.Functions[name]; !ok {
			removed = append(removed, name)
		}
	}
	return changed, removed
}

// currentHashes are the sha256 of CONFIG_DIR's files now; nil when they
// cannot be read.
func currentHashes(configDir string) map[string]string {
	files, err := atomicdir.Read(configDir, runtimeconfig.FileNames[:])
	if err != nil {
		return nil
	}
	out := map[string]string{}
	for name, data := range files {
		sum := sha256.Sum256(data)
		out[name] = hex.EncodeToString(sum[:])
	}
	return out
}

// writeDir writes files into a new dir under parent and renames it to
// name, so the generation appears whole or not at all.
func writeDir(parent, name string, files map[string][]byte) error {
	tmp, err := os.MkdirTemp(parent, tmpPrefix+name+"-")
	if err != nil {
		return fmt.Errorf("record generation in %s: %w", parent, err)
	}
	fail := func(err error) error { return errors.Join(err, os.RemoveAll(tmp)) }
	if err := os.Chmod(tmp, 0o755); err != nil {
		return fail(fmt.Errorf("chmod %s: %w", tmp, err))
	}
	for n, data := range files {
		if err := atomicdir.WriteNew(filepath.Join(tmp, n), data); err != nil {
			return fail(err)
		}
	}
	if err := atomicdir.SyncDir(tmp); err != nil {
		return fail(err)
	}
	if err := os.Rename(tmp, filepath.Join(parent, name)); err != nil {
		return fail(fmt.Errorf("record generation %s: %w", name, err))
	}
	return atomicdir.SyncDir(parent)
}
