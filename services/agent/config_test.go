package main

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/esb-dev/esb/services/agent/launcher"
)

func TestLoadConfig(t *testing.T) {
	base := map[string]string{"ESB_ENV": "Dev", "NETWORK": "esb-dev_functions", "SANDBOX_VOLUME": "esb-dev_sandbox"}
	tests := []struct {
		name    string
		env     map[string]string
		want    config
		wantErr []string
		check   func(t *testing.T, c config) // instead of want
	}{
		{
			name: "defaults",
			env:  base,
			want: config{
				Listen:        ":9000",
				Brand:         "esb",
				Env:           "dev",
				Network:       "esb-dev_functions",
				PullPolicy:    launcher.PullIfNotPresent,
				Runtime:       "docker",
				Sandbox:       &launcher.Sandbox{Egress: true},
				Sandboxinit:   "/usr/local/bin/sandboxinit",
				SandboxVolume: "esb-dev_sandbox",
				SandboxDir:    "/var/lib/esb-sandbox",
				Platform: launcher.Platform{
					Region:           "us-east-1",
					KeyRootSecret:    "esb-local-secret",
					S3Endpoint:       "http://s3-storage:7070",
					DynamoDBEndpoint: "http://database:8000",
					SQSEndpoint:      "http://messaging:4566",
					SNSEndpoint:      "http://messaging:4566",
				},
				StartTimeout:       10 * time.Second,
				AccountConcurrency: 1000,
				ReapInterval:       5 * time.Second,
				NetnsPool:          16,
			},
		},
		{
			name: "everything set",
			env: map[string]string{
				"LISTEN": "127.0.0.1:9100", "ESB_BRAND": "acme", "ESB_ENV": "prod", "NETWORK": "acme-prod_functions",
				"SANDBOX_VOLUME": "acme-prod_sandbox", "SANDBOX_DIR": "/sb", "SANDBOXINIT": "/bin/si", "FUNCTION_EGRESS": "none",
				"IMAGE_PULL_POLICY": "always", "CONTAINER_RUNTIME": "docker", "LOGS_URL": "http://logs:9428",
				"AWS_REGION": "ap-northeast-1", "FUNCTION_KEY_ROOT_SECRET": "s",
				"S3_ENDPOINT": "http://s3:1", "DYNAMODB_ENDPOINT": "http://ddb:2",
				"SQS_ENDPOINT": "http://sqs:3", "SNS_ENDPOINT": "http://sns:4", "START_TIMEOUT": "3s", "REAP_INTERVAL": "250ms",
				"RUNTIME_API": "gateway:9001", "HOST_CGROUP_ROOT": "/host/sys/fs/cgroup", "NETNS_POOL": "0",
			},
			want: config{
				Listen:        "127.0.0.1:9100",
				Brand:         "acme",
				Env:           "prod",
				Network:       "acme-prod_functions",
				PullPolicy:    launcher.PullAlways,
				Runtime:       "docker",
				Sandbox:       &launcher.Sandbox{},
				Sandboxinit:   "/bin/si",
				SandboxVolume: "acme-prod_sandbox",
				SandboxDir:    "/sb",
				CgroupRoot:    "/host/sys/fs/cgroup",
				LogsURL:       "http://logs:9428",
				Platform: launcher.Platform{
					Region: "ap-northeast-1", KeyRootSecret: "s",
					S3Endpoint: "http://s3:1", DynamoDBEndpoint: "http://ddb:2", RuntimeAPI: "gateway:9001",
					SQSEndpoint: "http://sqs:3", SNSEndpoint: "http://sns:4",
				},
				StartTimeout:       3 * time.Second,
				AccountConcurrency: 1000,
				ReapInterval:       250 * time.Millisecond,
			},
		},
		{
			name:    "required values missing, all reported at once",
			env:     map[string]string{},
			wantErr: []string{"ESB_ENV", "NETWORK is required", "SANDBOX_VOLUME is required"},
		},
		{
			name:    "unknown pull policy",
			env:     with(base, "IMAGE_PULL_POLICY", "never"),
			wantErr: []string{`IMAGE_PULL_POLICY: pull policy "never"`},
		},
		{
			name: "containerd defaults: no docker network needed",
			env:  map[string]string{"ESB_ENV": "dev", "CONTAINER_RUNTIME": "containerd", "IMAGE_PULL_POLICY": "always"},
			want: config{
				Listen:      ":9000",
				Brand:       "esb",
				Env:         "dev",
				PullPolicy:  launcher.PullAlways,
				Runtime:     "containerd",
				Sandbox:     &launcher.Sandbox{Egress: true},
				Sandboxinit: "/usr/local/bin/sandboxinit",
				Containerd: containerdConfig{
					Address:    "/run/containerd/containerd.sock",
					Namespace:  "esb",
					DataDir:    "/var/lib/esb-functions",
					PlainHTTP:  []string{"registry:5000"},
					CNIPlugins: []string{"/usr/lib/cni"},
					CNIBridge:  "esb0",
					CNISubnet:  netip.MustParsePrefix("10.88.0.0/16"),
					CNIDataDir: "/var/lib/cni/networks",
					JoinStderr: "/usr/local/bin/joinstderr",
				},
				NetnsPool: 16,
				Platform: launcher.Platform{
					Region:           "us-east-1",
					KeyRootSecret:    "esb-local-secret",
					S3Endpoint:       "http://s3-storage:7070",
					DynamoDBEndpoint: "http://database:8000",
					SQSEndpoint:      "http://messaging:4566",
					SNSEndpoint:      "http://messaging:4566",
				},
				StartTimeout:       10 * time.Second,
				AccountConcurrency: 1000,
				ReapInterval:       5 * time.Second,
			},
		},
		{
			name: "containerd: the runtime API at the bridge's address",
			env:  map[string]string{"ESB_ENV": "dev", "CONTAINER_RUNTIME": "containerd", "CNI_SUBNET": "10.90.0.0/16", "RUNTIME_API": ":9001", "HOST_CGROUP_ROOT": "/host/sys/fs/cgroup"},
			check: func(t *testing.T, c config) {
				assert.Equal(t, "10.90.0.1:9001", c.Platform.RuntimeAPI)
				assert.Equal(t, "/host/sys/fs/cgroup", c.CgroupRoot, "containerd mode sets its functions' CPU group there")
			},
		},
		{
			name:    "docker: the runtime API needs a host",
			env:     with(base, "RUNTIME_API", ":9001"),
			wantErr: []string{`RUNTIME_API ":9001": want host:port`},
		},
		{
			name:    "containerd with a bad subnet",
			env:     map[string]string{"ESB_ENV": "dev", "CONTAINER_RUNTIME": "containerd", "CNI_SUBNET": "fd00::/64"},
			wantErr: []string{`CNI_SUBNET "fd00::/64"`},
		},
		{
			name:    "unknown runtime",
			env:     with(base, "CONTAINER_RUNTIME", "podman"),
			wantErr: []string{`CONTAINER_RUNTIME "podman": want docker, containerd or kubernetes`},
		},
		{
			name: "kubernetes defaults: the env's namespace, the platform registry's name",
			env:  map[string]string{"ESB_ENV": "Dev", "CONTAINER_RUNTIME": "kubernetes", "KUBE_REGISTRY": "192.168.50.1:5010", "RUNTIME_API": "192.168.50.1:9001"},
			check: func(t *testing.T, c config) {
				assert.Equal(t, kubernetesConfig{
					Namespace:     "esb-dev",
					Registry:      "192.168.50.1:5010",
					RegistryNames: []string{"registry:5000"},
				}, c.Kubernetes)
				assert.Equal(t, "192.168.50.1:9001", c.Platform.RuntimeAPI, "used as given: compose sets the cluster's address")
				assert.Empty(t, c.Network, "no docker network needed")
			},
		},
		{
			name: "kubernetes, everything set",
			env: map[string]string{
				"ESB_ENV": "dev", "CONTAINER_RUNTIME": "kubernetes", "KUBECONFIG": "config_test.go", "KUBE_NAMESPACE": "functions",
				"KUBE_REGISTRY": "10.0.0.5:5010", "KUBE_REGISTRY_NAMES": "registry:5000, 127.0.0.1:5010",
				"KUBE_NODE_SELECTOR": "esb.dev/functions=true",
			},
			check: func(t *testing.T, c config) {
				assert.Equal(t, kubernetesConfig{
					Kubeconfig:    "config_test.go",
					Namespace:     "functions",
					Registry:      "10.0.0.5:5010",
					RegistryNames: []string{"registry:5000", "127.0.0.1:5010"},
					NodeSelector:  map[string]string{"esb.dev/functions": "true"},
				}, c.Kubernetes)
			},
		},
		{
			name: "kubernetes with bad values, all reported at once",
			env: map[string]string{
				"ESB_ENV": "dev", "CONTAINER_RUNTIME": "kubernetes", "KUBECONFIG": "/nonexistent/kubeconfig", "KUBE_NAMESPACE": "Bad_NS",
				"KUBE_REGISTRY": "registry", "KUBE_NODE_SELECTOR": "no-value",
			},
			wantErr: []string{`KUBECONFIG "/nonexistent/kubeconfig"`, `KUBE_NAMESPACE "Bad_NS"`, `KUBE_REGISTRY "registry": want the env's registry as the cluster's nodes reach it`, "KUBE_NODE_SELECTOR"},
		},
		{
			name:    "kubernetes mode refuses egress none, which only the cluster can enforce",
			env:     map[string]string{"ESB_ENV": "dev", "CONTAINER_RUNTIME": "kubernetes", "KUBE_REGISTRY": "192.168.50.1:5010", "FUNCTION_EGRESS": "none"},
			wantErr: []string{"FUNCTION_EGRESS=none: in kubernetes mode the cluster closes"},
		},
		{
			name:    "kubernetes needs the nodes' registry address",
			env:     map[string]string{"ESB_ENV": "dev", "CONTAINER_RUNTIME": "kubernetes"},
			wantErr: []string{`KUBE_REGISTRY ""`},
		},
		{
			name:    "bad durations",
			env:     with(with(base, "START_TIMEOUT", "10"), "REAP_INTERVAL", "-1s"),
			wantErr: []string{`START_TIMEOUT "10"`, `REAP_INTERVAL "-1s"`},
		},
		{
			name:    "runtime api without a port",
			env:     with(base, "RUNTIME_API", "gateway"),
			wantErr: []string{`RUNTIME_API "gateway": want host:port`},
		},
		{
			name:    "bad netns pool",
			env:     with(base, "NETNS_POOL", "lots"),
			wantErr: []string{`NETNS_POOL "lots": want a number of prepared network namespaces from 0 (off) to 256`},
		},
		{
			name:    "unknown egress",
			env:     with(base, "FUNCTION_EGRESS", "some"),
			wantErr: []string{`FUNCTION_EGRESS "some": want all or none`},
		},
		{
			name:    "bad logs url",
			env:     with(base, "LOGS_URL", "logs:9428"),
			wantErr: []string{"LOGS_URL"},
		},
		{
			name: "node budget",
			env:  with(with(base, "FUNCTION_MEMORY", "12g"), "ACCOUNT_CONCURRENCY", "50"),
			check: func(t *testing.T, c config) {
				assert.Equal(t, 12*1024, c.FunctionMemoryMB)
				assert.Equal(t, 50, c.AccountConcurrency)
			},
		},
		{
			name:    "bad node budget",
			env:     with(with(base, "FUNCTION_MEMORY", "lots"), "ACCOUNT_CONCURRENCY", "-1"),
			wantErr: []string{`FUNCTION_MEMORY "lots": want MB, or a size such as 12g or 4096m`, `ACCOUNT_CONCURRENCY "-1": want a positive number`},
		},
		{
			name:    "bad env name",
			env:     with(base, "ESB_ENV", "dev env"),
			wantErr: []string{"ESB_BRAND/ESB_ENV"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := loadConfig(func(k string) string { return tt.env[k] })
			if tt.wantErr != nil {
				require.Error(t, err)
				for _, s := range tt.wantErr {
					assert.ErrorContains(t, err, s)
				}
				return
			}
			require.NoError(t, err)
			if tt.check != nil {
				tt.check(t, got)
				return
			}
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestParseMemoryMB(t *testing.T) {
	for in, want := range map[string]int{"4096": 4096, "4096m": 4096, "4096MB": 4096, "12g": 12288, "12GiB": 12288, "1.5g": 1536} {
		got, err := parseMemoryMB(in)
		require.NoError(t, err, in)
		assert.Equal(t, want, got, in)
	}
	for _, in := range []string{"", "0", "-1g", "12t", "g"} {
		_, err := parseMemoryMB(in)
		assert.Error(t, err, in)
	}
}

func TestDefaultFunctionMemory(t *testing.T) {
	mb, err := memTotalMB(strings.NewReader("MemTotal:       24576000 kB\nMemFree: 1 kB\n"))
	require.NoError(t, err)
	assert.Equal(t, 24000, mb)
	_, err = memTotalMB(strings.NewReader("MemFree: 1 kB\n"))
	assert.Error(t, err)
}

func with(m map[string]string, k, v string) map[string]string {
	out := map[string]string{k: v}
	for mk, mv := range m {
		if mk != k {
			out[mk] = mv
		}
	}
	return out
}

func TestFunctionHostNames(t *testing.T) {
	assert.Equal(t, []string{"s3-storage", "database", "messaging"}, functionHostNames(launcher.Platform{
		S3Endpoint: "http://s3-storage:7070", DynamoDBEndpoint: "http://database:8000",
		SQSEndpoint: "http://messaging:4566", SNSEndpoint: "http://messaging:4566",
	}))
	assert.Empty(t, functionHostNames(launcher.Platform{S3Endpoint: "http://172.20.0.3:7070", DynamoDBEndpoint: "http://localhost:8000"}))
	assert.Equal(t, []string{"aws"}, functionHostNames(launcher.Platform{S3Endpoint: "https://aws", DynamoDBEndpoint: "https://aws"}))
}
