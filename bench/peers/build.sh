#!/usr/bin/env bash
# bench/peers/build.sh - builds the peers eddy is measured against, into
# $EDDY_BUILD_DIR/peers/ (build/release/peers/).  Called by bench/run.sh;
# safe to run again (each peer is rebuilt only when its sources changed).
#
#   tokio   tokio_echo_server, tokio_bench     Rust, Debian's packaged crates
#           (librust-tokio-dev), cargo --offline through .cargo/config.toml
#   go      go_echo_server, go_bench           standard library only, offline
#   libuv   uv_echo_server, uv_timers          C, Debian's libuv1-dev
#   timers  eddy_timers                        eddy's side of the timer bench
#           (no counterpart in bench/ yet), against the Release libeddy.a
#
# Prints one line per peer, "<peer>: built (<versions>)" or
# "<peer>: skipped: <reason>", and writes the same into peers/status (one
# "<peer> built|skipped <text>" line each), which bench/echo.sh and
# bench/run.sh read to know what to run and what to say about the rest,
# and peers/versions ("<name> <version>" lines: tokio, rustc, go, libuv).
# Never touches the network: no registry, no module proxy.  Exit status 0
# even when a peer is skipped (the suite runs the rest).
# Environment: EDDY_BUILD_DIR (build/release), CC (cc), CARGO (cargo: the
# first on PATH, which picks rustc too).
set -uo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/../.." || exit 2
BUILD=${EDDY_BUILD_DIR:-build/release}
OUT=$BUILD/peers
SRC=bench/peers
mkdir -p "$OUT"
OUT_ABS=$(cd "$OUT" && pwd)
STATUS=$OUT/status
: >"$STATUS.new"
: >"$OUT/versions.new"
version() { printf '%s %s\n' "$1" "$2" >>"$OUT/versions.new"; }
CC=${CC:-cc}
CFLAGS_PEER=(-O3 -DNDEBUG -std=c17 -Wall -Wextra)
TIMEOUT=(timeout 900)       # a build that hangs must not hang the suite
command -v timeout >/dev/null 2>&1 || TIMEOUT=()

say() { # peer state text
    if [ "$2" = built ]; then echo "$1: built${3:+ ($3)}"; else echo "$1: skipped: $3"; fi
    printf '%s %s %s\n' "$1" "$2" "$3" >>"$STATUS.new"
}
built() { say "$1" built "$2"; }
declare -A PROGS=([tokio]="tokio_echo_server tokio_bench" [go]="go_echo_server go_bench"
    [libuv]="uv_echo_server uv_timers" [timers]="eddy_timers")
skipped() { # a skipped peer leaves no stale program behind
    local p
    for p in ${PROGS[$1]}; do rm -f "$OUT/$p"; done
    say "$1" skipped "$2"
}

# newer TARGET SOURCES...: true if TARGET is missing or older than a source.
newer() {
    local t=$1 f
    shift
    [ -e "$t" ] || return 0
    for f in "$@"; do
        [ "$f" -nt "$t" ] && return 0
    done
    return 1
}

last_error() { # log: the first error line, for the skip reason
    grep -m1 -E 'error(\[|:)' "$1" 2>/dev/null | cut -c1-160 || true
}

# ---- tokio ----------------------------------------------------------------
build_tokio() {
    local cargo=${CARGO:-cargo}
    local reg=/usr/share/cargo/registry
    if ! command -v "$cargo" >/dev/null 2>&1; then
        skipped tokio "no cargo (install Debian's cargo: apt-get install cargo)"
        return
    fi
    if ! compgen -G "$reg/tokio-1.*" >/dev/null; then
        skipped tokio "Tokio's sources are not in $reg (apt-get install librust-tokio-dev)"
        return
    fi
    # Build in a copy under build/, so that Cargo.lock and target/ never
    # land in the source tree; cp -p keeps mtimes, so cargo sees no change
    # when there is none.
    local work=$OUT/tokio-src
    mkdir -p "$work"
    rm -rf "$work/src" "$work/.cargo"
    cp -pR "$SRC/tokio/Cargo.toml" "$SRC/tokio/src" "$SRC/tokio/.cargo" "$work/"
    local log=$OUT/tokio-build.log
    if ! (cd "$work" && CARGO_HOME="$OUT_ABS/cargo-home" CARGO_TARGET_DIR="$OUT_ABS/tokio-target" \
        "${TIMEOUT[@]}" "$cargo" build --release --offline --quiet) >"$log" 2>&1; then
        skipped tokio "cargo build --offline failed: $(last_error "$log") (log: $log)"
        return
    fi
    cp -p "$OUT/tokio-target/release/tokio_echo_server" "$OUT/tokio-target/release/tokio_bench" "$OUT/"
    local tv rv
    tv=$(awk '/^name = "tokio"$/ { getline; gsub(/"/, "", $3); print $3; exit }' "$work/Cargo.lock" 2>/dev/null)
    rv=$(rustc --version 2>/dev/null | awk '{ print $2 }')
    version tokio "${tv:-?}"
    version rustc "${rv:-?}"
    built tokio "tokio ${tv:-?} from $reg, rustc ${rv:-?}"
}

