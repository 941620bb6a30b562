#!/usr/bin/env bash
# scripts/deps.sh [GROUP...] - make sure the build dependencies are installed.
#
#   scripts/deps.sh              base tools: cmake, make, pkg-config, $CC
#   scripts/deps.sh test         base + what the tests need
#   scripts/deps.sh bench        base + what the benchmarks need
#   scripts/deps.sh models       base + the model checker
#
# Environment: CC (default gcc) picks the compiler package; SANITIZE
# (e.g. address,undefined) with clang adds clang's sanitizer runtime.
#
# When everything is present this is a fast no-op.  Otherwise, as root it
# runs `apt-get update` once and `apt-get install`; as another user it
# prints the sudo command to run and exits 1.  Debian 12 (bookworm).
set -euo pipefail

# ---------------------------------------------------------------------------
# The package lists: the one place to edit.  Debian package names.
DEPS_BASE=(cmake make pkg-config libc6-dev)
# test: the real clients the example servers are checked with
# (tests/test_*.sh): curl and wrk for http_server, redis-cli (redis-tools)
# and redis-server (the reference replies) for redis_server, python3 for
# scripted clients.
DEPS_TEST=(curl wrk redis-tools redis-server python3)
# bench: the peers of bench/peers/ (Tokio from Debian's packaged crates,
# built offline with cargo; Go; libuv), perf for syscall counts is optional,
# gnuplot-nox draws bench/plot.sh's PNGs, util-linux has taskset.
# nginx-light (1 worker) and redis-server are the HTTP and redis peers.
# perl reads a process's CPU-time clock for bench/lib.sh's cpu_ns (threads
# that exited included, which a thread-per-connection server needs).
DEPS_BENCH=(wrk libuv1-dev golang-go cargo librust-tokio-dev gnuplot-nox util-linux nginx-light redis-server redis-tools perl)
DEPS_MODELS=(spin)
# clang's sanitizer runtime, for CC=clang with SANITIZE set (gcc's come with gcc).
DEPS_CLANG_SANITIZE=(libclang-rt-@CLANG_MAJOR@-dev)
CLANG_DEFAULT_MAJOR=14                        # Debian 12's clang

# Packages that provide a command: present when the command is on PATH
# (so a tool installed some other way counts).  Others are asked of dpkg.
declare -A PKG_COMMAND=(
    [cmake]=cmake [make]=make [pkg-config]=pkg-config [pkgconf]=pkg-config
    [gcc]=gcc [clang]=clang [wrk]=wrk [golang-go]=go [spin]=spin
    [cargo]=cargo [gnuplot-nox]=gnuplot [util-linux]=taskset
    [curl]=curl [redis-tools]=redis-cli [redis-server]=redis-server [python3]=python3
    [nginx-light]=nginx [perl]=perl
)
# ---------------------------------------------------------------------------

die() { echo "deps.sh: $*" >&2; exit 1; }

want=("${DEPS_BASE[@]}")
for group in "$@"; do
    case "$group" in
        base) ;;
        test) want+=("${DEPS_TEST[@]}") ;;
        bench) want+=("${DEPS_BENCH[@]}") ;;
        models) want+=("${DEPS_MODELS[@]}") ;;
        *) die "unknown group '$group' (base, test, bench, models)" ;;
    esac
done

# The compiler named by $CC (first word, so "ccache gcc" is not supported).
cc=${CC:-gcc}
cc=${cc%% *}
cc_name=${cc##*/}
case "$cc_name" in
    cc|gcc) cc_pkg=gcc ;;
    gcc-[0-9]*) cc_pkg=$cc_name; PKG_COMMAND[$cc_name]=$cc_name ;;
    clang) cc_pkg=clang ;;
    clang-[0-9]*) cc_pkg=$cc_name; PKG_COMMAND[$cc_name]=$cc_name ;;
    *) command -v "$cc" >/dev/null 2>&1 || die "compiler '$cc' not found and no package known for it"
       cc_pkg= ;;
esac
[ -n "$cc_pkg" ] && want+=("$cc_pkg")

if [ -n "${SANITIZE:-}" ] && [[ "$cc_name" == clang* ]]; then
    major=
    if [[ "$cc_name" == clang-[0-9]* ]]; then
        major=${cc_name#clang-}
    elif command -v "$cc" >/dev/null 2>&1; then
        major=$("$cc" -dumpversion 2>/dev/null || true)
        major=${major%%.*}
    fi
    major=${major:-$CLANG_DEFAULT_MAJOR}
    for p in "${DEPS_CLANG_SANITIZE[@]}"; do
        want+=("${p//@CLANG_MAJOR@/$major}")
    done
fi

# What is missing?  Commands first (no process), then one dpkg-query call.
missing=()
ask_dpkg=()
for p in "${want[@]}"; do
    c=${PKG_COMMAND[$p]:-}
    if [ -n "$c" ]; then
        command -v "$c" >/dev/null 2>&1 || missing+=("$p")
    else
        ask_dpkg+=("$p")
    fi
done
if [ ${#ask_dpkg[@]} -gt 0 ]; then
    if command -v dpkg-query >/dev/null 2>&1; then
        installed=$(dpkg-query -W -f='${Package} ${db:Status-Abbrev}\n' "${ask_dpkg[@]}" 2>/dev/null || true)
        for p in "${ask_dpkg[@]}"; do
            grep -qE "^${p//+/\\+}(:[a-z0-9]+)? ii" <<<"$installed" || missing+=("$p")
        done
    else
        echo "deps.sh: no dpkg here; not checking: ${ask_dpkg[*]}" >&2
    fi
fi

[ ${#missing[@]} -eq 0 ] && exit 0

# Dedupe, keep order.
declare -A seen=()
pkgs=()
for p in "${missing[@]}"; do
    [ -n "${seen[$p]:-}" ] && continue
    seen[$p]=1
    pkgs+=("$p")
done

if [ "$(id -u)" -ne 0 ]; then
    echo "deps.sh: missing packages: ${pkgs[*]}" >&2
    echo "deps.sh: install them with:" >&2
    echo "    sudo apt-get install -y --no-install-recommends ${pkgs[*]}" >&2
    exit 1
fi

command -v apt-get >/dev/null 2>&1 || die "missing ${pkgs[*]} and no apt-get to install them"
echo "deps.sh: installing: ${pkgs[*]}"
export DEBIAN_FRONTEND=noninteractive
apt_opts=(-o DPkg::Lock::Timeout=300 -q)
apt-get "${apt_opts[@]}" update </dev/null
apt-get "${apt_opts[@]}" install -y --no-install-recommends "${pkgs[@]}" </dev/null
