// Package sam reads AWS SAM templates (YAML or JSON) the way CloudFormation
// and the SAM transform would, and returns the resources ESB can run
// locally: functions with their HTTP and schedule events, APIs, layers,
// DynamoDB tables and S3 buckets.
//
// Intrinsic functions are evaluated with parameter values, mappings,
// conditions and pseudo parameters, but only where ESB reads a value: a
// template that uses, say, Fn::ImportValue in an IAM policy still parses.
// Every reference is nevertheless checked up front, as CloudFormation does.
// Problems come back as *Error values carrying file, line, column and the
// path inside the template; several are joined with errors.Join.
package sam

import (
	"gopkg.in/yaml.v3"

	"github.com/esb-dev/esb/internal/runtimeconfig"
)

// Package types, as CloudFormation spells them.
const (
	PackageZip   = "Zip"
	PackageImage = "Image"
)

// Resource types this package reads.
const (
	TypeServerlessFunction = "AWS::Serverless::Function"
	TypeServerlessAPI      = "AWS::Serverless::Api"
	TypeServerlessHTTPAPI  = "AWS::Serverless::HttpApi"
	TypeServerlessLayer    = "AWS::Serverless::LayerVersion"
	TypeServerlessTable    = "AWS::Serverless::SimpleTable"
	TypeLambdaFunction     = "AWS::Lambda::Function"
	TypeDynamoDBTable      = "AWS::DynamoDB::Table"
	TypeS3Bucket           = "AWS::S3::Bucket"
)

// Event types that produce routes.
const (
	EventAPI     = "Api"     // REST API, payload format 1.0
	EventHTTPAPI = "HttpApi" // HTTP API, payload format 2.0 unless set
)

// Logical IDs SAM gives the APIs it creates for events without
// RestApiId/ApiId.
const (
	ImplicitRestAPI = "ServerlessRestApi"
	ImplicitHTTPAPI = "ServerlessHttpApi"
)

// Template is a parsed SAM template with conditions applied: resources
// whose Condition is false are absent. Slices keep template order.
type Template struct {
	Path        string // absolute path of the template file; empty when parsed with Parse
	Dir         string // its directory, symlinks resolved; code paths are relative to it
	Description string
	Functions   []Function
	APIs        []API
	Layers      []Layer
	Tables      []Table
	Buckets     []Bucket
	// Queues, Topics and Subscriptions live on the env's messaging service.
	Queues        []Queue
	Topics        []Topic
	Subscriptions []Subscription
	// APIKeys are the AWS::ApiGateway::ApiKey resources with a Value.
	APIKeys []runtimeconfig.APIKey
	// Warnings name what was skipped or cannot behave as on AWS.
	Warnings []Warning
}

// Function is an AWS::Serverless::Function or AWS::Lambda::Function with
// Globals and defaults applied. It carries what the deploy pipeline needs to
// build the function's image.
type Function struct {
	LogicalID   string
	Type        string // TypeServerlessFunction or TypeLambdaFunction
	Name        string // FunctionName, else LogicalID
	PackageType string // PackageZip or PackageImage

	// Zip functions.
	Runtime string // a name from runtimecatalog
	Handler string
	CodeDir string // absolute, symlinks resolved, inside Template.Dir
	// CodeArchive, instead of CodeDir, is a .zip or .jar deployment
	// package (absolute, inside Template.Dir): Lambda extracts it into
	// /var/task, and so does the deploy pipeline.
	CodeArchive string
	// CodeFile, instead of CodeDir, is a single source file CodeUri names
	// (absolute, inside Template.Dir); its package holds that file alone.
	CodeFile string
	// InlineCode, instead of CodeDir, is the source given in the template
	// (InlineCode, Code.ZipFile); CloudFormation writes it to InlineFile
	// (index.py or index.js) in an otherwise empty package.
	InlineCode  string
	InlineFile  string
	BuildMethod string // Metadata.BuildMethod (e.g. esbuild, makefile), if any
	Layers      []Layer

	// Image functions: either a ready image or a Dockerfile to build.
	ImageURI      string
	DockerContext string // absolute, symlinks resolved, inside Template.Dir
	Dockerfile    string // relative to DockerContext, as in SAM's Metadata
	DockerTag     string

	Timeout    int // seconds; SAM default 3
	MemorySize int // MB; SAM default 128
	// EphemeralStorage is the size of /tmp in MB; 0: Lambda's default (512).
	EphemeralStorage int
	Architectures    []string
	Environment      map[string]string

	// ReservedConcurrency is ReservedConcurrentExecutions; 0 means unset.
	ReservedConcurrency int
	// ProvisionedConcurrency is ProvisionedConcurrencyConfig's
	// ProvisionedConcurrentExecutions; 0 means unset.
	ProvisionedConcurrency int

	Routes    []Route
	Schedules []Schedule
	// SQSEvents are the function's SQS event source mappings.
	SQSEvents []SQSEvent
	// SNSEvents are the function's SNS subscriptions.
	SNSEvents []SNSEvent
	// S3Events are the function's bucket notifications.
	S3Events []S3Event
	// Async is EventInvokeConfig and DeadLetterQueue; nil when neither is
	// set.
	Async *Async
	// URL is FunctionUrlConfig, the function's own address; nil when the
	// function has none.
	URL *runtimeconfig.FunctionURL
}

