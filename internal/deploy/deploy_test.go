package deploy

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/esb-dev/esb/internal/progress"
	"github.com/esb-dev/esb/internal/runtimeconfig"
	"github.com/esb-dev/esb/internal/sam"
	"github.com/esb-dev/esb/pipeline"
)

// fakeSteps stands in for registry, engine and provisioner. Build does
// what the pipeline's export does: the generated files, with digests, land
// in the output dir.
type fakeSteps struct {
	registryErr  error
	buildErr     error
	provisionErr error
	digest       func(name string) string

	built      bool
	provisions int
	previous   map[string]runtimeconfig.Function
	missing    bool // the registry lost every image
	extraBases []string

	needs     BaseNeeds
	plan      BasePlan                 // what PrepareBases answers
	published []pipeline.PublishedBase // what Build says it published
	kept      []pipeline.PublishedBase

	pullErr error
	pulls   [][]string
	calls   []string // pull and provision, in order
	request pipeline.Request
}

func (f *fakeSteps) PullImages(_ context.Context, refs []string) (string, []string, error) {
	f.pulls = append(f.pulls, refs)
	f.calls = append(f.calls, "pull")
	return fmt.Sprintf("pulled %d images", len(refs)), nil, f.pullErr
}

func (f *fakeSteps) ImageExists(context.Context, string, string) (bool, error) {
	return !f.missing, nil
}

func (f *fakeSteps) WaitRegistry(context.Context) error        { return f.registryErr }
func (f *fakeSteps) PlatformWarnings(context.Context) []string { return nil }
func (f *fakeSteps) PrepareBases(_ context.Context, needs BaseNeeds) (BasePlan, error) {
	f.extraBases = needs.Extra
	f.needs = needs
	plan := f.plan
	plan.Done = "2 base images already in the registry"
	return plan, nil
}
func (f *fakeSteps) KeepBases(_ context.Context, published []pipeline.PublishedBase) (string, []string) {
	f.kept = append(f.kept, published...)
	return fmt.Sprintf("kept %d", len(published)), nil
}
func (f *fakeSteps) Provision(context.Context) (string, error) {
	f.provisions++
	f.calls = append(f.calls, "provision")
	return "summary: 0 created", f.provisionErr
}

func (f *fakeSteps) Build(_ context.Context, req pipeline.Request) (pipeline.Result, error) {
	f.built = true
	f.previous = req.Previous
	f.request = req
	if f.buildErr != nil {
		return pipeline.Result{}, f.buildErr
	}
	cfg := req.Config.Clone()
	var built []pipeline.Built
	for name, fn := range cfg.Functions.Functions {
		d := f.digest(name)
		fn.Digest = d
		cfg.Functions.Functions[name] = fn
		built = append(built, pipeline.Built{Function: name, Image: fn.Image, Digest: d, Changed: req.Previous[name].Digest != d})
	}
	files, err := runtimeconfig.Marshal(cfg)
	if err != nil {
		return pipeline.Result{}, err
	}
	if err := os.MkdirAll(req.Output, 0o755); err != nil {
		return pipeline.Result{}, err
	}
	for _, name := range runtimeconfig.FileNames {
		if err := os.WriteFile(filepath.Join(req.Output, name), files.Get(name), 0o644); err != nil {
			return pipeline.Result{}, err
		}
	}
	return pipeline.Result{Config: cfg, Functions: built, Bases: f.published}, nil
}

func options(t *testing.T, fixture string) Options {
	t.Helper()
	tmpl, err := filepath.Abs(filepath.Join("..", "..", "fixtures", "sam", fixture, "template.yml"))
	require.NoError(t, err)
	root := t.TempDir()
	return Options{
		Template:       tmpl,
		StackName:      "esb-test",
		ConfigDir:      filepath.Join(root, "config"),
		Output:         filepath.Join(root, "out"),
		Registry:       "127.0.0.1:5010",
		Repository:     "esb-test",
		Tag:            "latest",
		CacheNamespace: "esb-test",
		Mode:           "docker",
	}
}

