# Recipes people use day to day. The env defaults to $ESB_ENV, else dev.
set shell := ["bash", "-euo", "pipefail", "-c"]

env := env_var_or_default("ESB_ENV", "dev")
esb := justfile_directory() / "bin/esb"

# List the recipes.
default:
    @just --list

# Install what is missing on this host (Docker, Compose v2, base images, Dagger).
setup:
    scripts/setup.sh

# Build the esb CLI into bin/ (a site installed from a platform bundle has no sources: it runs the bin/esb it got).
cli:
    if [ -d cmd/esb ]; then go build -o bin/esb ./cmd/esb; else test -x bin/esb || { echo "no bin/esb and no sources to build it: run scripts/setup.sh --from-bundle FILE"; exit 1; }; fi

# Start the platform of an env and wait until every service is healthy.
up: cli
    eval "$({{esb}} env -e {{env}})" && mkdir -p "$CONFIG_DIR" && docker compose up -d --wait
    {{esb}} status -e {{env}}

# Bring the platform up, deploy the example templates A then B, show them answering.
demo: up
    {{esb}} deploy -e {{env}} -t fixtures/template-a.yml
    {{esb}} deploy -e {{env}} -t fixtures/template-b.yml
    eval "$({{esb}} env -e {{env}})" && scripts/demo-check.sh "http://127.0.0.1:$PORT_GATEWAY"

# Deploy a SAM template into the env: just deploy path/to/template.yml
deploy template: cli
    {{esb}} deploy -e {{env}} -t {{template}}

# Show the env's services.
status: cli
    {{esb}} status -e {{env}}

# Stop the env; its CONFIG_DIR and volumes stay.
down: cli
    eval "$({{esb}} env -e {{env}})" && docker compose down

# Stop the env and delete its volumes and CONFIG_DIR: the next up starts clean.
reset: cli
    eval "$({{esb}} env -e {{env}})" && docker compose down --volumes --remove-orphans && rm -rf "$CONFIG_DIR"

# Remove ESB's own service images of earlier sources (each upgrade or edit leaves them); --dry-run lists them.
prune *flags: cli
    {{esb}} prune {{flags}}

# Follow the logs of the env (all services, or one).
logs service="": cli
    eval "$({{esb}} env -e {{env}})" && docker compose logs -f --tail 100 {{service}}

# Unit tests, vet and a short fuzz run of the SAM parser.
unit:
    test -z "$(gofmt -l .)" || { gofmt -l .; echo "gofmt: files above need formatting"; exit 1; }
    go vet ./...
    go vet -tags e2e ./...
    GOOS=linux GOARCH=arm64 go build ./...   # ESB's own binaries cross-compile for arm64 hosts
    go test -race -count=1 ./...
    go test -run '^$' -fuzz '^FuzzParse$' -fuzztime 30s ./internal/sam

# Host-side deploy benchmark: parse + generate + merge of a 200-function template.
bench:
    go test -run '^$' -bench . -benchtime 2s ./internal/configgen ./internal/runtimeconfig

# Warm invoke through the gateway as x-direct (target <= 1.15x), hot-reload p50/p95 (target p95 < 200 ms), a cold burst
# (1,000 requests, 200 in flight: p99 <= 5 s; ESB_BENCH_MODE=containerd for that mode) and the chaos table (agent,
# gateway, registry, database killed under load, both modes), on throwaway envs.
bench-e2e:
    go test -tags e2e -count=1 -timeout 60m -v -run '^$' -bench '^BenchmarkWarmInvoke$' -benchtime 5s ./e2e/ | grep -v 'compose: '
    go test -tags e2e -count=1 -timeout 60m -v -run '^TestDataPlane$/^hot_reload_latency$' ./e2e/ | grep -v 'compose: '
    go test -tags e2e -count=1 -timeout 60m -v -run '^$' -bench '^BenchmarkBurst$' -benchtime 1x ./e2e/ | grep -v 'compose: '
    go test -tags e2e -count=1 -timeout 60m -v -run '^$' -bench '^BenchmarkChaos$' -benchtime 1x ./e2e/ | grep -v 'compose: '

# End-to-end tests against the real stack (starts and removes throwaway envs);
# the services' own Docker-backed tests run here too. One package at a time
# (-p 1): their envs would otherwise build the same platform images side by side.
# Inside the e2e package, three tests at a time (-parallel 3): most of an env's
# time is spent waiting (container starts, health checks, deploys), not computing.
e2e:
    go test -tags e2e -count=1 -p 1 -parallel 3 -timeout 85m -v ./e2e/... ./services/...

# Kubernetes mode alone (part of `just e2e`, needs root): builds the local two-node cluster once per
# machine (scripts/k8s/cluster.sh), starts it, and runs functions on it as Pods: A/B flow, data plane,
# the Pods' sandbox, node loss.
test-k8s:
    go test -tags e2e -count=1 -timeout 60m -v -run '^TestKubernetesMode$' ./e2e/

# Only the module's e2e function (part of `just e2e`): the A/B suite inside a Dagger pipeline,
# run twice (the second answers from cache), given the platform images this machine built.
# Uses the engine of a throwaway env.
e2e-dagger:
    go test -tags e2e -count=1 -timeout 60m -v -run '^TestDaggerModule$/^suite' ./e2e/ | grep -v 'compose: '

# Everything CI runs: unit, then end-to-end, then how long each stage and e2e test took.
test:
    #!/usr/bin/env bash
    set -euo pipefail
    log=$(mktemp)
    trap 'rm -f "$log"' EXIT
    start=$SECONDS
    just unit
    unit=$((SECONDS - start)) start=$SECONDS status=0
    just e2e 2>&1 | tee "$log" || status=$?
    scripts/stage-times.sh "$log" unit=$unit e2e=$((SECONDS - start))
    exit $status

# Build Kubernetes + etcd for the local cluster into ~/.cache/esb/k8s (by version): ~30 min the first time, then seconds.
k8s-build:
    scripts/k8s/cluster.sh build

# Start the local two-node Kubernetes cluster (docs/kubernetes.md) and print its KEY=value contract.
k8s-up: k8s-build
    scripts/k8s/cluster.sh up
    scripts/k8s/cluster.sh status

# Stop the local Kubernetes cluster and remove what it added to the host; `just k8s-down --purge` also deletes its state.
k8s-down *flags:
    scripts/k8s/cluster.sh down {{flags}}
