package metrics

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/esb-dev/esb/internal/agentapi"
	"github.com/esb-dev/esb/services/gateway/lambdainvoke"
)

// scripted answers each invocation with the next result and error.
type scripted struct {
	results []lambdainvoke.Result
	errs    []error
	n       int
}

func (s *scripted) Invoke(context.Context, lambdainvoke.Request) (lambdainvoke.Result, error) {
	r, err := s.results[s.n], s.errs[s.n]
	s.n++
	return r, err
}

type fixedLoad []lambdainvoke.FunctionLoad

func (f fixedLoad) Load() []lambdainvoke.FunctionLoad { return f }

func TestInvocationsAreCountedByOutcome(t *testing.T) {
	m := New(fixedLoad{{Name: "Hello", Busy: 2, Queued: 3, Warm: 1}})
	inv := m.Invoker(&scripted{
		results: []lambdainvoke.Result{
			{Cold: true, Duration: 30 * time.Millisecond, StartDuration: 800 * time.Millisecond},
			{Duration: 5 * time.Millisecond, QueueWait: 2 * time.Millisecond},
			{Duration: 7 * time.Millisecond, FunctionError: "Unhandled"},
			{},
			{Duration: 3 * time.Second},
			{},
		},
		errs: []error{nil, nil, nil,
			fmt.Errorf("invoke Hello: %w", lambdainvoke.ErrThrottled),
			fmt.Errorf("invoke Hello: %w", lambdainvoke.ErrTimeout),
			fmt.Errorf("invoke Hello: wait for a container: %w", context.Canceled),
		},
	})
	spec := agentapi.FunctionSpec{Name: "Hello"}
	for range 6 {
		_, _ = inv.Invoke(t.Context(), lambdainvoke.Request{Function: spec})
	}

	want := `
# HELP esb_invocations_total Invocations that ran (function errors included, throttles not), by function.
# TYPE esb_invocations_total counter
esb_invocations_total{function="Hello"} 4
# HELP esb_invocation_errors_total Invocations that failed, by function and type (function, timeout, crash, response_too_large, no_container, caller_gone, other).
# TYPE esb_invocation_errors_total counter
esb_invocation_errors_total{function="Hello",type="caller_gone"} 1
esb_invocation_errors_total{function="Hello",type="function"} 1
esb_invocation_errors_total{function="Hello",type="timeout"} 1
# HELP esb_throttles_total Invocations refused with 429: no concurrency slot within the queue wait.
# TYPE esb_throttles_total counter
esb_throttles_total{function="Hello"} 1
# HELP esb_cold_starts_total Invocations that ran on a container started for them.
# TYPE esb_cold_starts_total counter
esb_cold_starts_total{function="Hello"} 1
# HELP esb_concurrent_executions Containers running an invocation of the function now (concurrency in use).
# TYPE esb_concurrent_executions gauge
esb_concurrent_executions{function="Hello"} 2
# HELP esb_queue_depth Invocations of the function waiting for a container now.
# TYPE esb_queue_depth gauge
esb_queue_depth{function="Hello"} 3
# HELP esb_warm_containers Idle containers the gateway holds for the function's next invocation.
# TYPE esb_warm_containers gauge
esb_warm_containers{function="Hello"} 1
`
	require.NoError(t, testutil.GatherAndCompare(m.Registry(), strings.NewReader(want),
		"esb_invocations_total", "esb_invocation_errors_total", "esb_throttles_total", "esb_cold_starts_total",
		"esb_concurrent_executions", "esb_queue_depth", "esb_warm_containers"))
	assert.Equal(t, 1, testutil.CollectAndCount(m.duration), "one function, one series")
	families, err := m.Registry().Gather()
	require.NoError(t, err)
	for _, f := range families {
		if f.GetName() == "esb_init_duration_seconds" {
			h := f.GetMetric()[0].GetHistogram()
			assert.EqualValues(t, 1, h.GetSampleCount(), "only the cold invocation")
			assert.InDelta(t, 0.8, h.GetSampleSum(), 1e-9)
		}
		if f.GetName() == "esb_invocation_duration_seconds" {
			assert.EqualValues(t, 4, f.GetMetric()[0].GetHistogram().GetSampleCount(), "the invocations that ran")
		}
	}

	recent := m.Recent()
	require.Len(t, recent, 6)
	assert.Equal(t, ErrorCallerGone, recent[0].Outcome, "newest first")
	assert.Equal(t, "success", recent[5].Outcome)
	assert.True(t, recent[5].Cold)
	last, ok := m.LastFailure("Hello")
	require.True(t, ok)
	assert.Equal(t, ErrorCallerGone, last.Outcome)
}

func TestRecentKeepsTheLastFifty(t *testing.T) {
	m := New(nil)
	for i := range 120 {
		m.Observe(time.Unix(int64(i), 0), "F", lambdainvoke.Result{}, nil)
	}
	recent := m.Recent()
	require.Len(t, recent, recentInvocations)
	assert.Equal(t, int64(119), recent[0].At.Unix())
	assert.Equal(t, int64(70), recent[len(recent)-1].At.Unix())
}

func TestConfigLiveDropsFunctionsGone(t *testing.T) {
	m := New(nil)
	m.Observe(time.Now(), "Old", lambdainvoke.Result{FunctionError: "Unhandled"}, nil)
	m.Observe(time.Now(), "Kept", lambdainvoke.Result{}, errors.New("boom"))
	m.ConfigLive(2, []string{"Kept"})
	m.ConfigRejected()
	assert.Equal(t, 1, testutil.CollectAndCount(m.invocations))
	assert.InDelta(t, 2, testutil.ToFloat64(m.generation), 0)
	assert.InDelta(t, 1, testutil.ToFloat64(m.failures), 0)
	_, ok := m.LastFailure("Old")
	assert.False(t, ok)
	last, ok := m.LastFailure("Kept")
	require.True(t, ok)
	assert.Equal(t, ErrorOther, last.Outcome)
}

// BenchmarkObserve is what counting costs one invocation: the warm
// invoke path pays it once per request.
func BenchmarkObserve(b *testing.B) {
	m := New(nil)
	res := lambdainvoke.Result{Duration: 2 * time.Millisecond, QueueWait: time.Microsecond}
	at := time.Now()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			m.Observe(at, "Hello", res, nil)
		}
	})
}
