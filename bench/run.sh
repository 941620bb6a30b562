#!/usr/bin/env bash
# bench/run.sh - what `make bench` runs: eddy's benchmarks beside its peers,
# in one command, ending with one table of medians and ratios to eddy.
#
#   make bench            full run (about 11 minutes; plots under docs/img/)
#   make bench QUICK=1    short run (under 2 minutes; no plots, no syscall count)
#
# Steps:
#   1. bench/peers/build.sh builds the peers (Tokio, Go, libuv, and eddy's
#      timer benchmark) into $EDDY_BUILD_DIR/peers/, offline; a peer that
#      cannot be built is reported with the reason and left out.
#   2. Microbenchmarks, interleaved: ROUNDS rounds (3; QUICK 2); in each, group by
#      group (spawn, yield, chan, sync, timers), eddy's program and the
#      peers' run one after the other, in an order that rotates every round.
#      Every program prints the median of its own 7 repetitions per case;
#      the table gives the median over the rounds, and each peer's ratio to
#      eddy as the median of the per-round ratios (peer / eddy, so > 1
#      means the peer takes longer).
#   2b. Idle memory per task: bench_idle beside tokio_bench -g idle and
#      go_bench -g idle, the same N (1,000,000; QUICK: 200,000), one table.
#   3. bench/echo.sh: the echo servers (eddy with epoll and, as
#      eddy-uring, with io_uring), interleaved (see there), then 16 more
#      rounds of eddy, eddy-uring and epoll alone for the goal verdicts; then
#   3b. the same with 10,000 connections, 1 message in flight on each
#      (C10K_REPS rounds of C10K_DURATION s: 3 x 1 s; QUICK 1 x 1 s, eddy,
#      eddy-uring and epoll only);
#   3c. bench/conns.sh: memory per idle connection, every echo server
#      holding 1,000, 5,000 and 10,000 idle connections (QUICK: 1,000 and
#      5,000, not the -mt variants);
#   3d. bench/http.sh: HTTP plaintext with wrk: eddy's http_server (when
#      built), nginx, the hand-written epoll_http_server;
#   3e. bench/redis.sh: redis-benchmark: eddy's redis_server (when built),
#      redis-server.
#   4. bench/plot.sh (full run, or PLOT=1): throughput and CPU against the
#      connection count, memory against idle connections, memory against
#      idle tasks (eddy, Tokio, Go at 100k, 300k, 1M tasks), and the
#      microbenchmarks, as PNGs in docs/img/.
#   5. The summary: machine, versions, the time each part took, and every
#      table, in markdown (what docs/benchmarks.md shows).
#
# Environment: EDDY_BUILD_DIR (set by the Makefile: the Release build),
# QUICK, ROUNDS, PLOT (1: plots even with QUICK; 0: never), NO_PEERS=1 (eddy
# and the C references only), C10K_REPS, C10K_DURATION, SKIP="part ..."
# (leave parts out: micro idle echo c10k conns http redis), and what the
# scripts of each part read.
set -uo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 2
BUILD=${EDDY_BUILD_DIR:-build/release}
export EDDY_BUILD_DIR=$BUILD
QUICK=${QUICK:-}
[ "$QUICK" = 0 ] && QUICK=
ROUNDS=${ROUNDS:-$([ -n "$QUICK" ] && echo 2 || echo 3)}
B=$BUILD/bench
P=$BUILD/peers
status=0
t_start=$(date +%s)

