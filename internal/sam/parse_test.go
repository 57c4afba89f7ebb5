package sam

import (
	"archive/zip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"
)

const fixtures = "../../fixtures/sam"

func realPath(t *testing.T, path string) string {
	t.Helper()
	abs, err := filepath.Abs(path)
	require.NoError(t, err)
	real, err := filepath.EvalSymlinks(abs)
	require.NoError(t, err)
	return real
}

func parseFixture(t *testing.T, name string, opts Options) *Template {
	t.Helper()
	tmpl, err := ParseFile(filepath.Join(fixtures, name, "template.yml"), opts)
	require.NoError(t, err)
	return tmpl
}

func function(t *testing.T, tmpl *Template, id string) Function {
	t.Helper()
	for _, f := range tmpl.Functions {
		if f.LogicalID == id {
			return f
		}
	}
	require.Failf(t, "function not found", "%s", id)
	return Function{}
}

// TestBuildInputs checks what the deploy pipeline reads to build images.
func TestBuildInputs(t *testing.T) {
	t.Run("zip function", func(t *testing.T) {
		tmpl := parseFixture(t, "hello-python", Options{})
		assert.Equal(t, realPath(t, filepath.Join(fixtures, "hello-python")), tmpl.Dir)
		f := function(t, tmpl, "HelloWorldFunction")
		assert.Equal(t, PackageZip, f.PackageType)
		assert.Equal(t, realPath(t, filepath.Join(fixtures, "hello-python", "hello_world")), f.CodeDir)
		assert.Equal(t, "python3.13", f.Runtime)
		assert.Equal(t, "app.lambda_handler", f.Handler)
	})
	t.Run("layers", func(t *testing.T) {
		tmpl := parseFixture(t, "layers", Options{})
		f := function(t, tmpl, "NodeFunction")
		require.Len(t, f.Layers, 2)
		assert.Equal(t, "common", f.Layers[0].Name)
		assert.Equal(t, realPath(t, filepath.Join(fixtures, "layers", "layers", "common")), f.Layers[0].ContentDir)
		assert.Equal(t, "python3.13", f.Layers[0].BuildMethod)
		assert.Equal(t, realPath(t, filepath.Join(fixtures, "layers", "layers", "nodeutils")), f.Layers[1].ContentDir)
	})
	t.Run("image functions", func(t *testing.T) {
		tmpl := parseFixture(t, "image-functions", Options{})
		thumb := function(t, tmpl, "ThumbnailFunction")
		assert.Equal(t, PackageImage, thumb.PackageType)
		assert.Equal(t, realPath(t, filepath.Join(fixtures, "image-functions", "thumbnailer")), thumb.DockerContext)
		assert.Equal(t, "Dockerfile", thumb.Dockerfile)
		assert.Equal(t, "python3.13-v1", thumb.DockerTag)
		assert.Empty(t, thumb.Runtime, "Globals Runtime does not apply to image functions")
		assert.Equal(t, "registry.example.com/tools/pdf-render:2.4.1", function(t, tmpl, "PrebuiltFunction").ImageURI)
		assert.Equal(t, "registry.example.com/tools/ocr:1.0", function(t, tmpl, "RawImageFunction").ImageURI)
		raw := function(t, tmpl, "RawZipFunction")
		assert.Equal(t, TypeLambdaFunction, raw.Type)
		assert.Equal(t, realPath(t, filepath.Join(fixtures, "image-functions", "legacy")), raw.CodeDir)
	})
	t.Run("build method", func(t *testing.T) {
		tmpl := parseFixture(t, "provided-runtime", Options{})
		assert.Equal(t, "makefile", function(t, tmpl, "GoFunction").BuildMethod)
	})
}

// parseInline parses a one-function template and returns the function's
// environment, the easiest place to observe evaluated intrinsics.
func parseInline(t *testing.T, src string, opts Options) (map[string]string, error) {
	t.Helper()
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "app.py"), []byte("def handler(e, c):\n    return {}\n"), 0o644))
	tmpl, err := Parse("template.yml", []byte(src), dir, opts)
	if err != nil {
		return nil, err
	}
	for _, f := range tmpl.Functions {
		if f.LogicalID == "Fn" {
			return f.Environment, nil
		}
	}
	require.Fail(t, "function Fn not found")
	return nil, nil
}

