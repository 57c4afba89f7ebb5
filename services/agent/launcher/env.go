package launcher

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/esb-dev/esb/internal/agentapi"
	"github.com/esb-dev/esb/services/agent/plan"
)

// Lambda defaults, for a spec that arrives without them.
const (
	defaultMemoryMB   = 128
	defaultTimeoutSec = 3
)

// containerConfig is the part of a container that follows from the spec
// alone; per-container values (name, log stream) are added at create.
type containerConfig struct {
	env      []string
	cmd      []string
	memoryMB int
	labels   map[string]string
	identity plan.Identity
}

// containerConfig builds the Lambda environment: platform values first,
// then the function's own environment, which wins except for names Lambda
// reserves (AWS_LAMBDA_*, _HANDLER): those always describe the function
// as the spec defines it.
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
	env := map[string]string{
		"AWS_REGION":                p.Region,
		"AWS_DEFAULT_REGION":        p.Region,
		"AWS_ACCESS_KEY_ID":         p.AccessKeyID,
		"AWS_SECRET_ACCESS_KEY":     p.SecretAccessKey,
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
	if p.RuntimeAPI != "" {
		env["AWS_LAMBDA_RUNTIME_API"] = p.RuntimeAPI
	}
	var cmd []string
	if fn.Handler != "" {
		env["_HANDLER"] = fn.Handler
		cmd = []string{fn.Handler}
	}
	list := make([]string, 0, len(env))
	for _, k := range slices.Sorted(maps.Keys(env)) {
		list = append(list, k+"="+env[k])
	}

	// The hash covers everything that makes two containers of a function
	// behave differently; the sorted env keeps it stable across map order.
	sum, _ := json.Marshal(struct { // strings and ints always marshal
		Image, Digest string
		Cmd, Env      []string
		Memory        int
	}{fn.Image, fn.Digest, cmd, list, memory})
	h := sha256.Sum256(sum)
	ident := plan.Identity{Function: spec.Name, Digest: fn.Digest, Config: hex.EncodeToString(h[:16])}

	return containerConfig{
		env:      list,
		cmd:      cmd,
		memoryMB: memory,
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

func reserved(name string) bool {
	return strings.HasPrefix(name, "AWS_LAMBDA_") || name == "_HANDLER"
}
