package runtimeconfig

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// Environment of a re-executed test binary acting as a deploy process.
const (
	childModeEnv = "ESB_TEST_MERGE_CHILD" // "once" or "loop"
	childDirEnv  = "ESB_TEST_CONFIG_DIR"
	childNameEnv = "ESB_TEST_FUNCTION"
)

// childReady is printed by a looping child once its first merge is on disk;
// it then waits for a line on stdin before looping. Releasing all children
// together matters: flock waiters poll, so a child already looping would
// starve one still trying to get through its first merge.
const childReady = "merged"

// TestMain lets the multi-process tests re-execute this test binary as a
// separate deploy process: with childModeEnv set it merges instead of
// running tests.
func TestMain(m *testing.M) {
	if mode := os.Getenv(childModeEnv); mode != "" {
		os.Exit(runChild(mode, os.Getenv(childDirEnv), os.Getenv(childNameEnv)))
	}
	os.Exit(m.Run())
}

func runChild(mode, dir, name string) int {
	// A child has no test context; the parent ends it by exit or SIGKILL.
	ctx := context.Background()
	switch mode {
	case "once":
		if _, err := MergeInto(ctx, dir, deployOf(name, 0), MergeOptions{}); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		return 0
	case "loop":
		for gen := 0; ; gen++ {
			if _, err := MergeInto(ctx, dir, deployOf(name, gen), MergeOptions{}); err != nil {
				fmt.Fprintln(os.Stderr, err)
				return 1
			}
			if gen == 0 {
				fmt.Println(childReady)
				if _, err := bufio.NewReader(os.Stdin).ReadString('\n'); err != nil {
					fmt.Fprintln(os.Stderr, err)
					return 1
				}
			}
		}
	default:
		fmt.Fprintf(os.Stderr, "unknown %s %q\n", childModeEnv, mode)
		return 2
	}
}

// deployOf is one deploy bringing function name, its route and a table.
// gen changes every file, so a looping child rewrites all three each time.
func deployOf(name string, gen int) Config {
	c := Empty()
	c.Functions.Functions[name] = Function{
		Image:  "127.0.0.1:5010/test/" + name + ":latest",
		Digest: "sha256:" + strconv.Itoa(gen),
	}
	c.Routing.Routes = []Route{{Path: "/" + name, Method: "GET", Function: name, Payload: PayloadV2, Stage: strconv.Itoa(gen)}}
	c.Resources.Resources.DynamoDB = []DynamoDBTable{{
		TableName: name,
		KeySchema: []KeySchemaElement{{AttributeName: "id", KeyType: "HASH"}},
		Extra:     map[string]any{"x_gen": gen},
	}}
	return c
}

// copyFixture copies testdata/<from>/*.yml into dir.
func copyFixture(t *testing.T, from, dir string) {
	t.Helper()
	for _, name := range FileNames {
		data, err := os.ReadFile(filepath.Join("testdata", from, name))
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), data, 0o644))
	}
}

// snapshot returns every file of dir by name (through the links of a dir
// in the generation layout, whose internals it skips), to prove a failed
// call left dir untouched.
func snapshot(t *testing.T, dir string) map[string]string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	out := make(map[string]string, len(entries))
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "..") {
			continue
		}
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		require.NoError(t, err)
		out[e.Name()] = string(data)
	}
	return out
}

func fn(image string) Function { return Function{Image: image} }

func route(path, method, function string) Route {
	return Route{Path: path, Method: method, Function: function, Payload: PayloadV1}
}