const inlineHead = `Transform: AWS::Serverless-2016-10-31
Parameters:
  Name: {Type: String, Default: demo}
  List: {Type: CommaDelimitedList, Default: "x, y ,z"}
Mappings:
  M:
    k: {v: mapped, l: [p, q]}
Conditions:
  IsDemo: !Equals [!Ref Name, demo]
Resources:
  Queue:
    Type: AWS::SQS::Queue
  Other:
    Type: AWS::Serverless::Function
    Properties:
      FunctionName: other
      AutoPublishAlias: live
      CodeUri: .
      Handler: app.handler
      Runtime: python3.13
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: .
      Handler: app.handler
      Runtime: python3.13
      Environment:
        Variables:
          V: `

func TestIntrinsics(t *testing.T) {
	tests := []struct {
		name string
		expr string
		opts Options
		want string
	}{
		{name: "Ref parameter", expr: `!Ref Name`, want: "demo"},
		{name: "Ref parameter long form", expr: `{Ref: Name}`, want: "demo"},
		{name: "Ref resource", expr: `!Ref Other`, want: "other"},
		{name: "Ref queue is its URL", expr: `!Ref Queue`, want: "https://sqs.us-east-1.amazonaws.com/123456789012/Queue"},
		{name: "Sub string", expr: `!Sub "${Name}-${AWS::Region}-${!Literal}"`, want: "demo-us-east-1-${Literal}"},
		{name: "Sub with variables", expr: `!Sub ["${A}/${Name}", {A: !Ref AWS::AccountId}]`, want: "123456789012/demo"},
		{name: "Sub attribute", expr: `!Sub "${Other.Arn}"`, want: "arn:aws:lambda:us-east-1:123456789012:function:other"},
		{name: "Sub generic ARN", expr: `!Sub "${Queue.Arn}"`, want: "arn:aws:sqs:us-east-1:123456789012:Queue"},
		{name: "GetAtt dotted", expr: `!GetAtt Other.Arn`, want: "arn:aws:lambda:us-east-1:123456789012:function:other"},
		{name: "GetAtt list with computed attribute", expr: `{"Fn::GetAtt": [Other, !Join ["", [A, rn]]]}`, want: "arn:aws:lambda:us-east-1:123456789012:function:other"},
		{name: "Join list parameter", expr: `!Join ["|", !Ref List]`, want: "x|y|z"},
		{name: "Join drops NoValue", expr: `!Join [",", [a, !Ref AWS::NoValue, b]]`, want: "a,b"},
		{name: "Select Split", expr: `!Select [1, !Split ["/", "a/b/c"]]`, want: "b"},
		{name: "If true", expr: `!If [IsDemo, yes, no]`, want: "yes"},
		{name: "If false via override", expr: `!If [IsDemo, yes, no]`, opts: Options{ParameterOverrides: map[string]string{"Name": "other"}}, want: "no"},
		{name: "FindInMap", expr: `!FindInMap [M, k, v]`, want: "mapped"},
		{name: "FindInMap list", expr: `!Join ["", !FindInMap [M, k, l]]`, want: "pq"},
		{name: "FindInMap default", expr: `!FindInMap [M, nope, v, {DefaultValue: fallback}]`, want: "fallback"},
		{name: "Base64", expr: `!Base64 hi`, want: "aGk="},
		{name: "GetAZs", expr: `!Select [2, !GetAZs ""]`, want: "eu-west-1c", opts: Options{Region: "eu-west-1"}},
		{name: "pseudo partition in China", expr: `!Sub "${AWS::Partition}/${AWS::URLSuffix}"`, opts: Options{Region: "cn-north-1"}, want: "aws-cn/amazonaws.com.cn"},
		{name: "stack name default", expr: `!Ref AWS::StackName`, want: DefaultStackName},
		{name: "number scalar", expr: `42`, want: "42"},
		{name: "function alias", expr: `!Ref Other.Alias`, want: "arn:aws:lambda:us-east-1:123456789012:function:other:live"},
		{name: "generated alias by logical ID", expr: `!Ref OtherAliaslive`, want: "arn:aws:lambda:us-east-1:123456789012:function:other:live"},
		{name: "generated role", expr: `!GetAtt OtherRole.Arn`, want: "arn:aws:iam::123456789012:role/OtherRole"},
		{name: "queue name attribute", expr: `!GetAtt Queue.QueueName`, want: "Queue"},
		{name: "unmodelled attribute placeholder", expr: `!GetAtt Queue.RedriveAllowPolicy`, want: "queue-redriveallowpolicy"},
		{name: "Sub with a referable property", expr: `!Sub "${Other.Version}"`, want: "arn:aws:lambda:us-east-1:123456789012:function:other:1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env, err := parseInline(t, inlineHead+tt.expr+"\n", tt.opts)
			require.NoError(t, err)
			assert.Equal(t, tt.want, env["V"])
		})
	}
}

