// Package runtimeconfig holds the contract between deploy, gateway, agent and
// provisioner: the typed model of functions.yml, routing.yml and
// resources.yml, how they are loaded and validated, how a deploy is merged
// into an env's CONFIG_DIR, and how that directory is seeded.
//
// Every struct keeps fields it does not know in Extra, so a reader built
// before a field was added neither rejects nor drops it when it rewrites the
// file during a merge.
//
// Writers (MergeInto, Seed) hold ${CONFIG_DIR}/.deploy.lock and replace
// each file by rename, functions.yml first; readers (Load, ReadFiles) take
// no lock and read functions.yml last. Together with "functions are never
// deleted" this means a reader always gets three complete files whose
// routes name functions that exist, even in the middle of a deploy.
package runtimeconfig

import "strings"

// File names inside CONFIG_DIR.
const (
	FunctionsFileName = "functions.yml"
	RoutingFileName   = "routing.yml"
	ResourcesFileName = "resources.yml"
	LockFileName      = ".deploy.lock"
)

// FileNames lists the three config files.
var FileNames = [...]string{FunctionsFileName, RoutingFileName, ResourcesFileName}

// Payload format versions of API Gateway proxy events.
const (
	PayloadV1 = "1.0" // REST API (SAM event type Api)
	PayloadV2 = "2.0" // HTTP API (SAM event type HttpApi)
)

// MethodAny matches every HTTP method.
const MethodAny = "ANY"

// API kinds of a route (Route.Kind): an HTTP API may send either payload
// format, so the payload alone does not tell which API Gateway answers.
const (
	KindREST = "rest" // AWS::Serverless::Api, SAM event type Api
	KindHTTP = "http" // AWS::Serverless::HttpApi, SAM event type HttpApi
)

// API Gateway's integration timeouts, in milliseconds (Route.TimeoutMillis).
// A REST API's default is 29 s, which a Regional REST API may raise with
// a quota increase; an HTTP API's is 30 s, also its maximum.
const (
	MinTimeoutMillis         = 50
	DefaultTimeoutMillisREST = 29000
	DefaultTimeoutMillisHTTP = 30000
	MaxTimeoutMillisHTTP     = 30000
	// MaxTimeoutMillisREST bounds a raised REST timeout: no function runs
	// longer than Lambda's 15 minutes.
	MaxTimeoutMillisREST = 15 * 60 * 1000
)

// Config is one complete generation of runtime config: the three files
// decoded together.
type Config struct {
	Functions FunctionsFile
	Routing   RoutingFile
	Resources ResourcesFile
}

// FunctionsFile is functions.yml.
type FunctionsFile struct {
	Defaults  Defaults            `yaml:"defaults,omitempty"`
	Functions map[string]Function `yaml:"functions"`
	Extra     map[string]any      `yaml:",inline"`
}

// Defaults apply to every function that does not set the value itself.
// Merging keeps existing keys and only adds missing ones.
type Defaults struct {
	Environment map[string]string `yaml:"environment,omitempty"`
	Extra       map[string]any    `yaml:",inline"`
}

// Function is one Lambda function. Its key in FunctionsFile.Functions is the
// SAM FunctionName, else the logical ID.
type Function struct {
	Image  string `yaml:"image" json:"image,omitempty"`
	Digest string `yaml:"digest,omitempty" json:"digest,omitempty"`
	// Source fingerprints what the image was built from (code, layers,
	// base, handler); a deploy with the same Source and a digest still in
	// the registry skips the build.
	Source     string `yaml:"source,omitempty" json:"source,omitempty"`
	Runtime    string `yaml:"runtime,omitempty" json:"runtime,omitempty"`
	Handler    string `yaml:"handler,omitempty" json:"handler,omitempty"`
	Timeout    int    `yaml:"timeout,omitempty" json:"timeout,omitempty"`         // seconds
	MemorySize int    `yaml:"memory_size,omitempty" json:"memory_size,omitempty"` // MB
	// EphemeralStorage is the size of the function's /tmp in MB; 0 means
	// Lambda's default, 512.
	EphemeralStorage int               `yaml:"ephemeral_storage,omitempty" json:"ephemeral_storage,omitempty"`
	Architectures    []string          `yaml:"architectures,omitempty" json:"architectures,omitempty"`
	Environment      map[string]string `yaml:"environment,omitempty" json:"environment,omitempty"`
	Layers           []string          `yaml:"layers,omitempty" json:"layers,omitempty"`
	Scaling          Scaling           `yaml:"scaling,omitempty" json:"scaling,omitempty"`
	Schedules        []Schedule        `yaml:"schedules,omitempty" json:"schedules,omitempty"`
	// Async holds how the events service treats the function's
	// asynchronous invocations (EventInvokeConfig, DeadLetterQueue); nil
	// means Lambda's defaults.
	Async *Async `yaml:"async,omitempty" json:"async,omitempty"`
	// EventSources are the queues the events service polls for the
	// function (SAM SQS events, and the queues of its SNS events).
	EventSources []EventSource `yaml:"event_sources,omitempty" json:"event_sources,omitempty"`
	// URL is the function's own HTTP endpoint (SAM FunctionUrlConfig);
	// nil when it has none.
	URL   *FunctionURL   `yaml:"url,omitempty" json:"url,omitempty"`
	Extra map[string]any `yaml:",inline" json:"extra,omitempty"`
}

