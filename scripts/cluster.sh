#!/usr/bin/env bash
# A whole Spoor cluster on this machine, as plain processes on free 127.0.0.1 ports:
# ZooKeeper, four clickhouse-servers as 2 shards x 2 replicas (deploy/clickhouse/), N
# spoor-collectors on the ClickHouse store, and nginx in front of them, round-robin.
#
#   scripts/cluster.sh up [--collectors N] [--no-collectors] [--sqlite] [--state DIR]
#   scripts/cluster.sh down [--state DIR]
#   scripts/cluster.sh status [--state DIR]
#
# up       starts whatever of the cluster is not running (so it is idempotent, and restarts a
#          killed server on its old ports), waits until each part answers (ZooKeeper `srvr`
#          says `Mode:`, each ClickHouse `GET /ping` says `Ok.`, each collector `/healthz`),
#          then prints the URLs. The collectors are the release binary (built first, as
#          scripts/run.sh builds it, if missing; SPOOR_COLLECTOR_BIN names another), each
#          with --store clickhouse:<the four servers>, --clickhouse-cluster spoor and --peers
#          <every collector>; other SPOOR_* variables in the environment reach them as usual.
#   --collectors N   how many collectors (default 3)
#   --no-collectors  ZooKeeper and ClickHouse only (what tests/src/cluster.rs starts)
#   --sqlite         each collector on its own SQLite file instead of ClickHouse: a check of
#                    the nginx and collector half alone (visitors are NOT shared between them)
# down     stops all of it (collectors drain to the store first) and leaves nothing running;
#          the data stays in the state directory for the next `up` (rm -r it to start over).
# status   shows each part, its pid, whether it answers, and its memory.
#
# The state directory (default target/cluster/) holds each part's rendered configuration,
# data, log and pid file, ports.env (the ports chosen at the first `up`, reused later),
# clickhouse-password (the spoor user's, from SPOOR_CLICKHOUSE_PASSWORD at the first `up`,
# else generated) and admin-token (the collectors' shared admin token). Both files are
# mode 600. Needs clickhouse-server, zookeeper (with java) and nginx: scripts/setup.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
DEPLOY=$ROOT/deploy/clickhouse

log() { printf '[cluster] %s\n' "$*" >&2; }
die() {
    log "$*"
    exit 1
}

usage() {
    sed -n '6,8p' "$0" | sed 's/^# *//' >&2
    exit 2
}

cmd=${1:-}
[ -n "$cmd" ] || usage
shift
STATE=$ROOT/target/cluster
COLLECTORS=3
WITH_COLLECTORS=1
SQLITE=0
while [ $# -gt 0 ]; do
    case $1 in
    --collectors)
        [ $# -ge 2 ] || usage
        COLLECTORS=$2
        shift 2
        ;;
    --no-collectors)
        WITH_COLLECTORS=0
        shift
        ;;
    --sqlite)
        SQLITE=1
        shift
        ;;
    --state)
        [ $# -ge 2 ] || usage
        STATE=$2
        shift 2
        ;;
    *) usage ;;
    esac
done
[[ $COLLECTORS =~ ^[1-9][0-9]*$ ]] || die "--collectors takes a positive number, not $COLLECTORS"
if [ "$cmd" = up ]; then
    mkdir -p "$STATE"
elif [ ! -d "$STATE" ]; then
    echo "no cluster in $STATE"
    exit 0
fi
STATE=$(cd "$STATE" && pwd)
PORTS=$STATE/ports.env
HOST=127.0.0.1
ZK_JARS=/usr/share/java/zookeeper.jar:/usr/share/java/slf4j-simple.jar
CLICKHOUSE_SERVER=${CLICKHOUSE_SERVER:-/usr/sbin/clickhouse-server}
NGINX=${NGINX:-/usr/sbin/nginx}

# --- ports -------------------------------------------------------------------------------

# A port nothing listens on, below Linux's ephemeral range (32768-), not handed out before.
taken=" "
free_port() {
    local p
    for _ in $(seq 1 200); do
        p=$((10000 + RANDOM % 22000))
        [[ $taken == *" $p "* ]] && continue
        if ! (exec 3<>"/dev/tcp/$HOST/$p") 2>/dev/null; then
            taken+="$p "
            echo "$p"
            return 0
        fi
    done
    die "no free port found"
}

