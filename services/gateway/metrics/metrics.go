// Package metrics is the gateway's record of what it did, for operators:
// Prometheus metrics of invocations, concurrency, queueing and config
// reloads, and the last invocations for the dashboard. Every label value
// is a function name of the runtime config or one of a few fixed words,
// never anything a client sent, so the series stay bounded.
package metrics

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/esb-dev/esb/services/gateway/lambdainvoke"
)

// Error types of esb_invocation_errors_total.
const (
	ErrorFunction     = "function" // the function returned an error (X-Amz-Function-Error)
	ErrorTimeout      = "timeout"  // it ran past its timeout
	ErrorCrash        = "crash"    // its runtime exited or dropped the call
	ErrorTooLarge     = "response_too_large"
	ErrorNoContainer  = "no_container" // the agent gave no container
	ErrorCallerGone   = "caller_gone"  // the caller gave up while it waited
	ErrorOther        = "other"
	outcomeThrottled  = "throttled"
	outcomeSuccess    = "success"
	recentInvocations = 50
)

// durationBuckets cover a warm millisecond call to a 15-minute Lambda
// timeout.
var durationBuckets = []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300, 900}

// startBuckets cover a container start: a warm image in 100 ms to a pull
// and a slow runtime init.
var startBuckets = []float64{.05, .1, .25, .5, 1, 2, 4, 8, 15, 30, 60}

// Invoker is what the gateway's front calls; *lambdainvoke.Invoker
// implements it, and so does what Metrics.Invoker returns.
type Invoker interface {
	Invoke(ctx context.Context, req lambdainvoke.Request) (lambdainvoke.Result, error)
}

// LoadSource gives the gateway's containers and queues per function at
// scrape time; *lambdainvoke.Invoker implements it.
type LoadSource interface {
	Load() []lambdainvoke.FunctionLoad
}

// Invocation is one finished invocation as the dashboard lists it.
type Invocation struct {
	At        time.Time // when it was asked for
	Function  string
	Outcome   string // success, throttled, or an error type
	Duration  time.Duration
	QueueWait time.Duration
	Cold      bool
}

// Metrics holds the gateway's metrics. It is safe for concurrent use.
type Metrics struct {
	reg *prometheus.Registry

	invocations *prometheus.CounterVec
	errors      *prometheus.CounterVec
	throttles   *prometheus.CounterVec
	coldStarts  *prometheus.CounterVec
	duration    *prometheus.HistogramVec
	initDur     *prometheus.HistogramVec
	queueWait   *prometheus.HistogramVec
	generation  prometheus.Gauge
	reloads     prometheus.Counter
	failures    prometheus.Counter

	mu     sync.Mutex
	recent []Invocation // ring, oldest overwritten first
	next   int
	last   map[string]Invocation // last failed invocation per function
}

// New registers the gateway's metrics; load, when set, is read at every
// scrape for the gauges of containers and queues.
func New(load LoadSource) *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		invocations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "esb_invocations_total",
			Help: "Invocations that ran (function errors included, throttles not), by function.",
		}, []string{"function"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "esb_invocation_errors_total",
			Help: "Invocations that failed, by function and type (function, timeout, crash, response_too_large, no_container, caller_gone, other).",
		}, []string{"function", "type"}),
		throttles: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "esb_throttles_total",
			Help: "Invocations refused with 429: no concurrency slot within the queue wait.",
		}, []string{"function"}),
		coldStarts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "esb_cold_starts_total",
			Help: "Invocations that ran on a container started for them.",
		}, []string{"function"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "esb_invocation_duration_seconds",
			Help:    "Time the function took: from handing it the event to its answer.",
			Buckets: durationBuckets,
		}, []string{"function"}),
		initDur: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "esb_init_duration_seconds",
			Help:    "Cold invocations: time the agent took to hand over the new container (start and runtime init).",
			Buckets: startBuckets,
		}, []string{"function"}),
		queueWait: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "esb_queue_wait_seconds",
			Help:    "Time an invocation waited for a concurrency slot and a container, the container's start left out.",
			Buckets: durationBuckets,
		}, []string{"function"}),
		generation: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "esb_config_generation",
			Help: "The live runtime config generation (1 at start, one more for each reload that took effect).",
		}),
		reloads: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "esb_config_reloads_total",
			Help: "Runtime configs that went live, the first included.",
		}),
		failures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "esb_config_reload_failures_total",
			Help: "Runtime configs rejected: the previous one stayed live.",
		}),
		recent: make([]Invocation, 0, recentInvocations),
		last:   map[string]Invocation{},
	}
	m.reg.MustRegister(m.invocations, m.errors, m.throttles, m.coldStarts, m.duration, m.initDur, m.queueWait,
		m.generation, m.reloads, m.failures,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if load != nil {
		m.reg.MustRegister(loadCollector{src: load})
	}
	return m
}

// Registry is where the metrics are registered, to serve or gather them.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Invoker wraps next so that every invocation is counted.
func (m *Metrics) Invoker(next Invoker) Invoker { return invoker{next: next, m: m} }

type invoker struct {
	next Invoker
	m    *Metrics
}

// Held passes on the wrapped invoker's count of warm leases, which the
// gateway's signed /health reports.
func (i invoker) Held() int {
	if h, ok := i.next.(interface{ Held() int }); ok {
		return h.Held()
	}
	return 0
}

func (i invoker) Invoke(ctx context.Context, req lambdainvoke.Request) (lambdainvoke.Result, error) {
	at := time.Now()
	res, err := i.next.Invoke(ctx, req)
	i.m.Observe(at, req.Function.Name, res, err)
	return res, err
}

