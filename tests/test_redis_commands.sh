#!/usr/bin/env bash
# redis_server answers every supported command exactly as Redis 7.0 does:
# the same script runs against the example (current-thread and --threads 2)
# and, when Debian's redis-server is installed, against it too; both are
# compared with the expected text below (recorded from redis-server 7.0).
# Also checks what redis-cli prints and inline (telnet-style) commands.
# eddy-test-timeout: 60
# eddy-test-labels: redis backends
set -euo pipefail
source "$EDDY_SOURCE_DIR/tests/redis_lib.sh"
need python3
need redis-cli

cat >"$REDIS_TMP/cmds.txt" <<'CMDS'
flushall
ping
ping hello
ping a b
echo
echo "hi there"
get
get missing
set k v
get k
set k v2 nx
set k v3 xx
get k
set nk v xx
set k v ex 100
ttl k
set k v px 100000
ttl k
set k v ex 0
set k v ex -1
set k v ex abc
set k v ex 10 px 100
set k v nx xx
set k v ex
set k v keepttl ex 10
set k v get
set k2 v get
set k v foo
set k v ex 9223372036854775807
set k v px 9223372036854775807
set k v exat 1
set k v nx get
set k v xx get
set k v ex 10 ex 20
ttl k
set k v keepttl
ttl k
set k
del
del k k2 nope k
exists
exists k k
set a 1
exists a a a nope
incr a
decr a
incrby a 10
incrby a abc
incrby a 9223372036854775807
decrby a 9223372036854775807
decrby a 9223372036854775807
set big 9223372036854775807
incr big
set m -9223372036854775808
decr m
set s hello
incr s
incr newcounter
incr
incrby a
set sp " 1"
incr sp
set z 01
incr z
mset
mset a
mset a 1 b
mset a 1 b 2
mget a b c
mget
expire
expire a
expire a abc
expire a 100
ttl a
expire nope 100
expire a 100 nx
expire a 200 xx
expire a 50 gt
expire a 500 gt
expire a 50 lt
expire a 100 nx xx
expire a 100 gt lt
expire a 100 foo
expire a 9223372036854775807
expire b -1
exists b
ttl b
ttl nope
ttl
dbsize
dbsize x
flushall
flushall async
flushall foo
flushall sync x
dbsize
foo
foo a b
FOO "a b" c
publish ch msg
publish
subscribe
unsubscribe
unsubscribe foo bar
config get save
config get appendonly
config get nothing
config get
config
config foo
select 0
select x
config get save save
set bin "a\x00b\r\nc"
get bin
set "" empty
get ""
exists ""
pttl nope
decrby a 1
decrby a x
set n 10
incrby n -20
get n
flushall
set k v
set k v exat 1 get
set k2 v pxat 100
exists k k2
quit
CMDS

