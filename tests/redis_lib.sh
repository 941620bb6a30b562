# redis_lib.sh - sourced by tests/test_redis_*.sh (not a test itself).
#
# start_eddy_redis [args...]   starts examples/redis_server --port 0 [args],
#                              sets EDDY_PID and EDDY_PORT
# start_real_redis             starts Debian's redis-server on a free port if
#                              installed, sets REAL_PID and REAL_PORT (empty
#                              when unavailable); returns 1 then
# stop_eddy_redis              SIGTERM, wait; fails unless it exited 0 with
#                              nothing from a sanitizer on its stderr
# resp PORT                    runs tests/redis_resp.py (commands on stdin)
# Every process started here is killed by PID on exit (trap).

REDIS_TMP=$(mktemp -d)
EDDY_PID=
REAL_PID=
redis_cleanup() {
    [ -n "$EDDY_PID" ] && kill "$EDDY_PID" 2>/dev/null && wait "$EDDY_PID" 2>/dev/null
    [ -n "$REAL_PID" ] && kill "$REAL_PID" 2>/dev/null && wait "$REAL_PID" 2>/dev/null
    rm -rf "$REDIS_TMP"
}
trap redis_cleanup EXIT

need() {
    command -v "$1" >/dev/null 2>&1 || { echo "SKIP: $1 not installed"; exit 77; }
}

RESP_PY="$EDDY_SOURCE_DIR/tests/redis_resp.py"
resp() { timeout 60 python3 "$RESP_PY" "$@"; }

start_eddy_redis() {
    local bin="$EDDY_EXAMPLES_DIR/redis_server"
    [ -x "$bin" ] || { echo "FAIL: $bin not built"; exit 1; }
    # A fresh file each time: the shell truncates it in the child, after
    # this function may already have read it, so it must not hold an
    # earlier server's line.
    EDDY_OUT=$(mktemp "$REDIS_TMP/eddy.out.XXXXXX")
    EDDY_ERR="$EDDY_OUT.err"
    "$bin" --port 0 "$@" >"$EDDY_OUT" 2>"$EDDY_ERR" &
    EDDY_PID=$!
    local deadline=$((SECONDS + 30)) # sanitizer builds on a loaded machine start slowly
    while [ $SECONDS -lt $deadline ]; do
        grep -q '^listening on .*:[0-9][0-9]*$' "$EDDY_OUT" 2>/dev/null && break
        kill -0 "$EDDY_PID" 2>/dev/null || break
        sleep 0.05
    done
    EDDY_PORT=$(sed -n 's/^listening on .*:\([0-9][0-9]*\)$/\1/p' "$EDDY_OUT")
    if [ -z "$EDDY_PORT" ]; then
        echo "FAIL: redis_server did not report its port"
        kill -0 "$EDDY_PID" 2>/dev/null || { rc=0; wait "$EDDY_PID" || rc=$?; echo "it exited with status $rc"; EDDY_PID=; }
        cat "$EDDY_ERR"; exit 1
    fi
}

stop_eddy_redis() {
    local rc=0
    kill "$EDDY_PID" 2>/dev/null || true
    wait "$EDDY_PID" 2>/dev/null || rc=$?
    EDDY_PID=
    if [ $rc != 0 ] || grep -q 'Sanitizer\|runtime error' "$EDDY_ERR"; then
        echo "FAIL: redis_server exited with status $rc:"; tail -40 "$EDDY_ERR"; return 1
    fi
}

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

start_real_redis() {
    REAL_PORT=
    command -v redis-server >/dev/null 2>&1 || return 1
    local try i port
    for try in 1 2 3; do
        port=$(free_port)
        redis-server --save '' --appendonly no --port "$port" --bind 127.0.0.1 \
            --dir "$REDIS_TMP" >"$REDIS_TMP/real.log" 2>&1 &
        REAL_PID=$!
        for i in $(seq 100); do
            if timeout 2 redis-cli -p "$port" ping >/dev/null 2>&1; then
                REAL_PORT=$port; return 0
            fi
            kill -0 "$REAL_PID" 2>/dev/null || break
            sleep 0.05
        done
        kill "$REAL_PID" 2>/dev/null; wait "$REAL_PID" 2>/dev/null; REAL_PID=
    done
    return 1
}
