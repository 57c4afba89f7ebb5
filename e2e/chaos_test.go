//go:build e2e

package e2e

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/stretchr/testify/require"
)

// BenchmarkChaos measures what issue 17 asks of the platform under faults:
// a steady 50 requests/s on a warm function that reads DynamoDB (so the
// gateway, the agent, the function and the database are all on the path),
// while the agent, the gateway, the registry and the database (and in
// containerd mode runtime-node, whose namespaces gateway and agent share)
// are each killed in turn (SIGKILL of the container's process from the
// host, as a crash; compose's restart policy, and for what joins
// runtime-node the nodekeeper, brings them back). Per fault it reports
// the requests sent from the kill until the service is back and requests
// have succeeded for chaosSteady, how many failed and how: a 5xx from the
// platform, another status, or a client side error (refused or reset
// connection, a timeout), which is what a killed gateway can only give;
// "wrong" counts 200s with a body that is not the function's (an answer
// lost silently). It also reports the seconds in which a 5xx was answered,
// the time from the kill until the first success after the last failure,
// and the function containers the runtime holds that the agent does not
// know (leaked). Each mode gets its own env, one after the other on one
// port block. Not part of CI: `just bench-e2e`, or
//
//	go test -tags e2e -count=1 -timeout 60m -v -run '^$' -bench '^BenchmarkChaos$' -benchtime 1x ./e2e/
func BenchmarkChaos(b *testing.B) {
	for _, mode := range []string{"docker", "containerd"} {
		b.Run(mode, func(b *testing.B) {
			s := newModeStack(b, "chaos-"+mode[:1], 2200, mode)
			chaos(b, s)
		})
	}
}

const (
	chaosRate   = 50              // requests per second
	chaosSteady = 3 * time.Second // successes in a row that count as recovered
	// Past the gateway's queue wait (MAX_QUEUE_WAIT, 10 s) plus the
	// function's timeout: the gateway's own 5xx must arrive before the
	// client gives up, or it would be counted as a client timeout.
	chaosTimeout = 30 * time.Second
	chaosLimit   = 120 * time.Second // the longest a fault is followed
)

// chaosOutcome is one request of the load.
type chaosOutcome struct {
	start, end time.Time
	kind       string // ok, 5xx, other, refused, reset, timeout, wrong
}

func (o chaosOutcome) failed() bool { return o.kind != "ok" }

type chaosLoad struct {
	mu   sync.Mutex
	outs []chaosOutcome
}

func (l *chaosLoad) since(t time.Time) []chaosOutcome {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []chaosOutcome
	for _, o := range l.outs {
		if !o.start.Before(t) {
			out = append(out, o)
		}
	}
	return out
}

// run sends chaosRate requests per second to url until ctx ends, each on
// its own goroutine (an open loop: a slow answer does not slow the load),
// and waits for the ones in flight.
func (l *chaosLoad) run(ctx context.Context, url string) {
	hc := &http.Client{Timeout: chaosTimeout, Transport: &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 256}}
	defer hc.CloseIdleConnections()
	tick := time.NewTicker(time.Second / chaosRate)
	defer tick.Stop()
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			o := chaosOutcome{start: time.Now()}
			o.kind = chaosCall(hc, url)
			o.end = time.Now()
			l.mu.Lock()
			l.outs = append(l.outs, o)
			l.mu.Unlock()
		}()
	}
}

func chaosCall(hc *http.Client, url string) string {
	// Not the benchmark's context: a request in flight when the load
	// stops still gets its answer.
	resp, err := hc.Get(url)
	if err != nil {
		var ne net.Error
		switch {
		case errors.As(err, &ne) && ne.Timeout():
			return "timeout"
		case strings.Contains(err.Error(), "connection refused"):
			return "refused"
		default:
			return "reset"
		}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 4096))
	switch {
	case err != nil:
		return "reset"
	case resp.StatusCode >= 500:
		return "5xx"
	case resp.StatusCode != http.StatusOK:
		return "other"
	case strings.TrimSpace(string(body)) != "ok":
		return "wrong"
	}
	return "ok"
}

