package main

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/esb-dev/esb/internal/awsid"
	"github.com/esb-dev/esb/internal/lambdaclient"
	"github.com/esb-dev/esb/internal/logquery"
	"github.com/esb-dev/esb/internal/platform"
	"github.com/esb-dev/esb/internal/tlsca"
)

// gatewayClient calls the env's Invoke API as the env was started: signed
// with its root key, over plain HTTP unless ESB_GATEWAY_HTTP=off turned
// that port off, else over HTTPS verified with the env CA (or with the
// system's roots when the operator gave the gateway a certificate).
func gatewayClient(c *cli, l platform.Layout) (*lambdaclient.Client, error) {
	get := func(key, def string) string {
		if v := strings.TrimSpace(c.getenv(key)); v != "" {
			return v
		}
		return def
	}
	client := &lambdaclient.Client{
		BaseURL: "http://" + l.DialAddr("PORT_GATEWAY"),
		HTTP:    &http.Client{},
		Region:  get(platform.RegionVar, awsid.DefaultRegion),
		Credentials: aws.Credentials{
			AccessKeyID:     get(platform.AccessKeyIDVar, platform.DefaultAccessKeyID),
			SecretAccessKey: get(platform.SecretAccessKeyVar, platform.DefaultSecretAccessKey),
		},
	}
	if !strings.EqualFold(get(platform.GatewayHTTPVar, "on"), "off") {
		return client, nil
	}
	client.BaseURL = "https://" + l.DialAddr("PORT_GATEWAY_TLS")
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if !l.OperatorCert {
		ca, err := tlsca.ReadCA(filepath.Dir(l.TLSCAFile()))
		if err != nil {
			return nil, fmt.Errorf("the gateway answers HTTPS only (%s=off): env CA: %w", platform.GatewayHTTPVar, err)
		}
		cfg.RootCAs = x509.NewCertPool()
		cfg.RootCAs.AddCert(ca)
	}
	client.HTTP = &http.Client{Transport: &http.Transport{TLSClientConfig: cfg, Proxy: http.ProxyFromEnvironment}}
	return client, nil
}

// logStore reads the env's log store on its host port.
func logStore(l platform.Layout) *logquery.Client {
	return &logquery.Client{BaseURL: "http://" + l.DialAddr("PORT_LOGS"), HTTP: &http.Client{}}
}
