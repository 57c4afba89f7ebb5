// Command provisioner creates the DynamoDB tables, S3 buckets, SQS queues,
// SNS topics and subscriptions that an env's resources.yml declares. `esb deploy` runs it after every deploy
// with `docker compose run --rm provisioner`; it only ever creates, so
// running it again is harmless.
//
// Environment:
//
//	CONFIG_DIR             directory holding resources.yml (default /app/runtime-config)
//	RESOURCES_YML          manifest to use when CONFIG_DIR has none
//	DYNAMODB_ENDPOINT      default http://database:8000
//	S3_ENDPOINT            default http://s3-storage:7070
//	SQS_ENDPOINT           default http://messaging:4566
//	SNS_ENDPOINT           default http://messaging:4566
//	AWS_REGION             default us-east-1
//	AWS_ACCESS_KEY_ID      default esb (the env's root key)
//	AWS_SECRET_ACCESS_KEY  default esb-local-secret (the env's root secret)
//
// Then it gives each function of functions.yml (in CONFIG_DIR) its own
// account on the S3 service, under the key pair the agent hands it
// (derived from the root secret), and lets every function use every bucket
// of resources.yml (package functionaccess).
//
// Exit status: 0 when every resource exists afterwards (or there is nothing
// to do), 1 when the manifest is malformed or any resource failed.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"

	"github.com/esb-dev/esb/internal/awsid"
	"github.com/esb-dev/esb/internal/runtimeconfig"
	"github.com/esb-dev/esb/services/provisioner/functionaccess"
	"github.com/esb-dev/esb/services/provisioner/provision"
)

// config is everything the provisioner takes from its environment.
type config struct {
	manifestPaths []string // tried in order
	functionsPath string   // functions.yml; missing: no function accounts
	endpoints     provision.Endpoints
}

func configFromEnv(getenv func(string) string) config {
	or := func(name, def string) string {
		if v := getenv(name); v != "" {
			return v
		}
		return def
	}
	dir := or("CONFIG_DIR", "/app/runtime-config")
	return config{
		manifestPaths: []string{
			filepath.Join(dir, runtimeconfig.ResourcesFileName),
			getenv("RESOURCES_YML"),
		},
		functionsPath: filepath.Join(dir, runtimeconfig.FunctionsFileName),
		endpoints: provision.Endpoints{
			DynamoDB:        or("DYNAMODB_ENDPOINT", "http://database:8000"),
			S3:              or("S3_ENDPOINT", "http://s3-storage:7070"),
			SQS:             or("SQS_ENDPOINT", "http://messaging:4566"),
			SNS:             or("SNS_ENDPOINT", "http://messaging:4566"),
			Region:          or("AWS_REGION", awsid.DefaultRegion),
			AccessKeyID:     or("AWS_ACCESS_KEY_ID", "esb"),
			SecretAccessKey: or("AWS_SECRET_ACCESS_KEY", "esb-local-secret"),
		},
	}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, configFromEnv(os.Getenv), os.Stdout)
	stop()
	os.Exit(code)
}

// run provisions, writing its report to out, and returns the exit status.
// Everything goes to one stream on purpose: `docker compose run` relays
// stdout and stderr separately, so a warning written to stderr could show
// up before the line of the resource it belongs to.
func run(ctx context.Context, cfg config, out io.Writer) int {
	fail := func(err error) int {
		for line := range strings.Lines(err.Error()) {
			fmt.Fprintf(out, "ERROR: %s", line)
			if !strings.HasSuffix(line, "\n") {
				fmt.Fprintln(out)
			}
		}
		return 1
	}
	buckets, code := provisionResources(ctx, cfg, out, fail)
	if code != 0 {
		return code
	}
	if err := grantFunctions(ctx, cfg, buckets, out); err != nil {
		return fail(err)
	}
	return 0
}

