//go:build e2e

package e2e

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// backupFlow backs up an env that serves the A/B flow (B's /hello, A's
// item itemID of the given color, an object in B's bucket), resets it (down --volumes, the
// registry's images and CONFIG_DIR gone), refuses a tampered copy of the
// backup, restores the backup, and finds routes, digests, items, objects
// and history as they were.
func backupFlow(t *testing.T, s *stack, itemID, color string) {
	ctx := t.Context()
	_, err := s.s3().PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("uploads-b"), Key: aws.String("docs/one.txt"),
		Body: strings.NewReader("hello backup"), ContentType: aws.String("text/plain")})
	require.NoError(t, err)
	before := s.config(t)
	history := s.esb(ctx, t, "history")
	require.NoError(t, history.err)

	file := filepath.Join(t.TempDir(), "env.esbbackup")
	began := time.Now()
	res := s.esb(ctx, t, "backup", "-o", file, "--mode", s.mode)
	require.NoError(t, res.err)
	st, err := os.Stat(file)
	require.NoError(t, err)
	t.Logf("backup: %.1f MB in %s", float64(st.Size())/(1<<20), time.Since(began).Round(100*time.Millisecond))

	s.down(t)
	require.NoError(t, os.RemoveAll(s.layout.ConfigDir))
	s.up(t)

	data, err := os.ReadFile(file)
	require.NoError(t, err)
	data[len(data)/2] ^= 0xff
	tampered := filepath.Join(t.TempDir(), "tampered.esbbackup")
	require.NoError(t, os.WriteFile(tampered, data, 0o644))
	res = s.esb(ctx, t, "restore", tampered, "--mode", s.mode)
	require.Error(t, res.err)
	assert.Contains(t, res.stderr, "not a valid esb archive")
	assert.Empty(t, s.config(t).Functions.Functions, "a refused backup changes nothing")

	began = time.Now()
	res = s.esb(ctx, t, "restore", file, "--mode", s.mode)
	require.NoError(t, res.err)
	t.Logf("restore in %s", time.Since(began).Round(100*time.Millisecond))

	assert.NoError(t, pollBody(ctx, s.url("PORT_GATEWAY", "/hello"), `{"version": "B"}`, time.Second, 60*time.Second))
	after := s.config(t)
	assert.Equal(t, before.Routing, after.Routing)
	assert.Equal(t, before.Resources, after.Resources)
	for name, fn := range before.Functions.Functions {
		assert.Equal(t, fn.Digest, after.Functions.Functions[name].Digest, name)
		assert.Equal(t, fn.Image, after.Functions.Functions[name].Image, name)
	}
	// The items function's first start in the restored env is a cold
	// one (image from the restored registry): retried while the gateway
	// answers 5xx, for at most a minute.
	var status int
	var body []byte
	for deadline := time.Now().Add(time.Minute); ; {
		resp, err := http.Get(s.url("PORT_GATEWAY", "/items/"+itemID))
		require.NoError(t, err)
		body, _ = io.ReadAll(resp.Body)
		resp.Body.Close()
		status = resp.StatusCode
		if status < 500 || time.Now().After(deadline) {
			break
		}
		t.Logf("GET /items/%s: %d %s; again", itemID, status, body)
		time.Sleep(time.Second)
	}
	assert.Equal(t, http.StatusOK, status)
	assert.JSONEq(t, `{"color": "`+color+`", "id": "`+itemID+`"}`, string(body), "A's item came back")
	obj, err := s.s3().GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("uploads-b"), Key: aws.String("docs/one.txt")})
	require.NoError(t, err)
	content, _ := io.ReadAll(obj.Body)
	obj.Body.Close()
	assert.Equal(t, "hello backup", string(content))
	assert.Equal(t, "text/plain", aws.ToString(obj.ContentType))

	restored := s.esb(ctx, t, "history")
	require.NoError(t, restored.err)
	assert.Equal(t, strings.Count(history.stdout, "\n")+1, strings.Count(restored.stdout, "\n"), "the history came along, and the restore is recorded")
	assert.Contains(t, restored.stdout, "restore")
}
