//go:build e2e

package e2e

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/esb-dev/esb/internal/agentapi"
	"github.com/esb-dev/esb/internal/confighistory"
	"github.com/esb-dev/esb/internal/deploy"
	"github.com/esb-dev/esb/internal/platform"
	"github.com/esb-dev/esb/internal/runtimeconfig"
)

// TestContainerdMode runs the deploy-first A/B flow in a containerd-mode
// env while a docker-mode env runs the same suite beside it: function
// containers on runtime-node's containerd, reached over its CNI bridge,
// images pulled from registry:5000, and a redeploy under the same tag
// serving the new code (pull-always). Both envs also run history and
// rollback (rollbackFlow) on their deploys, then check the operator
// surfaces (operateFlow): metrics, `esb ls` and the dashboard, then each
// imports, with its Dagger engine stopped, the application bundle the
// other exported (bundleFlow).
func TestContainerdMode(t *testing.T) {
	t.Parallel()
	envs := []struct {
		name   string
		offset int
		mode   string
		tag    string
	}{
		{"ctrd-a", 1100, "containerd", "e2e-ctrd-a"},
		{"ctrd-b", 1200, "docker", "e2e-ctrd-b"},
	}
	stacks := map[string]*stack{}
	for _, e := range envs {
		stacks[e.name] = newModeStack(t, e.name, e.offset, e.mode)
	}
	// Each env imports the bundle the other exported (bundleFlow).
	ctrdSwap, dockerSwap := newBundleSwaps(t, envs[0].tag, envs[1].tag)
	for _, e := range envs {
		t.Run(e.name+"-"+e.mode, func(t *testing.T) {
			t.Parallel()
			s := stacks[e.name]
			// An env that fails before its bundle subtest must not leave
			// the other waiting for a bundle.
			swap := ctrdSwap
			if e.mode == "docker" {
				swap = dockerSwap
			}
			t.Cleanup(func() { swap.give("") })
			if e.mode == "docker" {
				abFlow(t, s, e.tag, othersOf(stacks, e.name), func(t *testing.T) {
					t.Run("history and rollback", func(t *testing.T) {
						rollbackFlow(t, s, `{"version": "B"}`)
					})
					t.Run("operator surfaces", func(t *testing.T) { operateFlow(t, s, "--tag", e.tag) })
					t.Run("bundle export, import into the other mode's env", func(t *testing.T) {
						bundleFlow(t, s, e.tag, swap)
					})
					// Last: its reset and restore leave the env down once
					// the subtest ends (s.up's cleanup is the subtest's).
					t.Run("backup, reset, restore: data and routes identical", func(t *testing.T) {
						backupFlow(t, s, "e2e", "blue")
					})
				})
				return
			}
			containerdFlow(t, s, e.tag, othersOf(stacks, e.name), swap)
		})
	}
}

