package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/esb-dev/esb/internal/platform"
	"github.com/esb-dev/esb/internal/tlsca"
)

type fakeLister struct {
	containers []platform.ContainerState
	err        error
	project    string
}

func (f *fakeLister) ProjectContainers(_ context.Context, project string) ([]platform.ContainerState, error) {
	f.project = project
	return f.containers, f.err
}

// noHTTPS is a gateway whose HTTPS port does not answer.
type noHTTPS struct{}

func (noHTTPS) ServedChain(context.Context, string) ([]*x509.Certificate, error) {
	return nil, errors.New("connection refused")
}

// servedChain is a gateway serving chain on its HTTPS port.
type servedChain []*x509.Certificate

func (c servedChain) ServedChain(context.Context, string) ([]*x509.Certificate, error) { return c, nil }

// healthyHTTPS serves a certificate from a throwaway env CA.
func healthyHTTPS(t *testing.T) servedChain {
	t.Helper()
	res, err := tlsca.Ensure(t.TempDir(), tlsca.Hostnames(nil), tlsca.Options{})
	require.NoError(t, err)
	return servedChain{res.Cert.Leaf}
}

func statusLayout(t *testing.T) platform.Layout {
	t.Helper()
	e, err := platform.New("", "dev")
	require.NoError(t, err)
	l, err := platform.Resolve(e, platform.LayoutOptions{Dirs: platform.Dirs{Home: "/h"}})
	require.NoError(t, err)
	return l
}

func TestStatusAllHealthy(t *testing.T) {
	var observed []platform.ContainerState
	for _, s := range platform.Services() {
		observed = append(observed, platform.ContainerState{Service: s.Name, State: "running", Health: "healthy"})
	}
	var out bytes.Buffer
	lister := &fakeLister{containers: observed}
	err := runStatus(t.Context(), &cli{stdout: &out}, statusLayout(t), lister, healthyHTTPS(t))
	require.NoError(t, err)
	assert.Equal(t, "esb-dev", lister.project)
	assert.Contains(t, out.String(), "registry")
	assert.Regexp(t, `dagger-engine\s+running\s+healthy`, out.String())
}

func TestStatusReportsMissingAndUnhealthy(t *testing.T) {
	lister := &fakeLister{containers: []platform.ContainerState{
		{Service: "registry", State: "running", Health: "healthy"},
		{Service: "database", State: "running", Health: "unhealthy"},
		{Service: "logs", State: "exited"},
		{Service: "provisioner", State: "exited"},
	}}
	var out bytes.Buffer
	err := runStatus(t.Context(), &cli{stdout: &out}, statusLayout(t), lister, noHTTPS{})
	require.Error(t, err)
	assert.Equal(t, "not running or not healthy: s3-storage, database, logs, messaging, dagger-engine, agent, gateway, events", err.Error())
	assert.Regexp(t, `s3-storage\s+missing`, out.String())
	// A one-shot service that exited is shown but is not a failure.
	assert.Regexp(t, `provisioner\s+exited`, out.String())
}

func TestStatusListError(t *testing.T) {
	err := runStatus(t.Context(), &cli{stdout: &bytes.Buffer{}}, statusLayout(t), &fakeLister{err: errors.New("no socket")}, noHTTPS{})
	assert.EqualError(t, err, "no socket")
}

func TestStatusContainerdModeExpectsTheRuntimeNode(t *testing.T) {
	var observed []platform.ContainerState
	for _, s := range platform.Services() {
		observed = append(observed, platform.ContainerState{Service: s.Name, State: "running", Health: "healthy"})
	}
	observed = append(observed, platform.ContainerState{Service: "runtime-node", State: "running", Health: "unhealthy"},
		platform.ContainerState{Service: "nodekeeper", State: "running"})
	var out bytes.Buffer
	err := runStatus(t.Context(), &cli{stdout: &out}, statusLayout(t), &fakeLister{containers: observed}, healthyHTTPS(t))
	require.EqualError(t, err, "not running or not healthy: runtime-node")
	assert.Regexp(t, `runtime-node\s+running\s+unhealthy\s+containerd node`, out.String())
}

// TestStatusShowsHTTPSExpiry serves a certificate of an env CA the way
// the gateway does and checks `esb status` reads it over the wire: its
// expiry, and that the env CA vouches for it.
func TestStatusShowsHTTPSExpiry(t *testing.T) {
	e, err := platform.New("", "dev")
	require.NoError(t, err)
	l, err := platform.Resolve(e, platform.LayoutOptions{Dirs: platform.Dirs{XDGCacheHome: t.TempDir()}})
	require.NoError(t, err)
	issued, err := tlsca.Ensure(filepath.Dir(l.TLSCAFile()), tlsca.Hostnames(nil), tlsca.Options{Subject: "dev"})
	require.NoError(t, err)
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{issued.Cert}})
	require.NoError(t, err)
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_ = c.(*tls.Conn).Handshake()
			c.Close()
		}
	}()
	_, port, err := net.SplitHostPort(ln.Addr().String())
	require.NoError(t, err)
	l.Ports["PORT_GATEWAY_TLS"], err = strconv.Atoi(port)
	require.NoError(t, err)

	var observed []platform.ContainerState
	for _, s := range platform.Services() {
		observed = append(observed, platform.ContainerState{Service: s.Name, State: "running", Health: "healthy"})
	}
	var out bytes.Buffer
	require.NoError(t, runStatus(t.Context(), &cli{stdout: &out}, l, &fakeLister{containers: observed}, tlsProbe{}))
	assert.Contains(t, out.String(), "gateway HTTPS https://127.0.0.1:"+port+`: certificate "ESB gateway dev" expires `+issued.NotAfter.UTC().Format("2006-01-02T15:04:05Z"))
	assert.Contains(t, out.String(), "issued by the env CA "+l.TLSCAFile())

	// The port not answering fails the status.
	out.Reset()
	err = runStatus(t.Context(), &cli{stdout: &out}, l, &fakeLister{containers: observed}, noHTTPS{})
	assert.ErrorContains(t, err, "gateway HTTPS")
	assert.Contains(t, out.String(), "not answering: connection refused")
}
