package sam

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestErrors pins the exact messages for bad templates: they are what a
// person reads to fix the template, so position, path and wording matter.
func TestErrors(t *testing.T) {
	tests := []struct {
		name      string
		file      string
		overrides map[string]string
		want      []string
	}{
		{
			name: "unsupported runtime",
			file: "unsupported-runtime.yml",
			want: []string{
				`template.yml:8:16: Resources.HelloFunction.Properties.Runtime: unsupported runtime "python2.7" (supported: java17, java21, java25, nodejs18.x, nodejs20.x, nodejs22.x, nodejs24.x, provided.al2, provided.al2023, python3.11, python3.13, python3.14, ruby3.3)`,
			},
		},
		{
			name: "unknown references, malformed intrinsics",
			file: "unknown-references.yml",
			want: []string{
				`template.yml:11:18: Resources.HelloFunction.Properties.Environment.Variables.TABLE: Ref to unknown "MissingTable" (not a parameter, pseudo parameter or resource)`,
				`template.yml:12:16: Resources.HelloFunction.Properties.Environment.Variables.ARN: Fn::GetAtt: unknown resource "MissingQueue"`,
				`template.yml:13:16: Resources.HelloFunction.Properties.Environment.Variables.URL: Fn::Sub: ${MissingApi} is not a parameter, pseudo parameter, resource or variable`,
				`template.yml:13:16: Resources.HelloFunction.Properties.Environment.Variables.URL: Fn::Sub: ${Stage} is not a parameter, pseudo parameter, resource or variable`,
				`template.yml:14:22: Resources.HelloFunction.Properties.Environment.Variables.FLAG: unknown condition "NoSuchCondition" (the template has no conditions)`,
				`template.yml:15:19: Resources.HelloFunction.Properties.Environment.Variables.BROKEN: Fn::Sub: malformed variable "${Env" (want ${Name}; write ${!Name} for a literal ${Name})`,
				`template.yml:16:18: Resources.HelloFunction.Properties.Environment.Variables.SHAPE: Fn::Select: want [index, [values...]], got a list of 1`,
				`template.yml:17:17: Resources.HelloFunction.DependsOn: unknown resource "NoSuchResource"`,
			},
		},
		{
			name: "event sources the env cannot send are refused, not skipped",
			file: "unsupported-events.yml",
			want: []string{
				`template.yml:11:17: Resources.HelloFunction.Properties.Events.OnOrder.Type: event type EventBridgeRule is not supported locally: nothing in the env would send it, so OnOrder of HelloFunction would never run; supported: Api, HttpApi, Schedule, ScheduleV2, SQS, SNS, S3; remove the event (or deploy the function without it)`,
				`template.yml:15:17: Resources.HelloFunction.Properties.Events.OnStream.Type: event type Kinesis is not supported locally: the env has no Kinesis streams (its DynamoDB service, dynalite, has none, and there is no Kinesis), so OnStream of HelloFunction would never run; remove the event (or deploy the function without it)`,
			},
		},
		{
			name: "circular dependency through GetAtt and Sub",
			file: "circular-dependency.yml",
			want: []string{
				`template.yml:9:5: Resources.PingFunction: circular dependency: PingFunction -> PongFunction -> PingFunction`,
			},
		},
		{
			name: "cyclic conditions",
			file: "cyclic-conditions.yml",
			want: []string{
				`template.yml:4:12: Conditions.B: cyclic condition: A -> B -> A`,
			},
		},
		{
			name: "unknown condition names",
			file: "conditions.yml",
			want: []string{
				`template.yml:4:31: Conditions.Unknown: unknown condition "Missing" (known conditions: A, Unknown)`,
				`template.yml:8:16: Resources.Bucket.Condition: unknown condition "NoSuchCondition" (known conditions: A, Unknown)`,
			},
		},
		{
			name: "condition referencing a resource",
			file: "condition-uses-resource.yml",
			want: []string{
				`template.yml:3:26: Conditions.UsesResource: Ref Bucket: conditions can only use parameters, pseudo parameters and mappings`,
			},
		},
		{
			name: "bad Fn::Select index",
			file: "bad-select.yml",
			want: []string{
				`template.yml:15:18: Resources.HelloFunction.Properties.Environment.Variables.THIRD: Fn::Select: index 2 is out of range for a list of 2`,
				`template.yml:16:21: Resources.HelloFunction.Properties.Environment.Variables.NEGATIVE: Fn::Select: index -1 is out of range for a list of 2`,
				`template.yml:17:17: Resources.HelloFunction.Properties.Environment.Variables.WORD: Fn::Select: index "first" is not an integer`,
			},
		},
		{
			name: "wrong property types and values",
			file: "wrong-types.yml",
			want: []string{
				`template.yml:8:16: Resources.HelloFunction.Properties.Runtime: want a string, got a list`,
				`template.yml:9:16: Resources.HelloFunction.Properties.Timeout: want an integer, got "soon"`,
				`template.yml:10:19: Resources.HelloFunction.Properties.MemorySize: 64 is out of range [128, 10240]`,
				`template.yml:11:22: Resources.HelloFunction.Properties.Architectures: want exactly one architecture (x86_64 or arm64), got 2`,
				`template.yml:14:11: Resources.HelloFunction.Properties.Environment.Variables: want a mapping, got a list`,
				`template.yml:19:19: Resources.HelloFunction.Properties.Events.Api.Properties.Path: path "hello" must start with / and contain no spaces, '?' or '#'`,
				`template.yml:20:21: Resources.HelloFunction.Properties.Events.Api.Properties.Method: unsupported method "FETCH" (want GET, POST, PUT, PATCH, DELETE, HEAD, OPTIONS or ANY)`,
			},
		},
		{
			name: "parameter without value, bad default",
			file: "missing-parameter.yml",
			want: []string{
				`template.yml:3:3: Parameters.DatabaseUrl: parameter "DatabaseUrl" has no Default and no value was given (pass it as a parameter override DatabaseUrl=...)`,
				`template.yml:7:14: Parameters.Replicas: Default "two" is not a number`,
			},
		},
		{
			name:      "parameter overrides: undeclared and not allowed",
			file:      "missing-parameter.yml",
			overrides: map[string]string{"DatabaseUrl": "postgres://db", "Replicas": "x2", "Replica": "2"},
			want: []string{
				`template.yml: parameter override "Replica": the template declares no such parameter (known parameters: DatabaseUrl, Replicas)`,
				`template.yml:5:3: Parameters.Replicas: override value "x2" is not a number`,
			},
		},
		{
			name: "code locations",
			file: "code-locations.yml",
			want: []string{
				`template.yml:11:9: Resources.S3Function.Properties.CodeUri: S3 locations are not supported; ESB builds from local directories (give a path relative to the template)`,
				`template.yml:16:16: Resources.MissingFunction.Properties.CodeUri: directory "hello_world/" does not exist`,
				`template.yml:20:16: Resources.OutsideFunction.Properties.CodeUri: "../" is outside the template's directory (symlinks followed); move the code under it`,
				`template.yml:28:19: Resources.Layer.Properties.ContentUri: "s3://bucket/layer.zip": remote locations are not supported; ESB builds from local directories`,
			},
		},
		{
			name: "YAML syntax",
			file: "yaml-syntax.yml",
			want: []string{`template.yml:2: invalid YAML: did not find expected key`},
		},
		{
			name: "unknown tag",
			file: "unknown-tag.yml",
			want: []string{
				`template.yml:6:19: Resources.Bucket.Properties.BucketName: unknown tag !Reference (CloudFormation short forms are !Ref, !Sub, !GetAtt, !Join, !Select, !Split, !If, !Equals, !And, !Or, !Not, !Condition, !FindInMap, !ImportValue, !Base64, !GetAZs, !Cidr, !Transform, !Length, !ToJsonString)`,
			},
		},
		{
			name: "serverless type without the transform",
			file: "no-transform.yml",
			want: []string{
				`template.yml:4:11: Resources.Table.Type: AWS::Serverless::SimpleTable needs "Transform: AWS::Serverless-2016-10-31" at the top of the template`,
			},
		},
		{
			name: "globals",
			file: "globals.yml",
			want: []string{
				`template.yml:4:5: Globals.Function.FunctionName: cannot be set in Globals; set it on each function`,
				`template.yml:5:5: Globals.Function.Events: cannot be set in Globals; set it on each function`,
				`template.yml:6:3: Globals.Table: unknown Globals section (want Api, CapacityProvider, Function, HttpApi, LayerVersion, SimpleTable, StateMachine, WebSocketApi)`,
			},
		},
		{
			name: "functions and events",
			file: "functions-and-events.yml",
			want: []string{
				`template.yml:9:7: Resources.NoHandlerFunction.Properties.Handler: required for Zip functions`,
				`template.yml:12:11: Resources.NoHandlerFunction.Properties.Environment.Variables.AWS_REGION: AWS_REGION is reserved by the Lambda runtime`,
				`template.yml:21:23: Resources.RoutesFunction.Properties.Events.Half.Properties.Method: required when Path is set (omit both for a catch-all route)`,
				`template.yml:25:24: Resources.RoutesFunction.Properties.Events.WrongApi.Properties.RestApiId: "HttpApi" is not an AWS::Serverless::Api of this template (use !Ref to one)`,
				`template.yml:31:23: Resources.RoutesFunction.Properties.Events.Tick.Properties.Schedule: invalid schedule expression "every 5 minutes" (want rate(...) or cron(...))`,
				`template.yml:33:11: Resources.ImageFunction: PackageType Image needs Properties.ImageUri, or Metadata.Dockerfile and Metadata.DockerContext to build the image`,
				`template.yml:36:15: Resources.ImageFunction.Properties.Layers: Image functions cannot have layers; install the layer's content in the image`,
			},
		},
		{
			name: "duplicate function names and routes",
			file: "duplicate-routes.yml",
			want: []string{
				`template.yml:16:5: Resources.OtherListFunction: function name "ListFunction" is also used by ListFunction`,
				`template.yml:24:11: Resources.OtherListFunction.Properties.Events.Rest: route GET /items of ServerlessRestApi is also defined by ListFunction.Events.Rest`,
			},
		},
		{
			name: "tables and buckets",
			file: "tables-and-buckets.yml",
			want: []string{
				`template.yml:8:9: Resources.OrdersTable.Properties.AttributeDefinitions: attribute "unused" is defined but is not a key of the table or of an index (DynamoDB rejects that)`,
				`template.yml:15:7: Resources.UsersTable.Properties.ProvisionedThroughput: required unless BillingMode is PAY_PER_REQUEST`,
				`template.yml:17:46: Resources.UsersTable.Properties.AttributeDefinitions[0].AttributeType: "STRING" is not one of S, N, B`,
				`template.yml:19:40: Resources.UsersTable.Properties.KeySchema[0].KeyType: the first key must be HASH and the second RANGE`,
				`template.yml:23:19: Resources.BadBucket.Properties.BucketName: invalid bucket name "My_Bucket" (3 to 63 lower-case letters, digits, '.' or '-', starting and ending with a letter or digit)`,
				`template.yml:29:5: Resources.SameBucketAgain: bucket name "assets" is also used by SameBucket`,
			},
		},
		{
			name: "intrinsics that cannot be evaluated",
			file: "intrinsic-misuse.yml",
			want: []string{
				`template.yml:21:19: Resources.HelloFunction.Properties.MemorySize: Fn::FindInMap: mapping "Sizes" has no key "Cpu" under "dev" (known keys: Memory)`,
				`template.yml:24:19: Resources.HelloFunction.Properties.Environment.Variables.BUCKET: AWS::S3::Bucket "Bucket": resource is not created, its Condition "IsProd" is false (guard the reference with Fn::If)`,
				`template.yml:26:18: Resources.HelloFunction.Properties.Environment.Variables.EQUAL: Fn::Equals can only be used in the Conditions section (use Fn::If with a named condition)`,
				`template.yml:27:19: Resources.HelloFunction.Properties.Environment.Variables.JOINED: Fn::Join: want a list, got "plain"`,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src, err := os.ReadFile(filepath.Join("testdata", "errors", tt.file))
			require.NoError(t, err)
			tmpl, err := Parse("template.yml", src, filepath.Join("testdata", "errors"), Options{ParameterOverrides: tt.overrides})
			require.Error(t, err)
			assert.Nil(t, tmpl)
			assert.Equal(t, strings.Join(tt.want, "\n"), err.Error())
			var pe *Error
			assert.True(t, errors.As(err, &pe), "errors are *sam.Error")
		})
	}
}

