#!/bin/bash
# oci-image.sh ROOTFS CONTENT DIGEST_FILE [ENV=VALUE...] writes ROOTFS as a
# one-layer linux image of the build's architecture, with ENV as its
# environment, into CONTENT, a content store in OCI layout (blobs/sha256/...,
# index.json), and the manifest digest into DIGEST_FILE.
#
# The engine loads its Go SDK runtime from such a store by manifest digest
# (_builtinContainer). Upstream fills it with Dagger itself, which needs an
# engine and a registry; plain tar and sha256sum need neither.
set -euo pipefail
rootfs=$1 content=$2 digest_file=$3
shift 3

arch=$(dpkg --print-architecture)
blobs=$content/blobs/sha256
mkdir -p "$blobs"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# put stores a file as a blob and prints its digest and size.
put() {
	local sum size
	sum=$(sha256sum "$1" | cut -d' ' -f1)
	size=$(stat -c %s "$1")
	mv "$1" "$blobs/$sum"
	echo "sha256:$sum $size"
}

# Hard links stay links (git alone has dozens of them); numeric owners
# because the image's users are not the build stage's.
tar -C "$rootfs" --numeric-owner --xattrs --sort=name -cf "$tmp/layer.tar" .
diff_id=sha256:$(sha256sum "$tmp/layer.tar" | cut -d' ' -f1)
gzip -1 -n "$tmp/layer.tar"
read -r layer_digest layer_size < <(put "$tmp/layer.tar.gz")

env_json=""
for kv in "$@"; do
	env_json+="${env_json:+,}\"${kv//\"/\\\"}\""
done
printf '{"architecture":"%s","os":"linux","config":{"Env":[%s],"WorkingDir":"/"},"rootfs":{"type":"layers","diff_ids":["%s"]}}' \
	"$arch" "$env_json" "$diff_id" >"$tmp/config.json"
read -r config_digest config_size < <(put "$tmp/config.json")

printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"%s","size":%s},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"%s","size":%s}]}' \
	"$config_digest" "$config_size" "$layer_digest" "$layer_size" >"$tmp/manifest.json"
read -r manifest_digest manifest_size < <(put "$tmp/manifest.json")

printf '{"imageLayoutVersion":"1.0.0"}' >"$content/oci-layout"
printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"%s","size":%s,"platform":{"architecture":"%s","os":"linux"}}]}' \
	"$manifest_digest" "$manifest_size" "$arch" >"$content/index.json"
echo "$manifest_digest" >"$digest_file"
echo "oci-image: $manifest_digest (layer $layer_size bytes)"
