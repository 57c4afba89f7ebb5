#!/bin/bash
# scripts/k8s/cluster.sh - ESB's local two-node Kubernetes cluster (issue 22), next to Docker, never inside it.
# docs/kubernetes.md ("Local cluster") explains the design; this header is the command reference.
#
#   build                      build Kubernetes + etcd from the Go module proxy, fetch the CNI plugins, build the
#                              pause and probe images; cached per machine by version (a second call takes seconds)
#   up                         start etcd, the control plane and two nodes (a no-op when already up)
#   down [--purge]             stop everything and remove what up added (processes, mounts, bridges, the network
#                              namespace, iptables chains, cgroups), restore sysctls; --purge also deletes the
#                              cluster's state (PKI, etcd, images): the next up starts from scratch
#   status                     human report on stderr, KEY=value lines on stdout: eval "$(cluster.sh status)"
#   env                        the KEY=value lines alone (no checks)
#   kill-node N                node N goes away: its kubelet, containerd and every container of its Pods die
#   restore-node N             node N comes back
#   allow-ports PORT...        Pods may connect to ESB_K8S_HOST_ADDR:PORT (published by Docker or not)
#   deny-ports PORT...         take ports back; allowed-ports prints the list
#   trust-registry HOST:PORT   both nodes pull HOST:PORT/... over plain HTTP; untrust-registry HOST:PORT undoes it
#   agent-kubeconfig NS OUT    a kubeconfig with only what ESB's agent needs in namespace NS (created, PodSecurity
#                              "baseline" enforced, no service-account token automount)
#   selftest                   check the contract: containers reach the API server, Pods on both nodes reach
#                              allowed ports and nothing else, both nodes pull from a plain-HTTP registry
#
# Needs root, Go (build only), containerd + runc (Debian's 1.6 / 1.1 work), iptables, ip, nsenter, openssl, docker.
# The host's Docker is left alone: its containerd, /run/containerd, docker0 and its iptables chains are never touched
# (containerd shims put their sockets in /run/containerd/s: hard-coded in containerd 1.6, named by a hash of our
# socket path; we never remove anything there).
set -euo pipefail

K8S_VERSION=v1.37.2
K8S_STAGING_VERSION=v0.37.2 # k8s.io/* staging modules are tagged v0.<minor>.<patch>
ETCD_VERSION=v3.6.16
CNI_PACKAGE=containernetworking-plugins # Debian's: bridge, host-local, firewall...

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# Per-machine cache, shared by every clone: binaries keyed by version, Go caches beside them.
CACHE=${ESB_CACHE:-$HOME/.cache/esb}/k8s
BIN=$CACHE/$K8S_VERSION/bin
BUILD_MARKER=$BIN/.built
CNI_BIN=$CACHE/cni/usr/lib/cni
IMAGES=$CACHE/images
# Cluster state (PKI, etcd, containerd roots, logs): per machine too, outside the repo.
STATE=${ESB_K8S_STATE:-$CACHE/run}
PKI=$STATE/pki
CFG=$STATE/config
LOGS=$STATE/logs

# Addresses and ports. Chosen apart from ESB's env ports (5000 + 100*k + 0..60, see internal/platform/ports.go)
# and from the reference script's (10.244/16, 16443...), so both can run on one machine.
HOST_ADDR=10.247.0.1         # host side of node 1's pod bridge: API server, node 1's kubelet, Docker-published ESB ports
CLUSTER_CIDR=10.247.0.0/16   # every Pod address, both nodes
SVC_CIDR=10.248.0.0/20       # allocated by the API server, not routed (no kube-proxy)
SVC_APISERVER=10.248.0.1     # the "kubernetes" Service: first address of SVC_CIDR
N2_LINK_HOST=10.248.255.1    # host end of the veth to node 2's network namespace
N2_LINK_NODE=10.248.255.2    # node 2's own address (its kubelet, its containerd's pulls)
APISERVER_PORT=16543
ETCD_PORT=12479
ETCD_PEER_PORT=12480
KCM_PORT=10357
SCHED_PORT=10359
KUBELET_PORT=10391
KUBELET_HEALTHZ_PORT=10348
N2_NETNS=esb-k8s-2
N2_VETH_HOST=esbk8s-n2h
N2_VETH_NODE=esbk8s-n2
# Node loss: the node lifecycle controller marks a node NotReady after this long without a heartbeat, and Pods on
# a NotReady/unreachable node get evicted this long after (Kubernetes defaults: 50s and 300s).
NODE_GRACE=${ESB_K8S_NODE_GRACE:-16s}
EVICTION_SECONDS=${ESB_K8S_EVICTION_SECONDS:-20}

PAUSE_IMAGE=esb-k8s.local/pause:1
PROBE_IMAGE=esb-k8s.local/probe:1

# iptables chains of ours (filter, nat; ip6tables filter). Nothing else is created or flushed.
CH_FWD=ESB-K8S-FWD
CH_IN=ESB-K8S-IN
CH_ALLOW=ESB-K8S-ALLOW
CH_NAT=ESB-K8S-NAT
IPT="iptables -w 10"
IP6T="ip6tables -w 10"

# Messages go to fd 3, a copy of stderr, so that they survive a caller's 2>/dev/null (wait_for's polls).
exec 3>&2
log() { echo "[k8s $(date +%T)] $*" >&3; }
die() {
	echo "[k8s $(date +%T)] ERROR: $*" >&3
	exit 1
}
need_root() { [ "$(id -u)" = 0 ] || die "$1 needs root (it starts a kubelet and changes iptables)"; }

# node_vars N sets the variables of node N (1: the host's network namespace; 2: its own).
node_vars() {
	case "$1" in
	1)
		NODE=esb-k8s-1 NODE_IP=$HOST_ADDR BRIDGE=esbk8s0 POD_SUBNET=10.247.0.0/24 POD_GW=$HOST_ADDR
		NS_EXEC=()
		;;
	2)
		NODE=esb-k8s-2 NODE_IP=$N2_LINK_NODE BRIDGE=esbk8s1 POD_SUBNET=10.247.1.0/24 POD_GW=10.247.1.1
		# nsenter --net only: "ip netns exec" remounts /sys, which hides /sys/fs/cgroup from the kubelet.
		NS_EXEC=(nsenter --net=/run/netns/$N2_NETNS)
		;;
	*) die "node $1: this cluster has nodes 1 and 2" ;;
	esac
	NODE_DIR=$STATE/node$1
	SOCK=$NODE_DIR/run/containerd.sock
	CTR=(ctr --address "$SOCK" -n k8s.io)
}

# ---------------------------------------------------------------------------------------------------------------------
# build

build_env() {
	export GOMODCACHE=$CACHE/gomodcache GOCACHE=$CACHE/gocache CGO_ENABLED=0 GOFLAGS=-buildvcs=false
	export PATH=/usr/local/go/bin:$PATH
	command -v go >/dev/null || die "build needs Go (https://go.dev/dl; scripts/setup.sh installs it)"
}

