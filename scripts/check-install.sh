#!/usr/bin/env bash
# scripts/check-install.sh [BUILD_DIR]
#
# Installs eddy into a temporary prefix and builds tests/install against it
# the two ways users do: CMake's find_package(eddy) (shared and static
# targets) and `pkg-config --cflags --libs eddy`; runs each program.
#
# Without an argument it installs with `make install PREFIX=<tmp>` (the
# Release build).  With BUILD_DIR (as the install_consumer CTest test does)
# it installs that already-built tree with `cmake --install`.
#
# Environment: CC (default gcc), KEEP=1 keeps the temporary directory.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cc=${CC:-gcc}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/eddy-install.XXXXXX")
if [ "${KEEP:-0}" = 1 ]; then
    echo "check-install: keeping $tmp"
else
    trap 'rm -rf "$tmp"' EXIT
fi
prefix=$tmp/prefix

step() { echo "== check-install: $*"; }

if [ $# -ge 1 ]; then
    step "cmake --install $1"
    cmake --install "$1" --prefix "$prefix" >"$tmp/install.log" ||
        { cat "$tmp/install.log"; exit 1; }
else
    step "make install PREFIX=<tmp>"
    make -C "$root" --no-print-directory install PREFIX="$prefix" >"$tmp/install.log" 2>&1 ||
        { cat "$tmp/install.log"; exit 1; }
fi

for f in include/eddy.h include/eddy; do
    [ -e "$prefix/$f" ] || { echo "check-install: $f was not installed" >&2; exit 1; }
done
pcfile=$(find "$prefix" -name eddy.pc -path '*/pkgconfig/*' | head -n1)
[ -n "$pcfile" ] || { echo "check-install: eddy.pc was not installed" >&2; exit 1; }
libdir=$(dirname "$(dirname "$pcfile")")
for f in libeddy.a libeddy.so libeddy.so.0; do
    [ -e "$libdir/$f" ] || { echo "check-install: $libdir/$f missing" >&2; exit 1; }
done

# 1. CMake: find_package(eddy) with CMAKE_PREFIX_PATH.
step "find_package(eddy)"
cmake -S "$root/tests/install" -B "$tmp/build" \
    -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_C_COMPILER="$cc" \
    -DCMAKE_BUILD_TYPE=Release >"$tmp/cmake.log" 2>&1 ||
    { cat "$tmp/cmake.log"; exit 1; }
cmake --build "$tmp/build" >"$tmp/build.log" 2>&1 ||
    { cat "$tmp/build.log"; exit 1; }
"$tmp/build/consumer_shared"
"$tmp/build/consumer_static"

# 2. pkg-config with PKG_CONFIG_PATH.
step "pkg-config --cflags --libs eddy"
pcdir=$(dirname "$pcfile")
export PKG_CONFIG_PATH="$pcdir${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
flags=$(pkg-config --cflags --libs eddy)
echo "   $flags" | sed "s|$prefix|<prefix>|g"
# shellcheck disable=SC2086
"$cc" -std=c17 -Wall -Wextra -Wpedantic -Werror "$root/tests/install/main.c" \
    $flags -o "$tmp/pc_consumer"
LD_LIBRARY_PATH="$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" "$tmp/pc_consumer"

step "ok"
