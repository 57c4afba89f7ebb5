// Package snsevent turns an SNS notification, as the messaging service
// delivers it to a subscribed queue (SNS's JSON envelope), into the event
// Lambda gives a function subscribed to the topic.
package snsevent

import (
	"encoding/json"
	"errors"
	"fmt"
)

// envelope is SNS's notification as delivered to an SQS subscription.
type envelope struct {
	Type              string                       `json:"Type"`
	MessageID         string                       `json:"MessageId"`
	TopicArn          string                       `json:"TopicArn"`
	Subject           *string                      `json:"Subject"`
	Message           string                       `json:"Message"`
	Timestamp         string                       `json:"Timestamp"`
	SignatureVersion  string                       `json:"SignatureVersion"`
	Signature         string                       `json:"Signature"`
	SigningCertURL    string                       `json:"SigningCertURL"`
	SigningCertUrl    string                       `json:"SigningCertUrl"`
	UnsubscribeURL    string                       `json:"UnsubscribeURL"`
	UnsubscribeUrl    string                       `json:"UnsubscribeUrl"`
	MessageAttributes map[string]map[string]string `json:"MessageAttributes"`
}

// Event builds the Lambda event for one notification (SNS invokes a
// function with one record per message). subscriptionArn names the
// function's subscription in the record.
func Event(notification []byte, subscriptionArn string) ([]byte, error) {
	var n envelope
	if err := json.Unmarshal(notification, &n); err != nil {
		return nil, fmt.Errorf("sns notification: %w", err)
	}
	if n.Type != "Notification" || n.TopicArn == "" {
		return nil, errors.New("sns notification: not an SNS Notification envelope (raw message delivery?)")
	}
	attrs := map[string]any{}
	for name, a := range n.MessageAttributes {
		attrs[name] = map[string]string{"Type": a["Type"], "Value": a["Value"]}
	}
	sns := map[string]any{
		"Type":              "Notification",
		"MessageId":         n.MessageID,
		"TopicArn":          n.TopicArn,
		"Subject":           n.Subject, // null when the publisher gave none, as on AWS
		"Message":           n.Message,
		"Timestamp":         n.Timestamp,
		"SignatureVersion":  n.SignatureVersion,
		"Signature":         n.Signature,
		"SigningCertUrl":    first(n.SigningCertUrl, n.SigningCertURL),
		"UnsubscribeUrl":    first(n.UnsubscribeUrl, n.UnsubscribeURL),
		"MessageAttributes": attrs,
	}
	return json.Marshal(map[string]any{"Records": []any{map[string]any{
		"EventSource":          "aws:sns",
		"EventVersion":         "1.0",
		"EventSubscriptionArn": subscriptionArn,
		"Sns":                  sns,
	}}})
}

func first(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