build_binaries() {
	local want="kubernetes $K8S_VERSION etcd $ETCD_VERSION" b ok=1
	for b in kube-apiserver kube-controller-manager kube-scheduler kubelet kubectl etcd; do
		[ -x "$BIN/$b" ] || ok=0
	done
	if [ $ok = 1 ] && [ "$(cat "$BUILD_MARKER" 2>/dev/null)" = "$want" ]; then
		log "binaries: cached in $BIN ($want)"
		return 0
	fi
	build_env
	mkdir -p "$BIN" "$CACHE/wrap" "$CACHE/etcdwrap"
	rm -f "$BUILD_MARKER"
	local t0=$SECONDS
	log "building $want (from scratch: ~30 min on 2 busy cores; cached Go build: ~1 min)"
	# k8s.io/kubernetes is not meant to be a dependency: its module zip lacks ./staging and its go.mod replaces
	# every k8s.io/* staging module with ./staging/... A wrapper module pins each of them to its published tag
	# (k8s.io/sample-* left out: the proxy refuses one).
	cd "$CACHE/wrap"
	# go's own chatter (hundreds of "go: downloading" lines) goes to a log, shown when a step fails.
	local kgomod mods m blog=$CACHE/build.log
	: >"$blog"
	kgomod=$(go mod download -json "k8s.io/kubernetes@$K8S_VERSION" 2>>"$blog" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p') || true
	[ -f "$kgomod" ] || die "go mod download k8s.io/kubernetes@$K8S_VERSION failed (module proxy reachable?): $(tail -3 "$blog")"
	mods=$(sed -n '/^replace (/,/^)/p' "$kgomod" | grep '=> ./staging' | awk '{print $1}' | grep -v 'k8s.io/sample-')
	{
		printf 'module esb.local/k8swrap\n\ngo 1.26.0\n\ngodebug default=go1.26\n\nrequire (\n\tk8s.io/kubernetes %s\n' "$K8S_VERSION"
		for m in $mods; do printf '\t%s %s\n' "$m" "$K8S_STAGING_VERSION"; done
		printf ')\n\nreplace (\n'
		for m in $mods; do printf '\t%s => %s %s\n' "$m" "$m" "$K8S_STAGING_VERSION"; done
		printf ')\n'
	} >go.mod
	# The version variables a release build stamps; without them the binaries say v0.0.0-master.
	local v=k8s.io/component-base/version cv=k8s.io/client-go/pkg/version
	local minor=${K8S_VERSION#v1.}
	minor=${minor%%.*}
	local ldf="-s -w -X $v.gitVersion=$K8S_VERSION -X $v.gitMajor=1 -X $v.gitMinor=$minor -X $v.gitTreeState=clean"
	ldf="$ldf -X $cv.gitVersion=$K8S_VERSION -X $cv.gitMajor=1 -X $cv.gitMinor=$minor"
	local c s
	for c in kube-apiserver kube-controller-manager kube-scheduler kubelet kubectl; do
		s=$SECONDS
		nice -n 10 go build -mod=mod -trimpath -ldflags "$ldf" -o "$BIN/" "k8s.io/kubernetes/cmd/$c" >>"$blog" 2>&1 ||
			die "building $c $K8S_VERSION failed; the end of $blog:"$'\n'"$(tail -20 "$blog")"
		log "built $c in $((SECONDS - s))s"
	done
	# etcd 3.6 (Debian bookworm's 3.4 is too old for 1.37's watch cache).
	cd "$CACHE/etcdwrap"
	printf 'module esb.local/etcdwrap\n\ngo 1.26.0\n\nrequire go.etcd.io/etcd/server/v3 %s\n' "$ETCD_VERSION" >go.mod
	s=$SECONDS
	nice -n 10 go build -mod=mod -trimpath -ldflags '-s -w' -o "$BIN/etcd" go.etcd.io/etcd/server/v3 >>"$blog" 2>&1 ||
		die "building etcd $ETCD_VERSION failed; the end of $blog:"$'\n'"$(tail -20 "$blog")"
	log "built etcd in $((SECONDS - s))s"
	echo "$want" >"$BUILD_MARKER"
	log "built $want in $((SECONDS - t0))s into $BIN"
}

# The CNI plugins come from Debian's package, extracted into the cache (not installed: nothing lands in /usr).
build_cni() {
	if [ -x "$CNI_BIN/bridge" ] && [ -x "$CNI_BIN/host-local" ] && [ -x "$CNI_BIN/loopback" ]; then
		log "CNI plugins: cached in $CNI_BIN"
		return 0
	fi
	mkdir -p "$CACHE/cni/deb"
	(cd "$CACHE/cni/deb" && rm -f ./*.deb && apt-get download -q "$CNI_PACKAGE" >/dev/null) ||
		die "apt-get download $CNI_PACKAGE failed (run apt-get update?)"
	dpkg-deb -x "$CACHE"/cni/deb/*.deb "$CACHE/cni" || die "extracting $CNI_PACKAGE failed"
	[ -x "$CNI_BIN/bridge" ] || die "$CNI_PACKAGE has no bridge plugin in /usr/lib/cni"
	log "CNI plugins: $(basename "$CACHE"/cni/deb/*.deb) in $CNI_BIN"
}

# The pause (sandbox) and probe (selftest) images: static Go programs of this repo in FROM-scratch images, saved as
# tarballs for `ctr import`. Keyed by a hash of their sources.
build_images() {
	local sum
	sum=$(cat "$REPO"/scripts/k8s/images/*/main.go | sha256sum | cut -c1-16)
	if [ "$(cat "$IMAGES/.built" 2>/dev/null)" = "$sum" ] && [ -f "$IMAGES/pause.tar" ] && [ -f "$IMAGES/probe.tar" ]; then
		log "images: cached in $IMAGES"
		return 0
	fi
	build_env
	mkdir -p "$IMAGES"
	local img tmp out
	for img in pause probe; do
		tmp=$(mktemp -d)
		(cd "$REPO" && go build -trimpath -ldflags '-s -w' -o "$tmp/$img" "./scripts/k8s/images/$img") ||
			die "building the $img program failed"
		printf 'FROM scratch\nCOPY %s /%s\nUSER 65535:65535\nENTRYPOINT ["/%s"]\n' $img $img $img >"$tmp/Dockerfile"
		out=$(docker build -q -t "esb-k8s.local/$img:1" "$tmp" 2>&1) || die "docker build of the $img image failed: $out"
		docker save "esb-k8s.local/$img:1" -o "$IMAGES/$img.tar" || die "docker save of the $img image failed"
		cp "$tmp/$img" "$IMAGES/$img"
		rm -rf "$tmp"
	done
	echo "$sum" >"$IMAGES/.built"
	log "images: $PAUSE_IMAGE $PROBE_IMAGE in $IMAGES"
}

cmd_build() {
	local t0=$SECONDS
	# One build at a time per machine: setup.sh starts one in the background
	# and a test that needs the cluster calls build too; the second waits
	# here, then finds everything cached. (Its own lock: a build must not
	# hold up `up`, `down` or the port rules of a running cluster.)
	mkdir -p "$CACHE"
	exec 8>"$CACHE/.build.lock"
	if ! flock -n 8; then
		log "another build runs (setup.sh starts one in the background); waiting for it"
		flock 8
	fi
	build_binaries
	build_cni
	build_images
	log "build done in $((SECONDS - t0))s"
}

# ---------------------------------------------------------------------------------------------------------------------
# PKI and configuration (written once; up rewrites the configuration, never the PKI)

cert() { # name CN O EKU [SAN]
	local n=$1 cn=$2 o=$3 eku=$4 san=${5:-}
	[ -f "$PKI/$n.crt" ] && return 0
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$PKI/$n.key" -out "$PKI/$n.csr" \
		-subj "/CN=$cn${o:+/O=$o}" 2>/dev/null
	{
		echo "basicConstraints=CA:FALSE"
		echo "keyUsage=critical,digitalSignature,keyEncipherment"
		echo "extendedKeyUsage=$eku"
		[ -z "$san" ] || echo "subjectAltName=$san"
	} >"$PKI/$n.ext"
	openssl x509 -req -in "$PKI/$n.csr" -CA "$PKI/ca.crt" -CAkey "$PKI/ca.key" -CAcreateserial -days 3650 \
		-out "$PKI/$n.crt" -extfile "$PKI/$n.ext" 2>/dev/null || die "signing the $n certificate failed"
	rm -f "$PKI/$n.csr" "$PKI/$n.ext"
}

write_pki() {
	mkdir -p "$PKI"
	chmod 700 "$PKI"
	if [ ! -f "$PKI/ca.crt" ]; then
		openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$PKI/ca.key" \
			-out "$PKI/ca.crt" -days 3650 -subj /CN=esb-k8s-ca -addext basicConstraints=critical,CA:TRUE \
			-addext keyUsage=critical,keyCertSign,cRLSign,digitalSignature 2>/dev/null || die "creating the CA failed"
	fi
	# The API server listens on HOST_ADDR alone: reachable from the host, node 2 and Docker containers.
	cert apiserver kube-apiserver "" serverAuth \
		"IP:$HOST_ADDR,IP:$SVC_APISERVER,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local"
	cert apiserver-kubelet-client kube-apiserver-kubelet-client system:masters clientAuth
	cert admin esb-k8s-admin system:masters clientAuth
	cert controller-manager system:kube-controller-manager "" clientAuth
	cert scheduler system:kube-scheduler "" clientAuth
	local n
	for n in 1 2; do
		node_vars $n
		cert "kubelet$n" "system:node:$NODE" system:nodes clientAuth
		cert "kubelet$n-serving" "$NODE" system:nodes serverAuth "IP:$NODE_IP,DNS:$NODE"
	done
	[ -f "$PKI/sa.key" ] || {
		openssl genrsa -out "$PKI/sa.key" 2048 2>/dev/null
		openssl rsa -in "$PKI/sa.key" -pubout -out "$PKI/sa.pub" 2>/dev/null
	}
}

# kubeconfig FILE USER CERTNAME: certificates inline, so the file alone works in a container (the ESB agent's).
kubeconfig() {
	local f=$1 user=$2 crt=$3
	cat >"$f.tmp" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: esb-k8s
  cluster:
    server: https://$HOST_ADDR:$APISERVER_PORT
    certificate-authority-data: $(base64 -w0 "$PKI/ca.crt")
users:
- name: $user
  user:
    client-certificate-data: $(base64 -w0 "$PKI/$crt.crt")
    client-key-data: $(base64 -w0 "$PKI/$crt.key")
contexts:
- name: esb-k8s
  context: {cluster: esb-k8s, user: $user}
current-context: esb-k8s
EOF
	chmod 600 "$f.tmp"
	mv "$f.tmp" "$f"
}

write_config() {
	mkdir -p "$CFG" "$LOGS"
	kubeconfig "$CFG/admin.kubeconfig" esb-k8s-admin admin
	kubeconfig "$CFG/controller-manager.kubeconfig" system:kube-controller-manager controller-manager
	kubeconfig "$CFG/scheduler.kubeconfig" system:kube-scheduler scheduler
	local n
	for n in 1 2; do
		node_vars $n
		mkdir -p "$NODE_DIR"/{run,cni/net.d,certs.d,kubelet,pod-logs}
		kubeconfig "$NODE_DIR/kubelet.kubeconfig" "system:node:$NODE" "kubelet$n"
		write_containerd_config
		write_cni_config
		write_kubelet_config "$n"
	done
}

# containerd 1.6, config version 2: its own root, state, sockets and runc root, never /run/containerd's.
write_containerd_config() {
	cat >"$NODE_DIR/containerd.toml" <<EOF
version = 2
root = "$NODE_DIR/containerd/root"
state = "$NODE_DIR/containerd/state"
# Without CAP_SYS_RESOURCE (our hosts) nobody may LOWER an oom_score_adj, and runc fails with "can't get final
# child's PID from pipe: EOF" (the real error is only in runc's log.json). The runc shim takes containerd's score + 1,
# so containerd runs at 1000 and CRI clamps the scores it asks for (sandbox -998, Burstable 2..999) to its own.
oom_score = 1000
[grpc]
  address = "$SOCK"
[ttrpc]
  address = "$SOCK.ttrpc"
[debug]
  address = "$NODE_DIR/run/debug.sock"
  level = "info"
[metrics]
  address = ""
[plugins."io.containerd.internal.v1.opt"]
  path = "$NODE_DIR/containerd/opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$PAUSE_IMAGE"
  enable_selinux = false
  disable_apparmor = true
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        Root = "$NODE_DIR/runc"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "$CNI_BIN"
    conf_dir = "$NODE_DIR/cni/net.d"
    max_conf_num = 1
  [plugins."io.containerd.grpc.v1.cri".registry]
    # trust-registry writes HOST:PORT/hosts.toml here; containerd reads it at every pull (no restart).
    config_path = "$NODE_DIR/certs.d"
EOF
}

# The bridge plugin without ipMasq: Pod source addresses reach the host unchanged (node 2's too), which is what the
# host's firewall (ESB-K8S-*) keys on. No firewall/portmap plugins: ESB-K8S-FWD decides every forwarded packet of
# ours before Docker's rules, and per-Pod rules in the shared CNI-FORWARD chain would outlive a crashed node.
write_cni_config() {
	cat >"$NODE_DIR/cni/net.d/10-esb-k8s.conflist" <<EOF
{
  "cniVersion": "1.0.0",
  "name": "esb-k8s",
  "plugins": [
    {
      "type": "bridge", "bridge": "$BRIDGE", "isGateway": true, "ipMasq": false, "hairpinMode": false,
      "ipam": {
        "type": "host-local", "dataDir": "$NODE_DIR/cni/ipam",
        "ranges": [[{"subnet": "$POD_SUBNET", "gateway": "$POD_GW"}]],
        "routes": [{"dst": "0.0.0.0/0"}]
      }
    }
  ]
}
EOF
}

write_kubelet_config() {
	cat >"$NODE_DIR/kubelet.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: $NODE_IP
port: $KUBELET_PORT
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: $KUBELET_HEALTHZ_PORT
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: "$PKI/ca.crt"}
authorization: {mode: Webhook}
tlsCertFile: "$PKI/kubelet$1-serving.crt"
tlsPrivateKeyFile: "$PKI/kubelet$1-serving.key"
containerRuntimeEndpoint: "unix://$SOCK"
# cgroup v1 hybrid host whose PID 1 is not systemd.
cgroupDriver: cgroupfs
failCgroupV1: false
cgroupRoot: /$NODE
cgroupsPerQOS: true
enforceNodeAllocatable: ["pods"]
failSwapOn: false
protectKernelDefaults: false
# No kube-proxy, no KUBE-* chains in the host's iptables.
makeIPTablesUtilChains: false
podLogsDir: "$NODE_DIR/pod-logs"
clusterDomain: cluster.local
resolvConf: /etc/resolv.conf
maxPods: 110
serializeImagePulls: false
# The host disk is shared and often half full: no image GC or disk-pressure eviction of ESB's Pods.
imageGCHighThresholdPercent: 100
evictionHard: {memory.available: "100Mi", nodefs.available: "1%", imagefs.available: "1%", nodefs.inodesFree: "1%"}
# Heartbeat every 3s (a quarter of the lease) so that NODE_GRACE can be short.
nodeLeaseDurationSeconds: 12
nodeStatusUpdateFrequency: 4s
staticPodPath: ""
EOF
}

# ---------------------------------------------------------------------------------------------------------------------
# processes

pid_of() { # name: the pid if running
	local p
	p=$(cat "$STATE/pids/$1" 2>/dev/null) || return 1
	kill -0 "$p" 2>/dev/null && echo "$p"
}

start_bg() { # name cmd...
	local n=$1
	shift
	mkdir -p "$STATE/pids" "$LOGS"
	if pid_of "$n" >/dev/null; then
		return 0
	fi
	# Daemons inherit neither fd 9 (the subcommand's lock: they would hold it for as long as they run) nor fd 3 (the
	# caller's stderr: a caller reading it to EOF would wait for the daemon's death).
	setsid "$@" 3>&- 8>&- 9>&- >>"$LOGS/$n.log" 2>&1 </dev/null &
	echo $! >"$STATE/pids/$n"
	log "started $n (pid $!, log $LOGS/$n.log)"
}

stop_proc() { # name [signal]
	local n=$1 sig=${2:-TERM} p
	p=$(pid_of "$n") || {
		rm -f "$STATE/pids/$n"
		return 0
	}
	kill -"$sig" "$p" 2>/dev/null || true
	local i
	for i in $(seq 40); do
		kill -0 "$p" 2>/dev/null || break
		sleep 0.25
	done
	kill -0 "$p" 2>/dev/null && kill -KILL "$p" 2>/dev/null
	rm -f "$STATE/pids/$n"
	log "stopped $n ($p)"
}

wait_for() { # what seconds cmd...
	local what=$1 t=$2 i=0
	shift 2
	until "$@" >/dev/null 2>&1; do
		i=$((i + 1))
		[ $i -ge $((t * 4)) ] && die "timeout after ${t}s waiting for $what (logs: $LOGS)"
		sleep 0.25
	done
}

kc() { "$BIN/kubectl" --kubeconfig "$CFG/admin.kubeconfig" "$@"; }

api_ready() { kc get --raw /readyz >/dev/null 2>&1; }

# node_up N: node N's kubelet runs (started again if it found containerd's CRI not ready; any other exit fails now, with
# its last words) and the node is Ready.
node_up() {
	node_vars "$1"
	if ! pid_of "kubelet$1" >/dev/null; then
		local last n
		last=$(tail -c +$(($(cat "$STATE/kubelet$1.logstart" 2>/dev/null || echo 0) + 1)) "$LOGS/kubelet$1.log" | grep -E '^[EF][0-9]' | tail -1)
		n=$(cat "$STATE/kubelet$1.restarts" 2>/dev/null || echo 0)
		# containerd serves its socket (ctr version answers) a moment before its CRI plugin has recovered its state;
		# a kubelet started in that moment exits ("validate service connection ... server is not initialized yet"),
		# longer on a loaded machine. A service manager would start it again: so does this, a few times, a second apart.
		case $last in
		*"validate service connection"*"not initialized yet"*)
			if [ "$n" -lt 10 ]; then
				echo $((n + 1)) >"$STATE/kubelet$1.restarts"
				log "kubelet$1 found containerd's CRI not ready yet; starting it again (${last##*desc = })"
				sleep 1
				start_kubelet "$1"
				return 1
			fi
			;;
		esac
		die "kubelet$1 exited: ${last:-see $LOGS/kubelet$1.log}"
	fi
	node_ready "$NODE"
}

