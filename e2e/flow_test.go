//go:build e2e

package e2e

import (
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/esb-dev/esb/internal/deploy"
	"github.com/esb-dev/esb/internal/runtimeconfig"
)

// TestDeployFirstFlow is the seed's deploy-first scenario on the real
// stack, in two envs at once: each env comes up empty (WARNING, 404),
// deploys template A then B, serves B's /hello without a restart while
// keeping everything A brought, and resets cleanly.
func TestDeployFirstFlow(t *testing.T) {
	t.Parallel()
	envs := []struct {
		name   string
		offset int
		tag    string
	}{
		{"flow-a", 100, "e2e-flow-a"},
		{"flow-b", 200, "e2e-flow-b"},
	}
	stacks := map[string]*stack{}
	for _, e := range envs {
		stacks[e.name] = newStack(t, e.name, e.offset)
	}
	for _, e := range envs {
		t.Run(e.name, func(t *testing.T) {
			t.Parallel()
			s := stacks[e.name]
			abFlow(t, s, e.tag, othersOf(stacks, e.name), nil)
		})
	}
}

// abFlow is the A/B flow in s; beforeReset, when set, runs as a subtest
// while the env still serves both deploys (the reset leaves it down).
func abFlow(t *testing.T, s *stack, tag string, others []*stack, beforeReset func(t *testing.T)) {
	ctx := t.Context()
	s.up(t)
	// The runner's own readiness wait, right after the infra is up: the
	// contract's 1 s interval and 60 s limit.
	require.NoError(t, s.registry(t).WaitReady(ctx, deploy.RegistryInterval, deploy.RegistryTimeout))

	t.Run("an empty env warns and serves nothing", func(t *testing.T) {
		assertEmptyEnv(ctx, t, s)
	})

	a := filepath.Join(s.root, "fixtures", "template-a.yml")
	b := filepath.Join(s.root, "fixtures", "template-b.yml")
	// esb deploy returns once the gateway serves what it wrote: the very
	// next request sees each deploy, with no polling.
	served := func(t *testing.T, template, want string) {
		t.Helper()
		res := s.esb(ctx, t, "deploy", "-t", template, "--tag", tag)
		require.NoError(t, res.err)
		assertServedAtOnce(ctx, t, s, res, want)
	}
	served(t, a, `{"version": "A"}`)

	t.Run("B's /hello wins after a hot reload, at once", func(t *testing.T) {
		served(t, b, `{"version": "B"}`)
	})

	t.Run("nothing A brought was deleted", func(t *testing.T) {
		assertItemRoundTrip(ctx, t, s, "e2e", "blue")
		assertABResources(ctx, t, s)
	})

	t.Run("CONFIG_DIR holds the union, one /hello pointing at B", func(t *testing.T) {
		cfg := s.config(t)
		assert.ElementsMatch(t, []string{"HelloAFunction", "ItemsAFunction", "HelloBFunction"}, keys(cfg.Functions.Functions))
		var hello []runtimeconfig.Route
		for _, r := range cfg.Routing.Routes {
			if r.Path == "/hello" {
				hello = append(hello, r)
			}
		}
		require.Len(t, hello, 1)
		assert.Equal(t, "HelloBFunction", hello[0].Function)
		assert.Equal(t, "GET", hello[0].Method)
		assert.Len(t, cfg.Routing.Routes, 3)
		for name, fn := range cfg.Functions.Functions {
			assert.True(t, strings.HasPrefix(fn.Image, s.layout.RegistryAddr()+"/"+s.layout.Env.Project()+"/"), "%s: %s", name, fn.Image)
			assert.True(t, strings.HasSuffix(fn.Image, ":"+tag), "%s: %s", name, fn.Image)
		}
	})

	t.Run("the other env's functions are not here", func(t *testing.T) {
		data, err := os.ReadFile(filepath.Join(s.layout.ConfigDir, runtimeconfig.FunctionsFileName))
		require.NoError(t, err)
		for _, o := range others {
			assert.NotContains(t, string(data), o.layout.RegistryAddr())
			assert.NotContains(t, string(data), o.layout.Env.Project()+"/")
			assert.NotEqual(t, s.layout.ConfigDir, o.layout.ConfigDir)
		}
	})

	if beforeReset != nil {
		t.Run("before the reset", beforeReset)
	}

	t.Run("reset starts clean, and a deploy right after up succeeds", func(t *testing.T) {
		docker := dockerClient(t)
		s.down(t) // down --volumes, with CONFIG_DIR set as always
		assert.Empty(t, projectVolumes(ctx, t, docker, s.layout.Env.Project()))
		require.NoError(t, os.RemoveAll(s.layout.ConfigDir))

		s.up(t)
		assertEmptyEnv(ctx, t, s)
		for _, name := range runtimeconfig.FileNames {
			assert.FileExists(t, filepath.Join(s.layout.ConfigDir, name), "seeded")
		}

		// The seed's race: a push right after `up` returned, before the
		// registry listens. Deploy waits for /v2/ itself.
		s.down(t)
		require.NoError(t, os.RemoveAll(s.layout.ConfigDir))
		s.start(t) // no --wait
		require.NoError(t, s.esb(ctx, t, "deploy", "-t", b, "--tag", tag).err)
		assert.NoError(t, pollBody(ctx, s.url("PORT_GATEWAY", "/hello"), `{"version": "B"}`, time.Second, 30*time.Second))
	})
}

