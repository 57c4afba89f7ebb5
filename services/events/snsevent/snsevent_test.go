package snsevent

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestEvent(t *testing.T) {
	body := `{"Type":"Notification","MessageId":"m1","TopicArn":"arn:aws:sns:us-east-1:123456789012:alerts",
		"Subject":"hi","Message":"hello","Timestamp":"2026-12-02T10:00:00.000Z","SignatureVersion":"1","Signature":"sig",
		"SigningCertURL":"https://cert","UnsubscribeURL":"https://unsub",
		"MessageAttributes":{"kind":{"Type":"String","Value":"order"}}}`
	got, err := Event([]byte(body), "arn:aws:sns:us-east-1:123456789012:alerts:sub")
	require.NoError(t, err)
	assert.JSONEq(t, `{"Records":[{"EventSource":"aws:sns","EventVersion":"1.0",
		"EventSubscriptionArn":"arn:aws:sns:us-east-1:123456789012:alerts:sub",
		"Sns":{"Type":"Notification","MessageId":"m1","TopicArn":"arn:aws:sns:us-east-1:123456789012:alerts",
			"Subject":"hi","Message":"hello","Timestamp":"2026-12-02T10:00:00.000Z","SignatureVersion":"1","Signature":"sig",
			"SigningCertUrl":"https://cert","UnsubscribeUrl":"https://unsub",
			"MessageAttributes":{"kind":{"Type":"String","Value":"order"}}}}]}`, string(got))

	noSubject, err := Event([]byte(`{"Type":"Notification","MessageId":"m2","TopicArn":"arn:t","Message":"x"}`), "s")
	require.NoError(t, err)
	assert.Contains(t, string(noSubject), `"Subject":null`)

	_, err = Event([]byte(`plain text`), "s")
	assert.Error(t, err)
	_, err = Event([]byte(`{"note":"raw"}`), "s")
	assert.ErrorContains(t, err, "raw message delivery")
}