func containerdFlow(t *testing.T, s *stack, tag string, others []*stack, swap bundleSwap) {
	ctx := t.Context()
	start := time.Now()
	s.up(t)
	t.Logf("containerd env up in %s", time.Since(start).Round(time.Second))
	require.NoError(t, s.registry(t).WaitReady(ctx, deploy.RegistryInterval, deploy.RegistryTimeout))

	t.Run("an empty env warns and serves nothing", func(t *testing.T) {
		assertEmptyEnv(ctx, t, s)
	})

	deployTemplate := func(t *testing.T, template string) esbResult {
		t.Helper()
		began := time.Now()
		res := s.esb(ctx, t, "deploy", "--mode", "containerd", "-t", template, "--tag", tag)
		require.NoError(t, res.err)
		t.Logf("deploy %s in %s", filepath.Base(template), time.Since(began).Round(100*time.Millisecond))
		return res
	}
	a := filepath.Join(s.root, "fixtures", "template-a.yml")
	b := filepath.Join(s.root, "fixtures", "template-b.yml")
	deployTemplate(t, a)
	res := deployTemplate(t, b)
	assert.Contains(t, res.stderr, "pulled 1 images into runtime-node")

	t.Run("B's /hello wins after a hot reload", func(t *testing.T) {
		assert.NoError(t, pollBody(ctx, s.url("PORT_GATEWAY", "/hello"), `{"version": "B"}`, time.Second, 30*time.Second))
	})

	t.Run("functions reach the database through the node", func(t *testing.T) {
		assertItemRoundTrip(ctx, t, s, "ctrd", "green")
		assertABResources(ctx, t, s)
	})

	t.Run("CONFIG_DIR names images as runtime-node pulls them", func(t *testing.T) {
		cfg := s.config(t)
		assert.ElementsMatch(t, []string{"HelloAFunction", "ItemsAFunction", "HelloBFunction"}, keys(cfg.Functions.Functions))
		for name, fn := range cfg.Functions.Functions {
			assert.True(t, strings.HasPrefix(fn.Image, platform.RuntimeRegistryAddr+"/"+s.layout.Env.Project()+"/"), "%s: %s", name, fn.Image)
			assert.True(t, strings.HasSuffix(fn.Image, ":"+tag), "%s: %s", name, fn.Image)
			assert.NotEmpty(t, fn.Digest, name)
		}
		data, err := os.ReadFile(filepath.Join(s.layout.ConfigDir, runtimeconfig.FunctionsFileName))
		require.NoError(t, err)
		for _, o := range others {
			assert.NotContains(t, string(data), o.layout.Env.Project()+"/")
		}
	})

	t.Run("functions run on runtime-node's containerd, not on Docker", func(t *testing.T) {
		tasks, err := s.compose(ctx, "exec", "-T", "runtime-node", "ctr", "-n", s.layout.Env.Brand, "tasks", "ls")
		require.NoError(t, err, tasks)
		assert.Contains(t, tasks, "esb-"+s.layout.Env.Key()+"-fn-HelloBFunction-")
		assert.Contains(t, tasks, "RUNNING")
		list, err := dockerClient(t).ContainerList(ctx, container.ListOptions{All: true, Filters: filters.NewArgs(
			filters.Arg("label", agentapi.LabelEnv+"="+s.layout.Env.Key()))})
		require.NoError(t, err)
		assert.Empty(t, list, "no function container of a containerd env on the host's Docker")
	})

	t.Run("function output reaches the log store", func(t *testing.T) {
		assert.NoError(t, pollLogs(ctx, s, `service:function AND env:`+s.layout.Env.Key()+` AND function:HelloBFunction`, 30*time.Second))
	})

	t.Run("a redeploy under the same tag serves the new code", func(t *testing.T) {
		before := s.config(t).Functions.Functions["HelloBFunction"]
		// The same template and tag, new code that also calls S3 by the
		// platform's name: pull-always must fetch the new digest.
		dir := t.TempDir()
		copyTree(t, filepath.Join(s.root, "fixtures"), dir)
		code := `import json
import os

import boto3


def handler(event, context):
    boto3.client("s3").head_bucket(Bucket=os.environ["BUCKET_NAME"])
    return {
        "statusCode": 200,
        "headers": {"Content-Type": "application/json"},
        "body": json.dumps({"version": "B2", "bucket": os.environ["BUCKET_NAME"]}),
    }
`
		require.NoError(t, os.WriteFile(filepath.Join(dir, "functions", "hello_b", "lambda_function.py"), []byte(code), 0o644))
		res := deployTemplate(t, filepath.Join(dir, "template-b.yml"))
		assert.Contains(t, res.stdout, "changed")

		after := s.config(t).Functions.Functions["HelloBFunction"]
		assert.Equal(t, before.Image, after.Image, "same tag")
		assert.NotEqual(t, before.Digest, after.Digest, "new code, new digest")
		// The deploy reports success only once runtime-node holds the new
		// digest: the first invocation needs no registry round trip.
		images, err := s.compose(ctx, "exec", "-T", "runtime-node", "ctr", "-n", s.layout.Env.Brand, "images", "ls", "-q")
		require.NoError(t, err, images)
		assert.Contains(t, images, "@"+after.Digest)

		assert.NoError(t, pollBody(ctx, s.url("PORT_GATEWAY", "/hello"), `{"version": "B2", "bucket": "uploads-b"}`, time.Second, 30*time.Second))
	})

	t.Run("history and rollback", func(t *testing.T) {
		rollbackFlow(t, s, `{"version": "B2", "bucket": "uploads-b"}`)
		// Generations 2 and 3 run two digests of HelloBFunction under one
		// tag: rolling back to 2 must pull and run the older digest.
		store := confighistory.Store{ConfigDir: s.layout.ConfigDir}
		_, gen2, err := store.Load(2)
		require.NoError(t, err)
		_, gen3, err := store.Load(3)
		require.NoError(t, err)
		older := gen2.Functions.Functions["HelloBFunction"]
		require.NotEqual(t, older.Digest, gen3.Functions.Functions["HelloBFunction"].Digest)
		res := s.esb(ctx, t, "rollback", "--mode", "containerd", "2")
		require.NoError(t, res.err)
		assert.NoError(t, pollBody(ctx, s.url("PORT_GATEWAY", "/hello"), `{"version": "B"}`, time.Second, 30*time.Second))
		assert.Equal(t, older.Digest, s.config(t).Functions.Functions["HelloBFunction"].Digest)
		images, err := s.compose(ctx, "exec", "-T", "runtime-node", "ctr", "-n", s.layout.Env.Brand, "images", "ls", "-q")
		require.NoError(t, err, images)
		assert.Contains(t, images, "@"+older.Digest, "the rollback pulled the older digest into runtime-node")
	})

	t.Run("gateway and agent come back after runtime-node did", func(t *testing.T) {
		nodeRestartFlow(t, s, s.url("PORT_GATEWAY", "/hello"), `{"version": "B"}`)
	})

	t.Run("operator surfaces", func(t *testing.T) { operateFlow(t, s, "--mode", "containerd", "--tag", tag) })

	t.Run("a function whose dependency comes from a wheel directory answers through runtime-node", func(t *testing.T) {
		work := t.TempDir()
		copyTree(t, filepath.Join("testdata", "mirrors"), work)
		wheels := t.TempDir()
		writeWheel(t, wheels, "esb_mirror_dep", "1.0.0", map[string]string{"esb_mirror_dep/__init__.py": "VALUE = \"from-wheel\"\n"})
		res := s.esb(ctx, t, "deploy", "--mode", "containerd", "-t", filepath.Join(work, "template.yml"), "--tag", tag,
			"--wheel-dir", wheels, "--npm-registry", "https://registry.npmjs.org/")
		require.NoError(t, res.err)
		assert.Contains(t, res.stderr, "dependencies: WheelFunction installs py/requirements.txt from wheel directory "+wheels+" (no index)\n")
		assert.Equal(t, `{"dep":"from-wheel"}`, invokeGateway(ctx, t, s, "WheelFunction", `{}`), "the function imports the wheel's package")
		assert.Equal(t, `{"odd":true}`, invokeGateway(ctx, t, s, "RegistryFunction", `{"n": 3}`), "is-odd came from the registry")
	})

	t.Run("bundle export, import into the other mode's env", func(t *testing.T) { bundleFlow(t, s, tag, swap) })

	// Its reset and restore leave the env down once the subtest ends.
	t.Run("backup, reset, restore: data and routes identical", func(t *testing.T) {
		backupFlow(t, s, "ctrd", "green")
	})

	t.Run("reset removes the env's volumes, containerd's included", func(t *testing.T) {
		s.down(t)
		assert.Empty(t, projectVolumes(ctx, t, dockerClient(t), s.layout.Env.Project()))
		require.NoError(t, os.RemoveAll(s.layout.ConfigDir))
	})
}

