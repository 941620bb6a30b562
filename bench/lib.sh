# shellcheck shell=bash disable=SC2034
# bench/lib.sh - shell helpers shared by bench/echo.sh, bench/conns.sh,
# bench/http.sh and bench/redis.sh (sourced, not run).  The caller has
# `set -euo pipefail` and has cd'd to the top of the repository.
#
# Setup
#   ME                      the script's name ("echo.sh"), for messages
#   is_quick                true when QUICK is set and not 0
#   stamp                   "DATE, N CPUs, KERNEL" for a report's first line
#   pin_setup LOADNAME      PIN_SERVER / PIN_LOAD arrays and pin_note:
#                           server on CPU 0, load generator on CPU 1
#                           (taskset), unless NO_PIN=1 or one CPU; LOADNAME
#                           names the load generator in pin_note
#   run_limit SECONDS       RUN_LIMIT: the timeout(1) prefix that bounds a
#                           run (empty when there is no timeout)
#   echo_servers            BIN, ARGS, PEER_OF, ALL_SERVERS and PEERS for the
#                           echo servers of BUILD (bench/echo.sh, conns.sh)
#   peer_skipped NAME       prints why peer NAME cannot run (its last build
#                           in PEERS/status failed, or its binary is missing)
#                           and returns 0; 1 if it can run or is no peer
#   select_servers NAMES MISSING
#                           SLIST: those of NAMES (one string) that can run;
#                           "NAME: skipped: why" in notes for a peer that
#                           cannot, MISSING NAME (notes it, or exits) for
#                           another whose binary is not there; exits 2 on a
#                           name BIN does not know
#   skip_all REASON         nothing can run: says so, writes "SKIP_WHAT
#                           workload skipped: REASON" to TABLE_OUT when set,
#                           exits 0
#
# Servers (the caller sets BIN and ARGS, keyed by server name)
#   bench_tmp NAME          TMP (a temporary directory), the PID and PORT
#                           arrays, and an EXIT trap that stops every PID
#                           and removes TMP
#   start_server NAME ARG.. starts BIN[NAME] ARGS[NAME] --port 0 ARG...
#                           (pinned; output in TMP/NAME.out, .err), reads its
#                           port from its "listening on ..." line; 1 (and a
#                           message) if it did not start
#   start_at_port NAME WHAT LAUNCH LOG...
#                           for servers that cannot take port 0 (nginx,
#                           redis-server): up to 5 random ports; LAUNCH PORT
#                           must start the server in the background
#   stop_server NAME        stops it (by PID) and forgets it
#   start_all START CHECK WHY
#                           START NAME and CHECK NAME for every server of
#                           SLIST; keeps in SLIST those that pass, adds
#                           "NAME: WHY" to notes for the others
#   has_server NAME         true if NAME is in SLIST
#   startup_line NAME       the runtime line a started eddy server printed
#                           on stderr ("current-thread runtime, io_uring")
#   io_fell_back NAME       true if NAME was started with --io io_uring but
#                           its startup line names another backend (eddy
#                           falls back to epoll where io_uring cannot be set
#                           up: an old kernel, a sysctl, a seccomp filter)
#   pick_base NAME...       BASE: the first NAME in SLIST, else SLIST's first
#   servers_line            "name=binary args(port P) ..." for the report
#
# Runs and results
#   run_plan rounds|workloads
#                           "rep workload server" lines, every run of REPS
#                           rounds x WORKLOADS x SLIST: rounds outermost, or
#                           workloads outermost; each round in order_of's
#                           order
#   measure NAME WHAT CMD...
#                           runs CMD (output in OUT, exit code in RC) and
#                           the server NAME's CPU time over it in CPU_NS;
#                           appends "-- WHAT" and the output to RUN_LOG when
#                           set; 1 with "FAILED: WHAT: the server is gone"
#                           if it is not running
#   per_op NS N             NS / N, rounded; 0 if N is 0
#   cpu_ns PID              CPU time of the process, ns: all its threads,
#                           those that exited too (see below); CPU_HOW says
#                           how it reads it: clock, schedstat or ticks
#   cpu_ticks PID           utime + stime of all the process's threads
#   HZ                      clock ticks per second
#   rss_kib PID             VmRSS of the process, KiB
#   random_port             a TCP port nothing listens on (20000-32767, below
#                           the ephemeral range), for servers that cannot
#                           take port 0 (nginx, redis-server)
#   wait_listening PID PORT waits (at most 10 s) until PID listens on PORT;
#                           0 if it does, 1 if it exited or did not
#   wait_line FILE PID      waits (at most 10 s) for "listening on ..." in
#                           FILE, prints the port
#   order_of REP NAMES...   the interleaved order of round REP: rotated by
#                           REP, reversed every other round
#   median_of FILE W S COL  median of column COL of the lines "W S rep ..."
#   ratio_of FILE W S COL B median over rounds of (S's COL / B's COL in the
#                           same round), "-" if none
#   fmt_ratio R             "(R x)" or "" when R is "-"
#   ratio_spread FILE W S COL B
#                           "N rounds, middle half LO-HI" of those ratios
#   cells W S COL...        " median(ratio to BASE) |" per COL, from RESULTS
#   meets V OP GOAL         "met" if V OP GOAL (OP: >= or <=), else "MISSED"
#   finish_table TABLE OUT  prints TABLE, copies it to OUT when set, exits
#                           with $failed

