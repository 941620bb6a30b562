#!/usr/bin/env bash
# bench/echo.sh - the echo comparison behind docs/benchmarks.md: eddy beside
# the hand-written references and the peers, on one load generator.
#
#   eddy      build/release/examples/echo_server             (a task per connection, current-thread runtime)
#   eddy-uring  the same, --io io_uring                      (current-thread runtime, io_uring backend)
#   eddy-mt   the same, --threads 2                          (multi-thread runtime, 2 workers)
#   epoll     build/release/bench/epoll_echo_server          (hand-written, the zero-cost reference)
#   tpc       build/release/bench/tpc_echo_server            (a thread per connection)
#   tokio-ct  build/release/peers/tokio_echo_server          (Tokio, current-thread runtime)
#   tokio-mt  ... --threads 2                                (Tokio, multi-thread runtime, 2 workers)
#   go        build/release/peers/go_echo_server             (a goroutine per connection, GOMAXPROCS=1)
#   libuv     build/release/peers/uv_echo_server             (callbacks on one uv_loop)
# (the peers come from bench/peers/build.sh; one that was not built is
# skipped, and the reason from build/release/peers/status is printed).
#
# One load generator (bench/loadgen, every byte verified) drives them all,
# interleaved: in round r the order starts at the r-th server and every
# other round runs backwards, so drift of a noisy machine hits every server
# alike and no server always follows the same neighbour.  Workloads:
#   rr1   100 connections x 64-byte messages, 1 in flight (request/response)
#   pipe  64 connections x 64-byte messages, 16 in flight (pipelined)
# (bench/run.sh also runs it with WORKLOADS="c10k:10000:1:64": 10,000
# connections, 1 message in flight on each; loadgen opens them at most
# 1000 at a time, and every server raises RLIMIT_NOFILE to its hard limit,
# as this script does for them)
# Printed per server and workload: medians of messages/s, p50 and p99
# round-trip latency, and the server's CPU time per message (the CPU time of
# all its threads in ns, exited ones included, bench/lib.sh's cpu_ns, before
# and after each run, over every message of the run: not the 10 ms ticks of
# /proc/PID/stat, too coarse for 1-2 s runs whose CPU per message is
# compared to within 5 %); and the ratios to eddy: the median of the per-round
# ratios (a server's run against eddy's run of the same round).  eddy's
# goal against epoll (throughput >= 1.0x, CPU per message <= 1.05x) is
# checked at the end for each of eddy and eddy-uring, over the table's
# rounds and GOAL_REPS (16) more rounds of GOAL_DURATION (1) s in which
# only eddy, eddy-uring and epoll run, in the interleaved order below
# (with three servers, every 6 rounds cover all 6 orders): a verdict at
# a few percent needs more than five rounds of a shared machine; each is
# printed with the middle half of the per-round ratios, so a reader sees
# how sure it is.  A missed goal is reported, not an error (the exit
# status is for failed runs).  eddy falls back to epoll where io_uring
# cannot be set up; eddy-uring's startup line says which backend it got,
# and if that is not io_uring its rows are labelled so, it is left out
# of the goal rounds and no verdict is printed for it.
#
#   bash bench/echo.sh              5 runs of 2 s per server and workload
#   QUICK=1 bash bench/echo.sh      3 runs of 0.5 s, no syscall count, no goal rounds
#
# Then, when perf(1) can count syscall tracepoints (not with QUICK), one
# more run per server and workload counts the server's system calls per
# message (all; receives: read/recvfrom/readv; sends: write/sendto/writev;
# waits: epoll_wait/epoll_pwait, and io_uring_enter, which for eddy-uring
# both submits a turn's receives and sends and waits: its receives and
# sends are not system calls): the number that explains most CPU
# differences between servers whose user-space work is a few percent of
# their time.  That run is separate from the timed ones.
#
# Environment: EDDY_BUILD_DIR (build/release), REPS, DURATION, WARMUP,
# GOAL_REPS, GOAL_DURATION, CONNECT_TIMEOUT (loadgen's, 20 s),
# SERVERS (default: all of the above that are built), WORKLOADS (default
# "rr1:100:1:64 pipe:64:16:64": name:conns:inflight:bytes ...), NO_PIN=1
# (no taskset), NO_SYSCALLS=1, ECHO_TABLE=FILE (also write the markdown
# table there), ECHO_DATA=FILE (medians, one line per workload and server:
# workload conns inflight size server msgs/s p50 p99 cpu_ns ratio_msgs
# ratio_cpu).  Build first with `make bench`.  Loopback only; every run is
# bounded in time (loadgen's own limits, and a timeout around it).  Exits
# non-zero if any run reports a failed connection or a wrong byte.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=bench/lib.sh
. bench/lib.sh
BUILD=${EDDY_BUILD_DIR:-build/release}
# Many short interleaved runs beat a few long ones on a shared machine:
# a burst of noise spoils one run, and the median drops it.
if is_quick; then
    REPS=${REPS:-3}; DURATION=${DURATION:-0.5}; WARMUP=${WARMUP:-0.2}
    NO_SYSCALLS=${NO_SYSCALLS:-1}
