package main

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/esb-dev/esb/internal/awsid"
	"github.com/esb-dev/esb/internal/duration"
	"github.com/esb-dev/esb/internal/tlsca"
	"github.com/esb-dev/esb/services/gateway/configwatch"
	"github.com/esb-dev/esb/services/gateway/lambdainvoke"
)

// config is everything the gateway reads from its environment, read once
// at start.
type config struct {
	ConfigDir      string        // CONFIG_DIR
	SeedDir        string        // SEED_DIR
	ReloadInterval time.Duration // CONFIG_RELOAD_INTERVAL
	AgentURL       string        // AGENT_URL
	AgentTokenFile string        // AGENT_TOKEN_FILE; empty: calls carry no token
	LogsURL        string        // LOGS_URL; empty: no shipping
	// EventsURL is the events service (EVENTS_URL); empty: Event
	// invocations run in the gateway, once, with no retry.
	EventsURL string
	Listen    string // LISTEN: internal (functions, events, healthcheck)
	// HTTPListen is the public plain-HTTP listener (HTTP_LISTEN); empty
	// when unset or when GATEWAY_HTTP=off.
	HTTPListen string
	// TLS is the public HTTPS listener; TLS.Listen empty: none.
	TLS          tlsConfig
	Env          string        // ESB_ENV
	Region       string        // AWS_REGION
	AccountID    string        // ACCOUNT_ID
	MaxQueueWait time.Duration // MAX_QUEUE_WAIT
	// AccountConcurrency bounds the invocations in flight of the env's
	// functions together (ACCOUNT_CONCURRENCY, Lambda's default 1,000).
	AccountConcurrency int
	// StartsPerFunction and StartsPerNode bound the container starts in
	// flight, booting runtimes included, for one function and for the
	// node (CONTAINER_STARTS_PER_FUNCTION, CONTAINER_STARTS_PER_NODE):
	// wider bounds boot more runtimes at once, which ramps a burst faster
	// only on a node with CPU to spare and otherwise takes the CPU of its
	// warm functions.
	StartsPerFunction int
	StartsPerNode     int
	// BodyReadTimeout bounds reading one whole request, head and body
	// (BODY_READ_TIMEOUT): a client that trickles its body cannot hold a
	// connection and its goroutine for ever.
	BodyReadTimeout time.Duration
	// RuntimeAPIListen is where the gateway serves the Lambda Runtime API
	// to function runtimes (RUNTIME_API_LISTEN, e.g. ":9001"); empty:
	// invocations go to each container's RIE.
	RuntimeAPIListen string
	// AdminListen is where the gateway serves /metrics and the dashboard
	// (ADMIN_LISTEN); empty: not at all. Compose publishes it on host
	// loopback only, as PORT_ADMIN.
	AdminListen string
	// RootKey is the env's access key pair (AWS_ACCESS_KEY_ID,
	// AWS_SECRET_ACCESS_KEY): the Invoke API and AWS_IAM routes accept
	// requests signed with it or with a function's key derived from it.
	RootKey awsid.Key
}

// tlsConfig is the HTTPS side of the gateway's environment.
type tlsConfig struct {
	Listen    string   // TLS_LISTEN, e.g. :8443
	Dir       string   // TLS_DIR: the env CA, default CONFIG_DIR/tls
	CertFile  string   // TLS_CERT_FILE: the operator's certificate
	KeyFile   string   // TLS_KEY_FILE
	Hostnames []string // TLS_HOSTNAMES: comma- or space-separated
}

