package provision

import (
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestLifecycleInput(t *testing.T) {
	date := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name    string
		config  string // LifecycleConfiguration of one bucket in resources.yml
		want    []types.LifecycleRule
		wantErr string
	}{
		{
			name: "prefix and expiration in days",
			config: `
Rules:
  - {Id: tmp, Status: Enabled, Prefix: tmp/, ExpirationInDays: 7}`,
			want: []types.LifecycleRule{{
				ID:         aws.String("tmp"),
				Status:     types.ExpirationStatusEnabled,
				Filter:     &types.LifecycleRuleFilter{Prefix: aws.String("tmp/")},
				Expiration: &types.LifecycleExpiration{Days: aws.Int32(7)},
			}},
		},
		{
			name:   "no condition applies to every object",
			config: `{Rules: [{Status: Disabled, ExpirationDate: "2030-01-01"}]}`,
			want: []types.LifecycleRule{{
				Status:     types.ExpirationStatusDisabled,
				Filter:     &types.LifecycleRuleFilter{Prefix: aws.String("")},
				Expiration: &types.LifecycleExpiration{Date: &date},
			}},
		},
		{
			name:   "timestamp dates are accepted",
			config: `{Rules: [{Status: Enabled, ExpirationDate: 2030-01-01T00:00:00Z}]}`,
			want: []types.LifecycleRule{{
				Status:     types.ExpirationStatusEnabled,
				Filter:     &types.LifecycleRuleFilter{Prefix: aws.String("")},
				Expiration: &types.LifecycleExpiration{Date: &date},
			}},
		},
		{
			name:   "a single tag filter",
			config: `{Rules: [{Status: Enabled, TagFilters: [{Key: class, Value: tmp}], ExpiredObjectDeleteMarker: true}]}`,
			want: []types.LifecycleRule{{
				Status:     types.ExpirationStatusEnabled,
				Filter:     &types.LifecycleRuleFilter{Tag: &types.Tag{Key: aws.String("class"), Value: aws.String("tmp")}},
				Expiration: &types.LifecycleExpiration{ExpiredObjectDeleteMarker: aws.Bool(true)},
			}},
		},
		{
			name: "several conditions go under And",
			config: `
Rules:
  - Status: Enabled
    Prefix: logs/
    TagFilters: [{Key: a, Value: "1"}, {Key: b, Value: "2"}]
    ObjectSizeGreaterThan: "1024"
    ObjectSizeLessThan: 1048576
    AbortIncompleteMultipartUpload: {DaysAfterInitiation: 3}`,
			want: []types.LifecycleRule{{
				Status: types.ExpirationStatusEnabled,
				Filter: &types.LifecycleRuleFilter{And: &types.LifecycleRuleAndOperator{
					Prefix:                aws.String("logs/"),
					Tags:                  []types.Tag{{Key: aws.String("a"), Value: aws.String("1")}, {Key: aws.String("b"), Value: aws.String("2")}},
					ObjectSizeGreaterThan: aws.Int64(1024),
					ObjectSizeLessThan:    aws.Int64(1048576),
				}},
				AbortIncompleteMultipartUpload: &types.AbortIncompleteMultipartUpload{DaysAfterInitiation: aws.Int32(3)},
			}},
		},
		{
			name: "transitions, singular and plural, and noncurrent versions",
			config: `
Rules:
  - Status: Enabled
    Prefix: ""
    Transition: {StorageClass: GLACIER, TransitionDate: "2030-01-01"}
    Transitions: [{StorageClass: STANDARD_IA, TransitionInDays: 30}]
    NoncurrentVersionExpirationInDays: 90
    NoncurrentVersionTransitions: [{StorageClass: GLACIER, TransitionInDays: 10, NewerNoncurrentVersions: 2}]`,
			want: []types.LifecycleRule{{
				Status: types.ExpirationStatusEnabled,
				Filter: &types.LifecycleRuleFilter{Prefix: aws.String("")},
				Transitions: []types.Transition{
					{StorageClass: types.TransitionStorageClassStandardIa, Days: aws.Int32(30)},
					{StorageClass: types.TransitionStorageClassGlacier, Date: &date},
				},
				NoncurrentVersionExpiration: &types.NoncurrentVersionExpiration{NoncurrentDays: aws.Int32(90)},
				NoncurrentVersionTransitions: []types.NoncurrentVersionTransition{{
					StorageClass: types.TransitionStorageClassGlacier, NoncurrentDays: aws.Int32(10), NewerNoncurrentVersions: aws.Int32(2),
				}},
			}},
		},
		{
			name:   "the structured noncurrent expiration wins over the shorthand",
			config: `{Rules: [{Status: Enabled, NoncurrentVersionExpirationInDays: 5, NoncurrentVersionExpiration: {NoncurrentDays: 9, NewerNoncurrentVersions: 1}}]}`,
			want: []types.LifecycleRule{{
				Status:                      types.ExpirationStatusEnabled,
				Filter:                      &types.LifecycleRuleFilter{Prefix: aws.String("")},
				NoncurrentVersionExpiration: &types.NoncurrentVersionExpiration{NoncurrentDays: aws.Int32(9), NewerNoncurrentVersions: aws.Int32(1)},
			}},
		},
		{name: "no rules", config: `{Rules: []}`, wantErr: "Rules: must not be empty"},
		{name: "rule without status", config: `{Rules: [{Id: x}]}`, wantErr: "Rules[0]: Status: required (Enabled or Disabled)"},
		{name: "bad date", config: `{Rules: [{Status: Enabled, ExpirationDate: soon}]}`, wantErr: `Rules[0]: ExpirationDate: "soon" is not an ISO 8601 date`},
		{name: "bad size", config: `{Rules: [{Status: Enabled, ObjectSizeLessThan: 1MB}]}`, wantErr: `Rules[0]: ObjectSizeLessThan: "1MB" is not a whole number of bytes`},
		{name: "bad days", config: `{Rules: [{Status: Enabled, ExpirationInDays: seven}]}`, wantErr: "cannot unmarshal !!str `seven` into int32"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := decodeResources(t, "resources:\n  s3:\n    - BucketName: b\n      LifecycleConfiguration:\n        "+indent(tt.config, "        "))
			require.Len(t, res.S3, 1)

			got, err := lifecycleInput("b", res.S3[0].LifecycleConfiguration)

			if tt.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, &s3.PutBucketLifecycleConfigurationInput{
				Bucket:                 aws.String("b"),
				LifecycleConfiguration: &types.BucketLifecycleConfiguration{Rules: tt.want},
			}, got)
		})
	}
}

func TestLifecycleInputAbsent(t *testing.T) {
	got, err := lifecycleInput("b", nil)
	require.NoError(t, err)
	assert.Nil(t, got)
}
