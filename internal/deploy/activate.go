package deploy

import (
	"context"
	"fmt"
	"time"

	"github.com/esb-dev/esb/internal/confighistory"
	"github.com/esb-dev/esb/internal/progress"
)

// ActivateSteps are the side effects that make a config set just written
// to CONFIG_DIR runnable.
type ActivateSteps interface {
	Provision(ctx context.Context) (string, error)
	PullImages(ctx context.Context, refs []string) (done string, warnings []string, err error)
}

// activate runs, still under the deploy lock, what follows the switch of
// CONFIG_DIR to a new config set, for deploys and rollbacks alike: pull
// refs into the runtime node (containerd mode; before provisioning, so a
// node that cannot fetch the images fails the call and CONFIG_DIR goes
// back to the images it can run), provision, and record the set in the
// env's history last, so a generation exists exactly for each set a
// deploy or rollback completed. An error makes the caller restore
// CONFIG_DIR.
func activate(ctx context.Context, ev events, steps ActivateSteps, refs []string, store confighistory.Store, entry confighistory.Entry) (confighistory.Generation, []string, error) {
	var warnings []string
	if len(refs) > 0 {
		ev.phase("pull", progress.Working, fmt.Sprintf("making %d changed images ready for the function runtime", len(refs)))
		done, pullWarnings, err := steps.PullImages(ctx, refs)
		if err != nil {
			ev.phase("pull", progress.Failed, "the function runtime cannot have them; CONFIG_DIR restored")
			return confighistory.Generation{}, nil, fmt.Errorf("pull into the function runtime: %w", err)
		}
		warnings = append(warnings, pullWarnings...)
		status := progress.Done
		if len(pullWarnings) > 0 {
			status = progress.Warning
		}
		ev.phase("pull", status, done)
	}
	ev.phase("provision", progress.Working, "creating tables, buckets, queues and topics")
	summary, err := steps.Provision(ctx)
	if err != nil {
		ev.phase("provision", progress.Failed, "provisioner failed; CONFIG_DIR restored")
		return confighistory.Generation{}, nil, fmt.Errorf("provision: %w", err)
	}
	ev.phase("provision", progress.Done, summary)
	entry.Time = time.Now()
	gen, historyWarnings, err := store.Record(entry)
	if err != nil {
		return confighistory.Generation{}, nil, fmt.Errorf("record the %s in the env's history: %w", entry.Kind, err)
	}
	return gen, append(warnings, historyWarnings...), nil
}