func TestNoValueRemovesKey(t *testing.T) {
	env, err := parseInline(t, inlineHead+"!Ref AWS::NoValue\n          W: kept\n", Options{})
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"W": "kept"}, env)
}

// TestGlobalsErrorsPointAtGlobals: a bad value in Globals is reported once,
// at its own line, not once per function.
func TestGlobalsErrorsPointAtGlobals(t *testing.T) {
	dir := t.TempDir()
	src := `Transform: AWS::Serverless-2016-10-31
Globals:
  Function:
    Runtime: python2.7
    CodeUri: .
    Handler: app.handler
    Layers: [!Ref Missing]
Resources:
  A:
    Type: AWS::Serverless::Function
  B:
    Type: AWS::Serverless::Function
    Properties:
      Runtime: nodejs20.x
`
	_, err := Parse("template.yml", []byte(src), dir, Options{})
	require.Error(t, err)
	assert.Equal(t, `template.yml:7:14: Globals.Function.Layers[0]: Ref to unknown "Missing" (not a parameter, pseudo parameter or resource)`, err.Error())

	src = `Transform: AWS::Serverless-2016-10-31
Globals:
  Function:
    Runtime: python2.7
    CodeUri: .
    Handler: app.handler
Resources:
  A:
    Type: AWS::Serverless::Function
  B:
    Type: AWS::Serverless::Function
  C:
    Type: AWS::Serverless::Function
    Properties:
      Runtime: nodejs20.x
`
	_, err = Parse("template.yml", []byte(src), dir, Options{})
	require.Error(t, err)
	assert.Equal(t, `template.yml:4:14: Globals.Function.Runtime: unsupported runtime "python2.7" (supported: java17, java21, java25, nodejs18.x, nodejs20.x, nodejs22.x, nodejs24.x, provided.al2, provided.al2023, python3.11, python3.13, python3.14, ruby3.3)`, err.Error())
}

func TestWarnings(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "src"), 0o755))
	src := `Transform: AWS::Serverless-2016-10-31
Parameters:
  Secret: {Type: "AWS::SSM::Parameter::Value<String>", Default: /app/secret}
Resources:
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: src
      Handler: missing.handler
      Runtime: python3.13
`
	tmpl, err := Parse("template.yml", []byte(src), dir, Options{})
	require.NoError(t, err)
	var got []string
	for _, w := range tmpl.Warnings {
		got = append(got, w.String())
	}
	assert.Equal(t, []string{
		`template.yml:3:18: Parameters.Secret.Type: ESB has no SSM Parameter Store; the parameter's literal value is used instead of the value stored under that name`,
		`template.yml:9:16: Resources.Fn.Properties.Handler: handler file not found: looked for missing.py, missing/__init__.py in src`,
	}, got)
}

