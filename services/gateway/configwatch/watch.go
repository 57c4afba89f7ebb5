// Package configwatch watches CONFIG_DIR and produces complete snapshots of
// the runtime config: the three files read together, decoded and
// validated. It never touches what the gateway serves; the consumer of the
// snapshots decides what to do with them.
//
// A change is noticed two ways: file events on the directory (deploys
// make a new generation current by renaming a link over ..data, and a watch
// on a file itself would end with a rename), and
// polling the files' mtime and size every Interval, because some bind
// mounts never deliver events. Changes that arrive in a burst (a deploy
// writes three files) are read once, after Settle of quiet.
package configwatch

import (
	"context"
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/esb-dev/esb/internal/atomicdir"
	"github.com/esb-dev/esb/internal/runtimeconfig"
)

// Defaults for the zero values of Options.
const (
	DefaultInterval  = time.Second
	DefaultSettle    = 100 * time.Millisecond
	DefaultMaxSettle = time.Second
)

// MinInterval is the shortest poll interval allowed (CONFIG_RELOAD_INTERVAL).
const MinInterval = 500 * time.Millisecond

// DefaultRetries is the backoff between reads of a snapshot that did not
// decode: a writer that does not replace files atomically is usually done
// within a few hundred milliseconds.
func DefaultRetries() []time.Duration {
	return []time.Duration{50 * time.Millisecond, 100 * time.Millisecond, 200 * time.Millisecond}
}

// Snapshot is one complete, validated runtime config. It is shared with the
// consumer and must not be modified.
type Snapshot struct {
	Config runtimeconfig.Config
	// Files are the bytes Config was decoded from, so a consumer that finds
	// a problem of its own can point at the line.
	Files  runtimeconfig.Files
	ReadAt time.Time
}

// Options tunes a Watcher. The zero value is ready to use.
type Options struct {
	Interval  time.Duration   // poll interval; DefaultInterval when zero
	Settle    time.Duration   // quiet time after a change before reading; DefaultSettle when zero
	MaxSettle time.Duration   // a steady stream of changes is read at least this often; DefaultMaxSettle when zero
	Retries   []time.Duration // waits between reads of a bad snapshot; DefaultRetries when nil
	// Initial is the config the consumer already serves: a snapshot equal to
	// it is not sent.
	Initial *runtimeconfig.Config
	// PollOnly skips file events, for file systems known to drop them.
	PollOnly bool
	// OnRejected, when set, is called for each snapshot that did not
	// decode or validate (the consumer keeps what it serves).
	OnRejected func(problems []string)
	Logger     *slog.Logger // nil discards
}

// Watcher watches one config dir.
type Watcher struct {
	dir  string
	opts Options
	out  chan Snapshot
	last *runtimeconfig.Config
}

// New returns a Watcher of dir. Run starts it.
func New(dir string, opts Options) *Watcher {
	if opts.Interval <= 0 {
		opts.Interval = DefaultInterval
	}
	if opts.Settle <= 0 {
		opts.Settle = DefaultSettle
	}
	if opts.MaxSettle <= 0 {
		opts.MaxSettle = DefaultMaxSettle
	}
	if opts.Retries == nil {
		opts.Retries = DefaultRetries()
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &Watcher{dir: dir, opts: opts, out: make(chan Snapshot, 1), last: opts.Initial}
}

// Snapshots delivers new configs. It holds at most one: when the consumer
// is behind, an older pending snapshot is replaced by the newer one, so the
// consumer always gets the latest and skips what is already stale.
func (w *Watcher) Snapshots() <-chan Snapshot { return w.out }

// Run watches until ctx ends. It reads the dir once at start, since the
// files may have changed after the Initial config was read. It returns nil
// when ctx ends; a dir whose events cannot be watched falls back to
// polling, with a warning.
func (w *Watcher) Run(ctx context.Context) error {
	log := w.opts.Logger
	events, errs, rewatch, closeWatch := w.watch()
	defer closeWatch()

	ticker := time.NewTicker(w.opts.Interval)
	defer ticker.Stop()
	settle := time.NewTimer(0)
	defer settle.Stop()
	pending := true
	var firstChange time.Time
	arm := func() {
		now := time.Now()
		if !pending {
			pending, firstChange = true, now
		}
		wait := w.opts.Settle
		if limit := firstChange.Add(w.opts.MaxSettle).Sub(now); wait > limit {
			wait = max(limit, 0)
		}
		settle.Reset(wait)
	}
	sig := w.signature()
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-events:
			if !ok {
				events = nil
				continue
			}
			if ev.Name == w.dir && ev.Has(fsnotify.Remove|fsnotify.Rename) {
				log.Warn("runtime config: config dir was removed or renamed; polling until it is back", "dir", w.dir)
				events, errs = nil, nil
				continue
			}
			if w.relevant(ev.Name) {
				arm()
			}
		case err, ok := <-errs:
			if !ok {
				errs = nil
				continue
			}
			log.Warn("runtime config: file event error; polling continues", "dir", w.dir, "error", err.Error())
		case <-ticker.C:
			if events == nil {
				events, errs = rewatch()
			}
			if s := w.signature(); s != sig {
				arm()
			}
		case <-settle.C:
			pending = false
			// Taken before reading: a change made while we read shows up as
			// a difference on the next tick instead of being absorbed.
			sig = w.signature()
			w.reload(ctx)
		}
	}
}

