package provision

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/esb-dev/esb/internal/awsid"
	"github.com/esb-dev/esb/internal/runtimeconfig"
)

// ensureBucket creates b unless a bucket of that name exists, then applies
// its lifecycle rules where the backend supports them.
func (p *Provisioner) ensureBucket(ctx context.Context, b runtimeconfig.S3Bucket) (outcome, error) {
	// Converted first, so that a manifest mistake fails before the bucket
	// exists: the next run would skip an existing bucket and never apply
	// the corrected rules.
	lifecycle, err := lifecycleInput(b.BucketName, b.LifecycleConfiguration)
	if err != nil {
		return outcome{}, fmt.Errorf("LifecycleConfiguration: %w", err)
	}

	exists, err := p.bucketExists(ctx, b.BucketName)
	if err != nil {
		return outcome{}, fmt.Errorf("head: %w", concise(err))
	}
	if exists {
		return outcome{status: StatusExisted, detail: "skipped"}, nil
	}
	in := &s3.CreateBucketInput{Bucket: aws.String(b.BucketName)}
	// us-east-1 is S3's default location and must not be named: AWS
	// rejects a LocationConstraint of us-east-1.
	if p.opts.Region != awsid.DefaultRegion {
		in.CreateBucketConfiguration = &types.CreateBucketConfiguration{
			LocationConstraint: types.BucketLocationConstraint(p.opts.Region),
		}
	}
	if _, err := p.s3.CreateBucket(ctx, in); err != nil {
		// Either means the name is taken, possibly by a concurrent run
		// since HeadBucket; create-only never touches what is there.
		var owned *types.BucketAlreadyOwnedByYou
		var taken *types.BucketAlreadyExists
		switch {
		case errors.As(err, &owned):
			return outcome{status: StatusExisted, detail: "skipped"}, nil
		case errors.As(err, &taken):
			return outcome{status: StatusExisted, detail: "skipped (owned by another account)"}, nil
		}
		return outcome{}, fmt.Errorf("create: %w", concise(err))
	}

	out := outcome{status: StatusCreated}
	if lifecycle != nil {
		_, err := p.s3.PutBucketLifecycleConfiguration(ctx, lifecycle)
		switch {
		case notImplemented(err):
			// versitygw answers NotImplemented for every backend: the
			// bucket works, objects just never expire.
			out.warnings = append(out.warnings, "LifecycleConfiguration not applied, the S3 backend does not support lifecycle rules (NotImplemented)")
		case err != nil:
			return outcome{}, fmt.Errorf("put lifecycle configuration: %w", concise(err))
		}
	}
	return out, nil
}

// bucketExists asks the backend whether a bucket called name exists.
func (p *Provisioner) bucketExists(ctx context.Context, name string) (bool, error) {
	_, err := p.s3.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(name)})
	var notFound *types.NotFound
	switch {
	case err == nil:
		return true, nil
	case errors.As(err, &notFound), apiErrorCode(err) == "NoSuchBucket", httpStatus(err) == http.StatusNotFound:
		return false, nil
	default:
		return false, err
	}
}
