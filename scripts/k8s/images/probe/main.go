// Command probe is the test image of the local Kubernetes cluster
// (scripts/k8s/cluster.sh selftest): a FROM-scratch image that checks what a
// Pod can reach. Without arguments it sleeps until SIGTERM.
//
//	probe serve ADDR     HTTP server answering "hello from HOSTNAME"
//	probe get URL        HTTP GET, prints "STATUS BODY"
//	probe dial HOST:PORT TCP connect: prints open, refused or blocked (no answer in 3s)
//
// get and dial exit 0 only when the peer answered.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"
)

const timeout = 3 * time.Second

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if len(os.Args) < 2 {
		<-ctx.Done()
		return
	}
	var err error
	switch {
	case os.Args[1] == "serve" && len(os.Args) == 3:
		err = serve(ctx, os.Args[2])
	case os.Args[1] == "get" && len(os.Args) == 3:
		err = get(ctx, os.Args[2])
	case os.Args[1] == "dial" && len(os.Args) == 3:
		err = dial(ctx, os.Args[2])
	default:
		err = errors.New("usage: probe [serve ADDR | get URL | dial HOST:PORT]")
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "probe:", err)
		os.Exit(1)
	}
}

func serve(ctx context.Context, addr string) error {
	host, _ := os.Hostname()
	srv := &http.Server{
		Addr:              addr,
		ReadHeaderTimeout: timeout,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			fmt.Fprintf(w, "hello from %s\n", host)
		}),
	}
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	fmt.Println("listening", addr)
	if err := srv.ListenAndServe(); !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve %s: %w", addr, err)
	}
	return nil
}

func get(ctx context.Context, url string) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return fmt.Errorf("get %s: %w", url, err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("get %s: %w", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if err != nil {
		return fmt.Errorf("get %s: read body: %w", url, err)
	}
	fmt.Printf("%d %s", resp.StatusCode, body)
	return nil
}

// dial tells a refused connection (the host answered with a reset) from a
// dropped one (no answer): the cluster's firewall drops, it never rejects.
func dial(ctx context.Context, addr string) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", addr)
	switch {
	case err == nil:
		conn.Close()
		fmt.Println("open")
		return nil
	case errors.Is(err, syscall.ECONNREFUSED):
		fmt.Println("refused")
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded):
		fmt.Println("blocked")
	default:
		fmt.Println("error", err)
	}
	return fmt.Errorf("dial %s: %w", addr, err)
}
