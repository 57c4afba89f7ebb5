//go:build e2e

package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"dagger.io/dagger"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"
	"github.com/docker/docker/pkg/jsonmessage"
	"github.com/esb-dev/esb/internal/registryauth"
	"github.com/esb-dev/esb/pipeline"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestPlatformSmoke brings up the infrastructure of a throwaway env and
// proves each service with its own protocol, then tears it down and checks
// the volumes are gone.
func TestPlatformSmoke(t *testing.T) {
	t.Parallel()
	s := newStack(t, "smoke", 900)
	docker := dockerClient(t)
	ctx := t.Context()
	nonce := fmt.Sprintf("%d", time.Now().UnixNano())

	t.Run("compose requires CONFIG_DIR for up and down", func(t *testing.T) {
		// Project given by -p: compose must load the files and fail.
		bare := withoutVar(withoutVar(s.env, "CONFIG_DIR"), "COMPOSE_PROJECT_NAME")
		for _, verb := range []string{"up", "down"} {
			out, err := composeWith(ctx, s.root, bare, "-p", s.layout.Env.Project(), "-f", "docker-compose.yml", verb, "--dry-run")
			require.Error(t, err, "%s without CONFIG_DIR must fail:\n%s", verb, out)
			assert.Contains(t, out, "CONFIG_DIR is not set", verb)
		}
		// With COMPOSE_PROJECT_NAME exported (as `esb env` does), `up` still
		// refuses; `down` falls back to compose's label-driven teardown,
		// which the reset subtest below proves still removes the volumes.
		out, err := composeWith(ctx, s.root, withoutVar(s.env, "CONFIG_DIR"), "up", "--dry-run")
		require.Error(t, err, out)
		assert.Contains(t, out, "CONFIG_DIR is not set")
	})

	s.up(t)

	t.Run("ports bind to loopback only", func(t *testing.T) {
		out, err := s.compose(ctx, "ps", "--format", "{{.Service}} {{.Ports}}")
		require.NoError(t, err, out)
		for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
			if strings.Contains(line, "->") {
				assert.NotContains(t, line, "0.0.0.0:", line)
				assert.Contains(t, line, "127.0.0.1:", line)
			}
		}
	})

	t.Run("s3", func(t *testing.T) {
		api := s.s3()
		bucket := "smoke-" + nonce
		_, err := api.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: &bucket})
		require.NoError(t, err)
		_, err = api.PutObject(ctx, &s3.PutObjectInput{Bucket: &bucket, Key: aws.String("k/hello.txt"), Body: strings.NewReader("hello " + nonce)})
		require.NoError(t, err)
		got, err := api.GetObject(ctx, &s3.GetObjectInput{Bucket: &bucket, Key: aws.String("k/hello.txt")})
		require.NoError(t, err)
		body, err := io.ReadAll(got.Body)
		got.Body.Close()
		require.NoError(t, err)
		assert.Equal(t, "hello "+nonce, string(body))

		_, err = api.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("no-such-" + nonce), Key: aws.String("x")})
		assert.ErrorContains(t, err, "NoSuchBucket")
	})

	t.Run("dynamodb", func(t *testing.T) {
		api := s.dynamoDB()
		table := "smoke-" + nonce
		_, err := api.CreateTable(ctx, &dynamodb.CreateTableInput{
			TableName:            &table,
			BillingMode:          ddbtypes.BillingModePayPerRequest,
			KeySchema:            []ddbtypes.KeySchemaElement{{AttributeName: aws.String("id"), KeyType: ddbtypes.KeyTypeHash}},
			AttributeDefinitions: []ddbtypes.AttributeDefinition{{AttributeName: aws.String("id"), AttributeType: ddbtypes.ScalarAttributeTypeS}},
		})
		require.NoError(t, err)
		require.NoError(t, dynamodb.NewTableExistsWaiter(api).Wait(ctx, &dynamodb.DescribeTableInput{TableName: &table}, time.Minute))
		_, err = api.PutItem(ctx, &dynamodb.PutItemInput{TableName: &table, Item: map[string]ddbtypes.AttributeValue{
			"id":    &ddbtypes.AttributeValueMemberS{Value: "k1"},
			"nonce": &ddbtypes.AttributeValueMemberS{Value: nonce},
		}})
		require.NoError(t, err)
		got, err := api.GetItem(ctx, &dynamodb.GetItemInput{TableName: &table, ConsistentRead: aws.Bool(true), Key: map[string]ddbtypes.AttributeValue{
			"id": &ddbtypes.AttributeValueMemberS{Value: "k1"},
		}})
		require.NoError(t, err)
		require.Contains(t, got.Item, "nonce")
		assert.Equal(t, nonce, got.Item["nonce"].(*ddbtypes.AttributeValueMemberS).Value)
	})

	t.Run("logs", func(t *testing.T) {
		line := fmt.Sprintf(`{"service":"smoke","message":"smoke line %s","_time":%q}`+"\n", nonce, time.Now().UTC().Format(time.RFC3339Nano))
		resp, err := http.Post(s.url("PORT_LOGS", "/insert/jsonline?_stream_fields=service&_msg_field=message"), "application/stream+json", strings.NewReader(line))
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode)

		// Flush and query until the row is visible; ingestion is asynchronous.
		wctx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		q := s.url("PORT_LOGS", "/select/logsql/query?query="+url.QueryEscape(`service:smoke "`+nonce+`"`))
		var rows []map[string]string
		for len(rows) == 0 {
			flush, err := http.Get(s.url("PORT_LOGS", "/internal/force_flush"))
			require.NoError(t, err)
			flush.Body.Close()
			rows = queryLogs(t, q)
			if len(rows) == 0 {
				select {
				case <-wctx.Done():
					t.Fatalf("log line never became visible: %v", wctx.Err())
				case <-time.After(200 * time.Millisecond):
				}
			}
		}
		require.Len(t, rows, 1)
		assert.Equal(t, "smoke line "+nonce, rows[0]["_msg"])
		assert.Equal(t, "smoke", rows[0]["service"])
	})

	registry := s.layout.RegistryAddr()

	t.Run("registry push and pull", func(t *testing.T) {
		ref := registry + "/smoke/base:" + nonce
		require.NoError(t, docker.ImageTag(ctx, "debian:bookworm-slim", ref))
		t.Cleanup(func() { removeImage(docker, ref) })
		pushDigest := pushImage(ctx, t, docker, ref, s.registryAuth(t))
		_, err := docker.ImageRemove(ctx, ref, image.RemoveOptions{})
		require.NoError(t, err)
		pullImage(ctx, t, docker, ref, s.registryAuth(t))
		inspect, err := docker.ImageInspect(ctx, ref)
		require.NoError(t, err)
		assert.Contains(t, inspect.RepoDigests, registry+"/smoke/base@"+pushDigest)
	})

	t.Run("dagger builds from a mirrored base, publishes and exports", func(t *testing.T) {
		// The engine resolves docker.io refs through the env's registry: seed
		// it with the base the way deploy does on an air-gapped site.
		mirrored := registry + "/library/debian:bookworm-slim"
		require.NoError(t, docker.ImageTag(ctx, "debian:bookworm-slim", mirrored))
		t.Cleanup(func() { removeImage(docker, mirrored) })
		pushImage(ctx, t, docker, mirrored, s.registryAuth(t))

		useDaggerCLI(t)
		var logs bytes.Buffer
		dag, err := dagger.Connect(ctx, dagger.WithRunnerHost("unix://"+s.layout.DaggerSocket()), dagger.WithLogOutput(&logs))
		require.NoError(t, err, "connect to the env's dagger engine:\n%s", logs.String())
		defer dag.Close()
		require.NoError(t, pipeline.Authorize(ctx, dag, &pipeline.RegistryAuth{
			Address: registry, Username: registryauth.Username, Password: dag.SetSecret("smoke-registry", s.registryAuth(t).Password),
		}))

		ctr := dag.Container().
			From("debian:bookworm-slim").
			WithNewFile("/smoke/nonce.txt", nonce).
			WithExec([]string{"sh", "-c", `. /etc/os-release && echo "$VERSION_CODENAME $(cat /smoke/nonce.txt)" > /smoke/out.txt`})
		published, err := ctr.Publish(ctx, registry+"/smoke/dagger:"+nonce)
		require.NoError(t, err, logs.String())
		assert.True(t, strings.HasPrefix(published, registry+"/smoke/dagger:"+nonce+"@sha256:"), published)

		exported := filepath.Join(t.TempDir(), "out.txt")
		_, err = ctr.File("/smoke/out.txt").Export(ctx, exported)
		require.NoError(t, err)
		data, err := os.ReadFile(exported)
		require.NoError(t, err)
		assert.Equal(t, "bookworm "+nonce+"\n", string(data))

		// What the engine published is an image the host's Docker can pull.
		pullImage(ctx, t, docker, published, s.registryAuth(t))
		pulled, err := docker.ImageInspect(ctx, published)
		require.NoError(t, err)
		t.Cleanup(func() { removeImage(docker, pulled.ID) })
	})

	t.Run("prune removes service images of earlier sources only", func(t *testing.T) {
		// An image of earlier sources, as an upgrade of ESB leaves behind:
		// an empty one of its own, so no container of another test uses it.
		stale := "esb/gateway:src-000000000000"
		emptyTar := bytes.NewReader(make([]byte, 1024))
		imported, err := docker.ImageImport(ctx, image.ImportSource{Source: emptyTar, SourceName: "-"}, stale, image.ImportOptions{})
		require.NoError(t, err)
		_, _ = io.Copy(io.Discard, imported)
		require.NoError(t, imported.Close())
		t.Cleanup(func() { removeImage(docker, stale) })
		current := "esb/gateway:" + s.layout.ImageTag
		_, err = docker.ImageInspect(ctx, current)
		require.NoError(t, err, "the env runs %s", current)

		dry := esbPrune(ctx, t, s, "--dry-run")
		assert.Contains(t, dry, "would remove "+stale+"\n")
		_, err = docker.ImageInspect(ctx, stale)
		require.NoError(t, err, "--dry-run removed %s", stale)

		out := esbPrune(ctx, t, s)
		assert.Contains(t, out, "removed "+stale+"\n")
		assert.NotContains(t, out, current)
		_, err = docker.ImageInspect(ctx, stale)
		assert.True(t, client.IsErrNotFound(err), "%s still there: %v", stale, err)
		_, err = docker.ImageInspect(ctx, current)
		assert.NoError(t, err, "the current gateway image must stay")
	})

	t.Run("down --volumes removes the env's volumes", func(t *testing.T) {
		project := s.layout.Env.Project()
		require.NotEmpty(t, projectVolumes(ctx, t, docker, project), "volumes exist while up")
		s.down(t)
		assert.Empty(t, projectVolumes(ctx, t, docker, project))
	})

	t.Run("reset without CONFIG_DIR still removes the volumes", func(t *testing.T) {
		// The seed saw `down --volumes` fail without CONFIG_DIR and leave
		// volumes behind; with the project name exported it must not.
		s.up(t)
		project := s.layout.Env.Project()
		require.NotEmpty(t, projectVolumes(ctx, t, docker, project))
		out, err := composeWith(ctx, s.root, withoutVar(s.env, "CONFIG_DIR"), "down", "--volumes", "--timeout", "10")
		require.NoError(t, err, out)
		assert.Empty(t, projectVolumes(ctx, t, docker, project))
	})
}

