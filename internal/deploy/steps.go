package deploy

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"

	"dagger.io/dagger"
	"github.com/distribution/reference"
	"github.com/docker/docker/client"

	"github.com/esb-dev/esb/internal/compose"
	"github.com/esb-dev/esb/internal/platform"
	"github.com/esb-dev/esb/internal/registry"
	"github.com/esb-dev/esb/pipeline"
)

// PlatformSteps are the real side effects against an env of the platform.
type PlatformSteps struct {
	Registry registry.Client
	Docker   client.APIClient
	Project  compose.Project
	// RunnerHost is the Dagger engine, e.g. unix:///.../engine.sock.
	RunnerHost string
	// EngineLog receives the engine's progress output (--verbose); nil
	// keeps it quiet.
	EngineLog io.Writer
	Bases     pipeline.Bases
	// BaseRefs are the docker.io images the runtime Dockerfiles start from;
	// PrepareBases mirrors them into the env's registry.
	BaseRefs []string
	// BaseCache keeps runtime bases once per machine; its zero value
	// builds them on every env's engine.
	BaseCache BaseCache
	// Verbose, when set, receives the provisioner's whole output as it
	// runs; otherwise it is shown only when the provisioner fails.
	Verbose io.Writer
}

var _ Steps = PlatformSteps{}

// WaitRegistry implements Steps.
func (s PlatformSteps) WaitRegistry(ctx context.Context) error {
	return s.Registry.WaitReady(ctx, RegistryInterval, RegistryTimeout)
}

// PlatformWarnings implements Steps: deploying without a gateway or agent
// works, but nothing serves the functions until they run.
func (s PlatformSteps) PlatformWarnings(ctx context.Context) []string {
	observed, err := compose.Containers(ctx, s.Docker, s.Project.Layout.Env.Project())
	if err != nil {
		return []string{"cannot check the gateway and agent: " + err.Error()}
	}
	running := map[string]bool{}
	for _, c := range observed {
		if c.State == "running" {
			running[c.Service] = true
		}
	}
	var out []string
	for _, svc := range []string{"gateway", "agent"} {
		if !running[svc] {
			out = append(out, fmt.Sprintf("%s is not running in %s: the deploy goes on, functions are served once it runs", svc, s.Project.Layout.Env.Project()))
		}
	}
	if w := modeMismatch(s.Project.Mode, running); w != "" {
		out = append(out, w)
	}
	return out
}

// modeMismatch warns when the running env is in the other mode than the
// deploy: the image refs written would be ones its runtime cannot pull
// (registry:5000 from the host's Docker, 127.0.0.1 from runtime-node). An
// env without a running agent tells nothing.
func modeMismatch(mode string, running map[string]bool) string {
	if !running["agent"] {
		return ""
	}
	switch {
	case running["runtime-node"] && mode != compose.ModeContainerd:
		return "the env runs in containerd mode (runtime-node is up): deploy with --mode containerd, or its functions cannot pull their images"
	case !running["runtime-node"] && mode == compose.ModeContainerd:
		return "the env runs in docker mode (no runtime-node): deploy with --mode docker, or its functions cannot pull their images"
	}
	return ""
}

// ImageExists implements Steps with a manifest lookup by digest.
func (s PlatformSteps) ImageExists(ctx context.Context, image, digest string) (bool, error) {
	named, err := reference.ParseNormalizedNamed(image)
	if err != nil {
		return false, fmt.Errorf("image %s: %w", image, err)
	}
	_, ok, err := s.Registry.Manifest(ctx, reference.Path(named), digest)
	return ok, err
}

// Build implements Steps: it connects to the env's engine for one run.
func (s PlatformSteps) Build(ctx context.Context, req pipeline.Request) (pipeline.Result, error) {
	opts := []dagger.ClientOpt{dagger.WithRunnerHost(s.RunnerHost)}
	if s.EngineLog != nil {
		opts = append(opts, dagger.WithLogOutput(s.EngineLog))
	}
	dag, err := dagger.Connect(ctx, opts...)
	if err != nil {
		return pipeline.Result{}, fmt.Errorf("connect to the Dagger engine at %s: %w (is the env's dagger-engine service up?)", s.RunnerHost, err)
	}
	defer dag.Close()
	req.Bases = s.Bases
	if !s.Registry.Auth.Empty() {
		req.RegistryAuth = &pipeline.RegistryAuth{
			Address:  s.Registry.Addr,
			Username: s.Registry.Auth.Username,
			Password: dag.SetSecret("esb-registry-"+s.Project.Layout.Env.Project(), s.Registry.Auth.Password),
		}
	}
	return pipeline.Run(ctx, dag, req)
}

// Provision implements Steps with `docker compose run --rm provisioner`,
// the mode's compose file and the env's project. It returns the
// provisioner's summary line.
func (s PlatformSteps) Provision(ctx context.Context) (string, error) {
	var out bytes.Buffer
	var w io.Writer = &out
	if s.Verbose != nil {
		w = io.MultiWriter(&out, s.Verbose)
	}
	err := s.Project.Run(ctx, w, "--progress", "quiet", "run", "--rm", "--quiet-pull", "provisioner")
	if err != nil {
		return "", fmt.Errorf("%w\n%s", err, lastLines(out.String(), 30))
	}
	return summaryLine(out.String()), nil
}

