package runtimeconfig

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// childCmd re-executes the test binary as a deploy process (see TestMain).
func childCmd(t *testing.T, mode, dir, name string) *exec.Cmd {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childModeEnv+"="+mode, childDirEnv+"="+dir, childNameEnv+"="+name)
	return cmd
}

// readerStats is what the concurrent reader saw.
type readerStats struct {
	reads int
	errs  []error
}

// readUntil loads dir in a loop until stop is closed, as the gateway's
// watcher does, and reports every load that failed. It reads once more
// after stop, so there is at least one read.
func readUntil(dir string, stop <-chan struct{}) readerStats {
	var st readerStats
	for {
		select {
		case <-stop:
			return st
		default:
		}
		st.reads++
		if _, err := Load(dir); err != nil && len(st.errs) < 10 {
			st.errs = append(st.errs, err)
		}
	}
}

// TestMergeIntoConcurrent has 50 goroutines and 8 separate processes each
// merge their own function, route and table into one CONFIG_DIR while a
// reader keeps loading it. The lock must serialise them all (nothing lost),
// and the reader must only ever see complete, valid files.
func TestMergeIntoConcurrent(t *testing.T) {
	const goroutines, processes = 50, 8
	dir := filepath.Join(t.TempDir(), "config")
	_, err := Seed(t.Context(), dir, "", SeedOptions{}) // the reader needs files from the start
	require.NoError(t, err)

	stop := make(chan struct{})
	reader := make(chan readerStats, 1)
	go func() { reader <- readUntil(dir, stop) }()

	var names []string
	cmds := make([]*exec.Cmd, processes)
	outs := make([]*bytes.Buffer, processes)
	for i := range processes {
		name := fmt.Sprintf("proc%d", i)
		names = append(names, name)
		cmds[i] = childCmd(t, "once", dir, name)
		outs[i] = new(bytes.Buffer)
		cmds[i].Stdout, cmds[i].Stderr = outs[i], outs[i]
		require.NoError(t, cmds[i].Start())
	}

	start := make(chan struct{})
	errs := make([]error, goroutines)
	var wg sync.WaitGroup
	for i := range goroutines {
		name := fmt.Sprintf("goroutine%02d", i)
		names = append(names, name)
		wg.Go(func() {
			<-start
			_, errs[i] = MergeInto(t.Context(), dir, deployOf(name, 0), MergeOptions{})
		})
	}
	close(start)
	wg.Wait()
	for i, cmd := range cmds {
		assert.NoError(t, cmd.Wait(), "child %d: %s", i, outs[i])
	}
	close(stop)
	seen := <-reader

	for i, err := range errs {
		assert.NoError(t, err, "goroutine %d", i)
	}
	assert.Positive(t, seen.reads)
	assert.Empty(t, seen.errs, "the reader saw a partial or invalid config")
	t.Logf("reader loaded the config %d times during the merges", seen.reads)

	got, err := Load(dir)
	require.NoError(t, err)
	require.Len(t, names, goroutines+processes)
	assert.Len(t, got.Functions.Functions, len(names))
	assert.Len(t, got.Routing.Routes, len(names))
	assert.Len(t, got.Resources.Resources.DynamoDB, len(names))
	paths := make(map[string]bool, len(got.Routing.Routes))
	for _, r := range got.Routing.Routes {
		paths[r.Path] = true
	}
	for _, name := range names {
		assert.Contains(t, got.Functions.Functions, name)
		assert.True(t, paths["/"+name], "route of %s missing", name)
	}
}

// crashRounds is how many times TestMergeIntoSurvivesSIGKILL kills the
// deploy processes; `just unit` runs the default, a soak run more
// (go test -run SIGKILL -crash.rounds 1000 ./internal/runtimeconfig).
var crashRounds = flag.Int("crash.rounds", 50, "rounds of TestMergeIntoSurvivesSIGKILL")

// mixedSet returns a description of the first function whose three files
// come from different merges: each deployOf(name, gen) stamps gen into the
// function's digest, its route's stage and its table. "" means the set is
// whole.
func mixedSet(c Config) string {
	routes := map[string]string{}
	for _, r := range c.Routing.Routes {
		routes[r.Function] = r.Stage
	}
	tables := map[string]string{}
	for _, tb := range c.Resources.Resources.DynamoDB {
		tables[tb.TableName] = fmt.Sprint(tb.Extra["x_gen"])
	}
	for name, f := range c.Functions.Functions {
		digest := strings.TrimPrefix(f.Digest, "sha256:")
		if routes[name] != digest || tables[name] != digest {
			return fmt.Sprintf("%s: functions.yml gen %s, routing.yml gen %q, resources.yml gen %q", name, digest, routes[name], tables[name])
		}
	}
	if len(routes) != len(c.Functions.Functions) || len(tables) != len(c.Functions.Functions) {
		return fmt.Sprintf("%d functions, %d routes, %d tables", len(c.Functions.Functions), len(routes), len(tables))
	}
	return ""
}