# Loads ports.env, and gives every port not in it yet a free one, appended to it.
# Names: ZK, CH<n>_HTTP, CH<n>_TCP, CH<n>_INTERSERVER (n = 1..4), COLLECTOR<i>, FRONT (nginx).
ensure_ports() {
    local names=(ZK) n i
    for n in 1 2 3 4; do names+=("CH${n}_HTTP" "CH${n}_TCP" "CH${n}_INTERSERVER"); done
    for i in $(seq 1 "$COLLECTORS"); do names+=("COLLECTOR$i"); done
    names+=(FRONT)
    touch "$PORTS"
    # shellcheck disable=SC1090
    . "$PORTS"
    for n in "${names[@]}"; do [ -n "${!n:-}" ] && taken+="${!n} "; done
    for n in "${names[@]}"; do
        if [ -z "${!n:-}" ]; then
            printf -v "$n" '%s' "$(free_port)"
            echo "$n=${!n}" >>"$PORTS"
        fi
    done
}

load_ports() {
    [ -f "$PORTS" ] || return 1
    # shellcheck disable=SC1090
    . "$PORTS"
}

# --- processes ---------------------------------------------------------------------------

# Whether the pid in file $1 is a live process whose command line contains $2.
alive() {
    local pid
    [ -f "$1" ] || return 1
    pid=$(cat "$1")
    [ -n "$pid" ] && [ -r "/proc/$pid/cmdline" ] && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q -- "$2"
}

# Whether the pid in file $1 is a process that has not exited (whatever it runs: right
# after `&` it may not have exec'd its program yet).
exists() {
    local pid state
    pid=$(cat "$1" 2>/dev/null) || return 1
    state=$(sed 's/.*) //' "/proc/$pid/stat" 2>/dev/null | cut -c1) || return 1
    [ -n "$state" ] && [ "$state" != Z ]
}

# Stops the processes of the pid files given (SIGTERM together, SIGKILL after 15 s).
stop_all() {
    local f pid pids=()
    for f in "$@"; do
        [ -f "$f" ] || continue
        pid=$(cat "$f")
        rm -f "$f"
        [ -n "$pid" ] && kill "$pid" 2>/dev/null && pids+=("$pid")
    done
    for pid in "${pids[@]}"; do
        for _ in $(seq 1 150); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -0 "$pid" 2>/dev/null && kill -9 "$pid" 2>/dev/null
    done
    return 0
}

# wait_for SECONDS PIDFILE COMMAND…: polls COMMAND every 0.1 s until it succeeds;
# fails after SECONDS, or at once when the process of PIDFILE has exited (a port taken
# since the first `up`, a bad configuration: its log says why).
wait_for() {
    local seconds=$1 pidfile=$2
    shift 2
    for _ in $(seq 1 $((seconds * 10))); do
        "$@" && return 0
        exists "$pidfile" || return 1
        sleep 0.1
    done
    return 1
}

