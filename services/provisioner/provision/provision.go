// Package provision creates the DynamoDB tables and S3 buckets that
// resources.yml declares, on the platform's DynamoDB- and S3-compatible
// services. It only ever creates: a resource that already exists is left
// exactly as it is, and nothing is updated or deleted, because a deploy adds
// to the platform and must never destroy data a function wrote.
//
// The clients are narrow interfaces over aws-sdk-go-v2, so the decisions are
// tested against fakes and the same code runs against dynalite, versitygw or
// AWS itself.
package provision

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/esb-dev/esb/internal/awsid"
	"github.com/esb-dev/esb/internal/runtimeconfig"
)

// DynamoDB is the part of the DynamoDB API the provisioner calls;
// *dynamodb.Client implements it.
type DynamoDB interface {
	DescribeTable(ctx context.Context, in *dynamodb.DescribeTableInput, optFns ...func(*dynamodb.Options)) (*dynamodb.DescribeTableOutput, error)
	CreateTable(ctx context.Context, in *dynamodb.CreateTableInput, optFns ...func(*dynamodb.Options)) (*dynamodb.CreateTableOutput, error)
	UpdateTimeToLive(ctx context.Context, in *dynamodb.UpdateTimeToLiveInput, optFns ...func(*dynamodb.Options)) (*dynamodb.UpdateTimeToLiveOutput, error)
}

// S3 is the part of the S3 API the provisioner calls; *s3.Client
// implements it.
type S3 interface {
	HeadBucket(ctx context.Context, in *s3.HeadBucketInput, optFns ...func(*s3.Options)) (*s3.HeadBucketOutput, error)
	CreateBucket(ctx context.Context, in *s3.CreateBucketInput, optFns ...func(*s3.Options)) (*s3.CreateBucketOutput, error)
	PutBucketLifecycleConfiguration(ctx context.Context, in *s3.PutBucketLifecycleConfigurationInput, optFns ...func(*s3.Options)) (*s3.PutBucketLifecycleConfigurationOutput, error)
}

// Kind names a type of resource the way output and errors spell it.
type Kind string

// Resource kinds the provisioner handles, plus KindUnknown for the entries
// of resources.yml it has no code for.
const (
	KindTable   Kind = "dynamodb table"
	KindBucket  Kind = "s3 bucket"
	KindQueue   Kind = "sqs queue"
	KindTopic   Kind = "sns topic"
	KindSub     Kind = "sns subscription"
	KindUnknown Kind = "resource kind"
)

// Resource names one resource, e.g. `dynamodb table "items"`.
type Resource struct {
	Kind Kind
	Name string
}

// String formats the resource as it appears in output and errors.
func (r Resource) String() string { return fmt.Sprintf("%s %q", r.Kind, r.Name) }

// Status is what happened to a resource.
type Status string

// Statuses of an Event. A resource ends in exactly one of Created, Existed
// or Failed; Warning comes on top of those, or alone for an entry that was
// skipped.
const (
	StatusCreated Status = "created"
	StatusExisted Status = "exists"
	StatusWarning Status = "warning"
	StatusFailed  Status = "failed"
)

// Event reports progress on one resource. Detail is a short human text;
// for StatusFailed the error itself is in the error Run returns.
type Event struct {
	Resource Resource
	Status   Status
	Detail   string
}

// Summary counts the outcome of a Run.
type Summary struct {
	Created  int
	Existed  int
	Warnings int
	Failed   int
}

// String formats the summary line, e.g. "2 created, 1 existed, 0 warnings, 0 failed".
func (s Summary) String() string {
	return fmt.Sprintf("%d created, %d existed, %d warnings, %d failed", s.Created, s.Existed, s.Warnings, s.Failed)
}

// Defaults of Options.
const (
	DefaultTableActiveTimeout = 2 * time.Minute
)

// Options tunes a Provisioner; the zero value is ready to use.
type Options struct {
	// Events receives one event per outcome, in order; nil drops them.
	Events func(Event)
	// TableActiveTimeout bounds the wait for a new table to become ACTIVE
	// (default DefaultTableActiveTimeout).
	TableActiveTimeout time.Duration
	// TablePollInterval is the first delay between DescribeTable polls
	// while waiting; it backs off from there (default 100ms). Local
	// backends create tables at once, so the SDK's 20 s default would make
	// every deploy slow for nothing.
	TablePollInterval time.Duration
	// Region decides whether CreateBucket needs a LocationConstraint
	// (every region but us-east-1 does; default awsid.DefaultRegion).
	Region string
	// SQS and SNS reach the env's messaging service; without them every
	// queue, topic and subscription of a manifest fails.
	SQS SQS
	SNS SNS
}

