//go:build e2e

// Package e2e runs ESB end to end against the real stack: real Docker, the
// compose files of this repository, the real registry, S3, DynamoDB, log
// and Dagger services. Run with `go test -tags e2e ./e2e/...`.
package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/volume"
	"github.com/docker/docker/client"
	"github.com/docker/docker/errdefs"
	"github.com/gofrs/flock"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/esb-dev/esb/internal/agentapi"
	"github.com/esb-dev/esb/internal/awsid"
	"github.com/esb-dev/esb/internal/compose"
	"github.com/esb-dev/esb/internal/platform"
	"github.com/esb-dev/esb/internal/registry"
	"github.com/esb-dev/esb/internal/registryauth"
	"github.com/esb-dev/esb/internal/registryauth/provision"
)

// stack is one env of the platform brought up by a test.
type stack struct {
	layout    platform.Layout
	root      string // repository root
	cacheHome string // XDG_CACHE_HOME of the env: CONFIG_DIR lives below it
	env       []string
	mode      string // docker or containerd: the compose file it runs
	// settings are variables this env's compose gets beyond the
	// process's own (tests run side by side: no os.Setenv).
	settings []string
}

// repoRoot is the directory holding docker-compose.yml.
func repoRoot(t testing.TB) string {
	t.Helper()
	dir, err := filepath.Abs("..")
	require.NoError(t, err)
	_, err = os.Stat(filepath.Join(dir, "docker-compose.yml"))
	require.NoError(t, err, "e2e tests run from the e2e directory of the repository")
	return dir
}

// newStack resolves a throwaway docker-mode env: its CONFIG_DIR lives
// under the test's temp dir, so nothing a developer deployed is touched.
func newStack(t testing.TB, name string, portOffset int) *stack {
	t.Helper()
	return newModeStack(t, name, portOffset, "docker")
}

// newModeStack is newStack for the given mode's compose file.
func newModeStack(t testing.TB, name string, portOffset int, mode string) *stack {
	t.Helper()
	name, portOffset = shifted(t, name, portOffset)
	e, err := platform.New("", name)
	require.NoError(t, err)
	cache := filepath.Join(os.TempDir(), "esb-e2e-cache")
	claimPorts(t, cache, portOffset)
	l, err := platform.Resolve(e, platform.LayoutOptions{
		Dirs:       platform.Dirs{XDGCacheHome: cache, Home: os.Getenv("HOME")},
		PortOffset: portOffset,
	})
	require.NoError(t, err)
	s := &stack{layout: l, root: repoRoot(t), cacheHome: cache, mode: mode}
	s.layout.ImageTag, err = compose.SourceTag(s.root)
	require.NoError(t, err)
	s.layout.UID, s.layout.GID = strconv.Itoa(os.Getuid()), strconv.Itoa(os.Getgid())
	s.env = os.Environ()
	for _, v := range s.layout.Vars() {
		s.env = append(s.env, v.Name+"="+v.Value)
	}
	// A throwaway env starts from nothing: no containers, volumes or config
	// left by an interrupted earlier run. Containers first: Docker restarts
	// them with the daemon, and compose would keep them, bound to the
	// directories removed next (an engine socket nobody can reach).
	// (No check of what the env's Dagger engine left on the host here: an
	// older engine may have left it, and this env's engine clears it when
	// it starts.)
	s.composeDown(t)
	s.removeLeftovers(t)
	require.NoError(t, os.RemoveAll(filepath.Dir(l.ConfigDir)))
	// What `esb env` does before every `up`: the env's registry credential.
	_, err = provision.Ensure(registryauth.Dir(l.ConfigDir))
	require.NoError(t, err)
	return s
}

// registryAuth is the env's registry credential, as `esb env` made it.
func (s *stack) registryAuth(t testing.TB) registryauth.Credential {
	t.Helper()
	cred, err := registryauth.Load(registryauth.Dir(s.layout.ConfigDir))
	require.NoError(t, err)
	return cred
}

