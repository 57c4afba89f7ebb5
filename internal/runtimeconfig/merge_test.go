package runtimeconfig

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// cfg builds a Config from the empty one; edit fills in what a case needs.
func cfg(edit func(c *Config)) Config {
	c := Empty()
	if edit != nil {
		edit(&c)
	}
	return c
}

func table(name string) DynamoDBTable {
	return DynamoDBTable{TableName: name, KeySchema: []KeySchemaElement{{AttributeName: "id", KeyType: "HASH"}}}
}

func TestMerge(t *testing.T) {
	tests := []struct {
		name         string
		base         Config
		deploy       Config
		want         Config
		wantWarnings []string
	}{
		{
			name:   "empty into empty",
			base:   Empty(),
			deploy: Empty(),
			want:   Empty(),
		},
		{
			name:   "zero values come out in the empty form",
			base:   Config{},
			deploy: Config{},
			want:   Empty(),
		},
		{
			name: "function with the same name is replaced as a whole",
			base: cfg(func(c *Config) {
				c.Functions.Functions["A"] = Function{Image: "a:1", Timeout: 9, Environment: map[string]string{"OLD": "1"}, Extra: map[string]any{"x_old": true}}
			}),
			deploy: cfg(func(c *Config) { c.Functions.Functions["A"] = Function{Image: "a:2", Digest: "sha256:2"} }),
			want:   cfg(func(c *Config) { c.Functions.Functions["A"] = Function{Image: "a:2", Digest: "sha256:2"} }),
		},
		{
			name:   "new function is added, existing ones kept",
			base:   cfg(func(c *Config) { c.Functions.Functions["A"] = fn("a") }),
			deploy: cfg(func(c *Config) { c.Functions.Functions["B"] = fn("b") }),
			want: cfg(func(c *Config) {
				c.Functions.Functions["A"] = fn("a")
				c.Functions.Functions["B"] = fn("b")
			}),
		},
		{
			name: "defaults keep existing keys and add missing ones",
			base: cfg(func(c *Config) {
				c.Functions.Defaults.Extra = map[string]any{"x_tracing": map[string]any{"enabled": true}, "x_arch": "arm64"}
			}),
			deploy: cfg(func(c *Config) {
				c.Functions.Defaults.Extra = map[string]any{
					"x_tracing": map[string]any{"enabled": false, "rate": 0.5},
					"x_arch":    "x86_64",
					"x_new":     []any{"v"},
				}
			}),
			want: cfg(func(c *Config) {
				c.Functions.Defaults.Extra = map[string]any{
					"x_tracing": map[string]any{"enabled": true, "rate": 0.5},
					"x_arch":    "arm64",
					"x_new":     []any{"v"},
				}
			}),
		},
		{
			name: "defaults environment keeps existing variables and adds missing ones",
			base: cfg(func(c *Config) { c.Functions.Defaults.Environment = map[string]string{"LOG_LEVEL": "INFO"} }),
			deploy: cfg(func(c *Config) {
				c.Functions.Defaults.Environment = map[string]string{"LOG_LEVEL": "DEBUG", "REGION": "local"}
			}),
			want: cfg(func(c *Config) {
				c.Functions.Defaults.Environment = map[string]string{"LOG_LEVEL": "INFO", "REGION": "local"}
			}),
		},
		{
			name:   "defaults environment added to a base without defaults",
			base:   Empty(),
			deploy: cfg(func(c *Config) { c.Functions.Defaults.Environment = map[string]string{"REGION": "local"} }),
			want:   cfg(func(c *Config) { c.Functions.Defaults.Environment = map[string]string{"REGION": "local"} }),
		},
		{
			name: "route with the same path and method is replaced in place, order kept",
			base: cfg(func(c *Config) {
				c.Routing.Routes = []Route{route("/a", "GET", "F1"), route("/b", "GET", "F1"), route("/c", "GET", "F1")}
			}),
			deploy: cfg(func(c *Config) {
				c.Routing.Routes = []Route{{Path: "/b", Method: "GET", Function: "F2", Payload: PayloadV2}}
			}),
			want: cfg(func(c *Config) {
				c.Routing.Routes = []Route{route("/a", "GET", "F1"), {Path: "/b", Method: "GET", Function: "F2", Payload: PayloadV2}, route("/c", "GET", "F1")}
			}),
		},
		{
			name: "new routes are appended in deploy order",
			base: cfg(func(c *Config) { c.Routing.Routes = []Route{route("/a", "GET", "F1")} }),
			deploy: cfg(func(c *Config) {
				c.Routing.Routes = []Route{route("/z", "GET", "F2"), route("/a", "POST", "F2"), route("/y", "ANY", "F2")}
			}),
			want: cfg(func(c *Config) {
				c.Routing.Routes = []Route{route("/a", "GET", "F1"), route("/z", "GET", "F2"), route("/a", "POST", "F2"), route("/y", "ANY", "F2")}
			}),
		},
		{
			name: "the same path and method on two APIs are two routes",
			base: cfg(func(c *Config) {
				c.Routing.Routes = []Route{{Path: "/items", Method: "GET", Function: "F1", Payload: PayloadV1, API: "ordersapi"}}
			}),
			deploy: cfg(func(c *Config) {
				c.Routing.Routes = []Route{{Path: "/items", Method: "GET", Function: "F2", Payload: PayloadV1, API: "adminapi"}}
			}),
			want: cfg(func(c *Config) {
				c.Routing.Routes = []Route{
					{Path: "/items", Method: "GET", Function: "F1", Payload: PayloadV1, API: "ordersapi"},
					{Path: "/items", Method: "GET", Function: "F2", Payload: PayloadV1, API: "adminapi"},
				}
			}),
		},
		{
			name: "a route of an older file without api is replaced by the deploy's route of that path and method",
			base: cfg(func(c *Config) {
				c.Routing.Routes = []Route{route("/a", "GET", "F1"), route("/b", "GET", "F1")}
			}),
			deploy: cfg(func(c *Config) {
				c.Routing.Routes = []Route{
					{Path: "/a", Method: "GET", Function: "F2", Payload: PayloadV1, API: "serverlessrestapi"},
					{Path: "/a", Method: "GET", Function: "F3", Payload: PayloadV1, API: "otherapi"},
				}
			}),
			want: cfg(func(c *Config) {
				c.Routing.Routes = []Route{
					{Path: "/a", Method: "GET", Function: "F2", Payload: PayloadV1, API: "serverlessrestapi"},
					route("/b", "GET", "F1"),
					{Path: "/a", Method: "GET", Function: "F3", Payload: PayloadV1, API: "otherapi"},
				}
			}),
		},
		{
			name: "dynamodb table replaced in place by TableName, new one appended",
			base: cfg(func(c *Config) {
				c.Resources.Resources.DynamoDB = []DynamoDBTable{table("a"), table("b")}
			}),
			deploy: cfg(func(c *Config) {
				b := table("b")
				b.BillingMode = "PAY_PER_REQUEST"
				c.Resources.Resources.DynamoDB = []DynamoDBTable{table("c"), b}
			}),
			want: cfg(func(c *Config) {
				b := table("b")
				b.BillingMode = "PAY_PER_REQUEST"
				c.Resources.Resources.DynamoDB = []DynamoDBTable{table("a"), b, table("c")}
			}),
		},
		{
			name: "s3 bucket replaced in place by BucketName, new one appended",
			base: cfg(func(c *Config) {
				c.Resources.Resources.S3 = []S3Bucket{{BucketName: "a", Extra: map[string]any{"x": 1}}, {BucketName: "b"}}
			}),
			deploy: cfg(func(c *Config) {
				c.Resources.Resources.S3 = []S3Bucket{{BucketName: "c"}, {BucketName: "a", Extra: map[string]any{"x": 2}}}
			}),
			want: cfg(func(c *Config) {
				c.Resources.Resources.S3 = []S3Bucket{{BucketName: "a", Extra: map[string]any{"x": 2}}, {BucketName: "b"}, {BucketName: "c"}}
			}),
		},
		{
			name: "layer replaced in place by Name, new one appended",
			base: cfg(func(c *Config) {
				c.Resources.Resources.Layers = []Layer{{Name: "a", ContentURI: "old"}, {Name: "b"}}
			}),
			deploy: cfg(func(c *Config) {
				c.Resources.Resources.Layers = []Layer{{Name: "a", ContentURI: "new"}, {Name: "c"}}
			}),
			want: cfg(func(c *Config) {
				c.Resources.Resources.Layers = []Layer{{Name: "a", ContentURI: "new"}, {Name: "b"}, {Name: "c"}}
			}),
		},
		{
			name: "unknown resource kinds from the deploy are skipped with a warning",
			base: Empty(),
			deploy: cfg(func(c *Config) {
				c.Resources.Resources.S3 = []S3Bucket{{BucketName: "kept"}}
				c.Resources.Resources.Extra = map[string]any{
					"topics": []any{map[string]any{"TopicName": "t"}},
					"queues": []any{map[string]any{"QueueName": "q"}},
				}
			}),
			want: cfg(func(c *Config) { c.Resources.Resources.S3 = []S3Bucket{{BucketName: "kept"}} }),
			wantWarnings: []string{
				`resources.yml: skipped resource kind "queues" from the deploy: no merge key is defined for it`,
				`resources.yml: skipped resource kind "topics" from the deploy: no merge key is defined for it`,
			},
		},
		{
			name: "unknown resource kinds already in base are kept, even when the deploy brings the same kind",
			base: cfg(func(c *Config) {
				c.Resources.Resources.Extra = map[string]any{"queues": []any{map[string]any{"QueueName": "old"}}}
			}),
			deploy: cfg(func(c *Config) {
				c.Resources.Resources.Extra = map[string]any{"queues": []any{map[string]any{"QueueName": "new"}}}
			}),
			want: cfg(func(c *Config) {
				c.Resources.Resources.Extra = map[string]any{"queues": []any{map[string]any{"QueueName": "old"}}}
			}),
			wantWarnings: []string{`resources.yml: skipped resource kind "queues" from the deploy: no merge key is defined for it`},
		},
		{
			name: "unknown top-level keys are added or overwritten",
			base: cfg(func(c *Config) {
				c.Functions.Extra = map[string]any{"version": 1, "x_base": "b"}
				c.Routing.Extra = map[string]any{"x_cors": "base"}
				c.Resources.Extra = map[string]any{"x_base": "b"}
			}),
			deploy: cfg(func(c *Config) {
				c.Functions.Extra = map[string]any{"version": 2}
				c.Routing.Extra = map[string]any{"x_cors": "deploy"}
				c.Resources.Extra = map[string]any{"x_new": "n"}
			}),
			want: cfg(func(c *Config) {
				c.Functions.Extra = map[string]any{"version": 2, "x_base": "b"}
				c.Routing.Extra = map[string]any{"x_cors": "deploy"}
				c.Resources.Extra = map[string]any{"x_base": "b", "x_new": "n"}
			}),
		},
		{
			name: "queues, topics and subscriptions merge by name, the deploy wins",
			base: cfg(func(c *Config) {
				c.Resources.Resources.SQS = []SQSQueue{{QueueName: "q", Attributes: map[string]string{"VisibilityTimeout": "30"}}, {QueueName: "keep"}}
				c.Resources.Resources.SNS = []SNSTopic{{TopicName: "t"}}
				c.Resources.Resources.SNSSubscriptions = []SNSSubscription{{TopicArn: "arn:t", Protocol: "sqs", Endpoint: "arn:q"}}
			}),
			deploy: cfg(func(c *Config) {
				c.Resources.Resources.SQS = []SQSQueue{{QueueName: "q", Attributes: map[string]string{"VisibilityTimeout": "60"}}}
				c.Resources.Resources.SNS = []SNSTopic{{TopicName: "u"}}
				c.Resources.Resources.SNSSubscriptions = []SNSSubscription{
					{TopicArn: "arn:t", Protocol: "sqs", Endpoint: "arn:q", Attributes: map[string]string{"RawMessageDelivery": "true"}},
					{TopicArn: "arn:t", Protocol: "sqs", Endpoint: "arn:other"},
				}
			}),
			want: cfg(func(c *Config) {
				c.Resources.Resources.SQS = []SQSQueue{{QueueName: "q", Attributes: map[string]string{"VisibilityTimeout": "60"}}, {QueueName: "keep"}}
				c.Resources.Resources.SNS = []SNSTopic{{TopicName: "t"}, {TopicName: "u"}}
				c.Resources.Resources.SNSSubscriptions = []SNSSubscription{
					{TopicArn: "arn:t", Protocol: "sqs", Endpoint: "arn:q", Attributes: map[string]string{"RawMessageDelivery": "true"}},
					{TopicArn: "arn:t", Protocol: "sqs", Endpoint: "arn:other"},
				}
			}),
		},
		{
			name: "nothing is deleted when the deploy lacks it",
			base: cfg(func(c *Config) {
				c.Functions.Defaults.Environment = map[string]string{"A": "1"}
				c.Functions.Functions["A"] = fn("a")
				c.Routing.Routes = []Route{route("/a", "GET", "A")}
				c.Resources.Resources = Resources{DynamoDB: []DynamoDBTable{table("t")}, S3: []S3Bucket{{BucketName: "b"}}, Layers: []Layer{{Name: "l"}}}
			}),
			deploy: Config{},
			want: cfg(func(c *Config) {
				c.Functions.Defaults.Environment = map[string]string{"A": "1"}
				c.Functions.Functions["A"] = fn("a")
				c.Routing.Routes = []Route{route("/a", "GET", "A")}
				c.Resources.Resources = Resources{DynamoDB: []DynamoDBTable{table("t")}, S3: []S3Bucket{{BucketName: "b"}}, Layers: []Layer{{Name: "l"}}}
			}),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, warnings := Merge(tt.base, tt.deploy)
			assert.Equal(t, tt.want, got)
			assert.Equal(t, tt.wantWarnings, warnings)
		})
	}
}

