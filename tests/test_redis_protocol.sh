#!/usr/bin/env bash
# redis_server's RESP parser: pipelining, commands split over many reads,
# binary-safe keys and values, large values, and the protocol errors
# (bad bulk length, huge multibulk count, oversized inline request): each
# gets Redis's error reply, then the connection closes, and announcing a
# huge length allocates nothing (the server's RSS stays put).  The error
# cases also run against Debian's redis-server when it is installed.
# eddy-test-timeout: 90
# eddy-test-labels: redis backends
set -euo pipefail
source "$EDDY_SOURCE_DIR/tests/redis_lib.sh"
need python3

cat >"$REDIS_TMP/proto.py" <<'PY'
import socket, sys, time
sys.path.insert(0, sys.argv[3])
from redis_resp import encode

port, pid = int(sys.argv[1]), int(sys.argv[2])  # pid 0: not ours to inspect
fails = 0

def conn():
    s = socket.create_connection(('127.0.0.1', port), timeout=10)
    return s

def recv_until_closed(s, limit=1 << 20):
    """Everything the server sends until it closes (bounded by the timeout)."""
    data = b''
    s.settimeout(10)
    while len(data) < limit:
        try:
            chunk = s.recv(65536)
        except ConnectionResetError:
            break
        if not chunk:
            break
        data += chunk
    return data

def recv_exact(s, n):
    data = b''
    while len(data) < n:
        chunk = s.recv(min(1 << 20, n - len(data)))
        if not chunk:
            raise EOFError('closed after %d of %d bytes' % (len(data), n))
        data += chunk
    return data

def check(name, got, want):
    global fails
    if got != want:
        cut = lambda v: v[:300] if isinstance(v, bytes) else v
        print('FAIL: %s\n  got:  %r\n  want: %r' % (name, cut(got), cut(want)))
        fails += 1
    else:
        print('ok: %s' % name)

def rss_kb():
    if not pid:
        return 0
    with open('/proc/%d/status' % pid) as f:
        for line in f:
            if line.startswith('VmRSS:'):
                return int(line.split()[1])
    return 0

def error_case(name, payload, want_reply):
    s = conn()
    s.sendall(payload)
    check(name, recv_until_closed(s), want_reply)
    s.close()

# -- protocol errors: an error reply, then the server closes ------------------
error_case('bad bulk length', b'*1\r\n$abc\r\n', b'-ERR Protocol error: invalid bulk length\r\n')
error_case('negative bulk length', b'*2\r\n$3\r\nGET\r\n$-5\r\n', b'-ERR Protocol error: invalid bulk length\r\n')
error_case('bulk length over 512 MiB', b'*1\r\n$536870913\r\n', b'-ERR Protocol error: invalid bulk length\r\n')
error_case('bad multibulk length', b'*abc\r\n', b'-ERR Protocol error: invalid multibulk length\r\n')
error_case('missing $', b'*1\r\nfoo\r\n', b"-ERR Protocol error: expected '$', got 'f'\r\n")
error_case('replies before the error are kept', b'PING\r\n*1\r\n$4\r\nPING\r\n*1\r\n$x\r\n',
           b'+PONG\r\n+PONG\r\n-ERR Protocol error: invalid bulk length\r\n')
error_case('too big inline request', b'a' * 70000, b'-ERR Protocol error: too big inline request\r\n')
error_case('too big mbulk count string', b'*' + b'1' * 70000, b'-ERR Protocol error: too big mbulk count string\r\n')
error_case('too big bulk count string', b'*1\r\n$' + b'1' * 70000,
           b'-ERR Protocol error: too big bulk count string\r\n')
error_case('unbalanced quotes', b'set k "v\r\n', b'-ERR Protocol error: unbalanced quotes in request\r\n')
error_case('quit', b'PING\r\nQUIT\r\nPING\r\n', b'+PONG\r\n+OK\r\n')

