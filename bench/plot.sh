#!/usr/bin/env bash
# bench/plot.sh - the benchmark plots, drawn by the suite itself (gnuplot).
#
#   bash bench/plot.sh          (bench/run.sh calls it in a full run)
#
# 1. Echo against the connection count: bench/echo.sh runs every server
#    with 10, 100 and 1000 connections (PLOT_CONNS), one 64-byte message in
#    flight on each, PLOT_REPS (3) interleaved runs of PLOT_DURATION (0.5 s)
#    each, no syscall count; the medians become
#      docs/img/echo-throughput-vs-conns.png   messages/s, per server
#      docs/img/echo-cpu-vs-conns.png          server CPU ns per message
#      docs/img/echo-vs-conns.txt              the numbers behind both
# 2. With MICRO_TABLE=FILE (bench/run.sh's markdown microbenchmark table):
#      docs/img/micro-ns-per-op.png            eddy, Tokio, Go, libuv per case
# 3. With CONNS_DATA=FILE (bench/conns.sh's data: "server conns growth_kib"):
#      docs/img/memory-vs-conns.png            server RSS growth against idle connections
#      docs/img/memory-vs-conns.txt            the numbers behind it
# 4. Memory against idle tasks: bench_idle, tokio_bench -g idle and
#    go_bench -g idle (those built) at N = 100,000, 300,000 and 1,000,000
#    idle tasks (MEM_TASKS), each case (a one-hour timer; a never-notified
#    Notify / never-closed channel) in a fresh process, one run per point:
#      docs/img/memory-vs-tasks.png            RSS growth against N, two panels
#      docs/img/memory-vs-tasks.txt            the numbers behind it
#
# If gnuplot is missing it says so and draws nothing (exit 0), before any
# benchmark runs.  gnuplot-nox is in scripts/deps.sh's bench list.
# Environment: EDDY_BUILD_DIR, SERVERS, PLOT_CONNS ("10 100 1000"),
# PLOT_REPS, PLOT_DURATION, PLOT_DIR (docs/img), MICRO_TABLE, CONNS_DATA,
# MEM_TASKS ("100000 300000 1000000"; "" leaves part 4 out), NO_PEERS, NO_PIN.
set -uo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 2
OUTDIR=${PLOT_DIR:-docs/img}
if ! command -v gnuplot >/dev/null 2>&1; then
    echo "plot.sh: gnuplot not found (apt-get install gnuplot-nox, or scripts/deps.sh bench); no plots drawn"
    exit 0
fi
mkdir -p "$OUTDIR"
TMP=$(mktemp -d "${TMPDIR:-/tmp}/eddy-plot.XXXXXX")
trap 'rm -rf "$TMP"' EXIT

if gnuplot -e 'set terminal pngcairo' >/dev/null 2>&1; then
    TERM_PNG="pngcairo size 900,560 font 'sans,10'"
else
    TERM_PNG="png size 900,560"
fi
status=0
stamp="$(date -u +%Y-%m-%d), $(nproc) CPUs, $(uname -r)"

# ---- 1. echo against the connection count -------------------------------------
wl=""
for c in ${PLOT_CONNS:-10 100 1000}; do wl+="${wl:+ }c$c:$c:1:64"; done
DATA=$TMP/echo.data
echo "plot.sh: echo sweep over ${PLOT_CONNS:-10 100 1000} connections (1 x 64 B in flight each)"
if ! WORKLOADS="$wl" REPS=${PLOT_REPS:-3} DURATION=${PLOT_DURATION:-0.5} WARMUP=${PLOT_WARMUP:-0.2} \
    NO_SYSCALLS=1 GOAL_REPS=0 QUICK='' ECHO_DATA="$DATA" bash bench/echo.sh >"$TMP/echo.out" 2>&1; then
    echo "plot.sh: the echo sweep reported a failure:" >&2
    grep -E 'FAILED|echo.sh:' "$TMP/echo.out" | head -n 10 >&2
    status=1