WORK=$(mktemp -d "${TMPDIR:-/tmp}/eddy-bench.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
MICRO=$WORK/micro           # "round impl case ns_per_op" lines
: >"$MICRO"
LIMIT=(timeout -k 5 300)    # no program may hang the suite
command -v timeout >/dev/null 2>&1 || LIMIT=()

# The time each part takes, for the summary ("name seconds" lines).
TIMES=$WORK/times
: >"$TIMES"
part_t0=$(date +%s)
part_begin() { part_t0=$(date +%s); }
part_end() { # name
    local d=$(($(date +%s) - part_t0))
    echo "$1 $d" >>"$TIMES"
    echo "-- $1: ${d} s"
}
skip_part() { [[ " ${SKIP:-} " == *" $1 "* ]]; }

machine() {
    echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')," \
        "kernel $(uname -r), $(${CC:-cc} --version | head -n1)"
}

# ---- 1. peers --------------------------------------------------------------
part_begin
machine
echo
echo "== peers (bench/peers/build.sh)"
if [ -n "${NO_PEERS:-}" ]; then
    echo "NO_PEERS set: eddy and the C references only"
    mkdir -p "$P"
    : >"$P/status.run"
else
    bash bench/peers/build.sh || status=1
    cp "$P/status" "$P/status.run" 2>/dev/null || : >"$P/status.run"
fi
peer_ok() { awk -v p="$1" '$1 == p && $2 == "built" { f = 1 } END { exit !f }' "$P/status.run"; }
declare -A VER=()
if [ -z "${NO_PEERS:-}" ] && [ -f "$P/versions" ]; then
    while read -r k v; do VER[$k]=$v; done <"$P/versions"
fi
part_end peers

# ---- 2. microbenchmarks ------------------------------------------------------
q=${QUICK:+-q}
declare -A CMDS=()   # group -> "impl|command" lines
add() { CMDS[$1]+="$2|$3"$'\n'; }
if [ -n "$QUICK" ]; then
    add spawn eddy "$B/bench_spawn -n 200000 -r 5"
    add yield eddy "$B/bench_yield -n 2000000 -r 5"
else
    add spawn eddy "$B/bench_spawn"
    add yield eddy "$B/bench_yield"
fi
add chan eddy "$B/bench_chan $q"
add sync eddy "$B/bench_sync $q"
add mt eddy "$B/bench_mt $q"
peer_ok timers && add timers eddy "$P/eddy_timers $q"
for g in spawn yield chan sync mt timers; do
    peer_ok tokio && add $g tokio "$P/tokio_bench -g $g $q"
    peer_ok go && add $g go "$P/go_bench -g $g $q"
done
peer_ok libuv && add timers libuv "$P/uv_timers $q"

echo
echo "== microbenchmarks: $ROUNDS interleaved rounds${QUICK:+ (quick)}"
part_begin
skip_part micro && ROUNDS=0
LOG=$BUILD/bench-micro.log   # every program's own output, all rounds
: >"$LOG"
for r in $(seq "$ROUNDS"); do
    for g in spawn yield chan sync mt timers; do
        [ -n "${CMDS[$g]:-}" ] || continue
        mapfile -t lines < <(printf '%s' "${CMDS[$g]}")
        n=${#lines[@]}
        for ((i = 0; i < n; i++)); do
            entry=${lines[$(((i + r - 1) % n))]}
            cmd=${entry#*|}
            echo "-- round $r: $cmd" >>"$LOG"
            # shellcheck disable=SC2086
            if ! out=$("${LIMIT[@]}" $cmd 2>&1); then
                echo "!! round $r: '$cmd' failed:" >&2
                tail -n 5 <<<"$out" >&2
                status=1
            fi
            echo "$out" >>"$LOG"
            grep '^RESULT name=' <<<"$out" |
                sed -E 's/^RESULT name=([^ ]+) ns_per_op=([^ ]+).*/\1 \2/' |
                while read -r name v; do
                    case $name in
                        tokio_*_in_task) echo "$r tokio_in_task ${name#tokio_}" ;;
                        tokio_*) echo "$r tokio ${name#tokio_}" ;;
                        go_*) echo "$r go ${name#go_}" ;;
                        libuv_*) echo "$r libuv ${name#libuv_}" ;;
                        *) echo "$r eddy $name" ;;
                    esac | sed -E "s/_in_task\$//; s/\$/ $v/"
                done >>"$MICRO"
        done
    done
    printf 'round %d: %d figures so far (%ds)\n' "$r" "$(wc -l <"$MICRO")" $(($(date +%s) - t_start))
done
echo "every program's output: $LOG; the medians are in the summary at the end"
part_end micro