// Function URL auth types, as Lambda names them.
const (
	URLAuthNone = "NONE"    // anyone who reaches the address
	URLAuthIAM  = "AWS_IAM" // SigV4-signed requests (service lambda) only
)

// Function URL invoke modes. Only BUFFERED is served: the SAM parser
// refuses RESPONSE_STREAM.
const (
	URLInvokeBuffered = "BUFFERED"
	URLInvokeStream   = "RESPONSE_STREAM"
)

// FunctionURL is a function URL: the gateway serves every method and path
// of the host <ID>.lambda-url.<region>.<any domain> to the function alone,
// with Lambda's function URL event (payload 2.0 shape).
type FunctionURL struct {
	// ID is the url-id, the host's first label: 32 lower-case letters and
	// digits (awsid.FunctionURLID), unique in the env.
	ID       string `yaml:"id" json:"id"`
	AuthType string `yaml:"auth_type" json:"auth_type"` // URLAuthNone or URLAuthIAM
	// InvokeMode is URLInvokeBuffered; empty means the same.
	InvokeMode string `yaml:"invoke_mode,omitempty" json:"invoke_mode,omitempty"`
	// Cors is answered by the gateway as an HTTP API's CorsConfiguration
	// is (Kind CorsHTTP): Lambda handles a function URL's CORS the same way.
	Cors  *Cors          `yaml:"cors,omitempty" json:"cors,omitempty"`
	Extra map[string]any `yaml:",inline" json:"extra,omitempty"`
}

// Event source types.
const (
	EventSourceSQS = "sqs"
	// EventSourceSNS reads the queue subscribed to Topic for the function
	// and invokes it asynchronously with each message in SNS's event.
	EventSourceSNS = "sns"
	// EventSourceS3 takes Bucket's notifications (the env's S3 service
	// posts them to the events service) of Events on keys matching
	// Prefix and Suffix, and invokes the function asynchronously with
	// each in S3's event.
	EventSourceS3 = "s3"
)

// EventSource is an event source mapping: the events service reads the
// source and invokes the function with batches of what it read.
type EventSource struct {
	Type  string `yaml:"type" json:"type"`                       // EventSourceSQS
	Event string `yaml:"event,omitempty" json:"event,omitempty"` // the SAM event's key
	Queue string `yaml:"queue,omitempty" json:"queue,omitempty"` // the queue's ARN
	Topic string `yaml:"topic,omitempty" json:"topic,omitempty"` // EventSourceSNS: the topic's ARN
	// Bucket, Events, Prefix and Suffix are an EventSourceS3's bucket
	// name, S3 event types (s3:ObjectCreated:*...) and key filter.
	Bucket string   `yaml:"bucket,omitempty" json:"bucket,omitempty"`
	Events []string `yaml:"events,omitempty" json:"events,omitempty"`
	Prefix string   `yaml:"prefix,omitempty" json:"prefix,omitempty"`
	Suffix string   `yaml:"suffix,omitempty" json:"suffix,omitempty"`
	// BatchSize is the most records one invocation gets (default 10).
	BatchSize int `yaml:"batch_size,omitempty" json:"batch_size,omitempty"`
	// MaxBatchingWindow is how many seconds a batch may wait to fill.
	MaxBatchingWindow int `yaml:"max_batching_window,omitempty" json:"max_batching_window,omitempty"`
	// ReportBatchItemFailures: the function answers which records failed,
	// and only those are read again.
	ReportBatchItemFailures bool `yaml:"report_batch_item_failures,omitempty" json:"report_batch_item_failures,omitempty"`
	// MaxConcurrency bounds the invocations in flight for this source
	// (ScalingConfig.MaximumConcurrency); 0 means the service's default.
	MaxConcurrency int            `yaml:"max_concurrency,omitempty" json:"max_concurrency,omitempty"`
	Enabled        *bool          `yaml:"enabled,omitempty" json:"enabled,omitempty"`
	Extra          map[string]any `yaml:",inline" json:"extra,omitempty"`
}

