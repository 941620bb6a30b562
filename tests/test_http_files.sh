#!/usr/bin/env bash
# http_server --root: files byte for byte with their Content-Type and
# Content-Length (a multi-MiB binary compared by checksum, several at once),
# HEAD, directories (index.html or 404), and path traversal refused in
# every spelling, symlinks out of the root included.
# eddy-test-timeout: 90
# eddy-test-labels: net http backends
set -euo pipefail
. "$EDDY_SOURCE_DIR/tests/http_lib.sh"
http_init curl python3 sha256sum

ROOT="$TMP/root"
mkdir -p "$ROOT/sub" "$ROOT/empty" "$ROOT/with space"
printf '<!doctype html><title>eddy</title>\n' >"$ROOT/index.html"
printf '<p>sub</p>\n' >"$ROOT/sub/index.html"
printf 'body { color: red }\n' >"$ROOT/style.css"
printf 'console.log(1);\n' >"$ROOT/app.js"
printf '{"a": 1}\n' >"$ROOT/data.json"
printf 'plain text\n' >"$ROOT/notes.txt"
printf '\x89PNG\r\n\x1a\n' >"$ROOT/img.png"
printf '\xff\xd8\xff' >"$ROOT/photo.JPG"
printf 'GIF89a' >"$ROOT/anim.gif"
printf '<svg/>' >"$ROOT/logo.svg"
printf '\0\0\1\0' >"$ROOT/favicon.ico"
printf '\0asm\1\0\0\0' >"$ROOT/mod.wasm"
printf '%%PDF-1.4\n' >"$ROOT/doc.pdf"
printf 'no extension' >"$ROOT/README"
printf 'spaced' >"$ROOT/with space/f.txt"
: >"$ROOT/zero.txt"
# A multi-MiB binary file with an odd size (not a multiple of any chunk).
head -c $((3 * 1024 * 1024 + 12345)) /dev/urandom >"$ROOT/big.bin"
# Outside the root: must never be served.
printf 'TOP SECRET\n' >"$TMP/secret.txt"
ln -s "$TMP/secret.txt" "$ROOT/link-out"
ln -s "$TMP" "$ROOT/dir-out"
ln -s style.css "$ROOT/link-in"

start_server files --root "$ROOT"
URL="http://127.0.0.1:$PORT"

check() { # PATH CONTENT-TYPE [FILE]
    local path=$1 ctype=$2 file=${3:-$ROOT/$1} got
    got=$(hcurl -o "$TMP/got" -w '%{http_code}|%{content_type}|%{size_download}' "$URL/$path")
    [ "$got" = "200|$ctype|$(stat -c %s "$file")" ] || fail "/$path: $got"
    cmp -s "$TMP/got" "$file" || fail "/$path: body differs"
}
check index.html 'text/html; charset=utf-8'
check style.css 'text/css; charset=utf-8'
check app.js 'text/javascript; charset=utf-8'
check data.json application/json
check notes.txt 'text/plain; charset=utf-8'
check img.png image/png
check photo.JPG image/jpeg
check anim.gif image/gif
check logo.svg image/svg+xml
check favicon.ico image/x-icon
check mod.wasm application/wasm
check doc.pdf application/pdf
check README application/octet-stream
check zero.txt 'text/plain; charset=utf-8'
check 'with%20space/f.txt' 'text/plain; charset=utf-8' "$ROOT/with space/f.txt"
check link-in 'application/octet-stream' "$ROOT/style.css"
check 'sub/' 'text/html; charset=utf-8' "$ROOT/sub/index.html"
check 'sub' 'text/html; charset=utf-8' "$ROOT/sub/index.html"
check 'sub/./index.html' 'text/html; charset=utf-8' "$ROOT/sub/index.html"
check '%73%75%62/index.html' 'text/html; charset=utf-8' "$ROOT/sub/index.html"
# GET / stays the plaintext answer even with a root.
[ "$(hcurl "$URL/")" = "Hello, World!" ] || fail "GET / with --root"

# The big file, alone and four at once over separate connections.
want=$(sha256sum <"$ROOT/big.bin" | cut -d' ' -f1)
got=$(hcurl "$URL/big.bin" | sha256sum | cut -d' ' -f1)
[ "$got" = "$want" ] || fail "big.bin checksum"
pids=()
for i in 1 2 3 4; do
    hcurl -o "$TMP/big.$i" "$URL/big.bin" &
    pids+=($!)
