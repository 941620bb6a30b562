#!/usr/bin/env bash
# bench/run.sh - what `make bench` runs: the microbenchmarks, then the echo
# comparison against the hand-written epoll server and thread-per-connection.
#
#   make bench            full run (a few minutes)
#   make bench QUICK=1    short run (about two minutes)
#
# EDDY_BUILD_DIR (set by the Makefile) names the Release build directory.
# Peers still to come (the benchmark-suite issue): Tokio, Go, libuv, nginx.
set -uo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
BUILD=${EDDY_BUILD_DIR:-build/release}
QUICK=${QUICK:-}
B=$BUILD/bench
status=0

results=$(mktemp "${TMPDIR:-/tmp}/eddy-bench.XXXXXX")
trap 'rm -f "$results"' EXIT

run() { # name command...
    echo
    echo "== $1"
    shift
    if ! "$@" | tee -a "$results"; then
        echo "!! $1 failed" >&2
        status=1
    fi
}

machine() {
    echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')," \
        "kernel $(uname -r), $(${CC:-cc} --version | head -n1)"
}

machine
if [ -n "$QUICK" ]; then
    run spawn "$B/bench_spawn" -n 200000 -r 5
    run yield "$B/bench_yield" -n 2000000 -r 5
    run channels "$B/bench_chan" -q
    run sync "$B/bench_sync" -q
else
    run spawn "$B/bench_spawn"
    run yield "$B/bench_yield"
    run channels "$B/bench_chan"
    run sync "$B/bench_sync"
fi

echo
echo "== microbenchmark medians (ns/op)"
grep -E '^RESULT name=' "$results" | sed -E 's/^RESULT name=([^ ]+) ns_per_op=([^ ]+).*/  \1\t\2/' | column -t

echo
echo "== echo: eddy vs hand-written epoll vs thread-per-connection"
if ! EDDY_BUILD_DIR="$BUILD" QUICK="$QUICK" bash bench/echo.sh; then
    status=1
fi
exit $status
