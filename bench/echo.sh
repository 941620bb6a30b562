#!/usr/bin/env bash
# bench/echo.sh - the echo comparison behind docs/benchmarks.md.
#
#   eddy    build/release/examples/echo_server   (a task per connection)
#   epoll   build/release/bench/epoll_echo_server (hand-written, the zero-cost reference)
#   tpc     build/release/bench/tpc_echo_server   (a thread per connection)
#
# One load generator (bench/loadgen, every byte verified) drives all three,
# interleaved (eddy epoll tpc, tpc epoll eddy, ...) so that drift of a noisy
# machine hits every server alike.  Two workloads:
#   rr1   100 connections x 64-byte messages, 1 in flight (request/response)
#   pipe  64 connections x 64-byte messages, 16 in flight (pipelined)
# Printed per server and workload: medians of messages/s, p50 and p99
# round-trip latency, and the server's CPU time per message (utime+stime
# from /proc/PID/stat before and after each run, over every message of the
# run), and the ratios to epoll: the median of the per-round ratios, since
# the runs of one round are adjacent in time.
#
#   bash bench/echo.sh              9 runs of 3 s per server and workload (< 5 min)
#   QUICK=1 bash bench/echo.sh      5 runs of 1.5 s (< 2 min)
#
# Then, when perf(1) can count syscall tracepoints, one more run per server
# and workload counts the server's system calls per message (read, send,
# epoll_wait, all): the number that explains most CPU differences between
# servers whose user-space work is a few percent of their time.  That run
# is separate from the timed ones, so counting never perturbs them.
#
# Environment: EDDY_BUILD_DIR (build/release), REPS, DURATION, WARMUP,
# SERVERS (default "eddy epoll tpc"), NO_PIN=1 (do not use taskset),
# NO_SYSCALLS=1 (skip the syscall count).
# Build first with `make bench` (or `make demo`).  Loopback only.  Exits
# non-zero if any run reports a failed connection or a wrong byte.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
BUILD=${EDDY_BUILD_DIR:-build/release}
# Many short interleaved runs beat a few long ones on a shared machine:
# a burst of noise spoils one run, and the median drops it.
if [ -n "${QUICK:-}" ] && [ "${QUICK}" != 0 ]; then
    REPS=${REPS:-5}; DURATION=${DURATION:-1.5}; WARMUP=${WARMUP:-0.3}
else
    REPS=${REPS:-9}; DURATION=${DURATION:-3}; WARMUP=${WARMUP:-0.5}
fi
SERVERS=${SERVERS:-"eddy epoll tpc"}
WORKLOADS=("rr1 100 1 64" "pipe 64 16 64")

declare -A BIN=(
    [eddy]=$BUILD/examples/echo_server
    [epoll]=$BUILD/bench/epoll_echo_server
    [tpc]=$BUILD/bench/tpc_echo_server
)
LOADGEN=$BUILD/bench/loadgen
for s in $SERVERS; do
    [ -x "${BIN[$s]:-/nonexistent}" ] || { echo "echo.sh: ${BIN[$s]:-server $s} not built; run 'make bench' first" >&2; exit 2; }
done
[ -x "$LOADGEN" ] || { echo "echo.sh: $LOADGEN not built; run 'make bench' first" >&2; exit 2; }

# Pinning: server on CPU 0, load generator on CPU 1, when there are two.
PIN_SERVER=() PIN_LOAD=()
ncpu=$(nproc 2>/dev/null || echo 1)
if [ -z "${NO_PIN:-}" ] && command -v taskset >/dev/null 2>&1 && [ "$ncpu" -ge 2 ]; then
    PIN_SERVER=(taskset -c 0) PIN_LOAD=(taskset -c 1)
    pin_note="server pinned to CPU 0, loadgen to CPU 1 (taskset)"
else
    pin_note="no pinning (taskset missing, NO_PIN set, or a single CPU)"
fi

