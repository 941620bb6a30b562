# shellcheck shell=bash disable=SC2034
# bench/lib.sh - shell helpers shared by bench/http.sh, bench/redis.sh and
# bench/conns.sh (sourced, not run).  The caller has `set -euo pipefail`
# and has cd'd to the top of the repository.
#
#   pin_setup               PIN_SERVER / PIN_LOAD arrays and pin_note:
#                           server on CPU 0, load generator on CPU 1
#                           (taskset), unless NO_PIN=1 or one CPU
#   cpu_ns PID              CPU time of the process, ns: all its threads,
#                           those that exited too (see below)
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

pin_setup() {
    PIN_SERVER=() PIN_LOAD=()
    local ncpu
    ncpu=$(nproc 2>/dev/null || echo 1)
    if [ -z "${NO_PIN:-}" ] && command -v taskset >/dev/null 2>&1 && [ "$ncpu" -ge 2 ]; then
        PIN_SERVER=(taskset -c 0) PIN_LOAD=(taskset -c 1)
        pin_note="server pinned to CPU 0 (all its threads), load generator to CPU 1 (taskset)"
    else
        pin_note="no pinning (taskset missing, NO_PIN set, or a single CPU)"
    fi
}

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

order_of() { # rep names...
    local rep=$1 i j t n
    shift
    local names=("$@") out=()
    n=${#names[@]}
    for ((i = 0; i < n; i++)); do out+=("${names[$(((i + rep - 1) % n))]}"); done
    if [ $((rep % 2)) -eq 0 ]; then
        for ((i = 0, j = n - 1; i < j; i++, j--)); do t=${out[i]}; out[i]=${out[j]}; out[j]=$t; done
    fi
    echo "${out[@]}"
}

median_of() { # file workload server column
    awk -v w="$2" -v s="$3" -v c="$4" '$1 == w && $2 == s && $c != "-" { print $c }' "$1" | sort -g |
        awk '{ v[NR] = $1 } END { if (NR == 0) print "-"; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

ratio_of() { # file workload server column base
    awk -v w="$2" -v s="$3" -v c="$4" -v b="$5" '
        $1 == w && $2 == s && $c != "-" { a[$3] = $c } $1 == w && $2 == b && $c != "-" { r[$3] = $c }
        END { for (k in a) if ((k in r) && r[k] > 0) print a[k] / r[k] }' "$1" | sort -g |
        awk '{ v[NR] = $1 } END { if (NR == 0) print "-"; else printf "%.2f\n", (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

fmt_ratio() { if [ "$1" = "-" ]; then echo ""; else echo " ($1x)"; fi; }
