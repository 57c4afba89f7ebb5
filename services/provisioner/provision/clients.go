package provision

import (
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
)

// Endpoints says where the platform's DynamoDB and S3 services answer and
// how to sign requests to them.
type Endpoints struct {
	DynamoDB        string // base URL, e.g. http://database:8000
	S3              string // base URL, e.g. http://s3-storage:7070
	SQS             string // base URL, e.g. http://messaging:4566
	SNS             string // base URL, e.g. http://messaging:4566
	Region          string
	AccessKeyID     string
	SecretAccessKey string
}

// NewClients returns SDK clients for e. Nothing is read from the process
// environment or ~/.aws: the platform's services are the only target, and
// a developer's AWS profile must never redirect a deploy to real AWS.
func NewClients(e Endpoints) (*dynamodb.Client, *s3.Client) {
	cfg := aws.Config{
		Region:      e.Region,
		Credentials: credentials.NewStaticCredentialsProvider(e.AccessKeyID, e.SecretAccessKey, ""),
	}
	db := dynamodb.NewFromConfig(cfg, func(o *dynamodb.Options) {
		o.BaseEndpoint = aws.String(e.DynamoDB)
	})
	s3c := s3.NewFromConfig(cfg, func(o *s3.Options) {
		o.BaseEndpoint = aws.String(e.S3)
		// Virtual-hosted buckets would need DNS for <bucket>.s3-storage.
		o.UsePathStyle = true
		// Checksums only where the API demands them: S3-compatible
		// servers differ in which of the newer checksum headers they know.
		o.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
		o.ResponseChecksumValidation = aws.ResponseChecksumValidationWhenRequired
	})
	return db, s3c
}

// NewMessagingClients returns SQS and SNS clients for e, configured as
// strictly as NewClients'.
func NewMessagingClients(e Endpoints) (*sqs.Client, *sns.Client) {
	cfg := aws.Config{
		Region:      e.Region,
		Credentials: credentials.NewStaticCredentialsProvider(e.AccessKeyID, e.SecretAccessKey, ""),
	}
	return sqs.NewFromConfig(cfg, func(o *sqs.Options) { o.BaseEndpoint = aws.String(e.SQS) }),
		sns.NewFromConfig(cfg, func(o *sns.Options) { o.BaseEndpoint = aws.String(e.SNS) })
}
