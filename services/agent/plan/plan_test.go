package plan

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/esb-dev/esb/services/agent/engine"
)

var (
	t0    = time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)
	v1    = Identity{Function: "Hello", Digest: "sha256:aaa", Config: "c1"}
	v2    = Identity{Function: "Hello", Digest: "sha256:bbb", Config: "c1"}
	v1cfg = Identity{Function: "Hello", Digest: "sha256:aaa", Config: "c2"}
	other = Identity{Function: "Other", Digest: "sha256:ccc", Config: "c9"}
)

const running = engine.StateRunning

func idle(id string, ident Identity, lastUsed time.Time) Container {
	return Container{ID: id, Identity: ident, Phase: Idle, State: running, LastUsed: lastUsed}
}

func busy(id string, ident Identity) Container {
	return Container{ID: id, Identity: ident, Phase: Busy, State: running, LastUsed: t0.Add(-time.Hour)}
}

func TestReconcile(t *testing.T) {
	want := func(ident Identity, minWarm int, idle time.Duration) map[string]Want {
		return map[string]Want{ident.Function: {Identity: ident, MinWarm: minWarm, IdleTimeout: idle}}
	}
	tests := []struct {
		name       string
		desired    map[string]Want
		containers []Container
		want       []Action
	}{
		{
			name:       "nothing to do",
			desired:    want(v1, 0, time.Minute),
			containers: []Container{idle("a", v1, t0.Add(-time.Second)), busy("b", v1)},
		},
		{
			name:       "retire idle on digest change",
			desired:    want(v2, 0, time.Minute),
			containers: []Container{idle("a", v1, t0)},
			want:       []Action{{Kind: Remove, ID: "a", Reason: ReasonRedeploy}},
		},
		{
			name:       "retire idle on config change",
			desired:    want(v1cfg, 0, time.Minute),
			containers: []Container{idle("a", v1, t0)},
			want:       []Action{{Kind: Remove, ID: "a", Reason: ReasonRedeploy}},
		},
		{
			name:       "keep busy until release on digest change",
			desired:    want(v2, 0, time.Minute),
			containers: []Container{busy("a", v1)},
			want:       []Action{{Kind: Retire, ID: "a", Reason: ReasonRedeploy}},
		},
		{
			name:    "busy already retired is left alone",
			desired: want(v2, 0, time.Minute),
			containers: []Container{
				{ID: "a", Identity: v1, Phase: Busy, State: running, Retired: true},
			},
		},
		{
			name:    "idle marked retired is removed",
			desired: want(v1, 0, time.Minute),
			containers: []Container{
				{ID: "a", Identity: v1, Phase: Idle, State: running, Retired: true, LastUsed: t0},
			},
			want: []Action{{Kind: Remove, ID: "a", Reason: ReasonRetired}},
		},
		{
			name:    "reap idle longer than idle_timeout",
			desired: want(v1, 0, time.Minute),
			containers: []Container{
				idle("old", v1, t0.Add(-2*time.Minute)),
				idle("fresh", v1, t0.Add(-30*time.Second)),
			},
			want: []Action{{Kind: Remove, ID: "old", Reason: ReasonIdle}},
		},
		{
			name:       "idle exactly at the timeout stays",
			desired:    want(v1, 0, time.Minute),
			containers: []Container{idle("a", v1, t0.Add(-time.Minute))},
		},
		{
			name:    "keep min_warm, reaping the oldest first",
			desired: want(v1, 2, time.Minute),
			containers: []Container{
				idle("a", v1, t0.Add(-5*time.Minute)),
				idle("b", v1, t0.Add(-3*time.Minute)),
				idle("c", v1, t0.Add(-4*time.Minute)),
			},
			want: []Action{{Kind: Remove, ID: "a", Reason: ReasonIdle}},
		},
		{
			name:    "busy containers count towards min_warm",
			desired: want(v1, 2, time.Minute),
			containers: []Container{
				busy("a", v1),
				idle("b", v1, t0.Add(-5*time.Minute)),
				idle("c", v1, t0.Add(-4*time.Minute)),
			},
			want: []Action{{Kind: Remove, ID: "b", Reason: ReasonIdle}},
		},
		{
			name:    "start up to min_warm",
			desired: want(v1, 3, time.Minute),
			containers: []Container{
				idle("a", v1, t0),
			},
			want: []Action{{Kind: Start, Function: "Hello", Count: 2, Reason: ReasonMinWarm}},
		},
		{
			name:    "starts in flight count towards min_warm",
			desired: want(v1, 2, time.Minute),
			containers: []Container{
				{ID: "s1", Identity: v1, Phase: Starting},
				{ID: "s2", Identity: v1, Phase: Starting},
			},
		},
		{
			name:       "stale containers do not count towards min_warm",
			desired:    want(v2, 1, time.Minute),
			containers: []Container{idle("a", v1, t0)},
			want: []Action{
				{Kind: Remove, ID: "a", Reason: ReasonRedeploy},
				{Kind: Start, Function: "Hello", Count: 1, Reason: ReasonMinWarm},
			},
		},
		{
			name:    "function missing from desired keeps containers until idle",
			desired: want(v1, 0, time.Minute),
			containers: []Container{
				idle("fresh", other, t0.Add(-time.Minute)),
				busy("busy", other),
			},
		},
		{
			name:    "function missing from desired is reaped on its own idle_timeout",
			desired: want(v1, 0, time.Minute),
			containers: []Container{
				{ID: "o", Identity: other, Phase: Idle, State: running, LastUsed: t0.Add(-2 * time.Minute), IdleTimeout: 90 * time.Second},
				idle("d", other, t0.Add(-4*time.Minute)),
				idle("e", other, t0.Add(-6*time.Minute)),
			},
			want: []Action{
				{Kind: Remove, ID: "e", Reason: ReasonIdle},
				{Kind: Remove, ID: "o", Reason: ReasonIdle},
			},
		},
		{
			name: "no desired state yet: only idle reaping",
			containers: []Container{
				idle("a", v1, t0.Add(-6*time.Minute)),
				idle("b", v2, t0),
			},
			want: []Action{{Kind: Remove, ID: "a", Reason: ReasonIdle}},
		},
		{
			name:    "remove exited idle, retire exited busy",
			desired: want(v1, 0, time.Minute),
			containers: []Container{
				{ID: "a", Identity: v1, Phase: Idle, State: engine.StateExited, LastUsed: t0},
				{ID: "b", Identity: v1, Phase: Busy, State: engine.StateExited},
				{ID: "gone", Identity: v1, Phase: Idle, LastUsed: t0},
			},
			want: []Action{
				{Kind: Remove, ID: "a", Reason: ReasonExited},
				{Kind: Retire, ID: "b", Reason: ReasonExited},
				{Kind: Remove, ID: "gone", Reason: ReasonExited},
			},
		},
		{
			name:    "unknown containers: remove exited and dead, leave created and running",
			desired: want(v1, 0, time.Minute),
			containers: []Container{
				{ID: "x1", Identity: v1, Phase: Unknown, State: engine.StateExited},
				{ID: "x2", Identity: v1, Phase: Unknown, State: engine.StateDead},
				{ID: "x3", Identity: v1, Phase: Unknown, State: engine.StateCreated},
				{ID: "x4", Identity: v1, Phase: Unknown, State: running},
			},
			want: []Action{
				{Kind: Remove, ID: "x1", Reason: ReasonExited},
				{Kind: Remove, ID: "x2", Reason: ReasonExited},
			},
		},
		{
			name:    "lease held past its TTL is reclaimed, a younger one is not",
			desired: want(v1, 0, time.Minute),
			containers: []Container{
				{ID: "old", Identity: v1, Phase: Busy, State: running, LastUsed: t0.Add(-10 * time.Minute), LeaseTTL: 5 * time.Minute},
				{ID: "young", Identity: v1, Phase: Busy, State: running, LastUsed: t0.Add(-4 * time.Minute), LeaseTTL: 5 * time.Minute},
				{ID: "nottl", Identity: v1, Phase: Busy, State: running, LastUsed: t0.Add(-time.Hour)},
			},
			want: []Action{{Kind: Remove, ID: "old", Reason: ReasonExpired}},
		},
		{
			name:    "unknown stopped container of an identity being started may be that start",
			desired: want(v1, 0, time.Minute),
			containers: []Container{
				{ID: "s1", Identity: v1, Phase: Starting},
				{ID: "x1", Identity: v1, Phase: Unknown, State: engine.StateExited},
				{ID: "x2", Identity: v2, Phase: Unknown, State: engine.StateExited},
			},
			want: []Action{{Kind: Remove, ID: "x2", Reason: ReasonExited}},
		},
		{
			name:    "containers being removed are ignored",
			desired: want(v2, 1, time.Minute),
			containers: []Container{
				{ID: "a", Identity: v2, Phase: Removing, State: running},
			},
			want: []Action{{Kind: Start, Function: "Hello", Count: 1, Reason: ReasonMinWarm}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Reconcile(Input{
				Desired:            tt.desired,
				Containers:         tt.containers,
				Now:                t0,
				DefaultIdleTimeout: 5 * time.Minute,
			})
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestStartup(t *testing.T) {
	tests := []struct {
		name  string
		found []Container
		want  []Action
	}{
		{name: "nothing found"},
		{
			name:  "adopt running",
			found: []Container{{ID: "a", Identity: v1, Phase: Unknown, State: running}},
			want:  []Action{{Kind: Adopt, ID: "a"}},
		},
		{
			name: "remove exited, dead and never started",
			found: []Container{
				{ID: "c", Identity: v1, Phase: Unknown, State: engine.StateCreated},
				{ID: "a", Identity: v1, Phase: Unknown, State: engine.StateExited},
				{ID: "b", Identity: v2, Phase: Unknown, State: engine.StateDead},
			},
			want: []Action{
				{Kind: Remove, ID: "a", Reason: "exited"},
				{Kind: Remove, ID: "b", Reason: "dead"},
				{Kind: Remove, ID: "c", Reason: "created"},
			},
		},
		{
			name:  "remove a running container without function label",
			found: []Container{{ID: "a", Phase: Unknown, State: running}},
			want:  []Action{{Kind: Remove, ID: "a", Reason: "no function label"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, Startup(tt.found))
		})
	}
}