node_ready() { # node name
	[ "$(kc get node "$1" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null)" = True ]
}

# The kubelet rewrites host sysctls once at start (vm.overcommit_memory, kernel.panic, ...; with
# protectKernelDefaults it would refuse to start instead). They are saved before the first kubelet starts and put
# back once it is up.
SYSCTLS="vm/overcommit_memory vm/panic_on_oom kernel/panic kernel/panic_on_oops kernel/keys/root_maxkeys kernel/keys/root_maxbytes"
save_sysctls() {
	[ -f "$STATE/sysctl.saved" ] && return 0
	local s
	for s in $SYSCTLS; do echo "$s $(cat /proc/sys/$s)"; done >"$STATE/sysctl.saved"
}
restore_sysctls() {
	[ -f "$STATE/sysctl.saved" ] || return 0
	local s v
	while read -r s v; do
		[ "$(cat /proc/sys/"$s")" = "$v" ] || {
			echo "$v" >/proc/sys/"$s"
			log "restored sysctl $s=$v"
		}
	done <"$STATE/sysctl.saved"
}

start_control_plane() {
	mkdir -p "$STATE/etcd"
	chmod 700 "$STATE/etcd"
	# --unsafe-no-fsync: a throwaway test cluster on a busy disk; losing etcd means `down --purge`.
	start_bg etcd "$BIN/etcd" --name esb-k8s --data-dir "$STATE/etcd" \
		--listen-client-urls "http://127.0.0.1:$ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
		--listen-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
		--initial-cluster "esb-k8s=http://127.0.0.1:$ETCD_PEER_PORT" --listen-metrics-urls '' \
		--quota-backend-bytes 2147483648 --unsafe-no-fsync --log-level warn
	wait_for etcd 30 curl -sf "http://127.0.0.1:$ETCD_PORT/health"
	start_bg kube-apiserver "$BIN/kube-apiserver" \
		--etcd-servers="http://127.0.0.1:$ETCD_PORT" \
		--bind-address="$HOST_ADDR" --secure-port="$APISERVER_PORT" --advertise-address="$HOST_ADDR" \
		--tls-cert-file="$PKI/apiserver.crt" --tls-private-key-file="$PKI/apiserver.key" --client-ca-file="$PKI/ca.crt" \
		--kubelet-client-certificate="$PKI/apiserver-kubelet-client.crt" --kubelet-client-key="$PKI/apiserver-kubelet-client.key" \
		--kubelet-certificate-authority="$PKI/ca.crt" --kubelet-preferred-address-types=InternalIP \
		--service-account-issuer=https://kubernetes.default.svc.cluster.local \
		--service-account-key-file="$PKI/sa.pub" --service-account-signing-key-file="$PKI/sa.key" \
		--service-cluster-ip-range="$SVC_CIDR" --authorization-mode=Node,RBAC --enable-admission-plugins=NodeRestriction \
		--allow-privileged=false \
		--default-not-ready-toleration-seconds="$EVICTION_SECONDS" --default-unreachable-toleration-seconds="$EVICTION_SECONDS" \
		--profiling=false --v=1
	wait_for kube-apiserver 180 api_ready
	start_bg kube-controller-manager "$BIN/kube-controller-manager" \
		--kubeconfig="$CFG/controller-manager.kubeconfig" \
		--authentication-kubeconfig="$CFG/controller-manager.kubeconfig" --authorization-kubeconfig="$CFG/controller-manager.kubeconfig" \
		--bind-address=127.0.0.1 --secure-port=$KCM_PORT --leader-elect=false \
		--cluster-signing-cert-file="$PKI/ca.crt" --cluster-signing-key-file="$PKI/ca.key" --root-ca-file="$PKI/ca.crt" \
		--service-account-private-key-file="$PKI/sa.key" --use-service-account-credentials=true \
		--service-cluster-ip-range="$SVC_CIDR" --node-monitor-grace-period="$NODE_GRACE" --node-monitor-period=2s \
		--profiling=false --v=1
	start_bg kube-scheduler "$BIN/kube-scheduler" \
		--kubeconfig="$CFG/scheduler.kubeconfig" \
		--authentication-kubeconfig="$CFG/scheduler.kubeconfig" --authorization-kubeconfig="$CFG/scheduler.kubeconfig" \
		--bind-address=127.0.0.1 --secure-port=$SCHED_PORT --leader-elect=false --profiling=false --v=1
}

