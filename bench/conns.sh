#!/usr/bin/env bash
# bench/conns.sh - memory per idle connection: every echo server of
# bench/echo.sh (eddy, eddy-uring, eddy-mt, epoll, tpc, tokio-ct, tokio-mt,
# go, libuv) holding N idle connections.
#
# For each server, in turn: a fresh process (pinned to CPU 0), its resident
# set (VmRSS, /proc/PID/status) read once it listens; then bench/idle_conns
# (on CPU 1) opens connections in stages (STAGES: 1000 5000 10000), each
# new connection sending one 64-byte message and waiting for its echo, so
# the server has accepted it, set it up and served it once; at every stage
# the server's VmRSS is read again (after SETTLE, 0.3 s).  Then the
# connections are closed and the server is stopped (by PID).
#
# Printed per server: the RSS growth at each stage, and bytes per idle
# connection = (RSS at N - RSS before any connection) / N at the largest N,
# with its ratio to eddy's.  eddy's goal is <= 1 KiB per idle connection.
# RSS counts the server's user-space memory only: the sockets' kernel
# memory (socket structures, receive and send buffers) is not in any
# process's RSS, and is the same for every server.
#
#   bash bench/conns.sh
#
# Environment: EDDY_BUILD_DIR, STAGES, SETTLE, CONNS_SERVERS (default: all
# that are built), NO_PIN=1, CONNS_TABLE=FILE (the markdown table),
# CONNS_DATA=FILE (one line per server and stage: "server conns
# rss_growth_kib", for bench/plot.sh).  Needs RLIMIT_NOFILE above the
# largest stage (raised to the hard limit here; 20,000 on the machine of
# docs/benchmarks.md).  Loopback only; bounded: idle_conns times out by
# itself, every wait here is bounded.  Exits non-zero if a server could not
# hold the connections.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=bench/lib.sh
. bench/lib.sh
BUILD=${EDDY_BUILD_DIR:-build/release}
read -r -a STAGES <<<"${STAGES:-1000 5000 10000}"
SETTLE=${SETTLE:-0.3}
IDLE=$BUILD/bench/idle_conns
echo_servers