# The table: one row per case (those eddy and a peer have, then eddy's
# own, then those only a peer has),
# medians over the rounds, and "(N.NNx)": the median of the per-round
# ratios peer / eddy.
micro_table() {
    local hdr_t="Tokio ${VER[tokio]:-}" hdr_g="Go ${VER[go]:-}" hdr_u="libuv ${VER[libuv]:-}"
    echo "| case | eddy | $hdr_t | $hdr_t, in a task | $hdr_g | $hdr_u |"
    echo "|---|---:|---:|---:|---:|---:|"
    awk '
        function median(list,    n, a, i, j, t) {
            n = split(list, a, " ")
            for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] > t; j--) a[j + 1] = a[j]; a[j + 1] = t }
            if (n == 0) return ""
            return (n % 2) ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
        }
        {
            r = $1; impl = $2; c = $3; v = $4
            if (!(c in seen)) { seen[c] = 1; if (impl == "eddy") order_e[++ne] = c; else order_p[++np] = c }
            if (impl == "eddy") iseddy[c] = 1
            vals[impl, c] = vals[impl, c] " " v
            at[impl, c, r] = v
            rounds[r] = 1
        }
        function cell(impl, c,    m, rl, rr, k) {
            if (!((impl, c) in vals)) return "-"
            m = median(vals[impl, c])
            if (impl == "eddy") return sprintf("%.1f", m)
            rl = ""
            for (rr in rounds) if (((impl, c, rr) in at) && ((("eddy", c, rr) in at)) && at["eddy", c, rr] > 0)
                rl = rl " " (at[impl, c, rr] / at["eddy", c, rr])
            if (rl == "") return sprintf("%.1f", m)
            return sprintf("%.1f (%.2fx)", m, median(rl))
        }
        END {
            # cases both eddy and a peer have, then eddy-only, then peer-only
            for (i = 1; i <= ne; i++) { c = order_e[i]; if (("tokio", c) in vals || ("go", c) in vals || ("libuv", c) in vals) order[++n] = c }
            for (i = 1; i <= ne; i++) { c = order_e[i]; if (!(("tokio", c) in vals || ("go", c) in vals || ("libuv", c) in vals)) order[++n] = c }
            for (i = 1; i <= np; i++) if (!(order_p[i] in iseddy)) order[++n] = order_p[i]
            for (i = 1; i <= n; i++) {
                c = order[i]
                printf "| %s | %s | %s | %s | %s | %s |\n", c, cell("eddy", c), cell("tokio", c), \
                    cell("tokio_in_task", c), cell("go", c), cell("libuv", c)
            }
        }' "$MICRO"
}

# ---- 2b. idle memory per task: eddy, Tokio, Go ------------------------------------
# bench/bench_idle.c and its peers (tokio_bench -g idle, go_bench -g idle):
# N tasks (goroutines) that each wait for ever, on a one-hour timer or on a
# never-notified Notify (a never-closed channel); each case in a fresh
# process; RSS growth / N.  One run each: the figure barely moves.
echo
echo "== idle memory per task: RSS growth / N, each task waiting for ever"
IDLE_N=1000000
[ -n "$QUICK" ] && IDLE_N=200000
IDLE_LOG=$BUILD/bench-idle.log      # every program's own output
IDLE_TABLE_FILE=$WORK/idle_table
: >"$IDLE_LOG"
idle_run() { # command...: runs it, its output to the terminal and the log
    local out
    if ! out=$("${LIMIT[@]}" "$@" 2>&1); then
        echo "!! '$*' failed:" >&2
        tail -n 5 <<<"$out" >&2
        status=1
    fi
    printf '%s\n' "$out" | tee -a "$IDLE_LOG"
}
part_begin
if ! skip_part idle; then
    idle_run "$B/bench_idle" -n "$IDLE_N"
    peer_ok tokio && idle_run "$P/tokio_bench" -g idle -n "$IDLE_N"
    peer_ok go && idle_run "$P/go_bench" -g idle -n "$IDLE_N"