// richConfig has a value in every map and slice Merge copies, so that
// TestMergeDoesNotMutateInputs reaches all of them.
func richConfig(prefix string) Config {
	enabled := true
	pt := &ProvisionedThroughput{ReadCapacityUnits: 1, WriteCapacityUnits: 1, Extra: map[string]any{"x": 1}}
	return cfg(func(c *Config) {
		c.Functions.Extra = map[string]any{"version": []any{1, map[string]any{"k": "v"}}}
		c.Functions.Defaults = Defaults{Environment: map[string]string{prefix + "ENV": "1"}, Extra: map[string]any{"x": map[string]any{prefix: "v"}}}
		c.Functions.Functions[prefix+"Fn"] = Function{
			Image:         prefix,
			Architectures: []string{"arm64"},
			Environment:   map[string]string{"K": prefix},
			Layers:        []string{"l"},
			Scaling:       Scaling{MaxConcurrency: 1, Extra: map[string]any{"x": 1}},
			Schedules:     []Schedule{{Expression: "rate(1 minute)", Enabled: &enabled, Extra: map[string]any{"x": 1}}},
			EventSources:  []EventSource{{Type: EventSourceSQS, Queue: "q", Enabled: &enabled, Extra: map[string]any{"x": 1}}},
			Extra:         map[string]any{"x": map[any]any{1: []any{"a"}}},
		}
		c.Routing.Routes = []Route{
			{Path: "/shared", Method: "GET", Function: prefix + "Fn", Payload: PayloadV1, Extra: map[string]any{"x": prefix}},
			{Path: "/" + prefix, Method: "GET", Function: prefix + "Fn", Payload: PayloadV1},
		}
		c.Routing.APIKeys = []APIKey{{Name: "shared", Value: prefix, Enabled: true,
			Stages: []APIStage{{API: prefix, Stage: "v1", Extra: map[string]any{"x": 1}}}, Extra: map[string]any{"x": prefix}}}
		c.Routing.Extra = map[string]any{"x": []any{prefix}}
		c.Resources.Extra = map[string]any{"x": prefix}
		c.Resources.Resources = Resources{
			DynamoDB: []DynamoDBTable{{
				TableName:               "shared",
				KeySchema:               []KeySchemaElement{{AttributeName: prefix, KeyType: "HASH", Extra: map[string]any{"x": 1}}},
				AttributeDefinitions:    []AttributeDefinition{{AttributeName: prefix, AttributeType: "S", Extra: map[string]any{"x": 1}}},
				ProvisionedThroughput:   pt,
				GlobalSecondaryIndexes:  []SecondaryIndex{{IndexName: "g", KeySchema: []KeySchemaElement{{AttributeName: "g"}}, Projection: Projection{NonKeyAttributes: []string{"a"}, Extra: map[string]any{"x": 1}}, ProvisionedThroughput: pt}},
				LocalSecondaryIndexes:   []SecondaryIndex{{IndexName: "l", Extra: map[string]any{"x": 1}}},
				StreamSpecification:     map[string]any{"StreamEnabled": true},
				TimeToLiveSpecification: map[string]any{"Enabled": true},
				Extra:                   map[string]any{"x": prefix},
			}},
			S3:     []S3Bucket{{BucketName: "shared", LifecycleConfiguration: map[string]any{"Rules": []any{prefix}}, Extra: map[string]any{"x": 1}}},
			Layers: []Layer{{Name: "shared", CompatibleRuntimes: []string{prefix}, Extra: map[string]any{"x": 1}}},
			SQS:    []SQSQueue{{QueueName: "shared", Attributes: map[string]string{"VisibilityTimeout": prefix}, Extra: map[string]any{"x": 1}}},
			SNS:    []SNSTopic{{TopicName: "shared", Attributes: map[string]string{"FifoTopic": prefix}, Extra: map[string]any{"x": 1}}},
			SNSSubscriptions: []SNSSubscription{{TopicArn: "t", Protocol: "sqs", Endpoint: "q",
				Attributes: map[string]string{"RawMessageDelivery": prefix}, Extra: map[string]any{"x": 1}}},
			Extra: map[string]any{prefix + "kind": []any{map[string]any{"x": 1}}},
		}
	})
}

