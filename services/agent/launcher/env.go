package launcher

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"maps"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/esb-dev/esb/internal/agentapi"
	"github.com/esb-dev/esb/internal/awsid"
	"github.com/esb-dev/esb/services/agent/engine"
	"github.com/esb-dev/esb/services/agent/plan"
	"github.com/esb-dev/esb/services/agent/sandbox"
)

// Lambda defaults, for a spec that arrives without them.
const (
	defaultMemoryMB   = 128
	defaultTimeoutSec = 3
	// Lambda's default ephemeral storage (/tmp), 512 MB.
	defaultTmpBytes = 512 << 20
	// Lambda's limit on processes and threads of one execution environment.
	pidsLimit = 1024
	// Lambda gives one vCPU per 1,769 MB of memory: CPU weight follows
	// memory on the same scale, 1024 shares being one full CPU's weight.
	mbPerVCPU = 1769
)

// containerConfig is the part of a container that follows from the spec
// alone; per-container values (name, log stream) are added at create.
type containerConfig struct {
	env      []string
	cmd      []string
	memoryMB int
	sandbox  *engine.Sandbox
	labels   map[string]string
	identity plan.Identity
}

// containerConfig builds the Lambda environment: platform values first,
// then the function's own environment, which wins except for names Lambda
// reserves (AWS_LAMBDA_*, _HANDLER, the credentials): those always come
// from the platform and the spec's own fields.
func (l *Launcher) containerConfig(spec agentapi.FunctionSpec) containerConfig {
	fn := spec.Function
	memory := fn.MemorySize
	if memory <= 0 {
		memory = defaultMemoryMB
	}
	timeout := fn.Timeout
	if timeout <= 0 {
		timeout = defaultTimeoutSec
	}
	p := l.cfg.Platform
	key := awsid.FunctionKey(p.KeyRootSecret, spec.Name)
	env := map[string]string{
		"AWS_REGION":                p.Region,
		"AWS_DEFAULT_REGION":        p.Region,
		"AWS_ACCESS_KEY_ID":         key.AccessKeyID,
		"AWS_SECRET_ACCESS_KEY":     key.SecretAccessKey,
		"AWS_ENDPOINT_URL_S3":       p.S3Endpoint,
		"AWS_ENDPOINT_URL_DYNAMODB": p.DynamoDBEndpoint,
		"AWS_ENDPOINT_URL_SQS":      p.SQSEndpoint,
		"AWS_ENDPOINT_URL_SNS":      p.SNSEndpoint,
	}
	if p.LambdaEndpoint != "" {
		env["AWS_ENDPOINT_URL_LAMBDA"] = p.LambdaEndpoint
	}
	for k, v := range fn.Environment {
		if !reserved(k) {
			env[k] = v
		}
	}
	env["AWS_LAMBDA_FUNCTION_NAME"] = spec.Name
	env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] = strconv.Itoa(memory)
	env["AWS_LAMBDA_FUNCTION_TIMEOUT"] = strconv.Itoa(timeout)
	env["AWS_LAMBDA_FUNCTION_VERSION"] = "$LATEST"
	env["AWS_LAMBDA_LOG_GROUP_NAME"] = "/aws/lambda/" + spec.Name
	// AWS_LAMBDA_RUNTIME_API is per container (its secret): Start adds it.
	var cmd []string
	if fn.Handler != "" {
		env["_HANDLER"] = fn.Handler
		cmd = []string{fn.Handler}
	}
	list := make([]string, 0, len(env))
	for _, k := range slices.Sorted(maps.Keys(env)) {
		list = append(list, k+"="+env[k])
	}

	sb := l.sandbox(memory, fn.EphemeralStorage)
	// The hash covers everything that makes two containers of a function
	// behave differently; the sorted env keeps it stable across map order.
	// The sandbox is in it so an agent that seals differently (an upgrade
	// from none, another egress) replaces the containers it adopts; the
	// Runtime API too (its per-container secret is not), so switching
	// modes, or from an agent that gave no secrets, replaces them as well.
	sum, _ := json.Marshal(struct { // strings, ints and slices always marshal
		Image, Digest string
		Cmd, Env      []string
		Memory        int
		Sandbox       *engine.Sandbox `json:",omitempty"`
		RuntimeAPI    string
	}{fn.Image, fn.Digest, cmd, list, memory, sb, p.RuntimeAPI + "/<secret>"})
	h := sha256.Sum256(sum)
	ident := plan.Identity{Function: spec.Name, Digest: fn.Digest, Config: hex.EncodeToString(h[:16])}

	return containerConfig{
		env:      list,
		cmd:      cmd,
		memoryMB: memory,
		sandbox:  sb,
		identity: ident,
		labels: map[string]string{
			agentapi.LabelManaged:  "true",
			agentapi.LabelBrand:    l.cfg.Brand,
			agentapi.LabelEnv:      l.cfg.Env,
			agentapi.LabelFunction: spec.Name,
			agentapi.LabelDigest:   fn.Digest,
			agentapi.LabelConfig:   ident.Config,
		},
	}
}

// sandbox is the seal of a container with memoryMB of memory and a /tmp of
// tmpMB (0: Lambda's default): it may reach
// the gateway's Runtime API and Invoke API (AWS_ENDPOINT_URL_LAMBDA) and the
// data endpoints (S3, DynamoDB, SQS, SNS), nothing else of the env.
func (l *Launcher) sandbox(memoryMB, tmpMB int) *engine.Sandbox {
	if l.cfg.Sandbox == nil {
		return nil
	}
	tmpBytes := int64(defaultTmpBytes)
	if tmpMB > 0 {
		tmpBytes = int64(tmpMB) << 20
	}
	p := l.cfg.Platform
	var allow []string
	if p.RuntimeAPI != "" {
		allow = append(allow, p.RuntimeAPI)
	}
	for _, endpoint := range []string{p.S3Endpoint, p.DynamoDBEndpoint, p.SQSEndpoint, p.SNSEndpoint, p.LambdaEndpoint} {
		if hp := endpointHostPort(endpoint); hp != "" && !slices.Contains(allow, hp) {
			allow = append(allow, hp)
		}
	}
	return &engine.Sandbox{
		Policy:    sandbox.Policy{UID: sandbox.LambdaUID, GID: sandbox.LambdaGID, Allow: allow, Egress: l.cfg.Sandbox.Egress},
		TmpBytes:  tmpBytes,
		Pids:      pidsLimit,
		CPUShares: uint64(max(2, memoryMB*1024/mbPerVCPU)),
	}
}

// endpointHostPort is the host:port an endpoint URL is served on; empty
// when it has no host.
func endpointHostPort(endpoint string) string {
	u, err := url.Parse(endpoint)
	if err != nil || u.Hostname() == "" {
		return ""
	}
	port := u.Port()
	if port == "" {
		port = "80"
		if u.Scheme == "https" {
			port = "443"
		}
	}
	return net.JoinHostPort(u.Hostname(), port)
}

// reserved names are set by the platform alone. The credentials are among
// them: the SAM parser already refuses them in a template, and a
// functions.yml written by hand must not hand a function other keys.
func reserved(name string) bool {
	switch name {
	case "_HANDLER", "AWS_ACCESS_KEY", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN":
		return true
	}
	return strings.HasPrefix(name, "AWS_LAMBDA_")
}
