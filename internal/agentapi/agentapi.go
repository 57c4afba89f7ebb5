// Package agentapi is the contract between the gateway and the agent: the
// agent owns function containers (it alone holds the container runtime's
// socket), the gateway leases one per invocation. The API is internal to
// the platform network and never published on the host.
//
//	PUT  /v1/functions               Desired: every function of the live config generation
//	POST /v1/functions/{name}/acquire AcquireRequest -> Lease (an idle warm container, or a new one)
//	POST /v1/leases/{id}/release     ReleaseRequest -> 204
//	GET  /v1/leases/{id}/exit        -> Exit, once the leased container has exited (long poll)
//	GET  /v1/leases/{id}/memory      -> Memory: the leased container's peak memory
//	GET  /v1/health                  Health
//
// Errors are JSON Error bodies with a non-2xx status.
package agentapi

import (
	"time"

	"github.com/esb-dev/esb/internal/runtimeconfig"
)

// Container labels the agent sets on every function container. The runtime
// is the source of truth: containers are listed, reused and reaped by them.
const (
	LabelManaged  = "dev.esb.managed" // "true"
	LabelBrand    = "dev.esb.brand"
	LabelEnv      = "dev.esb.env"
	LabelFunction = "dev.esb.function"
	LabelDigest   = "dev.esb.digest" // image digest the container runs; a change means recreate
	// LabelConfig hashes the container configuration derived from the spec
	// (environment, handler, memory, timeout, image): a redeploy that only
	// changes the environment keeps the digest but must still retire the
	// containers running the old configuration.
	LabelConfig = "dev.esb.config"
	// LabelRuntimeSecret holds the container's Runtime API secret (see
	// Lease.RuntimeSecret), so an agent that restarts and adopts the
	// container leases it out with the secret its runtime sends. Whoever
	// reads labels can read the container's environment too.
	LabelRuntimeSecret = "dev.esb.runtime-secret"
)

// DefaultPort is where the agent listens on the platform network.
const DefaultPort = 9000

// RIEPort is where the Runtime Interface Emulator listens inside a function
// container; Invocations is its invoke path.
const (
	RIEPort     = 8080
	Invocations = "/2015-03-31/functions/function/invocations"
)

// FunctionSpec is everything the agent needs to run one function: the
// function entry of functions.yml with defaults already applied.
type FunctionSpec struct {
	Name     string                 `json:"name"`
	Function runtimeconfig.Function `json:"function"`
}

// DefaultTimeout is Lambda's timeout, in seconds, for a function that sets
// none (SAM applies the same).
const DefaultTimeout = 3

// Timeout is the function's timeout, DefaultTimeout when unset: how long
// one invocation may run, the figure Lambda reports in "Task timed out
// after N.NN seconds". Gateway and agent both bound their waits by it.
func (s FunctionSpec) Timeout() time.Duration {
	t := s.Function.Timeout
	if t <= 0 {
		t = DefaultTimeout
	}
	return time.Duration(t) * time.Second
}

// DefaultMemoryMB is Lambda's memory size, in MB, for a function that
// sets none (SAM applies the same).
const DefaultMemoryMB = 128

// MemoryMB is the memory a container of the function gets, in MB: what
// it takes of the node's budget for functions.
func (s FunctionSpec) MemoryMB() int {
	if s.Function.MemorySize <= 0 {
		return DefaultMemoryMB
	}
	return s.Function.MemorySize
}

// Desired is the full set of functions of one config generation. The agent
// retires containers whose digest no longer matches and keeps min_warm
// containers of each function; it never removes a function the gateway
// still serves.
type Desired struct {
	Generation uint64         `json:"generation"`
	Functions  []FunctionSpec `json:"functions"`
}

// AcquireRequest asks for a container of a function. The spec travels with
// every request so an acquire racing a config reload never starts a
// container from a stale spec.
type AcquireRequest struct {
	Spec FunctionSpec `json:"spec"`
}

// MaxLeaseHold bounds how long the gateway keeps using one lease across
// invocations: it holds warm leases between invocations, so that a warm
// invocation costs no round trip to the agent, and reuses one only while
// it is younger than this. The agent relies on the bound twice: a lease is
// abandoned only past its function's timeout plus a grace longer than
// this, and a container adopted after an agent restart is not leased out
// before this plus the function's timeout, as the gateway may still be
// using it under a lease of the previous agent process.
const MaxLeaseHold = 30 * time.Second

