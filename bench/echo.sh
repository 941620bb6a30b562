#!/usr/bin/env bash
# bench/echo.sh - the echo comparison behind docs/benchmarks.md: eddy beside
# the hand-written references and the peers, on one load generator.
#
#   eddy      build/release/examples/echo_server             (a task per connection, current-thread runtime)
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
# round-trip latency, and the server's CPU time per message (utime+stime of
# all its threads, from /proc/PID/stat before and after each run, over every
# message of the run); and the ratios to eddy: the median of the per-round
# ratios (a server's run against eddy's run of the same round).  eddy's
# goal against epoll (throughput >= 1.0x, CPU per message <= 1.05x) is
# checked at the end.
#
#   bash bench/echo.sh              5 runs of 2 s per server and workload
#   QUICK=1 bash bench/echo.sh      3 runs of 0.5 s, no syscall count
#
# Then, when perf(1) can count syscall tracepoints (not with QUICK), one
# more run per server and workload counts the server's system calls per
# message (all; receives: read/recvfrom/readv; sends: write/sendto/writev;
# waits: epoll_wait/epoll_pwait): the number that explains most CPU
# differences between servers whose user-space work is a few percent of
# their time.  That run is separate from the timed ones.
#
# Environment: EDDY_BUILD_DIR (build/release), REPS, DURATION, WARMUP,
# CONNECT_TIMEOUT (loadgen's, 20 s),
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
BUILD=${EDDY_BUILD_DIR:-build/release}
PEERS=$BUILD/peers
# Many short interleaved runs beat a few long ones on a shared machine:
# a burst of noise spoils one run, and the median drops it.
if [ -n "${QUICK:-}" ] && [ "${QUICK}" != 0 ]; then
    REPS=${REPS:-3}; DURATION=${DURATION:-0.5}; WARMUP=${WARMUP:-0.2}
    NO_SYSCALLS=${NO_SYSCALLS:-1}
else
    REPS=${REPS:-5}; DURATION=${DURATION:-2}; WARMUP=${WARMUP:-0.5}
fi
read -r -a WORKLOADS <<<"${WORKLOADS:-rr1:100:1:64 pipe:64:16:64}"
BASE=eddy   # ratios are to this server
REF=epoll   # eddy's goal is stated against this one

declare -A BIN=(
    [eddy]=$BUILD/examples/echo_server [eddy-mt]=$BUILD/examples/echo_server
    [epoll]=$BUILD/bench/epoll_echo_server [tpc]=$BUILD/bench/tpc_echo_server
    [tokio-ct]=$PEERS/tokio_echo_server [tokio-mt]=$PEERS/tokio_echo_server
    [go]=$PEERS/go_echo_server [libuv]=$PEERS/uv_echo_server
)
declare -A ARGS=(
    [eddy]="" [eddy-mt]="--threads 2" [epoll]="" [tpc]=""
    [tokio-ct]="--threads 1" [tokio-mt]="--threads 2" [go]="--threads 1" [libuv]=""
)
declare -A PEER_OF=([tokio-ct]=tokio [tokio-mt]=tokio [go]=go [libuv]=libuv)
ALL_SERVERS="eddy eddy-mt epoll tpc tokio-ct tokio-mt go libuv"
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
        *) echo "$1" ;;
    esac
}

# Which servers: the eddy programs must be there; a peer that was not built
# is skipped with the reason bench/peers/build.sh gave.
SERVERS_IN=${SERVERS:-$ALL_SERVERS}
SERVERS=""
skipped_notes=()
for s in $SERVERS_IN; do
    [ -n "${BIN[$s]:-}" ] || { echo "echo.sh: unknown server '$s' (known: $ALL_SERVERS)" >&2; exit 2; }
    peer=${PEER_OF[$s]:-}
    if [ -n "$peer" ] && [ -f "$PEERS/status" ] &&
        ! awk -v p="$peer" '$1 == p && $2 == "built" { f = 1 } END { exit !f }' "$PEERS/status"; then
        ok=0    # the last build of this peer did not succeed: do not run a stale binary
    else
        ok=1
    fi
    if [ "$ok" = 1 ] && [ -x "${BIN[$s]}" ]; then
        SERVERS+="${SERVERS:+ }$s"
    elif [ -n "$peer" ]; then
        why=$(awk -v p="${PEER_OF[$s]}" '$1 == p && $2 == "skipped" { $1 = $2 = ""; sub(/^ +/, ""); print }' \
            "$PEERS/status" 2>/dev/null)
        skipped_notes+=("$s: skipped: ${why:-not built (bench/peers/build.sh builds it)}")
    else
        echo "echo.sh: ${BIN[$s]} not built; run 'make bench' first" >&2
        exit 2
    fi