[ -x "$IDLE" ] || { echo "conns.sh: $IDLE not built; run 'make bench' first" >&2; exit 2; }
ulimit -S -n "$(ulimit -H -n)" 2>/dev/null || true
max=${STAGES[${#STAGES[@]}-1]}
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt $((max + 64)) ]; then
    echo "conns.sh: RLIMIT_NOFILE is $(ulimit -n): too low for $max connections; STAGES=\"...\" with fewer" >&2
    exit 2
fi

# shellcheck disable=SC2317  # called through select_servers
missing() { notes+=("$1: skipped: ${BIN[$1]} not built"); }
notes=()
select_servers "${CONNS_SERVERS:-$ALL_SERVERS}" missing
[ ${#SLIST[@]} -gt 0 ] || { echo "conns.sh: no server to run" >&2; exit 2; }

pin_setup "load generator"
bench_tmp conns   # PID: the server and idle_conns while they run

echo "== memory per idle connection: $(date -u +%Y-%m-%dT%H:%M:%SZ), stages ${STAGES[*]}, $pin_note"
for n in "${notes[@]}"; do echo "   $n"; done

DATA=$TMP/data   # server conns rss_growth_kib
: >"$DATA"
BASE_RSS=$TMP/base
: >"$BASE_RSS"
failed=0
stages_csv=$(IFS=,; echo "${STAGES[*]}")
for s in "${SLIST[@]}"; do
    t0=$(date +%s.%N)
    if ! start_server "$s" --addr 127.0.0.1; then
        failed=1
        stop_server "$s"
        continue
    fi
    if io_fell_back "$s"; then
        notes+=("$s: FELL BACK TO EPOLL (its startup line: \"$(startup_line "$s")\"): its row is the epoll backend's")
    fi
    sleep "$SETTLE"
    r0=$(rss_kib "${PID[$s]}")
    echo "$s $r0" >>"$BASE_RSS"
    line="   $(printf '%-10s' "$s") RSS $r0 KiB before;"
    # idle_conns reads a line per stage from the fifo, writes READY lines.
    mkfifo "$TMP/in.$s"
    "${PIN_LOAD[@]}" "$IDLE" --port "${PORT[$s]}" --stages "$stages_csv" --hold 60 --connect-timeout 30 \
        <"$TMP/in.$s" >"$TMP/ic.$s" 2>"$TMP/ic.$s.err" &
    PID[idle]=$!
    exec 7>"$TMP/in.$s"
    ok=1
    for n in "${STAGES[@]}"; do
        got=0
        for _ in $(seq 1200); do # up to 60 s per stage
            if grep -q "^READY conns=$n " "$TMP/ic.$s"; then got=1; break; fi
            kill -0 "${PID[idle]}" 2>/dev/null || break
            sleep 0.05
        done
        if [ "$got" != 1 ]; then
            echo "   FAILED: $s: $n idle connections did not come up: $(tail -n 2 "$TMP/ic.$s.err")" >&2
            ok=0
            break
        fi
        sleep "$SETTLE"
        r=$(rss_kib "${PID[$s]}")
        echo "$s $n $((r - r0))" >>"$DATA"
        line+=" +$((r - r0)) KiB at $n"
        echo next >&7 || true
    done
    exec 7>&-
    wait "${PID[idle]}" 2>/dev/null || { [ "$ok" = 1 ] && echo "   FAILED: $s: $(cat "$TMP/ic.$s.err" "$TMP/ic.$s" | tail -n 2)" >&2; ok=0; }
    unset 'PID[idle]'
    stop_server "$s"
    [ "$ok" = 1 ] || failed=1
    echo "$line ($(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }') s)"
done

bpc() { # server: bytes per connection at the largest stage
    awk -v s="$1" -v n="$max" '$1 == s && $2 == n { printf "%.0f", $3 * 1024 / n; f = 1 } END { if (!f) print "-" }' "$DATA"
}
TABLE=$TMP/table
{
    echo "Memory per idle connection: server RSS growth (VmRSS) with N idle echo connections, each"
    echo "served once (64 B echoed), over the RSS before any connection; one fresh server each."
    echo "Bytes per connection: the growth at N=$max / N; (N.NNx): / eddy's (> 1: more memory than eddy)."
    echo "RSS is user-space memory only: socket buffers are kernel memory and not in it."
    echo
    printf '| server | RSS before (KiB) |'
    for n in "${STAGES[@]}"; do printf ' growth at %s (KiB) |' "$n"; done
    echo " bytes per idle connection |"
    printf '|---|---:|'
    for _ in "${STAGES[@]}"; do printf -- '---:|'; done
    printf -- '---:|\n'
    e=$(bpc eddy)
    for s in "${SLIST[@]}"; do
        printf '| %s | %s |' "$s" "$(awk -v s="$s" '$1 == s { print $2 }' "$BASE_RSS")"
        for n in "${STAGES[@]}"; do
            printf ' %s |' "$(awk -v s="$s" -v n="$n" '$1 == s && $2 == n { print $3; f = 1 } END { if (!f) print "-" }' "$DATA")"
        done
        b=$(bpc "$s")
        r=$(awk -v b="$b" -v e="$e" 'BEGIN { if (b != "-" && e != "-" && e > 0) printf " (%.2fx)", b / e }')
        echo " $b$r |"
    done
    echo
    if [ "$e" != "-" ]; then
        ok=$(awk -v e="$e" 'BEGIN { print (e <= 1024) ? "met" : "MISSED" }')
        echo "eddy: $e bytes per idle connection at N=$max (goal <= 1024): $ok"
    fi
    for n in "${notes[@]}"; do echo "$n"; done
} >"$TABLE"
if [ -n "${CONNS_DATA:-}" ]; then cp "$DATA" "$CONNS_DATA"; fi
finish_table "$TABLE" "${CONNS_TABLE:-}"