else
    REPS=${REPS:-5}; DURATION=${DURATION:-2}; WARMUP=${WARMUP:-0.5}
fi
read -r -a WORKLOADS <<<"${WORKLOADS:-rr1:100:1:64 pipe:64:16:64}"
BASE=eddy   # ratios are to this server
REF=epoll   # eddy's goal is stated against this one
GOALS=(eddy eddy-uring)   # the servers whose goal against REF is checked

echo_servers
LOADGEN=$BUILD/bench/loadgen
declare -A VER=()
if [ -f "$PEERS/versions" ]; then
    while read -r k v; do VER[$k]=$v; done <"$PEERS/versions"
fi
label_of() { # server name as the table shows it: peers with their version
    case $1 in
        tokio-*) echo "$1 (Tokio ${VER[tokio]:-?})" ;;
        go) echo "go (Go ${VER[go]:-?})" ;;
        libuv) echo "libuv (${VER[libuv]:-?})" ;;
        *) if [ -n "${FELL_BACK[$1]:-}" ]; then echo "$1 (FELL BACK TO EPOLL)"; else echo "$1"; fi ;;
    esac
}

# Which servers: the eddy programs must be there; a peer that was not built
# is skipped with the reason bench/peers/build.sh gave.
# shellcheck disable=SC2317  # called through select_servers
missing() { echo "echo.sh: ${BIN[$1]} not built; run 'make bench' first" >&2; exit 2; }
notes=()
select_servers "${SERVERS:-$ALL_SERVERS}" missing
[ -x "$LOADGEN" ] || { echo "echo.sh: $LOADGEN not built; run 'make bench' first" >&2; exit 2; }

pin_setup loadgen
# A run can never hang the script: loadgen bounds itself (connect timeout,
# warmup + duration, 3 s drain); this is the belt to those braces.
run_limit 90
CONNECT_TIMEOUT=${CONNECT_TIMEOUT:-20}
# Many connections need many descriptors: the soft limit up to the hard one
# (for loadgen and the servers, which inherit it).
ulimit -S -n "$(ulimit -H -n)" 2>/dev/null || true

bench_tmp echo

field() { # key, RESULT line
    sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<"$2"
}

for s in "${SLIST[@]}"; do start_server "$s" --addr 127.0.0.1 || exit 1; done
# A server asked for io_uring that got epoll would put epoll's figures
# under io_uring's name: say so wherever it shows.
declare -A FELL_BACK=()
for s in "${SLIST[@]}"; do
    if io_fell_back "$s"; then
        FELL_BACK[$s]=1
        notes+=("$s: FELL BACK TO EPOLL (its startup line: \"$(startup_line "$s")\"): its rows are the epoll backend's; no goal verdict for it")
    fi