// chaosRow is one fault's line of the table.
type chaosRow struct {
	service                                    string
	sent, failed, fivexx, other, client, wrong int
	refused, reset, timeout                    int // client errors by kind
	fivexxSeconds                              int
	recover                                    time.Duration
	back                                       time.Duration // the container running again
	leaked                                     int
	leakedNetns                                int // holders or addresses (netnsLeaked)
}

func chaos(b *testing.B, s *stack) {
	ctx := b.Context()
	docker := dockerClient(b)
	s.up(b)
	work := b.TempDir()
	copyTree(b, filepath.Join("testdata", "dataplane"), work)
	args := []string{"deploy", "-t", filepath.Join(work, "bench.yml")}
	if s.mode == "containerd" {
		args = append(args, "--mode", "containerd", "--tag", "e2e-chaos")
	}
	res := s.esb(ctx, b, args...)
	require.NoError(b, res.err, res.stderr)
	url := s.url("PORT_GATEWAY", "/bench-db")
	require.NoError(b, waitHTTP(ctx, url, http.StatusOK, time.Second))

	var load chaosLoad
	lctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); load.run(lctx, url) }()
	defer func() { stop(); <-done }()
	time.Sleep(5 * time.Second) // warm containers for the load

	var rows []chaosRow
	faults := []string{"agent", "gateway", "registry", "database"}
	if s.mode == "containerd" {
		// Gateway and agent live in its namespaces: they must follow it.
		faults = append(faults, "runtime-node")
	}
	for _, svc := range faults {
		time.Sleep(5 * time.Second) // steady before the fault
		id := serviceContainer(ctx, b, docker, s, svc)
		killed := crash(ctx, b, docker, id)
		row := chaosRow{service: svc}
		for {
			time.Sleep(250 * time.Millisecond)
			if row.back == 0 {
				if c, err := docker.ContainerInspect(ctx, id); err == nil && c.State.Running {
					if started, err := time.Parse(time.RFC3339Nano, c.State.StartedAt); err == nil && started.After(killed) {
						row.back = time.Since(killed)
					}
				}
			}
			if row.back > 0 && recovered(load.since(killed)) {
				break
			}
			if time.Since(killed) > chaosLimit {
				b.Logf("%s: not recovered after %s", svc, chaosLimit)
				chaosDiagnose(ctx, b, s)
				break
			}
		}
		outs := load.since(killed)
		tally(&row, killed, outs)
		row.leaked, row.leakedNetns = leaked(ctx, b, s)
		rows = append(rows, row)
		b.Logf("%s killed: %+v", svc, row)
	}

	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(w, "chaos (%s mode, %d req/s on a warm function reading DynamoDB)\t\t\t\t\t\t\t\t\t\t\n", s.mode, chaosRate)
	fmt.Fprintln(w, "killed\tsent\tfailed\t5xx\tother status\tclient error (refused/reset/timeout)\twrong 200\t5xx seconds\tback s\trecovered s\tleaked\tleaked netns\t")
	for _, r := range rows {
		fmt.Fprintf(w, "%s\t%d\t%d\t%d\t%d\t%d (%d/%d/%d)\t%d\t%d\t%.1f\t%.1f\t%d\t%d\t\n", r.service, r.sent, r.failed, r.fivexx, r.other,
			r.client, r.refused, r.reset, r.timeout, r.wrong,
			r.fivexxSeconds, r.back.Seconds(), r.recover.Seconds(), r.leaked, r.leakedNetns)
		b.ReportMetric(float64(r.failed), r.service+"_failed")
		b.ReportMetric(r.recover.Seconds(), r.service+"_recover_s")
		b.ReportMetric(float64(r.leaked), r.service+"_leaked")
		b.ReportMetric(float64(r.leakedNetns), r.service+"_leaked_netns")
	}
	require.NoError(b, w.Flush())
}

