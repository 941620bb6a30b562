#!/usr/bin/env bash
# The README's example prints three ticks, in order, and exits 0.
# eddy-test-timeout: 20
set -euo pipefail
out=$("$EDDY_EXAMPLES_DIR/hello")
expected=$'tick 1\ntick 2\ntick 3'
if [ "$out" != "$expected" ]; then
    echo "hello printed:"; echo "$out"; echo "expected:"; echo "$expected"
    exit 1
fi
echo "ok: hello"