// watch sets up file events on the dir. rewatch tries again after the dir
// came back; both return nil channels when events are unavailable.
func (w *Watcher) watch() (events <-chan fsnotify.Event, errs <-chan error, rewatch func() (<-chan fsnotify.Event, <-chan error), closeWatch func()) {
	log := w.opts.Logger
	if w.opts.PollOnly {
		return nil, nil, func() (<-chan fsnotify.Event, <-chan error) { return nil, nil }, func() {}
	}
	fsw, err := fsnotify.NewWatcher()
	if err != nil {
		log.Warn("runtime config: file events unavailable; polling only", "dir", w.dir, "error", err.Error())
		return nil, nil, func() (<-chan fsnotify.Event, <-chan error) { return nil, nil }, func() {}
	}
	add := func() (<-chan fsnotify.Event, <-chan error) {
		if err := fsw.Add(w.dir); err != nil {
			return nil, nil
		}
		return fsw.Events, fsw.Errors
	}
	events, errs = add()
	if events == nil {
		log.Warn("runtime config: cannot watch config dir; polling only until it can", "dir", w.dir)
	}
	return events, errs, add, func() { _ = fsw.Close() } // closing only releases the inotify handle
}

// relevant reports whether an event names one of the three config files
// or the link whose swap makes a new generation of them current.
func (w *Watcher) relevant(name string) bool {
	base := filepath.Base(name)
	if base == atomicdir.DataLink {
		return true
	}
	for _, n := range runtimeconfig.FileNames {
		if base == n {
			return true
		}
	}
	return false
}

// fileSig is what polling compares: a file's mtime and size, or its absence.
type fileSig struct {
	exists  bool
	modTime time.Time
	size    int64
}

// signature is the poll's view of the dir: the generation ..data names
// (two merges within one mtime tick still differ) and each file as read
// through its link.
type signature struct {
	generation string
	files      [len(runtimeconfig.FileNames)]fileSig
}

func (w *Watcher) signature() signature {
	var s signature
	s.generation, _ = os.Readlink(filepath.Join(w.dir, atomicdir.DataLink)) // absent in a dir of the old layout
	for i, name := range runtimeconfig.FileNames {
		fi, err := os.Stat(filepath.Join(w.dir, name))
		if err != nil {
			continue
		}
		s.files[i] = fileSig{exists: true, modTime: fi.ModTime(), size: fi.Size()}
	}
	return s
}

// reload reads a snapshot and sends it unless it is bad or unchanged.
func (w *Watcher) reload(ctx context.Context) {
	log := w.opts.Logger
	snap, err := w.read(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return
		}
		problems := Problems(err)
		log.Error("runtime config rejected; keeping the previous config", "dir", w.dir, "problems", problems)
		if w.opts.OnRejected != nil {
			w.opts.OnRejected(problems)
		}
		return
	}
	if w.last != nil && reflect.DeepEqual(*w.last, snap.Config) {
		log.Debug("runtime config unchanged", "dir", w.dir)
		return
	}
	w.last = &snap.Config
	// One producer: after draining a stale pending snapshot the send
	// cannot block.
	select {
	case w.out <- snap:
	default:
		select {
		case <-w.out:
		default:
		}
		w.out <- snap
	}
	log.Info("runtime config snapshot ready", "dir", w.dir,
		"functions", len(snap.Config.Functions.Functions), "routes", len(snap.Config.Routing.Routes))
}

// read reads, decodes and validates the three files, retrying a bad result
// after each of the Retries waits.
func (w *Watcher) read(ctx context.Context) (Snapshot, error) {
	for attempt := 0; ; attempt++ {
		files, err := runtimeconfig.ReadFiles(w.dir)
		if err == nil {
			var cfg runtimeconfig.Config
			cfg, err = runtimeconfig.Decode(files)
			if err == nil {
				return Snapshot{Config: cfg, Files: files, ReadAt: time.Now()}, nil
			}
		}
		if attempt >= len(w.opts.Retries) {
			return Snapshot{}, err
		}
		wait := w.opts.Retries[attempt]
		w.opts.Logger.Info("runtime config not readable yet; retrying", "dir", w.dir, "attempt", attempt+1, "retry_in", wait.String(), "problems", Problems(err))
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return Snapshot{}, ctx.Err()
		case <-t.C:
		}
	}
}

// Problems lists the single problems of a (joined) config error, each as
// "file:line:col: field: message" where runtimeconfig knows the position,
// for a log line that names every one.
func Problems(err error) []string {
	if err == nil {
		return nil
	}
	// Only a join at the top is split: a FieldError's own cause stays part
	// of its message.
	if joined, ok := err.(interface{ Unwrap() []error }); ok {
		var out []string
		for _, e := range joined.Unwrap() {
			out = append(out, Problems(e)...)
		}
		return out
	}
	var pe *fs.PathError
	if errors.As(err, &pe) && errors.Is(err, fs.ErrNotExist) {
		return []string{filepath.Base(pe.Path) + ": file missing"}
	}
	return []string{err.Error()}
}
