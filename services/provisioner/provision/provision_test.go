package provision

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	dbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/esb-dev/esb/internal/runtimeconfig"
)

// decodeResources decodes a resources.yml body the way the provisioner's
// manifest reader does.
func decodeResources(t *testing.T, body string) runtimeconfig.Resources {
	t.Helper()
	f, err := runtimeconfig.DecodeResources([]byte(body))
	require.NoError(t, err)
	return f.Resources
}

// eventLine renders an event compactly for comparison.
func eventLine(e Event) string {
	s := fmt.Sprintf("%s: %s", e.Resource, e.Status)
	if e.Detail != "" {
		s += ": " + e.Detail
	}
	return s
}

const (
	itemsTable = `
    - TableName: items
      KeySchema: [{AttributeName: id, KeyType: HASH}]
      AttributeDefinitions: [{AttributeName: id, AttributeType: S}]`
	itemsWithTTL = itemsTable + `
      TimeToLiveSpecification: {AttributeName: expires, Enabled: true}`
	itemsWithStream = itemsTable + `
      StreamSpecification: {StreamViewType: NEW_IMAGE}`
	ordersTable = `
    - TableName: orders
      KeySchema: [{AttributeName: pk, KeyType: HASH}]
      AttributeDefinitions: [{AttributeName: pk, AttributeType: S}]`
	uploadsBucket = `
    - BucketName: uploads`
	uploadsWithLifecycle = uploadsBucket + `
      LifecycleConfiguration:
        Rules: [{Id: tmp, Status: Enabled, Prefix: tmp/, ExpirationInDays: 1}]`
)