func composeWith(ctx context.Context, dir string, env []string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "docker", append([]string{"compose"}, args...)...)
	cmd.Dir = dir
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func withoutVar(env []string, name string) []string {
	out := make([]string, 0, len(env))
	for _, kv := range env {
		if !strings.HasPrefix(kv, name+"=") {
			out = append(out, kv)
		}
	}
	return out
}

func queryLogs(t *testing.T, q string) []map[string]string {
	t.Helper()
	resp, err := http.Get(q)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var rows []map[string]string
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		var row map[string]string
		require.NoError(t, json.Unmarshal(sc.Bytes(), &row), sc.Text())
		rows = append(rows, row)
	}
	require.NoError(t, sc.Err())
	return rows
}

// pushImage pushes ref and returns the digest the registry reported.
func pushImage(ctx context.Context, t *testing.T, docker client.APIClient, ref string, auth registryauth.Credential) string {
	t.Helper()
	rc, err := docker.ImagePush(ctx, ref, image.PushOptions{RegistryAuth: auth.DockerAuth("")})
	require.NoError(t, err)
	defer rc.Close()
	var digest string
	err = jsonmessage.DisplayJSONMessagesStream(rc, io.Discard, 0, false, func(m jsonmessage.JSONMessage) {
		if m.Aux != nil {
			var aux struct{ Digest string }
			if json.Unmarshal(*m.Aux, &aux) == nil && aux.Digest != "" {
				digest = aux.Digest
			}
		}
	})
	require.NoError(t, err, "push %s", ref)
	require.NotEmpty(t, digest, "push %s reported no digest", ref)
	return digest
}

