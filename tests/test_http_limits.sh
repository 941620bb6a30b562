#!/usr/bin/env bash
# http_server's limits, each with a clear answer, over raw sockets:
# request line over 8 KiB 414, head over 8 KiB 431, body over 1 MiB 413,
# bad or ambiguous framing 400 (bad and duplicate Content-Length,
# Content-Length + Transfer-Encoding, obs-fold, control characters, no
# Host), then the connection is closed; a slowloris head gets 408 within
# the configured header timeout; an idle keep-alive connection is closed
# after the idle timeout; --max-conns answers 503 beyond the limit and
# keeps accepting once a slot is free; a client that stops reading a
# response is dropped after the idle timeout; out of descriptors (EMFILE),
# the server waits for one instead of failing, and serves everyone.
# eddy-test-timeout: 90
# eddy-test-labels: net http backends
set -euo pipefail
. "$EDDY_SOURCE_DIR/tests/http_lib.sh"
http_init python3

start_server limits --header-timeout-ms 700 --idle-timeout-ms 900
LIMITS_PID=$PID LIMITS_PORT=$PORT
start_server conns --max-conns 3 --header-timeout-ms 60000
CONNS_PID=$PID CONNS_PORT=$PORT
mkdir -p "$TMP/root"
head -c $((16 * 1024 * 1024)) /dev/zero >"$TMP/root/big.bin"
start_server slow --root "$TMP/root" --idle-timeout-ms 900
SLOW_PID=$PID SLOW_PORT=$PORT
FD_PORT=0
if command -v prlimit >/dev/null 2>&1; then
    SERVER_PREFIX=(prlimit --nofile=40 --)
    start_server fds
    FD_PID=$PID FD_PORT=$PORT
    SERVER_PREFIX=()
fi

python3 - "$LIMITS_PORT" "$CONNS_PORT" "$SLOW_PORT" "$FD_PORT" <<'PY'
import socket, sys, time
port, cport, sport, fport = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
failed = []

def connect(p=None):
    return socket.create_connection(("127.0.0.1", p or port), timeout=20)

pending = {}  # bytes read past the end of a response, per socket

def read_response(s):
    """One response: (status line, headers dict, body); None on EOF first."""
    buf = pending.pop(s, b"")
    while b"\r\n\r\n" not in buf:
        b = s.recv(65536)
        if not b:
            return None if not buf else (buf, {}, b"")
        buf += b
    head, body = buf.split(b"\r\n\r\n", 1)
    lines = head.split(b"\r\n")
    hdrs = {}
    for l in lines[1:]:
        k, v = l.split(b":", 1)
        hdrs[k.strip().lower()] = v.strip()
    n = int(hdrs.get(b"content-length", b"0"))
    while len(body) < n:
        b = s.recv(65536)
        if not b:
            break
        body += b
    if len(body) > n:
        pending[s] = body[n:]
    return lines[0], hdrs, body[:n]

def closed_after(s, limit=10.0):
    """True if the server closes (EOF or reset) within limit seconds."""
    s.settimeout(limit)
    try:
        while True:
            if not s.recv(65536):
                return True
    except ConnectionResetError:
        return True
    except socket.timeout:
        return False

def expect_close(name, data, status, body_extra=b""):
    s = connect()
    try:
        s.sendall(data)
        if body_extra:
            try:
                s.sendall(body_extra)
            except (BrokenPipeError, ConnectionResetError):
                pass
        r = read_response(s)
    except ConnectionResetError:
        r = None
    if r is None or r[0] != b"HTTP/1.1 " + status:
        failed.append("%s: got %r, want %r" % (name, r and r[0][:80], status))
    elif r[1].get(b"connection") != b"close":
        failed.append("%s: no Connection: close" % name)
    elif not closed_after(s):
        failed.append("%s: connection left open" % name)
    s.close()

