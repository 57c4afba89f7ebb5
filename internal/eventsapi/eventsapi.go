// Package eventsapi is the contract between the gateway and the events
// service: the gateway hands over each Event (asynchronous) invocation and
// answers 202 only once the events service has stored it durably. The API
// is internal to the platform network and never published on the host.
//
//	POST /v1/async/{function}   body: the event payload -> 202 Accepted
//	GET  /v1/health             -> 200
//	POST /v1/s3-notifications   body: an S3 event notification (the S3
//	                            service's webhook) -> 200 once stored
//
// The request id the gateway gave the invocation travels in
// HeaderRequestID. Errors are JSON Error bodies with a non-2xx status.
package eventsapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
)

// DefaultPort is where the events service listens on the platform network.
const DefaultPort = 9100

// PathS3Notifications is where the env's S3 service posts its event
// notifications.
const PathS3Notifications = "/v1/s3-notifications"

// MaxAsyncPayload is Lambda's limit for an asynchronous invocation's
// payload (1 MB since 2025; it was 256 KB before).
const MaxAsyncPayload = 1 << 20

// HeaderRequestID carries the invocation's request id.
const HeaderRequestID = "X-Esb-Request-Id"

// ErrTooLarge is returned for a payload over MaxAsyncPayload.
var ErrTooLarge = errors.New("payload too large for an asynchronous invocation")

// Error is the body of a failed call.
type Error struct {
	Message string `json:"message"`
}

// Client calls the events service.
type Client struct {
	BaseURL string // e.g. http://events:9100
	HTTP    *http.Client
}

// Enqueue stores an Event invocation of function; it returns once the
// events service has it on disk.
func (c *Client) Enqueue(ctx context.Context, function, requestID string, payload []byte) error {
	if len(payload) > MaxAsyncPayload {
		return ErrTooLarge
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.BaseURL+"/v1/async/"+url.PathEscape(function), bytes.NewReader(payload))
	if err != nil {
		return fmt.Errorf("enqueue %s: %w", function, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(HeaderRequestID, requestID)
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return fmt.Errorf("enqueue %s: %w", function, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096)) // only for the message
	switch resp.StatusCode {
	case http.StatusAccepted:
		return nil
	case http.StatusRequestEntityTooLarge:
		return ErrTooLarge
	}
	var e Error
	if json.Unmarshal(body, &e) != nil || e.Message == "" {
		e.Message = string(body)
	}
	return fmt.Errorf("enqueue %s: events service answered %d: %s", function, resp.StatusCode, e.Message)
}