done

echo "== echo benchmark: $(stamp)"
echo "   $(grep -m1 'model name' /proc/cpuinfo 2>/dev/null | sed 's/.*: //')"
echo "   $pin_note"
echo "   $REPS runs x ${DURATION} s (+${WARMUP} s warmup) per server and workload, interleaved"
echo "   servers: $(servers_line)"
for n in "${notes[@]}"; do echo "   $n"; done
echo

RESULTS=$TMP/results
: >"$RESULTS"
failed=0
mapfile -t RUNS < <(run_plan workloads)
for run in "${RUNS[@]}"; do
    read -r rep wl s <<<"$run"
    IFS=: read -r name conns inflight size <<<"$wl"
    measure "$s" "$name $s run $rep" "${RUN_LIMIT[@]}" "${PIN_LOAD[@]}" "$LOADGEN" --quiet --port "${PORT[$s]}" \
        --conns "$conns" --inflight "$inflight" --size "$size" --duration "$DURATION" --warmup "$WARMUP" \
        --connect-timeout "$CONNECT_TIMEOUT" --verify || { failed=1; continue; }
    line=$(grep '^RESULT ' <<<"$OUT" || true)
    if [ "$RC" -ne 0 ] || [ -z "$line" ]; then
        echo "   FAILED: $name $s run $rep (loadgen exit $RC): $OUT" >&2
        failed=1
        continue
    fi
    ns=$(per_op "$CPU_NS" "$(field total_msgs "$line")")
    mps=$(field msgs_per_s "$line")
    p50=$(field p50_us "$line")
    p99=$(field p99_us "$line")
    printf '   %-5s %-10s run %d: %9s msg/s  p50 %7s us  p99 %7s us  cpu %5s ns/msg\n' \
        "$name" "$s" "$rep" "$mps" "$p50" "$p99" "$ns"
    echo "$name $s $rep $mps $p50 $p99 $ns" >>"$RESULTS"
done

# ---- the goal rounds: more rounds of eddy, eddy-uring and epoll alone ----
# The goal against the hand-written server is decided at a few percent,
# where five rounds of a noisy machine are not enough: GOAL_REPS more
# interleaved rounds of just the goal servers and epoll (order_of's
# rotation and reversal, so that no server always goes first or follows
# the same neighbour) join the table's rounds for the verdicts, which
# also give the spread.
if is_quick; then GOAL_REPS=${GOAL_REPS:-0}; else GOAL_REPS=${GOAL_REPS:-16}; fi
GOAL_DURATION=${GOAL_DURATION:-1}
GOAL_SET=()   # the goal servers that run (and got the backend they name), then REF
for s in "${GOALS[@]}"; do
    if has_server "$s" && [ -z "${FELL_BACK[$s]:-}" ]; then GOAL_SET+=("$s"); fi
