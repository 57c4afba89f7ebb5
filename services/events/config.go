package main

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/esb-dev/esb/internal/awsid"
	"github.com/esb-dev/esb/internal/duration"
)

// config is everything the events service reads from its environment,
// read once at start.
type config struct {
	ConfigDir      string        // CONFIG_DIR
	ReloadInterval time.Duration // CONFIG_RELOAD_INTERVAL
	DataDir        string        // DATA_DIR: the events-data volume
	Listen         string        // LISTEN
	GatewayURL     string        // GATEWAY_URL: the Invoke API every event runs through
	LogsURL        string        // LOGS_URL; empty: the service's lines stay on stdout
	Env            string        // ESB_ENV
	Region         string        // AWS_REGION
	AccountID      string        // ACCOUNT_ID
	// SQSEndpoint and SNSEndpoint are the messaging service (SQS_ENDPOINT,
	// SNS_ENDPOINT), signed with AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY:
	// the SQS event sources read it and dead letters and destination
	// records for SQS/SNS targets go there.
	SQSEndpoint     string
	SNSEndpoint     string
	AccessKeyID     string
	SecretAccessKey string
	// RetryBackoff is the wait before an event's first retry; the n-th
	// retry waits n times as long (ESB_ASYNC_RETRY_BACKOFF, default 1m).
	RetryBackoff time.Duration
	// Grace is how late a schedule tick may still fire
	// (ESB_SCHEDULE_GRACE, default 2m).
	Grace time.Duration
}

// configFromEnv reads the environment through getenv; every problem is
// reported at once.
func configFromEnv(getenv func(string) string) (config, error) {
	get := func(key, def string) string {
		if v := strings.TrimSpace(getenv(key)); v != "" {
			return v
		}
		return def
	}
	c := config{
		ConfigDir:  get("CONFIG_DIR", "/app/runtime-config"),
		DataDir:    get("DATA_DIR", "/var/lib/esb-events"),
		Listen:     get("LISTEN", ":9100"),
		GatewayURL: strings.TrimSuffix(get("GATEWAY_URL", "http://gateway:8080"), "/"),
		LogsURL:    get("LOGS_URL", ""),
		Env:        get("ESB_ENV", ""),
		Region:     get("AWS_REGION", awsid.DefaultRegion),
		AccountID:  get("ACCOUNT_ID", awsid.DefaultAccountID),

		SQSEndpoint:     strings.TrimSuffix(get("SQS_ENDPOINT", "http://messaging:4566"), "/"),
		SNSEndpoint:     strings.TrimSuffix(get("SNS_ENDPOINT", "http://messaging:4566"), "/"),
		AccessKeyID:     get("AWS_ACCESS_KEY_ID", "esb"),
		SecretAccessKey: get("AWS_SECRET_ACCESS_KEY", "esb-local-secret"),
	}
	var errs []error
	for _, d := range []struct {
		name, def string
		dst       *time.Duration
	}{
		{"CONFIG_RELOAD_INTERVAL", "1s", &c.ReloadInterval},
		{"ESB_ASYNC_RETRY_BACKOFF", "1m", &c.RetryBackoff},
		{"ESB_SCHEDULE_GRACE", "2m", &c.Grace},
	} {
		v, err := duration.Parse(get(d.name, d.def))
		if err == nil && v <= 0 {
			err = fmt.Errorf("must be positive, got %s", v)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", d.name, err))
		}
		*d.dst = v
	}
	if !strings.HasPrefix(c.GatewayURL, "http://") && !strings.HasPrefix(c.GatewayURL, "https://") {
		errs = append(errs, fmt.Errorf("GATEWAY_URL: %q is not an http(s) URL", c.GatewayURL))
	}
	if !strings.HasPrefix(c.SQSEndpoint, "http://") && !strings.HasPrefix(c.SQSEndpoint, "https://") {
		errs = append(errs, fmt.Errorf("SQS_ENDPOINT: %q is not an http(s) URL", c.SQSEndpoint))
	}
	if len(c.AccountID) != 12 || strings.Trim(c.AccountID, "0123456789") != "" {
		errs = append(errs, fmt.Errorf("ACCOUNT_ID: want 12 digits, got %q", c.AccountID))
	}
	return c, errors.Join(errs...)
}