// registry is a client of the env's registry with its credential and
// base ledger, as `esb deploy` has it.
func (s *stack) registry(t testing.TB) registry.Client {
	t.Helper()
	return registry.Client{Addr: s.layout.RegistryAddr(), Auth: s.registryAuth(t), Ledger: registry.EnvLedger(s.layout.ConfigDir)}
}

// shifted moves an env to other port blocks and another name when
// ESB_E2E_SHIFT is set (a multiple of 100): two checkouts then run their
// suites side by side on one machine, each with its own envs.
func shifted(t testing.TB, name string, portOffset int) (string, int) {
	t.Helper()
	v := os.Getenv("ESB_E2E_SHIFT")
	if v == "" || v == "0" {
		return name, portOffset
	}
	shift, err := strconv.Atoi(v)
	require.NoError(t, err, "ESB_E2E_SHIFT")
	require.True(t, shift > 0 && shift%100 == 0, "ESB_E2E_SHIFT=%d: want a positive multiple of 100", shift)
	return fmt.Sprintf("%s-s%d", name, shift/100), portOffset + shift
}

// runBlocks are the port blocks the envs of this test process use.
var runBlocks = struct {
	sync.Mutex
	owner map[int]string
}{owner: map[int]string{}}

// claimPorts holds the env's port block (its offset) on this machine until
// the test and its teardown are done. A second e2e run beside this one
// (another checkout, `just bench-e2e`) waits for it instead of taking the
// env down under it: an env starts by removing whatever runs on its ports.
func claimPorts(t testing.TB, dir string, offset int) {
	t.Helper()
	// Two envs of this run on one block would wait on each other while
	// holding -parallel slots: a deadlock, not a wait. Each env needs its
	// own offset.
	runBlocks.Lock()
	if other, taken := runBlocks.owner[offset]; taken {
		runBlocks.Unlock()
		t.Fatalf("port block %d is already used by %s in this run: give each env its own offset", offset, other)
	}
	runBlocks.owner[offset] = t.Name()
	runBlocks.Unlock()
	t.Cleanup(func() {
		runBlocks.Lock()
		delete(runBlocks.owner, offset)
		runBlocks.Unlock()
	})
	require.NoError(t, os.MkdirAll(dir, 0o755))
	lock := flock.New(filepath.Join(dir, fmt.Sprintf("ports-%d.lock", offset)))
	ok, err := lock.TryLock()
	require.NoError(t, err)
	if !ok {
		t.Logf("port block %d is in use by another e2e run on this machine: waiting for it", offset)
		ok, err = lock.TryLockContext(t.Context(), time.Second)
		require.NoError(t, err)
		require.True(t, ok)
	}
	// Registered first, so it runs after the teardown registered later.
	t.Cleanup(func() { _ = lock.Unlock() })
}

// compose runs docker compose on the mode's files, as the E2E contract says:
// never through the root file's include.
func (s *stack) compose(ctx context.Context, args ...string) (string, error) {
	var out bytes.Buffer
	err := s.project().Run(ctx, &out, args...)
	return out.String(), err
}

func (s *stack) project() compose.Project {
	return compose.Project{Dir: s.root, Mode: s.mode, Layout: s.layout, Environ: append(os.Environ(), s.settings...)}
}

// set gives this env's compose a variable, as an `export` before `docker
// compose up` would.
func (s *stack) set(name, value string) {
	s.settings = append(s.settings, name+"="+value)
	s.env = append(s.env, name+"="+value)
}

// daggerCLIOnce points the Dagger SDK of this process at setup.sh's CLI,
// once for every test: the SDK reads only the process environment.
var daggerCLIOnce sync.Once

func useDaggerCLI(t testing.TB) {
	t.Helper()
	cli := daggerCLI(t)
	daggerCLIOnce.Do(func() { require.NoError(t, os.Setenv("_EXPERIMENTAL_DAGGER_CLI_BIN", cli)) })
}

// up starts the env, waits until every service is healthy, and registers
// its teardown. ESB_E2E_KEEP=1 keeps it running for inspection.
func (s *stack) up(t testing.TB) {
	t.Helper()
	s.start(t, "--wait")
}

