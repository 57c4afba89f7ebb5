package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/esb-dev/esb/services/agent/engine"
)

// pullTimeout bounds `agent pull` as a whole: a deploy waits for it.
const pullTimeout = 10 * time.Minute

// runPull is `agent pull [--] REF...`: it pulls each ref into the env's
// function runtime with the agent's own configuration and credentials, as
// `esb deploy` asks of a mode whose runtime the host cannot reach (in
// kubernetes mode the runtime checks the registry the nodes pull from).
// It prints one
// summary line; the first failure ends it with an error naming the ref.
func runPull(ctx context.Context, args []string, out io.Writer, logger *slog.Logger) error {
	if len(args) > 0 && args[0] == "--" {
		args = args[1:]
	}
	if len(args) == 0 {
		return errors.New("usage: agent pull [--] REF...")
	}
	cfg, err := loadConfig(os.Getenv)
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, pullTimeout)
	defer cancel()
	rt, closeRuntime, err := newRuntime(ctx, cfg, logger)
	if err != nil {
		return err
	}
	defer closeRuntime()
	bounded := engine.WithDeadlines(rt, engine.Deadlines{})
	began := time.Now()
	for _, ref := range args {
		if err := bounded.PullImage(ctx, ref); err != nil {
			return fmt.Errorf("pull %s: %w", ref, err)
		}
	}
	// What a pull means is the runtime's (engine.Runtime.PullImage): in
	// kubernetes mode the nodes pull for themselves, and the agent checks
	// each image is in the registry they pull from, with the credential
	// their pull secret carries.
	_, err = fmt.Fprintf(out, "%d images ready for the %s runtime (%s)\n", len(args), rt.Name(), time.Since(began).Round(100*time.Millisecond))
	return err
}