// TestCodeURISymlinkEscape checks that a symlink inside the template's
// directory cannot smuggle in code from outside it.
func TestCodeURISymlinkEscape(t *testing.T) {
	root := t.TempDir()
	outside := filepath.Join(root, "outside")
	project := filepath.Join(root, "project")
	require.NoError(t, os.MkdirAll(outside, 0o755))
	require.NoError(t, os.MkdirAll(project, 0o755))
	require.NoError(t, os.Symlink(outside, filepath.Join(project, "code")))
	src := []byte(`Transform: AWS::Serverless-2016-10-31
Resources:
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: code
      Handler: bootstrap
      Runtime: provided.al2023
`)
	_, err := Parse("template.yml", src, project, Options{})
	require.Error(t, err)
	assert.Equal(t, `template.yml:6:16: Resources.Fn.Properties.CodeUri: "code" is outside the template's directory (symlinks followed); move the code under it`, err.Error())
}

// TestDockerfileOutsideContext checks that Metadata.Dockerfile cannot name
// a file outside DockerContext, by ../ or by a symlink.
func TestDockerfileOutsideContext(t *testing.T) {
	tests := []struct {
		name, dockerfile string
	}{
		{name: "dot-dot", dockerfile: "../Dockerfile"},
		{name: "symlink out", dockerfile: "linked"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			project := t.TempDir()
			ctx := filepath.Join(project, "img")
			require.NoError(t, os.MkdirAll(ctx, 0o755))
			require.NoError(t, os.WriteFile(filepath.Join(project, "Dockerfile"), []byte("FROM scratch\n"), 0o644))
			require.NoError(t, os.Symlink(filepath.Join(project, "Dockerfile"), filepath.Join(ctx, "linked")))
			src := []byte(`Transform: AWS::Serverless-2016-10-31
Resources:
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      PackageType: Image
    Metadata:
      DockerContext: img
      Dockerfile: ` + tt.dockerfile + `
`)
			_, err := Parse("template.yml", src, project, Options{})
			require.Error(t, err)
			assert.Equal(t, `template.yml:9:19: Resources.Fn.Metadata.Dockerfile: Dockerfile "`+tt.dockerfile+`" is outside DockerContext "img"`, err.Error())
		})
	}
}

