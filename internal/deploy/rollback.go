package deploy

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/esb-dev/esb/internal/confighistory"
	"github.com/esb-dev/esb/internal/progress"
	"github.com/esb-dev/esb/internal/registry"
	"github.com/esb-dev/esb/internal/runtimeconfig"
)

// RollbackOptions describe one rollback.
type RollbackOptions struct {
	ConfigDir string
	// Generation is the generation to make current again; 0 means the one
	// recorded before the newest (so a rollback of a rollback goes forward
	// again).
	Generation  int
	Mode        string
	HistoryKeep int // confighistory.DefaultKeep when zero
	Events      progress.Sink
}

// RollbackSteps are the side effects a rollback needs: a subset of Steps,
// since nothing is built.
type RollbackSteps interface {
	WaitRegistry(ctx context.Context) error
	PlatformWarnings(ctx context.Context) []string
	ImageExists(ctx context.Context, image, digest string) (bool, error)
	Provision(ctx context.Context) (string, error)
	PullImages(ctx context.Context, refs []string) (done string, warnings []string, err error)
}

var _ RollbackSteps = PlatformSteps{}

// RollbackSummary is what a successful rollback did.
type RollbackSummary struct {
	Target   confighistory.Generation // the generation made current again
	Recorded confighistory.Generation // the rollback's own record
	Written  []string
	// ConfigDigest identifies the config set now current (see
	// Summary.ConfigDigest).
	ConfigDigest string
	Warnings     []string
	Duration     time.Duration
}

// imageLookupTimeout bounds one manifest lookup of a rollback; the
// registry answered WaitRegistry moments before, so a lookup is
// milliseconds.
const imageLookupTimeout = 10 * time.Second

// ErrImageGone is wrapped when a generation names an image the registry
// no longer has.
var ErrImageGone = errors.New("image no longer in the registry")

// Rollback makes an earlier generation of the env's history current
// again: under the deploy lock it loads and checks the generation, checks
// that the registry still has every image it names, switches CONFIG_DIR
// to its files in one rename (the gateway reloads, the agent retires
// containers of other digests), pulls the images in containerd mode, runs
// the provisioner for the generation's tables and buckets, and records
// the result as a new generation. Nothing is built.
//
// A missing or corrupt generation, a missing image, a failed pull or a
// failed provisioner leaves CONFIG_DIR and the history as they were. Data
// is not rolled back: tables, items, buckets and objects stay as they
// are, and resources later deploys added are not deleted.
func Rollback(ctx context.Context, opts RollbackOptions, steps RollbackSteps) (RollbackSummary, error) {
	start := time.Now()
	ev := events{opts.Events}
	store := confighistory.Store{ConfigDir: opts.ConfigDir, Keep: opts.HistoryKeep}
	var sum RollbackSummary

	ev.phase("preflight", progress.Working, "waiting for the registry")
	if err := steps.WaitRegistry(ctx); err != nil {
		ev.phase("preflight", progress.Failed, "registry not ready")
		return sum, err
	}
	sum.Warnings = append(sum.Warnings, steps.PlatformWarnings(ctx)...)
	status := progress.Done
	if len(sum.Warnings) > 0 {
		status = progress.Warning
	}
	ev.phase("preflight", status, "registry ready"+joinPrefixed("; ", sum.Warnings))

	ev.phase("switch", progress.Working, "loading the generation under the deploy lock")
	var activateWarnings []string
	res, err := runtimeconfig.Replace(ctx, opts.ConfigDir, runtimeconfig.MergeOptions{
		AfterWrite: func(ctx context.Context, written runtimeconfig.Result) error {
			gen, warnings, err := activate(ctx, ev, steps, rollbackPulls(opts.Mode, written), store, confighistory.Entry{
				Kind: confighistory.KindRollback, Template: sum.Target.Template, TemplateHash: sum.Target.TemplateHash,
				RollbackOf: sum.Target.Number, Config: written.Config, Previous: written.Previous,
			})
			sum.Recorded, activateWarnings = gen, warnings
			return err
		},
	}, func(runtimeconfig.Config) (runtimeconfig.Config, error) {
		n := opts.Generation
		if n == 0 {
			prev, err := store.Previous()
			if err != nil {
				return runtimeconfig.Config{}, err
			}
			n = prev
		}
		g, cfg, err := store.Load(n)
		if err != nil {
			return runtimeconfig.Config{}, fmt.Errorf("%w; nothing changed", err)
		}
		var gone []string
		for _, img := range g.Images {
			// Under the deploy lock: a registry that hangs must not hold it.
			lookupCtx, cancel := context.WithTimeout(ctx, imageLookupTimeout)
			ok, err := steps.ImageExists(lookupCtx, img.Image, img.Digest)
			cancel()
			if err != nil {
				return runtimeconfig.Config{}, fmt.Errorf("generation %d: look up %s@%s: %w; nothing changed", n, img.Image, img.Digest, err)
			}
			if !ok {
				gone = append(gone, fmt.Sprintf("%s (%s@%s)", img.Function, img.Image, img.Digest))
			}
		}
		if len(gone) > 0 {
			return runtimeconfig.Config{}, fmt.Errorf("generation %d: %w: %s; nothing changed (redeploy its template instead)", n, ErrImageGone, strings.Join(gone, ", "))
		}
		sum.Target = g
		return cfg, nil
	})
	if err != nil {
		ev.phase("switch", progress.Failed, "CONFIG_DIR unchanged")
		return RollbackSummary{}, err
	}
	sum.Written, sum.ConfigDigest = res.Written, res.Digest
	sum.Warnings = append(sum.Warnings, activateWarnings...)
	ev.phase("switch", progress.Done, fmt.Sprintf("generation %d is current again, recorded as generation %d", sum.Target.Number, sum.Recorded.Number))
	sum.Duration = time.Since(start)
	return sum, nil
}

// rollbackPulls are the images a rollback pulls into the function runtime
// (PullsImages): every function whose entry it changed, by digest.
func rollbackPulls(mode string, written runtimeconfig.Result) []string {
	if !PullsImages(mode) {
		return nil
	}
	var refs []string
	for name, f := range written.Config.Functions.Functions {
		if f.Digest == "" {
			continue
		}
		if old, ok := written.Previous.Functions.Functions[name]; ok && old.Digest == f.Digest && old.Image == f.Image {
			continue
		}
		refs = append(refs, registry.PinnedRef(f.Image, f.Digest))
	}
	return refs
}