// scribble changes every map and slice reachable from c in place.
func scribble(c Config) {
	c.Functions.Extra["version"].([]any)[1].(map[string]any)["k"] = "scribbled"
	c.Functions.Defaults.Environment["SCRIBBLED"] = "1"
	c.Functions.Defaults.Extra["scribbled"] = true
	for name, f := range c.Functions.Functions {
		f.Architectures[0] = "scribbled"
		f.Environment["K"] = "scribbled"
		f.Layers[0] = "scribbled"
		f.Scaling.Extra["x"] = "scribbled"
		*f.Schedules[0].Enabled = false
		f.Schedules[0].Extra["x"] = "scribbled"
		*f.EventSources[0].Enabled = false
		f.EventSources[0].Extra["x"] = "scribbled"
		f.Extra["x"].(map[any]any)[1].([]any)[0] = "scribbled"
		c.Functions.Functions[name] = Function{Image: "scribbled"}
	}
	for i := range c.Routing.Routes {
		if c.Routing.Routes[i].Extra != nil {
			c.Routing.Routes[i].Extra["x"] = "scribbled"
		}
		c.Routing.Routes[i].Path = "/scribbled"
	}
	for i := range c.Routing.APIKeys {
		k := &c.Routing.APIKeys[i]
		k.Value = "scribbled"
		k.Stages[0].API = "scribbled"
		k.Stages[0].Extra["x"] = "scribbled"
		k.Extra["x"] = "scribbled"
	}
	c.Routing.Extra["x"].([]any)[0] = "scribbled"
	c.Resources.Extra["x"] = "scribbled"
	res := c.Resources.Resources
	for i := range res.DynamoDB {
		tb := &res.DynamoDB[i]
		tb.KeySchema[0].AttributeName = "scribbled"
		tb.KeySchema[0].Extra["x"] = "scribbled"
		tb.AttributeDefinitions[0].Extra["x"] = "scribbled"
		tb.ProvisionedThroughput.ReadCapacityUnits = 99
		tb.ProvisionedThroughput.Extra["x"] = "scribbled"
		tb.GlobalSecondaryIndexes[0].Projection.NonKeyAttributes[0] = "scribbled"
		tb.GlobalSecondaryIndexes[0].Projection.Extra["x"] = "scribbled"
		tb.GlobalSecondaryIndexes[0].KeySchema[0].AttributeName = "scribbled"
		tb.LocalSecondaryIndexes[0].Extra["x"] = "scribbled"
		tb.StreamSpecification["StreamEnabled"] = false
		tb.TimeToLiveSpecification["Enabled"] = false
		tb.Extra["x"] = "scribbled"
	}
	for i := range res.S3 {
		res.S3[i].LifecycleConfiguration["Rules"].([]any)[0] = "scribbled"
		res.S3[i].Extra["x"] = "scribbled"
	}
	for i := range res.Layers {
		res.Layers[i].CompatibleRuntimes[0] = "scribbled"
		res.Layers[i].Extra["x"] = "scribbled"
	}
	for i := range res.SQS {
		res.SQS[i].Attributes["VisibilityTimeout"] = "scribbled"
		res.SQS[i].Extra["x"] = "scribbled"
	}
	for i := range res.SNS {
		res.SNS[i].Attributes["FifoTopic"] = "scribbled"
		res.SNS[i].Extra["x"] = "scribbled"
	}
	for i := range res.SNSSubscriptions {
		res.SNSSubscriptions[i].Attributes["RawMessageDelivery"] = "scribbled"
		res.SNSSubscriptions[i].Extra["x"] = "scribbled"
	}
	for k := range res.Extra {
		res.Extra[k].([]any)[0].(map[string]any)["x"] = "scribbled"
	}
}