func TestParseEdgeCases(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want string
	}{
		{name: "empty", src: "", want: "template.yml: template is empty"},
		{name: "not a mapping", src: "- a\n- b\n", want: "template.yml:1:1: template must be a mapping of sections (Resources, Parameters, ...), got a list"},
		{name: "no resources", src: "Description: x\n", want: "template.yml:1:1: Resources: a template needs at least one resource"},
		{name: "alias bomb", src: "a: &a [x, x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\ne: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\nf: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]\ng: [*f, *f, *f, *f, *f, *f, *f, *f, *f, *f]\n",
			want: "template.yml:1:1: template is too large once YAML aliases are expanded (over 262144 nodes)"},
		{name: "self-referencing alias", src: "Resources: &r\n  A: *r\n", want: "template.yml:1:1: template is too large once YAML aliases are expanded (over 262144 nodes)"},
		{name: "unknown section", src: "Resource: {}\nResources: {B: {Type: AWS::S3::Bucket}}\n", want: "template.yml:1:1: Resource: unknown template section (want AWSTemplateFormatVersion, Transform, Description, Metadata, Parameters, Rules, Mappings, Conditions, Globals, Resources or Outputs)"},
		{name: "bad logical ID", src: "Resources: {my-bucket: {Type: AWS::S3::Bucket}}\n", want: "template.yml:1:13: Resources.my-bucket: logical ID must be alphanumeric (A-Z, a-z, 0-9)"},
		{name: "missing type", src: "Resources: {B: {Properties: {}}}\n", want: "template.yml:1:16: Resources.B: Type is missing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("template.yml", []byte(tt.src), t.TempDir(), Options{})
			require.Error(t, err)
			assert.Equal(t, tt.want, err.Error())
		})
	}
}

// TestJSONSlashEscape: "\/" is a JSON escape YAML lacks; JSON templates
// written by some encoders use it.
func TestJSONSlashEscape(t *testing.T) {
	dir := t.TempDir()
	src := `{"Resources": {"Bucket": {"Type": "AWS::S3::Bucket", "Properties": {
  "LifecycleConfiguration": {"Rules": [{"Prefix": "tmp\/a\\/b", "Status": "Enabled"}]}}}}}`
	tmpl, err := Parse("template.json", []byte(src), dir, Options{})
	require.NoError(t, err)
	require.Len(t, tmpl.Buckets, 1)
	rules := tmpl.Buckets[0].LifecycleConfiguration["Rules"].([]any)
	assert.Equal(t, `tmp/a\/b`, rules[0].(map[string]any)["Prefix"])
}

// TestAllowedPattern: CloudFormation's pattern dialect (Java's) has
// lookahead, which RE2 lacks; the whole value must match.
func TestAllowedPattern(t *testing.T) {
	tests := []struct {
		name    string
		pattern string
		value   string
		wantErr string
	}{
		{name: "lookahead accepts", pattern: `(?=.*[0-9])(?=.*[a-z])[a-z0-9]{8,}`, value: "abc12345"},
		{name: "lookahead rejects", pattern: `(?=.*[0-9])(?=.*[a-z])[a-z0-9]{8,}`, value: "abcdefgh",
			wantErr: `template.yml:5:14: Parameters.P: Default "abcdefgh" does not match AllowedPattern (?=.*[0-9])(?=.*[a-z])[a-z0-9]{8,}`},
		{name: "whole value must match", pattern: `[a-z]+`, value: "abc1",
			wantErr: `template.yml:5:14: Parameters.P: Default "abc1" does not match AllowedPattern [a-z]+`},
		{name: "anchors written by the author", pattern: `^[a-z]+$`, value: "abc"},
		{name: "invalid pattern", pattern: `(`, value: "x", wantErr: `Parameters.P.AllowedPattern: invalid pattern`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := "Transform: AWS::Serverless-2016-10-31\nParameters:\n  P:\n    Type: String\n    Default: " + tt.value +
				"\n    AllowedPattern: '" + tt.pattern + "'\nResources:\n  B: {Type: AWS::S3::Bucket}\n"
			_, err := Parse("template.yml", []byte(src), t.TempDir(), Options{})
			if tt.wantErr == "" {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.wantErr)
		})
	}
}

