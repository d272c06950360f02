#!/usr/bin/env bash
# The write-path benchmark of issue #12: POST /collect under load, the collector beside a
# ceiling, in one run. Prints figures and ratios; asserts no timing. Fails only when the
# collector's store does not account for what it received and acknowledged (see check()),
# or a server or wrk could not run.
#
#   scripts/bench.sh            release build, 10 s per load (about 3 minutes)
#   scripts/bench.sh --smoke    debug binaries (what `cargo test` built), 1 s per load
#
# Servers, each started fresh for each batch size, answering POST /collect:
#   ceiling    spoor-bench-ceiling: axum reading each body and answering 204, nothing stored
#   sqlite     spoor-collector on a new SQLite file in a temporary directory,
#              --sites demo=localhost, rate limit off, --max-connections-per-client raised
#              to the load's connections (+4 for this script's own requests), the admin
#              token from SPOOR_ADMIN_TOKEN (made up here when unset) to read /metrics
#   ch1, ch3   one, then three spoor-collectors (--peers) on the ClickHouse store of a
#              2 shards x 2 replicas cluster (scripts/cluster.sh up in a temporary state
#              directory: ZooKeeper, four clickhouse-servers, nginx round-robin in front of
#              the collectors), the same collector settings, --batch-max-wait-ms from
#              BENCH_CH_WAIT_MS (default 0: group commit, as sqlite; the store's own
#              default of 1000 ms would make a closed-loop load of 32 connections a test of
#              the wait), every insert acknowledged after 2 replicas have it. The whole
#              cluster is pinned to the server's core. Skipped where clickhouse-server,
#              zookeeper or nginx are missing, with BENCH_CLICKHOUSE=0, and in --smoke runs
#              unless BENCH_CLICKHOUSE=1 (the cluster's correctness is the end-to-end
#              cluster test's; seconds-long loads on debug binaries measure its warm-up).
# Load: wrk (Debian's wrk 4.1, one thread) with scripts/bench/collect.lua, in its own
# process; with two or more cores the server is pinned to core 0 and wrk to core 1.
# For each server and batch size (1 and 10 events a request):
#   max        wrk as fast as BENCH_CONNECTIONS connections go (default 32): req/s, events/s
#   50%, 80%   wrk paced at that share of the max by the script's delay() (wrk 4.1 has no
#              wrk2 -R; see collect.lua): the rate reached and wrk's p50 / p99 latency
#   RSS        VmRSS of the server before the load and its peak (VmHWM) after, from /proc
#   bytes/ev   (database + WAL) after a WAL checkpoint, over the events stored; on
#              ClickHouse, the active parts of every server over 2 (bytes per replica)
#   check      after every load on the collector: the store (sqlite3) holds the events it
#              acknowledged (its 204 answers x batch, from /metrics; wrk read these or all
#              but the answers in flight at its stop) plus at most one batch per connection
#              that wrk cut off when it stopped (stored, never answered); see check()
# Every collector figure carries its ratio to the ceiling's: a share for rates, a factor
# for latency and memory.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

smoke=false
case "${1:-}" in
    --smoke) smoke=true ;;
    "") ;;
    *)
        echo "usage: scripts/bench.sh [--smoke]" >&2
        exit 2
        ;;
esac

log() { printf '[bench] %s\n' "$*" >&2; }

for tool in wrk sqlite3 curl python3; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        log "$tool is missing (scripts/setup.sh installs wrk and sqlite3)"
        exit 1
    fi
done

connections=${BENCH_CONNECTIONS:-32}
if $smoke; then
    duration=${BENCH_DURATION:-1s}
    profile=debug
    log "smoke: debug binaries, ${duration} per load; the figures say nothing about speed"
    cargo build -q -p spoor-collector --bin spoor-collector
    cargo build -q -p spoor-devtools --bin spoor-bench-ceiling
else
    duration=${BENCH_DURATION:-10s}
    profile=release
    log "cargo build --release (spoor-collector, spoor-bench-ceiling)"
    cargo build -q --release -p spoor-collector --bin spoor-collector
    cargo build -q --release -p spoor-devtools --bin spoor-bench-ceiling
fi
bin="target/$profile"

