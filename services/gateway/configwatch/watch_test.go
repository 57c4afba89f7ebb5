package configwatch

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/esb-dev/esb/internal/runtimeconfig"
	"github.com/esb-dev/esb/services/gateway/logwait"
)

const (
	functionsYML = "functions:\n  F:\n    image: img/f\n"
	resourcesYML = "resources: {}\n"
)

func routingYML(paths ...string) string {
	s := "routes:\n"
	for _, p := range paths {
		s += fmt.Sprintf("  - {path: %s, method: GET, function: F, payload: \"1.0\"}\n", p)
	}
	return s
}

// writeAtomic replaces a file the way deploys do: temp file, then rename.
func writeAtomic(t *testing.T, dir, name, content string) {
	t.Helper()
	tmp := filepath.Join(dir, name+".tmp")
	require.NoError(t, os.WriteFile(tmp, []byte(content), 0o644))
	require.NoError(t, os.Rename(tmp, filepath.Join(dir, name)))
}

// fixture is a config dir with a running watcher whose Initial config is
// what the dir held at start.
type fixture struct {
	dir string
	w   *Watcher
	log *logwait.Recorder
}

func start(t *testing.T, opts Options) *fixture {
	t.Helper()
	dir := t.TempDir()
	writeAtomic(t, dir, runtimeconfig.FunctionsFileName, functionsYML)
	writeAtomic(t, dir, runtimeconfig.RoutingFileName, routingYML("/a"))
	writeAtomic(t, dir, runtimeconfig.ResourcesFileName, resourcesYML)
	initial, err := runtimeconfig.Load(dir)
	require.NoError(t, err)
	rec, log := logwait.New()
	opts.Initial, opts.Logger = &initial, log
	if opts.Interval == 0 {
		opts.Interval = time.Hour // file events only, unless a test polls
	}
	if opts.Settle == 0 {
		opts.Settle = 5 * time.Millisecond
	}
	w := New(dir, opts)
	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	wg.Go(func() { assert.NoError(t, w.Run(ctx)) })
	t.Cleanup(func() { cancel(); wg.Wait() })
	// The start-up read of an unchanged dir ends in "unchanged": from here
	// on, every record is caused by the test.
	rec.Wait(t, "runtime config unchanged", 1)
	return &fixture{dir: dir, w: w, log: rec}
}

func paths(s Snapshot) []string {
	var out []string
	for _, r := range s.Config.Routing.Routes {
		out = append(out, r.Path)
	}
	return out
}

// noticeModes are the two ways a watcher notices a change, for tests that
// must pass with either alone.
func noticeModes() []struct {
	name string
	opts Options
} {
	return []struct {
		name string
		opts Options
	}{
		{name: "file events"},
		{name: "polling backstop", opts: Options{PollOnly: true, Interval: 5 * time.Millisecond}},
	}
}

func TestWatcherRenameOver(t *testing.T) {
	for _, tt := range noticeModes() {
		t.Run(tt.name, func(t *testing.T) {
			f := start(t, tt.opts)
			writeAtomic(t, f.dir, runtimeconfig.RoutingFileName, routingYML("/a", "/b"))
			snap := <-f.w.Snapshots()
			assert.Equal(t, []string{"/a", "/b"}, paths(snap))
			assert.Contains(t, string(snap.Files.Routing), "/b", "raw bytes travel with the snapshot")
		})
	}
}

// A deploy makes a new generation current by swapping the ..data link; the
// root names are links that do not change. Both ways of noticing must see
// it, including the first deploy into a dir of plain files.
func TestWatcherGenerationSwap(t *testing.T) {
	for _, tt := range noticeModes() {
		t.Run(tt.name, func(t *testing.T) {
			f := start(t, tt.opts)
			for i, path := range []string{"/b", "/c"} {
				deploy := runtimeconfig.Empty()
				deploy.Routing.Routes = []runtimeconfig.Route{{Path: path, Method: "GET", Function: "F", Payload: runtimeconfig.PayloadV1}}
				_, err := runtimeconfig.MergeInto(t.Context(), f.dir, deploy, runtimeconfig.MergeOptions{})
				require.NoError(t, err)
				snap := <-f.w.Snapshots()
				assert.Contains(t, paths(snap), path, "deploy %d", i)
			}
			target, err := os.Readlink(filepath.Join(f.dir, runtimeconfig.RoutingFileName))
			require.NoError(t, err)
			assert.Equal(t, filepath.Join("..data", runtimeconfig.RoutingFileName), target)
		})
	}
}

func TestWatcherPartialWrite(t *testing.T) {
	f := start(t, Options{}) // default retries: the completion lands during one, or triggers its own read
	full := routingYML("/a", "/b")
	// A writer that does not rename: the file is truncated and half written
	// when the watcher reads it.
	require.NoError(t, os.WriteFile(filepath.Join(f.dir, runtimeconfig.RoutingFileName), []byte(full[:len(full)-12]), 0o644))
	f.log.Wait(t, "not readable yet; retrying", 1)
	require.NoError(t, os.WriteFile(filepath.Join(f.dir, runtimeconfig.RoutingFileName), []byte(full), 0o644))
	snap := <-f.w.Snapshots()
	assert.Equal(t, []string{"/a", "/b"}, paths(snap), "the first snapshot is the completed file")
}

