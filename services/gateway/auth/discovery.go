package auth

import (
	"context"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Defaults of the issuer key discovery, when Options leave them zero.
const (
	DefaultDiscoveryTimeout  = 5 * time.Second  // one fetch: document and keys
	DefaultDiscoveryTTL      = 10 * time.Minute // how long fetched keys are used
	DefaultDiscoveryInterval = 15 * time.Second // least time between fetches of one issuer
	maxDiscoveryBody         = 1 << 20
)

// discovery fetches the keys a JWT issuer publishes:
// <issuer>/.well-known/openid-configuration names its jwks_uri. The issuer
// is always the one the authorizer is configured with, never a token's
// iss: a caller must not make the gateway fetch an address of its choice.
// Each issuer is fetched by one request at a time, at most once per
// interval, so a flood of tokens with unknown key ids costs the issuer one
// fetch per interval; a request that waits for a fetch waits at most the
// fetch's timeout, and requests of other routes never wait.
type discovery struct {
	client   *http.Client
	now      func() time.Time
	log      *slog.Logger
	timeout  time.Duration
	ttl      time.Duration
	interval time.Duration

	mu      sync.Mutex
	issuers map[string]*issuerKeys
}

// issuerKeys is what one issuer published, guarded by discovery.mu.
type issuerKeys struct {
	keys      keySet
	fetchedAt time.Time     // of the last successful fetch; zero: none
	triedAt   time.Time     // of the last attempt
	inflight  chan struct{} // closed when the running fetch ends; nil: none runs
	failing   bool          // the last attempt failed and was logged
}

func newDiscovery(opts Options) *discovery {
	d := &discovery{
		client: opts.HTTPClient, now: opts.Now, log: opts.Logger,
		timeout: opts.DiscoveryTimeout, ttl: opts.DiscoveryTTL, interval: opts.DiscoveryInterval,
		issuers: map[string]*issuerKeys{},
	}
	if d.client == nil {
		d.client = &http.Client{}
	}
	if d.timeout <= 0 {
		d.timeout = DefaultDiscoveryTimeout
	}
	if d.ttl <= 0 {
		d.ttl = DefaultDiscoveryTTL
	}
	if d.interval <= 0 {
		d.interval = DefaultDiscoveryInterval
	}
	return d
}

// key returns the issuer's key kid, fetching the issuer's keys when none
// are cached, they are older than the TTL, or kid is not among them (the
// issuer may have rotated), within the rate bound. nil: the issuer does
// not publish it, or cannot be reached (logged once until it can again).
func (d *discovery) key(ctx context.Context, issuer, kid string) *rsa.PublicKey {
	if issuer == "" {
		return nil
	}
	for {
		d.mu.Lock()
		ik := d.issuers[issuer]
		if ik == nil {
			ik = &issuerKeys{}
			d.issuers[issuer] = ik
		}
		now := d.now()
		fresh := !ik.fetchedAt.IsZero() && now.Sub(ik.fetchedAt) < d.ttl
		k := ik.keys.lookup(kid)
		if k != nil && fresh {
			d.mu.Unlock()
			return k
		}
		if wait := ik.inflight; wait != nil {
			d.mu.Unlock()
			select {
			case <-wait:
				continue // look again at what it fetched
			case <-ctx.Done():
				return nil
			}
		}
		if !ik.triedAt.IsZero() && now.Sub(ik.triedAt) < d.interval {
			// Fetched a moment ago: answer from what it gave, however
			// old, rather than ask the issuer again.
			d.mu.Unlock()
			return k
		}
		done := make(chan struct{})
		ik.inflight, ik.triedAt = done, now
		d.mu.Unlock()

		// The fetch is shared: one caller giving up must not spoil it
		// for the others waiting.
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), d.timeout)
		ks, err := d.fetch(fctx, issuer)
		cancel()

		d.mu.Lock()
		ik.inflight = nil
		if err != nil {
			if !ik.failing {
				ik.failing = true
				d.log.Warn("JWT issuer's keys unreachable; tokens are checked against jwks.json alone until it answers",
					"issuer", issuer, "error", err.Error())
			}
		} else {
			if ik.failing {
				d.log.Info("JWT issuer's keys reachable again", "issuer", issuer)
			}
			ik.failing = false
			ik.keys, ik.fetchedAt = ks, d.now()
		}
		close(done)
		k = ik.keys.lookup(kid)
		d.mu.Unlock()
		return k
	}
}

// fetch reads the issuer's discovery document, then its JWKS.
func (d *discovery) fetch(ctx context.Context, issuer string) (keySet, error) {
	var doc struct {
		JWKSURI string `json:"jwks_uri"`
	}
	if err := d.getJSON(ctx, strings.TrimSuffix(issuer, "/")+"/.well-known/openid-configuration", &doc); err != nil {
		return keySet{}, fmt.Errorf("discovery document: %w", err)
	}
	if doc.JWKSURI == "" {
		return keySet{}, errors.New("discovery document: no jwks_uri")
	}
	var raw json.RawMessage
	if err := d.getJSON(ctx, doc.JWKSURI, &raw); err != nil {
		return keySet{}, fmt.Errorf("jwks_uri %s: %w", doc.JWKSURI, err)
	}
	ks, err := parseJWKS(raw)
	if err != nil {
		return keySet{}, fmt.Errorf("jwks_uri %s: %w", doc.JWKSURI, err)
	}
	return ks, nil
}

func (d *discovery) getJSON(ctx context.Context, url string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := d.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxDiscoveryBody+1))
	if err != nil {
		return fmt.Errorf("GET %s: %w", url, err)
	}
	if len(body) > maxDiscoveryBody {
		return fmt.Errorf("GET %s: more than %d bytes", url, maxDiscoveryBody)
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("GET %s: decode: %w", url, err)
	}
	return nil
}
