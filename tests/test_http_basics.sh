#!/usr/bin/env bash
# http_server with real clients: GET / byte for byte, its headers, HEAD,
# 404, 405 with Allow, keep-alive (one connection for several URLs),
# HTTP/1.0, pipelined requests answered in order byte for byte, and a
# clean exit on SIGTERM.
# eddy-test-timeout: 60
# eddy-test-labels: net http backends
set -euo pipefail
. "$EDDY_SOURCE_DIR/tests/http_lib.sh"
http_init curl python3

start_server basics
URL="http://127.0.0.1:$PORT"

# GET /: the exact body and the headers of the plaintext test.
body=$(hcurl -D "$TMP/h" "$URL/")
[ "$body" = "Hello, World!" ] || fail "GET / body: '$body'"
tr -d '\r' <"$TMP/h" >"$TMP/h2"
head -n1 "$TMP/h2" | grep -qx 'HTTP/1.1 200 OK' || fail "status line: $(head -n1 "$TMP/h2")"
grep -qx 'Content-Type: text/plain' "$TMP/h2" || fail "no Content-Type: text/plain"
grep -qx 'Content-Length: 13' "$TMP/h2" || fail "no Content-Length: 13"
grep -qx 'Server: eddy' "$TMP/h2" || fail "no Server: eddy"
grep -qE '^Date: (Mon|Tue|Wed|Thu|Fri|Sat|Sun), [0-9]{2} [A-Z][a-z]{2} [0-9]{4} [0-9]{2}:[0-9]{2}:[0-9]{2} GMT$' "$TMP/h2" ||
    fail "no valid Date header"
grep -qi '^Connection:' "$TMP/h2" && fail "HTTP/1.1 keep-alive response should not need a Connection header"

# A query string does not change the answer.
[ "$(hcurl "$URL/?x=1")" = "Hello, World!" ] || fail "GET /?x=1"

# HEAD: the same headers, no body.
hcurl -I "$URL/" >"$TMP/head"
tr -d '\r' <"$TMP/head" | grep -qx 'Content-Length: 13' || fail "HEAD Content-Length"
[ "$(tr -d '\r' <"$TMP/head" | tail -n1)" = "" ] || fail "HEAD must end with the blank line"
# (that no body bytes follow a HEAD answer is checked byte for byte below)

# 404 without --root, for any other path.
code=$(hcurl -o "$TMP/b404" -w '%{http_code}' "$URL/index.html")
[ "$code" = 404 ] || fail "GET /index.html without --root: $code"
[ "$(cat "$TMP/b404")" = "404 Not Found" ] || fail "404 body: $(cat "$TMP/b404")"

# 405 for other methods, with Allow.
for m in POST PUT DELETE PATCH OPTIONS; do
    hcurl -X "$m" -D "$TMP/h405" -o /dev/null "$URL/"
    tr -d '\r' <"$TMP/h405" | head -n1 | grep -qx 'HTTP/1.1 405 Method Not Allowed' || fail "$m: $(head -n1 "$TMP/h405")"
    tr -d '\r' <"$TMP/h405" | grep -qx 'Allow: GET, HEAD' || fail "$m: no Allow header"
done
# A POST body is read and discarded; the connection stays usable.
out=$(hcurl -X POST --data 'abc=def' -w '%{http_code} %{num_connects}\n' "$URL/" "$URL/")
[ "$out" = $'405 Method Not Allowed\n405 1\n405 Method Not Allowed\n405 0' ] || fail "POST twice on one connection: $out"
# Expect: 100-continue gets the final answer at once (no 100, no hang),
# and the connection closes since the body may never come.
head -c 300000 /dev/zero >"$TMP/zeros"
hcurl -X POST -H 'Expect: 100-continue' --data-binary @"$TMP/zeros" -D "$TMP/hx" -o /dev/null "$URL/"
tr -d '\r' <"$TMP/hx" | head -n1 | grep -qx 'HTTP/1.1 405 Method Not Allowed' || fail "Expect: $(head -n1 "$TMP/hx")"
tr -d '\r' <"$TMP/hx" | grep -qx 'Connection: close' || fail "Expect: no Connection: close"

# Keep-alive: five URLs in one curl run share one connection.
out=$(hcurl -w '%{num_connects}\n' "$URL/" "$URL/" "$URL/missing" "$URL/" "$URL/")
conns=$(grep -o '[0-9]*$' <<<"$out" | awk '{s+=$1} END {print s}')
[ "$conns" = 1 ] || fail "keep-alive: $conns connections for five requests: $out"
[ "$(grep -c 'Hello, World!' <<<"$out")" = 4 ] || fail "keep-alive bodies: $out"

