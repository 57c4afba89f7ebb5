// Package delivery sends destination records and dead letters to the
// env's SQS queues and SNS topics (the messaging service), by ARN.
package delivery

import (
	"context"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	snstypes "github.com/aws/aws-sdk-go-v2/service/sns/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

// Endpoints says where the messaging service answers and how to sign
// requests to it.
type Endpoints struct {
	SQS             string // base URL, e.g. http://messaging:4566
	SNS             string
	Region          string
	AccessKeyID     string
	SecretAccessKey string
}

// numberAttributes are sent with DataType Number, as Lambda sends a dead
// letter's ErrorCode.
var numberAttributes = map[string]bool{"ErrorCode": true}

// SQS sends to queues.
type SQS struct{ client *sqs.Client }

// SNS publishes to topics.
type SNS struct{ client *sns.Client }

// New returns the senders for e. Nothing is read from the process
// environment or ~/.aws: the env's own messaging service is the only
// target.
func New(e Endpoints) (*SQS, *SNS) {
	cfg := aws.Config{
		Region:      e.Region,
		Credentials: credentials.NewStaticCredentialsProvider(e.AccessKeyID, e.SecretAccessKey, ""),
	}
	return &SQS{sqs.NewFromConfig(cfg, func(o *sqs.Options) { o.BaseEndpoint = aws.String(e.SQS) })},
		&SNS{sns.NewFromConfig(cfg, func(o *sns.Options) { o.BaseEndpoint = aws.String(e.SNS) })}
}

// Send sends body to the queue named by arn.
func (q *SQS) Send(ctx context.Context, arn string, body []byte, attrs map[string]string) error {
	name, err := resourceName(arn)
	if err != nil {
		return err
	}
	if strings.HasSuffix(name, ".fifo") {
		// Lambda refuses FIFO targets; the messaging service would refuse
		// the message without a group, so say why here.
		return fmt.Errorf("queue %s: FIFO queues are not Lambda destinations", arn)
	}
	url, err := q.client.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String(name)})
	if err != nil {
		return fmt.Errorf("queue %s: %w", arn, err)
	}
	in := &sqs.SendMessageInput{QueueUrl: url.QueueUrl, MessageBody: aws.String(string(body))}
	if len(attrs) > 0 {
		in.MessageAttributes = map[string]sqstypes.MessageAttributeValue{}
		for k, v := range attrs {
			in.MessageAttributes[k] = sqstypes.MessageAttributeValue{DataType: aws.String(dataType(k)), StringValue: aws.String(v)}
		}
	}
	if _, err := q.client.SendMessage(ctx, in); err != nil {
		return fmt.Errorf("send to %s: %w", arn, err)
	}
	return nil
}

// Send publishes body to the topic arn.
func (t *SNS) Send(ctx context.Context, arn string, body []byte, attrs map[string]string) error {
	in := &sns.PublishInput{TopicArn: aws.String(arn), Message: aws.String(string(body))}
	if len(attrs) > 0 {
		in.MessageAttributes = map[string]snstypes.MessageAttributeValue{}
		for k, v := range attrs {
			in.MessageAttributes[k] = snstypes.MessageAttributeValue{DataType: aws.String(dataType(k)), StringValue: aws.String(v)}
		}
	}
	if _, err := t.client.Publish(ctx, in); err != nil {
		return fmt.Errorf("publish to %s: %w", arn, err)
	}
	return nil
}

func dataType(attr string) string {
	if numberAttributes[attr] {
		return "Number"
	}
	return "String"
}

// resourceName is the last field of an ARN: a queue's name.
func resourceName(arn string) (string, error) {
	parts := strings.Split(arn, ":")
	if len(parts) != 6 || parts[0] != "arn" || parts[5] == "" {
		return "", fmt.Errorf("%q is not a queue ARN", arn)
	}
	return parts[5], nil
}