fi
# The table: bytes per idle task, and "(N.NNx)": peer / eddy (> 1: the peer
# takes more memory).
idle_table() {
    local hdr_t="Tokio ${VER[tokio]:-}" hdr_g="Go ${VER[go]:-}"
    echo "| case | eddy | $hdr_t | $hdr_g |"
    echo "|---|---:|---:|---:|"
    awk '
        /^RESULT name=/ {
            name = ""; v = ""
            for (i = 2; i <= NF; i++) {
                if ($i ~ /^name=/) name = substr($i, 6)
                if ($i ~ /^bytes_per_task=/) v = substr($i, 16)
            }
            if (name == "" || v == "") next
            impl = "eddy"
            if (name ~ /^tokio_/) { impl = "tokio"; name = substr(name, 7) }
            else if (name ~ /^go_/) { impl = "go"; name = substr(name, 4) }
            if (!(name in seen)) { seen[name] = 1; order[++n] = name }
            val[impl, name] = v
        }
        function cell(impl, c) {
            if (!((impl, c) in val)) return "-"
            if (impl == "eddy" || !(("eddy", c) in val) || val["eddy", c] <= 0) return val[impl, c]
            return sprintf("%s (%.2fx)", val[impl, c], val[impl, c] / val["eddy", c])
        }
        END {
            for (i = 1; i <= n; i++)
                printf "| %s | %s | %s | %s |\n", order[i], cell("eddy", order[i]), cell("tokio", order[i]), cell("go", order[i])
        }' "$IDLE_LOG"
}
idle_table >"$IDLE_TABLE_FILE"
echo
echo "bytes per idle task, N=$IDLE_N (peer / eddy):"
echo
cat "$IDLE_TABLE_FILE"
part_end idle-tasks

# ---- 3. echo -----------------------------------------------------------------
echo
echo "== echo: eddy (epoll and io_uring backends) beside epoll, thread-per-connection, Tokio, Go, libuv"
ECHO_TABLE_FILE=$WORK/echo_table
servers_env=()
[ -n "${NO_PEERS:-}" ] && servers_env=(SERVERS="eddy eddy-uring eddy-mt epoll tpc" CONNS_SERVERS="eddy eddy-uring eddy-mt epoll tpc")
part_begin
# (full run: 3 rounds of 2 s, where echo.sh alone makes 5; QUICK: 3 of 0.5 s)
ECHO_REPS=${ECHO_REPS:-3}
if ! skip_part echo && ! env "${servers_env[@]}" QUICK="$QUICK" REPS="$ECHO_REPS" ECHO_TABLE="$ECHO_TABLE_FILE" \
    bash bench/echo.sh; then
    status=1
fi
part_end echo

# ---- 3b. echo with 10,000 connections -------------------------------------------
C10K_REPS=${C10K_REPS:-$([ -n "$QUICK" ] && echo 1 || echo 3)}
C10K_DURATION=${C10K_DURATION:-1}
C10K_TABLE_FILE=$WORK/c10k_table
# QUICK: eddy on both backends and the epoll reference only (opening 10,000
# connections takes a few seconds per server); the full run: every echo server.
c10k_env=("${servers_env[@]}")
if [ -n "${C10K_SERVERS:-}" ]; then
    c10k_env=(SERVERS="$C10K_SERVERS")
elif [ -n "$QUICK" ]; then
    c10k_env=(SERVERS="eddy eddy-uring epoll")
fi
echo
echo "== echo with 10,000 connections, 1 message in flight each ($C10K_REPS x ${C10K_DURATION} s)"
part_begin
if ! skip_part c10k && ! env "${c10k_env[@]}" QUICK='' REPS="$C10K_REPS" DURATION="$C10K_DURATION" WARMUP=0.5 \
    NO_SYSCALLS=1 GOAL_REPS=0 WORKLOADS="c10k:10000:1:64" ECHO_TABLE="$C10K_TABLE_FILE" bash bench/echo.sh; then
    status=1
fi
part_end c10k

# ---- 3c. memory per idle connection ----------------------------------------------
CONNS_TABLE_FILE=$WORK/conns_table
CONNS_DATA_FILE=$WORK/conns_data
echo
part_begin
settle=0.3
conns_env=("${servers_env[@]}")
stages=${STAGES:-1000 5000 10000}
if [ -n "$QUICK" ]; then
    settle=0.05
    stages=${STAGES:-1000 5000}   # the full run goes to 10,000
    # QUICK: not the multi-thread variants (their figures match the
    # current-thread ones to a few percent; the full run has them); the
    # io_uring backend stays (its buffer ring is memory epoll has not)
    [ -z "${NO_PEERS:-}" ] && [ -z "${CONNS_SERVERS:-}" ] && conns_env=(CONNS_SERVERS="eddy eddy-uring epoll tpc tokio-ct go libuv")
