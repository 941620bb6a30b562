#!/usr/bin/env bash
# examples/chat_server driven by scripted python3 clients over loopback:
# joins and their notices, nick rules, messages byte for byte to everyone
# but the sender, /nick, /who, //, unknown commands, over-long lines, the
# three ways to leave (quit, close, reset), a reader that stops reading
# while another client floods the room (it is dropped, the others miss
# nothing), and a 100-client room.  Then SIGTERM: the server must exit 0
# (under sanitizers that includes no leak and no race report).  Last,
# --nick-timeout-ms: clients that do not choose a nickname in time (silent,
# an unterminated line, only invalid ones) are told and closed, not before
# the timeout, while a client that joined stays.
# eddy-test-timeout: 120
# eddy-test-labels: example net backends
set -euo pipefail

if ! command -v python3 >/dev/null 2>&1; then
    echo "SKIP: python3 not found"
    exit 77
fi
server_bin="$EDDY_EXAMPLES_DIR/chat_server"
if [ ! -x "$server_bin" ]; then
    echo "chat_server not built: $server_bin"
    exit 1
fi

# Sanitized builds are several times slower: stretch the waits, shrink the load.
scale=1
clients=100
rounds=3
case "${EDDY_SANITIZE:-}" in
    "") ;;
    *thread*) scale=4; rounds=1 ;;
    *) scale=3; rounds=1 ;;
esac