// start runs `compose up -d` with extra flags and registers the teardown.
func (s *stack) start(t testing.TB, flags ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Minute)
	defer cancel()
	// Created here, owned by the test's user: Docker would create a missing
	// bind source owned by root.
	require.NoError(t, os.MkdirAll(s.layout.ConfigDir, 0o755))
	s.buildImages(ctx, t)
	t.Logf("compose up %s", s.layout.Env.Project())
	// Streamed line by line: a cold build takes minutes and CI should show it.
	err := s.project().Run(ctx, testLog{t}, append([]string{"--progress", "plain", "up", "-d"}, flags...)...)
	require.NoError(t, err, "compose up %s", s.layout.Env.Project())
	t.Cleanup(func() {
		if os.Getenv("ESB_E2E_KEEP") == "1" {
			return
		}
		s.down(t)
		s.removeLeftovers(t)
	})
}

// builtModes holds, per mode, the outcome of building its images: tests
// that bring envs up side by side would otherwise each have compose build
// the same missing images at the same time. building keeps two modes
// from building at once: most images are the same in both.
var (
	builtModes sync.Map // mode -> func() error
	building   sync.Mutex
)

// buildImages builds the mode's missing platform images once per test
// binary, before the first env of that mode starts; later envs find them.
// Images already there are left alone, as `up` leaves them: a machine
// that loaded them (the Dagger suite) has no build cache to rebuild from.
func (s *stack) buildImages(ctx context.Context, t testing.TB) {
	t.Helper()
	once, _ := builtModes.LoadOrStore(s.mode, sync.OnceValue(func() error {
		building.Lock()
		defer building.Unlock()
		// Other test processes on this machine (another package, a second
		// checkout) build the same images; building them side by side on a
		// small machine multiplies the time of each. One build at a time per
		// machine, and whoever waited finds the images there.
		machine := flock.New(filepath.Join(os.TempDir(), "esb-e2e-compose-build.lock"))
		if err := machine.Lock(); err != nil {
			return fmt.Errorf("machine-wide build lock: %w", err)
		}
		defer machine.Unlock()
		missing, err := s.missingImages(ctx, t)
		if err != nil || len(missing) == 0 {
			return err
		}
		start := time.Now()
		t.Logf("compose build %v (%s mode)", missing, s.mode)
		err = s.project().Run(ctx, testLog{t}, append([]string{"--progress", "plain", "--profile", "provisioner", "build"}, missing...)...)
		t.Logf("compose build (%s mode): %.0fs", s.mode, time.Since(start).Seconds())
		return err
	}))
	require.NoError(t, once.(func() error)(), "compose build")
}

// missingImages lists the services of the mode whose image is built by
// compose and not on the machine.
func (s *stack) missingImages(ctx context.Context, t testing.TB) ([]string, error) {
	services, err := s.builtServices(ctx)
	if err != nil {
		return nil, err
	}
	docker := dockerClient(t)
	var missing []string
	for name, image := range services {
		if _, err := docker.ImageInspect(ctx, image); err == nil {
			continue
		} else if !errdefs.IsNotFound(err) {
			return nil, err
		}
		missing = append(missing, name)
	}
	slices.Sort(missing)
	return missing, nil
}

// builtServices maps the mode's services whose image compose builds
// (profiles included) to that image.
func (s *stack) builtServices(ctx context.Context) (map[string]string, error) {
	// stdout only: a warning on stderr is not JSON.
	cmd := s.project().Command(ctx, "--profile", "provisioner", "config", "--format", "json")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("compose config: %w\n%s", err, stderr.String())
	}
	var cfg struct {
		Services map[string]struct {
			Image string          `json:"image"`
			Build json.RawMessage `json:"build"`
		} `json:"services"`
	}
	if err := json.Unmarshal(out, &cfg); err != nil {
		return nil, fmt.Errorf("compose config: %w", err)
	}
	built := map[string]string{}
	for name, svc := range cfg.Services {
		if len(svc.Build) > 0 && svc.Image != "" {
			built[name] = svc.Image
		}
	}
	return built, nil
}