done
GOAL_SET+=("$REF")
if [ "$GOAL_REPS" -gt 0 ] && has_server "$REF" && [ ${#GOAL_SET[@]} -gt 1 ]; then
    echo
    echo "   goal rounds: $GOAL_REPS more rounds x ${GOAL_DURATION} s of $(printf '%s, ' "${GOAL_SET[@]}" | sed 's/, $//') alone"
    for wl in "${WORKLOADS[@]}"; do
        IFS=: read -r name conns inflight size <<<"$wl"
        for ((g = 1; g <= GOAL_REPS; g++)); do
            rep=$((REPS + g))
            for s in $(order_of "$g" "${GOAL_SET[@]}"); do
                measure "$s" "$name $s goal run $g" "${RUN_LIMIT[@]}" "${PIN_LOAD[@]}" "$LOADGEN" --quiet \
                    --port "${PORT[$s]}" --conns "$conns" --inflight "$inflight" --size "$size" \
                    --duration "$GOAL_DURATION" --warmup "$WARMUP" --connect-timeout "$CONNECT_TIMEOUT" --verify ||
                    { failed=1; continue; }
                line=$(grep '^RESULT ' <<<"$OUT" || true)
                if [ "$RC" -ne 0 ] || [ -z "$line" ]; then
                    echo "   FAILED: $name $s goal run $g (loadgen exit $RC): $OUT" >&2
                    failed=1
                    continue
                fi
                echo "$name $s $rep $(field msgs_per_s "$line") - - $(per_op "$CPU_NS" "$(field total_msgs "$line")")" \
                    >>"$TMP/goal"
            done
        done
    done
fi
GOAL=$TMP/goal_all
cat "$RESULTS" >"$GOAL"
if [ -f "$TMP/goal" ]; then cat "$TMP/goal" >>"$GOAL"; fi

# ---- syscalls per message (one extra, untimed run each) ----
SYSCALLS=$TMP/syscalls
: >"$SYSCALLS"
EV_ALL=raw_syscalls:sys_enter
EV_RECV=(read recvfrom readv)
EV_SEND=(write sendto writev)
EV_WAIT=(epoll_wait epoll_pwait)
# io_uring_enter counts as a wait where the kernel has its tracepoint
if [ -z "${NO_SYSCALLS:-}" ] && command -v perf >/dev/null 2>&1 &&
    perf stat -e syscalls:sys_enter_io_uring_enter -o /dev/null -- true >/dev/null 2>&1; then
    EV_WAIT+=(io_uring_enter)
fi
EVENTS=$EV_ALL
for e in "${EV_RECV[@]}" "${EV_SEND[@]}" "${EV_WAIT[@]}"; do EVENTS+=",syscalls:sys_enter_$e"; done
if [ -z "${NO_SYSCALLS:-}" ] && command -v perf >/dev/null 2>&1 &&
    perf stat -e "$EVENTS" -o /dev/null -- true >/dev/null 2>&1; then
    echo
    echo "   counting server syscalls (perf stat, one more run per server and workload)"
    for wl in "${WORKLOADS[@]}"; do
        IFS=: read -r name conns inflight size <<<"$wl"
        for s in "${SLIST[@]}"; do
            kill -0 "${PID[$s]}" 2>/dev/null || continue
            timeout -k 2 30 perf stat -e "$EVENTS" -x, -o "$TMP/perf.$s" -p "${PID[$s]}" &
            perfpid=$!
            sleep 0.2
            out=$("${RUN_LIMIT[@]}" "${PIN_LOAD[@]}" "$LOADGEN" --quiet --port "${PORT[$s]}" --conns "$conns" \
                --inflight "$inflight" --size "$size" --duration 1 --warmup 0.2) || failed=1
            kill -INT "$perfpid" 2>/dev/null || true
            wait "$perfpid" 2>/dev/null || true
            total=$(field total_msgs "$(grep '^RESULT ' <<<"$out" || true)")
            awk -F, -v w="$name" -v s="$s" -v n="${total:-0}" '
                $3 ~ /raw_syscalls:sys_enter/ { all = $1 }
                $3 ~ /enter_(read|recvfrom|readv)$/ { rd += $1 }
                $3 ~ /enter_(write|sendto|writev)$/ { snd += $1 }
                $3 ~ /enter_(epoll_p?wait|io_uring_enter)$/ { ew += $1 }
                END { if (n > 0) printf "%s %s %.2f %.2f %.2f %.2f\n", w, s, all / n, rd / n, snd / n, ew / n }
            ' "$TMP/perf.$s" >>"$SYSCALLS"
        done
    done
fi
sys_of() { awk -v w="$1" -v s="$2" -v c="$3" '$1 == w && $2 == s { print $c; found = 1 } END { if (!found) print "-" }' "$SYSCALLS"; }

TABLE=$TMP/table
{
    echo "Medians of $REPS interleaved runs ($pin_note)."
    echo "(N.NNx): the figure / eddy's, as the median of the per-round ratios to eddy's run of the same"
    echo "round; msgs/s: higher is better; latency and CPU: lower is better."
    echo
    echo "| workload | server | msgs/s | p50 (us) | p99 (us) | server CPU (ns/msg) | syscalls/msg (recv, send, wait) |"
    echo "|---|---|---:|---:|---:|---:|---|"
} >"$TABLE"
if [ -n "${ECHO_DATA:-}" ]; then : >"$ECHO_DATA"; fi
verdict=()
for wl in "${WORKLOADS[@]}"; do
    IFS=: read -r name conns inflight size <<<"$wl"
    label="$name ($conns conns x $inflight x ${size} B)"
    for s in "${SLIST[@]}"; do
        m=$(median_of "$RESULTS" "$name" "$s" 4)
        p50=$(median_of "$RESULTS" "$name" "$s" 5)
        p99=$(median_of "$RESULTS" "$name" "$s" 6)
        c=$(median_of "$RESULTS" "$name" "$s" 7)
        rm_=$(ratio_of "$RESULTS" "$name" "$s" 4 "$BASE")
        r50=$(ratio_of "$RESULTS" "$name" "$s" 5 "$BASE")
        r99=$(ratio_of "$RESULTS" "$name" "$s" 6 "$BASE")
        rc_=$(ratio_of "$RESULTS" "$name" "$s" 7 "$BASE")
        sc="-"
        if [ "$(sys_of "$name" "$s" 3)" != "-" ]; then
            sc="$(sys_of "$name" "$s" 3) ($(sys_of "$name" "$s" 4), $(sys_of "$name" "$s" 5), $(sys_of "$name" "$s" 6))"
        fi
        printf '| %s | %s | %s (%sx) | %s (%sx) | %s (%sx) | %s (%sx) | %s |\n' "$label" "$(label_of "$s")" \
            "$m" "$rm_" "$p50" "$r50" "$p99" "$r99" "$c" "$rc_" "$sc" >>"$TABLE"
        if [ -n "${ECHO_DATA:-}" ]; then
            # (a server that fell back to epoll is named so in the plots too)
            echo "$name $conns $inflight $size $s${FELL_BACK[$s]:+(fell-back-to-epoll)} $m $p50 $p99 $c $rm_ $rc_" >>"$ECHO_DATA"
        fi
    done
    # one verdict per goal server; a missed goal is printed, not an error
    for gs in "${GOALS[@]}"; do
        if ! has_server "$gs" || ! has_server "$REF"; then continue; fi
        if [ -n "${FELL_BACK[$gs]:-}" ]; then
            verdict+=("$name: $gs/$REF: no verdict: $gs FELL BACK TO EPOLL (its startup line: \"$(startup_line "$gs")\")")
            continue
        fi
        tr=$(ratio_of "$GOAL" "$name" "$gs" 4 "$REF")
        cr=$(ratio_of "$GOAL" "$name" "$gs" 7 "$REF")
        ok=MISSED
        [ "$(meets "$tr" '>=' 1.0)$(meets "$cr" '<=' 1.05)" = metmet ] && ok=met
        verdict+=("$name: $gs/$REF throughput ${tr}x (goal >= 1.0; $(ratio_spread "$GOAL" "$name" "$gs" 4 "$REF")), CPU per message ${cr}x (goal <= 1.05; $(ratio_spread "$GOAL" "$name" "$gs" 7 "$REF")): $ok")
    done
done
if [ ${#verdict[@]} -gt 0 ]; then
    echo >>"$TABLE"
    for v in "${verdict[@]}"; do echo "$v" >>"$TABLE"; done
fi
for n in "${notes[@]}"; do echo "$n" >>"$TABLE"; done
finish_table "$TABLE" "${ECHO_TABLE:-}"
