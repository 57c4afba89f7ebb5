package launcher

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"regexp"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/esb-dev/esb/internal/agentapi"
	"github.com/esb-dev/esb/internal/awsid"
	"github.com/esb-dev/esb/internal/runtimeconfig"
	"github.com/esb-dev/esb/services/agent/engine"
	"github.com/esb-dev/esb/services/agent/engine/enginetest"
	"github.com/esb-dev/esb/services/agent/fnlogs"
	"github.com/esb-dev/esb/services/agent/sandbox"
)

const image = "127.0.0.1:5010/esb-dev/hello:latest"

func digestOf(s string) string {
	h := sha256.Sum256([]byte(s))
	return "sha256:" + hex.EncodeToString(h[:])
}

var platform = Platform{
	Region:           "eu-west-1",
	KeyRootSecret:    "esb-local-secret",
	S3Endpoint:       "http://s3-storage:7070",
	DynamoDBEndpoint: "http://database:8000",
	SQSEndpoint:      "http://messaging:4566",
	SNSEndpoint:      "http://messaging:4566",
}

func newLauncher(fake *enginetest.Fake, policy PullPolicy, opts Options) *Launcher {
	opts.Dial = fake.Dial
	return New(fake, Config{Brand: "esb", Env: "dev", PullPolicy: policy, StartTimeout: 5 * time.Second, Platform: platform}, opts)
}

func helloSpec(dgst string) agentapi.FunctionSpec {
	return agentapi.FunctionSpec{Name: "HelloFunction", Function: runtimeconfig.Function{
		Image:      image,
		Digest:     dgst,
		Handler:    "lambda_function.handler",
		Timeout:    7,
		MemorySize: 256,
		Environment: map[string]string{
			"TABLE":                    "items",
			"AWS_REGION":               "ap-northeast-1", // function values win over platform ones
			"AWS_LAMBDA_FUNCTION_NAME": "spoofed",        // but not over reserved ones
			"_HANDLER":                 "spoofed",
			"AWS_SECRET_ACCESS_KEY":    "spoofed",
		},
	}}
}

func TestPullPolicy(t *testing.T) {
	d1 := digestOf("v1")
	pinnedRef := "127.0.0.1:5010/esb-dev/hello@" + d1
	tests := []struct {
		name      string
		policy    PullPolicy
		digest    string
		present   map[string]string // ref -> image ID
		pullErr   error
		wantPulls []string
		wantImage string
		wantErr   error
	}{
		{
			name:      "if-not-present: present tag is not pulled",
			policy:    PullIfNotPresent,
			present:   map[string]string{image: "sha256:old"},
			wantImage: image,
		},
		{
			name:      "if-not-present: missing tag is pulled",
			policy:    PullIfNotPresent,
			wantPulls: []string{image},
			wantImage: image,
		},
		{
			name:      "always: present tag is pulled anyway",
			policy:    PullAlways,
			present:   map[string]string{image: "sha256:old"},
			wantPulls: []string{image},
			wantImage: image,
		},
		{
			name:      "if-not-present: digest runs repo@digest, pulled when missing",
			policy:    PullIfNotPresent,
			digest:    d1,
			present:   map[string]string{image: "sha256:old"},
			wantPulls: []string{pinnedRef},
			wantImage: pinnedRef,
		},
		{
			name:      "if-not-present: digest present is not pulled",
			policy:    PullIfNotPresent,
			digest:    d1,
			present:   map[string]string{pinnedRef: "sha256:x"},
			wantImage: pinnedRef,
		},
		{
			name:      "always: a digest present is not pulled again (it cannot move)",
			policy:    PullAlways,
			digest:    d1,
			present:   map[string]string{pinnedRef: "sha256:x"},
			wantImage: pinnedRef,
		},
		{
			name:      "always: a digest missing is pulled",
			policy:    PullAlways,
			digest:    d1,
			present:   map[string]string{image: "sha256:old"},
			wantPulls: []string{pinnedRef},
			wantImage: pinnedRef,
		},
		{
			name:      "if-not-present: a digest that is a local image ID runs that image",
			policy:    PullIfNotPresent,
			digest:    d1,
			present:   map[string]string{image: d1},
			wantImage: d1,
		},
		{
			name:      "pull failure",
			policy:    PullIfNotPresent,
			pullErr:   errors.New("manifest unknown"),
			wantPulls: []string{image},
			wantErr:   ErrImagePull,
		},
		{
			name:    "malformed digest",
			policy:  PullIfNotPresent,
			digest:  "sha256:nothex",
			wantErr: ErrInvalidSpec,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := enginetest.New()
			for ref, id := range tt.present {
				fake.AddImage(ref, id)
			}
			fake.PullErr = func(string) error { return tt.pullErr }
			l := newLauncher(fake, tt.policy, Options{})

			inst, err := l.Start(t.Context(), helloSpec(tt.digest))
			assert.Equal(t, tt.wantPulls, fake.Pulls())
			if tt.wantErr != nil {
				require.ErrorIs(t, err, tt.wantErr)
				assert.Empty(t, fake.Creates())
				return
			}
			require.NoError(t, err)
			spec, ok := fake.Spec(inst.ID)
			require.True(t, ok)
			assert.Equal(t, tt.wantImage, spec.Image)
		})
	}
}

