//go:build e2e

package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	dbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/esb-dev/esb/internal/awsid"
	"github.com/esb-dev/esb/internal/compose"
	"github.com/esb-dev/esb/internal/platform"
	"github.com/esb-dev/esb/internal/runtimeconfig"
	"github.com/esb-dev/esb/services/provisioner/provision"
)

// The tests here run against the real dynalite and versitygw of a
// throwaway compose project, and the provisioner image built from this
// repository. Run with:
//
//	go test -tags e2e -timeout 30m ./services/provisioner/...
//
// ESB_E2E_KEEP=1 leaves the project running for inspection.

// manifest declares what the real backends are exercised with: both
// billing modes, both index kinds, and the three features the local
// backends do not implement (stream, time to live, lifecycle).
const manifest = `resources:
  dynamodb:
    - TableName: items
      KeySchema: [{AttributeName: id, KeyType: HASH}]
      AttributeDefinitions:
        - {AttributeName: id, AttributeType: S}
        - {AttributeName: owner, AttributeType: S}
      BillingMode: PAY_PER_REQUEST
      GlobalSecondaryIndexes:
        - IndexName: byOwner
          KeySchema: [{AttributeName: owner, KeyType: HASH}]
          Projection: {ProjectionType: ALL}
      StreamSpecification: {StreamViewType: NEW_AND_OLD_IMAGES}
      TimeToLiveSpecification: {AttributeName: expires, Enabled: true}
    - TableName: orders
      KeySchema: [{AttributeName: pk, KeyType: HASH}, {AttributeName: sk, KeyType: RANGE}]
      AttributeDefinitions:
        - {AttributeName: pk, AttributeType: S}
        - {AttributeName: sk, AttributeType: N}
        - {AttributeName: placed, AttributeType: S}
      BillingMode: PROVISIONED
      ProvisionedThroughput: {ReadCapacityUnits: 5, WriteCapacityUnits: 5}
      LocalSecondaryIndexes:
        - IndexName: byPlaced
          KeySchema: [{AttributeName: pk, KeyType: HASH}, {AttributeName: placed, KeyType: RANGE}]
          Projection: {ProjectionType: KEYS_ONLY}
  s3:
    - BucketName: uploads
      LifecycleConfiguration:
        Rules: [{Id: expire-tmp, Status: Enabled, Prefix: tmp/, ExpirationInDays: 1}]
    - BucketName: assets
`