// Async is a function's asynchronous invocation config. Targets are ARNs
// (Lambda, SQS or SNS) as the template resolved them.
type Async struct {
	// MaximumRetryAttempts is 0-2; nil means Lambda's default of 2.
	MaximumRetryAttempts *int `yaml:"maximum_retry_attempts,omitempty" json:"maximum_retry_attempts,omitempty"`
	// MaximumEventAge is in seconds, 60-21600; 0 means Lambda's 21600.
	MaximumEventAge int            `yaml:"maximum_event_age,omitempty" json:"maximum_event_age,omitempty"`
	OnSuccess       string         `yaml:"on_success,omitempty" json:"on_success,omitempty"`
	OnFailure       string         `yaml:"on_failure,omitempty" json:"on_failure,omitempty"`
	DeadLetter      string         `yaml:"dead_letter,omitempty" json:"dead_letter,omitempty"`
	Extra           map[string]any `yaml:",inline" json:"extra,omitempty"`
}

// Scaling bounds how many containers of a function run.
type Scaling struct {
	MaxConcurrency int            `yaml:"max_concurrency,omitempty" json:"max_concurrency,omitempty"`
	MinWarm        int            `yaml:"min_warm,omitempty" json:"min_warm,omitempty"`
	IdleTimeout    int            `yaml:"idle_timeout,omitempty" json:"idle_timeout,omitempty"` // seconds
	Extra          map[string]any `yaml:",inline" json:"extra,omitempty"`
}

// Schedule is a SAM Schedule or ScheduleV2 event, kept on its function;
// the events service fires it.
type Schedule struct {
	Name       string `yaml:"name,omitempty" json:"name,omitempty"`
	Expression string `yaml:"expression" json:"expression,omitempty"`
	Input      string `yaml:"input,omitempty" json:"input,omitempty"`
	Enabled    *bool  `yaml:"enabled,omitempty" json:"enabled,omitempty"`
	// Event is the event's key under the function's Events.
	Event string `yaml:"event,omitempty" json:"event,omitempty"`
	// Kind is ScheduleKindRule (EventBridge rule) or ScheduleKindScheduler;
	// empty (files written before the field) counts as a rule.
	Kind string `yaml:"kind,omitempty" json:"kind,omitempty"`
	// Timezone is ScheduleExpressionTimezone (IANA name); empty is UTC.
	Timezone string `yaml:"timezone,omitempty" json:"timezone,omitempty"`
	// StartDate and EndDate (RFC 3339, ScheduleV2) bound the ticks that
	// fire; empty is unbounded.
	StartDate string         `yaml:"start_date,omitempty" json:"start_date,omitempty"`
	EndDate   string         `yaml:"end_date,omitempty" json:"end_date,omitempty"`
	Extra     map[string]any `yaml:",inline" json:"extra,omitempty"`
}

// Schedule kinds: they send different events.
const (
	ScheduleKindRule      = "Schedule"   // EventBridge rule: a "Scheduled Event"
	ScheduleKindScheduler = "ScheduleV2" // EventBridge Scheduler: the Input verbatim
)

// RoutingFile is routing.yml.
type RoutingFile struct {
	Routes []Route `yaml:"routes"`
	// APIKeys are the template's AWS::ApiGateway::ApiKey resources that
	// carry a Value: a route with auth.api_key accepts them besides the
	// lines of $CONFIG_DIR/auth/api-keys.
	APIKeys []APIKey       `yaml:"api_keys,omitempty"`
	Extra   map[string]any `yaml:",inline"`
}

// APIKey is an API key a template defines. Merged by Name: a later deploy
// replaces a key of the same name.
type APIKey struct {
	Name  string `yaml:"name"`  // the key's Name, else its logical ID
	Value string `yaml:"value"` // what callers send in x-api-key
	// Enabled false keeps the key refused, as API Gateway refuses a
	// disabled key.
	Enabled bool `yaml:"enabled"`
	// Stages tie the key to these API stages (StageKeys); empty means
	// every API of the env, as ESB enforces no usage plans.
	Stages []APIStage     `yaml:"stages,omitempty"`
	Extra  map[string]any `yaml:",inline"`
}