# HTTP/1.0 closes unless keep-alive is asked for.
hcurl --http1.0 -D "$TMP/h10" -o /dev/null "$URL/"
tr -d '\r' <"$TMP/h10" | grep -qx 'Connection: close' || fail "HTTP/1.0: no Connection: close"
out=$(hcurl --http1.0 -H 'Connection: keep-alive' -w '%{num_connects}\n' -D "$TMP/h10k" "$URL/" "$URL/")
tr -d '\r' <"$TMP/h10k" | grep -qx 'Connection: keep-alive' || fail "HTTP/1.0 keep-alive not confirmed"
conns=$(grep -o '[0-9]*$' <<<"$out" | awk '{s+=$1} END {print s}')
[ "$conns" = 1 ] || fail "HTTP/1.0 keep-alive: $conns connections"

# Connection: close is honoured.
hcurl -H 'Connection: close' -D "$TMP/hc" -o /dev/null "$URL/"
tr -d '\r' <"$TMP/hc" | grep -qx 'Connection: close' || fail "Connection: close not echoed"

# Pipelining and raw bytes: python3 sends everything in one write and
# compares the whole reply byte for byte (Date values masked).
python3 - "$PORT" <<'PY'
import re, socket, sys
port = int(sys.argv[1])

def exchange(data, timeout=20.0):
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    s.sendall(data)
    out = b""
    while True:
        b = s.recv(65536)
        if not b:
            break
        out += b
    s.close()
    return out

def mask(b):
    return re.sub(rb"Date: [^\r\n]*\r\n", b"Date: X\r\n", b)

def resp(status, body, ctype=b"text/plain", conn=b"", allow=False, head=False):
    h = (b"HTTP/1.1 " + status + b"\r\nServer: eddy\r\nDate: X\r\nContent-Type: " + ctype +
         b"\r\nContent-Length: " + str(len(body)).encode() + b"\r\n" + conn +
         (b"Allow: GET, HEAD\r\n" if allow else b"") + b"\r\n")
    return h if head else h + body

err = b"text/plain; charset=utf-8"
hello = b"Hello, World!"
reqs = (b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"
        b"HEAD / HTTP/1.1\r\nHost: a\r\n\r\n"
        b"GET /nope HTTP/1.1\r\nHost: a\r\n\r\n"
        b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello"
        b"GET /?q=1 HTTP/1.1\r\nhost: a\r\nX-Empty:\r\n\r\n"
        b"GET / HTTP/1.1\nHost: a\n\n"                       # bare LF ends lines too
        b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"
        b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")                # after close: never answered
want = (resp(b"200 OK", hello) + resp(b"200 OK", hello, head=True) +
        resp(b"404 Not Found", b"404 Not Found\n", err) +
        resp(b"405 Method Not Allowed", b"405 Method Not Allowed\n", err, allow=True) +
        resp(b"200 OK", hello) + resp(b"200 OK", hello) +
        resp(b"200 OK", hello, conn=b"Connection: close\r\n"))
got = mask(exchange(reqs))
if got != want:
    print("pipelined reply differs\n got: %r\nwant: %r" % (got, want))
    sys.exit(1)

# 100 pipelined requests in one write: 100 answers, in order, then close.
many = b"".join(b"GET /?n=%d HTTP/1.1\r\nHost: a\r\n\r\n" % i for i in range(99))
many += b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"
got = mask(exchange(many))
want = resp(b"200 OK", hello) * 99 + resp(b"200 OK", hello, conn=b"Connection: close\r\n")
if got != want:
    print("100 pipelined: got %d bytes, want %d" % (len(got), len(want)))
    sys.exit(1)

# A request split across many writes is still one request.
s = socket.create_connection(("127.0.0.1", port), timeout=20)
for piece in [b"GE", b"T / HT", b"TP/1.1\r", b"\nHost: a\r\n", b"Connection: close\r\n", b"\r\n"]:
    s.sendall(piece)
out = b""
while True:
    b = s.recv(4096)
    if not b:
        break
    out += b
if mask(out) != resp(b"200 OK", hello, conn=b"Connection: close\r\n"):
    print("split request: %r" % out)
    sys.exit(1)

# HTTP/1.0 without keep-alive: answered, then closed by the server.
got = mask(exchange(b"GET / HTTP/1.0\r\n\r\n"))
if got != resp(b"200 OK", hello, conn=b"Connection: close\r\n"):
    print("HTTP/1.0: %r" % got)
    sys.exit(1)
print("ok: pipelining and raw exchanges")
PY

# Still serving, then a clean exit on SIGTERM.
[ "$(hcurl "$URL/")" = "Hello, World!" ] || fail "server stopped answering"
stop_server "$PID"

# SIGINT too, with a connection still open (the runtime drops its task).
start_server int
exec {held}<>"/dev/tcp/127.0.0.1/$PORT"
printf 'GET / HTTP/1.1\r\nHost: a\r\n\r\n' >&"$held"
IFS= read -r -t 20 status <&"$held" || fail "no answer on the held connection"
[ "$status" = $'HTTP/1.1 200 OK\r' ] || fail "held connection: $status"
stop_server "$PID" INT
exec {held}>&-
echo "ok: http basics"