func TestRun(t *testing.T) {
	notImplemented := &smithy.GenericAPIError{Code: "NotImplemented", Message: "A header you provided implies functionality that is not implemented."}
	internal := &smithy.GenericAPIError{Code: "InternalFailure", Message: "boom"}

	tests := []struct {
		name     string
		manifest string
		setup    func(db *fakeDynamoDB, s3 *fakeS3)
		opts     Options

		wantEvents  []string
		wantSummary Summary
		wantErrs    []string // each must appear in the joined error
		check       func(t *testing.T, db *fakeDynamoDB, s3 *fakeS3)
	}{
		{
			name:     "creates a missing table and bucket",
			manifest: "resources:\n  dynamodb:" + itemsTable + "\n  s3:" + uploadsBucket,
			wantEvents: []string{
				`dynamodb table "items": created`,
				`s3 bucket "uploads": created`,
			},
			wantSummary: Summary{Created: 2},
			check: func(t *testing.T, db *fakeDynamoDB, s3 *fakeS3) {
				assert.Equal(t, []string{"items"}, db.createdNames())
				assert.Equal(t, dbtypes.TableStatusActive, db.tables["items"])
				assert.Equal(t, []string{"uploads"}, s3.createdNames())
				assert.Nil(t, s3.created[0].CreateBucketConfiguration, "us-east-1 takes no LocationConstraint")
				assert.Empty(t, db.ttl)
				assert.Empty(t, s3.lifecycle)
			},
		},
		{
			name:     "existing table and bucket are skipped untouched",
			manifest: "resources:\n  dynamodb:" + itemsWithTTL + "\n  s3:" + uploadsWithLifecycle,
			setup: func(db *fakeDynamoDB, s3 *fakeS3) {
				db.tables["items"] = dbtypes.TableStatusActive
				s3.buckets["uploads"] = true
			},
			wantEvents: []string{
				`dynamodb table "items": exists: skipped`,
				`s3 bucket "uploads": exists: skipped`,
			},
			wantSummary: Summary{Existed: 2},
			check: func(t *testing.T, db *fakeDynamoDB, s3 *fakeS3) {
				assert.Empty(t, db.created)
				assert.Empty(t, db.ttl, "create only: time to live of an existing table is never changed")
				assert.Empty(t, s3.created)
				assert.Empty(t, s3.lifecycle, "create only: lifecycle of an existing bucket is never changed")
			},
		},
		{
			name:     "a table created concurrently after DescribeTable counts as existing",
			manifest: "resources:\n  dynamodb:" + itemsTable,
			setup: func(db *fakeDynamoDB, _ *fakeS3) {
				db.createErr["items"] = &dbtypes.ResourceInUseException{Message: aws.String("Table already exists: items")}
			},
			wantEvents:  []string{`dynamodb table "items": exists: skipped`},
			wantSummary: Summary{Existed: 1},
		},
		{
			name:     "a bucket created concurrently after HeadBucket counts as existing",
			manifest: "resources:\n  s3:" + uploadsBucket,
			setup: func(_ *fakeDynamoDB, s3 *fakeS3) {
				s3.createErr["uploads"] = &s3types.BucketAlreadyOwnedByYou{}
			},
			wantEvents:  []string{`s3 bucket "uploads": exists: skipped`},
			wantSummary: Summary{Existed: 1},
		},
		{
			name:     "a bucket name taken by another account is skipped, not failed",
			manifest: "resources:\n  s3:" + uploadsBucket,
			setup: func(_ *fakeDynamoDB, s3 *fakeS3) {
				s3.createErr["uploads"] = &s3types.BucketAlreadyExists{}
			},
			wantEvents:  []string{`s3 bucket "uploads": exists: skipped (owned by another account)`},
			wantSummary: Summary{Existed: 1},
		},
		{
			name:     "lifecycle is applied where the backend supports it",
			manifest: "resources:\n  s3:" + uploadsWithLifecycle,
			wantEvents: []string{
				`s3 bucket "uploads": created`,
			},
			wantSummary: Summary{Created: 1},
			check: func(t *testing.T, _ *fakeDynamoDB, s3 *fakeS3) {
				require.Len(t, s3.lifecycle, 1)
				assert.Equal(t, "uploads", aws.ToString(s3.lifecycle[0].Bucket))
				require.Len(t, s3.lifecycle[0].LifecycleConfiguration.Rules, 1)
				assert.Equal(t, "tmp", aws.ToString(s3.lifecycle[0].LifecycleConfiguration.Rules[0].ID))
			},
		},
		{
			name:     "lifecycle the backend does not implement is a warning naming the bucket",
			manifest: "resources:\n  s3:" + uploadsWithLifecycle,
			setup:    func(_ *fakeDynamoDB, s3 *fakeS3) { s3.lifecycleErr = notImplemented },
			wantEvents: []string{
				`s3 bucket "uploads": created`,
				`s3 bucket "uploads": warning: LifecycleConfiguration not applied, the S3 backend does not support lifecycle rules (NotImplemented)`,
			},
			wantSummary: Summary{Created: 1, Warnings: 1},
		},
		{
			name:     "lifecycle the backend rejects for another reason fails the bucket",
			manifest: "resources:\n  s3:" + uploadsWithLifecycle,
			setup: func(_ *fakeDynamoDB, s3 *fakeS3) {
				s3.lifecycleErr = &smithy.GenericAPIError{Code: "MalformedXML", Message: "bad rule"}
			},
			wantEvents:  []string{`s3 bucket "uploads": failed`},
			wantSummary: Summary{Failed: 1},
			wantErrs:    []string{`s3 bucket "uploads": put lifecycle configuration: MalformedXML: bad rule`},
		},
		{
			name:     "time to live is applied once the new table is ACTIVE",
			manifest: "resources:\n  dynamodb:" + itemsWithTTL,
			setup:    func(db *fakeDynamoDB, _ *fakeS3) { db.pollsUntilActive = 3 },
			opts:     Options{TablePollInterval: time.Millisecond},
			wantEvents: []string{
				`dynamodb table "items": created`,
			},
			wantSummary: Summary{Created: 1},
			check: func(t *testing.T, db *fakeDynamoDB, _ *fakeS3) {
				require.Len(t, db.ttl, 1)
				assert.Equal(t, "expires", aws.ToString(db.ttl[0].TimeToLiveSpecification.AttributeName))
				assert.True(t, aws.ToBool(db.ttl[0].TimeToLiveSpecification.Enabled))
				assert.Greater(t, db.polls["items"], 3, "UpdateTimeToLive must wait for ACTIVE")
			},
		},
		{
			name:     "time to live the backend rejects is a warning",
			manifest: "resources:\n  dynamodb:" + itemsWithTTL,
			setup: func(db *fakeDynamoDB, _ *fakeS3) {
				db.ttlErr = &smithy.GenericAPIError{Code: "UnknownOperationException", Message: "UnknownError"}
			},
			wantEvents: []string{
				`dynamodb table "items": created`,
				`dynamodb table "items": warning: TimeToLiveSpecification not applied, the backend rejected it: UnknownOperationException: UnknownError`,
			},
			wantSummary: Summary{Created: 1, Warnings: 1},
		},
		{
			name:     "time to live that cannot be sent fails the table",
			manifest: "resources:\n  dynamodb:" + itemsWithTTL,
			setup:    func(db *fakeDynamoDB, _ *fakeS3) { db.ttlErr = errors.New("connection reset") },
			wantEvents: []string{
				`dynamodb table "items": failed`,
			},
			wantSummary: Summary{Failed: 1},
			wantErrs:    []string{`dynamodb table "items": update time to live: connection reset`},
		},
		{
			name:     "a stream the backend drops is a warning",
			manifest: "resources:\n  dynamodb:" + itemsWithStream,
			wantEvents: []string{
				`dynamodb table "items": created`,
				`dynamodb table "items": warning: StreamSpecification not applied, the backend created the table without a stream`,
			},
			wantSummary: Summary{Created: 1, Warnings: 1},
		},
		{
			name:     "a stream the backend keeps needs no warning",
			manifest: "resources:\n  dynamodb:" + itemsWithStream,
			setup:    func(db *fakeDynamoDB, _ *fakeS3) { db.keepsStreams = true },
			wantEvents: []string{
				`dynamodb table "items": created`,
			},
			wantSummary: Summary{Created: 1},
		},
		{
			name:     "a table that never turns ACTIVE fails after the bounded wait",
			manifest: "resources:\n  dynamodb:" + itemsTable,
			setup:    func(db *fakeDynamoDB, _ *fakeS3) { db.pollsUntilActive = -1 },
			opts:     Options{TablePollInterval: time.Millisecond, TableActiveTimeout: 20 * time.Millisecond},
			wantEvents: []string{
				`dynamodb table "items": failed`,
			},
			wantSummary: Summary{Failed: 1},
			wantErrs:    []string{`dynamodb table "items": wait for ACTIVE (up to 20ms): `},
		},
		{
			name: "every failure is reported and the other resources still get created",
			manifest: "resources:\n  dynamodb:" + itemsTable + ordersTable +
				"\n  s3:" + uploadsBucket + "\n    - BucketName: logs",
			setup: func(db *fakeDynamoDB, s3 *fakeS3) {
				db.createErr["items"] = internal
				s3.headErr["uploads"] = &smithy.GenericAPIError{Code: "Forbidden", Message: "Forbidden"}
			},
			wantEvents: []string{
				`dynamodb table "items": failed`,
				`dynamodb table "orders": created`,
				`s3 bucket "uploads": failed`,
				`s3 bucket "logs": created`,
			},
			wantSummary: Summary{Created: 2, Failed: 2},
			wantErrs: []string{
				`dynamodb table "items": create: InternalFailure: boom`,
				`s3 bucket "uploads": head: Forbidden: Forbidden`,
			},
			check: func(t *testing.T, db *fakeDynamoDB, s3 *fakeS3) {
				assert.Equal(t, []string{"items", "orders"}, db.createdNames())
				assert.Equal(t, []string{"logs"}, s3.createdNames())
			},
		},
		{
			name:     "a describe failure is not mistaken for a missing table",
			manifest: "resources:\n  dynamodb:" + itemsTable,
			setup:    func(db *fakeDynamoDB, _ *fakeS3) { db.describeErr["items"] = internal },
			wantEvents: []string{
				`dynamodb table "items": failed`,
			},
			wantSummary: Summary{Failed: 1},
			wantErrs:    []string{`dynamodb table "items": describe: InternalFailure: boom`},
			check: func(t *testing.T, db *fakeDynamoDB, _ *fakeS3) {
				assert.Empty(t, db.created)
			},
		},
		{
			name: "an entry the backend could never accept fails before any call",
			manifest: `
resources:
  dynamodb:
    - TableName: items
      KeySchema: [{AttributeName: id, KeyType: HASH}]
      AttributeDefinitions: [{AttributeName: id, AttributeType: S}]
      BillingMode: PROVISIONED
  s3:
    - BucketName: uploads
      LifecycleConfiguration: {Rules: [{Id: x, ExpirationInDays: 1}]}`,
			wantEvents: []string{
				`dynamodb table "items": failed`,
				`s3 bucket "uploads": failed`,
			},
			wantSummary: Summary{Failed: 2},
			wantErrs: []string{
				`dynamodb table "items": ProvisionedThroughput: required with BillingMode PROVISIONED`,
				`s3 bucket "uploads": LifecycleConfiguration: Rules[0]: Status: required (Enabled or Disabled)`,
			},
			check: func(t *testing.T, db *fakeDynamoDB, s3 *fakeS3) {
				assert.Empty(t, db.created)
				assert.Empty(t, s3.created)
			},
		},
		{
			name:     "a kind the provisioner does not know is skipped with a warning",
			manifest: "resources:\n  kinesis: [{Name: jobs}]\n  s3:" + uploadsBucket,
			wantEvents: []string{
				`resource kind "kinesis": warning: unknown to the provisioner, skipped`,
				`s3 bucket "uploads": created`,
			},
			wantSummary: Summary{Created: 1, Warnings: 1},
		},
		{
			name:     "layers are not the provisioner's job",
			manifest: "resources:\n  layers: [{Name: common}]",
			check: func(t *testing.T, db *fakeDynamoDB, s3 *fakeS3) {
				assert.Empty(t, db.created)
				assert.Empty(t, s3.created)
			},
		},
		{
			name:     "another region names its LocationConstraint",
			manifest: "resources:\n  s3:" + uploadsBucket,
			opts:     Options{Region: "eu-west-1"},
			wantEvents: []string{
				`s3 bucket "uploads": created`,
			},
			wantSummary: Summary{Created: 1},
			check: func(t *testing.T, _ *fakeDynamoDB, s3 *fakeS3) {
				require.NotNil(t, s3.created[0].CreateBucketConfiguration)
				assert.Equal(t, s3types.BucketLocationConstraint("eu-west-1"), s3.created[0].CreateBucketConfiguration.LocationConstraint)
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db, s3 := newFakeDynamoDB(), newFakeS3()
			if tt.setup != nil {
				tt.setup(db, s3)
			}
			var events []string
			opts := tt.opts
			opts.Events = func(e Event) { events = append(events, eventLine(e)) }

			sum, err := New(db, s3, opts).Run(t.Context(), decodeResources(t, tt.manifest))

			assert.Equal(t, tt.wantEvents, events)
			assert.Equal(t, tt.wantSummary, sum)
			if len(tt.wantErrs) == 0 {
				assert.NoError(t, err)
			} else {
				require.Error(t, err)
				for _, want := range tt.wantErrs {
					assert.Contains(t, err.Error(), want)
				}
				var joined interface{ Unwrap() []error }
				require.ErrorAs(t, err, &joined)
				assert.Len(t, joined.Unwrap(), len(tt.wantErrs), "one error per failed resource")
			}
			if tt.check != nil {
				tt.check(t, db, s3)
			}
		})
	}
}