H = b"Host: a\r\n"
expect_close("long request line", b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\n" + H + b"\r\n", b"414 URI Too Long")
expect_close("long request line, slowly cut", b"GET /" + b"a" * 8300, b"414 URI Too Long")
expect_close("big header", b"GET / HTTP/1.1\r\n" + H + b"X-Big: " + b"b" * 9000 + b"\r\n\r\n",
             b"431 Request Header Fields Too Large")
expect_close("many headers", b"GET / HTTP/1.1\r\n" + H + b"".join(b"X-%d: v\r\n" % i for i in range(1200)) + b"\r\n",
             b"431 Request Header Fields Too Large")
expect_close("body over 1 MiB", b"POST / HTTP/1.1\r\n" + H + b"Content-Length: 2097152\r\n\r\n",
             b"413 Content Too Large", b"x" * 2097152)
expect_close("huge Content-Length", b"GET / HTTP/1.1\r\n" + H + b"Content-Length: 99999999999999999999999\r\n\r\n",
             b"413 Content Too Large")
for name, hdrs in [("bad Content-Length", b"Content-Length: 12abc\r\n"),
                   ("negative Content-Length", b"Content-Length: -1\r\n"),
                   ("empty Content-Length", b"Content-Length:\r\n"),
                   ("Content-Length list", b"Content-Length: 3, 4\r\n"),
                   ("differing Content-Lengths", b"Content-Length: 3\r\nContent-Length: 4\r\n"),
                   ("Content-Length + Transfer-Encoding", b"Content-Length: 3\r\nTransfer-Encoding: chunked\r\n"),
                   ("obs-fold", b"X-Fold: a\r\n  b\r\n"),
                   ("space before colon", b"X-Bad : a\r\n"),
                   ("NUL in a value", b"X-Nul: a\x00b\r\n"),
                   ("bare CR in a value", b"X-Cr: a\rb\r\n"),
                   ("no colon", b"NoColon\r\n"),
                   ("two Hosts", b"Host: b\r\n")]:
    expect_close(name, b"GET / HTTP/1.1\r\n" + H + hdrs + b"\r\nabcd", b"400 Bad Request")
expect_close("no Host", b"GET / HTTP/1.1\r\n\r\n", b"400 Bad Request")
expect_close("bad request line", b"GET  / HTTP/1.1\r\n" + H + b"\r\n", b"400 Bad Request")
expect_close("bad version", b"GET / HTTP/1.x\r\n" + H + b"\r\n", b"400 Bad Request")
expect_close("control in target", b"GET /\x01 HTTP/1.1\r\n" + H + b"\r\n", b"400 Bad Request")
expect_close("binary garbage", b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n", b"400 Bad Request")
expect_close("HTTP/2.0", b"GET / HTTP/2.0\r\n" + H + b"\r\n", b"505 HTTP Version Not Supported")
expect_close("chunked body", b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
             b"411 Length Required")
expect_close("unknown coding", b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding: gzip\r\n\r\n", b"501 Not Implemented")

# Bodies up to 1 MiB are read and discarded; the connection goes on.
s = connect()
s.sendall(b"GET / HTTP/1.1\r\n" + H + b"Content-Length: 1048576\r\n\r\n" + b"z" * 1048576 +
          b"GET / HTTP/1.1\r\n" + H + b"\r\n")
for i in range(2):
    r = read_response(s)
    if r is None or r[0] != b"HTTP/1.1 200 OK" or r[2] != b"Hello, World!":
        failed.append("body of 1 MiB then a request: response %d is %r" % (i, r and r[0]))
s.close()

# Slowloris: a head trickling in never completes; 408 comes within the
# 700 ms header timeout (plus slack), however many bytes keep arriving.
s = connect()
s.sendall(b"GET / HTTP/1.1\r\n" + H)
t0 = time.monotonic()
s.settimeout(0.1)
got = b""
while time.monotonic() - t0 < 15:
    try:
        s.sendall(b"X-Slow: 1\r\n")
    except (BrokenPipeError, ConnectionResetError):
        break
    try:
        b = s.recv(4096)
        if not b:
            break
        got += b
        if b"\r\n\r\n" in got:
            break
    except socket.timeout:
        pass
    except ConnectionResetError:
        break
dt = time.monotonic() - t0
if not got.startswith(b"HTTP/1.1 408 Request Timeout\r\n"):
    failed.append("slowloris: got %r after %.2fs" % (got[:60], dt))
elif not 0.6 <= dt <= 10:
    failed.append("slowloris: 408 after %.2fs, want about 0.7s" % dt)
s.close()

# A connection that never sends a byte is closed silently after the header timeout.
s = connect()
t0 = time.monotonic()
s.settimeout(15)
try:
    b = s.recv(4096)
except ConnectionResetError:
    b = b""
dt = time.monotonic() - t0
if b != b"" or not 0.6 <= dt <= 10:
    failed.append("silent connection: got %r after %.2fs" % (b[:40], dt))
s.close()

# Idle keep-alive: answered, then closed about 900 ms after the last response.
s = connect()
s.sendall(b"GET / HTTP/1.1\r\n" + H + b"\r\n")
r = read_response(s)
t0 = time.monotonic()
if r is None or r[2] != b"Hello, World!":
    failed.append("idle: first request failed")
elif not closed_after(s, 15):
    failed.append("idle: connection not closed")
else:
    dt = time.monotonic() - t0
    if not 0.8 <= dt <= 10:
        failed.append("idle: closed after %.2fs, want about 0.9s" % dt)
s.close()

# A busy keep-alive connection outlives the idle timeout.
s = connect()
t0 = time.monotonic()
n = 0
while time.monotonic() - t0 < 1.5:
    s.sendall(b"GET / HTTP/1.1\r\n" + H + b"\r\n")
    r = read_response(s)
    if r is None or r[2] != b"Hello, World!":
        failed.append("busy connection closed after %d requests" % n)
        break
    n += 1
    time.sleep(0.05)  # pacing the client, not synchronisation
s.close()

# --max-conns 3: three live connections; the fourth gets a 503 and a close.
held = []
for i in range(3):
    c = connect(cport)
    c.sendall(b"GET / HTTP/1.1\r\n" + H + b"\r\n")
    r = read_response(c)
    if r is None or r[2] != b"Hello, World!":
        failed.append("max-conns: connection %d not served" % i)
    held.append(c)
for i in range(5):
    c = connect(cport)
    c.settimeout(20)
    try:
        out = b""
        while True:
            b = c.recv(4096)
            if not b:
                break
            out += b
    except ConnectionResetError:
        out = b"<reset>"
    if not out.startswith(b"HTTP/1.1 503 Service Unavailable\r\n"):
        failed.append("max-conns: extra connection %d got %r" % (i, out[:60]))
    c.close()
# Free one slot: a new connection is served again (the server notices the
# close asynchronously, hence a bounded retry).
held.pop().close()
ok = False
for attempt in range(100):
    c = connect(cport)
    c.sendall(b"GET / HTTP/1.1\r\n" + H + b"Connection: close\r\n\r\n")
    try:
        r = read_response(c)
    except ConnectionResetError:
        r = None
    c.close()
    if r and r[2] == b"Hello, World!":
        ok = True
        break
    time.sleep(0.05)
if not ok:
    failed.append("max-conns: no connection served after a slot was freed")
for c in held:
    c.sendall(b"GET / HTTP/1.1\r\n" + H + b"\r\n")
    r = read_response(c)
    if r is None or r[2] != b"Hello, World!":
        failed.append("max-conns: a held connection stopped working")
    c.close()

# A reader that stops reading: the server's write waits at most the idle
# timeout (900 ms), then the connection is dropped, mid-body.
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
s.settimeout(20)
s.connect(("127.0.0.1", sport))
s.sendall(b"GET /big.bin HTTP/1.1\r\n" + H + b"\r\n")
time.sleep(3)  # the scenario itself: a client that reads nothing for 3 s
got, t0 = 0, time.monotonic()
try:
    while time.monotonic() - t0 < 30:
        b = s.recv(1 << 20)
        if not b:
            break
        got += len(b)
except (ConnectionResetError, socket.timeout):
    pass
if got >= 16 * 1024 * 1024:
    failed.append("stalled reader: got the whole file (%d bytes), not dropped" % got)
elif time.monotonic() - t0 >= 30:
    failed.append("stalled reader: connection never closed")
s.close()

# 100 connections against a server limited to 40 descriptors: those it
# cannot accept yet wait in the backlog and are served as others close.
if fport:
    socks = []
    for i in range(100):
        c = socket.create_connection(("127.0.0.1", fport), timeout=30)
        c.sendall(b"GET / HTTP/1.1\r\n" + H + b"Connection: close\r\n\r\n")
        socks.append(c)
    served = 0
    for c in socks:
        try:
            r = read_response(c)
            if r and r[2] == b"Hello, World!":
                served += 1
        except (ConnectionResetError, socket.timeout):
            pass
        c.close()
    if served != 100:
        failed.append("EMFILE: %d of 100 connections served" % served)
    c = connect(fport)
    c.sendall(b"GET / HTTP/1.1\r\n" + H + b"Connection: close\r\n\r\n")
    r = read_response(c)
    if not r or r[2] != b"Hello, World!":
        failed.append("EMFILE: not serving afterwards")
    c.close()

if failed:
    print("\n".join("FAIL: " + f for f in failed))
    sys.exit(1)
print("ok: limits")
PY

stop_server "$LIMITS_PID"
stop_server "$CONNS_PID"
stop_server "$SLOW_PID"
if [ "$FD_PORT" != 0 ]; then
    stop_server "$FD_PID"
fi
echo "ok: http limits"
