// Package tlsconfig gives the gateway's HTTPS listener its certificate:
// the operator's (a certificate and key file), or else one issued by the
// env's own CA (internal/tlsca), created on first start and issued again
// before it expires. The listener asks for the certificate on every
// handshake, so a renewal needs no restart.
package tlsconfig

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/esb-dev/esb/internal/tlsca"
)

// Options say where the certificate comes from. Zero values are safe.
type Options struct {
	// CertFile and KeyFile are the operator's certificate (chain) and key,
	// PEM; both or neither. Without them the env CA issues one.
	CertFile, KeyFile string
	// Dir holds the env CA and the certificate it issued (CONFIG_DIR/tls).
	Dir string
	// Hostnames are the operator's own names for the gateway, added to
	// tlsca.Hostnames in an issued certificate.
	Hostnames []string
	// Subject names the env in the issued certificates.
	Subject string
	// CheckEvery is how often Run looks at the certificate again (1 h).
	CheckEvery time.Duration
	// WarnBefore is how long before the operator's certificate ends the
	// log starts warning (30 days); ESB cannot renew it.
	WarnBefore time.Duration
	Logger     *slog.Logger
	Now        func() time.Time
}

// Source holds the certificate the HTTPS listener serves.
type Source struct {
	opts Options
	cert atomic.Pointer[tls.Certificate]
}

// New loads or issues the certificate; a gateway that cannot serve HTTPS
// does not start.
func New(opts Options) (*Source, error) {
	if (opts.CertFile == "") != (opts.KeyFile == "") {
		return nil, errors.New("TLS_CERT_FILE and TLS_KEY_FILE go together: give both or neither")
	}
	if opts.CertFile == "" && opts.Dir == "" {
		return nil, errors.New("no certificate: give TLS_CERT_FILE and TLS_KEY_FILE, or a TLS_DIR for the env CA")
	}
	if opts.CheckEvery <= 0 {
		opts.CheckEvery = time.Hour
	}
	if opts.WarnBefore <= 0 {
		opts.WarnBefore = tlsca.DefaultRenewBefore
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	s := &Source{opts: opts}
	if err := s.refresh(); err != nil {
		return nil, err
	}
	return s, nil
}

// Config is the HTTPS listener's TLS configuration: TLS 1.2 and newer,
// HTTP/1.1 (the requests then meet the same limits as on plain HTTP), the
// current certificate at each handshake.
func (s *Source) Config() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		NextProtos: []string{"http/1.1"},
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			return s.cert.Load(), nil
		},
	}
}

// NotAfter is when the served certificate ends.
func (s *Source) NotAfter() time.Time { return s.cert.Load().Leaf.NotAfter }

// Run looks at the certificate every CheckEvery until ctx ends: the env
// CA's is issued again inside its renewal window, the operator's files
// are read again (a replaced certificate is served from then on). A
// failure keeps the current certificate and is logged.
func (s *Source) Run(ctx context.Context) error {
	t := time.NewTicker(s.opts.CheckEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			if err := s.refresh(); err != nil {
				s.opts.Logger.Error("TLS certificate not refreshed; serving the current one", "error", err.Error(), "not_after", s.NotAfter())
			}
		}
	}
}

func (s *Source) refresh() error {
	log := s.opts.Logger
	if s.opts.CertFile != "" {
		pair, err := tls.LoadX509KeyPair(s.opts.CertFile, s.opts.KeyFile)
		if err != nil {
			return fmt.Errorf("operator TLS certificate: %w", err)
		}
		prev := s.cert.Load()
		s.cert.Store(&pair)
		if prev == nil || !prev.Leaf.Equal(pair.Leaf) {
			log.Info("TLS certificate loaded", "source", s.opts.CertFile, "subject", pair.Leaf.Subject.String(), "not_after", pair.Leaf.NotAfter)
		}
		if left := pair.Leaf.NotAfter.Sub(s.opts.Now()); left < s.opts.WarnBefore {
			log.Warn("the operator's TLS certificate ends soon or has ended: replace it (ESB does not renew it)",
				"source", s.opts.CertFile, "not_after", pair.Leaf.NotAfter)
		}
		return nil
	}
	res, err := tlsca.Ensure(s.opts.Dir, tlsca.Hostnames(s.opts.Hostnames), tlsca.Options{Subject: s.opts.Subject, Now: s.opts.Now})
	if err != nil {
		return fmt.Errorf("env CA in %s: %w", s.opts.Dir, err)
	}
	s.cert.Store(&res.Cert)
	switch {
	case res.IssuedCA:
		log.Warn("new env CA: clients must trust its certificate again", "ca", s.opts.Dir+"/"+tlsca.CAFile, "why", res.Why, "not_after", res.NotAfter)
	case res.IssuedCert:
		log.Info("TLS certificate issued by the env CA", "why", res.Why, "not_after", res.NotAfter)
	}
	return nil
}