fi
if [ -s "$DATA" ]; then
    # one row per connection count, one column per server (its order in the data)
    servers=$(awk '!s[$5]++ { printf "%s ", $5 }' "$DATA")
    for col in 6:msgs 9:cpu; do
        n=${col%%:*} what=${col#*:}
        awk -v col="$n" -v servers="$servers" '
            BEGIN { ns = split(servers, sv, " "); printf "conns"; for (i = 1; i <= ns; i++) printf " %s", sv[i]; print "" }
            { v[$2, $5] = $col; if (!($2 in seen)) { seen[$2] = 1; cl[++nc] = $2 } }
            END { for (k = 1; k <= nc; k++) { printf "%s", cl[k]; for (i = 1; i <= ns; i++) printf " %s", ((cl[k], sv[i]) in v) ? v[cl[k], sv[i]] : "-"; print "" } }
        ' "$DATA" >"$TMP/$what.tab"
    done
    ncol=$(awk 'NR == 1 { print NF; exit }' "$TMP/msgs.tab")
    {
        echo "# echo against the connection count: medians of ${PLOT_REPS:-3} interleaved runs of ${PLOT_DURATION:-0.5} s"
        echo "# ($stamp); 1 x 64 B in flight per connection; servers pinned to CPU 0, loadgen to CPU 1"
        echo "# messages per second:"
        column -t "$TMP/msgs.tab"
        echo "# server CPU, ns per message:"
        column -t "$TMP/cpu.tab"
    } >"$OUTDIR/echo-vs-conns.txt"
    for what in msgs cpu; do
        if [ "$what" = msgs ]; then
            png=$OUTDIR/echo-throughput-vs-conns.png ylabel="messages per second (median)" title="Echo throughput against connections"
        else
            png=$OUTDIR/echo-cpu-vs-conns.png ylabel="server CPU per message, ns (median)" title="Echo server CPU per message against connections"
        fi
        if ! gnuplot >"$TMP/gnuplot.err" 2>&1 <<EOF; then
set terminal $TERM_PNG
set output '$png'
set title "$title\n{/*0.8 1 x 64 B in flight per connection, server on CPU 0, loadgen on CPU 1; $stamp}"
set datafile missing '-'
set key outside right top
set logscale x 10
set xrange [*:*]
set xlabel 'connections'
set ylabel '$ylabel'
set yrange [0:*]
set grid
set format y '%.0s%c'
plot for [i=2:$ncol] '$TMP/$what.tab' using 1:i with linespoints lw 2 pt 7 title columnheader(i)
EOF
            echo "plot.sh: gnuplot failed on $png: $(head -n 3 "$TMP/gnuplot.err")" >&2
            status=1
        else
            echo "plot.sh: wrote $png"
        fi
    done
    echo "plot.sh: wrote $OUTDIR/echo-vs-conns.txt"
    cat "$OUTDIR/echo-vs-conns.txt"
fi

# ---- 2. microbenchmarks ---------------------------------------------------------
if [ -n "${MICRO_TABLE:-}" ] && [ -s "${MICRO_TABLE}" ]; then
    # "| case | eddy | tokio | tokio in task | go | libuv |" -> case and the
    # five medians ("-" where missing); only cases with eddy and a peer.
    awk -F'|' 'NR > 2 {
            for (i = 2; i <= 7; i++) { gsub(/^ +| +$/, "", $i); sub(/ \(.*\)$/, "", $i) }
            if ($3 == "-" || ($4 == "-" && $5 == "-" && $6 == "-" && $7 == "-")) next
            printf "%s %s %s %s %s %s\n", $2, $3, $4, $5, $6, $7
        }' "$MICRO_TABLE" >"$TMP/micro.tab"
    mapfile -t titles < <(sed -n 1p "$MICRO_TABLE" |
        awk -F'|' '{ for (i = 3; i <= 7; i++) { gsub(/^ +| +$/, "", $i); print $i } }')
    if [ -s "$TMP/micro.tab" ]; then
        nrows=$(wc -l <"$TMP/micro.tab")
        width=$((300 + nrows * 55))
        png=$OUTDIR/micro-ns-per-op.png
        t() { echo "${titles[$1]:-column $1}"; }
        if ! gnuplot >"$TMP/gnuplot.err" 2>&1 <<EOF; then