done
[ -x "$LOADGEN" ] || { echo "echo.sh: $LOADGEN not built; run 'make bench' first" >&2; exit 2; }
read -r -a SLIST <<<"$SERVERS"
NS=${#SLIST[@]}

# Pinning: server on CPU 0, load generator on CPU 1, when there are two.
PIN_SERVER=() PIN_LOAD=()
ncpu=$(nproc 2>/dev/null || echo 1)
if [ -z "${NO_PIN:-}" ] && command -v taskset >/dev/null 2>&1 && [ "$ncpu" -ge 2 ]; then
    PIN_SERVER=(taskset -c 0) PIN_LOAD=(taskset -c 1)
    pin_note="server pinned to CPU 0 (all its threads), loadgen to CPU 1 (taskset)"
else
    pin_note="no pinning (taskset missing, NO_PIN set, or a single CPU)"
fi
# A run can never hang the script: loadgen bounds itself (connect timeout,
# warmup + duration, 3 s drain); this is the belt to those braces.
RUN_LIMIT=(timeout -k 2 90)
CONNECT_TIMEOUT=${CONNECT_TIMEOUT:-20}
# Many connections need many descriptors: the soft limit up to the hard one
# (for loadgen and the servers, which inherit it).
ulimit -S -n "$(ulimit -H -n)" 2>/dev/null || true
command -v timeout >/dev/null 2>&1 || RUN_LIMIT=()

TMP=$(mktemp -d "${TMPDIR:-/tmp}/eddy-echo.XXXXXX")
declare -A PID=() PORT=()
cleanup() {
    local s
    for s in "${!PID[@]}"; do kill -TERM "${PID[$s]}" 2>/dev/null || true; done
    for s in "${!PID[@]}"; do wait "${PID[$s]}" 2>/dev/null || true; done
    rm -rf "$TMP"
}
trap cleanup EXIT

start_server() { # name
    local s=$1 i
    # shellcheck disable=SC2086
    "${PIN_SERVER[@]}" "${BIN[$s]}" ${ARGS[$s]} --port 0 --addr 127.0.0.1 >"$TMP/$s.out" 2>"$TMP/$s.err" &
    PID[$s]=$!
    for i in $(seq 200); do
        if grep -q '^listening on ' "$TMP/$s.out" 2>/dev/null; then
            PORT[$s]=$(sed -n 's/^listening on .*:\([0-9]*\)$/\1/p' "$TMP/$s.out" | head -1)
            return 0
        fi
        kill -0 "${PID[$s]}" 2>/dev/null || break
        sleep 0.05
    done
    echo "echo.sh: $s did not start:" >&2
    cat "$TMP/$s.err" >&2
    exit 1
}

# utime + stime of a process (all its threads), in clock ticks (fields 14
# and 15 of /proc/PID/stat; the command name is skipped first, it may hold
# spaces).
cpu_ticks() { sed 's/^.*) //' "/proc/$1/stat" | awk '{ print $12 + $13 }'; }
HZ=$(getconf CLK_TCK)

field() { # key, RESULT line
    sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<"$2"
}

for s in "${SLIST[@]}"; do start_server "$s"; done

echo "== echo benchmark: $(date -u +%Y-%m-%dT%H:%M:%SZ), $ncpu CPUs, $(uname -sr)"
echo "   $(grep -m1 'model name' /proc/cpuinfo 2>/dev/null | sed 's/.*: //')"
echo "   $pin_note"
echo "   $REPS runs x ${DURATION} s (+${WARMUP} s warmup) per server and workload, interleaved"
echo "   servers: $(for s in "${SLIST[@]}"; do printf '%s=%s%s ' "$s" "${BIN[$s]##*/}" "${ARGS[$s]:+ ${ARGS[$s]}}"; done)"
for n in "${skipped_notes[@]}"; do echo "   $n"; done
echo

RESULTS=$TMP/results
: >"$RESULTS"
failed=0
for wl in "${WORKLOADS[@]}"; do
    IFS=: read -r name conns inflight size <<<"$wl"
    for rep in $(seq "$REPS"); do
        # Round rep: rotate the order by rep, and reverse every other round.
        order=()
        for ((i = 0; i < NS; i++)); do order+=("${SLIST[$(((i + rep - 1) % NS))]}"); done
        if [ $((rep % 2)) -eq 0 ]; then
            for ((i = 0, j = NS - 1; i < j; i++, j--)); do t=${order[i]}; order[i]=${order[j]}; order[j]=$t; done
        fi
        for s in "${order[@]}"; do
            pid=${PID[$s]}
            if ! kill -0 "$pid" 2>/dev/null; then
                echo "   FAILED: $name $s run $rep: the server is gone: $(tail -n 3 "$TMP/$s.err")" >&2
                failed=1
                continue
            fi
            c0=$(cpu_ticks "$pid")
            rc=0
            out=$("${RUN_LIMIT[@]}" "${PIN_LOAD[@]}" "$LOADGEN" --quiet --port "${PORT[$s]}" --conns "$conns" \
                --inflight "$inflight" --size "$size" --duration "$DURATION" --warmup "$WARMUP" \
                --connect-timeout "$CONNECT_TIMEOUT" --verify) || rc=$?
            c1=$(cpu_ticks "$pid" 2>/dev/null || echo "$c0")
            line=$(grep '^RESULT ' <<<"$out" || true)
            if [ "$rc" -ne 0 ] || [ -z "$line" ]; then
                echo "   FAILED: $name $s run $rep (loadgen exit $rc): $out" >&2
                failed=1
                continue
            fi
            total=$(field total_msgs "$line")
            ns=$(awk -v d=$((c1 - c0)) -v hz="$HZ" -v n="$total" 'BEGIN { printf "%.0f", n ? d * 1e9 / hz / n : 0 }')
            mps=$(field msgs_per_s "$line")
            p50=$(field p50_us "$line")
            p99=$(field p99_us "$line")
            printf '   %-5s %-8s run %d: %9s msg/s  p50 %7s us  p99 %7s us  cpu %5s ns/msg\n' \
                "$name" "$s" "$rep" "$mps" "$p50" "$p99" "$ns"
            echo "$name $s $rep $mps $p50 $p99 $ns" >>"$RESULTS"
        done
    done
done

median() { # workload server column
    awk -v w="$1" -v s="$2" -v c="$3" '$1 == w && $2 == s { print $c }' "$RESULTS" | sort -g |
        awk '{ v[NR] = $1 } END { if (NR == 0) print "-"; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
# The median over rounds of (server / base in the same round): each pair ran
# in the same round, so drift of a shared machine mostly cancels out.
pratio() { # workload server column base
    awk -v w="$1" -v s="$2" -v c="$3" -v b="$4" '
        $1 == w && $2 == s { a[$3] = $c } $1 == w && $2 == b { r[$3] = $c }
        END { for (k in a) if ((k in r) && r[k] > 0) print a[k] / r[k] }' "$RESULTS" | sort -g |
        awk '{ v[NR] = $1 } END { if (NR == 0) print "-"; else printf "%.2f\n", (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# ---- syscalls per message (one extra, untimed run each) ----
SYSCALLS=$TMP/syscalls
: >"$SYSCALLS"
EV_ALL=raw_syscalls:sys_enter
EV_RECV=(read recvfrom readv)
EV_SEND=(write sendto writev)
EV_WAIT=(epoll_wait epoll_pwait)
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
                $3 ~ /enter_epoll_p?wait$/ { ew += $1 }
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
        m=$(median "$name" "$s" 4)
        p50=$(median "$name" "$s" 5)
        p99=$(median "$name" "$s" 6)
        c=$(median "$name" "$s" 7)
        rm_=$(pratio "$name" "$s" 4 "$BASE")
        r50=$(pratio "$name" "$s" 5 "$BASE")
        r99=$(pratio "$name" "$s" 6 "$BASE")
        rc_=$(pratio "$name" "$s" 7 "$BASE")
        sc="-"
        if [ "$(sys_of "$name" "$s" 3)" != "-" ]; then
            sc="$(sys_of "$name" "$s" 3) ($(sys_of "$name" "$s" 4), $(sys_of "$name" "$s" 5), $(sys_of "$name" "$s" 6))"
        fi
        printf '| %s | %s | %s (%sx) | %s (%sx) | %s (%sx) | %s (%sx) | %s |\n' "$label" "$(label_of "$s")" \
            "$m" "$rm_" "$p50" "$r50" "$p99" "$r99" "$c" "$rc_" "$sc" >>"$TABLE"
        if [ -n "${ECHO_DATA:-}" ]; then
            echo "$name $conns $inflight $size $s $m $p50 $p99 $c $rm_ $rc_" >>"$ECHO_DATA"
        fi
    done
    if [[ " $SERVERS " == *" $BASE "* && " $SERVERS " == *" $REF "* ]]; then
        tr=$(pratio "$name" "$BASE" 4 "$REF")
        cr=$(pratio "$name" "$BASE" 7 "$REF")
        ok=$(awk -v t="$tr" -v c="$cr" 'BEGIN { print (t != "-" && c != "-" && t >= 1.0 && c <= 1.05) ? "met" : "MISSED" }')
        verdict+=("$name: eddy/epoll throughput ${tr}x (goal >= 1.0), CPU per message ${cr}x (goal <= 1.05): $ok")
    fi
done
if [ ${#verdict[@]} -gt 0 ]; then
    echo >>"$TABLE"
    for v in "${verdict[@]}"; do echo "$v" >>"$TABLE"; done
fi
for n in "${skipped_notes[@]}"; do echo "$n" >>"$TABLE"; done
echo
cat "$TABLE"
if [ -n "${ECHO_TABLE:-}" ]; then cp "$TABLE" "$ECHO_TABLE"; fi
exit "$failed"