func TestTemplateSizeCap(t *testing.T) {
	big := make([]byte, MaxTemplateBytes+1)
	_, err := Parse("template.yml", big, t.TempDir(), Options{})
	assert.EqualError(t, err, "template.yml: template larger than 5 MB, refused before parsing")

	path := filepath.Join(t.TempDir(), "template.yml")
	require.NoError(t, os.WriteFile(path, big, 0o644))
	_, err = ParseFile(path, Options{})
	assert.ErrorContains(t, err, "template larger than 5 MB")
}

func TestEphemeralStorage(t *testing.T) {
	parse := func(size string) (*Template, error) {
		src := []byte(`Transform: AWS::Serverless-2016-10-31
Resources:
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      InlineCode: "def handler(e, c): return 1"
      Handler: index.handler
      Runtime: python3.13
      EphemeralStorage:
        Size: ` + size + `
`)
		return Parse("template.yml", src, t.TempDir(), Options{})
	}
	tpl, err := parse("2048")
	require.NoError(t, err)
	assert.Equal(t, 2048, tpl.Functions[0].EphemeralStorage)
	assert.Empty(t, tpl.Warnings, "honoured, not warned about")
	_, err = parse("100")
	assert.EqualError(t, err, "template.yml:10:15: Resources.Fn.Properties.EphemeralStorage.Size: 100 is out of range [512, 10240]")
}

