package lambdaclient

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestInvokeSigns: the gateway's Invoke API refuses unsigned calls, so
// every call carries a SigV4 signature for lambda in the env's region, on
// the body as sent.
func TestInvokeSigns(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		auth := r.Header.Get("Authorization")
		day := time.Now().UTC().Format("20060102")
		if !strings.HasPrefix(auth, "AWS4-HMAC-SHA256 Credential=esb/"+day+"/eu-west-1/lambda/aws4_request, SignedHeaders=") ||
			r.Header.Get("X-Amz-Date") == "" || string(body) != `{"a":1}` || r.URL.EscapedPath() != "/2015-03-31/functions/Fn/invocations" {
			w.WriteHeader(http.StatusForbidden)
			_, _ = io.WriteString(w, auth)
			return
		}
		_, _ = io.WriteString(w, `"ok"`)
	}))
	defer srv.Close()
	c := &Client{BaseURL: srv.URL, HTTP: srv.Client(), Region: "eu-west-1", Credentials: aws.Credentials{AccessKeyID: "esb", SecretAccessKey: "s"}}
	res, err := c.Invoke(t.Context(), "Fn", []byte(`{"a":1}`))
	require.NoError(t, err)
	assert.Equal(t, `"ok"`, string(res.Payload))
}
