package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/docker/docker/client"

	"github.com/esb-dev/esb/internal/compose"
	"github.com/esb-dev/esb/internal/platform"
	"github.com/esb-dev/esb/internal/tlsca"
)

func statusCommand() command {
	const summary = "Show which platform services of an env run and are healthy"
	return command{
		name:    "status",
		summary: summary,
		run: func(ctx context.Context, c *cli, args []string) error {
			var opts envOptions
			fs := newFlagSet(c, "status", "[-e ENV]", summary+".\nExits 1 unless every service runs and passes its healthcheck.")
			opts.bind(fs, c)
			if err := parseFlags(fs, args); err != nil {
				return err
			}
			l, err := opts.layout(c)
			if err != nil {
				return err
			}
			docker, err := newDockerClient()
			if err != nil {
				return err
			}
			defer docker.Close()
			return runStatus(ctx, c, l, dockerContainers{docker}, tlsProbe{})
		},
	}
}

// containerLister reports the containers of a compose project.
type containerLister interface {
	ProjectContainers(ctx context.Context, project string) ([]platform.ContainerState, error)
}

// certProbe fetches the certificate chain a TLS server presents.
type certProbe interface {
	ServedChain(ctx context.Context, addr string) ([]*x509.Certificate, error)
}

func runStatus(ctx context.Context, c *cli, l platform.Layout, lister containerLister, probe certProbe) error {
	observed, err := lister.ProjectContainers(ctx, l.Env.Project())
	if err != nil {
		return err
	}
	rows := platform.Status(platform.Expected(observed), observed)
	fmt.Fprintf(c.stdout, "env %s (project %s, CONFIG_DIR %s)\n", l.Env.Key(), l.Env.Project(), l.ConfigDir)
	tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SERVICE\tSTATE\tHEALTH\tROLE")
	var bad []string
	for _, r := range rows {
		health := r.Health
		if health == "" {
			health = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", r.Name, r.State, health, r.Role)
		if r.Role != "" && !r.OK() {
			bad = append(bad, r.Name)
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, r := range rows {
		if r.Name == "gateway" && r.State == "running" {
			line, ok := httpsStatus(ctx, l, probe, time.Now())
			fmt.Fprintln(c.stdout, line)
			if !ok {
				bad = append(bad, "gateway HTTPS")
			}
		}
	}
	if len(bad) > 0 {
		return errors.New("not running or not healthy: " + strings.Join(bad, ", "))
	}
	return nil
}

// httpsStatus describes the certificate the gateway's HTTPS port serves:
// when it ends, and who vouches for it (the env CA, the system's roots, or
// nobody). ok is false when the port does not answer or the certificate
// has ended.
func httpsStatus(ctx context.Context, l platform.Layout, probe certProbe, now time.Time) (string, bool) {
	addr := l.DialAddr("PORT_GATEWAY_TLS")
	head := "gateway HTTPS https://" + addr + ": "
	chain, err := probe.ServedChain(ctx, addr)
	if err != nil {
		return head + "not answering: " + err.Error(), false
	}
	leaf := chain[0]
	left := leaf.NotAfter.Sub(now)
	line := fmt.Sprintf("%scertificate %q expires %s (in %d days)", head, leaf.Subject.CommonName, leaf.NotAfter.UTC().Format(time.RFC3339), int(left.Hours()/24))
	if left <= 0 {
		line = fmt.Sprintf("%scertificate %q EXPIRED %s", head, leaf.Subject.CommonName, leaf.NotAfter.UTC().Format(time.RFC3339))
	}
	inter := x509.NewCertPool()
	for _, c := range chain[1:] {
		inter.AddCert(c)
	}
	opts := x509.VerifyOptions{Intermediates: inter, CurrentTime: now}
	if ca, err := tlsca.ReadCA(filepath.Dir(l.TLSCAFile())); err == nil && !l.OperatorCert {
		opts.Roots = x509.NewCertPool()
		opts.Roots.AddCert(ca)
		if _, err := leaf.Verify(opts); err == nil {
			return line + ", issued by the env CA " + l.TLSCAFile(), left > 0
		}
		opts.Roots = nil
	}
	if _, err := leaf.Verify(opts); err != nil {
		return line + ", not verified: " + err.Error(), left > 0
	}
	return line + ", verified by the system's roots", left > 0
}

// tlsProbe reads the certificate chain over a TLS handshake.
type tlsProbe struct{}

func (tlsProbe) ServedChain(ctx context.Context, addr string) ([]*x509.Certificate, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	// Verification is skipped here on purpose: the probe sends nothing,
	// it only reads the chain, which httpsStatus then verifies itself to
	// say who vouches for it (or why nobody does).
	d := tls.Dialer{Config: &tls.Config{InsecureSkipVerify: true, ServerName: "localhost"}} //nolint:gosec // read-only probe, verified after
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	chain := conn.(*tls.Conn).ConnectionState().PeerCertificates
	if len(chain) == 0 {
		return nil, errors.New("no certificate presented")
	}
	return chain, nil
}

// dockerContainers lists a project's containers through the Docker API.
type dockerContainers struct{ api client.APIClient }

func (d dockerContainers) ProjectContainers(ctx context.Context, project string) ([]platform.ContainerState, error) {
	return compose.Containers(ctx, d.api, project)
}
