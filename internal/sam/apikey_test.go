package sam

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/esb-dev/esb/internal/runtimeconfig"
)

func TestAPIKeys(t *testing.T) {
	const value = "k3y-0f-the-template-123456"
	parse := func(keys string) (*Template, error) {
		src := `Transform: AWS::Serverless-2016-10-31
Resources:
  Api:
    Type: AWS::Serverless::Api
    Properties:
      StageName: v1
      Auth:
        ApiKeyRequired: true
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      InlineCode: "def handler(e, c): return 1"
      Handler: index.handler
      Runtime: python3.13
      Events:
        Get:
          Type: Api
          Properties: {RestApiId: !Ref Api, Path: /k, Method: get}
` + keys
		return Parse("template.yml", []byte(src), t.TempDir(), Options{StackName: "esb-dev"})
	}
	ok := []struct {
		name, keys string
		want       []runtimeconfig.APIKey
		warn       string // a warning, with its line, when not ""
		line       int
	}{
		{
			name: "enabled, every API",
			keys: "  Key:\n    Type: AWS::ApiGateway::ApiKey\n    Properties: {Enabled: true, Value: " + value + "}\n",
			want: []runtimeconfig.APIKey{{Name: "Key", Value: value, Enabled: true}},
		},
		{
			name: "named, tied to a stage",
			keys: "  Key:\n    Type: AWS::ApiGateway::ApiKey\n    Properties:\n      Name: partner\n      Enabled: true\n      Value: " + value + "\n      StageKeys: [{RestApiId: !Ref Api, StageName: v1}]\n",
			want: []runtimeconfig.APIKey{{Name: "partner", Value: value, Enabled: true, Stages: []runtimeconfig.APIStage{{API: "api", Stage: "v1"}}}},
		},
		{
			name: "without Enabled: disabled, as CloudFormation creates it",
			keys: "  Key:\n    Type: AWS::ApiGateway::ApiKey\n    Properties: {Value: " + value + "}\n",
			want: []runtimeconfig.APIKey{{Name: "Key", Value: value}},
			warn: "does not set Enabled", line: 20,
		},
		{
			name: "without Value: opens nothing",
			keys: "  Key:\n    Type: AWS::ApiGateway::ApiKey\n    Properties: {Enabled: true}\n",
			warn: "$CONFIG_DIR/auth/api-keys", line: 20,
		},
		{
			name: "a stage the API does not have",
			keys: "  Key:\n    Type: AWS::ApiGateway::ApiKey\n    Properties:\n      Enabled: true\n      Value: " + value + "\n      StageKeys:\n        - {RestApiId: !Ref Api, StageName: prod}\n",
			warn: "opens nothing", line: 25,
		},
		{
			name: "an API outside the template",
			keys: "  Key:\n    Type: AWS::ApiGateway::ApiKey\n    Properties:\n      Enabled: true\n      Value: " + value + "\n      StageKeys:\n        - RestApiId: abc123\n          StageName: v1\n",
			warn: "not a REST API of this template", line: 25,
		},
	}
	for _, tc := range ok {
		t.Run(tc.name, func(t *testing.T) {
			tmpl, err := parse(tc.keys)
			require.NoError(t, err)
			assert.Equal(t, tc.want, tmpl.APIKeys)
			for _, w := range tmpl.Warnings {
				assert.NotContains(t, w.String(), value, "a warning shows the key's value")
			}
			if tc.warn == "" {
				for _, w := range tmpl.Warnings {
					assert.NotContains(t, w.Message, "API key")
				}
				return
			}
			found := false
			for _, w := range tmpl.Warnings {
				if strings.Contains(w.Message, tc.warn) {
					found = true
					assert.Equal(t, tc.line, w.Line, "warning %s", w)
					assert.Equal(t, "template.yml", w.File)
				}
			}
			assert.True(t, found, "no warning %q in %v", tc.warn, tmpl.Warnings)
		})
	}
	t.Run("a value shorter than API Gateway accepts is an error", func(t *testing.T) {
		_, err := parse("  Key:\n    Type: AWS::ApiGateway::ApiKey\n    Properties: {Enabled: true, Value: tiny-k3y}\n")
		require.Error(t, err)
		assert.Contains(t, err.Error(), "template.yml:21:")
		assert.Contains(t, err.Error(), "at least 20 characters")
		assert.NotContains(t, err.Error(), "tiny-k3y")
	})
}
