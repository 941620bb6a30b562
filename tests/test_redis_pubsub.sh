#!/usr/bin/env bash
# Pub/sub on redis_server: two subscribers on one channel, one of which
# stops reading.  PUBLISH never waits for it: once its pending output passes
# --max-output it is disconnected (PUBLISH then counts one receiver), while
# the other subscriber, a separate process, receives every message in order.
# eddy-test-timeout: 120
# eddy-test-labels: redis backends
set -euo pipefail
source "$EDDY_SOURCE_DIR/tests/redis_lib.sh"
need python3

cat >"$REDIS_TMP/pubsub.py" <<'PY'
import signal, socket, subprocess, sys, time
sys.path.insert(0, sys.argv[3])
from redis_resp import encode, read_reply

port, mode = int(sys.argv[1]), sys.argv[2]
N, SIZE, BATCH = 3000, 4096, 50

def conn(rcvbuf=0):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.settimeout(30)
    s.connect(('127.0.0.1', port))
    return s, s.makefile('rb')

if mode == 'reader':
    # The subscriber that keeps up: runs in its own process.
    s, f = conn()
    s.sendall(encode(['SUBSCRIBE', 'news']))
    assert read_reply(f) == ['*3', "  $'subscribe'", "  $'news'", '  :1'], 'subscribe reply'
    print('ready', flush=True)
    for i in range(N):
        r = read_reply(f)
        if r[:3] != ['*3', "  $'message'", "  $'news'"] or not r[3].startswith("  $'%06d" % i):
            print('FAIL: message %d: %r' % (i, [x[:40] for x in r]), flush=True)
            sys.exit(1)
        if (i + 1) % BATCH == 0:
            print(i + 1, flush=True)  # lets the publisher pace itself on this reader
    print('got %d' % N, flush=True)
    sys.exit(0)

fails = 0
def check(name, ok, detail=''):
    global fails
    print(('ok: ' if ok else 'FAIL: ') + name + (' (%s)' % detail if detail else ''), flush=True)
    fails += 0 if ok else 1

reader = subprocess.Popen([sys.executable, __file__, str(port), 'reader', sys.argv[3]],
                          stdout=subprocess.PIPE, text=True)
try:
    check('reader subscribed', reader.stdout.readline().strip() == 'ready')
    # The stalled subscriber: a tiny receive window, and it never reads again.
    b, bf = conn(rcvbuf=4096)
    b.sendall(encode(['SUBSCRIBE', 'news']))
    check('stalled subscriber subscribed', read_reply(bf)[-1] == '  :1')

    p, pf = conn()
    p.sendall(encode(['PUBLISH', 'nobody-listens', 'x']))
    check('publish to an empty channel', read_reply(pf) == [':0'])
    # Batches of BATCH messages; the next batch goes once the reader has
    # read this one, so only the stalled subscriber falls behind.
    signal.alarm(90)
    counts, worst = [], 0.0
    for first in range(0, N, BATCH):
        t0 = time.monotonic()
        p.sendall(b''.join(encode([b'PUBLISH', b'news', b'%06d' % i + b'.' * (SIZE - 6)])
                           for i in range(first, first + BATCH)))
        for _ in range(BATCH):
            counts.append(read_reply(pf)[0])
        worst = max(worst, time.monotonic() - t0)
        line = reader.stdout.readline().strip()
        if line != str(first + BATCH):
            check('reader progress', False, line)
            break
    signal.alarm(0)
    check('receivers: 2 at first', counts[0] == ':2', counts[0])
    check('receivers: 1 once the stalled one is dropped', counts[-1] == ':1', counts[-1])
    check('PUBLISH never waited for the stalled subscriber', worst < 5.0, 'slowest %.3f s' % worst)
    drop = counts.index(':1') if ':1' in counts else N
    check('dropped after about --max-output bytes', drop * SIZE < 64 << 20, 'after %d messages' % drop)

    # The stalled subscriber finds its connection closed after what was queued.
    b.settimeout(10)
    closed, got = False, 0
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            chunk = b.recv(1 << 16)
        except ConnectionResetError:
            closed = True
            break
        if not chunk:
            closed = True
            break
        got += len(chunk)
    check('stalled subscriber disconnected', closed, 'read %d bytes first' % got)

    out, _ = reader.communicate(timeout=60)
    check('the other subscriber received all %d messages in order' % N, reader.returncode == 0,
          out.strip().splitlines()[-1] if out.strip() else '')
    p.sendall(encode(['PUBLISH', 'news', 'last']))
    check('no subscriber left after the reader quit', read_reply(pf) == [':0'])
finally:
    if reader.poll() is None:
        reader.kill()
        reader.wait()
sys.exit(1 if fails else 0)
PY

start_eddy_redis --max-output 1048576
rc=0
python3 "$REDIS_TMP/pubsub.py" "$EDDY_PORT" publisher "$EDDY_SOURCE_DIR/tests" || rc=1
stop_eddy_redis || rc=1
if ! grep -q ' 1 subscribers disconnected' "$EDDY_ERR"; then
    echo "FAIL: the server's summary does not report the disconnection:"; cat "$EDDY_ERR"; rc=1
fi
exit $rc