func digestOf(v string) func(string) string {
	return func(name string) string { return "sha256:" + fmt.Sprintf("%064x", len(name)+len(v)) }
}

func readDir(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, name := range runtimeconfig.FileNames {
		data, err := os.ReadFile(filepath.Join(dir, name))
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		require.NoError(t, err)
		out[name] = string(data)
	}
	return out
}

func TestRunDeploysIntoConfigDir(t *testing.T) {
	opts := options(t, "hello-python")
	var events []progress.Event
	opts.Events = progress.SinkFunc(func(e progress.Event) { events = append(events, e) })
	steps := &fakeSteps{digest: digestOf("a")}

	sum, err := Run(t.Context(), opts, steps)
	require.NoError(t, err)

	cfg, err := runtimeconfig.Load(opts.ConfigDir)
	require.NoError(t, err)
	fn := cfg.Functions.Functions["HelloWorldFunction"]
	assert.Equal(t, "127.0.0.1:5010/esb-test/helloworldfunction:latest", fn.Image)
	assert.Equal(t, digestOf("a")("HelloWorldFunction"), fn.Digest)
	assert.Equal(t, []string{"GET /hello"}, sum.Routes["HelloWorldFunction"])
	assert.Equal(t, 1, steps.provisions)
	assert.Len(t, sum.Functions, 1)
	assert.True(t, sum.Functions[0].Changed)
	assert.Contains(t, sum.Warnings[len(sum.Warnings)-1], "no tables, buckets or layers")

	phases := map[string]progress.Status{}
	for _, e := range events {
		if e.Parent == "" {
			phases[e.ID] = e.Status
		}
	}
	assert.Equal(t, map[string]progress.Status{
		"parse": progress.Done, "preflight": progress.Done, "bases": progress.Done, "build": progress.Done,
		"merge": progress.Done, "provision": progress.Done,
	}, phases)

	// A second deploy of the same template hands the served digests to the
	// pipeline, which reports the function unchanged.
	sum, err = Run(t.Context(), opts, steps)
	require.NoError(t, err)
	assert.Equal(t, fn.Digest, steps.previous["HelloWorldFunction"].Digest)
	assert.False(t, sum.Functions[0].Changed)
	assert.Empty(t, sum.Written, "nothing changed on disk")
}

func TestRunFailuresLeaveConfigDirAsItWas(t *testing.T) {
	tests := []struct {
		name      string
		steps     *fakeSteps
		wantErr   string
		wantBuilt bool
	}{
		{
			name:    "registry not ready",
			steps:   &fakeSteps{registryErr: errors.New("registry 127.0.0.1:5010 not ready after 1m0s"), digest: digestOf("b")},
			wantErr: "not ready",
		},
		{
			name:      "pipeline fails",
			steps:     &fakeSteps{buildErr: errors.New("function X: build: exit code 1"), digest: digestOf("b")},
			wantErr:   "exit code 1",
			wantBuilt: true,
		},
		{
			name:      "provisioner fails",
			steps:     &fakeSteps{provisionErr: errors.New("exit status 1"), digest: digestOf("b")},
			wantErr:   "provision: exit status 1",
			wantBuilt: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := options(t, "hello-python")
			// The env already serves another template.
			_, err := Run(t.Context(), options(t, "dynamodb-tables"), &fakeSteps{digest: digestOf("a")})
			require.NoError(t, err)
			first := options(t, "dynamodb-tables")
			_, err = Run(t.Context(), Options{
				Template: first.Template, StackName: "esb-test", ConfigDir: opts.ConfigDir, Output: first.Output,
				Registry: opts.Registry, Repository: opts.Repository, Tag: "latest", Mode: "docker",
			}, &fakeSteps{digest: digestOf("a")})
			require.NoError(t, err)
			before := readDir(t, opts.ConfigDir)
			require.Len(t, before, 3)

			_, err = Run(t.Context(), opts, tt.steps)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.wantErr)
			assert.Equal(t, tt.wantBuilt, tt.steps.built)
			assert.Equal(t, before, readDir(t, opts.ConfigDir))
		})
	}
}

