//go:build e2e

package e2e

import (
	"encoding/json"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	dbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestMessaging deploys queues, a FIFO queue and a topic with an SQS
// subscription into an env of each mode, then has a function send and
// publish with plain boto3 (no endpoint in its code) and reads the
// messages back from the host through the env's messaging port.
func TestMessaging(t *testing.T) {
	t.Parallel()
	envs := []struct {
		name   string
		offset int
		mode   string
	}{
		{"msg-docker", 1400, "docker"},
		{"msg-ctrd", 1900, "containerd"},
	}
	stacks := map[string]*stack{}
	for _, e := range envs {
		stacks[e.name] = newModeStack(t, e.name, e.offset, e.mode)
		// The messaging functions ask for no warm containers; capacityFlow
		// needs a budget it knows.
		stacks[e.name].set("ESB_FUNCTION_MEMORY", strconv.Itoa(capacityBudgetMB))
	}
	for _, e := range envs {
		t.Run(e.mode, func(t *testing.T) {
			t.Parallel()
			messagingFlow(t, stacks[e.name])
			t.Run("warm containers past the node's budget", func(t *testing.T) { capacityFlow(t, stacks[e.name]) })
		})
	}
}

func messagingFlow(t *testing.T, s *stack) {
	ctx := t.Context()
	began := time.Now()
	s.up(t)
	t.Logf("%s env up in %s", s.mode, time.Since(began).Round(time.Second))

	began = time.Now()
	res := s.esb(ctx, t, "deploy", "--verbose", "--mode", s.mode, "--tag", "e2e-"+s.layout.Env.Name,
		"-t", filepath.Join(s.root, "e2e", "testdata", "messaging", "template.yml"))
	require.NoError(t, res.err)
	t.Logf("deploy in %s", time.Since(began).Round(100*time.Millisecond))
	assert.Contains(t, res.stdout+res.stderr, `sqs queue "outbox": created`)
	assert.Contains(t, res.stdout+res.stderr, `sns topic "alerts": created`)

	q := s.sqs()
	url := func(name string) string {
		out, err := q.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String(name)})
		require.NoError(t, err, "queue %s", name)
		return aws.ToString(out.QueueUrl)
	}

	t.Run("queues carry the template's attributes", func(t *testing.T) {
		attrs, err := q.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
			QueueUrl: aws.String(url("outbox")), AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameAll},
		})
		require.NoError(t, err)
		assert.Equal(t, "45", attrs.Attributes["VisibilityTimeout"])
		assert.Equal(t, "arn:aws:sqs:us-east-1:123456789012:outbox", attrs.Attributes["QueueArn"], "the ARN GetAtt gives")
		assert.JSONEq(t, `{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:123456789012:outbox-dlq","maxReceiveCount":2}`, attrs.Attributes["RedrivePolicy"])
		fifo, err := q.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
			QueueUrl: aws.String(url("Ledger.fifo")), AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameAll},
		})
		require.NoError(t, err)
		assert.Equal(t, "true", fifo.Attributes["FifoQueue"], "an unnamed FIFO queue is named <LogicalId>.fifo")
	})

	fns := lambda.New(lambda.Options{
		Region: "us-east-1", BaseEndpoint: aws.String(s.url("PORT_GATEWAY", "")),
		Credentials: platformCredentials, RetryMaxAttempts: 1,
	})
	var answer struct {
		Sent, Published string
		QueueArn        string `json:"queue_arn"`
		Endpoints       []string
	}
	require.Eventually(t, func() bool {
		out, err := fns.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String("SenderFunction"), Payload: []byte(`{"note":"hello"}`)})
		if err != nil || out.FunctionError != nil {
			if out != nil {
				t.Logf("invoke: %s %s", aws.ToString(out.FunctionError), out.Payload)
			} else {
				t.Logf("invoke: %v", err)
			}
			return false
		}
		return json.Unmarshal(out.Payload, &answer) == nil
	}, 3*time.Minute, 2*time.Second, "SenderFunction answers")
	assert.Equal(t, []string{"http://messaging:4566", "http://messaging:4566"}, answer.Endpoints)
	assert.Equal(t, "arn:aws:sqs:us-east-1:123456789012:outbox", answer.QueueArn)

	receive := func(t *testing.T, queue string) sqstypes.Message {
		t.Helper()
		out, err := q.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
			QueueUrl: aws.String(url(queue)), MaxNumberOfMessages: 10, WaitTimeSeconds: 5,
			MessageSystemAttributeNames: []sqstypes.MessageSystemAttributeName{sqstypes.MessageSystemAttributeNameAll},
		})
		require.NoError(t, err)
		require.Len(t, out.Messages, 1, "queue %s", queue)
		return out.Messages[0]
	}
	t.Run("the function's message is on the queue", func(t *testing.T) {
		m := receive(t, "outbox")
		assert.Equal(t, answer.Sent, aws.ToString(m.MessageId))
		assert.JSONEq(t, `{"note":"hello"}`, aws.ToString(m.Body))
		// Read and done: left on the queue it would come back after the
		// visibility timeout, in the middle of a later subtest's receive.
		_, err := q.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(url("outbox")), ReceiptHandle: m.ReceiptHandle})
		require.NoError(t, err)
	})
	t.Run("the FIFO queue keeps the group", func(t *testing.T) {
		m := receive(t, "Ledger.fifo")
		assert.Equal(t, "hello", aws.ToString(m.Body))
		assert.Equal(t, "g1", m.Attributes["MessageGroupId"])
	})
	t.Run("the topic fans out to its SQS subscription in SNS's envelope", func(t *testing.T) {
		m := receive(t, "alerts-copy")
		var env map[string]any
		require.NoError(t, json.Unmarshal([]byte(aws.ToString(m.Body)), &env))
		assert.Equal(t, "Notification", env["Type"])
		assert.Equal(t, answer.Published, env["MessageId"])
		assert.Equal(t, "arn:aws:sns:us-east-1:123456789012:alerts", env["TopicArn"])
		assert.Equal(t, "hello", env["Message"])
	})

	item := func(id string) map[string]string {
		out, err := s.dynamoDB().GetItem(ctx, &dynamodb.GetItemInput{
			TableName: aws.String("processed"), Key: map[string]dbtypes.AttributeValue{"id": &dbtypes.AttributeValueMemberS{Value: id}},
		})
		if err != nil || out.Item == nil {
			return nil
		}
		m := map[string]string{}
		for k, v := range out.Item {
			if sv, ok := v.(*dbtypes.AttributeValueMemberS); ok {
				m[k] = sv.Value
			}
		}
		return m
	}
	waitItem := func(t *testing.T, id string, limit time.Duration) map[string]string {
		t.Helper()
		var got map[string]string
		require.Eventually(t, func() bool { got = item(id); return got != nil }, limit, 250*time.Millisecond, "item %s in the table", id)
		return got
	}

	t.Run("an HTTP function's message reaches the SQS consumer, which writes the table", func(t *testing.T) {
		resp, err := http.Post(s.url("PORT_GATEWAY", "/send"), "application/json", strings.NewReader(`{"id":"http1"}`))
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, http.StatusAccepted, resp.StatusCode)
		got := waitItem(t, "http1", 2*time.Minute)
		assert.Equal(t, "arn:aws:sqs:us-east-1:123456789012:work", got["source"], "the record's eventSourceARN")
		assert.Equal(t, "1", got["receives"])
	})

	t.Run("a partial batch failure redelivers only the failed message, then dead-letters it", func(t *testing.T) {
		began := time.Now()
		_, err := q.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: aws.String(url("work")), Entries: []sqstypes.SendMessageBatchRequestEntry{
			{Id: aws.String("1"), MessageBody: aws.String(`{"id":"ok1"}`)},
			{Id: aws.String("2"), MessageBody: aws.String(`{"id":"bad","fail":true}`)},
			{Id: aws.String("3"), MessageBody: aws.String(`{"id":"ok2"}`)},
		}})
		require.NoError(t, err)
		waitItem(t, "ok1", time.Minute)
		waitItem(t, "ok2", time.Minute)
		waitItem(t, "bad#1", time.Minute)
		waitItem(t, "bad#2", time.Minute)
		var dead []sqstypes.Message
		require.Eventually(t, func() bool {
			out, err := q.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(url("work-dlq")), WaitTimeSeconds: 2})
			dead = append(dead, out.Messages...)
			return err == nil && len(dead) > 0
		}, time.Minute, 100*time.Millisecond, "the failed message reaches work-dlq after maxReceiveCount 2")
		t.Logf("failed message dead-lettered %s after it was sent", time.Since(began).Round(100*time.Millisecond))
		assert.JSONEq(t, `{"id":"bad","fail":true}`, aws.ToString(dead[0].Body))
		assert.Equal(t, "1", item("ok1")["receives"], "a message the function handled is never delivered again")
		assert.Equal(t, "1", item("ok2")["receives"])
		assert.Nil(t, item("bad#3"), "no third attempt past maxReceiveCount")
	})

	t.Run("SNS fans out to two subscribed functions, with the filter policy applied", func(t *testing.T) {
		a := waitItem(t, "a#hello", 2*time.Minute)
		b := waitItem(t, "b#hello", 2*time.Minute)
		for _, it := range []map[string]string{a, b} {
			assert.Equal(t, "aws:sns", it["source"])
			assert.Equal(t, "arn:aws:sns:us-east-1:123456789012:alerts", it["topic"])
			assert.Equal(t, "alert", it["subject"])
		}
		topic := sns.New(sns.Options{Region: "us-east-1", BaseEndpoint: aws.String(s.url("PORT_MESSAGING", "")), Credentials: platformCredentials})
		_, err := topic.Publish(ctx, &sns.PublishInput{TopicArn: aws.String("arn:aws:sns:us-east-1:123456789012:alerts"), Message: aws.String("quiet")})
		require.NoError(t, err)
		waitItem(t, "a#quiet", time.Minute)
		assert.Nil(t, item("b#quiet"), "B's FilterPolicy wants kind=alert")
	})

	t.Run("a message outlives a restart of the messaging service", func(t *testing.T) {
		_, err := q.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(url("outbox")), MessageBody: aws.String("durable")})
		require.NoError(t, err)
		out, err := s.compose(ctx, "restart", "messaging")
		require.NoError(t, err, out)
		require.NoError(t, waitHTTP(ctx, s.url("PORT_MESSAGING", "/health"), 200, 200*time.Millisecond))
		assert.Equal(t, "durable", aws.ToString(receive(t, "outbox").Body))
	})

	t.Run("a second deploy provisions nothing twice", func(t *testing.T) {
		res := s.esb(ctx, t, "deploy", "--mode", s.mode, "--tag", "e2e-"+s.layout.Env.Name,
			"-t", filepath.Join(s.root, "e2e", "testdata", "messaging", "template.yml"))
		require.NoError(t, res.err)
		assert.Contains(t, res.stdout+res.stderr, "0 created, 13 existed")
	})
}

// sqs is the env's SQS API as the host reaches it.
func (s *stack) sqs() *sqs.Client {
	return sqs.New(sqs.Options{Region: "us-east-1", BaseEndpoint: aws.String(s.url("PORT_MESSAGING", "")), Credentials: platformCredentials})
}