// Route is an Api or HttpApi event of a function, or an operation of an
// API's OpenAPI document that invokes it.
type Route struct {
	Event   string // the event's key under Events; empty for an OpenAPI route
	OpenAPI string // where an OpenAPI route was read from (a template path)
	Type    string // EventAPI or EventHTTPAPI
	Path    string // API Gateway syntax: /items/{id}, /files/{proxy+}
	Method  string // upper case; "ANY" matches all
	Payload string // "1.0" or "2.0"
	API     string // logical ID of the API, ImplicitRestAPI/ImplicitHTTPAPI if none was named
	Stage   string
	// Auth is what the gateway checks before the function runs; nil for
	// an open route.
	Auth *runtimeconfig.RouteAuth
	// Cors is the CORS configuration of the route's API; nil when none.
	Cors *runtimeconfig.Cors
	// TimeoutMillis is the integration timeout the template sets
	// (TimeoutInMillis); 0 leaves the API kind's default.
	TimeoutMillis int

	node *yaml.Node // where it is written, for messages
	auth *routeAuth // the event's Auth, if any
}

// Schedule is a Schedule or ScheduleV2 event of a function.
type Schedule struct {
	Event      string
	Kind       string // "Schedule" or "ScheduleV2"
	Name       string
	Expression string // rate(...), cron(...) or, for ScheduleV2, at(...)
	Timezone   string // ScheduleExpressionTimezone; empty is UTC
	Input      string // JSON passed as the event, if set
	Enabled    *bool  // nil when the template does not say
	// StartDate and EndDate (ScheduleV2) as written, RFC 3339.
	StartDate, EndDate string
}

// API is an AWS::Serverless::Api or AWS::Serverless::HttpApi.
type API struct {
	LogicalID string
	Type      string
	Name      string
	StageName string

	auth apiAuth
	cors *apiCors
	// ownDocument: the template gives the OpenAPI document, which the
	// transform leaves as it is (no MergeDefinitions).
	ownDocument bool
}

// Layer is an AWS::Serverless::LayerVersion.
type Layer struct {
	LogicalID          string
	Name               string // LayerName, else LogicalID
	ContentURI         string // as written, cleaned, slash-separated
	ContentDir         string // absolute, symlinks resolved, inside Template.Dir
	CompatibleRuntimes []string
	BuildMethod        string
}

// Table is an AWS::DynamoDB::Table, or the table an
// AWS::Serverless::SimpleTable stands for. Its properties are the shape
// CreateTable takes, which is what resources.yml holds.
type Table struct {
	LogicalID string
	Type      string
	runtimeconfig.DynamoDBTable
}

// Bucket is an AWS::S3::Bucket.
type Bucket struct {
	LogicalID              string
	BucketName             string
	LifecycleConfiguration map[string]any

	// notifications are its NotificationConfiguration's
	// LambdaConfigurations; checkS3Events hands each to its function as
	// an S3 event.
	notifications []bucketNotification
}