// testLog writes each line it gets to the test log, prefixed.
type testLog struct{ t testing.TB }

func (w testLog) Write(p []byte) (int, error) {
	for _, line := range strings.Split(strings.TrimRight(string(p), "\n"), "\n") {
		if line != "" {
			w.t.Log("compose: " + line)
		}
	}
	return len(p), nil
}

// down takes the env down and checks that its Dagger engine took its host
// network rules with it.
func (s *stack) down(t testing.TB) {
	t.Helper()
	if s.composeDown(t) {
		s.assertDaggerNetworkGone(t)
	}
}

// composeDown runs compose down, working around Docker's stale endpoints;
// false when a network had to be left behind.
func (s *stack) composeDown(t testing.TB) bool {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	// No --timeout: each service's own stop_grace_period applies (the
	// Dagger engine's cleanup after its stop needs its 30 s).
	out, err := s.compose(ctx, "down", "--volumes", "--remove-orphans")
	if err == nil && strings.Contains(out, "Resource is still in use") {
		// Compose only warns when a network it removes is in use, and
		// the network stays: a container the agent did not remove in its
		// stop grace is still on it. That is a leak of the agent's stop.
		t.Errorf("compose down left a network of %s in use (its agent did not remove all its containers before it stopped):\n%s", s.layout.Env.Project(), out)
		err = errors.New("network still in use")
		out += "\nactive endpoints"
	}
	if err != nil && strings.Contains(out, "active endpoints") {
		// A function container the agent started while compose stopped it
		// still sits on the functions network: remove the env's function
		// containers, then the network can go.
		// A start the agent had in flight may still land as the first
		// removal runs: a few rounds, each removing whatever sits on the
		// env's networks.
		// Docker can also report active endpoints for a moment after the
		// last container left (its endpoint cleanup runs behind the
		// removal): the rounds wait longer each time, 30 s in all.
		for round := 1; round <= 6 && err != nil && strings.Contains(out, "active endpoints"); round++ {
			t.Logf("compose down left a network with containers on it: removing them and trying again (round %d)", round)
			s.removeLeftovers(t)
			s.removeNetworkMembers(t)
			out, err = s.compose(ctx, "down", "--volumes", "--remove-orphans")
			if err != nil {
				time.Sleep(time.Duration(round) * 2 * time.Second)
			}
		}
	}
	if err != nil && strings.Contains(out, "active endpoints") && !s.networkHasMembers(t) {
		// No container is on the network any more, yet the daemon keeps
		// an endpoint of one that was removed (seen at load 30+): a leak
		// of Docker's network store, which only a daemon restart clears.
		// The env is gone; the empty network stays behind, and the next
		// `up` of the same env reuses it.
		t.Logf("compose down: Docker keeps a stale endpoint on a network of %s with no container on it; the network is left behind:\n%s", s.layout.Env.Project(), out)
		return false
	}
	require.NoError(t, err, "compose down:\n%s", out)
	return true
}

// assertDaggerNetworkGone checks that the env's Dagger engine, which runs
// on the host's network, took its CNI leftovers with it when it stopped:
// no host iptables rule names its network, and its bridge is gone. (Each
// stop used to leave a dozen rules, which every later packet forwarded on
// the host and every iptables run paid for.)
func (s *stack) assertDaggerNetworkGone(t testing.TB) {
	t.Helper()
	name, _ := s.layout.DaggerNetwork()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	rules, err := exec.CommandContext(ctx, "iptables-save").Output()
	require.NoError(t, err, "iptables-save (the e2e suite runs as root)")
	var left []string
	for _, line := range strings.Split(string(rules), "\n") {
		if strings.Contains(line, `name: \"`+name+`\" `) {
			left = append(left, line)
		}
	}
	assert.Empty(t, left, "host iptables rules of %s's Dagger network %s after compose down", s.layout.Env.Project(), name)
	bridge := s.layout.DaggerBridge()
	_, err = net.InterfaceByName(bridge)
	assert.Error(t, err, "the bridge %s of %s's Dagger engine is still on the host", bridge, s.layout.Env.Project())
}