if [ "$(nproc)" -ge 2 ]; then
    server_pin=(taskset -c 0)
    load_pin=(taskset -c 1)
    pinning="server on core 0, wrk on core 1"
else
    server_pin=()
    load_pin=()
    pinning="one core: server and wrk share it"
fi

export SPOOR_ADMIN_TOKEN="${SPOOR_ADMIN_TOKEN:-bench-$(python3 -c 'import secrets; print(secrets.token_hex(16))')}"

# Other processes on the machine skew every figure; the table reports the load around it.
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
work=$(mktemp -d)
server_pid=
cluster_state=
cleanup() {
    if [ -n "$server_pid" ]; then
        kill "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
    if [ -n "$cluster_state" ] && [ -d "$cluster_state" ]; then
        scripts/cluster.sh down --state "$cluster_state" >/dev/null 2>&1 || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# start_server NAME COMMAND...: starts it pinned, waits for /healthz; sets server_pid, port.
start_server() {
    local name=$1
    shift
    "${server_pin[@]}" "$@" >"$work/$name.log" 2>&1 &
    server_pid=$!
    for _ in $(seq 100); do
        if curl -fsS -o /dev/null "http://127.0.0.1:$port/healthz" 2>/dev/null; then
            return
        fi
        if ! kill -0 "$server_pid" 2>/dev/null; then
            break
        fi
        sleep 0.1
    done
    log "$name did not start:"
    cat "$work/$name.log" >&2
    exit 1
}

stop_server() {
    kill -INT "$server_pid"
    wait "$server_pid" 2>/dev/null || true
    server_pid=
}

status_kb() { awk -v k="$1:" '$1 == k { print $2 }' "/proc/${2:-$server_pid}/status"; }

# rss FIELD: the server's VmRSS or VmHWM in kB; on the cluster, its collectors' summed.
rss() {
    case $server in
    ch*)
        local i total=0
        for i in $(seq 1 "${server#ch}"); do
            total=$((total + $(status_kb "$1" "$(cat "$cluster_state/collector$i/pid")")))
        done
        echo "$total"
        ;;
    *) status_kb "$1" ;;
    esac
}

# The collectors' ports (one, or the cluster's), whose /metrics are added up.
collector_ports=()

# metric NAME [LABELS]: a counter of the collectors' /metrics (0 while it is absent).
metric() {
    local p total=0 n
    for p in "${collector_ports[@]:-$port}"; do
        n=$(curl -fsS -H "Authorization: Bearer $SPOOR_ADMIN_TOKEN" "http://127.0.0.1:$p/metrics" |
            awk -v name="$1${2:-}" '$1 == name { n = $2 } END { print n + 0 }')
        total=$((total + n))
    done
    echo "$total"
}
answered_204() { metric spoor_http_requests_total '{route="/collect",status="204"}'; }
received() { metric spoor_events_received_total; }

# ch_query PORT SQL: one statement on a ClickHouse server of the cluster, as the spoor user.
ch_query() {
    curl -fsS -u "spoor:$(head -n 1 "$cluster_state/clickhouse-password")" \
        "http://127.0.0.1:$1/" --data-binary "$2"
}

stored() {
    case $server in
    ch*) ch_query "$ch_http" 'SELECT count() FROM spoor.events' ;;
    *) sqlite3 -readonly "$db" 'SELECT count(*) FROM events' ;;
    esac
}