set terminal ${TERM_PNG/size 900,560/size $width,600}
set output '$png'
set title "Microbenchmarks: ns per operation, median of interleaved rounds (log scale, lower is better)\n{/*0.8 $stamp}"
set datafile missing '-'
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set logscale y 10
set yrange [1:*]
set ylabel 'ns per operation'
set xtics rotate by -40 scale 0 font ',8' noenhanced
set key outside right top
set grid ytics
plot '$TMP/micro.tab' using 2:xtic(1) title '$(t 0)', '' using 3 title '$(t 1)', '' using 4 title '$(t 2)', '' using 5 title '$(t 3)', '' using 6 title '$(t 4)'
EOF
            echo "plot.sh: gnuplot failed on $png: $(head -n 3 "$TMP/gnuplot.err")" >&2
            status=1
        else
            echo "plot.sh: wrote $png"
        fi
    fi
fi
# ---- 3. memory against idle connections ------------------------------------------
if [ -n "${CONNS_DATA:-}" ] && [ -s "${CONNS_DATA}" ]; then
    servers=$(awk '!s[$1]++ { printf "%s ", $1 }' "$CONNS_DATA")
    # one row per connection count, one column per server: RSS growth in MiB
    # (at least 0.001, so that a server that grows by nothing stays on the log scale)
    awk -v servers="$servers" '
        BEGIN { ns = split(servers, sv, " "); printf "conns"; for (i = 1; i <= ns; i++) printf " %s", sv[i]; print "" }
        { v[$2, $1] = $3 / 1024; if (!($2 in seen)) { seen[$2] = 1; cl[++nc] = $2 } }
        END { for (k = 1; k <= nc; k++) { printf "%s", cl[k]; for (i = 1; i <= ns; i++) printf " %s", ((cl[k], sv[i]) in v) ? sprintf("%.3f", v[cl[k], sv[i]] > 0.001 ? v[cl[k], sv[i]] : 0.001) : "-"; print "" } }
    ' "$CONNS_DATA" >"$TMP/mem.tab"
    {
        echo "# server RSS growth (VmRSS) with N idle echo connections, MiB ($stamp)"
        echo "# each connection served once (64 B echoed); one fresh server each; bench/conns.sh"
        column -t "$TMP/mem.tab"
    } >"$OUTDIR/memory-vs-conns.txt"
    ncol=$(awk 'NR == 1 { print NF; exit }' "$TMP/mem.tab")
    png=$OUTDIR/memory-vs-conns.png
    if ! gnuplot >"$TMP/gnuplot.err" 2>&1 <<EOF; then
set terminal $TERM_PNG
set output '$png'
set title "Server memory against idle connections (RSS growth; socket buffers are kernel memory, not in it)\n{/*0.8 each connection served once, then idle; $stamp}"
set datafile missing '-'
set key outside right top
set logscale y 10
set xlabel 'idle connections'
set ylabel 'RSS growth, MiB (log scale; 0.001 = nothing measurable)'
set grid
plot for [i=2:$ncol] '$TMP/mem.tab' using 1:i with linespoints lw 2 pt 7 title columnheader(i)
EOF
        echo "plot.sh: gnuplot failed on $png: $(head -n 3 "$TMP/gnuplot.err")" >&2
        status=1
    else
        echo "plot.sh: wrote $png and $OUTDIR/memory-vs-conns.txt"
    fi
