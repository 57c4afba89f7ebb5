//go:build e2e

package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	lambdatypes "github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/client"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/esb-dev/esb/internal/agentapi"
	"github.com/esb-dev/esb/internal/runtimeconfig"
	"github.com/esb-dev/esb/services/gateway/lambdainvoke"
)

// The data plane template's resources (testdata/dataplane/template.yml).
const (
	dpTable  = "dataplane-items"
	dpBucket = "dataplane-objects"
)

// dpMaxQueueWait is the env's MAX_QUEUE_WAIT (ESB_MAX_QUEUE_WAIT).
const dpMaxQueueWait = "120s"

// TestDataPlane runs the data plane end to end in one env: `esb deploy`
// builds the functions and provisions the table and bucket, then requests
// go through the gateway's routes and Invoke API to containers the agent
// runs. The subtests share the env and run in order.
func TestDataPlane(t *testing.T) {
	// The burst below queues 200 requests behind 5 slots. Unloaded, that is
	// about 6 s of waiting, inside the default 10 s; on a busy CI host the
	// same burst takes several times longer and the tail would be
	// throttled by design. The test is about no request being lost
	// and the limit holding, so the env gets room to queue.
	t.Parallel()
	s := newStack(t, "dataplane", 800)
	s.set("ESB_MAX_QUEUE_WAIT", dpMaxQueueWait)
	docker := dockerClient(t)
	s.up(t)
	ctx := t.Context()

	work := t.TempDir()
	copyTree(t, filepath.Join("testdata", "dataplane"), work)
	res := s.esb(ctx, t, "deploy", "-t", filepath.Join(work, "template.yml"))
	require.NoError(t, res.err)
	// The deploy returns once CONFIG_DIR is written; the gateway picks it
	// up by itself.
	require.NoError(t, waitHTTP(ctx, s.url("PORT_GATEWAY", "/echo"), http.StatusOK, time.Second), "routes of the deploy never served")

	nonce := randomHex(t)
	gw := func(path string) string { return s.url("PORT_GATEWAY", path) }
	ddb := s.dynamoDB()
	objects := s.s3()

	t.Run("boto3 reads and writes DynamoDB and S3", func(t *testing.T) {
		tests := []struct {
			name    string
			route   string
			payload string
		}{
			{name: "payload 1.0 route", route: "/store/", payload: "1.0"},
			{name: "payload 2.0 route", route: "/v2/store/", payload: "2.0"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				ctx := t.Context()
				id := "fn-" + strings.ReplaceAll(tt.payload, ".", "") + "-" + nonce
				value := "value of " + id

				status, _, body := dpRequest(ctx, t, http.MethodPut, gw(tt.route+id), `{"value":"`+value+`"}`)
				require.Equal(t, http.StatusCreated, status, "%s", body)
				assert.JSONEq(t, `{"id":"`+id+`","payload":"`+tt.payload+`"}`, string(body))

				status, _, body = dpRequest(ctx, t, http.MethodGet, gw(tt.route+id), "")
				require.Equal(t, http.StatusOK, status, "%s", body)
				assert.JSONEq(t, fmt.Sprintf(`{"id":%q,"item":{"id":%q,"value":%q,"payload":%q},"object":%q,"payload":%q}`,
					id, id, value, tt.payload, value, tt.payload), string(body))

				// What the function wrote is in the real services.
				got, err := ddb.GetItem(ctx, &dynamodb.GetItemInput{
					TableName: aws.String(dpTable),
					Key:       map[string]ddbtypes.AttributeValue{"id": &ddbtypes.AttributeValueMemberS{Value: id}},
				})
				require.NoError(t, err)
				require.NotNil(t, got.Item, "item %s not in table %s", id, dpTable)
				assert.Equal(t, &ddbtypes.AttributeValueMemberS{Value: value}, got.Item["value"])
				assert.Equal(t, &ddbtypes.AttributeValueMemberS{Value: tt.payload}, got.Item["payload"])
				assert.Equal(t, value, getObject(ctx, t, objects, "objects/"+id))
			})
		}

		t.Run("written by the test, read by the function", func(t *testing.T) {
			ctx := t.Context()
			id := "sdk-" + nonce
			_, err := ddb.PutItem(ctx, &dynamodb.PutItemInput{
				TableName: aws.String(dpTable),
				Item: map[string]ddbtypes.AttributeValue{
					"id":      &ddbtypes.AttributeValueMemberS{Value: id},
					"value":   &ddbtypes.AttributeValueMemberS{Value: "from go"},
					"payload": &ddbtypes.AttributeValueMemberS{Value: "sdk"},
				},
			})
			require.NoError(t, err)
			_, err = objects.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(dpBucket), Key: aws.String("objects/" + id), Body: strings.NewReader("object from go")})
			require.NoError(t, err)

			status, _, body := dpRequest(ctx, t, http.MethodGet, gw("/v2/store/"+id), "")
			require.Equal(t, http.StatusOK, status, "%s", body)
			assert.JSONEq(t, fmt.Sprintf(`{"id":%q,"item":{"id":%q,"value":"from go","payload":"sdk"},"object":"object from go","payload":"2.0"}`, id, id), string(body))
		})
	})

	t.Run("timeout", func(t *testing.T) {
		ctx := t.Context()
		// A function past its own Timeout failed ("Task timed out" is a
		// function error): the REST API answers 502, not its integration
		// timeout's 504.
		status, _, body := dpRequest(ctx, t, http.MethodGet, gw("/slow"), "")
		assert.Equal(t, http.StatusBadGateway, status, "%s", body)
		assert.Equal(t, `{"message": "Internal server error"}`, string(body))

		status, h, body := dpRequest(ctx, t, http.MethodPost, gw("/2015-03-31/functions/SlowFunction/invocations"), `{}`)
		assert.Equal(t, http.StatusOK, status, "%s", body)
		assert.Equal(t, "Unhandled", h.Get("X-Amz-Function-Error"))
		var fnErr struct {
			ErrorMessage string `json:"errorMessage"`
		}
		require.NoError(t, json.Unmarshal(body, &fnErr), "%s", body)
		assert.Contains(t, fnErr.ErrorMessage, "Task timed out after 1.00 seconds")
	})

	t.Run("crash answers the HTTP API's 500 and the next request gets a fresh container", func(t *testing.T) {
		ctx := t.Context()
		before := crashIdentity(ctx, t, gw("/crash"))
		require.NotEmpty(t, before.Hostname)

		status, _, body := dpRequest(ctx, t, http.MethodGet, gw("/crash?crash=1"), "")
		assert.Equal(t, http.StatusInternalServerError, status, "%s", body)
		assert.Equal(t, `{"message":"Internal Server Error"}`, string(body))

		after := crashIdentity(ctx, t, gw("/crash"))
		assert.NotEqual(t, before.Hostname, after.Hostname, "the crashed container answered again")
		assert.NotEqual(t, before.ProcessID, after.ProcessID)
		// The crashed container is removed, not kept warm.
		err := poll(ctx, 200*time.Millisecond, 30*time.Second, func() error {
			for _, c := range functionContainers(ctx, t, docker, s, "CrashFunction") {
				if strings.HasPrefix(c.ID, before.Hostname) {
					return fmt.Errorf("crashed container %s still there (%s)", c.ID[:12], c.State)
				}
			}
			return nil
		})
		assert.NoError(t, err)
	})

	t.Run("Invoke API through aws-sdk-go-v2", func(t *testing.T) {
		fns := lambda.New(lambda.Options{
			Region:           "us-east-1",
			BaseEndpoint:     aws.String(gw("")),
			Credentials:      platformCredentials,
			RetryMaxAttempts: 1, // an error must surface, not be retried away
		})
		tests := []struct {
			name        string
			input       lambda.InvokeInput
			wantStatus  int32
			wantFnError string
			check       func(t *testing.T, payload map[string]any)
		}{
			{
				name:       "RequestResponse",
				input:      lambda.InvokeInput{FunctionName: aws.String("EchoFunction"), Payload: []byte(`{"echo":"hi ` + nonce + `"}`)},
				wantStatus: http.StatusOK,
				check: func(t *testing.T, p map[string]any) {
					assert.Equal(t, map[string]any{"echo": "hi " + nonce}, p["echo"])
					assert.Equal(t, "EchoFunction", p["function_name"])
					assert.NotEmpty(t, p["request_id"])
				},
			},
			{
				name:       "RequestResponse by ARN",
				input:      lambda.InvokeInput{FunctionName: aws.String("arn:aws:lambda:us-east-1:123456789012:function:EchoFunction"), Payload: []byte(`{"echo":1}`)},
				wantStatus: http.StatusOK,
				check: func(t *testing.T, p map[string]any) {
					assert.Equal(t, map[string]any{"echo": float64(1)}, p["echo"])
				},
			},
			{
				name:        "function error",
				input:       lambda.InvokeInput{FunctionName: aws.String("EchoFunction"), Payload: []byte(`{"raise":"boom ` + nonce + `"}`)},
				wantStatus:  http.StatusOK,
				wantFnError: "Unhandled",
				check: func(t *testing.T, p map[string]any) {
					assert.Equal(t, "ValueError", p["errorType"])
					assert.Equal(t, "boom "+nonce, p["errorMessage"])
					assert.NotEmpty(t, p["stackTrace"])
				},
			},
			{
				name:       "DryRun",
				input:      lambda.InvokeInput{FunctionName: aws.String("EchoFunction"), InvocationType: lambdatypes.InvocationTypeDryRun},
				wantStatus: http.StatusNoContent,
			},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				out, err := fns.Invoke(t.Context(), &tt.input)
				require.NoError(t, err)
				assert.Equal(t, tt.wantStatus, out.StatusCode)
				assert.Equal(t, tt.wantFnError, aws.ToString(out.FunctionError))
				if tt.check == nil {
					assert.Empty(t, out.Payload)
					return
				}
				assert.Equal(t, "$LATEST", aws.ToString(out.ExecutedVersion))
				var p map[string]any
				require.NoError(t, json.Unmarshal(out.Payload, &p), "%s", out.Payload)
				tt.check(t, p)
			})
		}

		t.Run("Event runs in the background", func(t *testing.T) {
			ctx := t.Context()
			key := "event/" + nonce
			out, err := fns.Invoke(ctx, &lambda.InvokeInput{
				FunctionName:   aws.String("EchoFunction"),
				InvocationType: lambdatypes.InvocationTypeEvent,
				Payload:        []byte(`{"put_object":{"key":"` + key + `","body":"async ` + nonce + `"}}`),
			})
			require.NoError(t, err)
			assert.Equal(t, int32(http.StatusAccepted), out.StatusCode)
			assert.Empty(t, out.Payload)
			// The object the function writes is the proof it ran.
			err = poll(ctx, 200*time.Millisecond, 30*time.Second, func() error {
				_, err := objects.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(dpBucket), Key: aws.String(key)})
				return err
			})
			require.NoError(t, err)
			assert.Equal(t, "async "+nonce, getObject(ctx, t, objects, key))
		})

		t.Run("unknown function", func(t *testing.T) {
			_, err := fns.Invoke(t.Context(), &lambda.InvokeInput{FunctionName: aws.String("NoSuchFunction")})
			var notFound *lambdatypes.ResourceNotFoundException
			require.ErrorAs(t, err, &notFound)
			assert.Contains(t, aws.ToString(notFound.Message), "arn:aws:lambda:us-east-1:123456789012:function:NoSuchFunction")
		})
	})

	t.Run("reserved concurrency bounds executions and loses no request", func(t *testing.T) {
		ctx := t.Context()
		const limit, requests = 5, 200
		gwEnv := gatewayContainer(ctx, t, docker, s).Config.Env
		require.Contains(t, gwEnv, "MAX_QUEUE_WAIT="+dpMaxQueueWait)
		hc := &http.Client{Transport: &http.Transport{Proxy: nil, MaxIdleConnsPerHost: requests}}
		defer hc.CloseIdleConnections()

		// Every container the function ever has, seen from Docker, while
		// the burst runs.
		seen := map[string]bool{}
		watchCtx, stopWatch := context.WithCancel(ctx)
		var watching sync.WaitGroup
		watching.Go(func() {
			for {
				list, err := docker.ContainerList(watchCtx, container.ListOptions{All: true, Filters: functionFilter(s, "LimitedFunction")})
				if err == nil {
					for _, c := range list {
						seen[c.ID] = true
					}
				}
				select {
				case <-watchCtx.Done():
					return
				case <-time.After(50 * time.Millisecond):
				}
			}
		})

		// Warm-up at the limit, so that the burst below waits only for
		// slots (40 rounds of 150 ms and overhead), not for cold starts too.
		var warm sync.WaitGroup
		for range limit {
			warm.Go(func() {
				req, err := http.NewRequestWithContext(ctx, http.MethodGet, gw("/limited"), nil)
				if err != nil {
					return
				}
				if resp, err := hc.Do(req); err == nil {
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
			})
		}
		warm.Wait()

		type answer struct {
			status int
			body   []byte
			err    error
		}
		answers := make([]answer, requests)
		var burst sync.WaitGroup
		for i := range answers {
			burst.Go(func() {
				req, err := http.NewRequestWithContext(ctx, http.MethodGet, gw("/limited"), nil)
				if err != nil {
					answers[i].err = err
					return
				}
				resp, err := hc.Do(req)
				if err != nil {
					answers[i].err = err
					return
				}
				defer resp.Body.Close()
				answers[i].body, answers[i].err = io.ReadAll(resp.Body)
				answers[i].status = resp.StatusCode
			})
		}
		burst.Wait()
		stopWatch()
		watching.Wait()
		// One last look, for a container created after the last poll.
		list, err := docker.ContainerList(ctx, container.ListOptions{All: true, Filters: functionFilter(s, "LimitedFunction")})
		require.NoError(t, err)
		for _, c := range list {
			seen[c.ID] = true
		}

		statuses := map[int]int{}
		hostnames := map[string]int{}
		var runs []execution
		for i, a := range answers {
			require.NoError(t, a.err, "request %d", i)
			statuses[a.status]++
			if a.status != http.StatusOK {
				continue
			}
			var e execution
			require.NoError(t, json.Unmarshal(a.body, &e), "request %d: %s", i, a.body)
			hostnames[e.Hostname]++
			runs = append(runs, e)
		}
		assert.Equal(t, map[int]int{http.StatusOK: requests}, statuses, "every request answered 200")
		assert.LessOrEqual(t, len(hostnames), limit, "containers that answered: %v", hostnames)
		assert.LessOrEqual(t, len(seen), limit, "containers of the function Docker ever listed: %v", keys(seen))
		// A container has its own ID as hostname, or, when it joined a
		// netns holder (docker mode's NETNS_POOL), the holder's: one
		// holder serves one container.
		names := keys(seen)
		for id := range seen {
			if c, err := docker.ContainerInspect(ctx, id); err == nil {
				if holder, ok := strings.CutPrefix(string(c.HostConfig.NetworkMode), "container:"); ok {
					names = append(names, holder)
				}
			}
		}
		for h := range hostnames {
			assert.True(t, slices.ContainsFunc(names, func(id string) bool { return strings.HasPrefix(id, h) }),
				"hostname %s is none of the containers Docker listed, nor their netns holders", h)
		}
		peak := peakOverlap(runs)
		t.Logf("%d requests: %d containers answered %v; peak overlapping executions %d", requests, len(hostnames), hostnames, peak)
		assert.LessOrEqual(t, peak, limit, "executions overlapping at once")
		assert.Greater(t, peak, 1, "executions never overlapped: the limit acted as 1")
	})

	t.Run("hot reload adds a route without a restart", func(t *testing.T) {
		ctx := t.Context()
		before := gatewayContainer(ctx, t, docker, s)
		status, _, _ := dpRequest(ctx, t, http.MethodGet, gw("/added"), "")
		require.Equal(t, http.StatusNotFound, status)

		res := s.esb(ctx, t, "deploy", "-t", filepath.Join(work, "template-added.yml"))
		require.NoError(t, res.err)
		err := poll(ctx, time.Second, 30*time.Second, func() error {
			status, _, body := dpRequest(ctx, t, http.MethodGet, gw("/added"), "")
			if status != http.StatusOK || string(body) != "added" {
				return fmt.Errorf("GET /added: %d %s", status, body)
			}
			return nil
		})
		require.NoError(t, err)

		after := gatewayContainer(ctx, t, docker, s)
		assert.Equal(t, before.ID, after.ID, "gateway container replaced")
		assert.Equal(t, before.State.StartedAt, after.State.StartedAt, "gateway restarted")
		assert.Equal(t, before.RestartCount, after.RestartCount)
		assert.True(t, after.State.Running)
		// The first deploy's routes are still served: a deploy adds.
		status, _, body := dpRequest(ctx, t, http.MethodGet, gw("/echo"), "")
		assert.Equal(t, http.StatusOK, status, "%s", body)
	})

	t.Run("access log and function output reach the log store", func(t *testing.T) {
		ctx := t.Context()
		marker := "mark-" + nonce
		status, h, body := dpRequest(ctx, t, http.MethodGet, gw("/echo?marker="+marker), "")
		require.Equal(t, http.StatusOK, status, "%s", body)
		reqID := h.Get("X-Amzn-Requestid")
		require.NotEmpty(t, reqID)

		var access, printed []map[string]string
		err := poll(ctx, 500*time.Millisecond, 60*time.Second, func() error {
			var err error
			if access, err = queryLogStore(ctx, s, `service:gateway request_id:"`+reqID+`"`); err != nil {
				return err
			}
			if printed, err = queryLogStore(ctx, s, `service:function function:EchoFunction "echo marker `+marker+`"`); err != nil {
				return err
			}
			if len(access) == 0 || len(printed) == 0 {
				return fmt.Errorf("access log lines %d, function lines %d", len(access), len(printed))
			}
			return nil
		})
		require.NoError(t, err)

		require.Len(t, access, 1)
		a := access[0]
		assert.Equal(t, s.layout.Env.Key(), a["env"], "the env, shifted by ESB_E2E_SHIFT or not")
		assert.Equal(t, "api", a["kind"])
		assert.Equal(t, "GET", a["method"])
		assert.Equal(t, "/echo", a["path"])
		assert.Equal(t, "200", a["status"])
		assert.Equal(t, "EchoFunction", a["function"])
		assert.Equal(t, "GET /echo 200", a["_msg"])

		require.Len(t, printed, 1)
		p := printed[0]
		assert.Equal(t, "echo marker "+marker, p["_msg"])
		assert.Equal(t, s.layout.Env.Key(), p["env"])
		assert.Equal(t, "stdout", p["stream"])
		assert.Contains(t, p["container"], "fn-EchoFunction")

		// The function's runtime talks to the gateway's Runtime API (no
		// RIE in between), so the gateway writes Lambda's lines around
		// the invocation into the same stream.
		var lambda []map[string]string
		err = poll(ctx, 500*time.Millisecond, 30*time.Second, func() error {
			var err error
			lambda, err = queryLogStore(ctx, s, `service:function function:EchoFunction "RequestId: `+reqID+`"`)
			if err == nil && len(lambda) < 3 {
				err = fmt.Errorf("%d of START, END, REPORT", len(lambda))
			}
			return err
		})
		require.NoError(t, err)
		var msgs []string
		for _, l := range lambda {
			assert.Equal(t, p["container"], l["container"], "same log stream as the function's output")
			msgs = append(msgs, l["_msg"])
		}
		assert.Contains(t, msgs, "START RequestId: "+reqID+" Version: $LATEST")
		assert.Contains(t, msgs, "END RequestId: "+reqID)
		assert.True(t, slices.ContainsFunc(msgs, func(m string) bool {
			return strings.HasPrefix(m, "REPORT RequestId: "+reqID+"\tDuration: ")
		}), "no REPORT line in %q", msgs)
		for _, c := range functionContainers(ctx, t, docker, s, "EchoFunction") {
			fn, err := docker.ContainerInspect(ctx, c.ID)
			require.NoError(t, err)
			// gateway:9001/<the container's own 32-hex secret>
			assert.True(t, slices.ContainsFunc(fn.Config.Env, regexp.MustCompile(`^AWS_LAMBDA_RUNTIME_API=gateway:9001/[0-9a-f]{32}$`).MatchString),
				"AWS_LAMBDA_RUNTIME_API with the container's secret in %q", fn.Config.Env)
		}
	})

	t.Run("hot reload latency", func(t *testing.T) {
		// Figures only, no assertion on time: from the rename of
		// routing.yml by MergeInto (what deploy does) to the first request
		// the new route answers, with the function warm.
		ctx := t.Context()
		status, _, _ := dpRequest(ctx, t, http.MethodGet, gw("/echo"), "")
		require.Equal(t, http.StatusOK, status)
		const rounds = 20
		var fromRename, fromCall []time.Duration
		for i := range rounds {
			path := fmt.Sprintf("/reload/%s/%d", nonce, i)
			var renamed time.Time
			called := time.Now()
			_, err := runtimeconfig.MergeInto(ctx, s.layout.ConfigDir, runtimeconfig.Config{
				Routing: runtimeconfig.RoutingFile{Routes: []runtimeconfig.Route{
					{Path: path, Method: http.MethodGet, Function: "EchoFunction", Payload: runtimeconfig.PayloadV2},
				}},
			}, runtimeconfig.MergeOptions{AfterWrite: func(_ context.Context, res runtimeconfig.Result) error {
				renamed = time.Now() // routing.yml is the only file this merge rewrites
				if !slices.Equal(res.Written, []string{runtimeconfig.RoutingFileName}) {
					return fmt.Errorf("merge rewrote %v", res.Written)
				}
				return nil
			}})
			require.NoError(t, err)
			err = poll(ctx, 2*time.Millisecond, 30*time.Second, func() error {
				status, _, _ := dpRequest(ctx, t, http.MethodGet, gw(path), "")
				if status != http.StatusOK {
					return fmt.Errorf("GET %s: %d", path, status)
				}
				return nil
			})
			require.NoError(t, err)
			fromRename = append(fromRename, time.Since(renamed))
			fromCall = append(fromCall, time.Since(called))
		}
		t.Logf("hot reload, rename of routing.yml -> first answer of the new route, %d rounds: %s", rounds, percentiles(fromRename))
		t.Logf("hot reload, MergeInto called -> first answer of the new route, %d rounds: %s", rounds, percentiles(fromCall))
	})

	t.Run("warm containers are held between invocations and go back when idle", func(t *testing.T) {
		// Runs last: nothing else calls a function meanwhile.
		ctx := t.Context()
		for range 3 {
			status, _, body := dpRequest(ctx, t, http.MethodGet, gw("/echo"), "")
			require.Equal(t, http.StatusOK, status, "%s", body)
		}
		require.GreaterOrEqual(t, gatewayHealth(ctx, t, gw("/health")).WarmLeases, 1, "the gateway holds the warm container")
		require.NoError(t, poll(ctx, 250*time.Millisecond, 30*time.Second, func() error {
			if n := gatewayHealth(ctx, t, gw("/health")).WarmLeases; n != 0 {
				return fmt.Errorf("%d warm leases still held", n)
			}
			return nil
		}), "idle leases go back to the agent (hold: %s)", lambdainvoke.DefaultHoldIdle)
	})
}

