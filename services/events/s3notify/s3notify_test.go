package s3notify

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/esb-dev/esb/internal/runtimeconfig"
	"github.com/esb-dev/esb/services/events/queue"
)

type fakeFunctions struct{ cfg runtimeconfig.Config }

func (f *fakeFunctions) Config() *runtimeconfig.Config        { return &f.cfg }
func (f *fakeFunctions) WaitLoaded(ctx context.Context) error { return nil }

type fakeStore struct{ added []queue.Event }

func (s *fakeStore) Add(evs ...queue.Event) ([]queue.Event, error) {
	s.added = append(s.added, evs...)
	return evs, nil
}

// versity is a notification as versitygw v1.8.0 posts it.
func versity(event, bucket, key string) string {
	return `{"Records":[{"eventVersion":"2.2","eventSource":"aws:s3","awsRegion":"us-east-1","eventTime":"2026-12-03T08:00:00Z",
	"eventName":"` + event + `","userIdentity":{"PrincipalId":"esb"},"requestParameters":{"sourceIPAddress":"10.0.0.9"},
	"responseElements":{"x-amz-request-id":"REQ1","x-amz-id-2":"HOST2"},
	"s3":{"s3SchemaVersion":"1.0","configurationId":"webhook-global","bucket":{"name":"` + bucket + `","ownerIdentity":{"PrincipalId":"esb"},"arn":"arn:aws:s3:::/` + bucket + `/` + key + `"},
	"object":{"key":"` + key + `","size":11,"eTag":"\"abc123\"","versionId":null,"sequencer":"1"}},"glacierEventData":{"restoreEventData":{}}}]}`
}