func TestMergeDoesNotMutateInputs(t *testing.T) {
	tests := []struct {
		name   string
		base   func() Config
		deploy func() Config
	}{
		{name: "both full", base: func() Config { return richConfig("base") }, deploy: func() Config { return richConfig("deploy") }},
		{name: "empty base", base: Empty, deploy: func() Config { return richConfig("deploy") }},
		{name: "empty deploy", base: func() Config { return richConfig("base") }, deploy: Empty},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base, deploy := tt.base(), tt.deploy()
			got, _ := Merge(base, deploy)
			assert.Equal(t, tt.base(), base, "Merge changed base")
			assert.Equal(t, tt.deploy(), deploy, "Merge changed deploy")

			// The result must share nothing with the inputs either, or a
			// later edit of the published config would reach back into them.
			require.NotEmpty(t, got.Functions.Functions)
			scribble(got)
			assert.Equal(t, tt.base(), base, "result shares memory with base")
			assert.Equal(t, tt.deploy(), deploy, "result shares memory with deploy")
		})
	}
}

func TestCloneIsDeepAndEqual(t *testing.T) {
	orig := richConfig("x")
	c := orig.Clone()
	require.Equal(t, orig, c)
	scribble(c)
	assert.Equal(t, richConfig("x"), orig)
	assert.NotEqual(t, orig, c, "scribble must reach the clone, or this test proves nothing")
}

// BenchmarkMerge merges a 10-function deploy into a 200-function aggregate,
// the size of a large edge site.
func BenchmarkMerge(b *testing.B) {
	base := Empty()
	for i := range 200 {
		name := fmt.Sprintf("Function%03d", i)
		base.Functions.Functions[name] = Function{Image: "img/" + name, Environment: map[string]string{"K": "v"}}
		base.Routing.Routes = append(base.Routing.Routes, route("/"+name, "GET", name))
		base.Resources.Resources.DynamoDB = append(base.Resources.Resources.DynamoDB, table(name))
	}
	deploy := Empty()
	for i := range 10 {
		name := fmt.Sprintf("Function%03d", i*20)
		deploy.Functions.Functions[name] = Function{Image: "img/" + name + ":new"}
		deploy.Routing.Routes = append(deploy.Routing.Routes, route("/"+name, "GET", name))
	}
	b.ReportAllocs()
	for b.Loop() {
		if got, _ := Merge(base, deploy); len(got.Functions.Functions) != 200 {
			b.Fatalf("got %d functions, want 200", len(got.Functions.Functions))
		}
	}
}
