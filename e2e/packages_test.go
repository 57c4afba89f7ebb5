//go:build e2e

package e2e

import (
	"archive/zip"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestDeployCodePackages deploys a function whose code is inline in the
// template and one whose CodeUri is a built .zip, invokes both, and reaches
// each of two APIs that share GET /items on its own host name.
func TestDeployCodePackages(t *testing.T) {
	t.Parallel()
	s := newStack(t, "packages", 1500)
	s.up(t)
	ctx := t.Context()

	work := t.TempDir()
	copyTree(t, filepath.Join("testdata", "packages"), work)
	writePackage(t, filepath.Join(work, "build", "package.zip"), map[string]string{
		"app.py": "import json\ndef handler(event, context):\n    return {\"statusCode\": 200, \"body\": json.dumps({\"from\": \"zip\", \"path\": event.get(\"path\"), \"api\": event[\"requestContext\"][\"apiId\"] if \"requestContext\" in event else None})}\n",
	})
	res := s.esb(ctx, t, "deploy", "-t", filepath.Join(work, "template.yml"))
	require.NoError(t, res.err)
	port := s.layout.Ports["PORT_GATEWAY"]
	assert.Contains(t, res.stdout, "http://publicapi.execute-api.localhost:", "each API's URL is printed")
	assert.Contains(t, res.stdout, "http://adminapi.execute-api.localhost:")

	fns := lambda.New(lambda.Options{
		Region:           "us-east-1",
		BaseEndpoint:     aws.String(s.url("PORT_GATEWAY", "")),
		Credentials:      platformCredentials,
		RetryMaxAttempts: 1,
	})
	for name, want := range map[string]string{"InlineFunction": "inline", "ZippedFunction": "zip"} {
		var body map[string]any
		require.Eventually(t, func() bool {
			out, err := fns.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String(name), Payload: []byte(`{}`)})
			if err != nil || out.FunctionError != nil {
				t.Logf("invoke %s: %v", name, err)
				return false
			}
			var resp struct{ Body string }
			return json.Unmarshal(out.Payload, &resp) == nil && json.Unmarshal([]byte(resp.Body), &body) == nil
		}, 3*time.Minute, time.Second, "%s answers (a cold start pulls the image)", name)
		assert.Equal(t, want, body["from"], name)
	}

	get := func(host, path string) map[string]any {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.url("PORT_GATEWAY", path), nil)
		require.NoError(t, err)
		req.Host = host
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		data, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, resp.StatusCode, "%s%s: %s", host, path, data)
		var out map[string]any
		require.NoError(t, json.Unmarshal(data, &out))
		return out
	}
	public := get("publicapi.execute-api.localhost", "/prod/items")
	assert.Equal(t, "inline", public["from"])
	assert.Equal(t, "/items", public["path"], "a REST API's event path leaves the stage out")
	assert.Equal(t, "publicapi", public["api"])
	admin := get("adminapi.execute-api.localhost:"+strconv.Itoa(port), "/items")
	assert.Equal(t, "zip", admin["from"], "the OpenAPI document's route")
	assert.Equal(t, "adminapi", admin["api"])
}

// writePackage writes a zip deployment package with the given files.
func writePackage(t *testing.T, path string, files map[string]string) {
	t.Helper()
	require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
	f, err := os.Create(path)
	require.NoError(t, err)
	zw := zip.NewWriter(f)
	for name, body := range files {
		h := &zip.FileHeader{Name: name, Method: zip.Deflate}
		h.SetMode(0o644)
		w, err := zw.CreateHeader(h)
		require.NoError(t, err)
		_, err = io.WriteString(w, body)
		require.NoError(t, err)
	}
	require.NoError(t, zw.Close())
	require.NoError(t, f.Close())
}
