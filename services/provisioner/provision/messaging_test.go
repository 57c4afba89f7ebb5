package provision

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	snstypes "github.com/aws/aws-sdk-go-v2/service/sns/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fakeMessaging is an in-memory SQS and SNS that checks, as SQS does, that
// a RedrivePolicy names an existing queue.
type fakeMessaging struct {
	mu     sync.Mutex
	queues map[string]map[string]string // name -> attributes
	topics map[string]bool
	subs   map[string][]snstypes.Subscription // topic ARN -> subscriptions
	calls  []string
}

func newFakeMessaging() *fakeMessaging {
	return &fakeMessaging{queues: map[string]map[string]string{}, topics: map[string]bool{}, subs: map[string][]snstypes.Subscription{}}
}

const fakeAccount = "arn:aws:sns:us-east-1:123456789012:"

func (f *fakeMessaging) GetQueueUrl(_ context.Context, in *sqs.GetQueueUrlInput, _ ...func(*sqs.Options)) (*sqs.GetQueueUrlOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	name := aws.ToString(in.QueueName)
	if _, ok := f.queues[name]; !ok {
		return nil, &sqstypes.QueueDoesNotExist{Message: aws.String("The specified queue does not exist.")}
	}
	return &sqs.GetQueueUrlOutput{QueueUrl: aws.String("http://messaging:4566/123456789012/" + name)}, nil
}

func (f *fakeMessaging) CreateQueue(_ context.Context, in *sqs.CreateQueueInput, _ ...func(*sqs.Options)) (*sqs.CreateQueueOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if rp := in.Attributes["RedrivePolicy"]; rp != "" {
		found := false
		for name := range f.queues {
			found = found || strings.Contains(rp, ":"+name+`"`)
		}
		if !found {
			return nil, &sqstypes.InvalidAttributeValue{Message: aws.String("dead-letter target does not exist")}
		}
	}
	name := aws.ToString(in.QueueName)
	f.queues[name] = in.Attributes
	f.calls = append(f.calls, "CreateQueue "+name)
	return &sqs.CreateQueueOutput{QueueUrl: aws.String("http://messaging:4566/123456789012/" + name)}, nil
}

func (f *fakeMessaging) SetQueueAttributes(_ context.Context, in *sqs.SetQueueAttributesInput, _ ...func(*sqs.Options)) (*sqs.SetQueueAttributesOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	name := aws.ToString(in.QueueUrl)[strings.LastIndex(aws.ToString(in.QueueUrl), "/")+1:]
	for k, v := range in.Attributes {
		f.queues[name][k] = v
	}
	f.calls = append(f.calls, "SetQueueAttributes "+name)
	return &sqs.SetQueueAttributesOutput{}, nil
}

func (f *fakeMessaging) ListTopics(_ context.Context, _ *sns.ListTopicsInput, _ ...func(*sns.Options)) (*sns.ListTopicsOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := &sns.ListTopicsOutput{}
	for name := range f.topics {
		out.Topics = append(out.Topics, snstypes.Topic{TopicArn: aws.String(fakeAccount + name)})
	}
	return out, nil
}

func (f *fakeMessaging) CreateTopic(_ context.Context, in *sns.CreateTopicInput, _ ...func(*sns.Options)) (*sns.CreateTopicOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.topics[aws.ToString(in.Name)] = true
	f.calls = append(f.calls, "CreateTopic "+aws.ToString(in.Name))
	return &sns.CreateTopicOutput{TopicArn: aws.String(fakeAccount + aws.ToString(in.Name))}, nil
}

func (f *fakeMessaging) ListSubscriptionsByTopic(_ context.Context, in *sns.ListSubscriptionsByTopicInput, _ ...func(*sns.Options)) (*sns.ListSubscriptionsByTopicOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return &sns.ListSubscriptionsByTopicOutput{Subscriptions: f.subs[aws.ToString(in.TopicArn)]}, nil
}

func (f *fakeMessaging) Subscribe(_ context.Context, in *sns.SubscribeInput, _ ...func(*sns.Options)) (*sns.SubscribeOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	arn := aws.ToString(in.TopicArn)
	f.subs[arn] = append(f.subs[arn], snstypes.Subscription{Protocol: in.Protocol, Endpoint: in.Endpoint, TopicArn: in.TopicArn})
	f.calls = append(f.calls, "Subscribe "+aws.ToString(in.Endpoint))
	return &sns.SubscribeOutput{SubscriptionArn: aws.String(arn + ":1")}, nil
}

const messagingManifest = `
resources:
  sqs:
    - QueueName: orders
      Attributes:
        VisibilityTimeout: "60"
        RedrivePolicy: '{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:123456789012:orders-dlq","maxReceiveCount":3}'
    - QueueName: orders-dlq
  sns:
    - TopicName: alerts
  sns_subscriptions:
    - {TopicArn: "arn:aws:sns:us-east-1:123456789012:alerts", Protocol: sqs, Endpoint: "arn:aws:sqs:us-east-1:123456789012:orders"}
`

func TestRunMessaging(t *testing.T) {
	m := newFakeMessaging()
	run := func() ([]string, Summary, error) {
		var events []string
		p := New(newFakeDynamoDB(), newFakeS3(), Options{
			SQS: m, SNS: m,
			Events: func(e Event) { events = append(events, eventLine(e)) },
		})
		sum, err := p.Run(t.Context(), decodeResources(t, messagingManifest))
		return events, sum, err
	}

	events, sum, err := run()
	require.NoError(t, err)
	assert.Equal(t, []string{
		`sqs queue "orders-dlq": created`,
		`sqs queue "orders": created`,
		`sns topic "alerts": created`,
		`sns subscription "sqs arn:aws:sqs:us-east-1:123456789012:orders on arn:aws:sns:us-east-1:123456789012:alerts": created`,
	}, events, "the dead-letter queue comes first, though the manifest lists it second")
	assert.Equal(t, Summary{Created: 4}, sum)

	m.calls = nil
	events, sum, err = run()
	require.NoError(t, err)
	assert.Equal(t, []string{
		`sqs queue "orders-dlq": exists: skipped`,
		`sqs queue "orders": exists: attributes RedrivePolicy, VisibilityTimeout applied`,
		`sns topic "alerts": exists: skipped`,
		`sns subscription "sqs arn:aws:sqs:us-east-1:123456789012:orders on arn:aws:sns:us-east-1:123456789012:alerts": exists: skipped`,
	}, events)
	assert.Equal(t, Summary{Existed: 4}, sum)
	assert.Equal(t, []string{"SetQueueAttributes orders"}, m.calls, "a second run creates nothing and subscribes nothing twice")
}

func TestRunMessagingWithoutClients(t *testing.T) {
	var events []string
	p := New(newFakeDynamoDB(), newFakeS3(), Options{Events: func(e Event) { events = append(events, eventLine(e)) }})
	sum, err := p.Run(t.Context(), decodeResources(t, messagingManifest))
	require.Error(t, err)
	assert.Contains(t, err.Error(), `sqs queue "orders-dlq": no messaging service configured`)
	assert.Equal(t, 4, sum.Failed)
}