TMP=$(mktemp -d "${TMPDIR:-/tmp}/eddy-echo.XXXXXX")
declare -A PID=() PORT=()
cleanup() {
    for s in "${!PID[@]}"; do
        kill -TERM "${PID[$s]}" 2>/dev/null || true
    done
    for s in "${!PID[@]}"; do
        wait "${PID[$s]}" 2>/dev/null || true
    done
    rm -rf "$TMP"
}
trap cleanup EXIT

start_server() { # name
    local s=$1
    "${PIN_SERVER[@]}" "${BIN[$s]}" --port 0 --addr 127.0.0.1 >"$TMP/$s.out" 2>"$TMP/$s.err" &
    PID[$s]=$!
    local i
    for i in $(seq 100); do
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

# utime + stime of a process, in clock ticks (field 14 and 15 of
# /proc/PID/stat; the command name is skipped first, it may hold spaces).
cpu_ticks() { sed 's/^.*) //' "/proc/$1/stat" | awk '{ print $12 + $13 }'; }
HZ=$(getconf CLK_TCK)

field() { # key, RESULT line
    sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<"$2"
}

for s in $SERVERS; do start_server "$s"; done

echo "== echo benchmark: $(date -u +%Y-%m-%dT%H:%M:%SZ), $ncpu CPUs, $(uname -sr)"
echo "   $(grep -m1 'model name' /proc/cpuinfo 2>/dev/null | sed 's/.*: //')"
echo "   $pin_note"
echo "   $REPS runs x ${DURATION} s (+${WARMUP} s warmup) per server and workload, interleaved"
echo "   servers: $(for s in $SERVERS; do printf '%s=%s ' "$s" "${BIN[$s]}"; done)"
echo

RESULTS=$TMP/results
: >"$RESULTS"
failed=0
for wl in "${WORKLOADS[@]}"; do
    read -r name conns inflight size <<<"$wl"
    for rep in $(seq "$REPS"); do
        # Alternate the order (A B C, C B A, ...): no server always runs
        # right after the same neighbour.
        order=$SERVERS
        if [ $((rep % 2)) -eq 0 ]; then order=$(tr ' ' '\n' <<<"$SERVERS" | tac | tr '\n' ' '); fi
        for s in $order; do
            pid=${PID[$s]}
            c0=$(cpu_ticks "$pid")
            rc=0
            out=$("${PIN_LOAD[@]}" "$LOADGEN" --quiet --port "${PORT[$s]}" --conns "$conns" \
                --inflight "$inflight" --size "$size" --duration "$DURATION" --warmup "$WARMUP" \
                --verify) || rc=$?
            c1=$(cpu_ticks "$pid")
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
            printf '   %-5s %-6s run %d: %9s msg/s  p50 %7s us  p99 %7s us  cpu %5s ns/msg\n' \
                "$name" "$s" "$rep" "$mps" "$p50" "$p99" "$ns"
            echo "$name $s $rep $mps $p50 $p99 $ns" >>"$RESULTS"
        done
    done
done

median() { # workload server column
    awk -v w="$1" -v s="$2" -v c="$3" '$1 == w && $2 == s { print $c }' "$RESULTS" | sort -g |
        awk '{ v[NR] = $1 } END { if (NR == 0) print "-"; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
# The median over runs of (server / epoll in the same round): each pair ran
# back to back, so drift of a shared machine cancels out of the ratio.
pratio() { # workload server column
    awk -v w="$1" -v s="$2" -v c="$3" '
        $1 == w && $2 == s { a[$3] = $c } $1 == w && $2 == "epoll" { b[$3] = $c }
        END { for (r in a) if ((r in b) && b[r] > 0) print a[r] / b[r] }' "$RESULTS" | sort -g |
        awk '{ v[NR] = $1 } END { if (NR == 0) print "-"; else printf "%.3f\n", (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# ---- syscalls per message (one extra, untimed run each) ----
SYSCALLS=$TMP/syscalls
: >"$SYSCALLS"
EVENTS=raw_syscalls:sys_enter,syscalls:sys_enter_read,syscalls:sys_enter_sendto,syscalls:sys_enter_epoll_wait
if [ -z "${NO_SYSCALLS:-}" ] && command -v perf >/dev/null 2>&1 &&
    perf stat -e "$EVENTS" -o /dev/null -- true >/dev/null 2>&1; then
    echo
    echo "   counting server syscalls (perf stat, one more run per server and workload)"
    for wl in "${WORKLOADS[@]}"; do
        read -r name conns inflight size <<<"$wl"
        for s in $SERVERS; do
            perf stat -e "$EVENTS" -x, -o "$TMP/perf.$s" -p "${PID[$s]}" &
            perfpid=$!
            sleep 0.2
            out=$("${PIN_LOAD[@]}" "$LOADGEN" --quiet --port "${PORT[$s]}" --conns "$conns" \
                --inflight "$inflight" --size "$size" --duration 1 --warmup 0.2) || failed=1
            kill -INT "$perfpid" 2>/dev/null || true
            wait "$perfpid" 2>/dev/null || true
            total=$(field total_msgs "$(grep '^RESULT ' <<<"$out" || true)")
            awk -F, -v w="$name" -v s="$s" -v n="${total:-0}" '
                $3 ~ /raw_syscalls:sys_enter/ { all = $1 } $3 ~ /enter_read$/ { rd = $1 }
                $3 ~ /enter_sendto/ { snd = $1 } $3 ~ /enter_epoll_wait/ { ew = $1 }
                END { if (n > 0) printf "%s %s %.3f %.3f %.3f %.3f\n", w, s, all / n, rd / n, snd / n, ew / n }
            ' "$TMP/perf.$s" >>"$SYSCALLS"
        done
    done
fi
sys_of() { awk -v w="$1" -v s="$2" -v c="$3" '$1 == w && $2 == s { print $c; found = 1 } END { if (!found) print "-" }' "$SYSCALLS"; }

echo
echo "Medians of $REPS runs ($pin_note);"
echo "the ratios are medians of per-round ratios (each server against the epoll run next to it):"
echo
echo "| workload | server | msgs/s | p50 (us) | p99 (us) | server CPU (ns/msg) | msgs/s vs epoll | CPU/msg vs epoll | syscalls/msg (read, send, epoll_wait) |"
echo "|---|---|---:|---:|---:|---:|---:|---:|---|"
verdict=()
for wl in "${WORKLOADS[@]}"; do
    read -r name conns inflight size <<<"$wl"
    label="$name ($conns conns x $inflight x ${size} B)"
    for s in $SERVERS; do
        m=$(median "$name" "$s" 4)
        c=$(median "$name" "$s" 7)
        sc="-"
        if [ "$(sys_of "$name" "$s" 3)" != "-" ]; then
            sc="$(sys_of "$name" "$s" 3) ($(sys_of "$name" "$s" 4), $(sys_of "$name" "$s" 5), $(sys_of "$name" "$s" 6))"
        fi
        printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' "$label" "$s" "$m" "$(median "$name" "$s" 5)" \
            "$(median "$name" "$s" 6)" "$c" "$(pratio "$name" "$s" 4)" "$(pratio "$name" "$s" 7)" "$sc"
    done
    if [[ " $SERVERS " == *" eddy "* && " $SERVERS " == *" epoll "* ]]; then
        tr=$(pratio "$name" eddy 4)
        cr=$(pratio "$name" eddy 7)
        ok=$(awk -v t="$tr" -v c="$cr" 'BEGIN { print (t != "-" && c != "-" && t >= 1.0 && c <= 1.05) ? "met" : "MISSED" }')
        verdict+=("$name: eddy/epoll throughput ${tr}x (goal >= 1.0), CPU per message ${cr}x (goal <= 1.05): $ok")
    fi
done
echo
for v in "${verdict[@]}"; do echo "$v"; done
exit "$failed"