done
for p in "${pids[@]}"; do wait "$p" || fail "parallel download failed"; done
for i in 1 2 3 4; do
    [ "$(sha256sum <"$TMP/big.$i" | cut -d' ' -f1)" = "$want" ] || fail "parallel big.bin $i checksum"
done
# Files on a kept-alive connection, interleaved with GET /.
out=$(hcurl -w '|%{num_connects}\n' -o "$TMP/k1" "$URL/big.bin" -o "$TMP/k2" "$URL/" -o "$TMP/k3" "$URL/style.css")
[ "$out" = $'|1\n|0\n|0' ] || fail "keep-alive with files: $out"
cmp -s "$TMP/k1" "$ROOT/big.bin" && cmp -s "$TMP/k3" "$ROOT/style.css" || fail "keep-alive file bodies"
[ "$(cat "$TMP/k2")" = "Hello, World!" ] || fail "keep-alive GET / between files"

# HEAD on a file: its length, no body.
hcurl -I "$URL/big.bin" | tr -d '\r' >"$TMP/hb"
grep -qx "Content-Length: $(stat -c %s "$ROOT/big.bin")" "$TMP/hb" || fail "HEAD big.bin length"
grep -qx 'Content-Type: application/octet-stream' "$TMP/hb" || fail "HEAD big.bin type"

# Missing files and directories without index.html: 404.
for p in missing.html empty/ empty sub/missing nosuchdir/x; do
    code=$(hcurl -o /dev/null -w '%{http_code}' "$URL/$p")
    [ "$code" = 404 ] || fail "/$p: $code"
done

# Traversal, raw (curl would normalise the path): nothing outside the root.
python3 - "$PORT" <<'PY'
import socket, sys
port = int(sys.argv[1])
bad = [b"/../secret.txt", b"/../../../../etc/passwd", b"/%2e%2e/secret.txt", b"/%2E%2E/secret.txt",
       b"/sub/../../secret.txt", b"/..%2fsecret.txt", b"/%2e%2e%2fsecret.txt", b"/.%2e/secret.txt",
       b"/link-out", b"/dir-out/secret.txt", b"/sub/%00", b"/index.html%00.txt", b"/%zz", b"/%2",
       b"//etc/passwd", b"/" + b"a/" * 3000, b"/etc/passwd"]
s = socket.create_connection(("127.0.0.1", port), timeout=20)
for path in bad:
    s.sendall(b"GET " + path + b" HTTP/1.1\r\nHost: a\r\n\r\n")
    head = b""
    while b"\r\n\r\n" not in head:
        b = s.recv(4096)
        if not b:
            print("closed after %r" % path); sys.exit(1)
        head += b
    status = head.split(b"\r\n")[0]
    rest = head.split(b"\r\n\r\n", 1)[1]
    clen = int([l for l in head.split(b"\r\n") if l.lower().startswith(b"content-length:")][0].split(b":")[1])
    while len(rest) < clen:
        rest += s.recv(4096)
    if status not in (b"HTTP/1.1 404 Not Found", b"HTTP/1.1 400 Bad Request") or b"SECRET" in rest or b"root:" in rest:
        print("traversal %r answered %r %r" % (path[:60], status, rest[:40])); sys.exit(1)
# The absolute form is served like the origin form, traversal refused
# the same way; a target that is neither gets a 400.
for target, want, body in [(b"http://127.0.0.1/../secret.txt", b"404", None),
                           (b"HTTP://a.example:80/style.css", b"200", b"body { color: red }\n"),
                           (b"http://127.0.0.1", b"200", b"Hello, World!"),
                           (b"https://h?x=1", b"200", b"Hello, World!"),
                           (b"*", b"400", None), (b"secret.txt", b"400", None)]:
    c = socket.create_connection(("127.0.0.1", port), timeout=20)
    c.sendall(b"GET " + target + b" HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
    out = b""
    while True:
        b = c.recv(4096)
        if not b: break
        out += b
    if not out.startswith(b"HTTP/1.1 " + want + b" ") or b"SECRET" in out or \
            (body is not None and out.split(b"\r\n\r\n", 1)[1] != body):
        print("target %r: %r" % (target, out[:200])); sys.exit(1)
print("ok: traversal refused")
PY

[ "$(hcurl "$URL/style.css")" = "body { color: red }" ] || fail "server stopped serving files"
stop_server "$PID"
echo "ok: http files"