// TestMergeIntoSurvivesSIGKILL is the crash test of atomic config sets:
// deploy processes merge in a loop and are SIGKILLed at random points while
// a reader loads the dir continuously, as the gateway does. The reader must
// never see a mixed set (files of different merges together); after every
// kill the gateway's start (Seed, then Load) must succeed with a whole set,
// and the next deploy must merge.
func TestMergeIntoSurvivesSIGKILL(t *testing.T) {
	const children = 2
	dir := filepath.Join(t.TempDir(), "config")
	_, err := Seed(t.Context(), dir, "", SeedOptions{})
	require.NoError(t, err)

	stop := make(chan struct{})
	type verdict struct {
		reads, mixed int
		first        string
		errs         []error
	}
	reader := make(chan verdict, 1)
	go func() {
		var v verdict
		for {
			select {
			case <-stop:
				reader <- v
				return
			default:
			}
			c, err := Load(dir)
			v.reads++
			if err != nil {
				if len(v.errs) < 10 {
					v.errs = append(v.errs, err)
				}
				continue
			}
			if m := mixedSet(c); m != "" {
				if v.mixed == 0 {
					v.first = fmt.Sprintf("read %d: %s", v.reads, m)
				}
				v.mixed++
			}
		}
	}()
	defer func() {
		select {
		case <-stop:
		default:
			close(stop)
		}
	}()

	for round := range *crashRounds {
		type child struct {
			cmd    *exec.Cmd
			stdin  io.WriteCloser
			stdout *bufio.Reader
			stderr *bytes.Buffer
		}
		running := make([]child, children)
		for c := range running {
			cmd := childCmd(t, "loop", dir, fmt.Sprintf("crash%d", c))
			stdin, err := cmd.StdinPipe()
			require.NoError(t, err)
			stdout, err := cmd.StdoutPipe()
			require.NoError(t, err)
			stderr := new(bytes.Buffer)
			cmd.Stderr = stderr
			require.NoError(t, cmd.Start())
			running[c] = child{cmd: cmd, stdin: stdin, stdout: bufio.NewReader(stdout), stderr: stderr}
		}
		// Wait for each child's signal that its first merge is done, then
		// let them all loop, so the kill lands inside the merge loop rather
		// than at start-up.
		for c, ch := range running {
			line, err := ch.stdout.ReadString('\n')
			require.NoError(t, err, "round %d child %d never got through a merge: %s", round, c, ch.stderr)
			require.Equal(t, childReady, strings.TrimSpace(line))
		}
		for _, ch := range running {
			_, err := io.WriteString(ch.stdin, "go\n")
			require.NoError(t, err)
		}

		// The one sleep of the suite: a random delay is the point of the test.
		time.Sleep(rand.N(20 * time.Millisecond))
		for c, ch := range running {
			require.NoError(t, ch.cmd.Process.Kill())
			err := ch.cmd.Wait()
			var exitErr *exec.ExitError
			require.ErrorAs(t, err, &exitErr, "round %d child %d exited by itself: %s", round, c, ch.stderr)
		}

		// The gateway starts: the lock is free and the set is whole.
		seeded, err := Seed(t.Context(), dir, "", SeedOptions{Lock: LockOptions{Timeout: 5 * time.Second}})
		require.NoError(t, err, "round %d: the gateway would not start", round)
		assert.Empty(t, seeded.Copied, "round %d: nothing to re-seed", round)
		assert.Empty(t, seeded.Created, "round %d: nothing to re-seed", round)
		got, err := Load(dir)
		require.NoError(t, err, "round %d: config broken after SIGKILL", round)
		require.Empty(t, mixedSet(got), "round %d: mixed set after SIGKILL", round)
		for c := range children {
			assert.Contains(t, got.Functions.Functions, fmt.Sprintf("crash%d", c))
		}
		// The next deploy merges.
		_, err = MergeInto(t.Context(), dir, deployOf(fmt.Sprintf("after%d", round%3), round), MergeOptions{})
		require.NoError(t, err, "round %d: the next deploy failed", round)
	}
	close(stop)
	v := <-reader
	t.Logf("%d rounds of SIGKILL, %d loads by the reader: %d mixed sets, %d failed loads", *crashRounds, v.reads, v.mixed, len(v.errs))
	assert.Zero(t, v.mixed, "the reader saw a mixed set, first: %s", v.first)
	assert.Empty(t, v.errs, "the reader saw a broken config")

	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	gens := 0
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "..gen") {
			gens++
		}
	}
	assert.Equal(t, 1, gens, "crashed writers' generations are pruned by the next merge")
}