func TestProvisionerAgainstRealServices(t *testing.T) {
	s := newStack(t)
	s.up(t, "database", "s3-storage")
	db, s3c := provision.NewClients(provision.Endpoints{
		DynamoDB:        "http://" + s.published(t, "database", 8000),
		S3:              "http://" + s.published(t, "s3-storage", 7070),
		Region:          awsid.DefaultRegion,
		AccessKeyID:     s.accessKeyID,
		SecretAccessKey: s.secretAccessKey,
	})
	res, err := runtimeconfig.DecodeResources([]byte(manifest))
	require.NoError(t, err)

	t.Run("first run creates, second run finds everything existing", func(t *testing.T) {
		var first, second []string
		_, err := provision.New(db, s3c, provision.Options{Events: collect(&first)}).Run(t.Context(), res.Resources)
		require.NoError(t, err)
		sum, err := provision.New(db, s3c, provision.Options{Events: collect(&second)}).Run(t.Context(), res.Resources)
		require.NoError(t, err)

		assert.Equal(t, []string{
			`dynamodb table "items": created`,
			// dynalite 4.0.0 ignores StreamSpecification and has no UpdateTimeToLive.
			`dynamodb table "items": warning: StreamSpecification not applied, the backend created the table without a stream`,
			`dynamodb table "items": warning: TimeToLiveSpecification not applied, the backend rejected it: UnknownOperationException: UnknownError`,
			`dynamodb table "orders": created`,
			`s3 bucket "uploads": created`,
			// versitygw v1.8.0 routes PUT ?lifecycle to NotImplemented for every backend.
			`s3 bucket "uploads": warning: LifecycleConfiguration not applied, the S3 backend does not support lifecycle rules (NotImplemented)`,
			`s3 bucket "assets": created`,
		}, first)
		assert.Equal(t, []string{
			`dynamodb table "items": exists, skipped`,
			`dynamodb table "orders": exists, skipped`,
			`s3 bucket "uploads": exists, skipped`,
			`s3 bucket "assets": exists, skipped`,
		}, second)
		assert.Equal(t, provision.Summary{Existed: 4}, sum)
	})

	t.Run("the backends hold what the manifest declares", func(t *testing.T) {
		items := describe(t, db, "items")
		assert.Equal(t, dbtypes.TableStatusActive, items.TableStatus)
		assert.Equal(t, []string{"id HASH"}, keys(items.KeySchema))
		require.Len(t, items.GlobalSecondaryIndexes, 1)
		assert.Equal(t, "byOwner", aws.ToString(items.GlobalSecondaryIndexes[0].IndexName))
		assert.Equal(t, []string{"owner HASH"}, keys(items.GlobalSecondaryIndexes[0].KeySchema))
		require.NotNil(t, items.BillingModeSummary)
		assert.Equal(t, dbtypes.BillingModePayPerRequest, items.BillingModeSummary.BillingMode)

		orders := describe(t, db, "orders")
		assert.Equal(t, dbtypes.TableStatusActive, orders.TableStatus)
		assert.Equal(t, []string{"pk HASH", "sk RANGE"}, keys(orders.KeySchema))
		require.Len(t, orders.LocalSecondaryIndexes, 1)
		assert.Equal(t, "byPlaced", aws.ToString(orders.LocalSecondaryIndexes[0].IndexName))
		require.NotNil(t, orders.ProvisionedThroughput)
		assert.Equal(t, int64(5), aws.ToInt64(orders.ProvisionedThroughput.ReadCapacityUnits))

		for _, b := range []string{"uploads", "assets"} {
			_, err := s3c.HeadBucket(t.Context(), &s3.HeadBucketInput{Bucket: aws.String(b)})
			assert.NoError(t, err, "bucket %s", b)
		}
	})

	t.Run("the container skips what exists and creates what is new", func(t *testing.T) {
		s.buildProvisioner(t)
		s.writeManifest(t, manifest+`    - BucketName: archive
  # a kind of a newer deploy: warned about, never fatal
  kinesis: [{Name: jobs}]
`)
		out, code := s.runProvisioner(t)

		require.Equal(t, 0, code, out)
		assertLinesInOrder(t, out,
			`provisioning from /app/runtime-config/resources.yml`,
			`WARNING: resource kind "kinesis": unknown to the provisioner, skipped`,
			`dynamodb table "items": exists, skipped`,
			`dynamodb table "orders": exists, skipped`,
			`s3 bucket "uploads": exists, skipped`,
			`s3 bucket "assets": exists, skipped`,
			`s3 bucket "archive": created`,
			`summary: 1 created, 4 existed, 1 warnings, 0 failed`,
		)
		_, err := s3c.HeadBucket(t.Context(), &s3.HeadBucketInput{Bucket: aws.String("archive")})
		assert.NoError(t, err)
	})

	t.Run("the container reports every failure and exits 1", func(t *testing.T) {
		s.buildProvisioner(t)
		s.writeManifest(t, `resources:
  dynamodb:
    - TableName: broken
      KeySchema: [{AttributeName: id, KeyType: SORT}]
      AttributeDefinitions: [{AttributeName: id, AttributeType: S}]
  s3:
    - BucketName: Not_A_Valid_Bucket
    - BucketName: after-failures
`)
		out, code := s.runProvisioner(t)

		require.Equal(t, 1, code, out)
		assertLinesInOrder(t, out,
			`dynamodb table "broken": failed (error below)`,
			`s3 bucket "Not_A_Valid_Bucket": failed (error below)`,
			`s3 bucket "after-failures": created`,
			`summary: 1 created, 0 existed, 0 warnings, 2 failed`,
			`ERROR: dynamodb table "broken": create: ValidationException (HTTP 400): `,
			`ERROR: s3 bucket "Not_A_Valid_Bucket": head: `,
		)
		_, err := db.DescribeTable(t.Context(), &dynamodb.DescribeTableInput{TableName: aws.String("broken")})
		var notFound *dbtypes.ResourceNotFoundException
		assert.ErrorAs(t, err, &notFound)
	})

	t.Run("the container is a no-op on an empty or malformed manifest", func(t *testing.T) {
		s.buildProvisioner(t)
		tests := []struct {
			name     string
			manifest string
			wantCode int
			want     string
		}{
			{name: "empty", manifest: "resources: {}\n", wantCode: 0, want: "WARNING: /app/runtime-config/resources.yml declares no tables, buckets, queues or topics; nothing to provision"},
			{name: "malformed", manifest: "resources:\n  dynamodb:\n    - TableName: x\n", wantCode: 1, want: "resources.yml:3:7: resources.dynamodb[0].KeySchema: must not be empty"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				s.writeManifest(t, tt.manifest)
				out, code := s.runProvisioner(t)
				assert.Equal(t, tt.wantCode, code, out)
				assert.Contains(t, out, tt.want)
			})
		}
	})
}

// stack is a throwaway compose project holding only what a test starts.
type stack struct {
	root            string // repository root
	project         string
	configDir       string
	env             []string
	accessKeyID     string
	secretAccessKey string
	built           bool
}