func TestRunTemplateErrorStopsBeforeAnyWork(t *testing.T) {
	opts := options(t, "hello-python")
	bad := filepath.Join(t.TempDir(), "template.yml")
	require.NoError(t, os.WriteFile(bad, []byte("Transform: AWS::Serverless-2016-10-31\nResources:\n  F:\n    Type: AWS::Serverless::Function\n    Properties:\n      Runtime: python2.7\n      Handler: a.b\n      CodeUri: .\n"), 0o644))
	opts.Template = bad
	steps := &fakeSteps{digest: digestOf("a")}
	_, err := Run(t.Context(), opts, steps)
	require.Error(t, err)
	assert.Contains(t, err.Error(), `unsupported runtime "python2.7"`)
	assert.Contains(t, err.Error(), "template.yml:6:")
	assert.False(t, steps.built)
	assert.NoDirExists(t, opts.ConfigDir)
}

func TestFromImages(t *testing.T) {
	got := FromImages(
		"FROM golang:1.26-bookworm AS rie\nRUN go install x\nFROM debian:trixie-slim\nCOPY --from=rie /go/bin/x /x\n",
		"from --platform=linux/amd64 debian:trixie-slim as base\nFROM base\nFROM ${IMG}\n",
	)
	assert.Equal(t, []string{"debian:trixie-slim", "golang:1.26-bookworm"}, got)
}

func TestSummaryLine(t *testing.T) {
	assert.Equal(t, "summary: 1 created, 0 existed, 0 warnings, 0 failed",
		summaryLine("Building...\ndynamodb table \"a\": created\nsummary: 1 created, 0 existed, 0 warnings, 0 failed\n"))
	assert.Equal(t, "WARNING: nothing to provision", summaryLine("WARNING: nothing to provision\n"))
	assert.Equal(t, "done", summaryLine(""))
	assert.Equal(t, "c\nd", lastLines("a\nb\nc\nd\n", 2))
}

func TestImageBasesThroughTheMirror(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "thumb"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "thumb", "Dockerfile"),
		[]byte("FROM python:3.13-slim AS build\nFROM public.ecr.aws/lambda/python:3.13\nCOPY --from=build /x /x\n"), 0o644))
	tmpl := filepath.Join(dir, "template.yml")
	require.NoError(t, os.WriteFile(tmpl, []byte(`Transform: AWS::Serverless-2016-10-31
Resources:
  Ready:
    Type: AWS::Serverless::Function
    Properties:
      PackageType: Image
      ImageUri: debian:bookworm-slim
  Pinned:
    Type: AWS::Serverless::Function
    Properties:
      PackageType: Image
      ImageUri: registry.example.com/team/tool:1
  Built:
    Type: AWS::Serverless::Function
    Properties:
      PackageType: Image
    Metadata:
      Dockerfile: Dockerfile
      DockerContext: ./thumb
`), 0o644))
	parsed, err := sam.ParseFile(tmpl, sam.Options{})
	require.NoError(t, err)
	got, err := imageBases(parsed)
	require.NoError(t, err)
	assert.ElementsMatch(t, []string{"debian:bookworm-slim", "python:3.13-slim"}, got)
}

// The base plan reaches the pipeline, and what it published is kept once
// the build is done, before the claim on the machine's bases goes.
func TestRunKeepsTheBasesItBuilt(t *testing.T) {
	opts := options(t, "layers")
	released := 0
	published := []pipeline.PublishedBase{{Ref: "127.0.0.1:5010/esb/lambda-base:python3.13-x", Digest: "sha256:feed"}}
	steps := &fakeSteps{
		digest: digestOf("a"),
		plan: BasePlan{
			Images:  map[string]string{"nodejs20.x": "esb/lambda-base:nodejs20.x-y"},
			Publish: map[string]string{"python3.13": published[0].Ref},
			unlock:  []func(){func() { released++ }},
		},
		published: published,
	}
	_, err := Run(t.Context(), opts, steps)
	require.NoError(t, err)
	assert.ElementsMatch(t, []string{"python3.13", "nodejs20.x"}, steps.needs.Runtimes)
	assert.Equal(t, steps.plan.Images, steps.request.BaseImages)
	assert.Equal(t, steps.plan.Publish, steps.request.PublishBases)
	assert.Equal(t, published, steps.kept)
	assert.Equal(t, 1, released, "released once, though Run also defers it")
}