cat >"$REDIS_TMP/expected.txt" <<'EXPECTED'
> flushall
+OK
> ping
+PONG
> ping hello
$'hello'
> ping a b
-ERR wrong number of arguments for 'ping' command
> echo
-ERR wrong number of arguments for 'echo' command
> echo "hi there"
$'hi there'
> get
-ERR wrong number of arguments for 'get' command
> get missing
$-1
> set k v
+OK
> get k
$'v'
> set k v2 nx
$-1
> set k v3 xx
+OK
> get k
$'v3'
> set nk v xx
$-1
> set k v ex 100
+OK
> ttl k
:100
> set k v px 100000
+OK
> ttl k
:100
> set k v ex 0
-ERR invalid expire time in 'set' command
> set k v ex -1
-ERR invalid expire time in 'set' command
> set k v ex abc
-ERR value is not an integer or out of range
> set k v ex 10 px 100
-ERR syntax error
> set k v nx xx
-ERR syntax error
> set k v ex
-ERR syntax error
> set k v keepttl ex 10
-ERR syntax error
> set k v get
$'v'
> set k2 v get
$-1
> set k v foo
-ERR syntax error
> set k v ex 9223372036854775807
-ERR invalid expire time in 'set' command
> set k v px 9223372036854775807
-ERR invalid expire time in 'set' command
> set k v exat 1
+OK
> set k v nx get
$-1
> set k v xx get
$'v'
> set k v ex 10 ex 20
+OK
> ttl k
:20
> set k v keepttl
+OK
> ttl k
:20
> set k
-ERR wrong number of arguments for 'set' command
> del
-ERR wrong number of arguments for 'del' command
> del k k2 nope k
:2
> exists
-ERR wrong number of arguments for 'exists' command
> exists k k
:0
> set a 1
+OK
> exists a a a nope
:3
> incr a
:2
> decr a
:1
> incrby a 10
:11
> incrby a abc
-ERR value is not an integer or out of range
> incrby a 9223372036854775807
-ERR increment or decrement would overflow
> decrby a 9223372036854775807
:-9223372036854775796
> decrby a 9223372036854775807
-ERR increment or decrement would overflow
> set big 9223372036854775807
+OK
> incr big
-ERR increment or decrement would overflow
> set m -9223372036854775808
+OK
> decr m
-ERR increment or decrement would overflow
> set s hello
+OK
> incr s
-ERR value is not an integer or out of range
> incr newcounter
:1
> incr
-ERR wrong number of arguments for 'incr' command
> incrby a
-ERR wrong number of arguments for 'incrby' command
> set sp " 1"
+OK
> incr sp
-ERR value is not an integer or out of range
> set z 01
+OK
> incr z
-ERR value is not an integer or out of range
> mset
-ERR wrong number of arguments for 'mset' command
> mset a
-ERR wrong number of arguments for 'mset' command
> mset a 1 b
-ERR wrong number of arguments for 'mset' command
> mset a 1 b 2
+OK
> mget a b c
*3
  $'1'
  $'2'
  $-1
> mget
-ERR wrong number of arguments for 'mget' command
> expire
-ERR wrong number of arguments for 'expire' command
> expire a
-ERR wrong number of arguments for 'expire' command
> expire a abc
-ERR value is not an integer or out of range
> expire a 100
:1
> ttl a
:100
> expire nope 100
:0
> expire a 100 nx
:0
> expire a 200 xx
:1
> expire a 50 gt
:0
> expire a 500 gt
:1
> expire a 50 lt
:1
> expire a 100 nx xx
-ERR NX and XX, GT or LT options at the same time are not compatible
> expire a 100 gt lt
-ERR GT and LT options at the same time are not compatible
> expire a 100 foo
-ERR Unsupported option foo
> expire a 9223372036854775807
-ERR invalid expire time in 'expire' command
> expire b -1
:1
> exists b
:0
> ttl b
:-2
> ttl nope
:-2
> ttl
-ERR wrong number of arguments for 'ttl' command
> dbsize
:7
> dbsize x
-ERR wrong number of arguments for 'dbsize' command
> flushall
+OK
> flushall async
+OK
> flushall foo
-ERR syntax error
> flushall sync x
-ERR syntax error
> dbsize
:0
> foo
-ERR unknown command 'foo', with args beginning with: 
> foo a b
-ERR unknown command 'foo', with args beginning with: 'a' 'b' 
> FOO "a b" c
-ERR unknown command 'FOO', with args beginning with: 'a b' 'c' 
> publish ch msg
:0
> publish
-ERR wrong number of arguments for 'publish' command
> subscribe
-ERR wrong number of arguments for 'subscribe' command
> unsubscribe
*3
  $'unsubscribe'
  $-1
  :0
> unsubscribe foo bar
*3
  $'unsubscribe'
  $'foo'
  :0
*3
  $'unsubscribe'
  $'bar'
  :0
> config get save
*2
  $'save'
  $''
> config get appendonly
*2
  $'appendonly'
  $'no'
> config get nothing
*0
> config get
-ERR wrong number of arguments for 'config|get' command
> config
-ERR wrong number of arguments for 'config' command
> config foo
-ERR unknown subcommand 'foo'. Try CONFIG HELP.
> select 0
+OK
> select x
-ERR value is not an integer or out of range
> config get save save
*2
  $'save'
  $''