// APIStage names one stage of one API (Route.API and Route.Stage).
type APIStage struct {
	API   string         `yaml:"api"`
	Stage string         `yaml:"stage"`
	Extra map[string]any `yaml:",inline"`
}

// Opens reports whether the key opens a route of api and stage.
func (k APIKey) Opens(api, stage string) bool {
	if !k.Enabled {
		return false
	}
	if len(k.Stages) == 0 {
		return true
	}
	for _, s := range k.Stages {
		if strings.EqualFold(s.API, api) && s.Stage == stage {
			return true
		}
	}
	return false
}

// Route maps (API, Path, Method) to a function. Path uses API Gateway
// syntax: "/items/{id}", "/files/{proxy+}".
type Route struct {
	Path     string `yaml:"path"`
	Method   string `yaml:"method"`
	Function string `yaml:"function"`
	Payload  string `yaml:"payload"`
	Stage    string `yaml:"stage,omitempty"`
	// API is the id of the API the route belongs to (sam.APIID of its
	// logical ID): the gateway serves each API on its own host name as
	// well as every route at its bare address. Files written before the
	// field existed have none.
	API string `yaml:"api,omitempty"`
	// Auth is what API Gateway checks before it invokes the function; nil
	// for an open route.
	Auth *RouteAuth `yaml:"auth,omitempty"`
	// Cors is the CORS configuration of the route's API; nil when it has
	// none.
	Cors *Cors `yaml:"cors,omitempty"`
	// Kind is the route's API kind, KindREST or KindHTTP. Files written
	// before the field existed have none: payload 2.0 is then an HTTP
	// API's route, 1.0 a REST API's (see APIKind).
	Kind string `yaml:"kind,omitempty"`
	// TimeoutMillis is the integration timeout (TimeoutInMillis): past it
	// the client gets API Gateway's timeout answer while the function
	// runs on. 0 means the kind's default.
	TimeoutMillis int            `yaml:"timeout_ms,omitempty"`
	Extra         map[string]any `yaml:",inline"`
}

// APIKind is the route's API kind: Kind, else what its payload implies.
func (rt Route) APIKind() string {
	if rt.Kind != "" {
		return rt.Kind
	}
	if rt.Payload == PayloadV2 {
		return KindHTTP
	}
	return KindREST
}

// IntegrationTimeoutMillis is the route's integration timeout in
// milliseconds: TimeoutMillis, else its API kind's default.
func (rt Route) IntegrationTimeoutMillis() int {
	switch {
	case rt.TimeoutMillis > 0:
		return rt.TimeoutMillis
	case rt.APIKind() == KindHTTP:
		return DefaultTimeoutMillisHTTP
	}
	return DefaultTimeoutMillisREST
}

// CORS kinds: how the API answers, as API Gateway does for each API type.
const (
	// CorsREST is SAM's Api Cors: an OPTIONS method on every path that
	// answers with fixed headers; responses of the functions are left as
	// they are.
	CorsREST = "rest"
	// CorsHTTP is an HttpApi's CorsConfiguration: preflights answered for
	// allowed origins, and the CORS headers set on every response.
	CorsHTTP = "http"
)

// Cors is an API's CORS configuration, on each of its routes.
type Cors struct {
	Kind             string   `yaml:"kind"`
	AllowOrigins     []string `yaml:"allow_origins,omitempty"`
	AllowMethods     []string `yaml:"allow_methods,omitempty"`
	AllowHeaders     []string `yaml:"allow_headers,omitempty"`
	ExposeHeaders    []string `yaml:"expose_headers,omitempty"`
	MaxAge           *int     `yaml:"max_age,omitempty"` // seconds
	AllowCredentials bool     `yaml:"allow_credentials,omitempty"`
	// PreflightAuth protects a REST API's OPTIONS answer: SAM puts the
	// API's DefaultAuthorizer and ApiKeyRequired on it unless
	// AddDefaultAuthorizerToCorsPreflight / AddApiKeyRequiredToCorsPreflight
	// are false.
	PreflightAuth *RouteAuth     `yaml:"preflight_auth,omitempty"`
	Extra         map[string]any `yaml:",inline"`
}

