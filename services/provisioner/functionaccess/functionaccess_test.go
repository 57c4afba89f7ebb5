package functionaccess

import (
	"context"
	"encoding/json"
	"encoding/xml"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/esb-dev/esb/internal/awsid"
)

// fakeAdmin is versitygw's admin API as far as accounts go: it keeps
// accounts by access key and refuses unsigned calls.
type fakeAdmin struct {
	mu       sync.Mutex
	accounts map[string]account
	calls    []string
}

func (f *fakeAdmin) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, r.Method+" "+r.URL.Path)
	if !strings.Contains(r.Header.Get("Authorization"), "Credential=root/") || r.Header.Get("X-Amz-Content-Sha256") == "" {
		http.Error(w, "<Error><Code>AccessDenied</Code></Error>", http.StatusForbidden)
		return
	}
	body, _ := io.ReadAll(r.Body)
	switch r.URL.Path {
	case "/create-user":
		var a account
		if xml.Unmarshal(body, &a) != nil {
			http.Error(w, "<Error><Code>MalformedXML</Code></Error>", http.StatusBadRequest)
			return
		}
		if _, ok := f.accounts[a.Access]; ok {
			http.Error(w, "<Error><Code>XAdminUserExists</Code></Error>", http.StatusConflict)
			return
		}
		a.XMLName = xml.Name{}
		f.accounts[a.Access] = a
		w.WriteHeader(http.StatusCreated)
	case "/update-user":
		var p mutableProps
		if xml.Unmarshal(body, &p) != nil {
			http.Error(w, "<Error><Code>MalformedXML</Code></Error>", http.StatusBadRequest)
			return
		}
		access := r.URL.Query().Get("access")
		f.accounts[access] = account{Access: access, Secret: p.Secret, Role: p.Role}
	default:
		http.NotFound(w, r)
	}
}

type fakeS3 struct{ policies map[string]string }

func (f *fakeS3) PutBucketPolicy(_ context.Context, in *s3.PutBucketPolicyInput, _ ...func(*s3.Options)) (*s3.PutBucketPolicyOutput, error) {
	f.policies[aws.ToString(in.Bucket)] = aws.ToString(in.Policy)
	return &s3.PutBucketPolicyOutput{}, nil
}

func TestRun(t *testing.T) {
	fa := &fakeAdmin{accounts: map[string]account{}}
	srv := httptest.NewServer(fa)
	t.Cleanup(srv.Close)
	admin := &Admin{Endpoint: srv.URL, Region: "us-east-1", Root: awsid.Key{AccessKeyID: "root", SecretAccessKey: "root-secret"}}
	s3c := &fakeS3{policies: map[string]string{}}

	res, err := Run(t.Context(), admin, s3c, "root-secret", []string{"B", "A"}, []string{"uploads", "reports"})
	require.NoError(t, err)
	assert.Equal(t, Result{Created: 2, Buckets: []string{"uploads", "reports"}}, res)
	for _, fn := range []string{"A", "B"} {
		key := awsid.FunctionKey("root-secret", fn)
		assert.Equal(t, account{Access: key.AccessKeyID, Secret: key.SecretAccessKey, Role: Role}, fa.accounts[key.AccessKeyID], fn)
	}

	var doc struct {
		Statement []struct {
			Effect    string
			Principal map[string][]string
			Action    string
			Resource  []string
		}
	}
	require.NoError(t, json.Unmarshal([]byte(s3c.policies["uploads"]), &doc))
	require.Len(t, doc.Statement, 2, "one statement per function")
	var principals []string
	for _, st := range doc.Statement {
		assert.Equal(t, "Allow", st.Effect)
		assert.Equal(t, "s3:*", st.Action)
		assert.Equal(t, []string{"arn:aws:s3:::uploads", "arn:aws:s3:::uploads/*"}, st.Resource)
		principals = append(principals, st.Principal["AWS"]...)
	}
	assert.ElementsMatch(t, []string{awsid.FunctionKey("root-secret", "A").AccessKeyID, awsid.FunctionKey("root-secret", "B").AccessKeyID}, principals)
	assert.NotContains(t, s3c.policies["uploads"], "root", "the root key is in no policy")

	// A second run (another deploy, or a new root secret) updates the
	// existing accounts in place.
	res, err = Run(t.Context(), admin, s3c, "new-root", []string{"A"}, nil)
	require.NoError(t, err)
	assert.Equal(t, Result{Created: 1}, res, "A's key changes with the root secret: a new account")
	res, err = Run(t.Context(), admin, s3c, "root-secret", []string{"A"}, nil)
	require.NoError(t, err)
	assert.Equal(t, Result{Updated: 1}, res)
}

func TestRunReportsAdminErrors(t *testing.T) {
	srv := httptest.NewServer(&fakeAdmin{accounts: map[string]account{}})
	t.Cleanup(srv.Close)
	admin := &Admin{Endpoint: srv.URL, Region: "us-east-1", Root: awsid.Key{AccessKeyID: "not-root", SecretAccessKey: "x"}}
	s3c := &fakeS3{policies: map[string]string{}}
	_, err := Run(t.Context(), admin, s3c, "root-secret", []string{"A"}, []string{"uploads"})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "function A: create account")
	assert.Contains(t, err.Error(), "403 AccessDenied")
	assert.Empty(t, s3c.policies, "no policy without accounts")
}