// Observe records one invocation of function, asked for at at, with what
// Invoke returned.
func (m *Metrics) Observe(at time.Time, function string, res lambdainvoke.Result, err error) {
	outcome := Outcome(res, err)
	switch outcome {
	case outcomeThrottled:
		m.throttles.WithLabelValues(function).Inc()
	case ErrorCallerGone:
		// Never ran: neither an invocation nor Lambda's idea of an error.
		m.errors.WithLabelValues(function, outcome).Inc()
	default:
		m.invocations.WithLabelValues(function).Inc()
		if outcome != outcomeSuccess {
			m.errors.WithLabelValues(function, outcome).Inc()
		}
		if res.Duration > 0 {
			m.duration.WithLabelValues(function).Observe(res.Duration.Seconds())
		}
		m.queueWait.WithLabelValues(function).Observe(res.QueueWait.Seconds())
		if res.Cold {
			m.coldStarts.WithLabelValues(function).Inc()
			m.initDur.WithLabelValues(function).Observe(res.StartDuration.Seconds())
		}
	}
	inv := Invocation{At: at, Function: function, Outcome: outcome, Duration: res.Duration, QueueWait: res.QueueWait, Cold: res.Cold}
	m.mu.Lock()
	if len(m.recent) < cap(m.recent) {
		m.recent = append(m.recent, inv)
	} else {
		m.recent[m.next] = inv
	}
	m.next = (m.next + 1) % cap(m.recent)
	if outcome != outcomeSuccess {
		m.last[function] = inv
	}
	m.mu.Unlock()
}

// Outcome names what an invocation came to: success, throttled, or an
// error type of esb_invocation_errors_total.
func Outcome(res lambdainvoke.Result, err error) string {
	switch {
	case err == nil && res.FunctionError != "":
		return ErrorFunction
	case err == nil:
		return outcomeSuccess
	case errors.Is(err, lambdainvoke.ErrThrottled):
		return outcomeThrottled
	case errors.Is(err, lambdainvoke.ErrTimeout):
		return ErrorTimeout
	case errors.Is(err, lambdainvoke.ErrCrashed):
		return ErrorCrash
	case errors.Is(err, lambdainvoke.ErrResponseTooLarge):
		return ErrorTooLarge
	case errors.Is(err, lambdainvoke.ErrAgent):
		return ErrorNoContainer
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return ErrorCallerGone
	default:
		return ErrorOther
	}
}

// Recent lists the last invocations, newest first.
func (m *Metrics) Recent() []Invocation {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]Invocation, 0, len(m.recent))
	for k := 1; k <= len(m.recent); k++ {
		out = append(out, m.recent[(m.next-k+len(m.recent))%len(m.recent)])
	}
	return out
}

// LastFailure is function's last invocation that did not succeed.
func (m *Metrics) LastFailure(function string) (Invocation, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	inv, ok := m.last[function]
	return inv, ok
}

// ConfigLive records that generation went live; functions are the ones it
// serves: the series of functions gone with it are dropped, so a redeploy
// that renames functions does not leave them behind for good.
func (m *Metrics) ConfigLive(generation uint64, functions []string) {
	m.generation.Set(float64(generation))
	m.reloads.Inc()
	keep := make(map[string]bool, len(functions))
	for _, f := range functions {
		keep[f] = true
	}
	m.mu.Lock()
	var gone []string
	for _, inv := range m.recent {
		if !keep[inv.Function] {
			gone = append(gone, inv.Function)
		}
	}
	for f := range m.last {
		if !keep[f] {
			gone = append(gone, f)
			delete(m.last, f)
		}
	}
	m.mu.Unlock()
	for _, f := range gone {
		l := prometheus.Labels{"function": f}
		for _, v := range []*prometheus.MetricVec{m.invocations.MetricVec, m.errors.MetricVec, m.throttles.MetricVec, m.coldStarts.MetricVec,
			m.duration.MetricVec, m.initDur.MetricVec, m.queueWait.MetricVec} {
			v.DeletePartialMatch(l)
		}
	}
}

// ConfigRejected records a runtime config that did not go live.
func (m *Metrics) ConfigRejected() { m.failures.Inc() }

// loadCollector turns the invoker's load into gauges at scrape time.
type loadCollector struct{ src LoadSource }

var (
	descBusy = prometheus.NewDesc("esb_concurrent_executions",
		"Containers running an invocation of the function now (concurrency in use).", []string{"function"}, nil)
	descQueued = prometheus.NewDesc("esb_queue_depth",
		"Invocations of the function waiting for a container now.", []string{"function"}, nil)
	descStarting = prometheus.NewDesc("esb_container_starts_in_flight",
		"Container starts the gateway asked the agent for and waits on.", []string{"function"}, nil)
	descWarm = prometheus.NewDesc("esb_warm_containers",
		"Idle containers the gateway holds for the function's next invocation.", []string{"function"}, nil)
)

func (c loadCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descBusy
	ch <- descQueued
	ch <- descStarting
	ch <- descWarm
}

func (c loadCollector) Collect(ch chan<- prometheus.Metric) {
	for _, l := range c.src.Load() {
		ch <- prometheus.MustNewConstMetric(descBusy, prometheus.GaugeValue, float64(l.Busy), l.Name)
		ch <- prometheus.MustNewConstMetric(descQueued, prometheus.GaugeValue, float64(l.Queued), l.Name)
		ch <- prometheus.MustNewConstMetric(descStarting, prometheus.GaugeValue, float64(l.Starting), l.Name)
		ch <- prometheus.MustNewConstMetric(descWarm, prometheus.GaugeValue, float64(l.Warm), l.Name)
	}
}