// Authorizer types of routing.yml, one per way API Gateway authorizes.
const (
	AuthorizerToken       = "token"        // REST Lambda authorizer, TOKEN
	AuthorizerRequest     = "request"      // REST Lambda authorizer, REQUEST
	AuthorizerHTTPRequest = "http-request" // HTTP API Lambda authorizer
	AuthorizerJWT         = "jwt"          // HTTP API JWT authorizer
	AuthorizerCognito     = "cognito"      // REST Cognito user-pool authorizer
)

// RouteAuth is a route's authorization: an authorizer or IAM, an API key,
// or both (a REST API checks the key after the authorizer).
type RouteAuth struct {
	// APIKey requires an x-api-key header that names a key of
	// $CONFIG_DIR/auth/api-keys or one of RoutingFile.APIKeys.
	APIKey bool `yaml:"api_key,omitempty"`
	// IAM requires a request signed with SigV4 (service execute-api) by
	// one of the env's keys: SAM's AWS_IAM authorizer. It excludes
	// Authorizer.
	IAM        bool           `yaml:"iam,omitempty"`
	Authorizer *Authorizer    `yaml:"authorizer,omitempty"`
	Extra      map[string]any `yaml:",inline"`
}

// Authorizer is one SAM authorizer as a route uses it.
type Authorizer struct {
	Name string `yaml:"name"` // its key under Auth.Authorizers
	Type string `yaml:"type"` // Authorizer* above
	// Function is the authorizer function (Lambda types).
	Function string `yaml:"function,omitempty"`
	// IdentitySources name where the identity is read, as
	// "header:<name>" or "query:<name>"; a request without one of them
	// is refused with 401 before any authorizer runs.
	IdentitySources []string `yaml:"identity_sources,omitempty"`
	// ValidationExpression must match a TOKEN authorizer's token, else 401.
	ValidationExpression string `yaml:"validation_expression,omitempty"`
	// TTL is how long a result is cached, keyed by the identity sources'
	// values (seconds; 0 turns caching off).
	TTL int `yaml:"ttl,omitempty"`
	// Payload is an HTTP API Lambda authorizer's payload format version.
	Payload string `yaml:"payload,omitempty"`
	// SimpleResponses: the HTTP API authorizer answers {"isAuthorized": ...}.
	SimpleResponses bool `yaml:"simple_responses,omitempty"`
	// Issuer and Audience check a JWT (jwt, cognito); keys come from
	// $CONFIG_DIR/auth/jwks.json.
	Issuer   string   `yaml:"issuer,omitempty"`
	Audience []string `yaml:"audience,omitempty"`
	// Scopes: the token must grant one of them (AuthorizationScopes).
	Scopes []string       `yaml:"scopes,omitempty"`
	Extra  map[string]any `yaml:",inline"`
}

// RouteKey identifies a route for merging: each API has its own routes.
type RouteKey struct{ API, Path, Method string }

// Key returns the route's merge key.
func (r Route) Key() RouteKey { return RouteKey{API: r.API, Path: r.Path, Method: r.Method} }

// ResourcesFile is resources.yml.
type ResourcesFile struct {
	Resources Resources      `yaml:"resources"`
	Extra     map[string]any `yaml:",inline"`
}

// Resources holds each kind the merge knows a key for. Kinds it does not
// know land in Extra: kept when already present, skipped with a warning when
// a deploy brings them.
type Resources struct {
	DynamoDB []DynamoDBTable `yaml:"dynamodb,omitempty"`
	S3       []S3Bucket      `yaml:"s3,omitempty"`
	Layers   []Layer         `yaml:"layers,omitempty"`
	SQS      []SQSQueue      `yaml:"sqs,omitempty"`
	SNS      []SNSTopic      `yaml:"sns,omitempty"`
	// SNSSubscriptions are apart from their topics: a template may
	// subscribe to a topic another deploy created, without replacing it.
	SNSSubscriptions []SNSSubscription `yaml:"sns_subscriptions,omitempty"`
	Extra            map[string]any    `yaml:",inline"`
}

