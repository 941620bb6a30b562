#!/usr/bin/env bash
# bench/http.sh - the HTTP plaintext comparison: eddy's http_server beside
# nginx and a hand-written epoll server, driven by wrk.
#
#   eddy      build/release/examples/http_server               (current-thread runtime)
#   eddy-mt   the same, --threads 2                            (multi-thread runtime, 2 workers)
#   nginx     /usr/sbin/nginx, one process (master_process off, worker_processes 1),
#             a config generated into a temporary directory: access_log off,
#             error_log there, keepalive_requests 1000000000,
#             location = / { default_type text/plain; return 200 'Hello, World!'; }
#   epoll     build/release/bench/epoll_http_server             (hand-written, the zero-cost reference)
# A server that is not there is skipped and the reason printed ("eddy
# http_server not built: skipped" until examples/http_server.c lands).
#
# Workloads, wrk with one thread (-t1), CONNS (100) keep-alive connections
# and --timeout 10s, GET / (each answer is "Hello, World!", 13 bytes):
#   plain   one request in flight per connection
#   pipe16  16 requests per write (bench/wrk_pipeline.lua), the next 16
#           once all 16 answers are in
# Every server is started once and checked (GET / must answer 200 with
# "Hello, World!"); then REPS rounds, in each every server and workload
# once, in an order that rotates every round and runs backwards every
# other round (A B A B ...).  Per run: wrk's Requests/sec, its latency p50
# and p99 (--latency), and the server's CPU per request: the CPU time of
# all its threads (ns, bench/lib.sh's cpu_ns) before and after the run, over
# every request of the run.
# wrk's percentiles: with pipelining, wrk 4.1 records one latency per
# batch but ranks the percentiles over every request, so all but the
# lowest percentiles print as 0: the table shows "-" for pipe16's latency.
# Printed: the medians, and the ratios to eddy (to nginx while eddy's
# server is not built): the median of the per-round ratios.  eddy's goals
# (>= 1.0x nginx's requests/s without pipelining, >= 2x with it) are
# checked at the end.
#
# Pinning: the server on CPU 0 (all its threads, so eddy-mt's two workers
# share it), wrk on CPU 1 (taskset), when there are two CPUs; wrk's one
# thread is then the whole of the load generator's CPU, as the server has
# the whole of the other.
#
#   bash bench/http.sh            3 rounds of 2 s per server and workload
#   QUICK=1 bash bench/http.sh    3 rounds of 1 s, no warm-up run
#
# Environment: EDDY_BUILD_DIR (build/release), REPS, DURATION (whole
# seconds: wrk takes no fractions), CONNS (100), DEPTH (16),
# HTTP_SERVERS (default: all of the above that exist), EDDY_HTTP_SERVER
# (another build of the eddy server), NGINX (nginx's
# path), WRK (wrk), NO_PIN=1, HTTP_TABLE=FILE (also write the markdown
# table there).  Every wrk output goes to build/release/bench-http.log.
# Loopback only; every run is bounded (wrk's -d and a timeout around it);
# the servers are stopped by PID at exit.  Exits non-zero if a run fails or
# returns an error or a non-2xx answer.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=bench/lib.sh
. bench/lib.sh
BUILD=${EDDY_BUILD_DIR:-build/release}
if is_quick; then
    REPS=${REPS:-3}; DURATION=${DURATION:-1}; WARMUP_RUN=${WARMUP_RUN:-0}
else
    REPS=${REPS:-3}; DURATION=${DURATION:-2}; WARMUP_RUN=${WARMUP_RUN:-1}
fi
CONNS=${CONNS:-100}
RUN_LOG=$BUILD/bench-http.log   # every wrk output of the run
DEPTH=${DEPTH:-16}
WRK=${WRK:-wrk}
EDDY_HTTP=${EDDY_HTTP_SERVER:-$BUILD/examples/http_server}
NGINX=${NGINX:-$(command -v nginx 2>/dev/null || echo /usr/sbin/nginx)}
WORKLOADS=(plain pipe16)
GOAL_REF=nginx

declare -A BIN=(
    [eddy]=$EDDY_HTTP [eddy-mt]=$EDDY_HTTP
    [nginx]=$NGINX [epoll]=$BUILD/bench/epoll_http_server
)
declare -A ARGS=([eddy]="" [eddy-mt]="--threads 2" [nginx]="" [epoll]="--addr 127.0.0.1")
ALL_SERVERS="eddy eddy-mt nginx epoll"

TABLE_OUT=${HTTP_TABLE:-} SKIP_WHAT=HTTP
command -v "$WRK" >/dev/null 2>&1 || skip_all "wrk not found (apt-get install wrk)"
[ -f bench/wrk_pipeline.lua ] || skip_all "bench/wrk_pipeline.lua missing"

