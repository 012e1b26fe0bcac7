#!/bin/sh
# The README's first command: install the packages, build, and run the seed document's usage
# example on a cluster of three processes on this machine.
set -eu
cd "$(dirname "$0")/.."
.ci/install-deps
[ -d build ] || meson setup build
ninja -C build
exec build/tools/aether-run/aether-run -n 3 --expect 1=SIGKILL -- build/examples/seed_usage