func newStack(t *testing.T) *stack {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	require.NoError(t, err)
	_, err = os.Stat(filepath.Join(root, "docker-compose.yml"))
	require.NoError(t, err, "run from services/provisioner of the repository")

	suffix := make([]byte, 3)
	_, err = rand.Read(suffix)
	require.NoError(t, err)
	e, err := platform.New("", "provtest-"+hex.EncodeToString(suffix))
	require.NoError(t, err)
	l, err := platform.Resolve(e, platform.LayoutOptions{Dirs: platform.Dirs{XDGCacheHome: t.TempDir()}})
	require.NoError(t, err)
	// The tag esb env gives: the provisioner image the e2e suite's envs
	// build from these sources is this one, built once per machine.
	l.ImageTag, err = compose.SourceTag(root)
	require.NoError(t, err)
	require.NoError(t, os.MkdirAll(l.ConfigDir, 0o755))

	s := &stack{
		root:            root,
		project:         e.Project(),
		configDir:       l.ConfigDir,
		env:             os.Environ(),
		accessKeyID:     envOr("ESB_ACCESS_KEY_ID", "esb"),
		secretAccessKey: envOr("ESB_SECRET_ACCESS_KEY", "esb-local-secret"),
	}
	for _, v := range l.Vars() {
		s.env = append(s.env, v.Name+"="+v.Value)
	}
	// Port 0 lets Docker pick free host ports, so this project never
	// collides with an env a developer or a parallel test is running; the
	// ports are read back with `docker compose port`. Later entries win.
	s.env = append(s.env, "PORT_DATABASE=0", "PORT_S3=0")
	return s
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// compose runs docker compose on the E2E file set (infra + docker mode,
// never the root include).
func (s *stack) compose(ctx context.Context, args ...string) (string, error) {
	full := append([]string{"compose",
		"-f", filepath.Join(s.root, "compose", "docker-compose.infra.yml"),
		"-f", filepath.Join(s.root, "compose", "docker-compose.docker.yml"),
	}, args...)
	cmd := exec.CommandContext(ctx, "docker", full...)
	cmd.Dir = s.root
	cmd.Env = s.env
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

// up starts services, waits until compose reports them healthy and
// registers the teardown, volumes included.
func (s *stack) up(t *testing.T, services ...string) {
	t.Helper()
	t.Cleanup(func() {
		if os.Getenv("ESB_E2E_KEEP") == "1" {
			t.Logf("kept: COMPOSE_PROJECT_NAME=%s CONFIG_DIR=%s", s.project, s.configDir)
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		out, err := s.compose(ctx, "down", "--volumes", "--remove-orphans", "--timeout", "10")
		assert.NoError(t, err, "compose down:\n%s", out)
	})
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Minute)
	defer cancel()
	t.Logf("compose up %s %v (the first run builds the images)", s.project, services)
	out, err := s.compose(ctx, append([]string{"up", "-d", "--wait"}, services...)...)
	require.NoError(t, err, "compose up:\n%s", out)
}

// published is host:port where service's container port is reachable.
func (s *stack) published(t *testing.T, service string, port int) string {
	t.Helper()
	out, err := s.compose(t.Context(), "port", service, fmt.Sprint(port))
	require.NoError(t, err, out)
	return strings.TrimSpace(out)
}

// buildProvisioner builds the image from the working tree once per stack,
// so the test never runs a stale image left by an earlier build.
func (s *stack) buildProvisioner(t *testing.T) {
	t.Helper()
	if s.built {
		return
	}
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Minute)
	defer cancel()
	out, err := s.compose(ctx, "--profile", "provisioner", "build", "provisioner")
	require.NoError(t, err, "compose build provisioner:\n%s", out)
	s.built = true
}

func (s *stack) writeManifest(t *testing.T, body string) {
	t.Helper()
	require.NoError(t, os.WriteFile(filepath.Join(s.configDir, runtimeconfig.ResourcesFileName), []byte(body), 0o644))
}

// runProvisioner runs the container the way esb deploy does and returns
// its combined output and exit status.
func (s *stack) runProvisioner(t *testing.T) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	out, err := s.compose(ctx, "run", "--rm", "provisioner")
	var exit *exec.ExitError
	switch {
	case err == nil:
		return out, 0
	case errors.As(err, &exit):
		return out, exit.ExitCode()
	default:
		require.NoError(t, err, out)
		return out, -1
	}
}

// assertLinesInOrder checks that out has a line starting with each of
// prefixes, in this order; compose's own progress lines may come between.
func assertLinesInOrder(t *testing.T, out string, prefixes ...string) {
	t.Helper()
	rest := prefixes
	for line := range strings.Lines(out) {
		if len(rest) > 0 && strings.HasPrefix(line, rest[0]) {
			rest = rest[1:]
		}
	}
	assert.Empty(t, rest, "lines missing or out of order in:\n%s", out)
}

func collect(lines *[]string) func(provision.Event) {
	return func(e provision.Event) {
		line := fmt.Sprintf("%s: %s", e.Resource, e.Status)
		switch {
		case e.Status == provision.StatusWarning:
			line += ": " + e.Detail
		case e.Detail != "":
			line += ", " + e.Detail
		}
		*lines = append(*lines, line)
	}
}

func describe(t *testing.T, db *dynamodb.Client, name string) *dbtypes.TableDescription {
	t.Helper()
	out, err := db.DescribeTable(t.Context(), &dynamodb.DescribeTableInput{TableName: aws.String(name)})
	require.NoError(t, err, "table %s", name)
	return out.Table
}

func keys(ks []dbtypes.KeySchemaElement) []string {
	var out []string
	for _, k := range ks {
		out = append(out, aws.ToString(k.AttributeName)+" "+string(k.KeyType))
	}
	return out
}