func TestContainerConfig(t *testing.T) {
	fake := enginetest.New()
	now := time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)
	l := newLauncher(fake, PullIfNotPresent, Options{Now: func() time.Time { return now }})
	d := digestOf("v1")
	inst, err := l.Start(t.Context(), helloSpec(d))
	require.NoError(t, err)
	spec, ok := fake.Spec(inst.ID)
	require.True(t, ok)

	env := map[string]string{}
	for _, k := range []string{
		"AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "AWS_LAMBDA_FUNCTION_TIMEOUT",
		"AWS_LAMBDA_FUNCTION_VERSION", "AWS_LAMBDA_LOG_GROUP_NAME", "AWS_REGION", "AWS_DEFAULT_REGION",
		"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL_DYNAMODB",
		"AWS_ENDPOINT_URL_SQS", "AWS_ENDPOINT_URL_SNS", "_HANDLER", "TABLE",
	} {
		v, ok := enginetest.Env(spec, k)
		require.True(t, ok, k)
		env[k] = v
	}
	assert.Equal(t, map[string]string{
		"AWS_LAMBDA_FUNCTION_NAME":        "HelloFunction",
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
		"AWS_LAMBDA_FUNCTION_TIMEOUT":     "7",
		"AWS_LAMBDA_FUNCTION_VERSION":     "$LATEST",
		"AWS_LAMBDA_LOG_GROUP_NAME":       "/aws/lambda/HelloFunction",
		"AWS_REGION":                      "ap-northeast-1",
		"AWS_DEFAULT_REGION":              "eu-west-1",
		// The function's own pair, derived from the root secret, never the root key.
		"AWS_ACCESS_KEY_ID":         awsid.FunctionKey("esb-local-secret", "HelloFunction").AccessKeyID,
		"AWS_SECRET_ACCESS_KEY":     awsid.FunctionKey("esb-local-secret", "HelloFunction").SecretAccessKey,
		"AWS_ENDPOINT_URL_S3":       "http://s3-storage:7070",
		"AWS_ENDPOINT_URL_DYNAMODB": "http://database:8000",
		"AWS_ENDPOINT_URL_SQS":      "http://messaging:4566",
		"AWS_ENDPOINT_URL_SNS":      "http://messaging:4566",
		"_HANDLER":                  "lambda_function.handler",
		"TABLE":                     "items",
	}, env)
	stream, ok := enginetest.Env(spec, "AWS_LAMBDA_LOG_STREAM_NAME")
	require.True(t, ok)
	assert.Regexp(t, `^2025/03/04/\[\$LATEST\][0-9a-f]{32}$`, stream)

	assert.Equal(t, []string{"lambda_function.handler"}, spec.Cmd)
	assert.Equal(t, int64(256)<<20, spec.MemoryBytes)
	assert.Regexp(t, regexp.MustCompile(`^esb-dev-fn-HelloFunction-[0-9a-f]{8}$`), spec.Name)
	assert.Equal(t, map[string]string{
		agentapi.LabelManaged:  "true",
		agentapi.LabelBrand:    "esb",
		agentapi.LabelEnv:      "dev",
		agentapi.LabelFunction: "HelloFunction",
		agentapi.LabelDigest:   d,
		agentapi.LabelConfig:   inst.Identity.Config,
	}, spec.Labels)
	assert.Equal(t, inst.Identity, l.Identity(helloSpec(d)))
	assert.Equal(t, spec.Name, inst.Name)
	assert.Regexp(t, `^http://10\.88\.\d+\.\d+:8080$`, inst.Endpoint)
}