// Lease is one container reserved for one invocation, or, held by the
// gateway, for several in a row (see MaxLeaseHold).
type Lease struct {
	ID string `json:"id"`
	// Endpoint is the base URL of the container's RIE, e.g.
	// http://10.0.3.7:8080; its host is also the address the container's
	// runtime calls the gateway's Runtime API from.
	Endpoint  string `json:"endpoint"`
	Container string `json:"container"`
	Cold      bool   `json:"cold"` // started for this request
	// RuntimeSecret is the container's own secret, the path of its
	// AWS_LAMBDA_RUNTIME_API: the gateway's Runtime API serves the
	// container's session only to calls that carry it. Empty: the
	// container got none (its runtime calls without a path).
	RuntimeSecret string `json:"runtime_secret,omitempty"`
}

// ReleaseRequest returns a lease. Discard removes the container instead of
// keeping it warm: after a timeout (the function may still run) or a crash.
type ReleaseRequest struct {
	Discard bool   `json:"discard"`
	Reason  string `json:"reason,omitempty"`
}

// Memory is what the agent knows of a leased container's memory use.
// MaxBytes is the most its processes used at once since it started (its
// cgroup's peak, what Lambda's REPORT line calls Max Memory Used); 0 when
// the container engine does not report it.
type Memory struct {
	MaxBytes int64 `json:"max_bytes"`
}

// Exit reports that a leased container exited: its runtime is gone, and
// an invocation it had is lost. LastLines is the end of its output.
type Exit struct {
	Container string   `json:"container"`
	LastLines []string `json:"last_lines,omitempty"`
}

// Health is the agent's status.
type Health struct {
	Status     string `json:"status"`  // "ok"
	Runtime    string `json:"runtime"` // docker or containerd
	Generation uint64 `json:"generation"`
	Containers int    `json:"containers"`
	Busy       int    `json:"busy"` // leased: running an invocation, or held warm by the gateway
	// Starting and Removing count the containers on their way in and out,
	// which Containers leaves out: with them the agent accounts for every
	// function container the runtime holds (a leak check compares both).
	Starting int `json:"starting,omitempty"`
	Removing int `json:"removing,omitempty"`
	// MemoryMB is what the containers take (starting ones included) of
	// MemoryBudgetMB, the node's memory for functions; 0: no budget.
	MemoryMB       int `json:"memory_mb"`
	MemoryBudgetMB int `json:"memory_budget_mb,omitempty"`
	// AccountConcurrency bounds the sum of min_warm; 0: no bound.
	AccountConcurrency int `json:"account_concurrency,omitempty"`
	// IdleByFunction counts the idle containers (warm, not leased) of each
	// function that has any.
	IdleByFunction map[string]int `json:"idle_by_function,omitempty"`
	// Prepared counts the network namespaces made ready ahead of cold
	// starts (NETNS_POOL): with Containers they account for every holder
	// and function network address the runtime has (a leak check
	// compares both).
	Prepared int `json:"prepared,omitempty"`
}

// Error is the body of every non-2xx answer. Callers match on Code, not
// on the HTTP status.
type Error struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// Error codes the agent answers with.
const (
	CodeBadRequest      = "BadRequest"      // 400 (413 for an oversized body)
	CodeUnknownLease    = "UnknownLease"    // 404: expired, released twice, or from before an agent restart; harmless on release
	CodeImagePullFailed = "ImagePullFailed" // 502
	CodeStartTimeout    = "StartTimeout"    // 504: RIE never accepted; the message carries the last log lines
	CodeEngineTimeout   = "EngineTimeout"   // 504: Docker or containerd did not answer within its deadline
	CodeUnavailable     = "Unavailable"     // 503: shutting down
	// CodeNoCapacity (429): starting the container would take the node's
	// function memory (ESB_FUNCTION_MEMORY) past its budget, and no idle
	// container was left to evict. The gateway waits for room.
	CodeNoCapacity = "NoCapacity"
	// CodeOverBudget (422): a desired state whose min_warm containers do
	// not fit the node's budget; the agent keeps the previous one.
	CodeOverBudget = "OverBudget"
	CodeNotFound   = "NotFound"      // 404: unknown route
	CodeInternal   = "InternalError" // 500
)
