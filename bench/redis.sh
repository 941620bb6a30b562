#!/usr/bin/env bash
# bench/redis.sh - the Redis comparison: eddy's redis_server beside
# Debian's redis-server, driven by redis-benchmark.
#
#   eddy      build/release/examples/redis_server      (current-thread runtime)
#   eddy-mt   the same, --threads 2                    (multi-thread runtime, 2 workers)
#   redis     redis-server --save '' --appendonly no --port P --bind 127.0.0.1
#             (no persistence; its working directory and log in a temporary one)
# A server that is not there is skipped and the reason printed ("eddy
# redis_server not built: skipped" until examples/redis_server.c lands).
#
# Workloads: redis-benchmark -c 50 (one thread), SET then GET (3-byte
# values, one key), each as its own redis-benchmark run so that the
# server's CPU is measured per command:
#   set, get         one command in flight per connection, -n NPLAIN
#   set-P16, get-P16 -P 16: 16 commands per write, -n NPIPE
# Every server is started once and checked (PING must answer +PONG); then
# REPS rounds, in each every server and workload once, in an order that
# rotates every round and runs backwards every other round.  Per run:
# requests/s, p50 and p99 latency (redis-benchmark --csv), and the server's
# CPU per request (the CPU time of all its threads in ns, bench/lib.sh's
# cpu_ns, before and after, over the run's requests).  Printed: medians and ratios to eddy
# (to redis-server while eddy's is not built), the median of the per-round
# ratios; eddy's goal (>= 1.0x redis-server's requests/s) is checked.
#
# Pinning: the server on CPU 0 (all its threads), redis-benchmark on CPU 1.
#
#   bash bench/redis.sh            3 rounds, -n 50000 (plain) / 300000 (-P 16)
#   QUICK=1 bash bench/redis.sh    3 rounds, -n 10000 / 50000
#
# Environment: EDDY_BUILD_DIR, REPS, NPLAIN, NPIPE, CLIENTS (50), DEPTH
# (16), REDIS_SERVERS (default: all of the above that exist), REDIS_SERVER,
# EDDY_REDIS_SERVER (another build of the eddy server),
# REDIS_BENCHMARK (their paths), NO_PIN=1, REDIS_TABLE=FILE (also write the
# markdown table there).  Every redis-benchmark output goes to
# build/release/bench-redis.log.  Loopback only; every run is bounded by a
# timeout; the servers are stopped by PID at exit.  Exits non-zero if a run
# fails.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=bench/lib.sh
. bench/lib.sh
BUILD=${EDDY_BUILD_DIR:-build/release}
if is_quick; then
    REPS=${REPS:-3}; NPLAIN=${NPLAIN:-10000}; NPIPE=${NPIPE:-50000}
else
    REPS=${REPS:-3}; NPLAIN=${NPLAIN:-50000}; NPIPE=${NPIPE:-300000}
fi
CLIENTS=${CLIENTS:-50}
DEPTH=${DEPTH:-16}
REDIS_SERVER=${REDIS_SERVER:-$(command -v redis-server 2>/dev/null || echo /usr/bin/redis-server)}
REDIS_BENCHMARK=${REDIS_BENCHMARK:-$(command -v redis-benchmark 2>/dev/null || echo /usr/bin/redis-benchmark)}
WORKLOADS=(set get "set-P$DEPTH" "get-P$DEPTH")
GOAL_REF=redis
RUN_LOG=$BUILD/bench-redis.log

declare -A BIN=(
    [eddy]=${EDDY_REDIS_SERVER:-$BUILD/examples/redis_server} [eddy-mt]=${EDDY_REDIS_SERVER:-$BUILD/examples/redis_server} [redis]=$REDIS_SERVER
)
declare -A ARGS=([eddy]="" [eddy-mt]="--threads 2" [redis]="")
ALL_SERVERS="eddy eddy-mt redis"

TABLE_OUT=${REDIS_TABLE:-} SKIP_WHAT=Redis
[ -x "$REDIS_BENCHMARK" ] || skip_all "redis-benchmark not found (apt-get install redis-tools)"
versions() {
    echo "redis-server $("$REDIS_SERVER" --version 2>/dev/null | sed -n 's/.* v=\([^ ]*\).*/\1/p'), redis-benchmark from redis-tools"
}

