package kubernetesruntime

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
)

// TestRESTAPI checks what the REST client sends the API server: paths,
// verbs, query parameters and bodies with their kinds.
func TestRESTAPI(t *testing.T) {
	type call struct {
		Method, Path, Query string
		Body                map[string]any
	}
	var mu sync.Mutex
	var calls []call
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := call{Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery}
		if data, _ := io.ReadAll(r.Body); len(data) > 0 {
			require.NoError(t, json.Unmarshal(data, &c.Body))
		}
		mu.Lock()
		calls = append(calls, c)
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		switch {
		case r.URL.Path == "/api/v1/namespaces/ns/pods/p/log":
			w.Header().Set("Content-Type", "text/plain")
			_, _ = io.WriteString(w, "line\n")
		case r.Method == http.MethodGet && r.URL.Path == "/api/v1/namespaces/ns/pods":
			_, _ = io.WriteString(w, `{"kind":"PodList","apiVersion":"v1","items":[{"metadata":{"name":"p"},"status":{"podIP":"10.0.0.9"}}]}`)
		case r.URL.Path == "/api/v1/namespaces/missing":
			w.WriteHeader(http.StatusNotFound)
			_, _ = io.WriteString(w, `{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"NotFound","code":404}`)
		default:
			_, _ = io.WriteString(w, `{"kind":"Pod","apiVersion":"v1","metadata":{"name":"p"}}`)
		}
	}))
	defer srv.Close()
	api, err := NewAPI(&rest.Config{Host: srv.URL})
	require.NoError(t, err)
	ctx := t.Context()

	require.NoError(t, api.CreatePod(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns"}}))
	list, err := api.ListPods(ctx, "ns", metav1.ListOptions{LabelSelector: "a=b"})
	require.NoError(t, err)
	require.Len(t, list.Items, 1)
	assert.Equal(t, "10.0.0.9", list.Items[0].Status.PodIP)
	zero := int64(0)
	require.NoError(t, api.DeletePod(ctx, "ns", "p", metav1.DeleteOptions{GracePeriodSeconds: &zero}))
	since := metav1.NewTime(time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC))
	stream, err := api.PodLogs(ctx, "ns", "p", &corev1.PodLogOptions{Container: containerName, Follow: true, SinceTime: &since})
	require.NoError(t, err)
	data, err := io.ReadAll(stream)
	require.NoError(t, err)
	stream.Close()
	assert.Equal(t, "line\n", string(data))
	err = api.GetNamespace(ctx, "missing")
	assert.True(t, apierrors.IsNotFound(err), "a 404 is the API's NotFound: %v", err)
	require.NoError(t, api.UpdateSecret(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "s", Namespace: "ns"}}))

	mu.Lock()
	defer mu.Unlock()
	require.Len(t, calls, 6)
	assert.Equal(t, "POST /api/v1/namespaces/ns/pods", calls[0].Method+" "+calls[0].Path)
	assert.Equal(t, "Pod", calls[0].Body["kind"])
	assert.Equal(t, "v1", calls[0].Body["apiVersion"])
	assert.Equal(t, "labelSelector=a%3Db", calls[1].Query)
	assert.Equal(t, "DELETE /api/v1/namespaces/ns/pods/p", calls[2].Method+" "+calls[2].Path)
	assert.Equal(t, "DeleteOptions", calls[2].Body["kind"])
	assert.Equal(t, float64(0), calls[2].Body["gracePeriodSeconds"])
	assert.Equal(t, "container=function&follow=true&sinceTime=2026-12-03T10%3A00%3A00Z", calls[3].Query)
	assert.Equal(t, "PUT /api/v1/namespaces/ns/secrets/s", calls[5].Method+" "+calls[5].Path)
	assert.Equal(t, "Secret", calls[5].Body["kind"])
}
