// Command events is ESB's background-work service: it fires the
// functions' schedules, and holds every asynchronous invocation (Event
// invokes, schedule fires, destination records) in a durable queue, running
// each through the gateway's Invoke API with Lambda's retries, event age,
// destinations and dead-letter queues. Its queue is on the events-data
// volume and survives restarts of the gateway, of itself and of the host.
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"golang.org/x/sync/errgroup"

	"github.com/esb-dev/esb/internal/eventsapi"
	"github.com/esb-dev/esb/internal/lambdaclient"
	"github.com/esb-dev/esb/internal/logship"

	"github.com/esb-dev/esb/services/events/configsource"
	"github.com/esb-dev/esb/services/events/delivery"
	"github.com/esb-dev/esb/services/events/dispatch"
	"github.com/esb-dev/esb/services/events/queue"
	"github.com/esb-dev/esb/services/events/s3notify"
	"github.com/esb-dev/esb/services/events/schedule"
	"github.com/esb-dev/esb/services/events/server"
	"github.com/esb-dev/esb/services/events/sqssource"
)

// shutdownTimeout stays under Docker's stop grace.
const shutdownTimeout = 8 * time.Second

func main() {
	log := slog.New(slog.NewJSONHandler(os.Stdout, nil)).With("service", "events")
	cfg, err := configFromEnv(os.Getenv)
	if err != nil {
		log.Error("events: invalid environment", "error", err.Error())
		os.Exit(2)
	}
	log = log.With("env", cfg.Env)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	if err := run(ctx, cfg, log); err != nil {
		log.Error("events stopped", "error", err.Error())
		os.Exit(1)
	}
}

// run wires the service together and serves until ctx ends.
func run(ctx context.Context, cfg config, log *slog.Logger) error {
	// The service's own lines also go to the log store; the shipper runs
	// longest, so the last lines of a shutdown still get there.
	if cfg.LogsURL != "" {
		shipper := logship.New(cfg.LogsURL, logship.Options{Logger: log})
		shipCtx, endShipping := context.WithCancel(context.WithoutCancel(ctx))
		var shipping sync.WaitGroup
		shipping.Go(func() { _ = shipper.Run(shipCtx) }) // Run returns nil by contract
		defer func() {
			endShipping()
			shipping.Wait()
		}()
		log = slog.New(logship.NewHandler(log.Handler(), shipper.Send, "events", strings.ToLower(cfg.Env)))
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("data dir: %w", err)
	}
	store, err := queue.Open(filepath.Join(cfg.DataDir, "queue.db"))
	if err != nil {
		return err
	}
	defer store.Close()

	functions := configsource.New(cfg.ConfigDir, cfg.ReloadInterval, log)
	gateway := &lambdaclient.Client{BaseURL: cfg.GatewayURL, HTTP: &http.Client{}, Region: cfg.Region,
		Credentials: aws.Credentials{AccessKeyID: cfg.AccessKeyID, SecretAccessKey: cfg.SecretAccessKey}}
	senders := map[string]dispatch.Sender{}
	sqsSender, snsSender := delivery.New(delivery.Endpoints{
		SQS: cfg.SQSEndpoint, SNS: cfg.SNSEndpoint, Region: cfg.Region,
		AccessKeyID: cfg.AccessKeyID, SecretAccessKey: cfg.SecretAccessKey,
	})
	if cfg.SQSEndpoint != "" {
		senders["sqs"] = sqsSender
	}
	if cfg.SNSEndpoint != "" {
		senders["sns"] = snsSender
	}
	dispatcher := dispatch.New(store, functions, gateway, dispatch.Options{
		Region:       cfg.Region,
		AccountID:    cfg.AccountID,
		RetryBackoff: cfg.RetryBackoff,
		Senders:      senders,
		Logger:       log,
	})
	scheduler := schedule.New(store, functions, schedule.Options{
		Region:    cfg.Region,
		AccountID: cfg.AccountID,
		Grace:     cfg.Grace,
		Logger:    log,
	})
	pollers := sqssource.New(newSQSClient(cfg), gateway, store, functions, sqssource.Options{Region: cfg.Region, Logger: log})
	// S3 notifications beside the gateway's API: versitygw posts each
	// object event here and it is queued like any asynchronous invocation.
	mux := http.NewServeMux()
	mux.Handle("/", server.New(store, log).Handler())
	mux.Handle("POST "+eventsapi.PathS3Notifications, s3notify.New(functions, store, s3notify.Options{Region: cfg.Region, Logger: log}))
	api := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.Listen, err)
	}

	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return functions.Run(gctx) })
	g.Go(func() error {
		if functions.WaitLoaded(gctx) != nil {
			return nil // stopped before CONFIG_DIR ever loaded
		}
		log.Info("runtime config loaded; dispatching, scheduling and polling")
		sg, sctx := errgroup.WithContext(gctx)
		sg.Go(func() error { return dispatcher.Run(sctx) })
		sg.Go(func() error { return scheduler.Run(sctx) })
		sg.Go(func() error { return pollers.Run(sctx) })
		return sg.Wait()
	})
	g.Go(func() error {
		if err := api.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("serve %s: %w", cfg.Listen, err)
		}
		return nil
	})
	g.Go(func() error {
		<-gctx.Done()
		drain, cancel := context.WithTimeout(context.WithoutCancel(gctx), shutdownTimeout)
		defer cancel()
		return api.Shutdown(drain)
	})
	log.Info("events listening", "addr", ln.Addr().String(), "gateway", cfg.GatewayURL, "config_dir", cfg.ConfigDir,
		"retry_backoff", cfg.RetryBackoff.String(), "schedule_grace", cfg.Grace.String(), "sqs", cfg.SQSEndpoint, "sns", cfg.SNSEndpoint)
	return g.Wait()
}
