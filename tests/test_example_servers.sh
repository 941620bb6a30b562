#!/usr/bin/env bash
# What the four example servers (echo, chat, http, redis) share through
# examples/server_common.h, checked on each: the command line (usage and
# number errors exit 2 with the same texts), "listening on A:P" on stdout,
# a port already taken (exit 1), --addr (an IPv6 address is printed in
# brackets), a clean exit 0 on SIGINT and on SIGTERM with a connection
# still open, on both runtimes (--threads 1 and 2) and on the io_uring
# backend (--io io_uring), and the echo server's
# echo (the only one with no script of its own).
# eddy-test-timeout: 120
# eddy-test-labels: example net
set -euo pipefail

servers=(echo_server chat_server http_server redis_server)
for name in "${servers[@]}"; do
    if [ ! -x "$EDDY_EXAMPLES_DIR/$name" ]; then
        echo "FAIL: $name is not built"
        exit 1
    fi
done

# Sanitized builds are several times slower: stretch the waits.
scale=1
[ -n "${EDDY_SANITIZE:-}" ] && scale=4

tmp=$(mktemp -d "${TMPDIR:-/tmp}/eddy-servers.XXXXXX")
pids=()
cleanup() {
    local pid
    for pid in "${pids[@]}"; do
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    rm -rf "$tmp"
}
trap cleanup EXIT

fail() {
    echo "FAIL: $*"
    exit 1
}

# expect_exit NAME STATUS LINE ARGS...: runs the server with ARGS (bounded
# in time); it must exit with STATUS, print nothing on stdout, and print
# LINE on stderr (or a line that starts with it, when it ends with " *").
expect_exit() {
    local name=$1 want=$2 line=$3 rc=0 l found=0
    shift 3
    timeout $((20 * scale)) "$EDDY_EXAMPLES_DIR/$name" "$@" >"$tmp/x.out" 2>"$tmp/x.err" || rc=$?
    while IFS= read -r l; do
        if [[ "$line" == *" *" ]]; then
            l=${l:0:$((${#line} - 1))}
            [ "$l" = "${line%"*"}" ] && found=1
        else
            [ "$l" = "$line" ] && found=1
        fi
    done <"$tmp/x.err"
    if [ "$rc" -ne "$want" ] || [ "$found" != 1 ]; then
        fail "$name $*: exit $rc, stderr '$(cat "$tmp/x.err")'; want exit $want, '$line'"
    fi
    if [ -s "$tmp/x.out" ]; then
        fail "$name $*: printed on stdout: $(head -n 3 "$tmp/x.out")"
    fi
}

# start NAME ARGS...: starts the server; sets pid, addr (as printed) and
# port from its first stdout line, read through a FIFO with a bound.
start() {
    local name=$1 line fd
    shift
    rm -f "$tmp/out"
    mkfifo "$tmp/out"
    "$EDDY_EXAMPLES_DIR/$name" "$@" >"$tmp/out" 2>"$tmp/err" &
    pid=$!
    pids+=("$pid")
    exec {fd}<"$tmp/out"
    if ! read -r -t $((30 * scale)) line <&"$fd" || [[ "$line" != "listening on "*:* ]]; then
        cat "$tmp/err"
        fail "$name $*: no 'listening on' line (got '${line:-}')"
    fi
    exec {fd}<&-
    addr=${line#listening on }
    port=${addr##*:}
}

# stop NAME SIGNAL: the server must exit 0 within a bound and say why.
stop() {
    local name=$1 sig=$2 i rc=0
    kill -"$sig" "$pid"
    for ((i = 0; i < 100 * scale; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -0 "$pid" 2>/dev/null && fail "$name did not stop after SIG$sig"
    wait "$pid" || rc=$?
    pids=()
    if [ "$rc" -ne 0 ]; then
        cat "$tmp/err"
        fail "$name exited with status $rc after SIG$sig"
    fi
    local why
    why=$(case $sig in INT) echo Interrupt ;; TERM) echo Terminated ;; esac)
    grep -qx "$name: $why: shutting down" "$tmp/err" ||
        fail "$name: no '$name: $why: shutting down' on stderr: $(cat "$tmp/err")"
    if grep -q 'Sanitizer\|runtime error' "$tmp/err"; then
        fail "$name: $(cat "$tmp/err")"
    fi
}

# hold NAME [echo]: opens a connection to the running server, kept open
# (as $conn) through its shutdown; with "echo", the echo server must echo
# a line on it.
hold() {
    local got
    exec {conn}<>"/dev/tcp/127.0.0.1/$port"
    if [ "$1" = echo_server ] && [ "${2:-}" = echo ]; then
        printf 'hello, echo\n' >&"$conn"
        IFS= read -r -t $((20 * scale)) got <&"$conn" || fail "$1: no echo"
        [ "$got" = "hello, echo" ] || fail "$1 echoed '$got'"
    fi
}

ipv6=0
if [ -r /proc/net/if_inet6 ] && grep -q '^0\{31\}1 ' /proc/net/if_inet6; then
    ipv6=1
fi

for name in "${servers[@]}"; do
    usage="usage: $name --port P *"
    expect_exit "$name" 2 "$usage"
    expect_exit "$name" 2 "$usage" --threads 2
    expect_exit "$name" 2 "$usage" --port 0 --frobnicate 1
    expect_exit "$name" 2 "$usage" --port 0 --addr
    expect_exit "$name" 2 "$usage" --port 0 --io kqueue
    expect_exit "$name" 2 "$name: --port: expected a number in [0, 65535], got '65536'" --port 65536
    expect_exit "$name" 2 "$name: --port: expected a number in [0, 65535], got 'x'" --port x
    expect_exit "$name" 2 "$name: --threads: expected a number in [1, 1024], got '0'" --port 0 --threads 0

    # The current-thread runtime; SIGINT with a connection open.
    start "$name" --port 0
    [[ "$addr" == "127.0.0.1:"[1-9]* ]] || fail "$name: listening on '$addr'"
    hold "$name" echo
    # The port is taken: a second server says so and exits 1.
    expect_exit "$name" 1 "$name: listen on 127.0.0.1:$port: *" --port "$port"
    stop "$name" INT
    exec {conn}<&-

    # The multi-thread runtime; SIGTERM with a connection open.  The echo
    # here also checks that a worker's buffer pool is freed when the worker
    # exits (LeakSanitizer fails a sanitized run otherwise).
    start "$name" --port 0 --threads 2 --addr 127.0.0.1
    [[ "$addr" == "127.0.0.1:"[1-9]* ]] || fail "$name --threads 2: listening on '$addr'"
    hold "$name" echo
    stop "$name" TERM
    exec {conn}<&-

    # The io_uring backend (epoll where the kernel refuses it): the same
    # skeleton, SIGINT with a connection open.
    start "$name" --port 0 --io io_uring
    hold "$name" echo
    stop "$name" INT
    exec {conn}<&-

    if [ "$ipv6" = 1 ]; then
        start "$name" --addr ::1 --port 0
        [[ "$addr" == "[::1]:"[1-9]* ]] || fail "$name --addr ::1: listening on '$addr'"
        stop "$name" TERM
    fi
    echo "ok: $name"
done
echo "ok: the four servers' common skeleton"
