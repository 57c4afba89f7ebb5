// Package launcher turns a function spec into a ready Lambda container: it
// applies the image pull policy, builds the Lambda environment, creates the
// container on the runtime, follows its logs and, when the function runs
// behind its Runtime Interface Emulator, waits until the RIE accepts
// connections (a runtime that talks to the gateway's Runtime API is ready
// when it asks the gateway for an event, which the gateway waits for). It
// also reads back what the runtime runs (by label) so the pool can adopt
// and reconcile.
package launcher

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/esb-dev/esb/internal/agentapi"
	"github.com/esb-dev/esb/services/agent/engine"
	"github.com/esb-dev/esb/services/agent/fnlogs"
	"github.com/esb-dev/esb/services/agent/plan"
)

// Sentinel errors the HTTP layer turns into agentapi error codes.
var (
	ErrImagePull    = errors.New("image pull")
	ErrStartTimeout = errors.New("start timeout")
	ErrInvalidSpec  = errors.New("invalid function spec")
)

// cleanupTimeout bounds removals that must happen even though the caller's
// context is done (a failed start during shutdown).
const cleanupTimeout = 30 * time.Second

// logDrainTimeout bounds the wait for a removed container's log stream to
// end (see Remove).
const logDrainTimeout = 5 * time.Second

// Platform holds the values every function container is handed.
type Platform struct {
	Region string
	// KeyRootSecret is the env's root secret, from which each function's
	// own access key pair is derived (awsid.FunctionKey): the data
	// services know each function by it, and a function never sees the
	// root key.
	KeyRootSecret    string
	S3Endpoint       string
	DynamoDBEndpoint string
	SQSEndpoint      string
	SNSEndpoint      string
	// RuntimeAPI is the gateway's Lambda Runtime API (host:port), handed
	// to every function as AWS_LAMBDA_RUNTIME_API: its runtime then runs
	// without the image's RIE, as on Lambda, and is ready when it asks the
	// gateway for its first event. Empty: functions run behind their RIE,
	// ready when it accepts connections.
	RuntimeAPI string
	// LambdaEndpoint is the gateway's Lambda Invoke API as functions reach
	// it, handed over as AWS_ENDPOINT_URL_LAMBDA so SDK code calls this
	// env's functions; empty: not set.
	LambdaEndpoint string
}

// Config is what a Launcher needs; every field is required but Sandbox.
type Config struct {
	Brand        string
	Env          string
	PullPolicy   PullPolicy
	StartTimeout time.Duration
	Platform     Platform
	// Sandbox seals every function container (see package sandbox); nil
	// runs images as they are, which only the launcher's own tests do.
	Sandbox *Sandbox
}

// Sandbox is the operator's part of the function sandbox.
type Sandbox struct {
	// Egress lets functions reach public addresses, as on Lambda
	// (ESB_FUNCTION_EGRESS=all); false leaves them only the env's data
	// endpoints and their Runtime API.
	Egress bool
}

// Options are optional collaborators; the zero value follows no logs and
// dials with net.Dialer.
type Options struct {
	Logs *fnlogs.Collector
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	Port int // RIE port inside the container; default agentapi.RIEPort
	// OnPull, when set, learns of every image pull (one per reference
	// however many starts share it): how long it took and how it ended.
	OnPull func(took time.Duration, err error)
	Logger *slog.Logger
	Now    func() time.Time
}

// Instance is a ready function container.
type Instance struct {
	ID       string
	Name     string
	Endpoint string // base URL of its RIE
	Image    string // the reference it was created from
	// RuntimeSecret is the path of its AWS_LAMBDA_RUNTIME_API, which the
	// gateway's Runtime API requires of every call of its session; empty
	// when it got none (no RuntimeAPI, or a container of an older agent).
	RuntimeSecret string
	Identity      plan.Identity
	// Exited is closed when its log stream ends, which for a running
	// container means it exited; nil when logs are not followed.
	Exited <-chan struct{}
}

// Observed is a container found in the runtime, with the identity its
// labels declare.
type Observed struct {
	engine.Container
	Identity plan.Identity
}

// Launcher starts, adopts, lists and removes the function containers of one
// brand and env.
type Launcher struct {
	rt    engine.Runtime
	cfg   Config
	opts  Options
	pulls singleflight.Group
}

