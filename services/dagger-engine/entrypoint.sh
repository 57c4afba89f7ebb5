#!/bin/sh
# Writes the engine config from the env's settings, then runs the engine.
# REGISTRY_MIRROR (host:port of the env's registry, as the engine sees it)
# serves docker.io refs, so pipeline code is the same online and offline;
# the registry is plain HTTP on loopback.
set -eu
mirror=${REGISTRY_MIRROR:?REGISTRY_MIRROR is required (e.g. 127.0.0.1:5010)}
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
# A socket left by a killed engine would make the new one fail to listen.
rm -f /run/dagger/engine.sock
exec dagger-engine --config /etc/dagger/engine.toml \
	--addr unix:///run/dagger/engine.sock \
	--network-name "${DAGGER_NETWORK_NAME:-dagger}" \
	--network-cidr "${DAGGER_NETWORK_CIDR:-10.87.0.0/16}" "$@"