// nodeRestartFlow checks that the gateway and the agent, which join
// runtime-node's namespaces, come back by themselves when runtime-node
// went away under them, with no function container leaked:
//   - the state a Docker daemon restart can leave (moby issue 50326): the
//     gateway's start found runtime-node down and failed ("cannot join
//     network of a non running container"), which Docker never retries;
//     made here by stopping runtime-node and starting the gateway then;
//   - a crash of runtime-node (SIGKILL), after which the gateway would
//     keep running in the dead node's network namespace.
//
// url must answer want before and after.
func nodeRestartFlow(t *testing.T, s *stack, url, want string) {
	ctx := t.Context()
	docker := dockerClient(t)
	require.NoError(t, pollBody(ctx, url, want, time.Second, 30*time.Second))
	node := serviceContainer(ctx, t, docker, s, "runtime-node")
	gateway := serviceContainer(ctx, t, docker, s, "gateway")

	t.Run("a start that found runtime-node down", func(t *testing.T) {
		grace := 15
		require.NoError(t, docker.ContainerStop(ctx, node, container.StopOptions{Timeout: &grace}))
		require.NoError(t, docker.ContainerStop(ctx, gateway, container.StopOptions{}))
		err := docker.ContainerStart(ctx, gateway, container.StartOptions{})
		require.Error(t, err, "the gateway cannot start while runtime-node is down")
		c, err := docker.ContainerInspect(ctx, gateway)
		require.NoError(t, err)
		require.False(t, c.State.Running)
		t.Logf("gateway: %s, error %q", c.State.Status, c.State.Error)
		began := time.Now()
		require.NoError(t, docker.ContainerStart(ctx, node, container.StartOptions{}))
		assert.NoError(t, pollBody(ctx, url, want, time.Second, 90*time.Second), "the gateway serves again")
		t.Logf("served again %s after runtime-node started", time.Since(began).Round(100*time.Millisecond))
		containers, netns := leaked(ctx, t, s)
		assert.Zero(t, containers, "function containers the agent does not know")
		assert.Zero(t, netns, "function network addresses beyond the containers' and the agent's prepared ones")
	})

	t.Run("a crash of runtime-node", func(t *testing.T) {
		killed := crash(ctx, t, docker, node)
		assert.NoError(t, pollBody(ctx, url, want, time.Second, 90*time.Second), "the gateway serves again")
		t.Logf("served again %s after the kill", time.Since(killed).Round(100*time.Millisecond))
		containers, netns := leaked(ctx, t, s)
		assert.Zero(t, containers, "function containers the agent does not know")
		assert.Zero(t, netns, "function network addresses beyond the containers' and the agent's prepared ones")
	})
}

// pollLogs queries the env's log store until query matches a line, for at
// most limit.
func pollLogs(ctx context.Context, s *stack, query string, limit time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	var last string
	for {
		if resp, err := http.Get(s.url("PORT_LOGS", "/internal/force_flush")); err == nil {
			resp.Body.Close()
		}
		form := url.Values{"query": {query}, "limit": {"1"}}
		resp, err := http.PostForm(s.url("PORT_LOGS", "/select/logsql/query"), form)
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			last = resp.Status + " " + string(body)
			if resp.StatusCode == http.StatusOK && strings.TrimSpace(string(body)) != "" {
				return nil
			}
		} else {
			last = err.Error()
		}
		select {
		case <-ctx.Done():
			return &pollError{url: s.url("PORT_LOGS", "/select/logsql/query?query="+query), want: "a log line", last: last}
		case <-time.After(time.Second):
		}
	}
}