func TestLanguageExtensions(t *testing.T) {
	const body = `Parameters:
  Names: {Type: CommaDelimitedList, Default: "a-1,b"}
Resources:
  Fn::ForEach::Tables:
    - Name
    - !Ref Names
    - 'Table&{Name}':
        Type: AWS::Serverless::SimpleTable
        Properties:
          TableName: !Sub "t-${Name}"
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: .
      Handler: app.handler
      Runtime: python3.13
      Environment:
        Variables:
          CFG: !ToJsonString {a: 1, b: [x, true], c: !Ref Tablea1}
          N: !Length [1, 2, 3]
          Fn::ForEach::Vars:
            - V
            - [One, Two]
            - 'VAR_${V}': !Sub "value-${V}"
`
	t.Run("expanded", func(t *testing.T) {
		dir := t.TempDir()
		require.NoError(t, os.WriteFile(filepath.Join(dir, "app.py"), []byte("def handler(e, c):\n    return {}\n"), 0o644))
		tmpl, err := Parse("template.yml", []byte("Transform: [AWS::LanguageExtensions, AWS::Serverless-2016-10-31]\n"+body), dir, Options{})
		require.NoError(t, err)
		require.Len(t, tmpl.Tables, 2)
		assert.Equal(t, "Tablea1", tmpl.Tables[0].LogicalID)
		assert.Equal(t, "t-a-1", tmpl.Tables[0].TableName)
		assert.Equal(t, "t-b", tmpl.Tables[1].TableName)
		env := function(t, tmpl, "Fn").Environment
		assert.Equal(t, map[string]string{
			"CFG":     `{"a":1,"b":["x",true],"c":"t-a-1"}`,
			"N":       "3",
			"VAR_One": "value-One",
			"VAR_Two": "value-Two",
		}, env)
	})
	t.Run("without the transform", func(t *testing.T) {
		_, err := Parse("template.yml", []byte("Transform: AWS::Serverless-2016-10-31\n"+body), t.TempDir(), Options{})
		require.Error(t, err)
		assert.Contains(t, err.Error(), `template.yml:5:3: Resources.Fn::ForEach::Tables: Fn::ForEach needs "AWS::LanguageExtensions" in the template's Transform`)
	})
}

// TestNoFalseCycles: references the transform moves into resources of
// their own, resources that are not created and Fn::If branches not taken
// make no cycle.
func TestNoFalseCycles(t *testing.T) {
	src := `Transform: AWS::Serverless-2016-10-31
Conditions:
  Never: !Equals [a, b]
Resources:
  Main:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: .
      Handler: app.handler
      Runtime: python3.13
      AutoPublishAlias: live
      DeploymentPreference:
        Type: AllAtOnce
        Hooks: {PreTraffic: !Ref Hook}
      Environment:
        Variables:
          OTHER: !If [Never, !Ref Ghost, none]
  Hook:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: .
      Handler: app.handler
      Runtime: python3.13
      Environment:
        Variables:
          VERSION: !Ref Main.Version
  Ghost:
    Type: AWS::Serverless::Function
    Condition: Never
    Properties:
      CodeUri: .
      Handler: app.handler
      Runtime: python3.13
      Environment:
        Variables:
          MAIN: !Ref Main
`
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "app.py"), []byte("def handler(e, c):\n    return {}\n"), 0o644))
	tmpl, err := Parse("template.yml", []byte(src), dir, Options{})
	require.NoError(t, err)
	assert.Equal(t, "arn:aws:lambda:us-east-1:123456789012:function:Main:1", function(t, tmpl, "Hook").Environment["VERSION"])
}