func TestAccept(t *testing.T) {
	fns := &fakeFunctions{cfg: runtimeconfig.Config{Functions: runtimeconfig.FunctionsFile{Functions: map[string]runtimeconfig.Function{
		"Uploads": {EventSources: []runtimeconfig.EventSource{{
			Type: runtimeconfig.EventSourceS3, Event: "Upload", Bucket: "inbox", Events: []string{"s3:ObjectCreated:*"}, Prefix: "in/", Suffix: ".txt",
		}}},
		"Removals": {EventSources: []runtimeconfig.EventSource{{
			Type: runtimeconfig.EventSourceS3, Event: "Gone", Bucket: "inbox", Events: []string{"s3:ObjectRemoved:Delete"},
		}}},
		"Queue": {EventSources: []runtimeconfig.EventSource{{Type: runtimeconfig.EventSourceSQS, Queue: "arn:aws:sqs:us-east-1:1:q"}}},
	}}}}
	tests := []struct {
		name string
		body string
		want []string // functions invoked
	}{
		{name: "put in the filter", body: versity("s3:ObjectCreated:Put", "inbox", "in/a b.txt"), want: []string{"Uploads"}},
		{name: "copy is created too", body: versity("s3:ObjectCreated:Copy", "inbox", "in/c.txt"), want: []string{"Uploads"}},
		{name: "prefix outside", body: versity("s3:ObjectCreated:Put", "inbox", "out/a.txt")},
		{name: "suffix outside", body: versity("s3:ObjectCreated:Put", "inbox", "in/a.csv")},
		{name: "other bucket", body: versity("s3:ObjectCreated:Put", "other", "in/a.txt")},
		{name: "delete", body: versity("s3:ObjectRemoved:Delete", "inbox", "in/a.txt"), want: []string{"Removals"}},
		{name: "delete objects is delete", body: versity("s3:ObjectRemoved:DeleteObjects", "inbox", "x"), want: []string{"Removals"}},
		{name: "tagging selects nothing", body: versity("s3:ObjectTagging:Put", "inbox", "in/a.txt")},
		{name: "test event", body: `{"Service":"S3","Event":"s3:TestEvent","Time":"2026-12-03T08:00:00Z","Bucket":"Test-Bucket"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			store := &fakeStore{}
			r := New(fns, store, Options{Region: "eu-west-1"})
			n, err := r.Accept(t.Context(), []byte(tt.body))
			require.NoError(t, err)
			assert.Equal(t, len(tt.want), n)
			var got []string
			for _, ev := range store.added {
				got = append(got, ev.Function)
				assert.Equal(t, queue.KindInvoke, ev.Kind)
				assert.Equal(t, "s3", ev.Source)
				assert.NotEmpty(t, ev.RequestID)
			}
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestRecordShape(t *testing.T) {
	fns := &fakeFunctions{cfg: runtimeconfig.Config{Functions: runtimeconfig.FunctionsFile{Functions: map[string]runtimeconfig.Function{
		"Uploads": {EventSources: []runtimeconfig.EventSource{{Type: runtimeconfig.EventSourceS3, Event: "Upload", Bucket: "inbox", Events: []string{"s3:ObjectCreated:*", "s3:ObjectRemoved:*"}}}},
	}}}}
	store := &fakeStore{}
	at := time.Date(2026, 12, 3, 8, 1, 2, 345e6, time.UTC)
	r := New(fns, store, Options{Region: "eu-west-1", Now: func() time.Time { return at }})
	_, err := r.Accept(t.Context(), []byte(versity("s3:ObjectCreated:Put", "inbox", "in/a b+c=(1).txt")))
	require.NoError(t, err)
	_, err = r.Accept(t.Context(), []byte(versity("s3:ObjectRemoved:Delete", "inbox", "in/a b+c=(1).txt")))
	require.NoError(t, err)
	require.Len(t, store.added, 2)

	var put struct{ Records []map[string]any }
	require.NoError(t, json.Unmarshal(store.added[0].Payload, &put))
	require.Len(t, put.Records, 1)
	rec := put.Records[0]
	assert.Equal(t, "2.1", rec["eventVersion"])
	assert.Equal(t, "aws:s3", rec["eventSource"])
	assert.Equal(t, "eu-west-1", rec["awsRegion"])
	assert.Equal(t, "2026-12-03T08:01:02.345Z", rec["eventTime"])
	assert.Equal(t, "ObjectCreated:Put", rec["eventName"])
	assert.Equal(t, map[string]any{"principalId": "AWS:esb"}, rec["userIdentity"])
	assert.Equal(t, map[string]any{"x-amz-request-id": "REQ1", "x-amz-id-2": "HOST2"}, rec["responseElements"])
	s3 := rec["s3"].(map[string]any)
	assert.Equal(t, "1.0", s3["s3SchemaVersion"])
	assert.Equal(t, "Uploads-Upload", s3["configurationId"])
	assert.Equal(t, map[string]any{"name": "inbox", "ownerIdentity": map[string]any{"principalId": "esb"}, "arn": "arn:aws:s3:::inbox"}, s3["bucket"])
	obj := s3["object"].(map[string]any)
	assert.Equal(t, "in/a+b%2Bc%3D%281%29.txt", obj["key"])
	assert.EqualValues(t, 11, obj["size"])
	assert.Equal(t, "abc123", obj["eTag"])
	assert.NotContains(t, obj, "versionId")
	seqPut := obj["sequencer"].(string)

	var del struct{ Records []map[string]any }
	require.NoError(t, json.Unmarshal(store.added[1].Payload, &del))
	dobj := del.Records[0]["s3"].(map[string]any)["object"].(map[string]any)
	assert.Equal(t, "ObjectRemoved:Delete", del.Records[0]["eventName"])
	assert.NotContains(t, dobj, "size", "S3 gives no size for a removal")
	assert.NotContains(t, dobj, "eTag")
	assert.Greater(t, dobj["sequencer"].(string), seqPut, "later events of a key have greater sequencers")
	assert.Len(t, seqPut, 18)
}

func TestEncodeKey(t *testing.T) {
	for key, want := range map[string]string{
		"plain/key.txt":  "plain/key.txt",
		"a b":            "a+b",
		"a+b":            "a%2Bb",
		"ünï~:":          "%C3%BCn%C3%AF%7E%3A",
		"x_y-z*.json":    "x_y-z*.json",
		"q?&#=%":         "q%3F%26%23%3D%25",
		"dir/sub dir/f,": "dir/sub+dir/f%2C",
	} {
		assert.Equal(t, want, EncodeKey(key), key)
	}
}

func TestServeHTTPAnswersWithoutBody(t *testing.T) {
	fns := &fakeFunctions{}
	r := New(fns, &fakeStore{}, Options{})
	rec := httptest.NewRecorder()
	r.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/v1/s3-notifications", strings.NewReader(versity("s3:ObjectCreated:Put", "b", "k"))))
	assert.Equal(t, http.StatusOK, rec.Code)
	assert.Empty(t, rec.Body.String(), "versitygw never reads the body")

	rec = httptest.NewRecorder()
	r.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/v1/s3-notifications", strings.NewReader("not json")))
	assert.Equal(t, http.StatusInternalServerError, rec.Code)
}