# Node 1's pod bridge carries HOST_ADDR before anything starts: the API server and node 1's kubelet listen there.
net_node1() {
	node_vars 1
	if ! ip link show "$BRIDGE" >/dev/null 2>&1; then
		ip link add "$BRIDGE" type bridge
		ip addr add "$HOST_ADDR/24" dev "$BRIDGE"
	fi
	# No IPv6 on the bridge: a Pod's link-local address would otherwise reach host services listening on [::].
	sysctl -qw "net.ipv6.conf.$BRIDGE.disable_ipv6=1"
	ip link set "$BRIDGE" up
}

net_node2() {
	node_vars 2
	[ -e /run/netns/$N2_NETNS ] || ip netns add $N2_NETNS
	if ! ip link show $N2_VETH_HOST >/dev/null 2>&1; then
		ip link add $N2_VETH_HOST type veth peer name $N2_VETH_NODE netns $N2_NETNS
		ip addr add "$N2_LINK_HOST/30" dev $N2_VETH_HOST
	fi
	sysctl -qw "net.ipv6.conf.$N2_VETH_HOST.disable_ipv6=1"
	ip link set $N2_VETH_HOST up
	"${NS_EXEC[@]}" sh -ec "
		ip link set lo up
		ip addr show dev $N2_VETH_NODE | grep -q '$N2_LINK_NODE/' || ip addr add $N2_LINK_NODE/30 dev $N2_VETH_NODE
		ip link set $N2_VETH_NODE up
		ip route replace default via $N2_LINK_HOST
		sysctl -qw net.ipv4.ip_forward=1
		ip link show $BRIDGE >/dev/null 2>&1 || { ip link add $BRIDGE type bridge; ip addr add $POD_GW/24 dev $BRIDGE; }
		sysctl -qw net.ipv6.conf.$BRIDGE.disable_ipv6=1
		ip link set $BRIDGE up"
	ip route replace "$POD_SUBNET" via $N2_LINK_NODE
	# Node 2's own firewall (a fresh namespace accepts everything): its Pods reach nothing of node 2 (kubelet,
	# containerd's streaming port) and no Pod of node 2 reaches another (bridged traffic goes through FORWARD when
	# br_netfilter is on in the namespace; it is set on below). Everything else they send goes to the host, whose
	# ESB-K8S-* chains decide (HOST_ADDR is inside CLUSTER_CIDR: no -d CLUSTER_CIDR rule here).
	"${NS_EXEC[@]}" sh -ec "
		sysctl -qw net.bridge.bridge-nf-call-iptables=1 net.bridge.bridge-nf-call-ip6tables=1 2>/dev/null || true
		$IPT -N $CH_IN 2>/dev/null || $IPT -F $CH_IN
		$IPT -A $CH_IN -m conntrack --ctstate RELATED,ESTABLISHED -j RETURN
		$IPT -A $CH_IN -j DROP
		$IPT -C INPUT -i $BRIDGE -j $CH_IN 2>/dev/null || $IPT -I INPUT 1 -i $BRIDGE -j $CH_IN
		$IPT -N $CH_FWD 2>/dev/null || $IPT -F $CH_FWD
		$IPT -A $CH_FWD -m conntrack --ctstate RELATED,ESTABLISHED -j RETURN
		$IPT -A $CH_FWD -i $BRIDGE ! -s $POD_SUBNET -j DROP
		$IPT -A $CH_FWD -s $CLUSTER_CIDR -o $BRIDGE -j DROP
		$IPT -C FORWARD -j $CH_FWD 2>/dev/null || $IPT -I FORWARD 1 -j $CH_FWD
		$IP6T -C FORWARD -i $BRIDGE -j DROP 2>/dev/null || $IP6T -I FORWARD 1 -i $BRIDGE -j DROP"
}

