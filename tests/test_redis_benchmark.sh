#!/usr/bin/env bash
# redis-benchmark against redis_server with 1000 clients and pipelines of
# 16: every test reports a non-zero throughput, and the data is right
# afterwards (INCR ran exactly -n times on one counter, SET left its 3-byte
# value, DBSIZE counts what was written).  Also once with --threads 2.
# eddy-test-timeout: 240
# eddy-test-labels: redis
set -euo pipefail
source "$EDDY_SOURCE_DIR/tests/redis_lib.sh"
need redis-benchmark
need redis-cli

n=200000
[ -n "${EDDY_SANITIZE:-}" ] && n=20000
fail=0
for flavour in "" "--threads 2"; do
    # shellcheck disable=SC2086
    start_eddy_redis $flavour
    cli() { timeout 10 redis-cli -p "$EDDY_PORT" "$@"; }
    cli flushall >/dev/null
    timeout 150 redis-benchmark -p "$EDDY_PORT" -c 1000 -P 16 -n "$n" -t set,get,incr,mset,ping --csv \
        >"$REDIS_TMP/bench.csv" 2>"$REDIS_TMP/bench.err" || true
    for t in SET GET INCR MSET PING_MBULK; do
        rps=$(sed -n "s/^\"$t[^\"]*\",\"\([0-9.]*\)\".*/\1/p" "$REDIS_TMP/bench.csv" | head -1)
        if [ -z "$rps" ] || ! awk -v r="$rps" 'BEGIN { exit !(r > 0) }'; then
            echo "FAIL: redis-benchmark $t reported no throughput ($flavour)"; cat "$REDIS_TMP/bench.csv" "$REDIS_TMP/bench.err"; fail=1
        else
            echo "ok: $t $rps requests/s ($flavour)"
        fi
    done
    counter=$(cli get counter:__rand_int__)
    value=$(cli get key:__rand_int__)
    dbsize=$(cli dbsize)
    if [ "$counter" != "$n" ] || [ ${#value} != 3 ] || [ "$dbsize" != 2 ]; then
        echo "FAIL: after the benchmark: counter=$counter (want $n), value='$value' (want 3 bytes), dbsize=$dbsize (want 2)"
        fail=1
    else
        echo "ok: data intact: counter=$counter, value of 3 bytes, dbsize=$dbsize ($flavour)"
    fi
    # Many distinct keys: every SET of -r keys must be readable.
    timeout 60 redis-benchmark -p "$EDDY_PORT" -c 50 -P 16 -n $((n / 10)) -r 1000 -t set -q >/dev/null 2>&1 || true
    keys=$(cli dbsize)
    if [ "$keys" -lt 100 ] || [ "$keys" -gt 1002 ]; then
        echo "FAIL: dbsize $keys after SETs over 1000 random keys"; fail=1
    else
        echo "ok: $keys keys after SETs over 1000 random keys"
    fi
    stop_eddy_redis || fail=1
done
exit $fail