// assertItemRoundTrip stores an item through template A's PUT /items/{id}
// and reads it back through GET: A's function and table serve.
func assertItemRoundTrip(ctx context.Context, t *testing.T, s *stack, id, color string) {
	t.Helper()
	put, err := http.NewRequestWithContext(ctx, http.MethodPut, s.url("PORT_GATEWAY", "/items/"+id), strings.NewReader(`{"color": "`+color+`"}`))
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(put)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode, "PUT into A's table")
	get, err := http.Get(s.url("PORT_GATEWAY", "/items/"+id))
	require.NoError(t, err)
	body, err := io.ReadAll(get.Body)
	get.Body.Close()
	require.NoError(t, err)
	assert.Equal(t, http.StatusOK, get.StatusCode)
	assert.JSONEq(t, `{"color": "`+color+`", "id": "`+id+`"}`, string(body))
}

// assertABResources checks that A's table and B's bucket both exist.
func assertABResources(ctx context.Context, t *testing.T, s *stack) {
	t.Helper()
	_, err := s.dynamoDB().DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String("items-a")})
	assert.NoError(t, err, "A's table")
	_, err = s.s3().HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String("uploads-b")})
	assert.NoError(t, err, "B's bucket")
}

// assertEmptyEnv checks the never-deployed state: the gateway logged the
// seed WARNING and /hello is 404.
func assertEmptyEnv(ctx context.Context, t *testing.T, s *stack) {
	t.Helper()
	require.NoError(t, waitHTTP(ctx, s.url("PORT_GATEWAY", "/health"), http.StatusOK, time.Second))
	logs, err := s.compose(ctx, "logs", "--no-color", "gateway")
	require.NoError(t, err)
	assert.Contains(t, logs, runtimeconfig.NoConfigWarning)
	assert.Contains(t, logs, "WARNING: No runtime config found. Using empty config. Deploy required.")
	resp, err := http.Get(s.url("PORT_GATEWAY", "/hello"))
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusNotFound, resp.StatusCode)
}

// assertServedAtOnce checks that a command which switched CONFIG_DIR
// (deploy, rollback) returned only once the gateway served the new set:
// it says so, and the very next request to /hello answers want.
func assertServedAtOnce(ctx context.Context, t *testing.T, s *stack, res esbResult, want string) {
	t.Helper()
	assert.Regexp(t, `\[ok\] serve: gateway serves it \(generation \d+\) after \d+\.\ds`, res.stderr)
	body, err := fetchText(ctx, s.url("PORT_GATEWAY", "/hello"))
	require.NoError(t, err)
	assert.Equal(t, want, body, "the first request after the command")
}

// pollBody GETs url every interval until the body equals want, for at most
// limit: the hot-reload wait of the contract, never a fixed sleep.
func pollBody(ctx context.Context, url, want string, interval, limit time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	var last string
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		if resp, err := http.DefaultClient.Do(req); err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			last = resp.Status + " " + string(body)
			if string(body) == want {
				return nil
			}
		} else {
			last = err.Error()
		}
		select {
		case <-ctx.Done():
			return &pollError{url: url, want: want, last: last}
		case <-time.After(interval):
		}
	}
}

type pollError struct{ url, want, last string }

func (e *pollError) Error() string {
	return "GET " + e.url + ": want " + e.want + ", last answer: " + e.last
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}