func TestRunStopsWhenCancelled(t *testing.T) {
	db, s3 := newFakeDynamoDB(), newFakeS3()
	ctx, cancel := context.WithCancel(t.Context())
	cancel()

	sum, err := New(db, s3, Options{}).Run(ctx, decodeResources(t, "resources:\n  dynamodb:"+itemsTable+"\n  s3:"+uploadsBucket))

	require.ErrorIs(t, err, context.Canceled)
	assert.Contains(t, err.Error(), "2 resources not attempted")
	assert.Equal(t, Summary{}, sum)
	assert.Empty(t, db.created)
	assert.Empty(t, s3.created)
}

func TestRunTwiceCreatesOnce(t *testing.T) {
	db, s3 := newFakeDynamoDB(), newFakeS3()
	res := decodeResources(t, "resources:\n  dynamodb:"+itemsTable+ordersTable+"\n  s3:"+uploadsBucket)
	p := New(db, s3, Options{TablePollInterval: time.Millisecond})

	first, err := p.Run(t.Context(), res)
	require.NoError(t, err)
	second, err := p.Run(t.Context(), res)
	require.NoError(t, err)

	assert.Equal(t, Summary{Created: 3}, first)
	assert.Equal(t, Summary{Existed: 3}, second)
	assert.Len(t, db.created, 2)
	assert.Len(t, s3.created, 1)
}

func TestIsEmpty(t *testing.T) {
	tests := []struct {
		name     string
		manifest string
		want     bool
	}{
		{name: "empty form", manifest: "resources: {}", want: true},
		{name: "empty file", manifest: "", want: true},
		{name: "null resources", manifest: "resources:", want: true},
		{name: "layers only", manifest: "resources:\n  layers: [{Name: common}]", want: true},
		{name: "a table", manifest: "resources:\n  dynamodb:" + itemsTable, want: false},
		{name: "a bucket", manifest: "resources:\n  s3:" + uploadsBucket, want: false},
		{name: "an unknown kind, which deserves its warning", manifest: "resources:\n  sqs: [{QueueName: q}]", want: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, IsEmpty(decodeResources(t, tt.manifest)))
		})
	}
}