# The host's firewall for Pods (both nodes; Pod addresses arrive unmasqueraded):
#   INPUT (the host itself: API server, kubelets, etcd, containerd, any host service): only allowed ports.
#   FORWARD via DOCKER-USER, which Docker keeps first in FORWARD: Docker-published ports only when DNATed from an
#   allowed HOST_ADDR:PORT; no Pod to Pod; no private networks (Docker's, node 2's link); the rest (internet, as on
#   Lambda) masqueraded. Node 2's own traffic (pulls) passes to Docker's rules.
# The allowed ports live in ESB-K8S-ALLOW, keyed on the original destination, so one chain serves both hooks.
net_firewall() {
	node_vars 1
	local c
	for c in $CH_FWD $CH_IN $CH_ALLOW; do $IPT -N $c 2>/dev/null || true; done
	$IPT -F $CH_FWD
	$IPT -F $CH_IN
	$IPT -A $CH_IN -m conntrack --ctstate RELATED,ESTABLISHED -j RETURN
	$IPT -A $CH_IN -j $CH_ALLOW
	$IPT -A $CH_IN -j DROP
	# By interface: HOST_ADDR is in CLUSTER_CIDR, so the host's own connections to it (over lo) must not match, and
	# node 2's own address is not a Pod's.
	for c in "-i $BRIDGE" "-i $N2_VETH_HOST -s $CLUSTER_CIDR"; do
		# shellcheck disable=SC2086 # $c is several words on purpose
		$IPT -C INPUT $c -j $CH_IN 2>/dev/null || $IPT -I INPUT 1 $c -j $CH_IN
	done

	$IPT -A $CH_FWD -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
	$IPT -A $CH_FWD -m conntrack --ctstate INVALID -j DROP
	# No forged sources: node 1's Pods send from its Pod subnet (node 2's namespace checks its own).
	$IPT -A $CH_FWD -i $BRIDGE ! -s $POD_SUBNET -j DROP
	$IPT -A $CH_FWD -i $N2_VETH_HOST -s $N2_LINK_NODE -j RETURN
	$IPT -A $CH_FWD -s $CLUSTER_CIDR -m conntrack --ctstate DNAT -j $CH_ALLOW
	$IPT -A $CH_FWD -s $CLUSTER_CIDR -m conntrack --ctstate DNAT -j DROP
	for c in 10.0.0.0/8 172.16.0.0/12 192.168.0.0/16 100.64.0.0/10 169.254.0.0/16 224.0.0.0/4; do
		$IPT -A $CH_FWD -s $CLUSTER_CIDR -d $c -j DROP
	done
	$IPT -A $CH_FWD -s $CLUSTER_CIDR -j ACCEPT
	$IPT -A $CH_FWD -j DROP # anything else into a Pod network: containers, other hosts
	local hook=DOCKER-USER
	$IPT -S DOCKER-USER >/dev/null 2>&1 || hook=FORWARD
	for c in "-i $BRIDGE" "-o $BRIDGE" "-i $N2_VETH_HOST" "-o $N2_VETH_HOST"; do
		# shellcheck disable=SC2086 # $c is two words on purpose
		$IPT -C $hook $c -j $CH_FWD 2>/dev/null || $IPT -I $hook 1 $c -j $CH_FWD
	done
	$IPT -t nat -N $CH_NAT 2>/dev/null || $IPT -t nat -F $CH_NAT
	for c in 10.0.0.0/8 172.16.0.0/12 192.168.0.0/16 100.64.0.0/10; do $IPT -t nat -A $CH_NAT -d $c -j RETURN; done
	$IPT -t nat -A $CH_NAT -j MASQUERADE
	$IPT -t nat -C POSTROUTING -s $CLUSTER_CIDR -j $CH_NAT 2>/dev/null || $IPT -t nat -I POSTROUTING 1 -s $CLUSTER_CIDR -j $CH_NAT
	# IPv6 bridged between Pods of node 1 (br_netfilter, set on by Docker) is dropped.
	$IP6T -C FORWARD -i "$BRIDGE" -j DROP 2>/dev/null || $IP6T -I FORWARD 1 -i "$BRIDGE" -j DROP
	apply_allowed_ports
}