// DynamoDBTable mirrors the CloudFormation AWS::DynamoDB::Table properties
// the provisioner passes to CreateTable. Merge key: TableName.
type DynamoDBTable struct {
	TableName               string                 `yaml:"TableName"`
	KeySchema               []KeySchemaElement     `yaml:"KeySchema"`
	AttributeDefinitions    []AttributeDefinition  `yaml:"AttributeDefinitions"`
	BillingMode             string                 `yaml:"BillingMode,omitempty"`
	ProvisionedThroughput   *ProvisionedThroughput `yaml:"ProvisionedThroughput,omitempty"`
	GlobalSecondaryIndexes  []SecondaryIndex       `yaml:"GlobalSecondaryIndexes,omitempty"`
	LocalSecondaryIndexes   []SecondaryIndex       `yaml:"LocalSecondaryIndexes,omitempty"`
	StreamSpecification     map[string]any         `yaml:"StreamSpecification,omitempty"`
	TimeToLiveSpecification map[string]any         `yaml:"TimeToLiveSpecification,omitempty"`
	Extra                   map[string]any         `yaml:",inline"`
}

// KeySchemaElement is one key attribute of a table or index.
type KeySchemaElement struct {
	AttributeName string         `yaml:"AttributeName"`
	KeyType       string         `yaml:"KeyType"` // HASH or RANGE
	Extra         map[string]any `yaml:",inline"`
}

// AttributeDefinition declares the type of a key attribute.
type AttributeDefinition struct {
	AttributeName string         `yaml:"AttributeName"`
	AttributeType string         `yaml:"AttributeType"` // S, N or B
	Extra         map[string]any `yaml:",inline"`
}

// ProvisionedThroughput is a table's or index's capacity.
type ProvisionedThroughput struct {
	ReadCapacityUnits  int64          `yaml:"ReadCapacityUnits"`
	WriteCapacityUnits int64          `yaml:"WriteCapacityUnits"`
	Extra              map[string]any `yaml:",inline"`
}

// SecondaryIndex is a global or local secondary index.
type SecondaryIndex struct {
	IndexName             string                 `yaml:"IndexName"`
	KeySchema             []KeySchemaElement     `yaml:"KeySchema"`
	Projection            Projection             `yaml:"Projection"`
	ProvisionedThroughput *ProvisionedThroughput `yaml:"ProvisionedThroughput,omitempty"`
	Extra                 map[string]any         `yaml:",inline"`
}

// Projection selects the attributes copied into an index.
type Projection struct {
	ProjectionType   string         `yaml:"ProjectionType,omitempty"`
	NonKeyAttributes []string       `yaml:"NonKeyAttributes,omitempty"`
	Extra            map[string]any `yaml:",inline"`
}

// S3Bucket mirrors AWS::S3::Bucket. Merge key: BucketName.
type S3Bucket struct {
	BucketName             string         `yaml:"BucketName"`
	LifecycleConfiguration map[string]any `yaml:"LifecycleConfiguration,omitempty"`
	Extra                  map[string]any `yaml:",inline"`
}

// SQSQueue is an AWS::SQS::Queue. Merge key: QueueName. Attributes are
// in the SQS API's form (CreateQueue's names, string values, RedrivePolicy
// as JSON), so the provisioner passes them through unchanged.
type SQSQueue struct {
	QueueName  string            `yaml:"QueueName"`
	Attributes map[string]string `yaml:"Attributes,omitempty"`
	Extra      map[string]any    `yaml:",inline"`
}

// SNSTopic is an AWS::SNS::Topic. Merge key: TopicName. Attributes are in
// the SNS API's form (FifoTopic, ContentBasedDeduplication...).
type SNSTopic struct {
	TopicName  string            `yaml:"TopicName"`
	Attributes map[string]string `yaml:"Attributes,omitempty"`
	Extra      map[string]any    `yaml:",inline"`
}

// SNSSubscription is an AWS::SNS::Subscription or an entry of a topic's
// Subscription list. Merge key: TopicArn, Protocol and Endpoint together,
// as SNS itself treats a second identical Subscribe as the same one.
type SNSSubscription struct {
	TopicArn   string            `yaml:"TopicArn"`
	Protocol   string            `yaml:"Protocol"`
	Endpoint   string            `yaml:"Endpoint"`
	Attributes map[string]string `yaml:"Attributes,omitempty"` // RawMessageDelivery, FilterPolicy...
	Extra      map[string]any    `yaml:",inline"`
}

// Key returns the subscription's merge key.
func (s SNSSubscription) Key() string { return s.TopicArn + " " + s.Protocol + " " + s.Endpoint }

// Layer is an AWS::Serverless::LayerVersion. Merge key: Name.
type Layer struct {
	Name               string         `yaml:"Name"`
	ContentURI         string         `yaml:"ContentUri,omitempty"`
	CompatibleRuntimes []string       `yaml:"CompatibleRuntimes,omitempty"`
	Extra              map[string]any `yaml:",inline"`
}