// PullImages implements Steps: it pulls refs into the env's function
// runtime (PullsImages), by the runtime node's containerd or, in
// kubernetes mode, by the agent onto every node of the cluster.
func (s PlatformSteps) PullImages(ctx context.Context, refs []string) (string, []string, error) {
	if s.Project.Mode == compose.ModeKubernetes {
		return s.pullIntoCluster(ctx, refs)
	}
	return s.pullIntoRuntimeNode(ctx, refs)
}

// pullIntoRuntimeNode runs ctr inside the env's runtime-node, in the
// brand's containerd namespace, over plain HTTP (the platform registry).
// One exec pulls every ref. A runtime node that is not running is a
// warning: its agent pulls at the first invocation instead.
func (s PlatformSteps) pullIntoRuntimeNode(ctx context.Context, refs []string) (string, []string, error) {
	if w, err := s.notRunning(ctx, "runtime-node"); w != nil || err != nil {
		return "skipped", w, err
	}
	// The credential travels in the exec's environment (compose copies
	// ESB_REGISTRY_USERPASS from its own), never on a command line.
	script := `for ref; do ctr -n "$NS" images pull --plain-http --user "$ESB_REGISTRY_USERPASS" "$ref" >/dev/null || { echo "pull $ref failed" >&2; exit 1; }; done`
	args := append([]string{"--progress", "quiet", "exec", "-T", "-e", "NS=" + s.Project.Layout.Env.Brand, "-e", "ESB_REGISTRY_USERPASS",
		"runtime-node", "sh", "-c", script, "pull"}, refs...)
	node := s.Project
	node.Environ = append(slices.Clone(node.Environ), "ESB_REGISTRY_USERPASS="+s.Registry.Auth.UserPass())
	var out bytes.Buffer
	if err := node.Run(ctx, &out, args...); err != nil {
		return "", nil, fmt.Errorf("%w\n%s", err, lastLines(out.String(), 30))
	}
	return fmt.Sprintf("pulled %d images into runtime-node", len(refs)), nil, nil
}

// pullIntoCluster has the env's agent, which holds the registry
// credential and names images as the nodes do, make refs ready for the
// cluster (`agent pull`: each is in the registry the nodes pull from). An
// agent that is not running is a warning: the first cold start finds out.
func (s PlatformSteps) pullIntoCluster(ctx context.Context, refs []string) (string, []string, error) {
	if w, err := s.notRunning(ctx, "agent"); w != nil || err != nil {
		return "skipped", w, err
	}
	args := append([]string{"--progress", "quiet", "exec", "-T", "agent", "agent", "pull", "--"}, refs...)
	var out bytes.Buffer
	if err := s.Project.Run(ctx, &out, args...); err != nil {
		return "", nil, fmt.Errorf("%w\n%s", err, lastLines(out.String(), 30))
	}
	return lastLines(strings.TrimSpace(out.String()), 1), nil, nil
}

// notRunning warns when the env's service is not running, so the pull is
// left to the service's first start.
func (s PlatformSteps) notRunning(ctx context.Context, service string) ([]string, error) {
	project := s.Project.Layout.Env.Project()
	observed, err := compose.Containers(ctx, s.Docker, project)
	if err != nil {
		return nil, err
	}
	if slices.ContainsFunc(observed, func(c platform.ContainerState) bool {
		return c.Service == service && c.State == "running"
	}) {
		return nil, nil
	}
	if service == "agent" {
		return []string{fmt.Sprintf("the agent is not running in %s: each node pulls the new images at their first invocation", project)}, nil
	}
	return []string{fmt.Sprintf("%s is not running in %s: the agent pulls the new images at their first invocation", service, project)}, nil
}

// summaryLine is the provisioner's closing "summary: ..." line, or its
// warning when it had nothing to do.
func summaryLine(out string) string {
	lines := strings.Split(strings.TrimSpace(out), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if l := strings.TrimSpace(lines[i]); strings.HasPrefix(l, "summary:") || strings.HasPrefix(l, "WARNING:") {
			return l
		}
	}
	return "done"
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// FromImages lists the images the Dockerfiles start from (FROM lines, stage
// names excluded), sorted and unique.
func FromImages(dockerfiles ...string) []string {
	seen := map[string]bool{}
	stages := map[string]bool{}
	for _, df := range dockerfiles {
		for _, line := range strings.Split(df, "\n") {
			f := strings.Fields(line)
			if len(f) < 2 || !strings.EqualFold(f[0], "FROM") {
				continue
			}
			img := f[1]
			for i := 1; i < len(f); i++ {
				if strings.HasPrefix(f[i], "--") {
					continue
				}
				img = f[i]
				if i+2 < len(f) && strings.EqualFold(f[i+1], "AS") {
					stages[strings.ToLower(f[i+2])] = true
				}
				break
			}
			if !stages[strings.ToLower(img)] && !strings.Contains(img, "$") {
				seen[img] = true
			}
		}
	}
	out := make([]string, 0, len(seen))
	for img := range seen {
		out = append(out, img)
	}
	sort.Strings(out)
	return out
}
