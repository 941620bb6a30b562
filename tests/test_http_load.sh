#!/usr/bin/env bash
# http_server under wrk: 1,000 keep-alive connections, 16-deep pipelining,
# a small file from --root, and the --threads 2 flavour; wrk must report
# requests and no errors, and the server must still answer afterwards.
# Sanitizer builds get fewer connections and shorter runs.
# eddy-test-timeout: 120
# eddy-test-labels: net http load
set -euo pipefail
. "$EDDY_SOURCE_DIR/tests/http_lib.sh"
http_init curl wrk

CONNS=1000 DUR=3s
if [ -n "$SAN" ]; then
    CONNS=200 DUR=2s
fi
# wrk needs a descriptor per connection; so does the server.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt $((CONNS + 100)) ]; then
    CONNS=$(($(ulimit -n) - 100))
fi

cat >"$TMP/pipeline.lua" <<'LUA'
-- 16 requests per write: what pipelining is about.
init = function(args)
    local r = {}
    for i = 1, 16 do
        r[i] = wrk.format(nil, "/")
    end
    req = table.concat(r)
end
request = function()
    return req
end
LUA

mkdir -p "$TMP/root"
printf 'small file body\n' >"$TMP/root/small.txt"

# run_wrk NAME URL ARGS...: wrk must complete requests with no socket
# errors and no non-2xx answers.
run_wrk() {
    local name=$1 url=$2 out n
    shift 2
    out=$(wrk --timeout 10s -d "$DUR" "$@" "$url" 2>&1) || fail "$name: wrk failed: $out"
    n=$(awk '/requests in/ {print $1}' <<<"$out")
    [ -n "$n" ] && [ "$n" -gt 0 ] || fail "$name: no requests completed: $out"
    if grep -q 'Socket errors' <<<"$out"; then fail "$name: $(grep 'Socket errors' <<<"$out")"; fi
    if grep -q 'Non-2xx' <<<"$out"; then fail "$name: $(grep 'Non-2xx' <<<"$out")"; fi
    echo "$name: $n requests, $(awk '/Requests\/sec/ {print $2}' <<<"$out") req/s"
}

start_server load --root "$TMP/root"
URL="http://127.0.0.1:$PORT"
run_wrk "keep-alive x$CONNS" "$URL/" -t2 -c"$CONNS"
[ "$(hcurl "$URL/")" = "Hello, World!" ] || fail "no answer after the keep-alive run"
run_wrk "pipelined x16, x$CONNS" "$URL/" -t2 -c"$CONNS" -s "$TMP/pipeline.lua"
[ "$(hcurl "$URL/")" = "Hello, World!" ] || fail "no answer after the pipelined run"
run_wrk "file x100" "$URL/small.txt" -t2 -c100
[ "$(hcurl "$URL/small.txt")" = "small file body" ] || fail "no file after the file run"
stop_server "$PID"

start_server threads --threads 2
URL="http://127.0.0.1:$PORT"
run_wrk "--threads 2, x100" "$URL/" -t2 -c100
[ "$(hcurl "$URL/")" = "Hello, World!" ] || fail "no answer from --threads 2"
stop_server "$PID"
echo "ok: http load"