ME=${0##*/}
RUN_LOG=""   # measure's log, when the caller sets it

is_quick() { [ -n "${QUICK:-}" ] && [ "${QUICK}" != 0 ]; }

stamp() { echo "$(date -u +%Y-%m-%dT%H:%M:%SZ), $(nproc) CPUs, $(uname -sr)"; }

pin_setup() { # name of the load generator
    PIN_SERVER=() PIN_LOAD=()
    local ncpu
    ncpu=$(nproc 2>/dev/null || echo 1)
    if [ -z "${NO_PIN:-}" ] && command -v taskset >/dev/null 2>&1 && [ "$ncpu" -ge 2 ]; then
        PIN_SERVER=(taskset -c 0) PIN_LOAD=(taskset -c 1)
        pin_note="server pinned to CPU 0 (all its threads), $1 to CPU 1 (taskset)"
    else
        pin_note="no pinning (taskset missing, NO_PIN set, or a single CPU)"
    fi
}

run_limit() { # seconds
    RUN_LIMIT=(timeout -k 2 "$1")
    command -v timeout >/dev/null 2>&1 || RUN_LIMIT=()
}

# The echo servers: eddy's example, the hand-written references in bench/,
# and the peers bench/peers/build.sh builds (Tokio, Go, libuv).
echo_servers() {
    PEERS=$BUILD/peers
    declare -gA BIN=(
        [eddy]=$BUILD/examples/echo_server [eddy-uring]=$BUILD/examples/echo_server
        [eddy-mt]=$BUILD/examples/echo_server
        [epoll]=$BUILD/bench/epoll_echo_server [tpc]=$BUILD/bench/tpc_echo_server
        [tokio-ct]=$PEERS/tokio_echo_server [tokio-mt]=$PEERS/tokio_echo_server
        [go]=$PEERS/go_echo_server [libuv]=$PEERS/uv_echo_server
    )
    declare -gA ARGS=(
        [eddy]="" [eddy-uring]="--io io_uring" [eddy-mt]="--threads 2" [epoll]="" [tpc]=""
        [tokio-ct]="--threads 1" [tokio-mt]="--threads 2" [go]="--threads 1" [libuv]=""
    )
    declare -gA PEER_OF=([tokio-ct]=tokio [tokio-mt]=tokio [go]=go [libuv]=libuv)
    ALL_SERVERS="eddy eddy-uring eddy-mt epoll tpc tokio-ct tokio-mt go libuv"
}

# A peer whose last build did not succeed is not run, even if an older
# binary is there: it would be stale.
declare -A PEER_OF=()
peer_skipped() { # name
    local peer=${PEER_OF[$1]:-} why
    [ -n "$peer" ] || return 1
    if [ -f "$PEERS/status" ] &&
        ! awk -v p="$peer" '$1 == p && $2 == "built" { f = 1 } END { exit !f }' "$PEERS/status"; then
        why=$(awk -v p="$peer" '$1 == p { $1 = $2 = ""; sub(/^ +/, ""); print }' "$PEERS/status")
    elif [ -x "${BIN[$1]}" ]; then
        return 1
    fi
    echo "${why:-not built (bench/peers/build.sh builds it)}"
}

select_servers() { # names missing
    local s why
    SLIST=()
    for s in $1; do
        [ -n "${BIN[$s]:-}" ] || { echo "$ME: unknown server '$s' (known: $ALL_SERVERS)" >&2; exit 2; }
        if why=$(peer_skipped "$s"); then
            notes+=("$s: skipped: $why")
        elif [ -x "${BIN[$s]}" ]; then
            SLIST+=("$s")
        else
            "$2" "$s"
        fi
    done
}

skip_all() { # reason: nothing can run; say so (and in the table), exit 0
    echo "$ME: skipped: $1"
    if [ -n "${TABLE_OUT:-}" ]; then echo "$SKIP_WHAT workload skipped: $1" >"$TABLE_OUT"; fi
    exit 0
}

bench_tmp() { # name
    TMP=$(mktemp -d "${TMPDIR:-/tmp}/eddy-$1.XXXXXX")
    declare -gA PID=() PORT=()
    trap bench_cleanup EXIT
}
bench_cleanup() {
    local s
    for s in "${!PID[@]}"; do kill -TERM "${PID[$s]}" 2>/dev/null || true; done
    for s in "${!PID[@]}"; do wait "${PID[$s]}" 2>/dev/null || true; done
    rm -rf "$TMP"
}

stop_server() { # name
    [ -n "${PID[$1]:-}" ] || return 0
    kill -TERM "${PID[$1]}" 2>/dev/null || true
    wait "${PID[$1]}" 2>/dev/null || true
    unset "PID[$1]"
}

start_server() { # name extra-args...
    local s=$1 port
    shift
    # shellcheck disable=SC2086
    "${PIN_SERVER[@]}" "${BIN[$s]}" ${ARGS[$s]} --port 0 "$@" >"$TMP/$s.out" 2>"$TMP/$s.err" &
    PID[$s]=$!
    if ! port=$(wait_line "$TMP/$s.out" "${PID[$s]}") || [ -z "$port" ]; then
        echo "$ME: $s did not start: $(tail -n 3 "$TMP/$s.err")" >&2
        return 1
    fi
    if ! grep -qE '^listening on (127\.|\[::1\]|localhost)' "$TMP/$s.out"; then
        echo "   note: $s $(head -n 1 "$TMP/$s.out") (not a loopback address; the load generator connects to 127.0.0.1)"
    fi
    PORT[$s]=$port
}

start_at_port() { # name what launch logs...
    local s=$1 what=$2 launch=$3 attempt port
    shift 3
    for attempt in 1 2 3 4 5; do
        port=$(random_port) || return 1
        "$launch" "$port"
        PID[$s]=$!
        if wait_listening "${PID[$s]}" "$port"; then
            PORT[$s]=$port
            return 0
        fi
        stop_server "$s"
        echo "   $what did not start on port $port (attempt $attempt): $(tail -n 2 "$@" 2>/dev/null | tr '\n' ' ')" >&2
    done
    return 1
}

start_all() { # start check why
    local s started=()
    for s in "${SLIST[@]}"; do
        if "$1" "$s" && "$2" "$s"; then
            started+=("$s")
        else
            notes+=("$s: $3")
            stop_server "$s"
        fi
    done
    SLIST=("${started[@]}")
}

has_server() { [[ " ${SLIST[*]} " == *" $1 "* ]]; }

startup_line() { # name
    sed -n 's/^[a-z_]*: \([^;]*runtime[^;]*\);.*/\1/p' "$TMP/$1.err" 2>/dev/null | head -n 1
}

io_fell_back() { # name
    [[ " ${ARGS[$1]:-} " == *" --io io_uring "* ]] || return 1
    [[ "$(startup_line "$1")" != *io_uring* ]]
}

pick_base() { # names...
    local b
    BASE=${SLIST[0]}
    for b in "$@"; do
        if has_server "$b"; then BASE=$b; return; fi
    done
}

servers_line() {
    local s
    for s in "${SLIST[@]}"; do
        printf '%s=%s%s(port %s) ' "$s" "${BIN[$s]##*/}" "${ARGS[$s]:+ ${ARGS[$s]} }" "${PORT[$s]}"
    done
}

run_plan() { # rounds|workloads
    local rep wl s
    if [ "$1" = rounds ]; then
        for rep in $(seq "$REPS"); do
            for wl in "${WORKLOADS[@]}"; do
                for s in $(order_of "$rep" "${SLIST[@]}"); do echo "$rep $wl $s"; done
            done
        done
    else
        for wl in "${WORKLOADS[@]}"; do
            for rep in $(seq "$REPS"); do
                for s in $(order_of "$rep" "${SLIST[@]}"); do echo "$rep $wl $s"; done
            done
        done
    fi
}

measure() { # name what cmd...
    local pid=${PID[$1]} what=$2 c0 c1
    shift 2
    if ! kill -0 "$pid" 2>/dev/null; then
        echo "   FAILED: $what: the server is gone: $(tail -n 3 "$TMP/$1.err" 2>/dev/null)" >&2
        return 1
    fi
    c0=$(cpu_ns "$pid")
    RC=0
    OUT=$("$@") || RC=$?
    c1=$(cpu_ns "$pid" 2>/dev/null || echo "$c0")
    CPU_NS=$((c1 - c0))
    if [ -n "${RUN_LOG:-}" ]; then printf -- '-- %s\n%s\n' "$what" "$OUT" >>"$RUN_LOG"; fi
}

per_op() { awk -v d="$1" -v n="$2" 'BEGIN { printf "%.0f", n ? d / n : 0 }'; }

# Fields 14 and 15 of /proc/PID/stat; the command name (field 2, in
# parentheses, may hold spaces) is cut first.
cpu_ticks() { sed 's/^.*) //' "/proc/$1/stat" | awk '{ print $12 + $13 }'; }
HZ=$(getconf CLK_TCK)

# cpu_ns reads the process's CPU-time clock (clock_getcpuclockid(3): its id
# is ((~pid) << 3) | CPUCLOCK_SCHED, which perl's Time::HiRes can read):
# the scheduler's nanosecond count over every thread, those that exited
# included.  Both matter: the 100 Hz ticks of /proc/PID/stat are too coarse
# for 1-2 s runs compared to within 5 %, and the sum of the live threads'
# /proc/PID/task/*/schedstat loses the time of a thread when it exits (all
# of tpc_echo_server's connection threads do, at the end of every run).
# Without perl: that schedstat sum (ns; right for servers whose threads live
# as long as they do, which is all of them but tpc), and without schedstat,
# utime + stime (clock ticks) in ns.
if perl -MTime::HiRes=clock_gettime -e 'use integer; my $c = ((-$$ - 1) << 3) | 2; no integer; exit !(clock_gettime($c) > 0)' 2>/dev/null; then
    CPU_HOW=clock
elif [ -r "/proc/$$/schedstat" ]; then
    CPU_HOW=schedstat
else
    CPU_HOW=ticks
fi
cpu_ns() {
    case $CPU_HOW in
        clock)
            perl -MTime::HiRes=clock_gettime -e 'use integer; my $c = ((-$ARGV[0] - 1) << 3) | 2; no integer;
                my $t = clock_gettime($c); $t >= 0 or exit 1; printf "%.0f\n", $t * 1e9' "$1" ;;
        schedstat)
            cat "/proc/$1"/task/*/schedstat 2>/dev/null | awk '{ s += $1 } END { printf "%.0f\n", s }' ;;
        *)
            awk -v t="$(cpu_ticks "$1")" -v hz="$HZ" 'BEGIN { printf "%.0f\n", t * 1e9 / hz }' ;;
    esac
}

rss_kib() { awk '$1 == "VmRSS:" { print $2; f = 1 } END { if (!f) print 0 }' "/proc/$1/status"; }

port_in_use() { ss -Htan "( sport = :$1 or dport = :$1 )" 2>/dev/null | grep -q .; }

random_port() {
    local i p
    for i in $(seq 50); do
        p=$((20000 + (RANDOM % 12768)))
        port_in_use "$p" || { echo "$p"; return 0; }
    done
    echo "no free port found" >&2
    return 1
}

wait_listening() { # pid port
    local i
    for i in $(seq 200); do
        kill -0 "$1" 2>/dev/null || return 1
        if ss -Htln "( sport = :$2 )" 2>/dev/null | grep -q .; then
            return 0
        fi
        sleep 0.05
    done
    return 1
}

wait_line() { # file pid -> port
    local i
    for i in $(seq 200); do
        if grep -q '^listening on ' "$1" 2>/dev/null; then
            sed -n 's/^listening on .*:\([0-9][0-9]*\)[^0-9]*$/\1/p' "$1" | head -n 1
            return 0
        fi
        kill -0 "$2" 2>/dev/null || return 1
        sleep 0.05
    done
    return 1
}

# Interleaving: in round r the order starts at the r-th server and every
# other round runs backwards, so drift of a noisy machine hits every server
# alike and no server always follows the same neighbour.
order_of() { # rep names...
    local rep=$1 i j t n
    shift
    local names=("$@") order=()
    n=${#names[@]}
    for ((i = 0; i < n; i++)); do order+=("${names[$(((i + rep - 1) % n))]}"); done
    if [ $((rep % 2)) -eq 0 ]; then
        for ((i = 0, j = n - 1; i < j; i++, j--)); do t=${order[i]}; order[i]=${order[j]}; order[j]=$t; done
    fi
    echo "${order[@]}"
}

median_of() { # file workload server column
    awk -v w="$2" -v s="$3" -v c="$4" '$1 == w && $2 == s && $c != "-" { print $c }' "$1" | sort -g |
        awk '{ v[NR] = $1 } END { if (NR == 0) print "-"; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# The median over rounds of (server / base in the same round): each pair ran
# in the same round, so drift of a shared machine mostly cancels out.
ratio_of() { # file workload server column base
    awk -v w="$2" -v s="$3" -v c="$4" -v b="$5" '
        $1 == w && $2 == s && $c != "-" { a[$3] = $c } $1 == w && $2 == b && $c != "-" { r[$3] = $c }
        END { for (k in a) if ((k in r) && r[k] > 0) print a[k] / r[k] }' "$1" | sort -g |
        awk '{ v[NR] = $1 } END { if (NR == 0) print "-"; else printf "%.2f\n", (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# How much the per-round ratios of ratio_of spread: "N rounds, middle half
# LO-HI", or "-".  A goal decided at +-2 % needs this next to the median.
ratio_spread() { # file workload server column base
    awk -v w="$2" -v s="$3" -v c="$4" -v b="$5" '
        $1 == w && $2 == s && $c != "-" { a[$3] = $c } $1 == w && $2 == b && $c != "-" { r[$3] = $c }
        END { for (k in a) if ((k in r) && r[k] > 0) print a[k] / r[k] }' "$1" | sort -g |
        awk '{ v[NR] = $1 } END { if (NR == 0) { print "-"; exit }
             lo = v[int((NR + 3) / 4)]; hi = v[int((3 * NR + 3) / 4)]
             printf "%d rounds, middle half %.2f-%.2f\n", NR, lo, hi }'
}

fmt_ratio() { if [ "$1" = "-" ]; then echo ""; else echo " ($1x)"; fi; }

cells() { # workload server columns...
    local w=$1 s=$2 c
    shift 2
    for c in "$@"; do
        printf ' %s%s |' "$(median_of "$RESULTS" "$w" "$s" "$c")" "$(fmt_ratio "$(ratio_of "$RESULTS" "$w" "$s" "$c" "$BASE")")"
    done
}

meets() { # value op goal
    awk -v v="$1" -v op="$2" -v g="$3" \
        'BEGIN { print (v != "-" && v != "" && (op == ">=" ? v + 0 >= g : v + 0 <= g)) ? "met" : "MISSED" }'
}

finish_table() { # table out
    echo
    cat "$1"
    if [ -n "$2" ]; then cp "$1" "$2"; fi
    exit "${failed:-0}"
}
