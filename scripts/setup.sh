#!/usr/bin/env bash
# setup.sh installs what ESB needs on a Debian host, and only what is missing:
# Docker Engine (started when not running), the Compose v2 plugin, just, the
# Debian base images, a Go builder image, the Dagger engine image and the
# matching dagger CLI. Where an image can be pulled it is pulled; where it
# cannot (air-gapped sites), it is built from Debian's archive and the Go
# module proxy. A second run does no rebuild work.
#
# scripts/setup.sh --from-bundle FILE [--dir DIR] installs a site from a
# platform bundle (`esb bundle platform -o FILE` on a machine that built
# ESB) instead: it builds nothing. Docker Engine comes from Debian's archive
# when missing; the bundle is verified (refused when truncated or tampered,
# and then nothing changes), its images are loaded, esb, the compose files,
# justfile and scripts are written into DIR (default $ESB_HOME/site), and
# the Compose plugin and just it carries are installed where missing.
# Then: cd DIR && just demo.
#
# Environment:
#   ESB_HOME          where esb keeps its tools (default ~/.esb); dagger lands in $ESB_HOME/bin
#   ESB_BUNDLE_SHA256 --from-bundle: the bundle's sha256 as its export printed it; another is refused
#   ESB_BUNDLE_PUBKEY --from-bundle: ed25519 public key (esb bundle keygen); the bundle must carry
#                     FILE.sig made with its private key (esb bundle platform --sign), or it is refused
#   ESB_EXTRA_CA_FILE extra trusted root CA bundle for container builds
#                     (default: $SSL_CERT_FILE when set)
#   ESB_OFFLINE=1     never try to pull from public registries
#   ESB_K8S=off       do not build the local Kubernetes (kubernetes-mode tests then build it)
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ESB_HOME=${ESB_HOME:-$HOME/.esb}
BIN=$ESB_HOME/bin
LOG_DIR=$ESB_HOME/log
DAGGER_VERSION=v0.19.10
COMPOSE_VERSION=v5.6.0
GO_TOOLCHAIN=go1.26.8
# amd64 or arm64: the Go toolchain image and every image built here follow
# the host (arm64 is built the same way, but untested: no arm64 machine).
GOARCH_HOST=$(go env GOARCH 2>/dev/null || dpkg --print-architecture)
GOLANG_IMAGE=golang:1.26-bookworm
# The engine image compose runs; its tag lives once, in the compose file.
# (--from-bundle reads it once the bundle's compose files are installed.)
DAGGER_ENGINE_IMAGE=$(sed -n 's/^ *image: \(esb\/dagger-engine:.*\)$/\1/p' "$REPO/compose/docker-compose.infra.yml" 2>/dev/null || true)
DAGGER_UPSTREAM_IMAGE=registry.dagger.io/engine:$DAGGER_VERSION
mkdir -p "$BIN" "$LOG_DIR"

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo

step() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
ok() { printf '    ok: %s\n' "$*" >&2; }
die() { printf 'setup: %s\n' "$*" >&2; exit 1; }
elapsed() { printf '%ds' $((SECONDS - $1)); }