run_no=0
run_base=$(printf '%04x' $((RANDOM)))
# load BATCH RATE: one wrk run; sets the BENCH fields (requests, duration_us, p50_us, ...).
load() {
    run_no=$((run_no + 1))
    local out="$work/wrk-$run_no.txt"
    "${load_pin[@]}" wrk -t1 -c"$connections" -d"$duration" --latency \
        -s scripts/bench/collect.lua "http://127.0.0.1:$port" \
        -- "$1" "$run_base$(printf '%04x' "$run_no")" "$2" >"$out" 2>&1 || {
        cat "$out" >&2
        exit 1
    }
    local line
    line=$(grep '^BENCH ' "$out") || {
        cat "$out" >&2
        exit 1
    }
    # shellcheck disable=SC2086 # word splitting is the point: key=value pairs
    local kv
    for kv in ${line#BENCH }; do
        printf -v "w_${kv%%=*}" '%s' "${kv#*=}"
    done
    w_rps=$(awk -v n="$w_requests" -v us="$w_duration_us" 'BEGIN { printf "%.0f", n * 1e6 / us }')
    w_errors=$((w_non2xx + w_connect + w_read + w_write + w_timeout))
}

declare -A r # results: r[server:batch:figure]
failed=0

# check BATCH: after a load on the collector, the events stored against those acknowledged.
# wrk stops with a request in flight on each connection and closes it; the collector drops
# the handler with the connection (so /metrics counts no 204), and the batch is stored if
# it had reached the writer, not if it was cut off earlier; an answer already written may
# still be on its way when wrk stops counting. So the store must hold every event the
# collector acknowledged (204 answers x batch) plus at most one batch per connection, and
# no more than it received; wrk's count of acknowledged events may trail the collector's by
# at most one batch per connection, never exceed it.
check() {
    settle
    local now_stored now_204 now_received got recv acked wrk_acked cut
    now_stored=$(stored)
    now_204=$(answered_204)
    now_received=$(received)
    got=$((now_stored - c_stored))
    recv=$((now_received - c_received))
    acked=$(((now_204 - c_204) * $1))
    wrk_acked=$(((w_requests - w_non2xx) * $1))
    cut=$((got - acked))
    local most=$((connections * $1))
    if [ "$cut" -ge 0 ] && [ "$cut" -le "$most" ] && [ "$got" -le "$recv" ] &&
        [ "$wrk_acked" -le "$acked" ] && [ "$((acked - wrk_acked))" -le "$most" ]; then
        log "  stored $got = $acked acknowledged (204 x $1; wrk read $wrk_acked) + $cut of requests cut off when wrk stopped ($recv received)"
        r[$server:$1:check]="${r[$server:$1:check]:+${r[$server:$1:check]}, }$acked + $cut"
    else
        log "  MISMATCH: stored $got, received $recv, acknowledged $acked (wrk: $wrk_acked)"
        r[$server:$1:check]="${r[$server:$1:check]:+${r[$server:$1:check]}, }**stored $got, received $recv, acknowledged $acked (wrk: $wrk_acked)**"
        failed=1
    fi
}

# settle: waits until the cut-off requests of the last load finished their commit, that is
# until the count of stored events holds still for a second (a commit on the cluster can
# take longer than one on SQLite).
settle() {
    local before=-1 now_count
    for _ in $(seq 30); do
        sleep 1
        now_count=$(stored)
        [ "$now_count" = "$before" ] && break
        before=$now_count
    done
}

# Counters before a load, for check.
mark() {
    settle
    c_stored=$(stored) c_204=$(answered_204) c_received=$(received)
}

ms() { awk -v us="$1" 'BEGIN { printf "%.2f", us / 1000 }'; }

# measure SERVER BATCH: the whole sequence on a running server.
measure() {
    local server=$1 batch=$2 share
    r[$server:$batch:rss_idle]=$(rss VmRSS)
    if [ "$server" != ceiling ]; then mark; fi
    log "$server, $batch event(s) a request: max rate ($connections connections, $duration)"
    load "$batch" 0
    r[$server:$batch:max_rps]=$w_rps
    r[$server:$batch:max_p50]=$w_p50_us
    r[$server:$batch:max_p99]=$w_p99_us
    r[$server:$batch:errors]=$w_errors
    if [ "$server" != ceiling ]; then check "$batch"; fi
    local max=$w_rps
    for share in 50 80; do
        local rate=$((max * share / 100))
        if [ "$rate" -lt 1 ]; then rate=1; fi
        if [ "$server" != ceiling ]; then mark; fi
        log "$server, $batch event(s) a request: paced at $share% of the max ($rate req/s)"
        load "$batch" "$rate"
        r[$server:$batch:p${share}_rps]=$w_rps
        r[$server:$batch:p${share}_target]=$rate
        r[$server:$batch:p${share}_p50]=$w_p50_us
        r[$server:$batch:p${share}_p99]=$w_p99_us
        r[$server:$batch:errors]=$((r[$server:$batch:errors] + w_errors))
        if [ "$server" != ceiling ]; then check "$batch"; fi
    done
    r[$server:$batch:rss_peak]=$(rss VmHWM)
    if [ "$server" = sqlite ]; then
        sqlite3 "$db" 'PRAGMA wal_checkpoint(TRUNCATE)' >/dev/null
        local bytes events
        bytes=$(($(stat -c %s "$db") + $(stat -c %s "$db-wal" 2>/dev/null || echo 0)))
        events=$(stored)
        r[$server:$batch:bytes]=$(awk -v b="$bytes" -v n="$events" 'BEGIN { printf "%.0f", n ? b / n : 0 }')
    fi
    if [[ $server == ch* ]]; then
        local bytes=0 events n
        for n in 1 2 3 4; do
            local h=CH${n}_HTTP
            bytes=$((bytes + $(ch_query "${ch_ports[$h]}" \
                "SELECT sum(bytes_on_disk) FROM system.parts WHERE database = 'spoor' AND active")))
        done
        events=$(stored)
        r[$server:$batch:bytes]=$(awk -v b="$bytes" -v n="$events" 'BEGIN { printf "%.0f", n ? b / 2 / n : 0 }')
    fi
}

for batch in 1 10; do
    server=ceiling
    port=$(free_port)
    start_server ceiling "$bin/spoor-bench-ceiling" --listen "127.0.0.1:$port"
    measure ceiling "$batch"
    stop_server

    server=sqlite
    port=$(free_port)
    db="$work/sqlite-$batch/spoor.db"
    mkdir -p "$work/sqlite-$batch"
    start_server sqlite env -u SPOOR_ADMIN_TOKEN_FILE SPOOR_ADMIN_TOKEN="$SPOOR_ADMIN_TOKEN" \
        "$bin/spoor-collector" --listen "127.0.0.1:$port" --db "$db" --sites demo=localhost \
        --rate-limit-per-second 0 --max-connections-per-client $((connections + 4))
    measure sqlite "$batch"
    stop_server
done

# The ClickHouse columns: the cluster with one, then three collectors.
declare -A ch_ports
servers=(ceiling sqlite)
ch_ok=true
for tool in clickhouse-server nginx; do
    command -v "$tool" >/dev/null 2>&1 || [ -x "/usr/sbin/$tool" ] || ch_ok=false
done
[ -e /usr/share/java/zookeeper.jar ] || ch_ok=false
if $smoke && [ "${BENCH_CLICKHOUSE:-0}" != 1 ]; then
    ch_ok=false
elif [ "${BENCH_CLICKHOUSE:-1}" = 0 ]; then
    ch_ok=false
elif ! $ch_ok; then
    log "clickhouse-server, zookeeper or nginx missing: no ClickHouse columns (scripts/setup.sh installs them)"
fi
if $ch_ok; then
    for n in 1 3; do
        server=ch$n
        servers+=("$server")
        cluster_state="$work/cluster-$n"
        log "$server: scripts/cluster.sh up --collectors $n (pinned: ${server_pin[*]:-none})"
        SPOOR_COLLECTOR_BIN="$PWD/$bin/spoor-collector" SPOOR_SITES=demo=localhost \
            SPOOR_RATE_LIMIT_PER_SECOND=0 SPOOR_MAX_CONNECTIONS_PER_CLIENT=$((connections + 4)) \
            SPOOR_MAX_CONNECTIONS=$((connections * 4 + 64)) \
            SPOOR_BATCH_MAX_WAIT_MS="${BENCH_CH_WAIT_MS:-0}" \
            "${server_pin[@]}" scripts/cluster.sh up --collectors "$n" --state "$cluster_state" \
            >"$work/cluster-$n.log" 2>&1 || {
            cat "$work/cluster-$n.log" >&2
            scripts/cluster.sh down --state "$cluster_state" >/dev/null 2>&1 || true
            exit 1
        }
        SPOOR_ADMIN_TOKEN=$(head -n 1 "$cluster_state/admin-token")
        while IFS='=' read -r key value; do
            ch_ports[$key]=$value
        done <"$cluster_state/ports.env"
        ch_http=${ch_ports[CH1_HTTP]}
        collector_ports=()
        for i in $(seq 1 "$n"); do collector_ports+=("${ch_ports[COLLECTOR$i]}"); done
        port=${ch_ports[FRONT]}
        # A first load the table does not show: the day's salt and the first parts.
        log "$server: warm-up load, not measured"
        load 10 0
        for batch in 1 10; do
            measure "$server" "$batch"
        done
        scripts/cluster.sh down --state "$cluster_state" >/dev/null 2>&1 || true
        collector_ports=()
    done
fi

# The table: every collector figure with its ratio to the ceiling's.
share() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf " (%.1f%%)", 100 * a / b }'; }
factor() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf " (%.1f×)", a / b }'; }
num() { sed ':a;s/\B[0-9]\{3\}\>/,&/;ta' <<<"$1"; }
cell_rate() { # server batch figure [multiplier]
    local v=$((r[$1:$2:$3] * ${4:-1})) c=$((r[ceiling:$2:$3] * ${4:-1}))
    printf '%s' "$(num "$v")"
    if [ "$1" != ceiling ]; then share "$v" "$c"; fi
}
cell_paced() { # server batch share: the rate reached, of the rate asked for
    printf '%s of %s' "$(num "${r[$1:$2:p${3}_rps]}")" "$(num "${r[$1:$2:p${3}_target]}")"
    if [ "$1" != ceiling ]; then share "${r[$1:$2:p${3}_rps]}" "${r[ceiling:$2:p${3}_rps]}"; fi
}
cell_latency() { # server batch prefix
    local p50=${r[$1:$2:${3}_p50]} p99=${r[$1:$2:${3}_p99]}
    printf '%s / %s ms' "$(ms "$p50")" "$(ms "$p99")"
    if [ "$1" != ceiling ]; then factor "$p99" "${r[ceiling:$2:${3}_p99]}"; fi
}
cell_rss() {
    local idle=${r[$1:$2:rss_idle]} peak=${r[$1:$2:rss_peak]}
    printf '%s / %s MB' "$(awk -v k="$idle" 'BEGIN { printf "%.1f", k / 1024 }')" \
        "$(awk -v k="$peak" 'BEGIN { printf "%.1f", k / 1024 }')"
    if [ "$1" != ceiling ]; then factor "$peak" "${r[ceiling:$2:rss_peak]}"; fi
}