// removeImage drops a tag the test created; the image itself may be shared.
func removeImage(docker client.APIClient, ref string) {
	_, _ = docker.ImageRemove(context.Background(), ref, image.RemoveOptions{})
}

func pullImage(ctx context.Context, t *testing.T, docker client.APIClient, ref string, auth registryauth.Credential) {
	t.Helper()
	rc, err := docker.ImagePull(ctx, ref, image.PullOptions{RegistryAuth: auth.DockerAuth("")})
	require.NoError(t, err)
	defer rc.Close()
	require.NoError(t, jsonmessage.DisplayJSONMessagesStream(rc, io.Discard, 0, false, nil), "pull %s", ref)
}

// esbPrune runs `esb prune` from the stack's checkout and returns its
// output. prune works machine-wide, so it takes no env flags.
func esbPrune(ctx context.Context, t *testing.T, s *stack, args ...string) string {
	t.Helper()
	bin, err := esbBinary()
	require.NoError(t, err, "build esb")
	cmd := exec.CommandContext(ctx, bin, append([]string{"prune"}, args...)...)
	cmd.Env = append(os.Environ(), "ESB_PROJECT_DIR="+s.root)
	out, err := cmd.CombinedOutput()
	t.Logf("esb prune %v: exit %v\n%s", args, err, out)
	require.NoError(t, err)
	return string(out)
}