func TestIdentity(t *testing.T) {
	l := newLauncher(enginetest.New(), PullIfNotPresent, Options{})
	base := helloSpec(digestOf("v1"))
	tests := []struct {
		name   string
		change func(s *agentapi.FunctionSpec)
		same   bool
	}{
		{name: "unchanged", change: func(*agentapi.FunctionSpec) {}, same: true},
		{name: "scaling does not matter", change: func(s *agentapi.FunctionSpec) { s.Function.Scaling.MinWarm = 3 }, same: true},
		{name: "reserved env is ignored", change: func(s *agentapi.FunctionSpec) { s.Function.Environment["AWS_LAMBDA_X"] = "y" }, same: true},
		{name: "digest", change: func(s *agentapi.FunctionSpec) { s.Function.Digest = digestOf("v2") }},
		{name: "environment", change: func(s *agentapi.FunctionSpec) { s.Function.Environment["TABLE"] = "other" }},
		{name: "handler", change: func(s *agentapi.FunctionSpec) { s.Function.Handler = "app.other" }},
		{name: "memory", change: func(s *agentapi.FunctionSpec) { s.Function.MemorySize = 512 }},
		{name: "timeout", change: func(s *agentapi.FunctionSpec) { s.Function.Timeout = 30 }},
		{name: "image", change: func(s *agentapi.FunctionSpec) { s.Function.Image = "127.0.0.1:5010/esb-dev/hello:v2" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := helloSpec(digestOf("v1"))
			tt.change(&s)
			if tt.same {
				assert.Equal(t, l.Identity(base), l.Identity(s))
			} else {
				assert.NotEqual(t, l.Identity(base), l.Identity(s))
			}
		})
	}
}

func TestStartFailures(t *testing.T) {
	tests := []struct {
		name     string
		setup    func(f *enginetest.Fake)
		wantErr  error
		contains []string
	}{
		{
			name: "RIE never accepts",
			setup: func(f *enginetest.Fake) {
				f.NotReady = func(engine.Spec) bool { return true }
				f.Output = func(engine.Spec) []string {
					return []string{"booting", "Runtime.ImportModuleError: no module named app"}
				}
			},
			wantErr:  ErrStartTimeout,
			contains: []string{"did not accept", "last log lines:\nbooting\nRuntime.ImportModuleError: no module named app"},
		},
		{
			name: "container exits during start",
			setup: func(f *enginetest.Fake) {
				f.ExitOnStart = func(engine.Spec) bool { return true }
				f.Output = func(engine.Spec) []string { return []string{"panic: boom"} }
			},
			wantErr:  ErrStartTimeout,
			contains: []string{"exited before RIE accepted", "panic: boom"},
		},
		{
			name:     "invalid spec",
			setup:    func(*enginetest.Fake) {},
			wantErr:  ErrInvalidSpec,
			contains: []string{"name and image are required"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := enginetest.New()
			tt.setup(fake)
			logs := fnlogs.New(t.Context(), fake, fnlogs.Options{})
			l := New(fake, Config{Brand: "esb", Env: "dev", PullPolicy: PullIfNotPresent, StartTimeout: 200 * time.Millisecond, Platform: platform},
				Options{Dial: fake.Dial, Logs: logs})
			spec := helloSpec("")
			if errors.Is(tt.wantErr, ErrInvalidSpec) {
				spec.Function.Image = ""
			}
			_, err := l.Start(t.Context(), spec)
			require.ErrorIs(t, err, tt.wantErr)
			for _, s := range tt.contains {
				assert.ErrorContains(t, err, s)
			}
			assert.Empty(t, fake.Running(), "a failed start leaves nothing behind")
			assert.Len(t, fake.Removed(), len(fake.Creates()))
		})
	}
}

