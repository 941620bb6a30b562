#!/usr/bin/env bash
# Expiry on redis_server: a key with PX expires on access (lazy), and keys
# that nobody touches again are removed by the periodic sweep (DBSIZE falls
# to the number of keys without a TTL).  TTL/PTTL count down.
# eddy-test-timeout: 60
# eddy-test-labels: redis
set -euo pipefail
source "$EDDY_SOURCE_DIR/tests/redis_lib.sh"
need redis-cli

start_eddy_redis
cli() { timeout 10 redis-cli -p "$EDDY_PORT" "$@"; }
fail=0

# Lazy: poll (bounded) until the key is gone.
cli set lazy v px 200 >/dev/null
[ "$(cli exists lazy)" = 1 ] || { echo "FAIL: key gone too early"; fail=1; }
pttl=$(cli pttl lazy)
if [ "$pttl" -le 0 ] || [ "$pttl" -gt 200 ]; then echo "FAIL: pttl $pttl"; fail=1; fi
deadline=$((SECONDS + 10))
while [ "$(cli get lazy)" = v ] && [ $SECONDS -lt $deadline ]; do sleep 0.05; done
if [ -n "$(cli get lazy)" ] || [ "$(cli ttl lazy)" != -2 ]; then
    echo "FAIL: key with PX 200 still there after 10 s"; fail=1
else
    echo "ok: lazy expiry"
fi

# The sweep: 500 keys with a TTL and 5 without, never read again.
{
    for i in $(seq 500); do echo "SET tmp:$i x PX 100"; done
    for i in $(seq 5); do echo "SET keep:$i y"; done
} | cli --pipe >/dev/null
deadline=$((SECONDS + 20))
while [ "$(cli dbsize)" != 5 ] && [ $SECONDS -lt $deadline ]; do sleep 0.1; done
size=$(cli dbsize)
if [ "$size" != 5 ]; then
    echo "FAIL: dbsize $size: the sweep did not remove the expired keys"; fail=1
else
    echo "ok: the sweep removed 500 expired keys, kept 5"
fi
[ "$(cli get keep:3)" = y ] || { echo "FAIL: keep:3 lost"; fail=1; }
stop_eddy_redis || fail=1
exit $fail