apply_allowed_ports() {
	$IPT -N $CH_ALLOW 2>/dev/null || $IPT -F $CH_ALLOW
	local p
	for p in $(cat "$STATE/allowed-ports" 2>/dev/null); do
		$IPT -A $CH_ALLOW -p tcp -m conntrack --ctorigdst $HOST_ADDR --ctorigdstport "$p" -j ACCEPT
	done
}

start_node() { # N
	node_vars "$1"
	mkdir -p "$NODE_DIR/run" "$NODE_DIR/pod-logs"
	local c
	for c in /sys/fs/cgroup/*/; do
		case $c in */unified/) continue ;; esac # the kubelet wants every v1 hierarchy, systemd's named one too
		mkdir -p "$c$NODE"
	done
	start_bg "containerd$1" "${NS_EXEC[@]}" /usr/bin/containerd --config "$NODE_DIR/containerd.toml"
	wait_for "node $1 containerd" 30 "${CTR[@]}" version
	if ! "${CTR[@]}" images ls -q | grep -qx "$PAUSE_IMAGE"; then
		"${CTR[@]}" images import "$IMAGES/pause.tar" >/dev/null
		"${CTR[@]}" images label "$PAUSE_IMAGE" io.cri-containerd.pinned=pinned >/dev/null
	fi
	"${CTR[@]}" images ls -q | grep -qx "$PROBE_IMAGE" || "${CTR[@]}" images import "$IMAGES/probe.tar" >/dev/null
	if ! pid_of "kubelet$1" >/dev/null; then
		save_sysctls
		rm -f "$STATE/kubelet$1.restarts"
		start_kubelet "$1"
	fi
}

start_kubelet() { # N (node_vars N done)
	# The log is appended to: node_up reads only what this kubelet wrote.
	wc -c <"$LOGS/kubelet$1.log" 2>/dev/null >"$STATE/kubelet$1.logstart" || echo 0 >"$STATE/kubelet$1.logstart"
	start_bg "kubelet$1" "${NS_EXEC[@]}" "$BIN/kubelet" --config="$NODE_DIR/kubelet.yaml" \
		--kubeconfig="$NODE_DIR/kubelet.kubeconfig" --root-dir="$NODE_DIR/kubelet" \
		--hostname-override="$NODE" --node-ip="$NODE_IP" --v=1
}

cmd_up() {
	need_root up
	[ "$(cat "$BUILD_MARKER" 2>/dev/null)" ] && [ -f "$IMAGES/.built" ] && [ -x "$CNI_BIN/bridge" ] ||
		die "not built: run $0 build first"
	local t0=$SECONDS n
	exec 9>"$CACHE/.lock"
	flock 9
	if cluster_running; then
		log "cluster already up"
		return 0
	fi
	mkdir -p "$STATE"
	write_pki
	write_config
	net_node1
	net_node2
	net_firewall
	start_control_plane
	start_node 1
	start_node 2
	for n in 1 2; do
		wait_for "node $n Ready" 180 node_up $n
	done
	restore_sysctls
	# ESB creates Pods only; nothing in the cluster needs the default service account's token.
	kc patch serviceaccount default -p '{"automountServiceAccountToken": false}' >/dev/null 2>&1 ||
		log "warning: default service account not patched yet (automountServiceAccountToken)"
	log "cluster up in $((SECONDS - t0))s: nodes esb-k8s-1 esb-k8s-2, API https://$HOST_ADDR:$APISERVER_PORT"
	host_safety_check
}

cluster_running() {
	local p
	for p in etcd kube-apiserver kube-controller-manager kube-scheduler containerd1 kubelet1 containerd2 kubelet2; do
		pid_of $p >/dev/null || return 1
	done
	api_ready && node_ready esb-k8s-1 && node_ready esb-k8s-2
}

# ---------------------------------------------------------------------------------------------------------------------
# down