func TestParsePullPolicy(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    PullPolicy
		wantErr bool
	}{
		{name: "if-not-present", in: "if-not-present", want: PullIfNotPresent},
		{name: "always", in: "always", want: PullAlways},
		{name: "kubernetes spelling is rejected", in: "IfNotPresent", wantErr: true},
		{name: "empty is rejected", in: "", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParsePullPolicy(tt.in)
			if tt.wantErr {
				require.Error(t, err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

// With the gateway's Runtime API, a container is not waited for (no RIE
// listens in it; the gateway waits for the runtime's first poll), its
// runtime learns where the API is, and its exit is reported with its
// last lines.
func TestRuntimeAPIMode(t *testing.T) {
	fake := enginetest.New()
	fake.NotReady = func(engine.Spec) bool { return true }
	fake.Output = func(engine.Spec) []string { return []string{"importing", "exiting"} }
	logs := fnlogs.New(t.Context(), fake, fnlogs.Options{})
	p := platform
	p.RuntimeAPI = "gateway:9001"
	l := New(fake, Config{Brand: "esb", Env: "dev", PullPolicy: PullIfNotPresent, StartTimeout: 200 * time.Millisecond, Platform: p},
		Options{Dial: fake.Dial, Logs: logs})
	inst, err := l.Start(t.Context(), helloSpec(""))
	require.NoError(t, err, "a runtime that talks to the gateway is not dialed")
	spec, ok := fake.Spec(inst.ID)
	require.True(t, ok)
	require.Len(t, inst.RuntimeSecret, 32, "each container gets its own Runtime API secret")
	assert.Contains(t, spec.Env, "AWS_LAMBDA_RUNTIME_API=gateway:9001/"+inst.RuntimeSecret)
	assert.Equal(t, inst.RuntimeSecret, spec.Labels[agentapi.LabelRuntimeSecret], "kept for an agent that adopts it")
	other, err := l.Start(t.Context(), helloSpec(""))
	require.NoError(t, err)
	assert.NotEqual(t, inst.RuntimeSecret, other.RuntimeSecret)
	assert.Equal(t, inst.Identity.Config, other.Identity.Config, "the secret does not make two containers of a function differ")
	found, err := l.List(t.Context())
	require.NoError(t, err)
	seen := false
	for _, o := range found {
		if o.ID == other.ID {
			seen = true
			adopted, err := l.Adopt(t.Context(), o)
			require.NoError(t, err)
			assert.Equal(t, other.RuntimeSecret, adopted.RuntimeSecret, "an adopted container keeps its secret")
		}
	}
	assert.True(t, seen, "the runtime lists the container")
	assert.NotEqual(t, newLauncher(fake, PullIfNotPresent, Options{}).Identity(helloSpec("")).Config, inst.Identity.Config,
		"switching modes retires the containers of the other")

	exited := make(chan []string, 1)
	go func() {
		lines, err := l.WaitExit(t.Context(), inst)
		assert.NoError(t, err)
		exited <- lines
	}()
	select {
	case <-exited:
		t.Fatal("WaitExit returned while the container runs")
	case <-time.After(50 * time.Millisecond):
	}
	fake.Exit(inst.ID)
	select {
	case lines := <-exited:
		assert.Equal(t, []string{"importing", "exiting"}, lines)
	case <-time.After(5 * time.Second):
		t.Fatal("no exit reported")
	}
}

// sinkFunc ships log entries to a function.
type sinkFunc func(map[string]any)

func (f sinkFunc) Send(e map[string]any) { f(e) }

// A container removed before its log follower attached (a busy engine
// answers the logs request late) still has its output shipped: Remove
// stops it and reads the stream to its end first.
func TestRemoveKeepsTheOutput(t *testing.T) {
	fake := enginetest.New()
	fake.Output = func(engine.Spec) []string { return []string{"booted", "last words"} }
	fake.FollowGate = make(chan struct{})
	shipped := make(chan any, 16)
	logs := fnlogs.New(t.Context(), fake, fnlogs.Options{Sink: sinkFunc(func(e map[string]any) { shipped <- e["message"] })})
	l := newLauncher(fake, PullIfNotPresent, Options{Logs: logs})
	inst, err := l.Start(t.Context(), helloSpec(""))
	require.NoError(t, err)

	removed := make(chan error, 1)
	go func() { removed <- l.Remove(t.Context(), inst.ID) }()
	time.Sleep(50 * time.Millisecond)
	close(fake.FollowGate) // the follower attaches only now
	select {
	case err := <-removed:
		require.NoError(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("Remove did not return")
	}
	close(shipped) // Remove returned: the stream has ended, nothing more comes
	var got []any
	for m := range shipped {
		got = append(got, m)
	}
	assert.Equal(t, []any{"booted", "last words"}, got)
	assert.Contains(t, fake.Removed(), inst.ID)
}

func TestSandbox(t *testing.T) {
	fake := enginetest.New()
	fake.NotReady = func(engine.Spec) bool { return true }
	p := platform
	p.RuntimeAPI = "gateway:9001"
	p.DynamoDBEndpoint = "https://dynamodb.example"
	p.LambdaEndpoint = "http://gateway:8080"
	newSealed := func(egress bool) *Launcher {
		return New(fake, Config{Brand: "esb", Env: "dev", PullPolicy: PullIfNotPresent, StartTimeout: 200 * time.Millisecond, Platform: p,
			Sandbox: &Sandbox{Egress: egress}}, Options{Dial: fake.Dial})
	}
	l := newSealed(true)
	inst, err := l.Start(t.Context(), helloSpec(""))
	require.NoError(t, err)
	spec, ok := fake.Spec(inst.ID)
	require.True(t, ok)
	require.NotNil(t, spec.Sandbox)
	assert.Equal(t, sandbox.Policy{
		UID: sandbox.LambdaUID, GID: sandbox.LambdaGID,
		Allow:  []string{"gateway:9001", "s3-storage:7070", "dynamodb.example:443", "messaging:4566", "gateway:8080"},
		Egress: true,
	}, spec.Sandbox.Policy)
	assert.Equal(t, int64(512<<20), spec.Sandbox.TmpBytes)
	assert.Equal(t, int64(1024), spec.Sandbox.Pids)
	assert.Equal(t, uint64(256*1024/1769), spec.Sandbox.CPUShares, "CPU weight follows memory as on Lambda")

	big := helloSpec("")
	big.Function.MemorySize = 1769
	assert.Equal(t, uint64(1024), l.containerConfig(big).sandbox.CPUShares, "1,769 MB is one vCPU")
	big.Function.EphemeralStorage = 2048
	assert.Equal(t, int64(2048<<20), l.containerConfig(big).sandbox.TmpBytes, "EphemeralStorage sizes /tmp")
	small := helloSpec("")
	small.Function.MemorySize = 1
	assert.Equal(t, uint64(2), l.containerConfig(small).sandbox.CPUShares, "Docker's minimum weight")

	unsealed := New(fake, Config{Brand: "esb", Env: "dev", PullPolicy: PullIfNotPresent, Platform: p}, Options{Dial: fake.Dial})
	assert.Nil(t, unsealed.containerConfig(helloSpec("")).sandbox)
	assert.NotEqual(t, unsealed.Identity(helloSpec("")).Config, l.Identity(helloSpec("")).Config,
		"an agent that starts sealing retires the unsealed containers it adopts")
	assert.NotEqual(t, newSealed(false).Identity(helloSpec("")).Config, l.Identity(helloSpec("")).Config,
		"changing egress retires the containers of the other setting")
}
