package main

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/esb-dev/esb/internal/backup"
	"github.com/esb-dev/esb/internal/compose"
	"github.com/esb-dev/esb/internal/platform"
)

type backupOptions struct {
	envOptions
	output string
	mode   string
}

func backupCommand() command {
	const summary = "Write an env's config, history, images, table items and objects into one file"
	return command{
		name:    "backup",
		summary: summary,
		run: func(ctx context.Context, c *cli, args []string) error {
			var opts backupOptions
			fs := newFlagSet(c, "backup", "-o FILE [-e ENV]", summary+`.
Taken while the env serves: the config and history are read together under
the deploy lock (for milliseconds), then every image they name is copied
from the env's registry by digest, and every item of resources.yml's tables
and every object of its buckets is read (an item or object written during
the backup may or may not be in it). The file ends with a manifest of
sha256 checksums; esb restore refuses a file that does not match it.`)
			opts.bind(fs, c)
			fs.StringVarP(&opts.output, "output", "o", "", "the backup file to write")
			fs.StringVarP(&opts.mode, "mode", "m", compose.ModeDocker, "function runtime of the env: docker, containerd or kubernetes (recorded in the backup)")
			if err := parseFlags(fs, args); err != nil {
				return err
			}
			if opts.output == "" {
				return usageError{fmt.Errorf("-o FILE is required")}
			}
			return runBackup(ctx, c, opts)
		},
	}
}

func runBackup(ctx context.Context, c *cli, opts backupOptions) error {
	if err := compose.CheckMode(opts.mode); err != nil {
		return usageError{err}
	}
	l, err := opts.layout(c)
	if err != nil {
		return err
	}
	reg, err := envRegistry(c, l)
	if err != nil {
		return err
	}
	out, err := filepath.Abs(opts.output)
	if err != nil {
		return err
	}
	began := time.Now()
	fmt.Fprintf(c.stderr, "backing up env %s into %s\n", l.Env.Name, out)
	sum, err := backup.Take(ctx, backup.TakeOptions{ConfigDir: l.ConfigDir, Env: l.Env.Name, Mode: opts.mode, Output: out},
		backup.Sources{Registry: reg, Tables: envTables(c, l), Objects: envObjects(c, l)})
	if err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "backed up %d functions, %d generations, %d images, %d items, %d objects: %s (%.1f MB) in %.1fs\n",
		sum.Functions, sum.Generations, sum.Images, sum.Items, sum.Objects, out, float64(sum.Bytes)/(1<<20), time.Since(began).Seconds())
	return nil
}

// envCredentials is the env's root key, as compose gives it to the data
// services ($ESB_ACCESS_KEY_ID, $ESB_SECRET_ACCESS_KEY, the compose
// defaults otherwise).
func envCredentials(c *cli) aws.CredentialsProvider {
	return credentials.NewStaticCredentialsProvider(envOr(c, "ESB_ACCESS_KEY_ID", "esb"), envOr(c, "ESB_SECRET_ACCESS_KEY", "esb-local-secret"), "")
}

// envTables is the env's DynamoDB API as the host reaches it.
func envTables(c *cli, l platform.Layout) *dynamodb.Client {
	return dynamodb.New(dynamodb.Options{Region: envOr(c, "ESB_AWS_REGION", "us-east-1"), BaseEndpoint: aws.String("http://" + l.DialAddr("PORT_DATABASE")), Credentials: envCredentials(c)})
}

// envObjects is the env's S3 API as the host reaches it.
func envObjects(c *cli, l platform.Layout) *s3.Client {
	return s3.New(s3.Options{Region: envOr(c, "ESB_AWS_REGION", "us-east-1"), BaseEndpoint: aws.String("http://" + l.DialAddr("PORT_S3")), UsePathStyle: true, Credentials: envCredentials(c)})
}