// TestIntegrationTimeout: an Api or HttpApi event's TimeoutInMillis is
// the route's integration timeout, within API Gateway's range for the
// API's kind; a REST API's above 29 s is applied with a warning.
func TestIntegrationTimeout(t *testing.T) {
	parse := func(event, timeout string) (*Template, error) {
		src := []byte(`Transform: AWS::Serverless-2016-10-31
Resources:
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      InlineCode: "def handler(e, c): return 1"
      Handler: index.handler
      Runtime: python3.13
      Events:
        Get:
          Type: ` + event + `
          Properties:
            Path: /slow
            Method: GET
            TimeoutInMillis: ` + timeout + `
`)
		return Parse("template.yml", src, t.TempDir(), Options{})
	}
	tests := []struct {
		event, timeout string
		want           int
		wantErr        string
		wantWarning    string
	}{
		{event: "Api", timeout: "1500", want: 1500},
		{event: "HttpApi", timeout: "30000", want: 30000},
		{event: "Api", timeout: "45000", want: 45000, wantWarning: "template.yml:15:30: Resources.Fn.Properties.Events.Get.Properties.TimeoutInMillis: 45000 ms is above a REST API's 29,000 ms integration timeout"},
		{event: "HttpApi", timeout: "30001", wantErr: "template.yml:15:30: Resources.Fn.Properties.Events.Get.Properties.TimeoutInMillis: 30001 is out of range [50, 30000]"},
		{event: "Api", timeout: "49", wantErr: "template.yml:15:30: Resources.Fn.Properties.Events.Get.Properties.TimeoutInMillis: 49 is out of range [50, 900000]"},
	}
	for _, tt := range tests {
		t.Run(tt.event+" "+tt.timeout, func(t *testing.T) {
			tpl, err := parse(tt.event, tt.timeout)
			if tt.wantErr != "" {
				assert.EqualError(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			require.Len(t, tpl.Functions[0].Routes, 1)
			assert.Equal(t, tt.want, tpl.Functions[0].Routes[0].TimeoutMillis)
			var warnings []string
			for _, w := range tpl.Warnings {
				warnings = append(warnings, w.String())
			}
			if tt.wantWarning == "" {
				assert.Empty(t, warnings, "honoured, not warned about")
				return
			}
			require.Len(t, warnings, 1)
			assert.Contains(t, warnings[0], tt.wantWarning)
		})
	}
}