// gatewayHealth reads the gateway's /health.
func gatewayHealth(ctx context.Context, t *testing.T, url string) (h struct {
	WarmLeases int `json:"warm_leases"`
}) {
	t.Helper()
	status, _, body := dpRequest(ctx, t, http.MethodGet, url, "")
	require.Equal(t, http.StatusOK, status, "%s", body)
	require.NoError(t, json.Unmarshal(body, &h), "%s", body)
	return h
}

// dpRequest sends one request and returns its status, headers and body.
// Calls of the gateway's Invoke API and /health are signed with the
// platform's root key, as an AWS SDK signs them.
func dpRequest(ctx context.Context, t *testing.T, method, url, body string) (int, http.Header, []byte) {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, r)
	require.NoError(t, err)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if strings.HasPrefix(req.URL.Path, "/2015-03-31/") || req.URL.Path == "/health" {
		signRequest(t, req, body, "lambda", platformKey)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, resp.Header, data
}

// identity is who answered a request of CrashFunction.
type identity struct {
	Hostname  string `json:"hostname"`   // Docker's default: the container id's first 12 digits
	ProcessID string `json:"process_id"` // random, made when the runtime imported the handler
}

func crashIdentity(ctx context.Context, t *testing.T, url string) identity {
	t.Helper()
	status, _, body := dpRequest(ctx, t, http.MethodGet, url, "")
	require.Equal(t, http.StatusOK, status, "%s", body)
	var id identity
	require.NoError(t, json.Unmarshal(body, &id), "%s", body)
	return id
}

