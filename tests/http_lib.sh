# Sourced by tests/test_http_*.sh (not a test itself: the name does not
# start with test_).  Starts examples/http_server on a free port, reads the
# port from its first stdout line through a FIFO (a bounded read, no
# sleeps), and stops only the servers it started, by PID, on exit.

# http_init TOOL...: skip (77) if a client is missing; set SERVER, TMP, SAN.
http_init() {
    local tool
    for tool in "$@"; do
        if ! command -v "$tool" >/dev/null 2>&1; then
            echo "SKIP: $tool is not installed"
            exit 77
        fi
    done
    SERVER="$EDDY_EXAMPLES_DIR/http_server"
    if [ ! -x "$SERVER" ]; then
        echo "FAIL: $SERVER is not built"
        exit 1
    fi
    TMP=$(mktemp -d "${TMPDIR:-/tmp}/eddy-http.XXXXXX")
    SERVER_PIDS=()
    SERVER_FDS=()
    # Sanitizer builds are several times slower: lighter load, longer waits.
    SAN=${EDDY_SANITIZE:-}
    trap http_cleanup EXIT
}

http_cleanup() {
    local pid
    for pid in "${SERVER_PIDS[@]}"; do
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    rm -rf "$TMP"
}

# start_server NAME ARGS...: sets PORT and PID (the server's, nothing else).
# SERVER_PREFIX (an array) may name a command that execs the server, such
# as prlimit: the PID is then still the server's.
start_server() {
    local name=$1 line fd
    shift
    mkfifo "$TMP/$name.out"
    ${SERVER_PREFIX[@]+"${SERVER_PREFIX[@]}"} "$SERVER" --port 0 "$@" >"$TMP/$name.out" 2>"$TMP/$name.err" &
    PID=$!
    SERVER_PIDS+=("$PID")
    exec {fd}<"$TMP/$name.out" # kept open: the server's stdout never sees EPIPE
    SERVER_FDS+=("$fd")
    if ! read -r -t 30 line <&"$fd" || [[ "$line" != "listening on "*:* ]]; then
        echo "FAIL: server $name did not report its port (got '$line')"
        cat "$TMP/$name.err"
        exit 1
    fi
    PORT=${line##*:}
}

# stop_server PID [SIGNAL]: SIGTERM (or SIGNAL), then the exit status must
# be 0 (a clean shutdown).
stop_server() {
    local pid=$1 sig=${2:-TERM} rc=0 i
    kill -"$sig" "$pid"
    wait "$pid" || rc=$?
    for i in "${!SERVER_PIDS[@]}"; do
        [ "${SERVER_PIDS[$i]}" = "$pid" ] && unset 'SERVER_PIDS[i]'
    done
    if [ "$rc" -ne 0 ]; then
        echo "FAIL: server $pid exited with $rc after SIG$sig"
        return 1
    fi
}

fail() {
    echo "FAIL: $*"
    exit 1
}

# curl with bounded time, loopback only, no proxy from the environment.
hcurl() {
    curl --noproxy '*' --max-time 20 --silent --show-error "$@"
}