fi
if ! skip_part conns && ! env "${conns_env[@]}" STAGES="$stages" SETTLE="$settle" CONNS_TABLE="$CONNS_TABLE_FILE" \
    CONNS_DATA="$CONNS_DATA_FILE" bash bench/conns.sh; then
    status=1
fi
part_end conns

# ---- 3d. HTTP plaintext ------------------------------------------------------------
HTTP_TABLE_FILE=$WORK/http_table
echo
part_begin
# QUICK: no eddy-mt (HTTP_SERVERS overrides)
http_servers=${HTTP_SERVERS:-$([ -n "$QUICK" ] && echo "eddy nginx epoll" || echo "eddy eddy-mt nginx epoll")}
if ! skip_part http && ! QUICK="$QUICK" HTTP_SERVERS="$http_servers" HTTP_TABLE="$HTTP_TABLE_FILE" bash bench/http.sh; then
    status=1
fi
part_end http

# ---- 3e. Redis -----------------------------------------------------------------------
REDIS_TABLE_FILE=$WORK/redis_table
echo
part_begin
redis_servers=${REDIS_SERVERS:-$([ -n "$QUICK" ] && echo "eddy redis" || echo "eddy eddy-mt redis")}
if ! skip_part redis && ! QUICK="$QUICK" REDIS_SERVERS="$redis_servers" REDIS_TABLE="$REDIS_TABLE_FILE" bash bench/redis.sh; then
    status=1
fi
part_end redis

# ---- 4. plots ------------------------------------------------------------------
PLOT=${PLOT:-}
if [ "$PLOT" = 0 ] || { [ -n "$QUICK" ] && [ -z "$PLOT" ]; }; then
    echo
    echo "== plots: skipped${QUICK:+ in a QUICK run} (PLOT=1 draws them; the full run does)"
else
    echo
    echo "== plots (bench/plot.sh)"
    part_begin
    micro_table >"$WORK/micro_table"
    if ! env "${servers_env[@]}" MICRO_TABLE="$WORK/micro_table" CONNS_DATA="$CONNS_DATA_FILE" bash bench/plot.sh; then
        status=1
    fi
    part_end plots
fi

# ---- 5. summary ------------------------------------------------------------------
echo
echo "================================================================================"
echo "== summary ($(date -u +%Y-%m-%dT%H:%M:%SZ), ${QUICK:+QUICK, }$(($(date +%s) - t_start)) s)"
machine
echo "peers: $(awk '{ $2 = ($2 == "built") ? "built:" : "SKIPPED:"; print }' "$P/status.run" | paste -sd';' | sed 's/;/; /g')"
echo
echo "Microbenchmarks: ns per operation, median of $ROUNDS interleaved rounds (each the"
echo "median of 7 repetitions); (N.NNx) = peer / eddy, median of per-round ratios: > 1, eddy is faster."
echo "\"in a task\": the same work in a spawned task that block_on only joins (Tokio's fast path)."
echo
micro_table
echo
echo "Idle memory: resident bytes per task waiting for ever, N=$IDLE_N (bench_idle and its"
echo "peers; each case in a fresh process); (N.NNx) = peer / eddy: > 1, eddy takes less."
echo
cat "$IDLE_TABLE_FILE"
echo
echo "Echo:"
echo
if [ -f "$ECHO_TABLE_FILE" ]; then cat "$ECHO_TABLE_FILE"; else echo "(echo.sh produced no table)"; fi
table_or() { # file what
    if [ -s "$1" ]; then cat "$1"; else echo "($2 produced no table${SKIP:+, or was skipped})"; fi
}
echo
echo "Echo with 10,000 connections:"
echo
table_or "$C10K_TABLE_FILE" "echo.sh with 10,000 connections"
echo
table_or "$CONNS_TABLE_FILE" "conns.sh"
echo
table_or "$HTTP_TABLE_FILE" "http.sh"
echo
table_or "$REDIS_TABLE_FILE" "redis.sh"
echo
echo "Time per part: $(awk '{ printf "%s%s %d s", (NR > 1 ? ", " : ""), $1, $2 }' "$TIMES"); in all $(($(date +%s) - t_start)) s."
exit $status
