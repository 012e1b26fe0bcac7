#!/bin/sh
# Installs the build into a staging directory, compiles api_consumer.c with nothing but
# `pkg-config aether` and the installed headers, and runs it in one process and on a cluster of
# three processes started by the installed aether-run.
set -eu
build=$1
src=$2
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
meson install -C "$build" --destdir "$stage" --quiet >/dev/null
pc=$(find "$stage" -name aether.pc | head -n 1)
[ -n "$pc" ] || { echo "aether.pc was not installed"; exit 1; }
export PKG_CONFIG_PATH=$(dirname "$pc")
export PKG_CONFIG_SYSROOT_DIR=$stage
cflags=$(pkg-config --cflags aether)
libs=$(pkg-config --libs aether)
libdir=$(dirname "$(find "$stage" -name 'libaether.so' | head -n 1)")
cc -std=c11 -Wall -Wextra -Werror $cflags "$src/api_consumer.c" $libs -o "$stage/api_consumer"
export LD_LIBRARY_PATH=$libdir
"$stage/api_consumer"
run=$(find "$stage" -name aether-run -type f | head -n 1)
"$run" -n 3 --timeout 60 -- "$stage/api_consumer"