func TestAPIEndpoints(t *testing.T) {
	cfg := runtimeconfig.Empty()
	cfg.Routing.Routes = []runtimeconfig.Route{
		{Path: "/orders", Method: "GET", Function: "F", Payload: "1.0", Stage: "v1", API: "ordersapi"},
		{Path: "/orders/{id}", Method: "ANY", Function: "F", Payload: "1.0", Stage: "v1", API: "ordersapi"},
		{Path: "/health", Method: "GET", Function: "F", Payload: "2.0", Stage: "$default", API: "serverlesshttpapi"},
		{Path: "/legacy", Method: "GET", Function: "F", Payload: "1.0"},
	}
	assert.Equal(t, []APIEndpoint{
		{ID: "ordersapi", Stage: "v1", URL: "http://ordersapi.execute-api.localhost:5000/v1/"},
		{ID: "serverlesshttpapi", Stage: "$default", URL: "http://serverlesshttpapi.execute-api.localhost:5000/"},
	}, APIEndpoints(cfg, 5000, false))
	assert.Equal(t, "https://ordersapi.execute-api.localhost:5001/v1/", APIEndpoints(cfg, 5001, true)[0].URL, "plain HTTP off")
}

func TestURLEndpoints(t *testing.T) {
	cfg := runtimeconfig.Empty()
	id1, id2 := strings.Repeat("a", 32), strings.Repeat("b", 32)
	cfg.Functions.Functions = map[string]runtimeconfig.Function{
		"Signed": {Image: "i", URL: &runtimeconfig.FunctionURL{ID: id2, AuthType: runtimeconfig.URLAuthIAM}},
		"Plain":  {Image: "i"},
		"Open":   {Image: "i", URL: &runtimeconfig.FunctionURL{ID: id1, AuthType: runtimeconfig.URLAuthNone}},
	}
	assert.Equal(t, []URLEndpoint{
		{Function: "Open", AuthType: "NONE", URL: "http://" + id1 + ".lambda-url.us-east-1.localhost:5000/"},
		{Function: "Signed", AuthType: "AWS_IAM", URL: "http://" + id2 + ".lambda-url.us-east-1.localhost:5000/"},
	}, URLEndpoints(cfg, "us-east-1", 5000, false))
	assert.Empty(t, URLEndpoints(runtimeconfig.Empty(), "us-east-1", 5000, false))
}

// TestRunPassesMirrors: the env's package mirrors reach the pipeline, and
// a wheel directory that is not one stops the deploy before any work.
func TestRunPassesMirrors(t *testing.T) {
	opts := options(t, "hello-python")
	opts.Mirrors = pipeline.Mirrors{WheelDir: t.TempDir(), NPMRegistry: "https://npm.example/"}
	steps := &fakeSteps{digest: digestOf("a")}
	_, err := Run(t.Context(), opts, steps)
	require.NoError(t, err)
	assert.Equal(t, opts.Mirrors, steps.request.Mirrors)

	opts = options(t, "hello-python")
	opts.Mirrors = pipeline.Mirrors{WheelDir: filepath.Join(t.TempDir(), "missing")}
	steps = &fakeSteps{digest: digestOf("a")}
	_, err = Run(t.Context(), opts, steps)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "wheel directory "+opts.Mirrors.WheelDir+": not a directory")
	assert.False(t, steps.built)
	assert.NoDirExists(t, opts.ConfigDir)
}