echo
echo "Write path, $(date -u '+%Y-%m-%d %H:%M UTC'), $profile build, $(nproc) cores ($pinning)," \
    "$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo),"
echo "wrk -t1 -c$connections -d$duration; load average (1, 5, 15 min) before: $load_before, after: $(cut -d' ' -f1-3 /proc/loadavg)"
if $smoke; then echo "SMOKE RUN: debug binaries and ${duration} loads; these figures are not benchmarks."; fi
echo
echo "| server | events/req | max req/s | max events/s | p50 / p99 at max | 50%: req/s of asked | 50%: p50 / p99 | 80%: req/s of asked | 80%: p50 / p99 | RSS idle / peak | bytes/event | stored: acknowledged + cut off (max, 50%, 80%) | errors |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
for batch in 1 10; do
    for server in "${servers[@]}"; do
        printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' \
            "$server" "$batch" \
            "$(cell_rate "$server" "$batch" max_rps)" \
            "$(cell_rate "$server" "$batch" max_rps "$batch")" \
            "$(cell_latency "$server" "$batch" max)" \
            "$(cell_paced "$server" "$batch" 50)" \
            "$(cell_latency "$server" "$batch" p50)" \
            "$(cell_paced "$server" "$batch" 80)" \
            "$(cell_latency "$server" "$batch" p80)" \
            "$(cell_rss "$server" "$batch")" \
            "${r[$server:$batch:bytes]:-—}" \
            "${r[$server:$batch:check]:-—}" \
            "${r[$server:$batch:errors]}"
    done
done
echo
echo "Ratios: (x%) is the collector's share of the ceiling's figure; (x×) the collector's p99 or peak RSS over the ceiling's."
if $ch_ok; then
    echo "ch1, ch3: one and three collectors (their RSS added up) behind nginx on a 2 x 2 ClickHouse cluster, all on the server's core; --batch-max-wait-ms ${BENCH_CH_WAIT_MS:-0}, insert quorum 2."
fi

if [ "$failed" -ne 0 ]; then
    log "the collector's store does not match what it received and acknowledged"
    exit 1
fi