func getObject(ctx context.Context, t *testing.T, api *s3.Client, key string) string {
	t.Helper()
	out, err := api.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(dpBucket), Key: aws.String(key)})
	require.NoError(t, err, "get s3://%s/%s", dpBucket, key)
	defer out.Body.Close()
	data, err := io.ReadAll(out.Body)
	require.NoError(t, err)
	return string(data)
}

// poll calls check every interval until it returns nil, for at most limit;
// the error names the last failure.
func poll(ctx context.Context, interval, limit time.Duration, check func() error) error {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	for {
		err := check()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("after %s: %w", limit, err)
		case <-time.After(interval):
		}
	}
}

// functionFilter selects the containers the agent runs for a function of
// the env.
func functionFilter(s *stack, function string) filters.Args {
	return filters.NewArgs(
		filters.Arg("label", agentapi.LabelEnv+"="+s.layout.Env.Key()),
		filters.Arg("label", agentapi.LabelFunction+"="+function),
	)
}

func functionContainers(ctx context.Context, t testing.TB, docker client.APIClient, s *stack, function string) []container.Summary {
	t.Helper()
	list, err := docker.ContainerList(ctx, container.ListOptions{All: true, Filters: functionFilter(s, function)})
	require.NoError(t, err)
	return list
}

// gatewayContainer inspects the env's gateway service container.
func gatewayContainer(ctx context.Context, t testing.TB, docker client.APIClient, s *stack) container.InspectResponse {
	t.Helper()
	list, err := docker.ContainerList(ctx, container.ListOptions{All: true, Filters: filters.NewArgs(
		filters.Arg("label", "com.docker.compose.project="+s.layout.Env.Project()),
		filters.Arg("label", "com.docker.compose.service=gateway"),
	)})
	require.NoError(t, err)
	require.Len(t, list, 1)
	inspect, err := docker.ContainerInspect(ctx, list[0].ID)
	require.NoError(t, err)
	return inspect
}

