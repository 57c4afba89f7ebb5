package agentapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// maxResponse bounds what the client reads from the agent.
const maxResponse = 1 << 20

// Client calls the agent's API. The zero HTTP field means
// http.DefaultClient; a nil Token sends no credentials.
type Client struct {
	BaseURL string // e.g. http://agent:9000
	HTTP    *http.Client
	Token   *TokenFile
}

// APIError is an Error answer with its HTTP status.
type APIError struct {
	Status int
	Error_ Error
}

func (e *APIError) Error() string {
	return fmt.Sprintf("agent: %d %s: %s", e.Status, e.Error_.Code, e.Error_.Message)
}

// SetDesired replaces the agent's desired state.
func (c *Client) SetDesired(ctx context.Context, d Desired) error {
	return c.do(ctx, http.MethodPut, "/v1/functions", d, nil)
}

// Acquire leases a container for one invocation of spec.
func (c *Client) Acquire(ctx context.Context, spec FunctionSpec) (Lease, error) {
	var l Lease
	err := c.do(ctx, http.MethodPost, "/v1/functions/"+url.PathEscape(spec.Name)+"/acquire", AcquireRequest{Spec: spec}, &l)
	return l, err
}

// Release returns a lease.
func (c *Client) Release(ctx context.Context, leaseID string, req ReleaseRequest) error {
	return c.do(ctx, http.MethodPost, "/v1/leases/"+url.PathEscape(leaseID)+"/release", req, nil)
}

// WaitExit returns once the container of lease leaseID has exited, or with
// ctx's error. It waits as long as ctx allows: give it one without a
// timeout, and an HTTP client without one.
func (c *Client) WaitExit(ctx context.Context, leaseID string) (Exit, error) {
	var e Exit
	err := c.do(ctx, http.MethodGet, "/v1/leases/"+url.PathEscape(leaseID)+"/exit", nil, &e)
	return e, err
}

// Memory reports the memory use of lease leaseID's container.
func (c *Client) Memory(ctx context.Context, leaseID string) (Memory, error) {
	var m Memory
	err := c.do(ctx, http.MethodGet, "/v1/leases/"+url.PathEscape(leaseID)+"/memory", nil, &m)
	return m, err
}

// Health reports the agent's status.
func (c *Client) Health(ctx context.Context) (Health, error) {
	var h Health
	err := c.do(ctx, http.MethodGet, "/v1/health", nil, &h)
	return h, err
}

// Metrics returns the agent's metrics in Prometheus text format.
func (c *Client) Metrics(ctx context.Context) ([]byte, error) {
	resp, data, err := c.send(ctx, http.MethodGet, "/v1/metrics", nil)
	if err == nil && resp.StatusCode == http.StatusUnauthorized && c.Token != nil {
		resp, data, err = c.send(ctx, http.MethodGet, "/v1/metrics", nil)
	}
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("agent GET /v1/metrics: %s: %s", resp.Status, strings.TrimSpace(string(data)))
	}
	return data, nil
}

func (c *Client) do(ctx context.Context, method, path string, in, out any) error {
	var payload []byte
	if in != nil {
		var err error
		if payload, err = json.Marshal(in); err != nil {
			return fmt.Errorf("agent %s %s: %w", method, path, err)
		}
	}
	resp, data, err := c.send(ctx, method, path, payload)
	if err == nil && resp.StatusCode == http.StatusUnauthorized && c.Token != nil {
		// A restarted agent wrote a new token: read it once more.
		resp, data, err = c.send(ctx, method, path, payload)
	}
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		apiErr := &APIError{Status: resp.StatusCode}
		if json.Unmarshal(data, &apiErr.Error_) != nil || apiErr.Error_.Code == "" {
			apiErr.Error_ = Error{Code: http.StatusText(resp.StatusCode), Message: strings.TrimSpace(string(data))}
		}
		return apiErr
	}
	if out == nil || resp.StatusCode == http.StatusNoContent {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("agent %s %s: decode answer: %w", method, path, err)
	}
	return nil
}

// send makes one call with the current token; on 401 it forgets that token.
func (c *Client) send(ctx context.Context, method, path string, payload []byte) (*http.Response, []byte, error) {
	var body io.Reader
	if payload != nil {
		body = bytes.NewReader(payload)
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimSuffix(c.BaseURL, "/")+path, body)
	if err != nil {
		return nil, nil, fmt.Errorf("agent %s %s: %w", method, path, err)
	}
	if payload != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	var token string
	if c.Token != nil {
		if token, err = c.Token.Token(); err != nil {
			return nil, nil, fmt.Errorf("agent %s %s: %w", method, path, err)
		}
		req.Header.Set("Authorization", "Bearer "+token)
	}
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, nil, fmt.Errorf("agent %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if err != nil {
		return nil, nil, fmt.Errorf("agent %s %s: read answer: %w", method, path, err)
	}
	if resp.StatusCode == http.StatusUnauthorized && c.Token != nil {
		c.Token.Forget(token)
	}
	return resp, data, nil
}

// IsCode reports whether err is an agent answer with the given code.
func IsCode(err error, code string) bool {
	var apiErr *APIError
	return errors.As(err, &apiErr) && apiErr.Error_.Code == code
}