versions() {
    local v
    v=$("$NGINX" -v 2>&1 | sed -n 's|.*nginx/||p' | head -n 1) || true
    echo "nginx ${v:-?}, $("$WRK" -v 2>&1 | head -n 1 | awk '{ print $1, $2 }')"
}

# shellcheck disable=SC2317  # called through select_servers
missing() { # name
    case $1 in
        eddy | eddy-mt) notes+=("$1: eddy http_server not built: skipped (${BIN[$1]}; examples/http_server.c lands in issue 7)") ;;
        nginx) notes+=("nginx: not found at $NGINX: skipped (apt-get install nginx-light, or NGINX=path)") ;;
        *) notes+=("$1: ${BIN[$1]} not built: skipped (run 'make bench')") ;;
    esac
}
notes=()
select_servers "${HTTP_SERVERS:-$ALL_SERVERS}" missing
[ ${#SLIST[@]} -gt 0 ] || skip_all "no server to run (${notes[*]})"

pin_setup "load generator"
run_limit $((DURATION + 30))
bench_tmp http

# shellcheck disable=SC2317  # called through start_at_port
nginx_conf() { # dir port
    cat <<EOF
# generated by bench/http.sh
worker_processes 1;
daemon off;
master_process off;
pid $1/nginx.pid;
error_log $1/error.log warn;
worker_rlimit_nofile 20000;
events {
    worker_connections 16384;
    use epoll;
}
http {
    access_log off;
    client_body_temp_path $1/tmp/body;
    proxy_temp_path $1/tmp/proxy;
    fastcgi_temp_path $1/tmp/fastcgi;
    uwsgi_temp_path $1/tmp/uwsgi;
    scgi_temp_path $1/tmp/scgi;
    keepalive_requests 1000000000;
    keepalive_timeout 300s;
    server {
        listen 127.0.0.1:$2;
        location = / {
            default_type text/plain;
            return 200 'Hello, World!';
        }
    }
}
EOF
}

# shellcheck disable=SC2317  # called through start_at_port
launch_nginx() { # port
    local dir=$TMP/nginx
    mkdir -p "$dir/tmp"
    nginx_conf "$dir" "$1" >"$dir/nginx.conf"
    "${PIN_SERVER[@]}" "$NGINX" -p "$dir/" -c "$dir/nginx.conf" -e "$dir/error.log" \
        >"$TMP/nginx.out" 2>"$TMP/nginx.err" &
}

# shellcheck disable=SC2317  # called through start_all
start_one() { # name
    if [ "$1" = nginx ]; then
        start_at_port nginx nginx launch_nginx "$TMP/nginx/error.log" "$TMP/nginx.err"
    else
        start_server "$1"
    fi
}

# GET / must answer 200 with "Hello, World!" (bash's /dev/tcp, bounded).
# shellcheck disable=SC2317  # called through start_all
check_server() { # name
    local out
    out=$(timeout 5 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1" &&
        printf "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n" >&3 && cat <&3' _ "${PORT[$1]}" \
        2>/dev/null | head -c 4096 | tr -d '\r') || true
    if head -n 1 <<<"$out" | grep -q '^HTTP/1\.[01] 200' && grep -q 'Hello, World!' <<<"$out"; then
        return 0
    fi
    echo "http.sh: $1 does not answer GET / with 200 \"Hello, World!\":" >&2
    head -n 8 <<<"$out" >&2
    return 1
}

# wrk's output -> "req_per_s p50_us p99_us requests errors non2xx timeouts"
# (errors: connect, read and write errors; timeouts: requests unanswered
# after wrk's --timeout)
parse_wrk() {
    awk '
        function us(v,    n, u) {
            n = v + 0; u = v; sub(/^[0-9.]+/, "", u)
            if (u == "ms") return n * 1000
            if (u == "s") return n * 1e6
            if (u == "m") return n * 6e7
            return n
        }
        /^ +50% / { p50 = us($2) }
        /^ +99% / { p99 = us($2) }
        / requests in / { reqs = $1 }
        /^Requests\/sec:/ { rps = $2 }
        /Socket errors:/ { gsub(/,/, ""); err = $4 + $6 + $8; tmo = $10 }
        /Non-2xx or 3xx responses:/ { bad = $NF }
        END { printf "%s %s %s %s %d %d %d\n", (rps == "" ? "-" : rps), (p50 == "" ? "-" : p50), (p99 == "" ? "-" : p99), (reqs == "" ? 0 : reqs), err, bad, tmo }'
}

run_wrk() { # server workload duration
    local s=$1 wl=$2 d=$3 extra=()
    [ "$wl" = pipe16 ] && extra=(-s bench/wrk_pipeline.lua)
    local tail_args=()
    [ "$wl" = pipe16 ] && tail_args=(-- "$DEPTH")
    "${RUN_LIMIT[@]}" "${PIN_LOAD[@]}" "$WRK" -t1 -c"$CONNS" -d"${d}s" --timeout 10s --latency "${extra[@]}" \
        "http://127.0.0.1:${PORT[$s]}/" "${tail_args[@]}" 2>&1
}

start_all start_one check_server "did not start or answer correctly: left out"
[ ${#SLIST[@]} -gt 0 ] || skip_all "no server started (${notes[*]})"
pick_base eddy nginx   # ratios are to this server (nginx while eddy's is not built)

echo "== http benchmark: $(stamp); $(versions)"
echo "   $pin_note"
echo "   wrk -t1 -c$CONNS --latency; plain: 1 request in flight per connection, pipe16: $DEPTH per write"
echo "   $REPS rounds x ${DURATION} s per server and workload, interleaved$([ "$WARMUP_RUN" = 1 ] && echo ', after one 1 s warm-up run each')"
echo "   servers: $(servers_line)"
for n in "${notes[@]}"; do echo "   $n"; done
echo "   every wrk output: $RUN_LOG"
echo

if [ "$WARMUP_RUN" = 1 ]; then
    for s in "${SLIST[@]}"; do run_wrk "$s" plain 1 >/dev/null || true; done
fi

RESULTS=$TMP/results
: >"$RUN_LOG"
: >"$RESULTS"
failed=0
mapfile -t RUNS < <(run_plan rounds)
for run in "${RUNS[@]}"; do
    read -r rep wl s <<<"$run"
    measure "$s" "$wl $s run $rep" run_wrk "$s" "$wl" "$DURATION" || { failed=1; continue; }
    read -r rps p50 p99 reqs errs bad tmo <<<"$(parse_wrk <<<"$OUT")"
    # A request unanswered for 10 s on a starved machine is noted; more
    # than 1% of them, an error or a wrong answer fail the run.
    if [ "$RC" -ne 0 ] || [ "$rps" = "-" ] || [ "$reqs" = 0 ] || [ "$errs" -ne 0 ] || [ "$bad" -ne 0 ] ||
        [ "$tmo" -gt $((reqs / 100)) ]; then
        echo "   FAILED: $wl $s run $rep (wrk exit $RC, $errs socket errors, $tmo timeouts, $bad non-2xx):" >&2
        tail -n 6 <<<"$OUT" >&2
        failed=1
        continue
    fi
    ns=$(per_op "$CPU_NS" "$reqs")
    if [ "$wl" = pipe16 ]; then p50=- p99=-; fi   # see "wrk's percentiles" above
    printf '   %-6s %-8s run %d: %10s req/s  p50 %8s us  p99 %8s us  cpu %6s ns/req%s\n' \
        "$wl" "$s" "$rep" "$rps" "$p50" "$p99" "$ns" "$([ "$tmo" -gt 0 ] && echo " ($tmo requests timed out after 10 s)")"
    echo "$wl $s $rep $rps $p50 $p99 $ns" >>"$RESULTS"
done

TABLE=$TMP/table
{
    echo "HTTP plaintext (GET / -> \"Hello, World!\"), wrk -t1 -c$CONNS --latency, medians of $REPS interleaved"
    echo "runs of $DURATION s ($pin_note; $(versions))."
    echo "(N.NNx): the figure / $BASE's, the median of the per-round ratios; req/s: higher is better;"
    echo "latency and CPU: lower is better.  pipe16: $DEPTH requests per write; no latency (wrk 4.1's percentiles"
    echo "are wrong with pipelining: it ranks one latency per batch among all requests, most print as 0)."
    echo
    echo "| workload | server | req/s | p50 (us) | p99 (us) | server CPU (ns/req) |"
    echo "|---|---|---:|---:|---:|---:|"
} >"$TABLE"
for wl in "${WORKLOADS[@]}"; do
    label="$wl ($CONNS conns x $([ "$wl" = pipe16 ] && echo "$DEPTH" || echo 1))"
    for s in "${SLIST[@]}"; do
        echo "| $label | $s |$(cells "$wl" "$s" 4 5 6 7)" >>"$TABLE"
    done
done
{
    echo
    for wl in "${WORKLOADS[@]}"; do
        goal=1.0
        [ "$wl" = pipe16 ] && goal=2.0
        if has_server eddy && has_server "$GOAL_REF"; then
            r=$(ratio_of "$RESULTS" "$wl" eddy 4 "$GOAL_REF")
            echo "$wl: eddy/nginx requests/s ${r}x (goal >= ${goal}x): $(meets "$r" '>=' "$goal")"
        else
            echo "$wl: eddy/nginx requests/s (goal >= ${goal}x): pending: eddy's http_server is not built (issue 7)"
        fi
    done
    for n in "${notes[@]}"; do echo "$n"; done
} >>"$TABLE"
finish_table "$TABLE" "$TABLE_OUT"