// execution is what one call of LimitedFunction reports.
type execution struct {
	Hostname   string  `json:"hostname"`
	Start, End float64 // seconds since the epoch, on the host's clock
}

// peakOverlap is the largest number of executions running at one instant.
func peakOverlap(runs []execution) int {
	type edge struct {
		at    float64
		delta int
	}
	edges := make([]edge, 0, 2*len(runs))
	for _, r := range runs {
		edges = append(edges, edge{r.Start, +1}, edge{r.End, -1})
	}
	// At equal times an end goes first: back-to-back runs do not overlap.
	sort.Slice(edges, func(i, j int) bool {
		if edges[i].at != edges[j].at {
			return edges[i].at < edges[j].at
		}
		return edges[i].delta < edges[j].delta
	})
	peak, cur := 0, 0
	for _, e := range edges {
		cur += e.delta
		peak = max(peak, cur)
	}
	return peak
}

// queryLogStore flushes VictoriaLogs' buffers and runs a LogsQL query.
func queryLogStore(ctx context.Context, s *stack, query string) ([]map[string]string, error) {
	flush, err := http.NewRequestWithContext(ctx, http.MethodGet, s.url("PORT_LOGS", "/internal/force_flush"), nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(flush)
	if err != nil {
		return nil, fmt.Errorf("force flush: %w", err)
	}
	resp.Body.Close()
	q, err := http.NewRequestWithContext(ctx, http.MethodGet, s.url("PORT_LOGS", "/select/logsql/query?query="+url.QueryEscape(query)), nil)
	if err != nil {
		return nil, err
	}
	resp, err = http.DefaultClient.Do(q)
	if err != nil {
		return nil, fmt.Errorf("query %q: %w", query, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(resp.Body)
		return nil, fmt.Errorf("query %q: %s: %s", query, resp.Status, body)
	}
	var rows []map[string]string
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if len(bytes.TrimSpace(sc.Bytes())) == 0 {
			continue
		}
		var row map[string]string
		if err := json.Unmarshal(sc.Bytes(), &row); err != nil {
			return nil, fmt.Errorf("query %q: row %s: %w", query, sc.Text(), err)
		}
		rows = append(rows, row)
	}
	return rows, sc.Err()
}

// percentiles renders p50, p95 and max of ds in milliseconds.
func percentiles(ds []time.Duration) string {
	sorted := slices.Clone(ds)
	slices.Sort(sorted)
	at := func(p float64) float64 {
		i := int(p*float64(len(sorted))+0.999999) - 1
		return float64(sorted[max(i, 0)].Microseconds()) / 1000
	}
	return fmt.Sprintf("p50 %.1f ms, p95 %.1f ms, max %.1f ms", at(0.50), at(0.95), at(1))
}

func randomHex(t testing.TB) string {
	t.Helper()
	b := make([]byte, 4)
	_, err := rand.Read(b)
	require.NoError(t, err)
	return hex.EncodeToString(b)
}
