package sam

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/esb-dev/esb/internal/awsid"
	"github.com/esb-dev/esb/internal/runtimeconfig"
)

func TestFunctionURL(t *testing.T) {
	parse := func(config, globals string) (*Template, error) {
		src := "Transform: AWS::Serverless-2016-10-31\n"
		if globals != "" {
			src += "Globals:\n  Function:\n    FunctionUrlConfig: " + globals + "\n"
		}
		src += `Resources:
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      FunctionName: echo
      InlineCode: "def handler(e, c): return 1"
      Handler: index.handler
      Runtime: python3.13
`
		if config != "" {
			src += "      FunctionUrlConfig: " + config + "\n"
		}
		src += `  Reader:
    Type: AWS::Serverless::Function
    Properties:
      InlineCode: "def handler(e, c): return 1"
      Handler: index.handler
      Runtime: python3.13
      Environment:
        Variables:
          URL: !GetAtt FnUrl.FunctionUrl
          URL_ARN: !GetAtt FnUrl.FunctionArn
          URL_REF: !Ref FnUrl
`
		return Parse("template.yml", []byte(src), t.TempDir(), Options{StackName: "esb-dev"})
	}
	id := awsid.FunctionURLID("esb-dev", "echo")
	ok := []struct {
		name, config, globals string
		want                  *runtimeconfig.FunctionURL
	}{
		{name: "none", config: "{AuthType: NONE}", want: &runtimeconfig.FunctionURL{ID: id, AuthType: "NONE"}},
		{name: "iam, buffered", config: "{AuthType: AWS_IAM, InvokeMode: BUFFERED}", want: &runtimeconfig.FunctionURL{ID: id, AuthType: "AWS_IAM"}},
		{name: "from Globals", globals: "{AuthType: AWS_IAM}", want: &runtimeconfig.FunctionURL{ID: id, AuthType: "AWS_IAM"}},
		{
			name:   "cors",
			config: "{AuthType: NONE, Cors: {AllowOrigins: [https://a.example], AllowMethods: [GET, POST], AllowHeaders: [x-h], ExposeHeaders: [x-e], MaxAge: 60, AllowCredentials: true}}",
			want: &runtimeconfig.FunctionURL{ID: id, AuthType: "NONE", Cors: &runtimeconfig.Cors{
				Kind: runtimeconfig.CorsHTTP, AllowOrigins: []string{"https://a.example"}, AllowMethods: []string{"GET", "POST"},
				AllowHeaders: []string{"x-h"}, ExposeHeaders: []string{"x-e"}, MaxAge: new(60), AllowCredentials: true,
			}},
		},
	}
	for _, tt := range ok {
		t.Run(tt.name, func(t *testing.T) {
			tmpl, err := parse(tt.config, tt.globals)
			require.NoError(t, err)
			assert.Empty(t, tmpl.Warnings, "honoured, not warned about")
			assert.Equal(t, tt.want, function(t, tmpl, "Fn").URL)
			env := function(t, tmpl, "Reader").Environment
			assert.Equal(t, "https://"+id+".lambda-url.us-east-1.on.aws/", env["URL"], "the url-id the gateway serves, in AWS's form")
			assert.Equal(t, "arn:aws:lambda:us-east-1:123456789012:function:echo", env["URL_ARN"])
			assert.Equal(t, "arn:aws:lambda:us-east-1:123456789012:function:echo", env["URL_REF"], "Ref of AWS::Lambda::Url is the function's ARN")
			if tt.globals == "" {
				assert.Nil(t, function(t, tmpl, "Reader").URL, "only the function that asks for one has a URL")
			} else {
				assert.NotNil(t, function(t, tmpl, "Reader").URL, "Globals give every function a URL")
			}
		})
	}

	refused := []struct {
		name, config, want string
	}{
		{name: "no auth type", config: "{Cors: {AllowOrigins: ['*']}}", want: "template.yml:10:26: Resources.Fn.Properties.FunctionUrlConfig.AuthType: required (NONE or AWS_IAM)"},
		{name: "unknown auth type", config: "{AuthType: IAM}", want: `template.yml:10:37: Resources.Fn.Properties.FunctionUrlConfig.AuthType: "IAM" is not one of NONE, AWS_IAM`},
		{name: "streaming", config: "{AuthType: NONE, InvokeMode: RESPONSE_STREAM}", want: "template.yml:10:55: Resources.Fn.Properties.FunctionUrlConfig.InvokeMode: RESPONSE_STREAM is not served: the gateway sends a function's answer whole (use BUFFERED)"},
		{name: "unknown property", config: "{AuthType: NONE, Qualifier: live}", want: `template.yml:10:43: Resources.Fn.Properties.FunctionUrlConfig.Qualifier: "Qualifier" is not a property of AWS::Lambda::Url`},
		{name: "unknown Cors property", config: "{AuthType: NONE, Cors: {AllowOrigin: ['*']}}", want: `"AllowOrigin" is not a property of FunctionUrlConfig.Cors (did you mean AllowOrigins?)`},
		{name: "MaxAge out of range", config: "{AuthType: NONE, Cors: {MaxAge: 90000}}", want: "MaxAge: 90000 is out of range [0, 86400]"},
	}
	for _, tt := range refused {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parse(tt.config, "")
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
		})
	}
}