// configFromEnv reads the gateway's environment through getenv. Every
// problem is reported at once.
func configFromEnv(getenv func(string) string) (config, error) {
	get := func(key, def string) string {
		if v := strings.TrimSpace(getenv(key)); v != "" {
			return v
		}
		return def
	}
	c := config{
		ConfigDir:      get("CONFIG_DIR", "/app/runtime-config"),
		SeedDir:        get("SEED_DIR", "/app/seed-config"),
		AgentURL:       get("AGENT_URL", "http://agent:9000"),
		AgentTokenFile: get("AGENT_TOKEN_FILE", ""),
		LogsURL:        get("LOGS_URL", ""),
		EventsURL:      get("EVENTS_URL", ""),
		Listen:         get("LISTEN", ":8080"),
		Env:            get("ESB_ENV", ""),
		Region:         get("AWS_REGION", awsid.DefaultRegion),
		AccountID:      get("ACCOUNT_ID", awsid.DefaultAccountID),

		RuntimeAPIListen: get("RUNTIME_API_LISTEN", ""),
		AdminListen:      get("ADMIN_LISTEN", ""),
		RootKey:          awsid.Key{AccessKeyID: get("AWS_ACCESS_KEY_ID", ""), SecretAccessKey: get("AWS_SECRET_ACCESS_KEY", "")},
	}
	c.TLS = tlsConfig{
		Listen:   get("TLS_LISTEN", ""),
		Dir:      get("TLS_DIR", filepath.Join(c.ConfigDir, tlsca.Dir)),
		CertFile: get("TLS_CERT_FILE", ""),
		KeyFile:  get("TLS_KEY_FILE", ""),
	}
	if names := get("TLS_HOSTNAMES", ""); names != "" {
		c.TLS.Hostnames = strings.FieldsFunc(names, func(r rune) bool { return r == ',' || r == ' ' })
	}
	var errs []error
	var err error
	switch v := strings.ToLower(get("GATEWAY_HTTP", "on")); v {
	case "on":
		c.HTTPListen = get("HTTP_LISTEN", "")
	case "off":
		if c.TLS.Listen == "" {
			errs = append(errs, errors.New("GATEWAY_HTTP=off needs TLS_LISTEN: the gateway would have no public listener"))
		}
	default:
		errs = append(errs, fmt.Errorf("GATEWAY_HTTP: want on or off, got %q", v))
	}
	for name, addr := range map[string]string{"HTTP_LISTEN": c.HTTPListen, "TLS_LISTEN": c.TLS.Listen} {
		if addr == "" {
			continue
		}
		if _, port, err := net.SplitHostPort(addr); err != nil || port == "" {
			errs = append(errs, fmt.Errorf("%s: want [host]:port, such as :8443, got %q", name, addr))
		}
	}
	if c.ReloadInterval, err = duration.Parse(get("CONFIG_RELOAD_INTERVAL", "1s")); err != nil {
		errs = append(errs, fmt.Errorf("CONFIG_RELOAD_INTERVAL: %w", err))
	} else if c.ReloadInterval < configwatch.MinInterval {
		errs = append(errs, fmt.Errorf("CONFIG_RELOAD_INTERVAL: %s is below the minimum of %s", c.ReloadInterval, configwatch.MinInterval))
	}
	if c.MaxQueueWait, err = duration.Parse(get("MAX_QUEUE_WAIT", "10s")); err != nil {
		errs = append(errs, fmt.Errorf("MAX_QUEUE_WAIT: %w", err))
	} else if c.MaxQueueWait <= 0 {
		errs = append(errs, fmt.Errorf("MAX_QUEUE_WAIT: must be positive, got %s", c.MaxQueueWait))
	}
	if c.AccountConcurrency, err = strconv.Atoi(get("ACCOUNT_CONCURRENCY", strconv.Itoa(lambdainvoke.DefaultAccountConcurrency))); err != nil || c.AccountConcurrency <= 0 {
		errs = append(errs, fmt.Errorf("ACCOUNT_CONCURRENCY: want a positive number, got %q", getenv("ACCOUNT_CONCURRENCY")))
	}
	perFunction, perNode := lambdainvoke.DefaultStartBounds(runtime.NumCPU())
	if c.StartsPerFunction, err = strconv.Atoi(get("CONTAINER_STARTS_PER_FUNCTION", strconv.Itoa(perFunction))); err != nil || c.StartsPerFunction <= 0 {
		errs = append(errs, fmt.Errorf("CONTAINER_STARTS_PER_FUNCTION: want a positive number, got %q", getenv("CONTAINER_STARTS_PER_FUNCTION")))
	}
	if c.StartsPerNode, err = strconv.Atoi(get("CONTAINER_STARTS_PER_NODE", strconv.Itoa(perNode))); err != nil || c.StartsPerNode <= 0 {
		errs = append(errs, fmt.Errorf("CONTAINER_STARTS_PER_NODE: want a positive number, got %q", getenv("CONTAINER_STARTS_PER_NODE")))
	} else if c.StartsPerFunction > c.StartsPerNode {
		errs = append(errs, fmt.Errorf("CONTAINER_STARTS_PER_FUNCTION: %d is above CONTAINER_STARTS_PER_NODE (%d)", c.StartsPerFunction, c.StartsPerNode))
	}
	if c.BodyReadTimeout, err = duration.Parse(get("BODY_READ_TIMEOUT", "30s")); err != nil {
		errs = append(errs, fmt.Errorf("BODY_READ_TIMEOUT: %w", err))
	} else if c.BodyReadTimeout <= 0 {
		errs = append(errs, fmt.Errorf("BODY_READ_TIMEOUT: must be positive, got %s", c.BodyReadTimeout))
	}
	if err := httpURL(c.AgentURL); err != nil {
		errs = append(errs, fmt.Errorf("AGENT_URL: %w", err))
	}
	if c.LogsURL != "" {
		if err := httpURL(c.LogsURL); err != nil {
			errs = append(errs, fmt.Errorf("LOGS_URL: %w", err))
		}
	}
	if c.EventsURL != "" {
		if err := httpURL(c.EventsURL); err != nil {
			errs = append(errs, fmt.Errorf("EVENTS_URL: %w", err))
		}
	}
	if c.AdminListen != "" {
		if _, port, err := net.SplitHostPort(c.AdminListen); err != nil || port == "" {
			errs = append(errs, fmt.Errorf("ADMIN_LISTEN: want [host]:port, such as :8082, got %q", c.AdminListen))
		}
	}
	if c.RuntimeAPIListen != "" {
		if _, port, err := net.SplitHostPort(c.RuntimeAPIListen); err != nil || port == "" {
			errs = append(errs, fmt.Errorf("RUNTIME_API_LISTEN: want [host]:port, such as :9001, got %q", c.RuntimeAPIListen))
		}
	}
	if c.RootKey.AccessKeyID == "" || c.RootKey.SecretAccessKey == "" {
		// Without them no signed call could be checked: the Invoke API
		// would refuse every caller.
		errs = append(errs, errors.New("AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY: the env's root key is required (it signs Invoke API calls)"))
	}
	if len(c.AccountID) != 12 || strings.Trim(c.AccountID, "0123456789") != "" {
		errs = append(errs, fmt.Errorf("ACCOUNT_ID: want 12 digits, got %q", c.AccountID))
	}
	return c, errors.Join(errs...)
}

func httpURL(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Errorf("parse %q: %w", s, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%q is not an http(s) URL", s)
	}
	return nil
}