// New returns a Launcher over rt.
func New(rt engine.Runtime, cfg Config, opts Options) *Launcher {
	if opts.Dial == nil {
		var d net.Dialer
		opts.Dial = d.DialContext
	}
	if opts.Port == 0 {
		opts.Port = agentapi.RIEPort
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Launcher{rt: rt, cfg: cfg, opts: opts}
}

// Identity is what a container started from spec will run.
func (l *Launcher) Identity(spec agentapi.FunctionSpec) plan.Identity {
	return l.containerConfig(spec).identity
}

// Start creates a container for spec and returns once its RIE accepts
// connections. On failure nothing is left behind. A container that does not
// become ready within the start timeout yields an error matching
// ErrStartTimeout that quotes its last log lines.
func (l *Launcher) Start(ctx context.Context, spec agentapi.FunctionSpec) (Instance, error) {
	if spec.Name == "" || spec.Function.Image == "" {
		return Instance{}, fmt.Errorf("function %q: %w: name and image are required", spec.Name, ErrInvalidSpec)
	}
	cc := l.containerConfig(spec)
	ref, err := l.ensureImage(ctx, spec.Function.Image, spec.Function.Digest)
	if err != nil {
		return Instance{}, fmt.Errorf("function %s: %w", spec.Name, err)
	}
	name := fmt.Sprintf("%s-%s-fn-%s-%s", l.cfg.Brand, l.cfg.Env, containerName(spec.Name), randomHex(4))
	env := append(slices.Clip(cc.env), "AWS_LAMBDA_LOG_STREAM_NAME="+l.logStream())
	labels := cc.labels
	var secret string
	if api := l.cfg.Platform.RuntimeAPI; api != "" {
		// Each container its own secret, as the path of its Runtime API:
		// every call of an unmodified runtime client carries it, and the
		// gateway serves the container's session to nothing else.
		secret = randomHex(16)
		env = append(env, "AWS_LAMBDA_RUNTIME_API="+api+"/"+secret)
		labels = maps.Clone(labels)
		labels[agentapi.LabelRuntimeSecret] = secret
	}
	id, err := l.rt.Create(ctx, engine.Spec{
		Name:        name,
		Image:       ref,
		Cmd:         cc.cmd,
		Env:         env,
		Labels:      labels,
		MemoryBytes: int64(cc.memoryMB) << 20,
		Sandbox:     cc.sandbox,
	})
	if err != nil {
		// The engine may have created it even so (the answer was lost to
		// a cancelled context); the name is all there is to find it by.
		l.cleanup(ctx, name)
		return Instance{}, fmt.Errorf("function %s: %w", spec.Name, err)
	}
	err = l.rt.Start(ctx, id)
	var inst Instance
	if err == nil {
		inst, err = l.ready(ctx, id, name, cc.identity, time.Time{})
		inst.RuntimeSecret = secret
	}
	if err != nil {
		l.cleanup(ctx, id)
		return Instance{}, fmt.Errorf("function %s: %w", spec.Name, err)
	}
	inst.Image = ref
	return inst, nil
}

// Adopt takes over a running container found in the runtime: it follows
// its logs from now on and checks that its RIE still accepts.
func (l *Launcher) Adopt(ctx context.Context, o Observed) (Instance, error) {
	inst, err := l.ready(ctx, o.ID, o.Name, o.Identity, l.opts.Now())
	if err != nil {
		return Instance{}, fmt.Errorf("adopt container %s: %w", o.Name, err)
	}
	inst.Image = o.Image
	inst.RuntimeSecret = o.Labels[agentapi.LabelRuntimeSecret]
	return inst, nil
}

// Remove removes container id and forgets its log lines. A container whose
// logs are followed is stopped first and its log stream read to the end:
// removing a running container can cut the stream before its last lines,
// and before a follower that has not attached yet (a busy engine) reads
// anything at all, while a stopped container still hands over everything
// it printed.
func (l *Launcher) Remove(ctx context.Context, id string) error {
	if l.opts.Logs != nil {
		l.drainLogs(ctx, id)
	}
	err := l.rt.Remove(ctx, id)
	if l.opts.Logs != nil {
		l.opts.Logs.Forget(id)
	}
	return err
}

// List returns every container of this brand and env, in any state.
func (l *Launcher) List(ctx context.Context) ([]Observed, error) {
	found, err := l.rt.List(ctx, map[string]string{
		agentapi.LabelManaged: "true",
		agentapi.LabelBrand:   l.cfg.Brand,
		agentapi.LabelEnv:     l.cfg.Env,
	})
	if err != nil {
		return nil, err
	}
	out := make([]Observed, 0, len(found))
	for _, c := range found {
		out = append(out, Observed{Container: c, Identity: plan.Identity{
			Function: c.Labels[agentapi.LabelFunction],
			Digest:   c.Labels[agentapi.LabelDigest],
			Config:   c.Labels[agentapi.LabelConfig],
		}})
	}
	return out, nil
}

// ready follows the logs of running container id from since (zero: from
// its start) and waits for its RIE.
func (l *Launcher) ready(ctx context.Context, id, name string, ident plan.Identity, since time.Time) (Instance, error) {
	var exited <-chan struct{}
	if l.opts.Logs != nil {
		exited = l.opts.Logs.Follow(id, fnlogs.Source{Function: ident.Function, Container: name}, since)
	}
	ip, err := l.rt.Address(ctx, id)
	addr := net.JoinHostPort(ip, strconv.Itoa(l.opts.Port))
	if err != nil && ctx.Err() == nil {
		// A running container has an address; one that crashed at once
		// has none, and deserves its last lines like a slow one.
		err = fmt.Errorf("%w: exited before RIE accepted: %w", ErrStartTimeout, err)
	}
	if err == nil && l.cfg.Platform.RuntimeAPI == "" {
		err = l.waitReady(ctx, id, addr, exited)
	}
	if err != nil {
		if errors.Is(err, ErrStartTimeout) {
			return Instance{}, fmt.Errorf("container %s: %w%s", name, err, l.lastLines(ctx, id))
		}
		return Instance{}, fmt.Errorf("container %s: %w", name, err)
	}
	return Instance{ID: id, Name: name, Endpoint: "http://" + addr, Identity: ident, Exited: exited}, nil
}

// WaitExit returns once inst has exited, with its last output lines, or
// with ctx's error. A log stream can also end because the logs could not be
// read; a container that still has its address then runs on, and nothing
// more can be known of it: WaitExit waits for ctx.
// PeakMemory returns the most memory inst's processes used at once, in
// bytes, or an error wrapping engine.ErrNoMetric when the engine does not
// tell.
func (l *Launcher) PeakMemory(ctx context.Context, inst Instance) (int64, error) {
	return l.rt.PeakMemory(ctx, inst.ID)
}

func (l *Launcher) WaitExit(ctx context.Context, inst Instance) ([]string, error) {
	select {
	case <-inst.Exited:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if _, err := l.rt.Address(ctx, inst.ID); err == nil {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	return l.opts.Logs.Tail(inst.ID), nil
}

// waitReady dials addr with backoff until it accepts, the start timeout
// passes, or the container exits. The log stream ending is the cheap exit
// signal; it is confirmed by the container having lost its address, since
// a stream can also end because the log driver cannot be read.
func (l *Launcher) waitReady(ctx context.Context, id, addr string, exited <-chan struct{}) error {
	wait, cancel := context.WithTimeout(ctx, l.cfg.StartTimeout)
	defer cancel()
	delay := 10 * time.Millisecond
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-wait.Done():
			return fmt.Errorf("%w: RIE did not accept on %s within %s", ErrStartTimeout, addr, l.cfg.StartTimeout)
		case <-exited:
			exited = nil
			if _, err := l.rt.Address(wait, id); err != nil {
				return fmt.Errorf("%w: exited before RIE accepted on %s", ErrStartTimeout, addr)
			}
		case <-timer.C:
			conn, err := l.opts.Dial(wait, "tcp", addr)
			if err == nil {
				return conn.Close()
			}
			timer.Reset(delay)
			delay = min(delay*2, 250*time.Millisecond)
		}
	}
}

// drainLogs stops a followed container and waits, within logDrainTimeout
// and even when ctx is done (the lines matter most then), for its log
// stream to end: lines printed just before the stop would otherwise still
// be in flight.
func (l *Launcher) drainLogs(ctx context.Context, id string) {
	done := l.opts.Logs.Done(id)
	if done == nil {
		return
	}
	select {
	case <-done:
		return
	default:
	}
	wait, cancel := context.WithTimeout(context.WithoutCancel(ctx), logDrainTimeout)
	defer cancel()
	if err := l.rt.Stop(wait, id, 0); err != nil && !errors.Is(err, engine.ErrNotFound) {
		l.opts.Logger.Warn("stop container for its last log lines", "container", id, "error", err)
	}
	select {
	case <-done:
	case <-wait.Done():
	}
}

// lastLines stops the container so its log stream drains, then quotes what
// it printed.
func (l *Launcher) lastLines(ctx context.Context, id string) string {
	if l.opts.Logs == nil {
		return ""
	}
	l.drainLogs(ctx, id)
	lines := l.opts.Logs.Tail(id)
	if len(lines) == 0 {
		return "; it printed nothing"
	}
	return "; last log lines:\n" + strings.Join(lines, "\n")
}

// cleanup removes a container (by ID or name) whose start failed, even
// when ctx is done: a cancelled start must not leave a container nobody
// tracks.
func (l *Launcher) cleanup(ctx context.Context, id string) {
	rmCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	defer cancel()
	if err := l.Remove(rmCtx, id); err != nil {
		l.opts.Logger.Error("remove container after failed start", "container", id, "error", err)
	}
}

// logStream names the container's log stream the way Lambda does:
// date/[version]instance.
func (l *Launcher) logStream() string {
	return l.opts.Now().UTC().Format("2006/01/02") + "/[$LATEST]" + randomHex(16)
}

// containerName keeps a function name usable in a container name, which
// allows [a-zA-Z0-9_.-].
func containerName(fn string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '_', r == '.', r == '-':
			return r
		}
		return '-'
	}, fn)
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	return hex.EncodeToString(b)
}
