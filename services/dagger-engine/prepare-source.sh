#!/bin/sh
# prepare-source.sh SRC DISTCONSTS makes the module zip of
# github.com/dagger/dagger buildable: upstream replaces two nested modules
# with local paths the zip does not contain. The Go SDK comes from the module
# proxy instead, distconsts from ours.
set -eu
src=$1 distconsts=$2
rm -rf "$src/engine/distconsts"
mkdir -p "$src/engine"
cp -r "$distconsts" "$src/engine/distconsts"
cd "$src"
go mod edit -dropreplace dagger.io/dagger -require "dagger.io/dagger@${DAGGER_SDK_VERSION:-v0.19.10}"