// Provisioner creates the resources of a manifest.
type Provisioner struct {
	db   DynamoDB
	s3   S3
	opts Options
}

// New returns a Provisioner that works through db and s3.
func New(db DynamoDB, s3 S3, opts Options) *Provisioner {
	if opts.Events == nil {
		opts.Events = func(Event) {}
	}
	if opts.TableActiveTimeout <= 0 {
		opts.TableActiveTimeout = DefaultTableActiveTimeout
	}
	if opts.TablePollInterval <= 0 {
		opts.TablePollInterval = 100 * time.Millisecond
	}
	if opts.Region == "" {
		opts.Region = awsid.DefaultRegion
	}
	return &Provisioner{db: db, s3: s3, opts: opts}
}

// IsEmpty reports whether res holds nothing the provisioner creates. Layers
// are baked into function images at deploy time, so they do not count.
func IsEmpty(res runtimeconfig.Resources) bool {
	return len(res.DynamoDB) == 0 && len(res.S3) == 0 && len(res.SQS) == 0 && len(res.SNS) == 0 &&
		len(res.SNSSubscriptions) == 0 && len(res.Extra) == 0
}

// Run creates every table and bucket of res that does not exist yet,
// tables first, in manifest order; then queues (dead-letter targets
// first), topics and subscriptions, which need the queues and topics. A failure on one resource does not stop
// the others: Run goes through all of them and returns every failure,
// joined, each naming its resource, e.g.
// `dynamodb table "items": create: ...`. Entries of kinds it does not know
// are skipped with a warning. Once ctx is done, the resources not yet
// reached are not attempted.
func (p *Provisioner) Run(ctx context.Context, res runtimeconfig.Resources) (Summary, error) {
	var (
		sum  Summary
		errs []error
	)
	emit := func(e Event) {
		switch e.Status {
		case StatusCreated:
			sum.Created++
		case StatusExisted:
			sum.Existed++
		case StatusWarning:
			sum.Warnings++
		case StatusFailed:
			sum.Failed++
		}
		p.opts.Events(e)
	}
	for _, kind := range slices.Sorted(maps.Keys(res.Extra)) {
		emit(Event{
			Resource: Resource{Kind: KindUnknown, Name: kind},
			Status:   StatusWarning,
			Detail:   "unknown to the provisioner, skipped",
		})
	}
	type job struct {
		r      Resource
		ensure func(context.Context) (outcome, error)
	}
	jobs := make([]job, 0, len(res.DynamoDB)+len(res.S3))
	for _, t := range res.DynamoDB {
		jobs = append(jobs, job{Resource{KindTable, t.TableName}, func(ctx context.Context) (outcome, error) {
			return p.ensureTable(ctx, t)
		}})
	}
	for _, b := range res.S3 {
		jobs = append(jobs, job{Resource{KindBucket, b.BucketName}, func(ctx context.Context) (outcome, error) {
			return p.ensureBucket(ctx, b)
		}})
	}
	for _, q := range queueOrder(res.SQS) {
		jobs = append(jobs, job{Resource{KindQueue, q.QueueName}, func(ctx context.Context) (outcome, error) {
			return p.ensureQueue(ctx, q)
		}})
	}
	var topics map[string]string // name -> ARN, listed once when needed
	for _, t := range res.SNS {
		jobs = append(jobs, job{Resource{KindTopic, t.TopicName}, func(ctx context.Context) (outcome, error) {
			if topics == nil && p.opts.SNS != nil {
				var err error
				if topics, err = p.existingTopics(ctx); err != nil {
					return outcome{}, err
				}
			}
			return p.ensureTopic(ctx, t, topics)
		}})
	}
	for _, s := range res.SNSSubscriptions {
		jobs = append(jobs, job{Resource{KindSub, s.Protocol + " " + s.Endpoint + " on " + s.TopicArn}, func(ctx context.Context) (outcome, error) {
			return p.ensureSubscription(ctx, s)
		}})
	}
	for i, j := range jobs {
		if err := ctx.Err(); err != nil {
			errs = append(errs, fmt.Errorf("%d resources not attempted: %w", len(jobs)-i, err))
			break
		}
		out, err := j.ensure(ctx)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", j.r, err))
			emit(Event{Resource: j.r, Status: StatusFailed})
		} else {
			emit(Event{Resource: j.r, Status: out.status, Detail: out.detail})
		}
		for _, w := range out.warnings {
			emit(Event{Resource: j.r, Status: StatusWarning, Detail: w})
		}
	}
	return sum, errors.Join(errs...)
}

// outcome is what ensuring one resource came to when it did not fail.
type outcome struct {
	status   Status // StatusCreated or StatusExisted
	detail   string
	warnings []string // what could not be applied, each naming the feature
}