# shellcheck disable=SC2317  # called through select_servers
missing() { # name
    case $1 in
        eddy | eddy-mt) notes+=("$1: eddy redis_server not built: skipped (${BIN[$1]}; examples/redis_server.c lands in issue 7)") ;;
        *) notes+=("redis: redis-server not found: skipped (apt-get install redis-server, or REDIS_SERVER=path)") ;;
    esac
}
notes=()
select_servers "${REDIS_SERVERS:-$ALL_SERVERS}" missing
[ ${#SLIST[@]} -gt 0 ] || skip_all "no server to run (${notes[*]})"

pin_setup "load generator"
run_limit 120
bench_tmp redis

# shellcheck disable=SC2317  # called through start_at_port
launch_redis() { # port
    mkdir -p "$TMP/redis"
    "${PIN_SERVER[@]}" "$REDIS_SERVER" --save '' --appendonly no --port "$1" --bind 127.0.0.1 \
        --daemonize no --dir "$TMP/redis" --logfile "$TMP/redis/redis.log" \
        >"$TMP/redis.out" 2>"$TMP/redis.err" &
}

# shellcheck disable=SC2317  # called through start_all
start_one() { # name
    if [ "$1" = redis ]; then
        start_at_port redis redis-server launch_redis "$TMP/redis/redis.log" "$TMP/redis.err"
    else
        start_server "$1"
    fi
}

# shellcheck disable=SC2317  # called through start_all
check_server() { # name: PING -> +PONG (bash's /dev/tcp, bounded)
    local out
    out=$(timeout 5 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1" && printf "*1\r\n\$4\r\nPING\r\n" >&3 &&
        IFS= read -r -t 3 line <&3 && printf "%s\n" "$line"' _ "${PORT[$1]}" 2>/dev/null | tr -d '\r') || true
    [ "$out" = "+PONG" ] && return 0
    echo "redis.sh: $1 does not answer PING with +PONG (got '$out')" >&2
    return 1
}

requests_of() { # workload: its -n
    if [[ $1 == *-P* ]]; then echo "$NPIPE"; else echo "$NPLAIN"; fi
}

# shellcheck disable=SC2317  # called through measure
run_bench() { # server workload
    local s=$1 wl=$2 pipe=()
    [[ $wl == *-P* ]] && pipe=(-P "$DEPTH")
    "${RUN_LIMIT[@]}" "${PIN_LOAD[@]}" "$REDIS_BENCHMARK" -h 127.0.0.1 -p "${PORT[$s]}" -c "$CLIENTS" \
        -n "$(requests_of "$wl")" -t "${wl%%-*}" "${pipe[@]}" --csv 2>&1
}

start_all start_one check_server "did not start or answer PING: left out"
[ ${#SLIST[@]} -gt 0 ] || skip_all "no server started (${notes[*]})"
pick_base eddy "$GOAL_REF"   # ratios are to eddy (to redis-server while eddy's is not built)

echo "== redis benchmark: $(stamp); $(versions)"
echo "   $pin_note"
echo "   redis-benchmark -c $CLIENTS -t set / -t get, -n $NPLAIN; with -P $DEPTH: -n $NPIPE; $REPS rounds, interleaved"
echo "   servers: $(servers_line)"
for n in "${notes[@]}"; do echo "   $n"; done
echo "   every redis-benchmark output: $RUN_LOG"
echo

RESULTS=$TMP/results
: >"$RESULTS"
: >"$RUN_LOG"
failed=0
mapfile -t RUNS < <(run_plan rounds)
for run in "${RUNS[@]}"; do
    read -r rep wl s <<<"$run"
    measure "$s" "$wl $s run $rep" run_bench "$s" "$wl" || { failed=1; continue; }
    # "SET","rps","avg","min","p50","p95","p99","max" (ms)
    line=$(tr -d '"' <<<"$OUT" | awk -F, -v t="${wl%%-*}" 'toupper(t) == $1 { print $2, $5 * 1000, $7 * 1000 }')
    if [ "$RC" -ne 0 ] || [ -z "$line" ] || grep -qiE '^(error|.*err:)' <<<"$OUT"; then
        echo "   FAILED: $wl $s run $rep (redis-benchmark exit $RC):" >&2
        tail -n 4 <<<"$OUT" >&2
        failed=1
        continue
    fi
    read -r rps p50 p99 <<<"$line"
    ns=$(per_op "$CPU_NS" "$(requests_of "$wl")")
    printf '   %-7s %-8s run %d: %10s req/s  p50 %6s us  p99 %6s us  cpu %6s ns/req\n' \
        "$wl" "$s" "$rep" "$rps" "$p50" "$p99" "$ns"
    echo "$wl $s $rep $rps $p50 $p99 $ns" >>"$RESULTS"
done

TABLE=$TMP/table
{
    echo "Redis: redis-benchmark -c $CLIENTS, one command type per run (-t set, -t get; 3-byte values),"
    echo "-n $NPLAIN, or -n $NPIPE with -P $DEPTH; medians of $REPS interleaved runs ($pin_note; $(versions))."
    echo "(N.NNx): the figure / $BASE's, the median of the per-round ratios; req/s: higher is better;"
    echo "latency and CPU: lower is better (redis-benchmark's latency has 1 us steps below 1 ms)."
    echo
    echo "| workload | server | req/s | p50 (us) | p99 (us) | server CPU (ns/req) |"
    echo "|---|---|---:|---:|---:|---:|"
} >"$TABLE"
for wl in "${WORKLOADS[@]}"; do
    for s in "${SLIST[@]}"; do
        echo "| $wl | $s |$(cells "$wl" "$s" 4 5 6 7)" >>"$TABLE"
    done
done
{
    echo
    for wl in "${WORKLOADS[@]}"; do
        if has_server eddy && has_server "$GOAL_REF"; then
            r=$(ratio_of "$RESULTS" "$wl" eddy 4 "$GOAL_REF")
            echo "$wl: eddy/redis-server requests/s ${r}x (goal >= 1.0x): $(meets "$r" '>=' 1.0)"
        else
            echo "$wl: eddy/redis-server requests/s (goal >= 1.0x): pending: eddy's redis_server is not built (issue 7)"
        fi
    done
    for n in "${notes[@]}"; do echo "$n"; done
} >>"$TABLE"
finish_table "$TABLE" "$TABLE_OUT"
