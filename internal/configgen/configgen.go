// Package configgen turns a parsed SAM template into the runtime config one
// deploy contributes: the contents of functions.yml, routing.yml and
// resources.yml for that template alone, ready to be merged into an env's
// CONFIG_DIR.
package configgen

import (
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"

	"github.com/esb-dev/esb/internal/runtimeconfig"
	"github.com/esb-dev/esb/internal/sam"
)

// Defaults used when Options leaves a field empty.
const (
	DefaultImagePrefix = "127.0.0.1:5010/esb-dev"
	DefaultTag         = "latest"
	DefaultIdleTimeout = 300 // seconds a warm container may stay idle
)

// Options say where function images are published. The zero value is
// usable.
type Options struct {
	ImagePrefix string // registry and repository prefix; DefaultImagePrefix if empty
	Tag         string // DefaultTag if empty
	IdleTimeout int    // scaling.idle_timeout in seconds; DefaultIdleTimeout if 0
}

// Image returns the image reference the deploy pipeline publishes a
// function under: "<prefix>/<lower-case function name>:<tag>".
func (o Options) Image(functionName string) string {
	o = o.withDefaults()
	return o.ImagePrefix + "/" + strings.ToLower(functionName) + ":" + o.Tag
}

func (o Options) withDefaults() Options {
	if o.ImagePrefix == "" {
		o.ImagePrefix = DefaultImagePrefix
	}
	o.ImagePrefix = strings.TrimSuffix(o.ImagePrefix, "/")
	if o.Tag == "" {
		o.Tag = DefaultTag
	}
	if o.IdleTimeout == 0 {
		o.IdleTimeout = DefaultIdleTimeout
	}
	return o
}

// repoComponent is one path component of an image repository, as the
// distribution spec defines it.
var repoComponent = regexp.MustCompile(`^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$`)

// Generate builds the runtime config of template t.
//
// Functions are keyed by function name (FunctionName, else logical ID) with
// Globals and SAM defaults already applied by the parser; the digest is left
// empty for the deploy pipeline to fill once the image is published. Only
// Api and HttpApi events produce routes. Routes are sorted by path, then
// method, so the output does not depend on the order of resources in the
// template; tables, buckets and layers keep template order. Each route
// names its API (sam.APIID), so the gateway can serve every API of the
// template on its own address.
func Generate(t *sam.Template, opts Options) (runtimeconfig.Config, error) {
	opts = opts.withDefaults()
	cfg := runtimeconfig.Config{
		Functions: runtimeconfig.FunctionsFile{Functions: map[string]runtimeconfig.Function{}},
		Routing:   runtimeconfig.RoutingFile{Routes: []runtimeconfig.Route{}},
	}
	var errs []error
	for _, f := range t.Functions {
		if !repoComponent.MatchString(strings.ToLower(f.Name)) {
			errs = append(errs, fmt.Errorf("function %s: name %q does not make a valid image repository name (use letters and digits separated by single '-', '_' or '.')", f.LogicalID, f.Name))
		}
		cfg.Functions.Functions[f.Name] = function(f, opts)
		for _, r := range f.Routes {
			cfg.Routing.Routes = append(cfg.Routing.Routes, runtimeconfig.Route{
				Path:          r.Path,
				Method:        r.Method,
				Function:      f.Name,
				Payload:       r.Payload,
				Stage:         r.Stage,
				API:           sam.APIID(r.API),
				Auth:          r.Auth,
				Cors:          r.Cors,
				Kind:          apiKind(r.Type),
				TimeoutMillis: r.TimeoutMillis,
			})
		}
	}
	cfg.Routing.APIKeys = t.APIKeys
	sort.SliceStable(cfg.Routing.Routes, func(i, j int) bool {
		a, b := cfg.Routing.Routes[i], cfg.Routing.Routes[j]
		if a.Path != b.Path {
			return a.Path < b.Path
		}
		if a.Method != b.Method {
			return a.Method < b.Method
		}
		return a.API < b.API
	})
	for _, tb := range t.Tables {
		cfg.Resources.Resources.DynamoDB = append(cfg.Resources.Resources.DynamoDB, tb.DynamoDBTable)
	}
	for _, b := range t.Buckets {
		cfg.Resources.Resources.S3 = append(cfg.Resources.Resources.S3, runtimeconfig.S3Bucket{
			BucketName:             b.BucketName,
			LifecycleConfiguration: b.LifecycleConfiguration,
		})
	}
	for _, l := range t.Layers {
		cfg.Resources.Resources.Layers = append(cfg.Resources.Resources.Layers, runtimeconfig.Layer{
			Name:               l.Name,
			ContentURI:         l.ContentURI,
			CompatibleRuntimes: l.CompatibleRuntimes,
		})
	}
	// Each SNS event's queue and subscription, provisioned like the
	// template's own.
	for _, f := range t.Functions {
		for _, e := range f.SNSEvents {
			if e.QueueName != "" {
				cfg.Resources.Resources.SQS = append(cfg.Resources.Resources.SQS, runtimeconfig.SQSQueue{QueueName: e.QueueName})
			}
			cfg.Resources.Resources.SNSSubscriptions = append(cfg.Resources.Resources.SNSSubscriptions, runtimeconfig.SNSSubscription{
				TopicArn: e.TopicArn, Protocol: "sqs", Endpoint: e.QueueArn, Attributes: e.Attributes,
			})
		}
	}
	for _, q := range t.Queues {
		cfg.Resources.Resources.SQS = append(cfg.Resources.Resources.SQS, runtimeconfig.SQSQueue{QueueName: q.QueueName, Attributes: q.Attributes})
	}
	for _, tp := range t.Topics {
		cfg.Resources.Resources.SNS = append(cfg.Resources.Resources.SNS, runtimeconfig.SNSTopic{TopicName: tp.TopicName, Attributes: tp.Attributes})
	}
	for _, s := range t.Subscriptions {
		cfg.Resources.Resources.SNSSubscriptions = append(cfg.Resources.Resources.SNSSubscriptions, runtimeconfig.SNSSubscription{
			TopicArn: s.TopicArn, Protocol: s.Protocol, Endpoint: s.Endpoint, Attributes: s.Attributes,
		})
	}
	if len(errs) == 0 {
		// The parser already rejects what would make the config invalid;
		// this guards the contract against a gap between the two.
		if err := cfg.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("generated config is invalid: %w", err))
		}
	}
	if len(errs) > 0 {
		return runtimeconfig.Config{}, errors.Join(errs...)
	}
	return cfg, nil
}