> set bin "a\x00b\r\nc"
+OK
> get bin
$'a\\x00b\\r\\nc'
> set "" empty
+OK
> get ""
$'empty'
> exists ""
:1
> pttl nope
:-2
> decrby a 1
:-1
> decrby a x
-ERR value is not an integer or out of range
> set n 10
+OK
> incrby n -20
:-10
> get n
$'-10'
> flushall
+OK
> set k v
+OK
> set k v exat 1 get
$'v'
> set k2 v pxat 100
+OK
> exists k k2
:0
> quit
+OK
EXPECTED

fail=0
check() { # name, file
    if ! diff -u "$REDIS_TMP/expected.txt" "$2" >"$REDIS_TMP/diff.txt"; then
        echo "FAIL: $1 differs from the expected replies:"; head -60 "$REDIS_TMP/diff.txt"; fail=1
    else
        echo "ok: $1"
    fi
}

if start_real_redis; then
    resp "$REAL_PORT" <"$REDIS_TMP/cmds.txt" >"$REDIS_TMP/real.txt"
    check "redis-server $(redis-server --version | sed -n 's/.*v=\([0-9.]*\).*/\1/p')" "$REDIS_TMP/real.txt"
    kill "$REAL_PID"; wait "$REAL_PID" 2>/dev/null || true; REAL_PID=
else
    echo "note: redis-server not installed, comparing with the recorded replies only"
fi

for flavour in "" "--threads 2"; do
    # shellcheck disable=SC2086
    start_eddy_redis $flavour
    resp "$EDDY_PORT" <"$REDIS_TMP/cmds.txt" >"$REDIS_TMP/eddy.txt"
    check "redis_server $flavour" "$REDIS_TMP/eddy.txt"

    # What redis-cli prints (not a tty: raw replies, one per line).
    cli() { timeout 10 redis-cli -p "$EDDY_PORT" "$@" 2>&1; }
    got=$(
        cli flushall; cli set greeting "hello world"; cli get greeting; cli get nope; cli exists greeting nope
        cli incr hits; cli incrby hits 41; cli mset a 1 b 2; cli mget a b c; cli del a b c; cli dbsize
        cli expire greeting 100; cli ttl greeting; cli ttl hits; cli ping; cli echo hi; cli publish ch m
        cli foo bar; cli set k v ex -5; cli incr greeting
    )
    want=$'OK\nOK\nhello world\n\n1\n1\n42\nOK\n1\n2\n\n2\n2\n1\n100\n-1\nPONG\nhi\n0'
    want+=$'\nERR unknown command \'foo\', with args beginning with: \'bar\' '
    want+=$'\n\nERR invalid expire time in \'set\' command\n\nERR value is not an integer or out of range'
    if [ "$got" != "$want" ]; then
        echo "FAIL: redis-cli output:"; diff <(echo "$want") <(echo "$got") || true; fail=1
    else
        echo "ok: redis-cli $flavour"
    fi

    # Inline commands, with redis-cli's quoting.
    resp "$EDDY_PORT" --inline >"$REDIS_TMP/inline.txt" <<'INLINE'
PING
set "quoted key" 'it''s'
INLINE
    cat >"$REDIS_TMP/inline_want.txt" <<'WANT'
> PING
+PONG
> set "quoted key" 'it''s'
-ERR Protocol error: unbalanced quotes in request
WANT
    if ! diff -u "$REDIS_TMP/inline_want.txt" "$REDIS_TMP/inline.txt"; then
        echo "FAIL: inline commands"; fail=1
    fi
    resp "$EDDY_PORT" --inline >"$REDIS_TMP/inline.txt" <<'INLINE'
set "quoted key" "a\x41\n"
get "quoted key"
echo   spaced    out
set k "unbalanced
INLINE
    cat >"$REDIS_TMP/inline_want.txt" <<'WANT'
> set "quoted key" "a\x41\n"
+OK
> get "quoted key"
$'aA\n'
> echo   spaced    out
-ERR wrong number of arguments for 'echo' command
> set k "unbalanced
-ERR Protocol error: unbalanced quotes in request
WANT
    if ! diff -u "$REDIS_TMP/inline_want.txt" "$REDIS_TMP/inline.txt"; then
        echo "FAIL: inline commands"; fail=1
    else
        echo "ok: inline $flavour"
    fi
    stop_eddy_redis || fail=1
done
exit $fail
