package main

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"slices"

	"github.com/esb-dev/esb/services/gateway/tlsconfig"
)

// listen opens the listeners of the one HTTP server: LISTEN, HTTP_LISTEN
// and TLS_LISTEN (wrapped in TLS with the certificate of certs).
func listen(cfg config, log *slog.Logger) ([]net.Listener, *tlsconfig.Source, error) {
	var out []net.Listener
	for _, addr := range []string{cfg.Listen, cfg.HTTPListen} {
		if addr == "" {
			continue
		}
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			closeAll(out)
			return nil, nil, fmt.Errorf("listen on %s: %w", addr, err)
		}
		out = append(out, ln)
	}
	if cfg.TLS.Listen == "" {
		return out, nil, nil
	}
	certs, err := tlsconfig.New(tlsconfig.Options{
		CertFile: cfg.TLS.CertFile, KeyFile: cfg.TLS.KeyFile, Dir: cfg.TLS.Dir,
		// Function URLs are <url-id>.lambda-url.<region>.localhost: a
		// wildcard covers one label only, so the region's needs its own.
		Hostnames: append(slices.Clone(cfg.TLS.Hostnames), "*.lambda-url."+cfg.Region+".localhost"),
		Subject:   cfg.Env, Logger: log,
	})
	if err == nil {
		var ln net.Listener
		if ln, err = net.Listen("tcp", cfg.TLS.Listen); err == nil {
			log.Info("HTTPS certificate", "not_after", certs.NotAfter(), "operator", cfg.TLS.CertFile != "")
			return append(out, tls.NewListener(ln, certs.Config())), certs, nil
		}
	}
	closeAll(out)
	return nil, nil, fmt.Errorf("https on %s: %w", cfg.TLS.Listen, err)
}

func closeAll(lns []net.Listener) {
	for _, ln := range lns {
		ln.Close()
	}
}

func listenerAddrs(lns []net.Listener) []string {
	out := []string{}
	for _, ln := range lns {
		out = append(out, ln.Addr().String())
	}
	return out
}
