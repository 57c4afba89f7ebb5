package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/esb-dev/esb/services/provisioner/provision"
)

func TestConfigFromEnv(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		want config
	}{
		{
			name: "defaults",
			env:  map[string]string{},
			want: config{
				manifestPaths: []string{"/app/runtime-config/resources.yml", ""},
				functionsPath: "/app/runtime-config/functions.yml",
				endpoints: provision.Endpoints{
					DynamoDB: "http://database:8000", S3: "http://s3-storage:7070", Region: "us-east-1",
					SQS: "http://messaging:4566", SNS: "http://messaging:4566",
					AccessKeyID: "esb", SecretAccessKey: "esb-local-secret",
				},
			},
		},
		{
			name: "overrides",
			env: map[string]string{
				"CONFIG_DIR": "/cfg", "RESOURCES_YML": "/other.yml",
				"DYNAMODB_ENDPOINT": "http://127.0.0.1:5030", "S3_ENDPOINT": "http://127.0.0.1:5020",
				"SQS_ENDPOINT": "http://127.0.0.1:5050", "SNS_ENDPOINT": "http://127.0.0.1:5051",
				"AWS_REGION": "eu-west-1", "AWS_ACCESS_KEY_ID": "id", "AWS_SECRET_ACCESS_KEY": "secret",
			},
			want: config{
				manifestPaths: []string{"/cfg/resources.yml", "/other.yml"},
				functionsPath: "/cfg/functions.yml",
				endpoints: provision.Endpoints{
					DynamoDB: "http://127.0.0.1:5030", S3: "http://127.0.0.1:5020", Region: "eu-west-1",
					SQS: "http://127.0.0.1:5050", SNS: "http://127.0.0.1:5051",
					AccessKeyID: "id", SecretAccessKey: "secret",
				},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, configFromEnv(func(k string) string { return tt.env[k] }))
		})
	}
}

// TestRunWithoutBackend covers the outcomes decided before any service is
// called; the endpoints point nowhere, so a call would fail the test.
func TestRunWithoutBackend(t *testing.T) {
	tests := []struct {
		name     string
		manifest *string // nil: no file
		endpoint string
		wantCode int
		wantOut  []string
	}{
		{
			name:     "missing manifest is a no-op",
			wantCode: 0,
			wantOut:  []string{"WARNING: no resources manifest (looked for ", "nothing to provision"},
		},
		{
			name:     "empty manifest is a no-op",
			manifest: ptr("resources: {}\n"),
			wantCode: 0,
			wantOut:  []string{"WARNING: ", "declares no tables, buckets, queues or topics; nothing to provision"},
		},
		{
			name:     "malformed manifest fails with file and line",
			manifest: ptr("resources:\n  dynamodb:\n    - TableName: items\n"),
			wantCode: 1,
			wantOut:  []string{"ERROR: decode manifest ", "resources.yml:3:7: resources.dynamodb[0].KeySchema: must not be empty"},
		},
		{
			name:     "an endpoint without a scheme fails before any call",
			manifest: ptr("resources:\n  s3: [{BucketName: b}]\n"),
			endpoint: "database:8000",
			wantCode: 1,
			wantOut:  []string{`ERROR: DYNAMODB_ENDPOINT: "database:8000" is not an http(s) URL`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if tt.manifest != nil {
				require.NoError(t, os.WriteFile(filepath.Join(dir, "resources.yml"), []byte(*tt.manifest), 0o644))
			}
			env := map[string]string{"CONFIG_DIR": dir, "DYNAMODB_ENDPOINT": tt.endpoint}
			var out bytes.Buffer

			code := run(t.Context(), configFromEnv(func(k string) string { return env[k] }), &out)

			assert.Equal(t, tt.wantCode, code)
			for _, want := range tt.wantOut {
				assert.Contains(t, out.String(), want)
			}
			assert.NotContains(t, out.String(), "summary:", "nothing was provisioned")
		})
	}
}

func TestPrinter(t *testing.T) {
	var out bytes.Buffer
	p := printer(&out)
	table := provision.Resource{Kind: provision.KindTable, Name: "items"}
	bucket := provision.Resource{Kind: provision.KindBucket, Name: "uploads"}

	p(provision.Event{Resource: table, Status: provision.StatusCreated})
	p(provision.Event{Resource: bucket, Status: provision.StatusExisted, Detail: "skipped"})
	p(provision.Event{Resource: bucket, Status: provision.StatusWarning, Detail: "LifecycleConfiguration not applied"})
	p(provision.Event{Resource: table, Status: provision.StatusFailed})

	assert.Equal(t, `dynamodb table "items": created
s3 bucket "uploads": exists, skipped
WARNING: s3 bucket "uploads": LifecycleConfiguration not applied
dynamodb table "items": failed (error below)
`, out.String())
}

func ptr[T any](v T) *T { return &v }