fi
# ---- 4. memory against idle tasks ------------------------------------------------
MEM_TASKS=${MEM_TASKS-100000 300000 1000000}
BUILD=${EDDY_BUILD_DIR:-build/release}
if [ -n "$MEM_TASKS" ] && [ -x "$BUILD/bench/bench_idle" ]; then
    echo "plot.sh: idle memory against tasks, N = $MEM_TASKS"
    progs=("eddy|$BUILD/bench/bench_idle")
    if [ -z "${NO_PEERS:-}" ]; then
        [ -x "$BUILD/peers/tokio_bench" ] && progs+=("tokio|$BUILD/peers/tokio_bench -g idle")
        [ -x "$BUILD/peers/go_bench" ] && progs+=("go|$BUILD/peers/go_bench -g idle")
    fi
    lim=(timeout -k 5 120)
    command -v timeout >/dev/null 2>&1 || lim=()
    : >"$TMP/tasks.data"   # "impl case n bytes_per_task" lines
    for n in $MEM_TASKS; do
        for e in "${progs[@]}"; do
            impl=${e%%|*}
            # shellcheck disable=SC2086
            if ! "${lim[@]}" ${e#*|} -n "$n" >"$TMP/tasks.out" 2>&1; then
                echo "plot.sh: '${e#*|} -n $n' failed: $(tail -n 2 "$TMP/tasks.out")" >&2
                status=1
            fi
            awk -v impl="$impl" -v n="$n" '/^RESULT name=/ {
                    name = ""; v = ""
                    for (i = 2; i <= NF; i++) {
                        if ($i ~ /^name=/) name = substr($i, 6)
                        if ($i ~ /^bytes_per_task=/) v = substr($i, 16)
                    }
                    sub(/^(tokio|go)_/, "", name)
                    if (name != "" && v != "") print impl, name, n, v
                }' "$TMP/tasks.out" >>"$TMP/tasks.data"
        done
    done
    impls=$(awk '!s[$1]++ { printf "%s ", $1 }' "$TMP/tasks.data")
    # per case: one row per N, one column per runtime: RSS growth in MiB
    for c in idle_task_timer idle_task_notify; do
        awk -v c="$c" -v impls="$impls" '
            BEGIN { ni = split(impls, iv, " "); printf "tasks"; for (i = 1; i <= ni; i++) printf " %s", iv[i]; print "" }
            $2 == c { v[$3, $1] = $3 * $4 / 1048576; if (!($3 in seen)) { seen[$3] = 1; nl[++nn] = $3 } }
            END { for (k = 1; k <= nn; k++) { printf "%s", nl[k]; for (i = 1; i <= ni; i++) printf " %s", ((nl[k], iv[i]) in v) ? sprintf("%.1f", v[nl[k], iv[i]]) : "-"; print "" } }
        ' "$TMP/tasks.data" >"$TMP/$c.tab"
    done
    {
        echo "# RSS growth (VmRSS from /proc/self/statm) with N idle tasks, MiB ($stamp)"
        echo "# one fresh process per point; bench_idle, tokio_bench -g idle, go_bench -g idle (GOMAXPROCS=1)"
        echo "# tasks waiting on a one-hour timer:"
        column -t "$TMP/idle_task_timer.tab"
        echo "# tasks waiting on a Notify that is never notified (Go: a channel never closed):"
        column -t "$TMP/idle_task_notify.tab"
        echo "# bytes per task: runtime case N bytes"
        sort -k2,2r -k1,1 -k3n,3 "$TMP/tasks.data"
    } >"$OUTDIR/memory-vs-tasks.txt"
    ncol=$(awk 'NR == 1 { print NF; exit }' "$TMP/idle_task_timer.tab")
    png=$OUTDIR/memory-vs-tasks.png
    if [ "${ncol:-0}" -lt 2 ] || [ "$(wc -l <"$TMP/idle_task_timer.tab")" -lt 2 ]; then
        echo "plot.sh: no idle-task figures; $png not drawn" >&2
        status=1
    elif ! gnuplot >"$TMP/gnuplot.err" 2>&1 <<EOF; then
set terminal ${TERM_PNG/size 900,560/size 1100,520}
set output '$png'
set multiplot layout 1,2 title "Memory against idle tasks (RSS growth, one fresh process per point; lower is better)\n{/*0.8 $stamp}"
set datafile missing '-'
set key left top
set logscale xy 10
set xlabel 'idle tasks'
set ylabel 'RSS growth, MiB'
set format x '%.0s%c'
set grid
set title 'each waiting on a one-hour timer'
plot for [i=2:$ncol] '$TMP/idle_task_timer.tab' using 1:i with linespoints lw 2 pt 7 title columnheader(i)
set title 'each waiting on a Notify (Go: a channel)'
plot for [i=2:$ncol] '$TMP/idle_task_notify.tab' using 1:i with linespoints lw 2 pt 7 title columnheader(i)
unset multiplot
EOF
        echo "plot.sh: gnuplot failed on $png: $(head -n 3 "$TMP/gnuplot.err")" >&2
        status=1
    else
        echo "plot.sh: wrote $png and $OUTDIR/memory-vs-tasks.txt"
        cat "$OUTDIR/memory-vs-tasks.txt"
    fi
fi
exit $status