// provisionResources creates what resources.yml declares and returns the
// names of its buckets.
func provisionResources(ctx context.Context, cfg config, out io.Writer, fail func(error) int) ([]string, int) {
	m, found, err := provision.ReadManifest(cfg.manifestPaths...)
	if err != nil {
		return nil, fail(err)
	}
	if !found {
		fmt.Fprintf(out, "WARNING: no resources manifest (looked for %s); nothing to provision\n",
			strings.Join(nonEmpty(cfg.manifestPaths), ", "))
		return nil, 0
	}
	if provision.IsEmpty(m.File.Resources) {
		fmt.Fprintf(out, "WARNING: %s declares no tables, buckets, queues or topics; nothing to provision\n", m.Path)
		return nil, 0
	}
	if err := checkEndpoints(cfg.endpoints); err != nil {
		return nil, fail(err)
	}

	db, s3c := provision.NewClients(cfg.endpoints)
	sqsc, snsc := provision.NewMessagingClients(cfg.endpoints)
	p := provision.New(db, s3c, provision.Options{
		Events: printer(out),
		Region: cfg.endpoints.Region,
		SQS:    sqsc,
		SNS:    snsc,
	})
	fmt.Fprintf(out, "provisioning from %s\n", m.Path)
	sum, err := p.Run(ctx, m.File.Resources)
	fmt.Fprintf(out, "summary: %s\n", sum)
	if err != nil {
		return nil, fail(err)
	}
	var buckets []string
	for _, b := range m.File.Resources.S3 {
		buckets = append(buckets, b.BucketName)
	}
	return buckets, 0
}

// grantFunctions gives each function of functions.yml its own S3 account
// and every bucket of the env. No functions.yml, or none in it: nothing.
func grantFunctions(ctx context.Context, cfg config, buckets []string, out io.Writer) error {
	data, err := os.ReadFile(cfg.functionsPath)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read functions: %w", err)
	}
	f, err := runtimeconfig.DecodeFunctions(data)
	if err != nil {
		return fmt.Errorf("%s: %w", cfg.functionsPath, err)
	}
	if len(f.Functions) == 0 {
		return nil
	}
	if err := checkEndpoints(cfg.endpoints); err != nil {
		return err
	}
	_, s3c := provision.NewClients(cfg.endpoints)
	e := cfg.endpoints
	admin := &functionaccess.Admin{Endpoint: e.S3, Region: e.Region, Root: awsid.Key{AccessKeyID: e.AccessKeyID, SecretAccessKey: e.SecretAccessKey}}
	res, err := functionaccess.Run(ctx, admin, s3c, e.SecretAccessKey, slices.Collect(maps.Keys(f.Functions)), buckets)
	fmt.Fprintf(out, "function S3 accounts: %d created, %d updated; buckets every function may use: %d\n", res.Created, res.Updated, len(res.Buckets))
	return err
}

// printer renders events one line each, in the order they happen.
func printer(w io.Writer) func(provision.Event) {
	return func(e provision.Event) {
		switch e.Status {
		case provision.StatusWarning:
			fmt.Fprintf(w, "WARNING: %s: %s\n", e.Resource, e.Detail)
		case provision.StatusFailed:
			fmt.Fprintf(w, "%s: failed (error below)\n", e.Resource)
		default:
			line := fmt.Sprintf("%s: %s", e.Resource, e.Status)
			if e.Detail != "" {
				line += ", " + e.Detail
			}
			fmt.Fprintln(w, line)
		}
	}
}

// checkEndpoints rejects an endpoint the SDK would misread: without a
// scheme, "database:8000" parses as scheme "database".
func checkEndpoints(e provision.Endpoints) error {
	var errs []error
	for _, ep := range []struct{ name, value string }{
		{"DYNAMODB_ENDPOINT", e.DynamoDB},
		{"S3_ENDPOINT", e.S3},
		{"SQS_ENDPOINT", e.SQS},
		{"SNS_ENDPOINT", e.SNS},
	} {
		u, err := url.Parse(ep.value)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", ep.name, err))
			continue
		}
		if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, fmt.Errorf("%s: %q is not an http(s) URL such as http://database:8000", ep.name, ep.value))
		}
	}
	return errors.Join(errs...)
}

func nonEmpty(ss []string) []string {
	var out []string
	for _, s := range ss {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}