func TestWatcherMalformedKeepsPrevious(t *testing.T) {
	f := start(t, Options{Retries: []time.Duration{time.Millisecond, time.Millisecond}})
	bad := "routes:\n  - path: /a\n    method: FETCH\n    function: F\n    payload: \"1.0\"\n"
	writeAtomic(t, f.dir, runtimeconfig.RoutingFileName, bad)
	rec := f.log.Wait(t, "runtime config rejected; keeping the previous config", 1)
	assert.Equal(t, []string{`routing.yml:3:5: routes[0].method: unsupported method "FETCH"`}, rec.Attrs["problems"])
	assert.Equal(t, 2, f.log.Count("not readable yet; retrying"), "retried before giving up")
	assert.Empty(t, f.w.Snapshots(), "nothing sent: the previous config stays live")

	writeAtomic(t, f.dir, runtimeconfig.RoutingFileName, routingYML("/fixed"))
	assert.Equal(t, []string{"/fixed"}, paths(<-f.w.Snapshots()))
}

func TestWatcherInconsistentSnapshotRejected(t *testing.T) {
	f := start(t, Options{Retries: []time.Duration{}})
	writeAtomic(t, f.dir, runtimeconfig.RoutingFileName, "routes:\n  - {path: /x, method: GET, function: Missing, payload: \"1.0\"}\n")
	rec := f.log.Wait(t, "runtime config rejected", 1)
	assert.Equal(t, []string{`routing.yml:2:29: routes[0].function: unknown function "Missing" (not in functions.yml)`}, rec.Attrs["problems"])
	assert.Empty(t, f.w.Snapshots())
}

func TestWatcherFileDeleted(t *testing.T) {
	f := start(t, Options{Retries: []time.Duration{time.Millisecond}})
	require.NoError(t, os.Remove(filepath.Join(f.dir, runtimeconfig.RoutingFileName)))
	rec := f.log.Wait(t, "runtime config rejected; keeping the previous config", 1)
	assert.Equal(t, []string{"routing.yml: file missing"}, rec.Attrs["problems"])
	assert.Empty(t, f.w.Snapshots())

	writeAtomic(t, f.dir, runtimeconfig.RoutingFileName, routingYML("/a"))
	f.log.Wait(t, "runtime config unchanged", 2)
	assert.Empty(t, f.w.Snapshots(), "restoring the same content is no change")
}

func TestWatcherBurstIsOneSnapshot(t *testing.T) {
	// A settle window far longer than three renames take makes the burst
	// land in one read; it bounds nothing the test asserts.
	f := start(t, Options{Settle: 300 * time.Millisecond})
	writeAtomic(t, f.dir, runtimeconfig.FunctionsFileName, functionsYML+"  G:\n    image: img/g\n")
	writeAtomic(t, f.dir, runtimeconfig.RoutingFileName, routingYML("/a", "/b")+"  - {path: /g, method: GET, function: G, payload: \"2.0\"}\n")
	writeAtomic(t, f.dir, runtimeconfig.ResourcesFileName, "resources:\n  s3: [{BucketName: uploads}]\n")

	snap := <-f.w.Snapshots()
	assert.Equal(t, []string{"/a", "/b", "/g"}, paths(snap))
	assert.Len(t, snap.Config.Functions.Functions, 2)
	assert.Len(t, snap.Config.Resources.Resources.S3, 1)

	// A later change is the next snapshot: nothing of the burst was read
	// on its own in between.
	writeAtomic(t, f.dir, runtimeconfig.RoutingFileName, routingYML("/after"))
	assert.Equal(t, []string{"/after"}, paths(<-f.w.Snapshots()))
	second := f.log.Wait(t, "runtime config snapshot ready", 2)
	assert.EqualValues(t, 1, second.Attrs["routes"], "the second snapshot sent is the later change")
}

func TestWatcherUnchangedContentIsNotSent(t *testing.T) {
	tests := []struct {
		name    string
		content string
	}{
		{name: "same bytes rewritten", content: routingYML("/a")},
		{name: "same config, other formatting", content: "routes:\n  - path: /a\n    method: GET\n    function: F\n    payload: '1.0'\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := start(t, Options{})
			writeAtomic(t, f.dir, runtimeconfig.RoutingFileName, tt.content)
			f.log.Wait(t, "runtime config unchanged", 2)
			assert.Empty(t, f.w.Snapshots())
		})
	}
}

func TestWatcherReadsAtStart(t *testing.T) {
	dir := t.TempDir()
	writeAtomic(t, dir, runtimeconfig.FunctionsFileName, functionsYML)
	writeAtomic(t, dir, runtimeconfig.RoutingFileName, routingYML("/a"))
	writeAtomic(t, dir, runtimeconfig.ResourcesFileName, resourcesYML)
	stale := runtimeconfig.Empty() // what the consumer had before a deploy landed
	w := New(dir, Options{Initial: &stale, Interval: time.Hour})
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	go func() { _ = w.Run(ctx) }()
	assert.Equal(t, []string{"/a"}, paths(<-w.Snapshots()))
}

func TestSnapshotsKeepOnlyTheLatest(t *testing.T) {
	f := start(t, Options{})
	// Nobody consumes: the second snapshot replaces the first.
	writeAtomic(t, f.dir, runtimeconfig.RoutingFileName, routingYML("/one"))
	f.log.Wait(t, "runtime config snapshot ready", 1)
	writeAtomic(t, f.dir, runtimeconfig.RoutingFileName, routingYML("/two"))
	f.log.Wait(t, "runtime config snapshot ready", 2)
	assert.Equal(t, []string{"/two"}, paths(<-f.w.Snapshots()))
	assert.Empty(t, f.w.Snapshots())
}
