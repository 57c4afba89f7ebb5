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

// File names inside CONFIG_DIR.
const (
	FunctionsFileName = "functions.yml"
	RoutingFileName   = "routing.yml"
	ResourcesFileName = "resources.yml"
	LockFileName      = ".deploy.lock"
)

// FileNames lists the three config files in the order they are written.
var FileNames = [...]string{FunctionsFileName, RoutingFileName, ResourcesFileName}

// Payload format versions of API Gateway proxy events.
const (
	PayloadV1 = "1.0" // REST API (SAM event type Api)
	PayloadV2 = "2.0" // HTTP API (SAM event type HttpApi)
)

// MethodAny matches every HTTP method.
const MethodAny = "ANY"

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
	Extra            map[string]any    `yaml:",inline" json:"extra,omitempty"`
}

// Scaling bounds how many containers of a function run.
type Scaling struct {
	MaxConcurrency int            `yaml:"max_concurrency,omitempty" json:"max_concurrency,omitempty"`
	MinWarm        int            `yaml:"min_warm,omitempty" json:"min_warm,omitempty"`
	IdleTimeout    int            `yaml:"idle_timeout,omitempty" json:"idle_timeout,omitempty"` // seconds
	Extra          map[string]any `yaml:",inline" json:"extra,omitempty"`
}

// Schedule is a SAM Schedule event, kept on its function.
type Schedule struct {
	Name       string         `yaml:"name,omitempty" json:"name,omitempty"`
	Expression string         `yaml:"expression" json:"expression,omitempty"`
	Input      string         `yaml:"input,omitempty" json:"input,omitempty"`
	Enabled    *bool          `yaml:"enabled,omitempty" json:"enabled,omitempty"`
	Extra      map[string]any `yaml:",inline" json:"extra,omitempty"`
}

// RoutingFile is routing.yml.
type RoutingFile struct {
	Routes []Route        `yaml:"routes"`
	Extra  map[string]any `yaml:",inline"`
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
	API   string         `yaml:"api,omitempty"`
	Extra map[string]any `yaml:",inline"`
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
	Extra    map[string]any  `yaml:",inline"`
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

// Layer is an AWS::Serverless::LayerVersion. Merge key: Name.
type Layer struct {
	Name               string         `yaml:"Name"`
	ContentURI         string         `yaml:"ContentUri,omitempty"`
	CompatibleRuntimes []string       `yaml:"CompatibleRuntimes,omitempty"`
	Extra              map[string]any `yaml:",inline"`
}
