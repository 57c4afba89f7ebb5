#!/bin/sh
# Writes the engine config from the env's settings, then runs the engine.
# REGISTRY_MIRROR (host:port of the env's registry, as the engine sees it)
# serves docker.io refs, so pipeline code is the same online and offline;
# the registry is plain HTTP on loopback.
set -eu
mirror=${REGISTRY_MIRROR:?REGISTRY_MIRROR is required (e.g. 127.0.0.1:5010)}
network=${DAGGER_NETWORK_NAME:-dagger}
mkdir -p /etc/dagger /run/dagger
cat >/etc/dagger/engine.toml <<TOML
[registry."docker.io"]
  mirrors = ["$mirror"]
[registry."$mirror"]
  http = true
  insecure = true
TOML
# The Go SDK runtime image sits in the engine's builtin content store; the
# engine finds it by this digest (upstream images set it in their env).
if [ -z "${DAGGER_GO_SDK_MANIFEST_DIGEST:-}" ] && [ -r /usr/local/share/dagger/go-sdk.digest ]; then
	DAGGER_GO_SDK_MANIFEST_DIGEST=$(cat /usr/local/share/dagger/go-sdk.digest)
	export DAGGER_GO_SDK_MANIFEST_DIGEST
fi

# The engine runs on the host's network: the CNI plugins it runs for its
# build containers add the host's iptables rules (a NAT chain per address,
# CNI-FORWARD accepts) and its bridge. The engine keeps a pool of such
# namespaces and does not tear them down when it stops, so every stop left
# a dozen rules behind, for good: hundreds after a day of envs coming and
# going, and each one makes every later iptables run on the host (Docker
# runs eleven per container start) and every forwarded packet slower.
# The network name and subnet are this env's alone (platform.Layout
# DaggerNetwork), so whatever carries them belongs to this engine or to a
# dead one of the same env: removed before the engine starts and after it
# stops.
purge_network() {
	tag="name: \\\"$network\\\" "
	# In the nat table, POSTROUTING jumps into one chain per address; both
	# the jump and the chain's rules carry the network's name in a comment
	# (iptables -S prints them shell-quoted). A chain may outlive its jump.
	iptables -w -t nat -S | grep -F "$tag" >/tmp/purge-nat || true
	grep '^-A POSTROUTING ' /tmp/purge-nat | while IFS= read -r rule; do
		eval "iptables -w -t nat -D ${rule#-A }" || true
		addr=${rule#*-s }
		echo "${addr%% *}"
	done >/tmp/purged-ips
	sed -n 's/^-A \(CNI-[^ ]*\) .*/\1/p' /tmp/purge-nat | sort -u | while IFS= read -r chain; do
		iptables -w -t nat -F "$chain" 2>/dev/null || true
		iptables -w -t nat -X "$chain" 2>/dev/null || true
	done
	# The firewall plugin's accepts name the address only.
	while IFS= read -r addr; do
		iptables -w -D CNI-FORWARD -d "$addr" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT 2>/dev/null || true
		iptables -w -D CNI-FORWARD -s "$addr" -j ACCEPT 2>/dev/null || true
	done </tmp/purged-ips
	# Dagger's CNI config names the bridge after the network with a 0
	# appended (network/netinst/cni.go): esbdag2's is esbdag20, which is
	# also the name of another env's network, never of its bridge.
	bridge=${network}0
	if [ -e "/sys/class/net/$bridge" ]; then
		ip link delete "$bridge" || echo "entrypoint: network $network: could not remove the bridge $bridge" >&2
	fi
	n=$(grep -c . /tmp/purge-nat || true)
	[ "$n" -eq 0 ] || echo "entrypoint: network $network: removed $n NAT rules and the accepts of $(grep -c . /tmp/purged-ips || true) addresses ($1)" >&2
}
# A stop that comes before the engine runs (the purge can queue behind
# other iptables users) is kept and passed on once it does: PID 1 without
# a handler would never see it.
stopping=
trap 'stopping=1' TERM INT
purge_network "left by an engine that did not stop cleanly"

# A socket left by a killed engine would make the new one fail to listen.
rm -f /run/dagger/engine.sock
dagger-engine --config /etc/dagger/engine.toml \
	--addr unix:///run/dagger/engine.sock \
	--network-name "$network" \
	--network-cidr "${DAGGER_NETWORK_CIDR:-10.87.0.0/16}" "$@" &
engine=$!
# This shell is PID 1 (init: false in compose): pass the stop on, wait
# for the engine to exit, then clean up after it. On a loaded host the
# engine's graceful stop can outlast the container's stop timeout, whose
# SIGKILL would take this shell too and leave the bridge and rules behind.
# So the engine gets ENGINE_STOP_TIMEOUT seconds (default 20, under
# compose's stop_grace_period of 30 s) and is killed after that, keeping
# the rest of the grace period for the cleanup.
stop_engine() {
	kill -TERM "$engine" 2>/dev/null || true
	[ -n "${killer:-}" ] && return 0
	(
		sleep "${ENGINE_STOP_TIMEOUT:-20}"
		kill -0 "$engine" 2>/dev/null || exit 0
		echo "entrypoint: the engine did not stop within ${ENGINE_STOP_TIMEOUT:-20}s of SIGTERM: killing it" >&2
		kill -KILL "$engine" 2>/dev/null || true
	) &
	killer=$!
}
trap stop_engine TERM INT
[ -z "$stopping" ] || stop_engine
status=0
while :; do
	wait "$engine" && status=0 || status=$?
	kill -0 "$engine" 2>/dev/null || break
done
# The engine is gone: a stop from now on has nothing to pass on (and must
# not start another watchdog for the wait below to see).
trap : TERM INT
[ -z "${killer:-}" ] || kill "$killer" 2>/dev/null || true
# A process the engine left running (a CNI plugin it had started, a build
# container) could add a rule or the bridge back after the purge: all of
# them go first (kill -1 from PID 1 reaches every other process of the
# container), and the purge waits, up to 5 s, until none is left.
kill -KILL -1 2>/dev/null || true
others_alive() {
	for d in /proc/[0-9]*; do
		pid=${d#/proc/}
		[ "$pid" = 1 ] && continue
		state=$(sed -n 's/^State:[[:space:]]*\([A-Z]\).*/\1/p' "$d/status" 2>/dev/null) || continue
		[ -n "$state" ] && [ "$state" != Z ] && return 0
	done
	return 1
}
i=0
while [ "$i" -lt 50 ] && others_alive; do
	sleep 0.1
	i=$((i + 1))
done
purge_network "the engine stopped"
exit "$status"