// networkHasMembers reports whether any container is on one of the env's
// networks (an error counts as yes: the caller must not assume empty).
func (s *stack) networkHasMembers(t testing.TB) bool {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	docker, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		return true
	}
	defer docker.Close()
	nets, err := docker.NetworkList(ctx, network.ListOptions{Filters: filters.NewArgs(filters.Arg("label", "com.docker.compose.project="+s.layout.Env.Project()))})
	if err != nil {
		return true
	}
	for _, n := range nets {
		list, err := docker.ContainerList(ctx, container.ListOptions{All: true, Filters: filters.NewArgs(filters.Arg("network", n.ID))})
		if err != nil || len(list) > 0 {
			return true
		}
	}
	return false
}

// projectVolumes lists the volumes compose created for the env.
func projectVolumes(ctx context.Context, t testing.TB, docker client.APIClient, project string) []string {
	t.Helper()
	resp, err := docker.VolumeList(ctx, volume.ListOptions{
		Filters: filters.NewArgs(filters.Arg("label", "com.docker.compose.project="+project)),
	})
	require.NoError(t, err)
	var names []string
	for _, v := range resp.Volumes {
		names = append(names, v.Name)
	}
	return names
}

func (s *stack) url(portVar, path string) string {
	return fmt.Sprintf("http://127.0.0.1:%d%s", s.layout.Ports[portVar], path)
}

// httpsURL is the env's HTTPS port by a name its certificate covers.
func (s *stack) httpsURL(portVar, path string) string {
	return s.httpsURLFor("localhost", portVar, path)
}

// httpsURLFor is httpsURL by the given host name.
func (s *stack) httpsURLFor(host, portVar, path string) string {
	return fmt.Sprintf("https://%s:%d%s", host, s.layout.Ports[portVar], path)
}

// waitHTTP polls url every interval until it answers want or ctx ends.
func waitHTTP(ctx context.Context, url string, want int, interval time.Duration) error {
	return waitHTTPWith(ctx, http.DefaultClient, url, want, interval)
}

// waitHTTPWith is waitHTTP with the given client (one that trusts the env
// CA, for the gateway's HTTPS port).
func waitHTTPWith(ctx context.Context, c *http.Client, url string, want int, interval time.Duration) error {
	var last string
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		resp, err := c.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == want {
				return nil
			}
			last = resp.Status
		} else {
			last = err.Error()
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: want %d, last: %s: %w", url, want, strings.TrimSpace(last), ctx.Err())
		case <-time.After(interval):
		}
	}
}

func dockerClient(t testing.TB) client.APIClient {
	t.Helper()
	c, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	return c
}

// daggerCLI is the dagger binary scripts/setup.sh installed.
func daggerCLI(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("_EXPERIMENTAL_DAGGER_CLI_BIN"); p != "" {
		return p
	}
	home := os.Getenv("ESB_HOME")
	if home == "" {
		home = filepath.Join(os.Getenv("HOME"), ".esb")
	}
	p := filepath.Join(home, "bin", "dagger")
	_, err := os.Stat(p)
	require.NoError(t, err, "dagger CLI missing: run scripts/setup.sh")
	return p
}

// The platform's S3 and DynamoDB as a function sees them: the env's host
// ports, the compose files' default credentials.
var platformCredentials = credentials.NewStaticCredentialsProvider(platformKey.AccessKeyID, platformKey.SecretAccessKey, "")

// platformKey is the env's root key (the compose files' defaults), the
// key of platformCredentials.
var platformKey = awsid.Key{AccessKeyID: "esb", SecretAccessKey: "esb-local-secret"}

