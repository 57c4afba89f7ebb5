package main

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/esb-dev/esb/internal/deploy"
	"github.com/esb-dev/esb/pipeline"
)

// TestPrintSummaryListsAPIs: a deploy names each API's own URL after the
// function table, so a client of a template with several APIs knows
// where each one answers.
func TestPrintSummaryListsAPIs(t *testing.T) {
	var stdout, stderr bytes.Buffer
	c := &cli{stdout: &stdout, stderr: &stderr}
	printSummary(c, "/work/app", deploy.Summary{
		Functions: []pipeline.Built{{Function: "Orders", Digest: "sha256:abc", Changed: true,
			Installs: []pipeline.Install{{Function: "Orders", Manifest: "/work/app/orders/package.json", From: "registry https://npm.example/"}}}},
		Routes: map[string][]string{"Orders": {"GET /orders"}},
		APIs: []deploy.APIEndpoint{
			{ID: "adminapi", Stage: "admin", URL: "http://adminapi.execute-api.localhost:5000/admin/"},
			{ID: "ordersapi", Stage: "v1", URL: "http://ordersapi.execute-api.localhost:5000/v1/"},
		},
		URLs: []deploy.URLEndpoint{{Function: "Orders", AuthType: "AWS_IAM", URL: "http://aaaa.lambda-url.us-east-1.localhost:5000/"}},
	})
	assert.Equal(t, `FUNCTION  DIGEST      ROUTES       STATUS
Orders    sha256:abc  GET /orders  changed
API        STAGE  URL
adminapi   admin  http://adminapi.execute-api.localhost:5000/admin/
ordersapi  v1     http://ordersapi.execute-api.localhost:5000/v1/
FUNCTION URL  AUTH     URL
Orders        AWS_IAM  http://aaaa.lambda-url.us-east-1.localhost:5000/
`, stdout.String())
	assert.Contains(t, stderr.String(), "dependencies: Orders installs orders/package.json from registry https://npm.example/\n",
		"which registry each function's install used")
}