# stop_node N: kubelet first (so it restarts nothing), then every container of the node (sandboxes included), then
# its containerd and any shim of it left.
stop_node() {
	node_vars "$1"
	stop_proc "kubelet$1" "${2:-TERM}"
	if [ -S "$SOCK" ] && pid_of "containerd$1" >/dev/null; then
		local t
		for t in $("${CTR[@]}" tasks ls -q 2>/dev/null); do "${CTR[@]}" tasks kill -s KILL "$t" >/dev/null 2>&1 || true; done
		sleep 1
		for t in $("${CTR[@]}" tasks ls -q 2>/dev/null); do "${CTR[@]}" tasks delete -f "$t" >/dev/null 2>&1 || true; done
	fi
	stop_proc "containerd$1"
	local p
	for p in $(pgrep -f containerd-shim-runc-v2 || true); do
		grep -qa -- "$SOCK" /proc/"$p"/cmdline 2>/dev/null && kill -KILL "$p" 2>/dev/null || true
	done
}

cmd_down() {
	need_root down
	local purge=${1:-}
	exec 9>"$CACHE/.lock"
	flock 9
	set +e
	# Let the kubelets tear Pods down first (volumes, sandboxes) while everything still runs.
	if api_ready; then
		kc delete pods --all -A --grace-period=1 --wait=true --timeout=60s >/dev/null 2>&1
	fi
	stop_node 2
	stop_node 1
	restore_sysctls
	stop_proc kube-scheduler
	stop_proc kube-controller-manager
	stop_proc kube-apiserver
	stop_proc etcd
	# Mounts below our state (Pod volumes, rootfs overlays, shm, netns files), deepest first.
	grep -F " $STATE/" /proc/mounts | awk '{print $2}' | sort -r | while read -r m; do umount -l "$m" 2>/dev/null; done
	# Network: node 2's namespace (its bridge, Pod veths and firewall go with it), the veth, node 1's bridge.
	ip route del 10.247.1.0/24 2>/dev/null
	ip link del $N2_VETH_HOST 2>/dev/null
	[ -e /run/netns/$N2_NETNS ] && ip netns del $N2_NETNS
	node_vars 1
	ip link del "$BRIDGE" 2>/dev/null
	local hook c
	for hook in DOCKER-USER FORWARD; do
		for c in "-i $BRIDGE" "-o $BRIDGE" "-i $N2_VETH_HOST" "-o $N2_VETH_HOST"; do
			# shellcheck disable=SC2086
			while $IPT -D $hook $c -j $CH_FWD 2>/dev/null; do :; done
		done
	done
	for c in "-i $BRIDGE" "-i $N2_VETH_HOST -s $CLUSTER_CIDR"; do
		# shellcheck disable=SC2086
		while $IPT -D INPUT $c -j $CH_IN 2>/dev/null; do :; done
	done
	while $IPT -t nat -D POSTROUTING -s $CLUSTER_CIDR -j $CH_NAT 2>/dev/null; do :; done
	while $IP6T -D FORWARD -i "$BRIDGE" -j DROP 2>/dev/null; do :; done
	for c in $CH_FWD $CH_IN $CH_ALLOW; do $IPT -F $c 2>/dev/null && $IPT -X $c 2>/dev/null; done
	$IPT -t nat -F $CH_NAT 2>/dev/null && $IPT -t nat -X $CH_NAT 2>/dev/null
	# The kubelets' cgroups, leaf first.
	for c in /sys/fs/cgroup/*/esb-k8s-1 /sys/fs/cgroup/*/esb-k8s-2; do
		[ -d "$c" ] && find "$c" -depth -type d -exec rmdir {} \; 2>/dev/null
	done
	# Runtime state goes; PKI, etcd, containerd's image store and allowed ports/registries stay for the next up.
	rm -rf "$STATE"/node*/containerd/state "$STATE"/node*/run "$STATE"/node*/cni/ipam "$STATE/sysctl.saved" "$STATE/pids"
	if [ "$purge" = --purge ]; then
		rm -rf "$STATE"
		log "state deleted ($STATE)"
	fi
	set -e
	log "cluster down"
	host_safety_check
}

# ---------------------------------------------------------------------------------------------------------------------
# node loss

cmd_kill_node() {
	need_root kill-node
	node_vars "${1:?usage: kill-node N}"
	local before i
	before=$(date +%s%N)
	stop_node "$1" KILL
	log "node $NODE killed (kubelet, containerd, all its containers); waiting for the API server to see it"
	for i in $(seq 240); do
		node_ready "$NODE" || break
		sleep 0.5
	done
	log "node $NODE NotReady $(((($(date +%s%N) - before) / 1000000)))ms after the kill (grace $NODE_GRACE;" \
		"its Pods are evicted ${EVICTION_SECONDS}s later)"
}

cmd_restore_node() {
	need_root restore-node
	node_vars "${1:?usage: restore-node N}"
	[ "$1" = 2 ] && net_node2
	start_node "$1"
	wait_for "node $NODE Ready" 180 node_up "$1"
	restore_sysctls
	log "node $NODE Ready"
}

# ---------------------------------------------------------------------------------------------------------------------
# contract: ports, registries, agent credentials, status