// recovered reports whether the requests since a fault (by start time)
// end in chaosSteady of successes, every one of them answered.
func recovered(outs []chaosOutcome) bool {
	if len(outs) == 0 {
		return false
	}
	last := outs[len(outs)-1].start
	n := 0
	for i := len(outs) - 1; i >= 0; i-- {
		if outs[i].failed() {
			return false
		}
		if last.Sub(outs[i].start) >= chaosSteady {
			return n > 0
		}
		n++
	}
	return false
}

func tally(r *chaosRow, killed time.Time, outs []chaosOutcome) {
	seconds := map[int]bool{}
	var lastFail time.Time
	for _, o := range outs {
		r.sent++
		if !o.failed() {
			continue
		}
		r.failed++
		if o.start.After(lastFail) {
			lastFail = o.start
		}
		switch o.kind {
		case "5xx":
			r.fivexx++
			seconds[int(o.end.Sub(killed).Seconds())] = true
		case "other":
			r.other++
		case "wrong":
			r.wrong++
		default:
			r.client++
			switch o.kind {
			case "refused":
				r.refused++
			case "reset":
				r.reset++
			case "timeout":
				r.timeout++
			}
		}
	}
	r.fivexxSeconds = len(seconds)
	if lastFail.IsZero() {
		return
	}
	for _, o := range outs {
		if !o.failed() && o.start.After(lastFail) {
			r.recover = o.end.Sub(killed)
			return
		}
	}
}

// leaked is how many function containers the runtime holds beyond those
// the agent knows, and how many network namespaces beyond those of the
// containers and the agent's prepared ones (netnsLeaked), once both are 0
// or 30 s have passed; -1 when the agent never answered (the table must
// not read 0 then).
func leaked(ctx context.Context, b testing.TB, s *stack) (containers, netns int) {
	containers, netns = -1, -1
	err := poll(ctx, time.Second, 30*time.Second, func() error {
		h, err := agentHealth(ctx, s)
		if err != nil {
			containers, netns = -1, -1
			return err
		}
		containers = runtimeContainers(ctx, b, s) - agentContainers(h)
		if netns, err = netnsLeaked(ctx, b, s, h); err != nil {
			netns = -1
			return err
		}
		if containers != 0 || netns != 0 {
			return fmt.Errorf("%d containers the agent does not know, %d network namespaces", containers, netns)
		}
		return nil
	})
	if err != nil {
		b.Logf("leak check: %v", err)
	}
	return containers, netns
}

// chaosDiagnose logs what an operator would look at when a service did not
// come back: each platform container's state and the last lines of the
// gateway's, the agent's and runtime-node's logs.
func chaosDiagnose(ctx context.Context, b *testing.B, s *stack) {
	out, _ := s.compose(ctx, "ps", "-a", "--format", "{{.Service}}\t{{.State}}\t{{.Status}}")
	b.Logf("compose ps:\n%s", out)
	services := []string{"gateway", "agent"}
	if s.mode == "containerd" {
		services = append(services, "runtime-node", "nodekeeper")
		out, _ := s.compose(ctx, "exec", "-T", "runtime-node", "sh", "-c", "ss -ltn 2>/dev/null || cat /proc/net/tcp /proc/net/tcp6")
		b.Logf("runtime-node listeners:\n%s", out)
	}
	docker := dockerClient(b)
	for _, svc := range services {
		if c, err := docker.ContainerInspect(ctx, serviceContainer(ctx, b, docker, s, svc)); err == nil {
			b.Logf("%s: %s pid %d started %s restarts %d error %q network %s sandbox %s", svc, c.State.Status, c.State.Pid,
				c.State.StartedAt, c.RestartCount, c.State.Error, c.HostConfig.NetworkMode, c.NetworkSettings.SandboxKey)
		}
		out, _ := s.compose(ctx, "logs", "--no-color", "--tail", "30", svc)
		b.Logf("%s logs:\n%s", svc, out)
	}
}
