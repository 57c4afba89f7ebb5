//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	lambdatypes "github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// bgRetryBackoff is the env's ESB_ASYNC_RETRY_BACKOFF: long enough to
// restart the gateway and the events service between an attempt and its
// retry, short enough for a test.
const bgRetryBackoff = 45 * time.Second

// TestBackgroundWork runs schedules and Lambda's asynchronous semantics
// through the events service, one env per mode, side by side: a rate and
// a time-zoned cron fire with AWS's event shapes; an Event invocation of a
// failing function with MaximumRetryAttempts 1 runs exactly twice, across
// a restart of the gateway and the events service while its retry is
// pending, then reaches its OnFailure destination and its dead-letter queue (SQS); OnSuccess records reach
// a Lambda; an S3 PUT inside an S3 event's key filter invokes its function
// with S3's record, one outside does not; an SNS event with
// SqsSubscription gets SQS records; a function invokes another
// through boto3 with no endpoint code.
func TestBackgroundWork(t *testing.T) {
	t.Parallel()
	for _, e := range []struct {
		name   string
		offset int
		mode   string
	}{
		{"bg-docker", 1600, "docker"},
		{"bg-ctrd", 1700, "containerd"},
	} {
		t.Run(e.mode, func(t *testing.T) {
			t.Parallel()
			s := newModeStack(t, e.name, e.offset, e.mode)
			s.set("ESB_ASYNC_RETRY_BACKOFF", bgRetryBackoff.String())
			// Short, so that ThrottledFunction's 429s come quickly.
			s.set("ESB_MAX_QUEUE_WAIT", "2s")
			backgroundWork(t, s)
		})
	}
}

// seen is an item a test function wrote to the background-seen table.
type seen struct {
	ID    string
	Kind  string
	Nonce string
	Event map[string]any
}

func scanSeen(ctx context.Context, ddb *dynamodb.Client, prefix string) ([]seen, error) {
	var out []seen
	var start map[string]ddbtypes.AttributeValue
	for {
		page, err := ddb.Scan(ctx, &dynamodb.ScanInput{TableName: aws.String("background-seen"), ExclusiveStartKey: start})
		if err != nil {
			return nil, err
		}
		for _, it := range page.Items {
			var s seen
			str := func(k string) string {
				if v, ok := it[k].(*ddbtypes.AttributeValueMemberS); ok {
					return v.Value
				}
				return ""
			}
			s.ID, s.Kind, s.Nonce = str("id"), str("kind"), str("nonce")
			if !strings.HasPrefix(s.ID, prefix) {
				continue
			}
			if err := json.Unmarshal([]byte(str("event")), &s.Event); err != nil {
				return nil, fmt.Errorf("item %s: %w", s.ID, err)
			}
			out = append(out, s)
		}
		if len(page.LastEvaluatedKey) == 0 {
			return out, nil
		}
		start = page.LastEvaluatedKey
	}
}

// waitSeen polls the table until pick finds what it wants among the items
// with the prefix.
func waitSeen(ctx context.Context, t *testing.T, ddb *dynamodb.Client, prefix string, limit time.Duration, pick func([]seen) error) []seen {
	t.Helper()
	var items []seen
	err := poll(ctx, time.Second, limit, func() error {
		var err error
		if items, err = scanSeen(ctx, ddb, prefix); err != nil {
			return err
		}
		return pick(items)
	})
	require.NoError(t, err)
	return items
}

func withNonce(items []seen, nonce string) []seen {
	var out []seen
	for _, it := range items {
		if it.Nonce == nonce {
			out = append(out, it)
		}
	}
	return out
}

