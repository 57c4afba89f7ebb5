package runtimeconfig

import (
	"bufio"
	"bytes"
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

// TestMergeIntoSurvivesSIGKILL kills deploy processes at random points of a
// merge loop. Whatever the moment, the three files must parse and validate
// afterwards, and a stale .tmp file must not get in the way of the next
// merge.
func TestMergeIntoSurvivesSIGKILL(t *testing.T) {
	const iterations, children = 10, 2
	dir := filepath.Join(t.TempDir(), "config")
	staleTmp := 0

	for iter := range iterations {
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
			require.NoError(t, err, "iteration %d child %d never got through a merge: %s", iter, c, ch.stderr)
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
			require.ErrorAs(t, err, &exitErr, "iteration %d child %d exited by itself: %s", iter, c, ch.stderr)
		}

		got, err := Load(dir)
		require.NoError(t, err, "iteration %d: config broken after SIGKILL", iter)
		for c := range children {
			assert.Contains(t, got.Functions.Functions, fmt.Sprintf("crash%d", c))
		}
		for _, name := range FileNames {
			if _, err := os.Stat(filepath.Join(dir, name+".tmp")); err == nil {
				staleTmp++
			}
		}
	}
	t.Logf("stale .tmp files seen after kills: %d", staleTmp)

	_, err := MergeInto(t.Context(), dir, deployOf("after", 0), MergeOptions{})
	require.NoError(t, err)
	got, err := Load(dir)
	require.NoError(t, err)
	assert.Contains(t, got.Functions.Functions, "after")
}