tmp=$(mktemp -d)
server_pid=""
cleanup() {
    if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
        kill -KILL "$server_pid" 2>/dev/null || true
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT

# Starts the server and waits (bounded) for its "listening on" line; sets
# server_pid and port.
start_server() {
    # Created here: the background job opens them only once it has forked.
    : >"$tmp/out"
    : >"$tmp/err"
    "$server_bin" "$@" >>"$tmp/out" 2>>"$tmp/err" &
    server_pid=$!
    port=""
    local i
    for ((i = 0; i < 300 * scale; i++)); do
        port=$(sed -n 's/^listening on .*:\([0-9][0-9]*\)$/\1/p' "$tmp/out" | head -n 1)
        if [ -n "$port" ]; then
            return 0
        fi
        if ! kill -0 "$server_pid" 2>/dev/null; then
            echo "chat_server exited before listening:"
            cat "$tmp/err"
            exit 1
        fi
        sleep 0.1
    done
    echo "chat_server did not print its port"
    exit 1
}

# SIGTERM, then a bounded wait; the exit status must be 0.
stop_server() {
    kill -TERM "$server_pid"
    local i
    for ((i = 0; i < 100 * scale; i++)); do
        kill -0 "$server_pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$server_pid" 2>/dev/null; then
        echo "chat_server did not stop after SIGTERM"
        cat "$tmp/err"
        exit 1
    fi
    local rc=0
    wait "$server_pid" || rc=$?
    server_pid=""
    if [ "$rc" -ne 0 ]; then
        echo "chat_server exited with status $rc:"
        cat "$tmp/err"
        exit 1
    fi
}

run_clients() {
    local port=$1
    shift
    if ! timeout $((100 * scale)) python3 - "$port" "$scale" "$@" <"$tmp/client.py"; then
        echo "client script failed; server stderr:"
        cat "$tmp/err"
        exit 1
    fi
}

cat >"$tmp/client.py" <<'PY'
import select, socket, struct, sys, time

PORT = int(sys.argv[1])
SCALE = int(sys.argv[2])
MODE = sys.argv[3]
WAIT = 10.0 * SCALE  # the longest wait for any one expected line


class Fail(Exception):
    pass


class Client:
    def __init__(self, name, rcvbuf=None):
        self.name = name
        self.s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf:
            self.s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.s.settimeout(WAIT)
        self.s.connect(("127.0.0.1", PORT))
        self.buf = b""
        self.eof = False

    def fill(self, deadline):
        """One recv, waiting at most until deadline.  False on timeout."""
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        r, _, _ = select.select([self.s], [], [], left)
        if not r:
            return False
        try:
            data = self.s.recv(65536)
        except ConnectionResetError:
            data = b""
        if not data:
            self.eof = True
        self.buf += data
        return True

    def line(self, wait=None):
        deadline = time.monotonic() + (wait or WAIT)
        while b"\n" not in self.buf:
            if self.eof:
                raise Fail(f"{self.name}: connection closed; unterminated: {self.buf[:200]!r}")
            if not self.fill(deadline):
                raise Fail(f"{self.name}: no line within {wait or WAIT:.0f} s; have {self.buf[:200]!r}")
        l, _, self.buf = self.buf.partition(b"\n")
        return l

    def expect(self, want):
        if isinstance(want, str):
            want = want.encode()
        got = self.line()
        if got != want:
            raise Fail(f"{self.name}: expected {want[:200]!r}, got {got[:200]!r}")

    def expect_prefix(self, want):
        got = self.line()
        if not got.startswith(want.encode()):
            raise Fail(f"{self.name}: expected a line starting {want!r}, got {got[:200]!r}")
        return got

    def expect_eof(self):
        deadline = time.monotonic() + WAIT
        while not self.eof:
            if not self.fill(deadline):
                raise Fail(f"{self.name}: the server did not close the connection")
        if self.buf:
            raise Fail(f"{self.name}: unexpected data before the end: {self.buf[:200]!r}")

    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.s.sendall(data)

    def join(self, nick):
        self.expect("* nickname?")
        self.send(nick + "\n")
        self.expect_prefix(f"* welcome {nick} ")
        self.nick = nick

    def close(self):
        self.s.close()

    def reset(self):
        self.s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.s.close()


def functional():
    a = Client("alice")
    a.join("alice")

    b = Client("bob")
    b.expect("* nickname?")
    rules = "* error: a nickname is 1 to 32 characters of A-Z a-z 0-9 _ -"
    for bad in ["bad nick!", "x" * 33, "", "/who", "caf\xe9"]:
        b.send(bad.encode("latin-1") + b"\n")
        b.expect(rules)
        b.expect("* nickname?")
    b.send(b"n" * 101 + b"\n")  # over --max-line, even as a nick
    b.expect("* error: line too long (max 100 bytes), discarded")
    b.expect("* nickname?")
    b.send("ALICE\n")  # unique regardless of case
    b.expect("* error: nickname ALICE is taken")
    b.expect("* nickname?")
    b.send("  bob\r\n")  # blanks around it and a CR are ignored
    b.expect_prefix("* welcome bob (2 online")
    b.nick = "bob"
    a.expect("* bob joined")

    c = Client("carol")
    c.join("carol")
    a.expect("* carol joined")
    b.expect("* carol joined")

    # Every byte but "\n" travels as is (a trailing "\r" is stripped).
    raw = bytes(b for b in range(0, 256) if b not in (10, 13)) + b" \r in the middle"
    pieces = [raw[i:i + 90] for i in range(0, len(raw), 90)]  # --max-line 100
    a.send(b"".join(p + b"\n" for p in pieces))
    for p in pieces:
        b.expect(b"alice: " + p)
        c.expect(b"alice: " + p)
    b.send("from bob\r\n")
    a.expect("bob: from bob")
    c.expect("bob: from bob")
    # alice's own message would have come before bob's: /who is next.
    a.send("/who\n")
    a.expect("* online (3): alice, bob, carol")

    b.send("/nick bobby\n")
    b.expect("* you are now bobby")
    a.expect("* bob is now bobby")
    c.expect("* bob is now bobby")
    b.send("/nick Carol\n")
    b.expect("* error: nickname Carol is taken")
    b.send("/nick no way\n")
    b.expect(rules)
    b.send("/frobnicate\n")
    b.expect_prefix("* error: unknown command")
    b.send("//slash\n\nhi\n")  # "//" sends one "/"; the empty line is ignored
    a.expect("bobby: /slash")
    a.expect("bobby: hi")
    c.expect("bobby: /slash")
    c.expect("bobby: hi")
    c.send("/who\n")
    c.expect("* online (3): alice, bobby, carol")

    # --max-line 100: 100 bytes (plus CRLF) pass, 101 do not; a huge line
    # is discarded up to its newline, and what follows it in the same
    # segment still counts.
    a.send(b"y" * 100 + b"\r\n")
    b.expect(b"alice: " + b"y" * 100)
    c.expect(b"alice: " + b"y" * 100)
    a.send(b"z" * 101 + b"\n")
    a.expect("* error: line too long (max 100 bytes), discarded")
    a.send(b"w" * 50000 + b"\nafter the long one\n")
    a.expect("* error: line too long (max 100 bytes), discarded")
    b.expect("alice: after the long one")
    c.expect("alice: after the long one")
    a.send("/who\n")  # nothing else was queued for alice
    a.expect("* online (3): alice, bobby, carol")

    # Leaving: /quit, a plain close, a reset.
    c.send("/quit\n")
    c.expect("* bye")
    c.expect_eof()
    a.expect("* carol left")
    b.expect("* carol left")
    b.close()
    a.expect("* bobby left")
    d = Client("dave")
    d.join("dave")
    a.expect("* dave joined")
    d.reset()
    a.expect("* dave left")
    # A nick is free again once its owner left.
    e = Client("carol again")
    e.join("carol")
    a.expect("* carol joined")
    # A half-close: what the last lines asked for still arrives, then the end.
    e.send("/who\nbye all\n")
    e.s.shutdown(socket.SHUT_WR)
    e.expect("* online (2): alice, carol")
    e.expect_eof()
    a.expect("carol: bye all")
    a.expect("* carol left")
    a.send("/quit\n")
    a.expect("* bye")
    a.expect_eof()
    print("ok: joins, nicks, messages, commands, long lines, leaving")


def slow_reader():
    obs = [Client("obs1"), Client("obs2")]
    obs[0].join("obs1")
    obs[1].join("obs2")
    obs[0].expect("* obs2 joined")
    slow = Client("slow", rcvbuf=4096)
    slow.join("slow")
    for o in obs:
        o.expect("* slow joined")
    flood = Client("flood")
    flood.join("flood")
    for o in obs:
        o.expect("* flood joined")

    # The flooder sends in batches; the observers must get every line of a
    # batch, in order, before the next: they keep up, the slow one never
    # reads.  The slow one must be dropped within the byte and time bounds.
    payload = "f" * 90  # "<n> " + this stays within --max-line 100
    batch = 50
    # Owed at most --max-output (32 KiB) in the server, 32 KiB in its socket
    # buffer, a few KiB in slow's: 256 KiB of flood must be more than enough.
    max_messages = 256 * 1024 // (len("flood: 99999 \n") + len(payload))
    start = time.monotonic()
    sent = 0
    dropped = [False, False]
    while not all(dropped):
        if sent >= max_messages:
            raise Fail(f"slow reader not dropped after {sent} messages")
        if time.monotonic() - start > 30 * SCALE:
            raise Fail(f"slow reader not dropped after {time.monotonic() - start:.1f} s ({sent} messages)")
        lines = [f"{sent + i} {payload}" for i in range(batch)]
        flood.send("".join(l + "\n" for l in lines))
        for k, o in enumerate(obs):
            for l in lines:
                got = o.line()
                if got == b"* slow dropped (too slow)":
                    if dropped[k]:
                        raise Fail(f"{o.name}: the drop notice twice")
                    dropped[k] = True
                    got = o.line()
                if got != ("flood: " + l).encode():
                    raise Fail(f"{o.name}: expected message {l[:12]!r}..., got {got[:60]!r}")
        sent += batch
        # The flooder's own inbox only gets the drop notice; keep it empty.
        while select.select([flood.s], [], [], 0)[0] and flood.fill(time.monotonic() + 1) and not flood.eof:
            pass
    took = time.monotonic() - start
    if b"* slow dropped (too slow)\n" not in flood.buf:
        flood.expect("* slow dropped (too slow)")
    # The dropped client sees the end of its stream (a reset), within bounds.
    deadline = time.monotonic() + WAIT
    while not slow.eof:
        if not slow.fill(deadline):
            raise Fail("slow: connection still open after the drop")
    flood.buf = b""
    # The room goes on without it.
    flood.send("still here\n")
    for o in obs:
        o.expect("flood: still here")
        o.send("/who\n")
        o.expect("* online (3): obs1, obs2, flood")
    for cl in obs + [flood]:
        cl.close()
    print(f"ok: slow reader dropped after {sent} messages of {len(payload) + 8} bytes, {took:.2f} s;"
          f" the others received all of them")


def nick_timeout(ms):
    want = f"* error: no nickname within {ms} ms, closing"
    j = Client("joined")
    j.join("j")
    start = time.monotonic()  # before the others connect: their clocks start later
    silent = Client("silent")  # never sends a byte
    partial = Client("partial")  # an unterminated line is no nickname
    silent.expect("* nickname?")
    partial.expect("* nickname?")
    partial.send("ali")
    for c in (silent, partial):
        c.expect(want)
        c.expect_eof()
    took = time.monotonic() - start
    if took < ms / 1000:
        raise Fail(f"closed after {took * 1000:.0f} ms, before the {ms} ms timeout")
    # j connected before the others, so its own deadline has passed too.
    j.send("/who\n")
    j.expect("* online (1): j")

    # Failed attempts do not restart the clock: a client that answers every
    # "* nickname?" at once with an invalid nickname (a round trip takes far
    # less than the timeout) is still closed.
    b = Client("invalid")
    deadline = time.monotonic() + WAIT + ms / 1000
    attempts = 0
    b.expect("* nickname?")
    while True:
        if time.monotonic() > deadline:
            raise Fail(f"invalid: still open after {attempts} attempts")
        b.send("no way\n")
        attempts += 1
        got = b.line()
        if got == want.encode():
            break
        if got != b"* error: a nickname is 1 to 32 characters of A-Z a-z 0-9 _ -":
            raise Fail(f"invalid: got {got[:200]!r}")
        got = b.line()
        if got == want.encode():
            break
        if got != b"* nickname?":
            raise Fail(f"invalid: expected '* nickname?', got {got[:200]!r}")
    # Attempts sent before the error line was written may still be unread:
    # the close may then be a reset, which is the end of the stream too.
    deadline = time.monotonic() + WAIT
    while not b.eof:
        if not b.fill(deadline):
            raise Fail("invalid: the server did not close the connection")
    j.send("/who\n")
    j.expect("* online (1): j")
    j.close()
    print(f"ok: nickname timeout of {ms} ms: silent, partial and invalid ({attempts} attempts) clients closed"
          f" after {took * 1000:.0f} ms; the joined one stays")


def big_room(n, rounds):
    cl = []
    for i in range(n):
        c = Client(f"u{i:03d}")
        c.expect("* nickname?")
        c.send(f"u{i:03d}\n")
        c.expect_prefix(f"* welcome u{i:03d} ({i + 1} online")
        cl.append(c)
    for i, c in enumerate(cl):
        for j in range(i + 1, n):
            c.expect(f"* u{j:03d} joined")
    for r in range(rounds):
        for i, c in enumerate(cl):
            c.send(f"round {r} from u{i:03d}\n")
    # Every client gets every other client's messages: per sender in order,
    # none of its own, nothing else.
    deadline = time.monotonic() + 30 * SCALE
    want = (n - 1) * rounds
    got = {c.name: [] for c in cl}
    pending = {c.s: c for c in cl}
    while pending:
        left = deadline - time.monotonic()
        if left <= 0:
            short = sorted((c.name, len(got[c.name])) for c in pending.values())[:5]
            raise Fail(f"big room: clients still short of {want} messages: {short}")
        r, _, _ = select.select(list(pending), [], [], left)
        for s in r:
            c = pending[s]
            c.fill(time.monotonic() + 1)
            while b"\n" in c.buf:
                l, _, c.buf = c.buf.partition(b"\n")
                got[c.name].append(l.decode())
            if c.eof:
                raise Fail(f"{c.name}: closed by the server")
            if len(got[c.name]) >= want:
                del pending[s]
    for i, c in enumerate(cl):
        lines = got[c.name]
        if len(lines) != want:
            raise Fail(f"{c.name}: {len(lines)} lines, want {want}: {lines[want:want + 3]}")
        per = {}
        for l in lines:
            sender, _, text = l.partition(": ")
            per.setdefault(sender, []).append(text)
        expected = {f"u{j:03d}": [f"round {r} from u{j:03d}" for r in range(rounds)] for j in range(n) if j != i}
        if per != expected:
            bad = [k for k in set(per) | set(expected) if per.get(k) != expected.get(k)][:3]
            raise Fail(f"{c.name}: wrong messages from {bad}: {[per.get(k) for k in bad]}")
    cl[0].send("/who\n")
    who = cl[0].line().decode()
    if not who.startswith(f"* online ({n}): u000, u001,"):
        raise Fail(f"u000: /who said {who[:80]!r}")
    for c in cl:
        c.close()
    print(f"ok: {n} clients, {rounds} round(s): each got all {want} messages of the others")


try:
    if MODE == "functional":
        functional()
    elif MODE == "slow":
        slow_reader()
    elif MODE == "room":
        big_room(int(sys.argv[4]), int(sys.argv[5]))
    elif MODE == "nick_timeout":
        nick_timeout(int(sys.argv[4]))
    elif MODE == "smoke":
        x, y = Client("x"), Client("y")
        x.join("x")
        y.join("y")
        x.expect("* y joined")
        y.send("over threads\n")
        x.expect("y: over threads")
        print("ok: smoke")
    else:
        raise Fail(f"unknown mode {MODE}")
except (Fail, OSError) as e:
    print(f"FAIL: {e}")
    sys.exit(1)
PY

start_server --port 0 --max-line 100 --max-output 32768
run_clients "$port" functional
run_clients "$port" slow
run_clients "$port" room "$clients" "$rounds"
stop_server

# --threads 2 asks for the multi-thread runtime (the current-thread one
# today): the same room must work there.
start_server --port 0 --threads 2
run_clients "$port" smoke
stop_server

# A short --nick-timeout-ms: the clients that never choose a nickname are
# closed after it (the default is 30 s).
nick_ms=$((300 * scale))
start_server --port 0 --nick-timeout-ms "$nick_ms"
run_clients "$port" nick_timeout "$nick_ms"
stop_server
echo "ok: chat_server"