cmd_allow_ports() { # add|remove PORT...
	local op=$1 p
	shift
	need_root allow-ports
	[ $# -gt 0 ] || die "usage: allow-ports PORT... / deny-ports PORT..."
	for p in "$@"; do [[ $p =~ ^[0-9]+$ ]] && [ "$p" -ge 1 ] && [ "$p" -le 65535 ] || die "not a port: $p"; done
	mkdir -p "$STATE" "$CACHE"
	exec 9>"$CACHE/.lock"
	flock 9
	touch "$STATE/allowed-ports"
	{
		cat "$STATE/allowed-ports"
		if [ "$op" = add ]; then printf '%s\n' "$@"; fi # (a false test here would fail the pipeline)
	} | sort -un | { if [ "$op" = remove ]; then grep -vxF -f <(printf '%s\n' "$@") || true; else cat; fi; } \
		>"$STATE/allowed-ports.tmp"
	mv "$STATE/allowed-ports.tmp" "$STATE/allowed-ports"
	if $IPT -S $CH_ALLOW >/dev/null 2>&1; then apply_allowed_ports; fi
	# Released here: a caller in this process (selftest) must not hold the lock for the rest of its run.
	exec 9>&-
	log "Pods may connect to $HOST_ADDR on: $(echo $(cat "$STATE/allowed-ports"))"
}

cmd_trust_registry() { # add|remove HOST:PORT
	local op=$1 hp=${2:-} n
	[[ $hp =~ ^[A-Za-z0-9.-]+:[0-9]+$ ]] || die "usage: trust-registry HOST:PORT (e.g. $HOST_ADDR:5010)"
	for n in 1 2; do
		node_vars $n
		if [ "$op" = remove ]; then
			rm -rf "${NODE_DIR:?}/certs.d/$hp"
			continue
		fi
		mkdir -p "$NODE_DIR/certs.d/$hp"
		cat >"$NODE_DIR/certs.d/$hp/hosts.toml" <<EOF
# Written by scripts/k8s/cluster.sh trust-registry: $hp speaks plain HTTP (ESB's registry).
server = "http://$hp"
[host."http://$hp"]
  capabilities = ["pull", "resolve"]
EOF
	done
	log "registry $hp $([ "$op" = remove ] && echo "no longer trusted" || echo "trusted (plain HTTP) on both nodes")"
}

cmd_agent_kubeconfig() {
	local ns=${1:-} out=${2:-}
	[[ $ns =~ ^[a-z0-9]([-a-z0-9]*[a-z0-9])?$ ]] && [ -n "$out" ] || die "usage: agent-kubeconfig NAMESPACE OUT"
	api_ready || die "the cluster is not up"
	local user=esb-agent:$ns crt=agent-$ns
	cert "$crt" "$user" "" clientAuth
	# Retried: the service account controller creates "default" in a new namespace between apply's get and create.
	local try
	for try in 1 2 3 4 5; do
		agent_rbac "$ns" "$user" 2>"$STATE/agent-rbac.err" && break
		[ $try = 5 ] && die "applying the agent's namespace and RBAC failed: $(cat "$STATE/agent-rbac.err")"
		sleep 1
	done
	kubeconfig "$out" "$user" "$crt"
	sed -i "s/^  context: {cluster: esb-k8s, user: .*}/  context: {cluster: esb-k8s, user: \"$user\", namespace: $ns}/" "$out"
	log "wrote $out: user $user, namespace $ns (pods, pods/log, pods/status, secrets, events; nodes read-only)"
}

agent_rbac() { # namespace user
	local ns=$1 user=$2
	kc apply -f - >/dev/null <<EOF
apiVersion: v1
kind: Namespace
metadata:
  name: $ns
  labels:
    # Even with stolen agent credentials: no privileged, hostPath, hostNetwork or hostPID Pods.
    pod-security.kubernetes.io/enforce: baseline
    pod-security.kubernetes.io/warn: restricted
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: default, namespace: $ns}
automountServiceAccountToken: false
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: esb-agent, namespace: $ns}
rules:
- {apiGroups: [""], resources: [pods], verbs: [get, list, watch, create, update, patch, delete, deletecollection]}
- {apiGroups: [""], resources: [pods/log, pods/status], verbs: [get, list, watch]}
# The registry pull secret (imagePullSecrets) of the env.
- {apiGroups: [""], resources: [secrets], verbs: [get, create, update, patch, delete]}
- {apiGroups: [""], resources: [events], verbs: [get, list, watch]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: esb-agent, namespace: $ns}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: esb-agent}
subjects: [{apiGroup: rbac.authorization.k8s.io, kind: User, name: "$user"}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: esb-agent-nodes}
rules:
- {apiGroups: [""], resources: [nodes], verbs: [get, list, watch]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: "esb-agent-nodes-$ns"}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: esb-agent-nodes}
subjects: [{apiGroup: rbac.authorization.k8s.io, kind: User, name: "$user"}]
EOF
}

cmd_env() {
	cat <<EOF
ESB_K8S_KUBECONFIG=$CFG/admin.kubeconfig
ESB_K8S_API=https://$HOST_ADDR:$APISERVER_PORT
ESB_K8S_HOST_ADDR=$HOST_ADDR
ESB_K8S_REGISTRY_HOST=$HOST_ADDR
ESB_K8S_NODES=esb-k8s-1,esb-k8s-2
ESB_K8S_POD_CIDR=$CLUSTER_CIDR
ESB_K8S_ALLOWED_PORTS=$(echo $(cat "$STATE/allowed-ports" 2>/dev/null) | tr ' ' ,)
ESB_K8S_TRUSTED_REGISTRIES=$(ls "$STATE/node1/certs.d" 2>/dev/null | tr '\n' , | sed 's/,$//')
EOF
}

# Docker must be as we found it: docker0's route_localnet (the last incident) and a published port that answers.
host_safety_check() {
	local ok=0
	if [ -e /proc/sys/net/ipv4/conf/docker0/route_localnet ]; then
		local rl
		rl=$(cat /proc/sys/net/ipv4/conf/docker0/route_localnet)
		if [ "$rl" = 1 ]; then log "host: docker0 route_localnet=1 (unchanged)"; else
			log "HOST PROBLEM: docker0 route_localnet=$rl (Docker sets 1)"
			ok=1
		fi
	fi
	local pub
	# || true: no published port (grep finds nothing) or head closing the
	# pipe early fails the pipeline under pipefail, and set -e would end
	# the script here without a word.
	pub=$(docker ps --format '{{.Ports}}' 2>/dev/null | grep -o '127\.0\.0\.1:[0-9]*->' | head -1 | tr -d '>-') || true
	if [ -z "$pub" ]; then
		log "host: no Docker-published port to check"
	elif timeout 3 bash -c "exec 3<>/dev/tcp/${pub%:*}/${pub#*:}" 2>/dev/null; then
		log "host: Docker-published $pub answers"
	else
		log "HOST PROBLEM: Docker-published $pub does not answer"
		ok=1
	fi
	return $ok
}

cmd_status() {
	local bad=0 n p
	for n in etcd kube-apiserver kube-controller-manager kube-scheduler containerd1 kubelet1 containerd2 kubelet2; do
		if p=$(pid_of $n); then
			printf '%-24s pid %-8s rss %6s MB\n' $n "$p" "$(($(awk '/VmRSS/{print $2}' /proc/"$p"/status) / 1024))" >&2
		else
			printf '%-24s DOWN\n' $n >&2
			bad=1
		fi
	done
	kc get nodes -o wide >&2 2>&1 || bad=1
	$IPT -S $CH_FWD >/dev/null 2>&1 && $IPT -C INPUT -i esbk8s0 -j $CH_IN 2>/dev/null ||
		{ log "firewall chains missing"; bad=1; }
	host_safety_check || bad=1
	cmd_env
	return $bad
}

# ---------------------------------------------------------------------------------------------------------------------

case "${1:-}" in
build) cmd_build ;;
up) cmd_up ;;
down) cmd_down "${2:-}" ;;
status) cmd_status ;;
env) cmd_env ;;
kill-node) cmd_kill_node "${2:-}" ;;
restore-node) cmd_restore_node "${2:-}" ;;
allow-ports) shift && cmd_allow_ports add "$@" ;;
deny-ports) shift && cmd_allow_ports remove "$@" ;;
allowed-ports) cat "$STATE/allowed-ports" 2>/dev/null || true ;;
trust-registry) cmd_trust_registry add "${2:-}" ;;
untrust-registry) cmd_trust_registry remove "${2:-}" ;;
agent-kubeconfig) cmd_agent_kubeconfig "${2:-}" "${3:-}" ;;
selftest) source "$REPO/scripts/k8s/selftest.sh" && selftest ;;
*)
	sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//' >&2
	exit 2
	;;
esac