if '--eddy' in sys.argv:
    # Redis 7.0 accepts counts up to INT_MAX; this server's limit is 1024*1024.
    error_case('multibulk count over 1024*1024', b'*1048577\r\n',
               b'-ERR Protocol error: invalid multibulk length\r\n')
    # Announced sizes allocate nothing: a client claiming a 512 MiB bulk and
    # a 1M-argument array, then sending little, leaves the RSS where it was.
    before = rss_kb()
    held = []
    for _ in range(4):
        a = conn(); a.sendall(b'*2\r\n$3\r\nSET\r\n$536870912\r\n' + b'x' * 1000); held.append(a)
        b = conn(); b.sendall(b'*1048576\r\n$3\r\nSET\r\n'); held.append(b)
    p = conn(); p.sendall(b'PING\r\n')   # served after the four pairs were read
    check('server alive with huge announced lengths', p.recv(100), b'+PONG\r\n')
    grown = rss_kb() - before
    check('no allocation from announced lengths (RSS grew %d KiB)' % grown, grown < 8192, True)
    for h in held + [p]:
        h.close()
    # A pipeline of large replies is written as it goes, not built whole.
    s = conn()
    v = b'z' * (1 << 20)
    s.sendall(encode([b'SET', b'onemeg', v]))
    recv_exact(s, 5)
    before = rss_kb()
    s.sendall(encode([b'GET', b'onemeg']) * 100 + b'PING\r\n')
    want = (b'$1048576\r\n' + v + b'\r\n') * 100 + b'+PONG\r\n'
    check('100 pipelined GETs of 1 MiB', recv_exact(s, len(want)) == want, True)
    grown = rss_kb() - before
    if '--asan' not in sys.argv:  # ASan's quarantine keeps freed blocks resident
        check('output buffer bounded (RSS grew %d KiB)' % grown, grown < 32768, True)
    s.close()

# -- well-formed traffic ----------------------------------------------------------
s = conn()
s.sendall(b'FLUSHALL\r\n')
check('inline flushall', s.recv(100), b'+OK\r\n')

# pipelining: many commands in one write, every reply in order
n = 1000
batch = b''.join(encode(['SET', 'p%d' % i, 'v%d' % i]) + encode(['GET', 'p%d' % i]) for i in range(n))
batch += b'PING\r\n' * n
s.sendall(batch)
want = b''.join(b'+OK\r\n$%d\r\nv%d\r\n' % (len(b'v%d' % i), i) for i in range(n)) + b'+PONG\r\n' * n
check('pipeline of %d commands' % (3 * n), recv_exact(s, len(want)), want)

# a command split into single bytes
for byte in [bytes([c]) for c in encode(['SET', 'split', 'hello'])]:
    s.sendall(byte)
    time.sleep(0.0005)
check('command split over many reads', recv_exact(s, 5), b'+OK\r\n')

# binary-safe keys and values
key = b'k\x00\r\n\xff'
val = bytes(range(256)) * 4
s.sendall(encode([b'SET', key, val]) + encode([b'GET', key]) + encode([b'EXISTS', key, b'k']))
want = b'+OK\r\n$1024\r\n' + val + b'\r\n:1\r\n'
check('binary-safe key and value', recv_exact(s, len(want)), want)

# a large value, and the empty one
big = bytes((i * 7) & 0xff for i in range(4 << 20))
s.sendall(encode([b'SET', b'big', big]) + encode([b'GET', b'big']) + encode([b'SET', b'e', b'']) + encode([b'GET', b'e']))
want = b'+OK\r\n$%d\r\n' % len(big) + big + b'\r\n+OK\r\n$0\r\n\r\n'
check('4 MiB value round trip', recv_exact(s, len(want)), want)

# empty arrays and blank inline lines are skipped, as Redis does
s.sendall(b'*0\r\n*-1\r\n\r\n   \r\nPING\r\n')
check('empty commands ignored', recv_exact(s, 7), b'+PONG\r\n')
s.close()
sys.exit(1 if fails else 0)
PY

fail=0
start_eddy_redis
echo "== redis_server"
asan=
case "${EDDY_SANITIZE:-}" in *address*) asan=--asan ;; esac
python3 "$REDIS_TMP/proto.py" "$EDDY_PORT" "$EDDY_PID" "$EDDY_SOURCE_DIR/tests" --eddy $asan || fail=1
stop_eddy_redis || fail=1
if start_real_redis; then
    echo "== redis-server (the same cases, except this server's own limits)"
    python3 "$REDIS_TMP/proto.py" "$REAL_PORT" 0 "$EDDY_SOURCE_DIR/tests" || fail=1
fi
exit $fail
