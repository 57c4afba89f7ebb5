// Package lambdaclient invokes functions through the gateway's Lambda
// Invoke API, signed as any SDK would sign: the events service runs every
// asynchronous invocation this way, so invocations from the queue share
// the gateway's access log, concurrency limits and function logs, and
// `esb invoke` calls it for the operator.
package lambdaclient

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// maxResponse bounds what is read of an answer: Lambda's 6 MB plus room.
const maxResponse = 7 << 20

// ErrThrottled means the invocation did not run: the gateway throttled it
// (429) or could not run it (unreachable, 5xx). Lambda retries such
// events without counting an attempt.
var ErrThrottled = errors.New("invocation did not run")

// ErrNotFound means the gateway does not know the function.
var ErrNotFound = errors.New("function not found")

// Invocation types of the Invoke API (X-Amz-Invocation-Type).
const (
	RequestResponse = "RequestResponse"
	Event           = "Event"
)

// Result is the answer of an invocation that ran (RequestResponse) or was
// queued (Event: StatusCode 202, no payload).
type Result struct {
	StatusCode    int
	FunctionError string // X-Amz-Function-Error; empty on success
	Payload       []byte
	RequestID     string // X-Amzn-Requestid: names the invocation in the function's log lines
}

// Client calls the gateway.
type Client struct {
	BaseURL string // e.g. http://gateway:8080
	HTTP    *http.Client
	// Region and Credentials sign every call (SigV4, service lambda), as
	// the gateway's Invoke API requires: the env's root key.
	Region      string
	Credentials aws.Credentials
}

// Invoke runs function with payload and waits for its answer.
func (c *Client) Invoke(ctx context.Context, function string, payload []byte) (Result, error) {
	return c.Call(ctx, function, RequestResponse, payload)
}

// Call invokes function with the given invocation type: RequestResponse
// waits for the function's answer, Event returns once the gateway queued
// the event.
func (c *Client) Call(ctx context.Context, function, invocationType string, payload []byte) (Result, error) {
	u := c.BaseURL + "/2015-03-31/functions/" + url.PathEscape(function) + "/invocations"
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(payload))
	if err != nil {
		return Result{}, fmt.Errorf("invoke %s: %w", function, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Amz-Invocation-Type", invocationType)
	sum := sha256.Sum256(payload)
	if err := v4.NewSigner().SignHTTP(ctx, c.Credentials, req, hex.EncodeToString(sum[:]), "lambda", c.Region, time.Now()); err != nil {
		return Result{}, fmt.Errorf("invoke %s: sign: %w", function, err)
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return Result{}, fmt.Errorf("invoke %s: %w", function, ctx.Err())
		}
		return Result{}, fmt.Errorf("invoke %s: %w: %w", function, ErrThrottled, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if err != nil {
		return Result{}, fmt.Errorf("invoke %s: read answer: %w: %w", function, ErrThrottled, err)
	}
	switch {
	case resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusAccepted && invocationType == Event:
		return Result{StatusCode: resp.StatusCode, FunctionError: resp.Header.Get("X-Amz-Function-Error"), Payload: body,
			RequestID: resp.Header.Get("X-Amzn-Requestid")}, nil
	case resp.StatusCode == http.StatusNotFound:
		// A signed call that 404s: the function is gone. (An unsigned or
		// wrongly signed one gets 403 below, an error that is not retried
		// as a throttle: the operator must fix the key.)
		return Result{}, fmt.Errorf("invoke %s: %w", function, ErrNotFound)
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500:
		return Result{}, fmt.Errorf("invoke %s: %w: gateway answered %d: %s", function, ErrThrottled, resp.StatusCode, snippet(body))
	}
	return Result{}, fmt.Errorf("invoke %s: gateway answered %d: %s", function, resp.StatusCode, snippet(body))
}

func snippet(b []byte) string {
	if len(b) > 300 {
		return string(b[:300]) + "..."
	}
	return string(b)
}