apt_install() {
	local missing=() p
	for p in "$@"; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p"); done
	[ ${#missing[@]} -eq 0 ] && return 0
	step "apt-get install ${missing[*]}"
	$SUDO apt-get update -qq >"$LOG_DIR/apt.log" 2>&1 || { tail -n 20 "$LOG_DIR/apt.log" >&2; die "apt-get update failed"; }
	$SUDO env DEBIAN_FRONTEND=noninteractive NEEDRESTART_SUSPEND=1 \
		apt-get install -y -qq --no-install-recommends "${missing[@]}" >"$LOG_DIR/apt.log" 2>&1 ||
		{ tail -n 20 "$LOG_DIR/apt.log" >&2; die "apt-get install ${missing[*]} failed"; }
}

can_pull() { [ "${ESB_OFFLINE:-0}" != 1 ] && timeout 120 docker pull -q "$1" >/dev/null 2>&1; }
have_image() { docker image inspect "$1" >/dev/null 2>&1; }

# daemon_sets_userland_proxy: /etc/docker/daemon.json decides docker-proxy
# itself (then dockerd refuses the flag too).
daemon_sets_userland_proxy() { grep -qs userland-proxy /etc/docker/daemon.json; }

ensure_docker() {
	if ! command -v dockerd >/dev/null 2>&1; then
		apt_install docker.io
	fi
	if docker info >/dev/null 2>&1; then
		ok "docker engine running"
		# Started by someone else (systemd after apt, say): say so when it
		# still puts docker-proxy in front of published ports.
		if ! daemon_sets_userland_proxy &&
			! ps -o args= -C dockerd 2>/dev/null | grep -q -- '--userland-proxy=false'; then
			echo "    note: dockerd runs with docker-proxy; \"userland-proxy\": false in /etc/docker/daemon.json saves ~0.05 ms per gateway request" >&2
		fi
		return
	fi
	# Published ports without docker-proxy: the kernel forwards them (Docker's
	# recommended setting). The userland copy in front of the gateway cost
	# 0.05-0.06 ms per request here, a fifth of a warm invocation's overhead.
	local flags="--userland-proxy=false"
	daemon_sets_userland_proxy && flags=""
	step "starting dockerd $flags (log: $LOG_DIR/dockerd.log)"
	$SUDO sh -c "setsid nohup dockerd $flags >'$LOG_DIR/dockerd.log' 2>&1 &"
	local i
	for i in $(seq 1 60); do
		docker info >/dev/null 2>&1 && { ok "docker engine up after ${i}s"; return; }
		sleep 1
	done
	tail -n 20 "$LOG_DIR/dockerd.log" >&2 || true
	die "dockerd did not come up within 60s"
}

ensure_compose() {
	local v
	v=$(docker compose version --short 2>/dev/null || true)
	case "$v" in
	2.2[0-9]* | 2.[3-9][0-9]* | v5* | 5*) ok "docker compose $v"; return ;;
	esac
	step "building Docker Compose $COMPOSE_VERSION from the Go module proxy"
	local t=$SECONDS dir src
	dir=$(go mod download -json "github.com/docker/compose/v5@$COMPOSE_VERSION" 2>/dev/null | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')
	[ -n "$dir" ] || die "go mod download of docker compose failed"
	src=$(mktemp -d)
	cp -r "$dir/." "$src" && chmod -R u+w "$src"
	local plugins=${DOCKER_CONFIG:-$HOME/.docker}/cli-plugins
	mkdir -p "$plugins"
	(cd "$src" && CGO_ENABLED=0 go build -trimpath \
		-ldflags "-s -w -X github.com/docker/compose/v5/internal.Version=$COMPOSE_VERSION" \
		-o "$plugins/docker-compose" ./cmd) >"$LOG_DIR/compose-build.log" 2>&1 ||
		{ tail -n 20 "$LOG_DIR/compose-build.log" >&2; die "docker compose build failed"; }
	rm -rf "$src"
	ok "docker compose $(docker compose version --short) in $(elapsed $t)"
}

ensure_just() {
	if command -v just >/dev/null 2>&1; then ok "just $(just --version | cut -d' ' -f2)"; return; fi
	step "installing just (npm rust-just)"
	npm install -g --silent rust-just >/dev/null
	command -v just >/dev/null 2>&1 || die "just installed but not on PATH (npm prefix: $(npm prefix -g)/bin)"
	ok "just $(just --version | cut -d' ' -f2)"
}

# Container builds that fetch over HTTPS trust the certs in $REPO/certs, so
# sites behind an intercepting proxy work like any other.
ensure_ca() {
	local src=${ESB_EXTRA_CA_FILE:-${SSL_CERT_FILE:-}}
	local dst=$REPO/certs/extra-ca.crt
	if [ -z "$src" ]; then ok "no extra CA (set ESB_EXTRA_CA_FILE to add one)"; return; fi
	[ -r "$src" ] || die "extra CA bundle $src is not readable"
	if cmp -s "$src" "$dst"; then ok "extra CA $src"; return; fi
	cp "$src" "$dst"
	ok "extra CA $src copied to certs/ for container builds"
}

debootstrap_image() {
	local suite=$1 tag=$2 root
	apt_install debootstrap
	step "building $tag with debootstrap (no registry can serve it)"
	local t=$SECONDS
	root=$(mktemp -d)
	$SUDO debootstrap --variant=minbase --include=ca-certificates "$suite" "$root" http://deb.debian.org/debian \
		>"$LOG_DIR/debootstrap-$suite.log" 2>&1 || { tail -n 20 "$LOG_DIR/debootstrap-$suite.log" >&2; die "debootstrap $suite failed"; }
	# Same trimming as the official slim images: no package lists, no .debs.
	$SUDO rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* "$root"/usr/share/doc/* "$root"/usr/share/man/*
	$SUDO tar -C "$root" -c . | docker import \
		-c 'CMD ["bash"]' -c 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
		- "$tag" >/dev/null
	$SUDO rm -rf "$root"
	ok "$tag in $(elapsed $t)"
}

ensure_base_image() {
	local suite=$1 tag=debian:$1-slim
	if have_image "$tag"; then ok "$tag"; return; fi
	if can_pull "$tag"; then ok "$tag pulled"; return; fi
	debootstrap_image "$suite" "$tag"
}

# The Go toolchain is served by the Go module proxy as a module; unpacked on
# Debian bookworm where the official image keeps it, it is that image.
ensure_golang_image() {
	if have_image "$GOLANG_IMAGE"; then ok "$GOLANG_IMAGE"; return; fi
	if can_pull "$GOLANG_IMAGE"; then ok "$GOLANG_IMAGE pulled"; return; fi
	step "building $GOLANG_IMAGE from golang.org/toolchain@$GO_TOOLCHAIN"
	local t=$SECONDS zip ctx
	zip=$(GOFLAGS=-mod=mod go mod download -json "golang.org/toolchain@v0.0.1-$GO_TOOLCHAIN.linux-$GOARCH_HOST" | sed -n 's/^\t"Zip": "\(.*\)",$/\1/p')
	[ -n "$zip" ] || die "go mod download of the $GO_TOOLCHAIN toolchain failed"
	ctx=$(mktemp -d)
	(cd "$ctx" && python3 -c 'import sys,zipfile; zipfile.ZipFile(sys.argv[1]).extractall(".")' "$zip" 2>/dev/null || unzip -q "$zip")
	mv "$ctx/golang.org/toolchain@v0.0.1-$GO_TOOLCHAIN.linux-$GOARCH_HOST" "$ctx/go"
	rm -rf "$ctx/golang.org"
	chmod -R a+rX "$ctx/go" && find "$ctx/go/bin" "$ctx/go/pkg/tool" -type f -exec chmod +x {} +
	docker build -q -t "$GOLANG_IMAGE" -f "$REPO/services/golang/Dockerfile" "$ctx" >"$LOG_DIR/golang-build.log" 2>&1 ||
		{ tail -n 20 "$LOG_DIR/golang-build.log" >&2; die "golang image build failed"; }
	rm -rf "$ctx"
	ok "$GOLANG_IMAGE in $(elapsed $t)"
}

# The Runtime Interface Emulator image the Lambda base images copy RIE from
# (services/runtime/*.Dockerfile name this tag).
ensure_rie_image() {
	local tag
	tag=$(sed -n 's/^FROM \(esb\/lambda-rie:[^ ]*\) AS rie$/\1/p' "$REPO/services/runtime/python3.13.Dockerfile")
	[ -n "$tag" ] || die "no esb/lambda-rie base in services/runtime/python3.13.Dockerfile"
	if have_image "$tag"; then ok "$tag"; return; fi
	step "building $tag (AWS Lambda Runtime Interface Emulator)"
	local t=$SECONDS
	docker build -t "$tag" -f "$REPO/services/lambda-rie/Dockerfile" "$REPO" >"$LOG_DIR/lambda-rie-build.log" 2>&1 ||
		{ tail -n 20 "$LOG_DIR/lambda-rie-build.log" >&2; die "lambda-rie build failed"; }
	ok "$tag in $(elapsed $t)"
}

# The engine image is the one compose's dagger-engine service uses; the dagger
# CLI the Go SDK drives is copied out of it so both always match.
ensure_dagger() {
	[ -n "$DAGGER_ENGINE_IMAGE" ] || die "no esb/dagger-engine image in compose/docker-compose.infra.yml"
	if have_image "$DAGGER_ENGINE_IMAGE"; then
		ok "dagger engine image $DAGGER_ENGINE_IMAGE"
	else
		local t=$SECONDS dockerfile=Dockerfile
		if can_pull "$DAGGER_UPSTREAM_IMAGE"; then
			dockerfile=Dockerfile.upstream
			step "building $DAGGER_ENGINE_IMAGE on the upstream release"
		else
			step "building the Dagger engine $DAGGER_VERSION from its Go module (about 10 min the first time)"
		fi
		docker build -t "$DAGGER_ENGINE_IMAGE" --build-arg "DAGGER_VERSION=$DAGGER_VERSION" \
			-f "$REPO/services/dagger-engine/$dockerfile" "$REPO" >"$LOG_DIR/dagger-engine-build.log" 2>&1 ||
			{ tail -n 30 "$LOG_DIR/dagger-engine-build.log" >&2; die "dagger engine build failed (log: $LOG_DIR/dagger-engine-build.log)"; }
		ok "dagger engine image in $(elapsed $t)"
	fi
	if [ -x "$BIN/dagger" ] && "$BIN/dagger" version 2>/dev/null | grep -q "$DAGGER_VERSION"; then
		ok "dagger CLI $DAGGER_VERSION"
		return
	fi
	local cid
	cid=$(docker create "$DAGGER_ENGINE_IMAGE")
	if docker cp "$cid:/usr/local/bin/dagger" "$BIN/dagger.new" 2>/dev/null; then
		docker rm "$cid" >/dev/null
		mv "$BIN/dagger.new" "$BIN/dagger"
	else
		docker rm "$cid" >/dev/null
		step "building the dagger CLI $DAGGER_VERSION"
		local dir src
		dir=$(GONOSUMDB=github.com/dagger/dagger go mod download -json "github.com/dagger/dagger@$DAGGER_VERSION" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')
		src=$(mktemp -d)
		cp -r "$dir/." "$src" && chmod -R u+w "$src"
		"$REPO/services/dagger-engine/prepare-source.sh" "$src" "$REPO/services/dagger-engine/distconsts"
		(cd "$src" && GONOSUMDB=github.com/dagger/dagger GOFLAGS=-mod=mod CGO_ENABLED=0 go build -trimpath \
			-ldflags "-s -w -X github.com/dagger/dagger/engine.Version=$DAGGER_VERSION -X github.com/dagger/dagger/engine.Tag=$DAGGER_VERSION" \
			-o "$BIN/dagger" ./cmd/dagger)
		rm -rf "$src"
	fi
	ok "dagger CLI $("$BIN/dagger" version | cut -d' ' -f2) at $BIN/dagger"
}

# The runtime clients' own test suites run on the host under `go test`:
# Java (javac, and Debian's Jackson, which the Java client binds JSON with)
# and Ruby; Python 3 and Node.js come with the host.
ensure_client_test_tools() {
	apt_install ruby openjdk-17-jdk-headless libjackson2-databind-java
	ok "ruby $(ruby -e 'print RUBY_VERSION'), $(javac -version 2>&1), Jackson in /usr/share/java"
}

# The e2e tests render the admin dashboard in headless Chromium (Debian's
# package: no browser download).
ensure_browser() {
	apt_install chromium
	ok "$(chromium --version 2>/dev/null | head -n 1)"
}

# timed runs a step and records how long it took in $TIMES, for the table
# main prints at the end (steps run side by side, so each writes a line).
TIMES=$(mktemp)
trap 'rm -f "$TIMES"' EXIT
timed() {
	local name=$1 t=$SECONDS
	shift
	"$@"
	printf '%s\t%d\n' "$name" $((SECONDS - t)) >>"$TIMES"
}

# together runs each command in a background subshell and waits for all of
# them; it fails, once every one has ended, when any failed. Steps that
# wait on the network (debootstrap, npm) then overlap with the ones that
# compile.
together() {
	local pids=() cmd failed=0 pid
	for cmd in "$@"; do
		(eval "$cmd") &
		pids+=($!)
	done
	for pid in "${pids[@]}"; do
		wait "$pid" || failed=1
	done
	[ "$failed" -eq 0 ] || die "a step above failed"
}

# The images the platform's builds start from, in the order they need each
# other: the Go builder is Debian bookworm plus the toolchain, RIE and the
# Dagger engine are built on it. Trixie is not on that path: its
# debootstrap (network and disk) goes beside the builder's compiling
# rather than beside bookworm's debootstrap.
build_chain() {
	timed debian:bookworm-slim ensure_base_image bookworm
	together "timed debian:trixie-slim ensure_base_image trixie" go_chain
}

go_chain() {
	timed "$GOLANG_IMAGE" ensure_golang_image
	together "timed lambda-rie ensure_rie_image" "timed dagger ensure_dagger"
}

# ensure_kubernetes_build starts the build of the local Kubernetes that the
# kubernetes-mode tests run (scripts/k8s/cluster.sh build: v1.37.2 and etcd
# from the Go module proxy, ~25 min on two cores the first time, then cached
# per machine by version) in the background, at low priority: it overlaps
# with the rest of setup and with the tests that come before it, which
# wait on the network and on containers more than on the CPU. cluster.sh
# holds a lock while it builds, so the tests that need the cluster wait for
# this build rather than start another. ESB_K8S=off skips it.
ensure_kubernetes_build() {
	[ "${ESB_K8S:-on}" != off ] || { ok "kubernetes build skipped (ESB_K8S=off)"; return 0; }
	step "building Kubernetes in the background for the kubernetes-mode tests (log: $LOG_DIR/k8s-build.log)"
	$SUDO setsid nohup nice -n 10 "$REPO/scripts/k8s/cluster.sh" build >"$LOG_DIR/k8s-build.log" 2>&1 </dev/null &
}

# install_tool installs a binary the bundle carries (src) at dst; it fails
# when the bundle has none.
install_tool() {
	local src=$1 dst=$2
	[ -x "$src" ] || return 1
	$SUDO mkdir -p "$(dirname "$dst")"
	$SUDO install -m 0755 "$src" "$dst"
}

# from_bundle installs a site from a platform bundle: no build, no
# registry; only Docker Engine may come from Debian's archive.
# check_bundle_origin checks the bundle file against ESB_BUNDLE_SHA256
# (sha256sum) and its FILE.sig against ESB_BUNDLE_PUBKEY (openssl: an
# ed25519 signature of the file's sha256, as esb bundle platform --sign
# writes it). With neither, it says that only the bundle's own
# consistency is checked.
check_bundle_origin() {
	local file=$1 sum
	if [ -z "${ESB_BUNDLE_SHA256:-}" ] && [ -z "${ESB_BUNDLE_PUBKEY:-}" ]; then
		echo "    note: neither ESB_BUNDLE_SHA256 nor ESB_BUNDLE_PUBKEY is set: the bundle is checked against its own manifest only, not against where it came from" >&2
		return 0
	fi
	sum=$(sha256sum "$file" | cut -d' ' -f1)
	if [ -n "${ESB_BUNDLE_SHA256:-}" ]; then
		[ "$sum" = "$(echo "$ESB_BUNDLE_SHA256" | tr 'A-F' 'a-f' | tr -d '[:space:]')" ] ||
			die "refused: $file has sha256 $sum, not the ESB_BUNDLE_SHA256 it should have"
		ok "sha256 $sum"
	fi
	if [ -n "${ESB_BUNDLE_PUBKEY:-}" ]; then
		command -v openssl >/dev/null 2>&1 || die "ESB_BUNDLE_PUBKEY needs openssl to check $file.sig"
		[ -r "$file.sig" ] || die "refused: no $file.sig (export with esb bundle platform --sign KEY)"
		local tmp line
		tmp=$(mktemp -d)
		line=$(cat "$file.sig")
		[ "${line%% *}" = ed25519 ] || { rm -rf "$tmp"; die "refused: $file.sig is not an ed25519 signature line"; }
		printf '%s' "${line#* }" | base64 -d >"$tmp/sig" 2>/dev/null || { rm -rf "$tmp"; die "refused: $file.sig does not decode"; }
		printf "$(printf %s "$sum" | sed 's/../\\x&/g')" >"$tmp/digest"
		if ! openssl pkeyutl -verify -pubin -inkey "$ESB_BUNDLE_PUBKEY" -rawin -in "$tmp/digest" -sigfile "$tmp/sig" >/dev/null 2>&1; then
			rm -rf "$tmp"
			die "refused: $file.sig does not verify under $ESB_BUNDLE_PUBKEY (the bundle changed, or another key signed it)"
		fi
		rm -rf "$tmp"
		ok "signature of $file.sig under $ESB_BUNDLE_PUBKEY"
	fi
}

from_bundle() {
	local file=$1 site=$2 t0=$SECONDS
	[ -r "$file" ] || die "bundle $file is not readable"
	file=$(cd "$(dirname "$file")" && pwd)/$(basename "$file")
	timed docker ensure_docker
	# The bundle's own esb verifies the whole bundle before it loads or
	# writes anything, but a bundle someone rewrote carries a rewritten esb
	# too: the sum and the signature that say where it came from are
	# checked here, by tools the site already trusts, before that esb runs.
	check_bundle_origin "$file"
	local tmp
	tmp=$(mktemp -d)
	tar -xOf "$file" --occurrence=1 site/bin/esb >"$tmp/esb" 2>"$tmp/tar.log" && [ -s "$tmp/esb" ] ||
		{ cat "$tmp/tar.log" >&2; rm -rf "$tmp"; die "$file has no site/bin/esb: not a platform bundle, or truncated"; }
	chmod +x "$tmp/esb"
	local t=$SECONDS
	"$tmp/esb" bundle platform install "$file" --dir "$site" ${ESB_BUNDLE_SHA256:+--sha256 "$ESB_BUNDLE_SHA256"} \
		${ESB_BUNDLE_PUBKEY:+--verify "$ESB_BUNDLE_PUBKEY"} ||
		{ rm -rf "$tmp"; die "installing from $file failed (see above)"; }
	rm -rf "$tmp"
	printf 'bundle\t%d\n' $((SECONDS - t)) >>"$TIMES"

	local v plugins=${DOCKER_CONFIG:-$HOME/.docker}/cli-plugins
	v=$(docker compose version --short 2>/dev/null || true)
	case "$v" in
	2.2[0-9]* | 2.[3-9][0-9]* | v5* | 5*) ok "docker compose $v" ;;
	*)
		if install_tool "$site/tools/docker-compose" "$plugins/docker-compose"; then
			ok "docker compose $(docker compose version --short) from the bundle"
		else
			timed compose ensure_compose
		fi
		;;
	esac
	if command -v just >/dev/null 2>&1; then
		ok "just $(just --version | cut -d' ' -f2)"
	elif install_tool "$site/tools/just" /usr/local/bin/just; then
		ok "just $(just --version | cut -d' ' -f2) from the bundle"
	else
		timed just ensure_just
	fi
	# The dagger CLI esb drives comes out of the engine image just loaded.
	REPO=$site
	DAGGER_ENGINE_IMAGE=$(sed -n 's/^ *image: \(esb\/dagger-engine:.*\)$/\1/p' "$REPO/compose/docker-compose.infra.yml")
	timed dagger ensure_dagger
	step "site installed from $(basename "$file") in $(elapsed $t0): cd $site && just demo"
	sort -t "$(printf '\t')" -k2,2nr "$TIMES" | awk -F '\t' '{ printf "    %-24s %5ds\n", $1, $2 }' >&2
}

main() {
	local bundle="" site=${ESB_SITE_DIR:-$ESB_HOME/site}
	while [ $# -gt 0 ]; do
		case "$1" in
		--from-bundle) [ $# -ge 2 ] || die "--from-bundle needs a FILE"; bundle=$2; shift 2 ;;
		--from-bundle=*) bundle=${1#*=}; shift ;;
		--dir) [ $# -ge 2 ] || die "--dir needs a DIR"; site=$2; shift 2 ;;
		--dir=*) site=${1#*=}; shift ;;
		-h | --help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; return 0 ;;
		*) die "unknown argument $1 (usage: setup.sh [--from-bundle FILE [--dir DIR]])" ;;
		esac
	done
	if [ -n "$bundle" ]; then
		from_bundle "$bundle" "$site"
		return
	fi
	local t0=$SECONDS
	command -v go >/dev/null 2>&1 || die "Go is required on PATH"
	case "$GOARCH_HOST" in
	amd64) ;;
	arm64) echo "    note: arm64 host: everything builds for arm64; this path is untested (no arm64 CI machine)" >&2 ;;
	*) die "unsupported host architecture $GOARCH_HOST (amd64 or arm64)" ;;
	esac
	# apt holds one lock: the steps that install Debian packages go one
	# after another.
	timed docker ensure_docker
	ensure_kubernetes_build
	timed client-test-tools ensure_client_test_tools
	timed browser ensure_browser
	ensure_ca
	# Installed up front: two debootstraps side by side would both want
	# apt's lock to install it.
	if ! have_image debian:bookworm-slim || ! have_image debian:trixie-slim; then
		apt_install debootstrap
	fi
	together "timed compose ensure_compose" "timed just ensure_just" build_chain
	step "setup done in $(elapsed $t0)"
	# Side by side, so the steps add up to more than the total.
	sort -t "$(printf '\t')" -k2,2nr "$TIMES" | awk -F '\t' '{ printf "    %-24s %5ds\n", $1, $2 }' >&2
}

main "$@"
