package provision

import (
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// The cfn* types mirror AWS::S3::Bucket LifecycleConfiguration as SAM
// templates write it. CloudFormation flattens what the S3 API nests (the
// rule filter, expiration by days or date), so the manifest cannot be
// passed through as it is.
type cfnLifecycle struct {
	Rules                              []cfnRule `yaml:"Rules"`
	TransitionDefaultMinimumObjectSize string    `yaml:"TransitionDefaultMinimumObjectSize"`
}

type cfnRule struct {
	ID     string `yaml:"Id"`
	Status string `yaml:"Status"`

	Prefix                *string  `yaml:"Prefix"`
	TagFilters            []cfnTag `yaml:"TagFilters"`
	ObjectSizeGreaterThan string   `yaml:"ObjectSizeGreaterThan"` // a string in CloudFormation
	ObjectSizeLessThan    string   `yaml:"ObjectSizeLessThan"`

	ExpirationInDays                  *int32                  `yaml:"ExpirationInDays"`
	ExpirationDate                    string                  `yaml:"ExpirationDate"`
	ExpiredObjectDeleteMarker         *bool                   `yaml:"ExpiredObjectDeleteMarker"`
	NoncurrentVersionExpirationInDays *int32                  `yaml:"NoncurrentVersionExpirationInDays"`
	NoncurrentVersionExpiration       *cfnNoncurrentExpiry    `yaml:"NoncurrentVersionExpiration"`
	AbortIncompleteMultipartUpload    *cfnAbortMultipart      `yaml:"AbortIncompleteMultipartUpload"`
	Transition                        *cfnTransition          `yaml:"Transition"`
	Transitions                       []cfnTransition         `yaml:"Transitions"`
	NoncurrentVersionTransition       *cfnNoncurrentTransfer  `yaml:"NoncurrentVersionTransition"`
	NoncurrentVersionTransitions      []cfnNoncurrentTransfer `yaml:"NoncurrentVersionTransitions"`
}

type cfnTag struct {
	Key   string `yaml:"Key"`
	Value string `yaml:"Value"`
}

type cfnNoncurrentExpiry struct {
	NoncurrentDays          int32  `yaml:"NoncurrentDays"`
	NewerNoncurrentVersions *int32 `yaml:"NewerNoncurrentVersions"`
}

type cfnAbortMultipart struct {
	DaysAfterInitiation int32 `yaml:"DaysAfterInitiation"`
}

type cfnTransition struct {
	StorageClass     string `yaml:"StorageClass"`
	TransitionInDays *int32 `yaml:"TransitionInDays"`
	TransitionDate   string `yaml:"TransitionDate"`
}

type cfnNoncurrentTransfer struct {
	StorageClass            string `yaml:"StorageClass"`
	TransitionInDays        int32  `yaml:"TransitionInDays"`
	NewerNoncurrentVersions *int32 `yaml:"NewerNoncurrentVersions"`
}

// lifecycleInput turns a manifest LifecycleConfiguration into the
// PutBucketLifecycleConfiguration request for bucket, or nil when there is
// none. Enum values (Status, StorageClass) are passed through for the
// backend to judge.
func lifecycleInput(bucket string, m map[string]any) (*s3.PutBucketLifecycleConfigurationInput, error) {
	if m == nil {
		return nil, nil
	}
	var lc cfnLifecycle
	if err := decodeMap(m, &lc); err != nil {
		return nil, err
	}
	if len(lc.Rules) == 0 {
		return nil, errors.New("Rules: must not be empty")
	}
	in := &s3.PutBucketLifecycleConfigurationInput{
		Bucket:                             aws.String(bucket),
		LifecycleConfiguration:             &types.BucketLifecycleConfiguration{},
		TransitionDefaultMinimumObjectSize: types.TransitionDefaultMinimumObjectSize(lc.TransitionDefaultMinimumObjectSize),
	}
	for i, r := range lc.Rules {
		rule, err := lifecycleRule(r)
		if err != nil {
			return nil, fmt.Errorf("Rules[%d]: %w", i, err)
		}
		in.LifecycleConfiguration.Rules = append(in.LifecycleConfiguration.Rules, rule)
	}
	return in, nil
}

func lifecycleRule(r cfnRule) (types.LifecycleRule, error) {
	if r.Status == "" {
		return types.LifecycleRule{}, errors.New("Status: required (Enabled or Disabled)")
	}
	rule := types.LifecycleRule{Status: types.ExpirationStatus(r.Status)}
	if r.ID != "" {
		rule.ID = aws.String(r.ID)
	}

	filter, err := ruleFilter(r)
	if err != nil {
		return types.LifecycleRule{}, err
	}
	rule.Filter = filter

	if r.ExpirationInDays != nil || r.ExpirationDate != "" || r.ExpiredObjectDeleteMarker != nil {
		exp := &types.LifecycleExpiration{Days: r.ExpirationInDays, ExpiredObjectDeleteMarker: r.ExpiredObjectDeleteMarker}
		if r.ExpirationDate != "" {
			d, err := parseDate(r.ExpirationDate)
			if err != nil {
				return types.LifecycleRule{}, fmt.Errorf("ExpirationDate: %w", err)
			}
			exp.Date = &d
		}
		rule.Expiration = exp
	}

	switch {
	case r.NoncurrentVersionExpiration != nil:
		rule.NoncurrentVersionExpiration = &types.NoncurrentVersionExpiration{
			NoncurrentDays:          aws.Int32(r.NoncurrentVersionExpiration.NoncurrentDays),
			NewerNoncurrentVersions: r.NoncurrentVersionExpiration.NewerNoncurrentVersions,
		}
	case r.NoncurrentVersionExpirationInDays != nil:
		rule.NoncurrentVersionExpiration = &types.NoncurrentVersionExpiration{NoncurrentDays: r.NoncurrentVersionExpirationInDays}
	}

	if a := r.AbortIncompleteMultipartUpload; a != nil {
		rule.AbortIncompleteMultipartUpload = &types.AbortIncompleteMultipartUpload{DaysAfterInitiation: aws.Int32(a.DaysAfterInitiation)}
	}

	// CloudFormation keeps the singular forms for old templates; S3 only
	// knows the lists.
	transitions := r.Transitions
	if r.Transition != nil {
		transitions = append(transitions, *r.Transition)
	}
	for i, t := range transitions {
		tr := types.Transition{StorageClass: types.TransitionStorageClass(t.StorageClass), Days: t.TransitionInDays}
		if t.TransitionDate != "" {
			d, err := parseDate(t.TransitionDate)
			if err != nil {
				return types.LifecycleRule{}, fmt.Errorf("Transitions[%d].TransitionDate: %w", i, err)
			}
			tr.Date = &d
		}
		rule.Transitions = append(rule.Transitions, tr)
	}
	noncurrent := r.NoncurrentVersionTransitions
	if r.NoncurrentVersionTransition != nil {
		noncurrent = append(noncurrent, *r.NoncurrentVersionTransition)
	}
	for _, t := range noncurrent {
		rule.NoncurrentVersionTransitions = append(rule.NoncurrentVersionTransitions, types.NoncurrentVersionTransition{
			StorageClass:            types.TransitionStorageClass(t.StorageClass),
			NoncurrentDays:          aws.Int32(t.TransitionInDays),
			NewerNoncurrentVersions: t.NewerNoncurrentVersions,
		})
	}
	return rule, nil
}

// ruleFilter builds the S3 filter from CloudFormation's flat conditions:
// one condition goes in the filter itself, several go under And, none is
// an empty prefix (the rule applies to every object).
func ruleFilter(r cfnRule) (*types.LifecycleRuleFilter, error) {
	gt, err := parseSize(r.ObjectSizeGreaterThan)
	if err != nil {
		return nil, fmt.Errorf("ObjectSizeGreaterThan: %w", err)
	}
	lt, err := parseSize(r.ObjectSizeLessThan)
	if err != nil {
		return nil, fmt.Errorf("ObjectSizeLessThan: %w", err)
	}
	tags := make([]types.Tag, 0, len(r.TagFilters))
	for _, t := range r.TagFilters {
		tags = append(tags, types.Tag{Key: aws.String(t.Key), Value: aws.String(t.Value)})
	}
	n := len(tags)
	for _, set := range []bool{r.Prefix != nil, gt != nil, lt != nil} {
		if set {
			n++
		}
	}
	switch {
	case n == 0:
		return &types.LifecycleRuleFilter{Prefix: aws.String("")}, nil
	case n > 1:
		return &types.LifecycleRuleFilter{And: &types.LifecycleRuleAndOperator{
			Prefix: r.Prefix, Tags: tags, ObjectSizeGreaterThan: gt, ObjectSizeLessThan: lt,
		}}, nil
	case len(tags) == 1:
		return &types.LifecycleRuleFilter{Tag: &tags[0]}, nil
	default:
		return &types.LifecycleRuleFilter{Prefix: r.Prefix, ObjectSizeGreaterThan: gt, ObjectSizeLessThan: lt}, nil
	}
}

func parseSize(s string) (*int64, error) {
	if s == "" {
		return nil, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return nil, fmt.Errorf("%q is not a whole number of bytes", s)
	}
	return &n, nil
}

// parseDate accepts the ISO 8601 forms CloudFormation does: a full
// timestamp or a plain date (midnight UTC, which S3 requires anyway).
func parseDate(s string) (time.Time, error) {
	for _, layout := range []string{time.RFC3339, time.DateOnly} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("%q is not an ISO 8601 date", s)
}
