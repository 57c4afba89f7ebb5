package provision

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/esb-dev/esb/internal/runtimeconfig"
)

// SQS is the part of the SQS API the provisioner calls; *sqs.Client
// implements it.
type SQS interface {
	GetQueueUrl(ctx context.Context, in *sqs.GetQueueUrlInput, optFns ...func(*sqs.Options)) (*sqs.GetQueueUrlOutput, error)
	CreateQueue(ctx context.Context, in *sqs.CreateQueueInput, optFns ...func(*sqs.Options)) (*sqs.CreateQueueOutput, error)
	SetQueueAttributes(ctx context.Context, in *sqs.SetQueueAttributesInput, optFns ...func(*sqs.Options)) (*sqs.SetQueueAttributesOutput, error)
}

// SNS is the part of the SNS API the provisioner calls; *sns.Client
// implements it.
type SNS interface {
	ListTopics(ctx context.Context, in *sns.ListTopicsInput, optFns ...func(*sns.Options)) (*sns.ListTopicsOutput, error)
	CreateTopic(ctx context.Context, in *sns.CreateTopicInput, optFns ...func(*sns.Options)) (*sns.CreateTopicOutput, error)
	ListSubscriptionsByTopic(ctx context.Context, in *sns.ListSubscriptionsByTopicInput, optFns ...func(*sns.Options)) (*sns.ListSubscriptionsByTopicOutput, error)
	Subscribe(ctx context.Context, in *sns.SubscribeInput, optFns ...func(*sns.Options)) (*sns.SubscribeOutput, error)
}

// errNoMessaging is returned for a queue or topic when the provisioner
// was given no messaging clients.
var errNoMessaging = errors.New("no messaging service configured (SQS_ENDPOINT/SNS_ENDPOINT)")

// queueOrder puts dead-letter queues before the queues that redrive to
// them: SQS checks that a RedrivePolicy's target exists.
func queueOrder(queues []runtimeconfig.SQSQueue) []runtimeconfig.SQSQueue {
	out := slices.Clone(queues)
	slices.SortStableFunc(out, func(a, b runtimeconfig.SQSQueue) int {
		ra, rb := a.Attributes["RedrivePolicy"] != "", b.Attributes["RedrivePolicy"] != ""
		switch {
		case ra == rb:
			return 0
		case rb:
			return -1
		}
		return 1
	})
	return out
}

// ensureQueue creates q, or brings an existing queue's attributes to what
// the latest deploy declares (the merge's last-wins rule; no message is
// touched). FifoQueue cannot change on an existing queue, so it is left
// out of the update; a mismatch surfaces as SQS's own error at create.
func (p *Provisioner) ensureQueue(ctx context.Context, q runtimeconfig.SQSQueue) (outcome, error) {
	if p.opts.SQS == nil {
		return outcome{}, errNoMessaging
	}
	got, err := p.opts.SQS.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String(q.QueueName)})
	var missing *sqstypes.QueueDoesNotExist
	switch {
	case err == nil:
		attrs := maps.Clone(q.Attributes)
		delete(attrs, "FifoQueue")
		if len(attrs) == 0 {
			return outcome{status: StatusExisted, detail: "skipped"}, nil
		}
		if _, err := p.opts.SQS.SetQueueAttributes(ctx, &sqs.SetQueueAttributesInput{QueueUrl: got.QueueUrl, Attributes: attrs}); err != nil {
			return outcome{}, fmt.Errorf("set attributes: %w", concise(err))
		}
		return outcome{status: StatusExisted, detail: "attributes " + strings.Join(slices.Sorted(maps.Keys(attrs)), ", ") + " applied"}, nil
	case errors.As(err, &missing), apiErrorCode(err) == "AWS.SimpleQueueService.NonExistentQueue", apiErrorCode(err) == "QueueDoesNotExist":
	default:
		return outcome{}, fmt.Errorf("get queue url: %w", concise(err))
	}
	if _, err := p.opts.SQS.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(q.QueueName), Attributes: q.Attributes}); err != nil {
		return outcome{}, fmt.Errorf("create: %w", concise(err))
	}
	return outcome{status: StatusCreated}, nil
}

// existingTopics lists the names of the topics the service has, by ARN.
func (p *Provisioner) existingTopics(ctx context.Context) (map[string]string, error) {
	out := map[string]string{}
	var token *string
	for {
		page, err := p.opts.SNS.ListTopics(ctx, &sns.ListTopicsInput{NextToken: token})
		if err != nil {
			return nil, fmt.Errorf("list topics: %w", concise(err))
		}
		for _, t := range page.Topics {
			arn := aws.ToString(t.TopicArn)
			out[arn[strings.LastIndex(arn, ":")+1:]] = arn
		}
		if token = page.NextToken; token == nil {
			return out, nil
		}
	}
}

// ensureTopic creates t unless a topic of that name exists. CreateTopic
// is idempotent in SNS; the listing only tells created from existing.
func (p *Provisioner) ensureTopic(ctx context.Context, t runtimeconfig.SNSTopic, existing map[string]string) (outcome, error) {
	if p.opts.SNS == nil {
		return outcome{}, errNoMessaging
	}
	if _, ok := existing[t.TopicName]; ok {
		return outcome{status: StatusExisted, detail: "skipped"}, nil
	}
	if _, err := p.opts.SNS.CreateTopic(ctx, &sns.CreateTopicInput{Name: aws.String(t.TopicName), Attributes: t.Attributes}); err != nil {
		return outcome{}, fmt.Errorf("create: %w", concise(err))
	}
	return outcome{status: StatusCreated}, nil
}

// ensureSubscription subscribes s.Endpoint to its topic unless the topic
// already has that (protocol, endpoint).
func (p *Provisioner) ensureSubscription(ctx context.Context, s runtimeconfig.SNSSubscription) (outcome, error) {
	if p.opts.SNS == nil {
		return outcome{}, errNoMessaging
	}
	var token *string
	for {
		page, err := p.opts.SNS.ListSubscriptionsByTopic(ctx, &sns.ListSubscriptionsByTopicInput{TopicArn: aws.String(s.TopicArn), NextToken: token})
		if err != nil {
			return outcome{}, fmt.Errorf("list subscriptions: %w", concise(err))
		}
		for _, sub := range page.Subscriptions {
			if aws.ToString(sub.Protocol) == s.Protocol && aws.ToString(sub.Endpoint) == s.Endpoint {
				return outcome{status: StatusExisted, detail: "skipped"}, nil
			}
		}
		if token = page.NextToken; token == nil {
			break
		}
	}
	_, err := p.opts.SNS.Subscribe(ctx, &sns.SubscribeInput{
		TopicArn:              aws.String(s.TopicArn),
		Protocol:              aws.String(s.Protocol),
		Endpoint:              aws.String(s.Endpoint),
		Attributes:            s.Attributes,
		ReturnSubscriptionArn: true,
	})
	if err != nil {
		return outcome{}, fmt.Errorf("subscribe: %w", concise(err))
	}
	return outcome{status: StatusCreated}, nil
}