func backgroundWork(t *testing.T, s *stack) {
	ctx := t.Context()
	s.up(t)
	deployed := time.Now()
	work := t.TempDir()
	copyTree(t, filepath.Join("testdata", "background"), work)
	res := s.esb(ctx, t, "deploy", "--mode", s.mode, "-t", filepath.Join(work, "template.yml"))
	require.NoError(t, res.err)
	assert.NotContains(t, res.stderr, "EventInvokeConfig", "honoured settings are not warned about")
	assert.NotContains(t, res.stderr, "time zone", "time zones are honoured")
	served, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	require.NoError(t, waitHTTP(served, s.url("PORT_GATEWAY", "/call/warmup"), http.StatusOK, time.Second), "CallerFunction never answered")

	ddb := s.dynamoDB()
	fns := lambda.New(lambda.Options{
		Region:           "us-east-1",
		BaseEndpoint:     aws.String(s.url("PORT_GATEWAY", "")),
		Credentials:      platformCredentials,
		RetryMaxAttempts: 1,
	})
	nonce := randomHex(t)

	t.Run("a function invokes another through boto3 with no endpoint code", func(t *testing.T) {
		status, _, body := dpRequest(ctx, t, http.MethodGet, s.url("PORT_GATEWAY", "/call/"+nonce), "")
		require.Equal(t, http.StatusOK, status, "%s", body)
		var got struct {
			Sync        map[string]any `json:"sync"`
			SyncStatus  int            `json:"sync_status"`
			EventStatus int            `json:"event_status"`
			Endpoint    string         `json:"endpoint"`
		}
		require.NoError(t, json.Unmarshal(body, &got), "%s", body)
		assert.Equal(t, map[string]any{"echo": nonce + "-sync"}, got.Sync)
		assert.Equal(t, http.StatusOK, got.SyncStatus)
		assert.Equal(t, http.StatusAccepted, got.EventStatus)
		assert.True(t, strings.HasPrefix(got.Endpoint, "http://"), "AWS_ENDPOINT_URL_LAMBDA=%q", got.Endpoint)

		// The Event invoke made from the function reaches OkFunction's
		// OnSuccess destination with Lambda's record.
		items := waitSeen(ctx, t, ddb, "record-"+nonce+"-event-Success", 60*time.Second, func(items []seen) error {
			if len(items) == 0 {
				return fmt.Errorf("no OnSuccess record yet")
			}
			return nil
		})
		require.Len(t, items, 1, "one record per event")
		rec := items[0].Event
		assert.Equal(t, "1.0", rec["version"])
		assert.Equal(t, map[string]any{"nonce": nonce + "-event"}, rec["requestPayload"])
		assert.Equal(t, map[string]any{"echo": nonce + "-event"}, rec["responsePayload"])
		rc := rec["requestContext"].(map[string]any)
		assert.Equal(t, "Success", rc["condition"])
		assert.Equal(t, "arn:aws:lambda:us-east-1:123456789012:function:OkFunction:$LATEST", rc["functionArn"])
		assert.EqualValues(t, 1, rc["approximateInvokeCount"])
		assert.Equal(t, map[string]any{"statusCode": float64(200), "executedVersion": "$LATEST"}, rec["responseContext"])
	})

	t.Run("an Event payload over 1 MB is refused", func(t *testing.T) {
		big := `{"pad":"` + strings.Repeat("x", 1<<20) + `"}`
		_, err := fns.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String("OkFunction"), InvocationType: lambdatypes.InvocationTypeEvent, Payload: []byte(big)})
		var tooLarge *lambdatypes.RequestTooLargeException
		require.ErrorAs(t, err, &tooLarge)
	})

	// The Invoke API answers Lambda's 429; an HTTP API route, as API
	// Gateway does, a 500 of its own.
	t.Run("reserved concurrency 1: 5 concurrent requests, one runs, four are throttled", func(t *testing.T) {
		for _, c := range []struct {
			name, method, path, body, want string
			wantStatus                     int
			header                         bool
		}{
			{"Invoke API", http.MethodPost, "/2015-03-31/functions/ThrottledFunction/invocations", "{}",
				`{"Reason":"ReservedFunctionConcurrentInvocationLimitExceeded","Type":"User","message":"Rate Exceeded."}`, http.StatusTooManyRequests, true},
			{"HTTP API route", http.MethodGet, "/throttled", "", `{"message":"Internal Server Error"}`, http.StatusInternalServerError, false},
		} {
			t.Run(c.name, func(t *testing.T) {
				type answer struct {
					status int
					kind   string
					body   string
					err    error
				}
				answers := make([]answer, 5)
				var wg sync.WaitGroup
				for i := range answers {
					wg.Go(func() {
						req, err := http.NewRequestWithContext(ctx, c.method, s.url("PORT_GATEWAY", c.path), strings.NewReader(c.body))
						if err != nil {
							answers[i].err = err
							return
						}
						if c.header { // the Invoke API takes only signed calls
							signRequest(t, req, c.body, "lambda", platformKey)
						}
						resp, err := http.DefaultClient.Do(req)
						if err != nil {
							answers[i].err = err
							return
						}
						defer resp.Body.Close()
						b, err := io.ReadAll(resp.Body)
						answers[i] = answer{status: resp.StatusCode, kind: resp.Header.Get("X-Amzn-Errortype"), body: string(b), err: err}
					})
				}
				wg.Wait()
				ok, throttled := 0, 0
				for _, a := range answers {
					require.NoError(t, a.err)
					switch a.status {
					case http.StatusOK:
						ok++
					case c.wantStatus:
						throttled++
						assert.Equal(t, c.want, a.body)
						if c.header {
							assert.Equal(t, "TooManyRequestsException", a.kind)
						}
					default:
						t.Errorf("answer %d %s", a.status, a.body)
					}
				}
				assert.Equal(t, 1, ok, "one request runs")
				assert.Equal(t, 4, throttled, "four wait past the queue wait")
			})
		}
	})

	t.Run("a failing Event runs exactly twice across restarts, then reaches OnFailure and its DLQ", func(t *testing.T) {
		flaky := nonce + "-flaky"
		out, err := fns.Invoke(ctx, &lambda.InvokeInput{
			FunctionName:   aws.String("FlakyFunction"),
			InvocationType: lambdatypes.InvocationTypeEvent,
			Payload:        []byte(`{"nonce":"` + flaky + `"}`),
		})
		require.NoError(t, err)
		assert.Equal(t, int32(http.StatusAccepted), out.StatusCode)
		waitSeen(ctx, t, ddb, "attempt-"+flaky, 60*time.Second, func(items []seen) error {
			if len(items) == 0 {
				return fmt.Errorf("no first attempt yet")
			}
			return nil
		})
		firstAttempt := time.Now()
		// The retry is pending (bgRetryBackoff): restart the gateway and the
		// events service under it.
		restart, err := s.compose(ctx, "restart", "--timeout", "10", "gateway", "events")
		require.NoError(t, err, restart)
		restarted := time.Since(firstAttempt)
		t.Logf("gateway and events restarted %s after the first attempt", restarted.Round(100*time.Millisecond))
		require.Less(t, restarted, bgRetryBackoff, "the restart must happen while the retry is pending")

		items := waitSeen(ctx, t, ddb, "record-"+flaky+"-RetriesExhausted", 2*time.Minute, func(items []seen) error {
			if len(items) == 0 {
				return fmt.Errorf("no OnFailure record yet")
			}
			return nil
		})
		require.Len(t, items, 1, "one OnFailure record")
		rec := items[0].Event
		rc := rec["requestContext"].(map[string]any)
		assert.Equal(t, "RetriesExhausted", rc["condition"])
		assert.EqualValues(t, 2, rc["approximateInvokeCount"])
		assert.Equal(t, map[string]any{"nonce": flaky}, rec["requestPayload"])
		resp := rec["responseContext"].(map[string]any)
		assert.Equal(t, "Unhandled", resp["functionError"])
		assert.Contains(t, fmt.Sprint(rec["responsePayload"]), "flaky failure for "+flaky)

		// The dead-letter queue has the event itself, with Lambda's attributes.
		q := s.sqs()
		url, err := q.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String("background-failed")})
		require.NoError(t, err)
		var letters []sqstypes.Message
		err = poll(ctx, time.Second, 30*time.Second, func() error {
			out, err := q.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: url.QueueUrl, MaxNumberOfMessages: 10, MessageAttributeNames: []string{"All"}, WaitTimeSeconds: 1})
			if err != nil {
				return err
			}
			letters = append(letters, out.Messages...)
			if len(letters) == 0 {
				return fmt.Errorf("no dead letter yet")
			}
			return nil
		})
		require.NoError(t, err)
		require.Len(t, letters, 1, "one dead letter")
		assert.JSONEq(t, `{"nonce":"`+flaky+`"}`, aws.ToString(letters[0].Body))
		assert.Equal(t, rc["requestId"], aws.ToString(letters[0].MessageAttributes["RequestID"].StringValue))
		assert.Equal(t, "flaky failure for "+flaky, aws.ToString(letters[0].MessageAttributes["ErrorMessage"].StringValue))

		// Nothing runs after the record: exactly two attempts.
		time.Sleep(3 * time.Second)
		attempts, err := scanSeen(ctx, ddb, "attempt-"+flaky)
		require.NoError(t, err)
		assert.Len(t, attempts, 2, "MaximumRetryAttempts 1: the first attempt and one retry")
	})

	t.Run("an S3 PUT in the filter invokes the function with S3's record, one outside does not", func(t *testing.T) {
		// After the events service's restart above: the S3 service keeps
		// posting to it.
		store := s.s3()
		inside := "incoming/" + nonce + " a+b.txt"
		for _, key := range []string{"other/" + nonce + ".txt", "incoming/" + nonce + ".csv", inside} {
			_, err := store.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("background-uploads"), Key: aws.String(key), Body: strings.NewReader("hello " + key)})
			require.NoError(t, err, key)
		}
		items := waitSeen(ctx, t, ddb, "upload-"+inside, 60*time.Second, func(items []seen) error {
			if len(items) == 0 {
				return fmt.Errorf("no S3 event yet")
			}
			return nil
		})
		require.Len(t, items, 1, "one invocation per object")
		rec := items[0].Event
		assert.Equal(t, "2.1", rec["eventVersion"])
		assert.Equal(t, "aws:s3", rec["eventSource"])
		assert.Equal(t, "us-east-1", rec["awsRegion"])
		assert.Equal(t, "ObjectCreated:Put", rec["eventName"])
		_, err := time.Parse(time.RFC3339Nano, rec["eventTime"].(string))
		assert.NoError(t, err)
		s3rec := rec["s3"].(map[string]any)
		assert.Equal(t, "1.0", s3rec["s3SchemaVersion"])
		bucket := s3rec["bucket"].(map[string]any)
		assert.Equal(t, "background-uploads", bucket["name"])
		assert.Equal(t, "arn:aws:s3:::background-uploads", bucket["arn"])
		obj := s3rec["object"].(map[string]any)
		assert.Equal(t, "incoming/"+nonce+"+a%2Bb.txt", obj["key"], "URL-encoded as S3 does")
		assert.EqualValues(t, len("hello "+inside), obj["size"])
		head, err := store.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("background-uploads"), Key: aws.String(inside)})
		require.NoError(t, err)
		assert.Equal(t, strings.Trim(aws.ToString(head.ETag), `"`), obj["eTag"])
		assert.NotEmpty(t, obj["sequencer"])

		// The keys outside the filter were put first; by now their events
		// would have run.
		time.Sleep(3 * time.Second)
		for _, outside := range []string{"upload-other/" + nonce, "upload-incoming/" + nonce + ".csv"} {
			got, err := scanSeen(ctx, ddb, outside)
			require.NoError(t, err)
			assert.Empty(t, got, "%s is outside the filter", outside)
		}
	})

	t.Run("an SNS event with SqsSubscription reads its queue as SQS records", func(t *testing.T) {
		topic := sns.New(sns.Options{Region: "us-east-1", BaseEndpoint: aws.String(s.url("PORT_MESSAGING", "")), Credentials: platformCredentials})
		message := nonce + "-notice"
		_, err := topic.Publish(ctx, &sns.PublishInput{TopicArn: aws.String("arn:aws:sns:us-east-1:123456789012:background-notices"), Message: aws.String(message)})
		require.NoError(t, err)
		items := waitSeen(ctx, t, ddb, "notice-"+message, 60*time.Second, func(items []seen) error {
			if len(items) == 0 {
				return fmt.Errorf("no notice yet")
			}
			return nil
		})
		require.Len(t, items, 1)
		rec := items[0].Event
		assert.Equal(t, "aws:sqs", rec["eventSource"])
		assert.Equal(t, "arn:aws:sqs:us-east-1:123456789012:esb-sns-NoticeFunction-Notice", rec["eventSourceARN"])
		var envelope map[string]any
		require.NoError(t, json.Unmarshal([]byte(rec["body"].(string)), &envelope))
		assert.Equal(t, "Notification", envelope["Type"])
		assert.Equal(t, "arn:aws:sns:us-east-1:123456789012:background-notices", envelope["TopicArn"])
	})

	t.Run("schedules fire with AWS's event shapes", func(t *testing.T) {
		items := waitSeen(ctx, t, ddb, "tick-", 3*time.Minute, func(items []seen) error {
			kinds := map[string]int{}
			for _, it := range items {
				kinds[it.Kind]++
			}
			if kinds["Scheduled Event"] == 0 || kinds["tokyo-cron"] == 0 {
				return fmt.Errorf("fires so far: %v", kinds)
			}
			return nil
		})
		t.Logf("both schedules seen %s after the deploy started", time.Since(deployed).Round(time.Second))
		times := map[string]int{}
		for _, it := range items {
			switch it.Kind {
			case "Scheduled Event":
				ev := it.Event
				assert.Equal(t, "aws.events", ev["source"])
				assert.Equal(t, "0", ev["version"])
				assert.Equal(t, "123456789012", ev["account"])
				assert.Equal(t, "us-east-1", ev["region"])
				assert.Equal(t, []any{"arn:aws:events:us-east-1:123456789012:rule/TickFunctionEveryMinute"}, ev["resources"])
				assert.Equal(t, map[string]any{}, ev["detail"])
				tick, err := time.Parse(time.RFC3339, ev["time"].(string))
				require.NoError(t, err)
				times[ev["time"].(string)]++
				// A fire's time is its scheduled minute: after the deploy,
				// not in the future. (Measured against now, it failed
				// whenever the other schedule's first fire took more than
				// three minutes to be seen on a loaded machine.)
				assert.True(t, tick.After(deployed.Add(-time.Minute)) && tick.Before(time.Now().Add(time.Minute)),
					"fire time %s: between the deploy (%s) and now", tick, deployed.UTC().Format(time.RFC3339))
			case "tokyo-cron":
				assert.Equal(t, map[string]any{"kind": "tokyo-cron"}, it.Event, "Scheduler's Input, verbatim")
			default:
				t.Errorf("unexpected fire %s: %v", it.Kind, it.Event)
			}
		}
		for tick, n := range times {
			assert.Equal(t, 1, n, "tick %s fired %d times", tick, n)
		}
	})

	t.Run("fires are in the function's logs, the access log and the events service's log", func(t *testing.T) {
		env := s.layout.Env.Key()
		assert.NoError(t, pollLogs(ctx, s, `service:function AND env:`+env+` AND function:TickFunction AND "tick tokyo-cron"`, 30*time.Second))
		assert.NoError(t, pollLogs(ctx, s, `service:gateway AND env:`+env+` AND function:TickFunction`, 30*time.Second))
		assert.NoError(t, pollLogs(ctx, s, `service:events AND env:`+env+` AND function:TickFunction AND "schedule fired"`, 30*time.Second))
	})
}