// TestCodePackages: inline code and archives are deployment packages as
// on Lambda; the handler check looks into them.
func TestCodePackages(t *testing.T) {
	dir := t.TempDir()
	f, err := os.Create(filepath.Join(dir, "app.zip"))
	require.NoError(t, err)
	zw := zip.NewWriter(f)
	w, err := zw.Create("main.py")
	require.NoError(t, err)
	_, err = w.Write([]byte("def handler(e, c):\n    return {}\n"))
	require.NoError(t, err)
	require.NoError(t, zw.Close())
	require.NoError(t, f.Close())
	require.NoError(t, os.WriteFile(filepath.Join(dir, "broken.jar"), []byte("not a zip"), 0o644))

	src := `Transform: AWS::Serverless-2016-10-31
Resources:
  Inline:
    Type: AWS::Serverless::Function
    Properties:
      InlineCode: |
        def handler(e, c):
            return {}
      Handler: index.handler
      Runtime: python3.13
  WrongModule:
    Type: AWS::Serverless::Function
    Properties:
      InlineCode: "exports.handler = async () => ({})"
      Handler: app.handler
      Runtime: nodejs20.x
  Raw:
    Type: AWS::Lambda::Function
    Properties:
      Code:
        ZipFile: "exports.handler = async () => ({})"
      Handler: index.handler
      Runtime: nodejs20.x
      Role: arn:aws:iam::123456789012:role/r
  Zipped:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: app.zip
      Handler: main.handler
      Runtime: python3.13
`
	tmpl, err := Parse("template.yml", []byte(src), dir, Options{})
	require.NoError(t, err)
	inline := function(t, tmpl, "Inline")
	assert.Equal(t, "index.py", inline.InlineFile)
	assert.Equal(t, "def handler(e, c):\n    return {}\n", inline.InlineCode)
	assert.Empty(t, inline.CodeDir)
	raw := function(t, tmpl, "Raw")
	assert.Equal(t, "index.js", raw.InlineFile)
	assert.Equal(t, realPath(t, filepath.Join(dir, "app.zip")), function(t, tmpl, "Zipped").CodeArchive)
	var warnings []string
	for _, w := range tmpl.Warnings {
		warnings = append(warnings, w.String())
	}
	assert.Contains(t, warnings, `template.yml:15:16: Resources.WrongModule.Properties.Handler: handler file not found: looked for app.js, app.mjs, app.cjs in the inline code (CloudFormation writes it to index.js)`)

	bad := `Transform: AWS::Serverless-2016-10-31
Resources:
  Go:
    Type: AWS::Serverless::Function
    Properties:
      InlineCode: "package main"
      Handler: bootstrap
      Runtime: provided.al2023
  Jar:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: broken.jar
      Handler: index.handler
      Runtime: python3.13
  Missing:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: target/missing.zip
      Handler: index.handler
      Runtime: python3.13
`
	_, err = Parse("template.yml", []byte(bad), dir, Options{})
	require.Error(t, err)
	assert.Equal(t, `template.yml:6:19: Resources.Go.Properties.InlineCode: inline code needs a Python or Node.js runtime (CloudFormation writes it to index.py or index.js), not provided.al2023
template.yml:12:16: Resources.Jar.Properties.CodeUri: "broken.jar" is not a readable zip archive: zip: not a valid zip file
template.yml:18:16: Resources.Missing.Properties.CodeUri: archive "target/missing.zip" does not exist (build it first, or point at the code directory)`, err.Error())
}

func TestJavaClasses(t *testing.T) {
	tests := []struct{ in, want string }{
		{in: `[\p{Print}]{12,}`, want: `[\x20-\x7E]{12,}`},
		{in: `(.*\p{Print}){4,}`, want: `(.*[\x20-\x7E]){4,}`},
		{in: `\P{Digit}+`, want: `[^0-9]+`},
		{in: `\p{L}\\p{Print}`, want: `\p{L}\\p{Print}`},
		{in: `[\P{Alpha}]`, want: `[\P{Alpha}]`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			assert.Equal(t, tt.want, javaClasses(tt.in))
		})
	}
}

// TestForEachBomb: nested loops multiply a template; the expansion is
// bounded like YAML aliases.
func TestForEachBomb(t *testing.T) {
	list := "[" + strings.Repeat("a,", 99) + "a]"
	src := "Transform: [AWS::LanguageExtensions, AWS::Serverless-2016-10-31]\nResources:\n" +
		"  Fn::ForEach::A:\n    - X\n    - " + list + "\n    - Fn::ForEach::B:\n        - Y\n        - " + list +
		"\n        - Fn::ForEach::C:\n            - Z\n            - " + list +
		"\n            - 'B${X}${Y}${Z}': {Type: AWS::S3::Bucket}\n"
	_, err := Parse("template.yml", []byte(src), t.TempDir(), Options{})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "too large once loops are expanded")
}

func TestSecured(t *testing.T) {
	tests := []struct {
		name, op, global string
		want             bool
	}{
		{name: "nothing", want: false},
		{name: "operation requirement", op: "[{cognito: []}]", want: true},
		{name: "document default", global: "[{api_key: []}]", want: true},
		{name: "operation opts out with an empty list", op: "[]", global: "[{api_key: []}]", want: false},
		{name: "empty requirement means none", op: "[{}]", want: false},
	}
	node := func(src string) *yaml.Node {
		if src == "" {
			return nil
		}
		var n yaml.Node
		require.NoError(t, yaml.Unmarshal([]byte(src), &n))
		return n.Content[0]
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, secured(node(tt.op), node(tt.global)))
		})
	}
}