# ---- go -------------------------------------------------------------------
build_go() {
    if ! command -v go >/dev/null 2>&1; then
        skipped go "no go toolchain (apt-get install golang-go)"
        return
    fi
    local log=$OUT/go-build.log
    mkdir -p "$OUT/go-cache" "$OUT/go-path"
    # Offline: the programs use the standard library only, the module proxy
    # is off and the toolchain may not download a newer one.
    if ! (cd "$SRC/go" && export GOCACHE="$OUT_ABS/go-cache" GOPATH="$OUT_ABS/go-path" GOPROXY=off \
        GOTOOLCHAIN=local GOFLAGS=-mod=mod GO111MODULE=on GOTELEMETRY=off &&
        "${TIMEOUT[@]}" go build -trimpath -o "$OUT_ABS/go_echo_server" ./echo &&
        "${TIMEOUT[@]}" go build -trimpath -o "$OUT_ABS/go_bench" ./bench) >"$log" 2>&1; then
        skipped go "go build failed: $(head -c 160 "$log" | tr '\n' ' ') (log: $log)"
        return
    fi
    local gv
    gv=$(go version | awk '{ print $3 }')
    version go "${gv#go}"
    built go "$gv"
}

# ---- libuv ----------------------------------------------------------------
build_libuv() {
    if ! pkg-config --exists libuv 2>/dev/null; then
        skipped libuv "libuv not found by pkg-config (apt-get install libuv1-dev)"
        return
    fi
    local cflags libs log=$OUT/libuv-build.log
    cflags=$(pkg-config --cflags libuv)
    libs=$(pkg-config --libs libuv)
    : >"$log"
    local prog src
    for prog in uv_echo_server:libuv/uv_echo_server.c uv_timers:timers/uv_timers.c; do
        src=$SRC/${prog#*:}
        prog=${prog%%:*}
        if newer "$OUT/$prog" "$src" "$SRC/timers/common_timers.h"; then
            # shellcheck disable=SC2086
            if ! "$CC" "${CFLAGS_PEER[@]}" $cflags "$src" -o "$OUT/$prog" $libs >>"$log" 2>&1; then
                skipped libuv "$CC failed on $src: $(last_error "$log") (log: $log)"
                return
            fi
        fi
    done
    version libuv "$(pkg-config --modversion libuv)"
    built libuv "libuv $(pkg-config --modversion libuv)"
}

# ---- eddy's timer benchmark -------------------------------------------------
build_timers() {
    local lib=$BUILD/libeddy.a log=$OUT/timers-build.log
    if [ ! -f "$lib" ]; then
        skipped timers "no $lib (make bench builds it)"
        return
    fi
    if newer "$OUT/eddy_timers" "$SRC/timers/eddy_timers.c" "$SRC/timers/common_timers.h" "$lib"; then
        if ! "$CC" "${CFLAGS_PEER[@]}" -Iinclude "$SRC/timers/eddy_timers.c" "$lib" -lpthread \
            -o "$OUT/eddy_timers" >"$log" 2>&1; then
            skipped timers "$CC failed on eddy_timers.c: $(last_error "$log") (log: $log)"
            return
        fi
    fi
    built timers "eddy_timers against $lib"
}

build_tokio
build_go
build_libuv
build_timers
mv "$STATUS.new" "$STATUS"
mv "$OUT/versions.new" "$OUT/versions"
exit 0