zk_ready() { (exec 3<>"/dev/tcp/$HOST/$ZK" && echo srvr >&3 && timeout 1 cat <&3) 2>/dev/null | grep -q '^Mode:'; }
ch_ready() { [ "$(curl -s --max-time 1 "http://$HOST:$1/ping" 2>/dev/null)" = "Ok." ]; }
http_ok() { curl -sf --max-time 1 -o /dev/null "$1" 2>/dev/null; }

# --- configuration ----------------------------------------------------------------------

# render TEMPLATE OUT NAME=VALUE…: replaces each @NAME@; fails if one is left.
render() {
    local template=$1 out=$2 pair expr=()
    shift 2
    for pair in "$@"; do expr+=(-e "s|@${pair%%=*}@|${pair#*=}|g"); done
    sed "${expr[@]}" "$template" >"$out.tmp"
    if grep -o '@[A-Z0-9_]*@' "$out.tmp" | head -n 1 | grep -q .; then
        die "$template: $(grep -o '@[A-Z0-9_]*@' "$out.tmp" | head -n 1) is not filled in"
    fi
    mv "$out.tmp" "$out"
}

# A file of random characters (mode 600) unless it exists; $2: the value to use instead.
secret_file() {
    local file=$1 given=${2:-}
    if [ -f "$file" ]; then
        if [ -n "$given" ] && [ "$given" != "$(cat "$file")" ]; then
            die "$file differs from the value in the environment; down, rm -r $STATE, up again"
        fi
        return 0
    fi
    (
        umask 077
        if [ -n "$given" ]; then
            printf '%s\n' "$given" >"$file"
        else
            head -c 24 /dev/urandom | base64 | tr -d '/+=\n' >"$file"
            echo >>"$file"
        fi
    )
}

password() { head -n 1 "$STATE/clickhouse-password"; }

render_clickhouse() {
    local n d shard replica pw sha
    secret_file "$STATE/clickhouse-password" "${SPOOR_CLICKHOUSE_PASSWORD:-}"
    pw=$(password)
    [[ $pw != *"|"* && $pw != *"&"* && $pw != *"<"* ]] ||
        die "the ClickHouse password may not contain | & or <"
    sha=$(printf %s "$pw" | sha256sum | cut -d' ' -f1)
    mkdir -p "$STATE/zk/data"
    render "$DEPLOY/cluster/zookeeper/zoo.cfg" "$STATE/zk/zoo.cfg" \
        "ZK_DIR=$STATE/zk" "ZK_HOST=$HOST" "ZK_PORT=$ZK"
    for n in 1 2 3 4; do
        d=$STATE/ch$n
        mkdir -p "$d/config.d" "$d/data" "$d/log"
        shard=$(((n + 1) / 2))
        replica=r$(((n + 1) % 2 + 1))
        local http=CH${n}_HTTP tcp=CH${n}_TCP inter=CH${n}_INTERSERVER
        render "$DEPLOY/single/config.xml" "$d/config.xml" \
            "DIR=$d" "LISTEN_HOST=$HOST" "HTTP_PORT=${!http}" "TCP_PORT=${!tcp}"
        render "$DEPLOY/users.xml" "$d/users.xml" "SPOOR_PASSWORD_SHA256=$sha"
        (
            umask 077
            render "$DEPLOY/cluster/replica.xml" "$d/config.d/replica.xml" \
                "INTERSERVER_HOST=$HOST" "INTERSERVER_PORT=${!inter}" \
                "SHARD=$shard" "REPLICA=$replica" \
                "S1R1_HOST=$HOST" "S1R1_PORT=$CH1_TCP" "S1R2_HOST=$HOST" "S1R2_PORT=$CH2_TCP" \
                "S2R1_HOST=$HOST" "S2R1_PORT=$CH3_TCP" "S2R2_HOST=$HOST" "S2R2_PORT=$CH4_TCP" \
                "ZK_HOST=$HOST" "ZK_PORT=$ZK" "SPOOR_PASSWORD=$pw"
        )
    done
}

# --- up ----------------------------------------------------------------------------------

start_zookeeper() {
    alive "$STATE/zk/pid" QuorumPeerMain && return 0
    [ -f /usr/share/java/zookeeper.jar ] || die "ZooKeeper is not installed: run scripts/setup.sh"
    java -Xms32m -Xmx256m -XX:+UseSerialGC -Dzookeeper.log.dir="$STATE/zk" -cp "$ZK_JARS" \
        org.apache.zookeeper.server.quorum.QuorumPeerMain "$STATE/zk/zoo.cfg" \
        </dev/null >"$STATE/zk/zookeeper.log" 2>&1 &
    echo $! >"$STATE/zk/pid"
}

start_clickhouse() {
    local n=$1 d=$STATE/ch$1
    alive "$d/pid" clickhouse && return 0
    [ -x "$CLICKHOUSE_SERVER" ] || die "clickhouse-server is not installed: run scripts/setup.sh"
    "$CLICKHOUSE_SERVER" --config-file="$d/config.xml" </dev/null >"$d/log/stdout.log" 2>&1 &
    echo $! >"$d/pid"
}

collector_binary() {
    local bin=${SPOOR_COLLECTOR_BIN:-$ROOT/target/release/spoor-collector}
    if [ ! -x "$bin" ] && [ -z "${SPOOR_COLLECTOR_BIN:-}" ]; then
        log "building the release collector, as scripts/run.sh does (the first time takes minutes)"
        {
            scripts/setup.sh
            scripts/build-beacon.sh && scripts/build-dashboard.sh
            PATH="$HOME/.cargo/bin:$PATH" cargo build --release --quiet -p spoor-collector
        } >&2
    fi
    [ -x "$bin" ] || die "no collector binary at $bin"
    echo "$bin"
}

# The collectors' binary, its --help, and the --peers list, set by prepare_collectors.
BIN=
HELP=
PEERS=

prepare_collectors() {
    local i port peers=()
    BIN=$(collector_binary)
    HELP=$("$BIN" --help 2>&1 || true)
    if [ "$SQLITE" = 0 ]; then
        for flag in --store --clickhouse-cluster; do
            [[ $HELP == *"$flag "* ]] ||
                die "$BIN has no $flag flag yet (the ClickHouse store has not landed): use --no-collectors, or --sqlite for the nginx and collector half"
        done
    fi
    [[ $HELP == *"--peers "* ]] ||
        log "warning: $BIN has no --peers flag yet (routing each visitor to one collector has not landed): each collector resolves visitors on its own"
    secret_file "$STATE/admin-token" "${SPOOR_ADMIN_TOKEN:-}"
    for i in $(seq 1 "$COLLECTORS"); do
        port=COLLECTOR$i
        peers+=("http://$HOST:${!port}")
    done
    PEERS=$(
        IFS=,
        echo "${peers[*]}"
    )
}

start_collector() {
    local i=$1 d=$STATE/collector$1 port=COLLECTOR$1 n h store=() args
    mkdir -p "$d"
    alive "$d/pid" "$(basename "$BIN")" && return 0
    args=(--listen "$HOST:${!port}" --admin-token-file "$STATE/admin-token"
        --trusted-proxies "$HOST/32")
    if [ "$SQLITE" = 1 ]; then
        args+=(--db "$d/spoor.db")
    else
        # Each collector lists the four servers starting from a different one, so that the
        # collectors spread over the cluster and fail over to the next server.
        for n in 0 1 2 3; do
            h=CH$(((i - 1 + n) % 4 + 1))_HTTP
            store+=("http://$HOST:${!h}/spoor")
        done
        args+=(--store "clickhouse:$(
            IFS=,
            echo "${store[*]}"
        )" --clickhouse-cluster spoor)
    fi
    [[ $HELP == *"--peers "* ]] && args+=(--peers "$PEERS" --peer-self "http://$HOST:${!port}")
    # The admin token reaches the collectors through its file alone (a collector refuses
    # to be given it twice).
    env -u SPOOR_ADMIN_TOKEN SPOOR_CLICKHOUSE_USER=spoor SPOOR_CLICKHOUSE_PASSWORD="$(password)" \
        "$BIN" "${args[@]}" </dev/null >"$d/collector.log" 2>&1 &
    echo $! >"$d/pid"
}

wait_collector() {
    local i=$1 port=COLLECTOR$1
    wait_for 60 "$STATE/collector$i/pid" http_ok "http://$HOST:${!port}/healthz" || {
        tail -n 20 "$STATE/collector$i/collector.log" >&2
        die "collector $i did not answer /healthz on $HOST:${!port}"
    }
}

start_nginx() {
    local d=$STATE/nginx i port servers=""
    mkdir -p "$d"
    for i in $(seq 1 "$COLLECTORS"); do
        port=COLLECTOR$i
        servers+="        server $HOST:${!port} max_fails=1 fail_timeout=5s;"$'\n'
    done
    # access_log off and the error log at crit: nginx would write each client's address
    # there, and Spoor never writes a raw IP to disk.
    cat >"$d/nginx.conf" <<EOF
# Rendered by scripts/cluster.sh: round-robin over the collectors, no stickiness.
daemon off;
worker_processes 1;
pid $d/nginx.pid;
error_log $d/error.log crit;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path $d/body;
    proxy_temp_path $d/proxy;
    fastcgi_temp_path $d/fastcgi;
    uwsgi_temp_path $d/uwsgi;
    scgi_temp_path $d/scgi;
    upstream spoor_collectors {
$servers        keepalive 32;
    }
    server {
        listen $HOST:$FRONT;
        client_max_body_size 1m;
        location / {
            proxy_pass http://spoor_collectors;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host \$http_host;
            proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
            # A collector that is down (refused, reset, timed out) passes the request to the
            # next one. POST /collect is safe to send again (event ids deduplicate), hence
            # non_idempotent; a 503 (queue full, store down) goes back to the client, whose
            # beacon retries later.
            proxy_connect_timeout 1s;
            proxy_next_upstream error timeout non_idempotent;
            proxy_next_upstream_tries $COLLECTORS;
            proxy_next_upstream_timeout 10s;
        }
    }
}
EOF
    alive "$d/pid" nginx && { kill -HUP "$(cat "$d/pid")" && return 0; }
    [ -x "$NGINX" ] || die "nginx is not installed: run scripts/setup.sh"
    "$NGINX" -p "$d" -c "$d/nginx.conf" </dev/null >"$d/stdout.log" 2>&1 &
    echo $! >"$d/pid"
}

up() {
    local n i port
    ensure_ports
    render_clickhouse
    start_zookeeper
    wait_for 60 "$STATE/zk/pid" zk_ready || {
        tail -n 20 "$STATE/zk/zookeeper.log" >&2
        die "ZooKeeper did not answer srvr on $HOST:$ZK (is the port taken? see $STATE/zk/zookeeper.log)"
    }
    for n in 1 2 3 4; do start_clickhouse "$n"; done
    for n in 1 2 3 4; do
        port=CH${n}_HTTP
        wait_for 60 "$STATE/ch$n/pid" ch_ready "${!port}" || {
            tail -n 20 "$STATE/ch$n/log/clickhouse-server.err.log" "$STATE/ch$n/log/stdout.log" >&2 || true
            die "ClickHouse server $n did not answer /ping on $HOST:${!port} (is a port taken? see $STATE/ch$n/log/)"
        }
    done
    if [ "$WITH_COLLECTORS" = 1 ]; then
        prepare_collectors
        # The first alone: it runs the store's migrations (ON CLUSTER) before the others
        # start and find them done.
        start_collector 1
        wait_collector 1
        for i in $(seq 2 "$COLLECTORS"); do start_collector "$i"; done
        for i in $(seq 2 "$COLLECTORS"); do wait_collector "$i"; done
        start_nginx
        wait_for 20 "$STATE/nginx/pid" http_ok "http://$HOST:$FRONT/healthz" ||
            die "nginx did not answer on $HOST:$FRONT (see $STATE/nginx/)"
    fi
    print_urls
}

print_urls() {
    local n i port
    echo "Spoor cluster is up; state, configs and logs in $STATE/"
    if [ "$WITH_COLLECTORS" = 1 ]; then
        echo "  front (nginx, round-robin):  http://$HOST:$FRONT/"
        echo "  dashboard:                   http://$HOST:$FRONT/dashboard/  (paste the admin token in $STATE/admin-token;"
        echo "                               a collector's one-time sign-in link, in its log, works at its own URL only)"
        for i in $(seq 1 "$COLLECTORS"); do
            port=COLLECTOR$i
            echo "  collector $i:                 http://$HOST:${!port}/  (log: $STATE/collector$i/collector.log)"
        done
    fi
    for n in 1 2 3 4; do
        port=CH${n}_HTTP
        echo "  ClickHouse shard $(((n + 1) / 2)) replica r$(((n + 1) % 2 + 1)):  http://$HOST:${!port}/  (log: $STATE/ch$n/log/)"
    done
    echo "  ClickHouse user spoor, password in $STATE/clickhouse-password"
    echo "  ZooKeeper:                   $HOST:$ZK  (log: $STATE/zk/zookeeper.log)"
}

# --- down, status ------------------------------------------------------------------------

down() {
    # The front first, then the collectors (which drain what they acknowledged into
    # ClickHouse), then ClickHouse, then ZooKeeper.
    stop_all "$STATE/nginx/pid"
    stop_all "$STATE"/collector*/pid
    stop_all "$STATE"/ch*/pid
    stop_all "$STATE/zk/pid"
    log "stopped; the data stays in $STATE/"
}

status() {
    local f name pid rss answer port n i
    load_ports || {
        echo "no cluster in $STATE"
        return 0
    }
    show() { # show NAME PIDFILE PATTERN ANSWER
        pid=$(cat "$2" 2>/dev/null || true)
        if alive "$2" "$3"; then
            rss=$(awk '/VmRSS/ { printf "%d MB", $2 / 1024 }' "/proc/$pid/status" 2>/dev/null)
            printf '%-14s pid %-8s %-8s %-10s %s\n' "$1" "$pid" running "$rss" "$4"
        else
            printf '%-14s %-12s %s\n' "$1" "" stopped
        fi
    }
    answer=$(zk_ready && echo "srvr: Mode ok, $HOST:$ZK" || echo "no answer on $HOST:$ZK")
    show zookeeper "$STATE/zk/pid" QuorumPeerMain "$answer"
    for n in 1 2 3 4; do
        port=CH${n}_HTTP
        answer=$(ch_ready "${!port}" && echo "ping Ok. http://$HOST:${!port}/" || echo "no answer on ${!port}")
        show "clickhouse$n" "$STATE/ch$n/pid" clickhouse "$answer"
    done
    for f in "$STATE"/collector*/pid; do
        [ -e "$f" ] || continue
        i=${f%/pid}
        i=${i##*collector}
        port=COLLECTOR$i
        answer=$(http_ok "http://$HOST:${!port:-0}/healthz" && echo "healthz ok http://$HOST:${!port}/" || echo "no answer")
        show "collector$i" "$f" spoor-collector "$answer"
    done
    if [ -e "$STATE/nginx/pid" ]; then
        answer=$(http_ok "http://$HOST:$FRONT/healthz" && echo "front http://$HOST:$FRONT/" || echo "no answer")
        show nginx "$STATE/nginx/pid" nginx "$answer"
    fi
}

case $cmd in
up) up ;;
down) down ;;
status) status ;;
*) usage ;;
esac
