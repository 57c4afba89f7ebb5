// Package agentmetrics is the agent's Prometheus metrics: its containers
// by state, container starts and their duration, image pulls, reaps and
// removals, images removed. The agent serves them on its token-protected
// API (GET /v1/metrics); the gateway's admin listener scrapes them from
// there, so operators have one endpoint per env and the agent stays off
// the host. Label values are function names of the desired state or fixed
// words.
package agentmetrics

import (
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/esb-dev/esb/services/agent/plan"
)

// Containers gives the pool's containers by state (starting, idle, busy,
// removing) at scrape time; *pool.Pool implements it.
type Containers interface {
	ContainersByState() map[string]int
}

// Metrics holds the agent's metrics. A nil *Metrics records nothing, so
// the pool's tests need none.
type Metrics struct {
	reg       *prometheus.Registry
	starts    *prometheus.CounterVec
	startDur  *prometheus.HistogramVec
	pulls     *prometheus.CounterVec
	pullDur   prometheus.Histogram
	removals  *prometheus.CounterVec
	reaps     prometheus.Counter
	imagesRem prometheus.Counter
}

// New registers the agent's metrics; see WatchContainers for the gauge
// of containers by state.
func New() *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		starts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "esb_agent_container_starts_total",
			Help: "Function containers the agent started, by function and result (ok, error).",
		}, []string{"function", "result"}),
		startDur: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "esb_agent_container_start_duration_seconds",
			Help:    "Time from asking the engine for a container to its runtime accepting work (image pull included).",
			Buckets: []float64{.05, .1, .25, .5, 1, 2, 4, 8, 15, 30, 60},
		}, []string{"function"}),
		pulls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "esb_agent_image_pulls_total",
			Help: "Function image pulls from the env's registry, by result (ok, error).",
		}, []string{"result"}),
		pullDur: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "esb_agent_image_pull_duration_seconds",
			Help:    "Time one image pull took.",
			Buckets: []float64{.1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120},
		}),
		removals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "esb_agent_container_removals_total",
			Help: "Function containers removed, by reason (idle, redeploy, exited, expired, retired, discarded, evicted, other).",
		}, []string{"reason"}),
		reaps: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "esb_agent_reaps_total",
			Help: "Idle function containers removed after their idle timeout.",
		}),
		imagesRem: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "esb_agent_images_removed_total",
			Help: "Function images removed from the node because no deployed function runs their digest any more.",
		}),
	}
	m.reg.MustRegister(m.starts, m.startDur, m.pulls, m.pullDur, m.removals, m.reaps, m.imagesRem,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// WatchContainers registers the gauge of containers by state, read from
// containers at each scrape (the pool is made after the launcher, which
// already records pulls here).
func (m *Metrics) WatchContainers(containers Containers) {
	m.reg.MustRegister(containerCollector{src: containers})
}

// Handler serves the metrics in Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

// Started records a container start of function that took took.
func (m *Metrics) Started(function string, took time.Duration, err error) {
	if m == nil {
		return
	}
	if err != nil {
		m.starts.WithLabelValues(function, "error").Inc()
		return
	}
	m.starts.WithLabelValues(function, "ok").Inc()
	m.startDur.WithLabelValues(function).Observe(took.Seconds())
}

// Pulled records one image pull.
func (m *Metrics) Pulled(took time.Duration, err error) {
	if m == nil {
		return
	}
	if err != nil {
		m.pulls.WithLabelValues("error").Inc()
		return
	}
	m.pulls.WithLabelValues("ok").Inc()
	m.pullDur.Observe(took.Seconds())
}

// Removed records a container removed for reason (a plan.Reason* or the
// pool's own words, which are mapped to a fixed set).
func (m *Metrics) Removed(reason string) {
	if m == nil {
		return
	}
	r := ReasonLabel(reason)
	m.removals.WithLabelValues(r).Inc()
	if r == "idle" {
		m.reaps.Inc()
	}
}

// ImageRemoved records an image removed from the node.
func (m *Metrics) ImageRemoved() {
	if m == nil {
		return
	}
	m.imagesRem.Inc()
}

// ReasonLabel maps a removal reason onto the label's fixed words.
func ReasonLabel(reason string) string {
	switch reason {
	case plan.ReasonIdle:
		return "idle"
	case plan.ReasonRedeploy:
		return "redeploy"
	case plan.ReasonExited:
		return "exited"
	case plan.ReasonExpired:
		return "expired"
	case plan.ReasonRetired:
		return "retired"
	case ReasonDiscarded:
		return "discarded"
	case ReasonEvicted:
		return "evicted"
	}
	return "other"
}

// The pool's own removal reasons besides plan's.
const (
	ReasonDiscarded = "discarded"
	ReasonEvicted   = "evicted: node memory for functions"
)

type containerCollector struct{ src Containers }

var descContainers = prometheus.NewDesc("esb_agent_containers",
	"Function containers of the agent by state (starting, idle, busy, removing).", []string{"state"}, nil)

func (c containerCollector) Describe(ch chan<- *prometheus.Desc) { ch <- descContainers }

func (c containerCollector) Collect(ch chan<- prometheus.Metric) {
	by := c.src.ContainersByState()
	for _, state := range []string{"starting", "idle", "busy", "removing"} {
		ch <- prometheus.MustNewConstMetric(descContainers, prometheus.GaugeValue, float64(by[state]), state)
	}
}