func function(f sam.Function, opts Options) runtimeconfig.Function {
	fn := runtimeconfig.Function{
		Image:            opts.Image(f.Name),
		Runtime:          f.Runtime,
		Handler:          f.Handler,
		Timeout:          f.Timeout,
		MemorySize:       f.MemorySize,
		EphemeralStorage: f.EphemeralStorage,
		Architectures:    f.Architectures,
		Scaling: runtimeconfig.Scaling{
			MaxConcurrency: f.ReservedConcurrency,
			MinWarm:        f.ProvisionedConcurrency,
			IdleTimeout:    opts.IdleTimeout,
		},
	}
	if len(f.Environment) > 0 {
		fn.Environment = f.Environment
	}
	fn.URL = f.URL
	for _, l := range f.Layers {
		fn.Layers = append(fn.Layers, l.Name)
	}
	for _, e := range f.SQSEvents {
		fn.EventSources = append(fn.EventSources, runtimeconfig.EventSource{
			Type:                    runtimeconfig.EventSourceSQS,
			Event:                   e.Event,
			Queue:                   e.QueueArn,
			BatchSize:               e.BatchSize,
			MaxBatchingWindow:       e.MaxBatchingWindow,
			ReportBatchItemFailures: e.ReportBatchItemFailures,
			MaxConcurrency:          e.MaxConcurrency,
			Enabled:                 e.Enabled,
		})
	}
	for _, e := range f.SNSEvents {
		if e.ViaSQS {
			fn.EventSources = append(fn.EventSources, runtimeconfig.EventSource{
				Type: runtimeconfig.EventSourceSQS, Event: e.Event, Queue: e.QueueArn, BatchSize: e.BatchSize, Enabled: e.Enabled,
			})
			continue
		}
		fn.EventSources = append(fn.EventSources, runtimeconfig.EventSource{
			Type: runtimeconfig.EventSourceSNS, Event: e.Event, Queue: e.QueueArn, Topic: e.TopicArn,
		})
	}
	for _, e := range f.S3Events {
		fn.EventSources = append(fn.EventSources, runtimeconfig.EventSource{
			Type: runtimeconfig.EventSourceS3, Event: e.Event, Bucket: e.Bucket, Events: e.Events, Prefix: e.Prefix, Suffix: e.Suffix,
		})
	}
	for _, s := range f.Schedules {
		fn.Schedules = append(fn.Schedules, runtimeconfig.Schedule{
			Name:       s.Name,
			Event:      s.Event,
			Kind:       s.Kind,
			Timezone:   s.Timezone,
			Expression: s.Expression,
			Input:      s.Input,
			Enabled:    s.Enabled,
			StartDate:  s.StartDate,
			EndDate:    s.EndDate,
		})
	}
	if a := f.Async; a != nil {
		fn.Async = &runtimeconfig.Async{
			MaximumRetryAttempts: a.MaximumRetryAttempts,
			MaximumEventAge:      a.MaximumEventAge,
			OnSuccess:            a.OnSuccess,
			OnFailure:            a.OnFailure,
			DeadLetter:           a.DeadLetter,
		}
	}
	return fn
}

// apiKind is the runtime config's API kind of a SAM route's event type.
func apiKind(eventType string) string {
	if eventType == sam.EventHTTPAPI {
		return runtimeconfig.KindHTTP
	}
	return runtimeconfig.KindREST
}
