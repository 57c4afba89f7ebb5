// Package adminapi is the contract of the gateway's admin listener
// (PORT_ADMIN, host loopback only): GET /metrics in Prometheus text format,
// GET / the dashboard, and GET /api/status, the JSON below, which `esb ls`
// and the dashboard both show (one source of truth).
package adminapi

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// StatusPath is where the admin listener serves Status.
const StatusPath = "/api/status"

// LivePath is where the admin listener serves Live: cheap enough to poll,
// which `esb deploy` does until the gateway serves what it wrote.
const LivePath = "/api/live"

// Live is the config set the gateway serves now, and the last one it
// refused.
type Live struct {
	Generation uint64    `json:"generation"` // 0 before the first config
	LoadedAt   time.Time `json:"loaded_at"`
	// ConfigDigest is the runtimeconfig Config.Digest of the live set.
	ConfigDigest string `json:"config_digest"`
	// Rejected is the last set the gateway read and refused to serve,
	// when that came after the live one.
	Rejected *Rejection `json:"rejected,omitempty"`
	// Agent is how the push of the newest generation's desired state
	// (warm containers, retired digests) to the agent went; nil when the
	// gateway runs without an agent.
	Agent *AgentSync `json:"agent,omitempty"`
}

// AgentSync is the push of a generation's desired state to the agent.
type AgentSync struct {
	Generation uint64 `json:"generation"`
	// State is AgentPending, AgentApplied or AgentRefused.
	State string `json:"state"`
	// Problem is the agent's reason for a refusal, or the last error of a
	// push still being retried.
	Problem string    `json:"problem,omitempty"`
	At      time.Time `json:"at"`
}

// The states of AgentSync.
const (
	AgentPending = "pending" // not taken yet: the agent is down or starting
	AgentApplied = "applied"
	AgentRefused = "refused" // for good: the node cannot hold the warm containers
)

// Rejection is a config set the gateway refused, and why.
type Rejection struct {
	ConfigDigest string    `json:"config_digest,omitempty"` // empty when the files did not decode
	At           time.Time `json:"at"`
	Problems     []string  `json:"problems"` // "file:line:col: field: message"
}

// Status is what the env serves now.
type Status struct {
	Env        string     `json:"env"`
	Generation uint64     `json:"generation"`
	LoadedAt   time.Time  `json:"loaded_at"`
	Functions  []Function `json:"functions"`
	Routes     []Route    `json:"routes"`
	// Recent are the last invocations, newest first.
	Recent []Invocation `json:"recent"`
	// Deploys are the config generations that went live since the
	// gateway started, newest first.
	Deploys []Deploy `json:"deploys"`
	// History is the env's deploy history as `esb history` lists it
	// (CONFIG_DIR/.history: deploys, rollbacks, restores), newest first.
	History []Generation `json:"history"`
	// HistoryError says why the history could not be listed.
	HistoryError string `json:"history_error,omitempty"`
	// Agent is the agent's view of the node; nil when it did not answer.
	Agent *Agent `json:"agent,omitempty"`
	// AgentSync is how the push of the newest generation's desired state
	// to the agent went, as on Live.
	AgentSync *AgentSync `json:"agent_sync,omitempty"`
}

// Function is one function of the live config.
type Function struct {
	Name     string   `json:"name"`
	Runtime  string   `json:"runtime"` // empty for an image function
	MemoryMB int      `json:"memory_mb"`
	Timeout  int      `json:"timeout_s"`
	Image    string   `json:"image"`
	Digest   string   `json:"digest"`
	Routes   []string `json:"routes"` // "GET /hello"
	Busy     int      `json:"busy"`   // containers running an invocation
	Warm     int      `json:"warm"`   // idle containers: held by the gateway or kept by the agent
	Queued   int      `json:"queued"`
	// LastError is the function's last invocation that did not succeed.
	LastError *Invocation `json:"last_error,omitempty"`
}

// Route is one API route of the live config.
type Route struct {
	Method   string `json:"method"`
	Path     string `json:"path"`
	Function string `json:"function"`
	API      string `json:"api,omitempty"`
	Stage    string `json:"stage,omitempty"`
}

// Invocation is one finished invocation.
type Invocation struct {
	At         time.Time `json:"at"`
	Function   string    `json:"function"`
	Outcome    string    `json:"outcome"` // success, throttled, or an error type
	DurationMS float64   `json:"duration_ms"`
	Cold       bool      `json:"cold"`
}

// Deploy is one config generation that went live.
type Deploy struct {
	Generation uint64    `json:"generation"`
	At         time.Time `json:"at"`
	Added      []string  `json:"added,omitempty"`
	Changed    []string  `json:"changed,omitempty"` // image digest or config changed
	Removed    []string  `json:"removed,omitempty"`
}

// Generation is one generation of the env's deploy history.
type Generation struct {
	Number   int       `json:"generation"`
	At       time.Time `json:"at"`
	Action   string    `json:"action"` // deploy, restore, rollback to N
	Template string    `json:"template,omitempty"`
	// TemplateSHA256 is the deployed template's hash (hex).
	TemplateSHA256 string   `json:"template_sha256,omitempty"`
	Changed        []string `json:"changed,omitempty"` // functions added or changed
	Removed        []string `json:"removed,omitempty"`
	// Current marks the set CONFIG_DIR holds now.
	Current bool `json:"current,omitempty"`
	// Error says why the generation cannot be read (a rollback refuses it).
	Error string `json:"error,omitempty"`
}

// Agent is the agent's health as the gateway last asked for it.
type Agent struct {
	Runtime    string `json:"runtime"`
	Containers int    `json:"containers"`
	Busy       int    `json:"busy"`
	MemoryMB   int    `json:"memory_mb"`
	BudgetMB   int    `json:"memory_budget_mb,omitempty"`
	// Concurrency is the account concurrency, which bounds the sum of
	// min_warm; 0: none.
	Concurrency int `json:"account_concurrency,omitempty"`
}

// Fetch reads Status from the admin listener at base (http://127.0.0.1:PORT).
func Fetch(ctx context.Context, hc *http.Client, base string) (Status, error) {
	var st Status
	return st, get(ctx, hc, base, StatusPath, "admin status", &st)
}

// FetchLive reads Live from the admin listener at base.
func FetchLive(ctx context.Context, hc *http.Client, base string) (Live, error) {
	var l Live
	return l, get(ctx, hc, base, LivePath, "admin live config", &l)
}

// get decodes the JSON the admin listener serves at path into out; what
// names the call in errors.
func get(ctx context.Context, hc *http.Client, base, path, what string, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(base, "/")+path, nil)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
		return fmt.Errorf("%s: %s: %s", what, resp.Status, strings.TrimSpace(string(body)))
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("%s: decode: %w", what, err)
	}
	return nil
}