// signRequest signs req with key (SigV4, service lambda or execute-api),
// as an AWS SDK would: the gateway's Invoke API and AWS_IAM routes refuse
// unsigned calls.
func signRequest(t testing.TB, req *http.Request, body, service string, key awsid.Key) {
	t.Helper()
	sum := sha256.Sum256([]byte(body))
	creds := aws.Credentials{AccessKeyID: key.AccessKeyID, SecretAccessKey: key.SecretAccessKey}
	require.NoError(t, v4.NewSigner().SignHTTP(req.Context(), creds, req, hex.EncodeToString(sum[:]), service, "us-east-1", time.Now()))
}

func (s *stack) dynamoDB() *dynamodb.Client {
	return dynamodb.New(dynamodb.Options{Region: "us-east-1", BaseEndpoint: aws.String(s.url("PORT_DATABASE", "")), Credentials: platformCredentials})
}

func (s *stack) s3() *s3.Client {
	return s3.New(s3.Options{Region: "us-east-1", BaseEndpoint: aws.String(s.url("PORT_S3", "")), UsePathStyle: true, Credentials: platformCredentials})
}

// othersOf is every stack but the named one.
func othersOf(stacks map[string]*stack, name string) []*stack {
	var others []*stack
	for n, o := range stacks {
		if n != name {
			others = append(others, o)
		}
	}
	return others
}

// removeLeftovers removes what the agent may have left of an env once it
// is down: function containers (the agent drains them on stop; a crash of
// the test may not let it) and the function images it pulled from the
// env's registry.
// removeNetworkMembers force-removes every container still attached to
// one of the env's compose networks, whoever started it (the agent, or a
// test's helper container), so that compose can remove the networks.
func (s *stack) removeNetworkMembers(t testing.TB) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	docker, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		t.Logf("cleanup of %s: %v", s.layout.Env.Project(), err)
		return
	}
	defer docker.Close()
	nets, err := docker.NetworkList(ctx, network.ListOptions{Filters: filters.NewArgs(filters.Arg("label", "com.docker.compose.project="+s.layout.Env.Project()))})
	if err != nil {
		t.Logf("cleanup of %s: %v", s.layout.Env.Project(), err)
		return
	}
	for _, n := range nets {
		list, err := docker.ContainerList(ctx, container.ListOptions{All: true, Filters: filters.NewArgs(filters.Arg("network", n.ID))})
		if err != nil {
			t.Logf("cleanup of %s: %v", n.Name, err)
			continue
		}
		for _, c := range list {
			t.Logf("removing %s (%s), still on %s", strings.Join(c.Names, ","), c.Image, n.Name)
			if err := docker.ContainerRemove(ctx, c.ID, container.RemoveOptions{Force: true}); err != nil {
				t.Logf("cleanup of %s: %v", n.Name, err)
			}
		}
	}
}

func (s *stack) removeLeftovers(t testing.TB) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	docker, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		t.Logf("cleanup of %s: %v", s.layout.Env.Project(), err)
		return
	}
	defer docker.Close()
	var errs []error
	list, err := docker.ContainerList(ctx, container.ListOptions{All: true, Filters: filters.NewArgs(
		filters.Arg("label", agentapi.LabelEnv+"="+s.layout.Env.Key()),
		filters.Arg("label", agentapi.LabelManaged+"=true"),
	)})
	errs = append(errs, err)
	for _, c := range list {
		errs = append(errs, docker.ContainerRemove(ctx, c.ID, container.RemoveOptions{Force: true}))
	}
	prefix := s.layout.RegistryAddr() + "/" + s.layout.Env.Project() + "/"
	images, err := docker.ImageList(ctx, image.ListOptions{All: true})
	errs = append(errs, err)
	for _, img := range images {
		// By reference, not by ID: envs that pulled the same function
		// share its image ID, and another env may still be running it.
		// The image goes with its last reference.
		for _, ref := range append(slices.Clone(img.RepoTags), img.RepoDigests...) {
			if strings.HasPrefix(ref, prefix) {
				_, err := docker.ImageRemove(ctx, ref, image.RemoveOptions{PruneChildren: true})
				errs = append(errs, err)
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		t.Logf("cleanup of %s: %v", s.layout.Env.Project(), err)
	}
}
