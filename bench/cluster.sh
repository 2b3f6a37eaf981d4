#!/usr/bin/env bash
# Replicas on PostgreSQL against the embedded SQLite, for BENCHMARKS.md. Four set-ups, in
# the same run on the same machine: SQLite (one replica), and PostgreSQL with 1, 2 and 3
# replicas of `assay serve` sharing one database. For each:
#  - validations/s: POST /v1/validate at `minimal` with the trivial validator, the result
#    cache off, so that every request stores its report (wrk, one per replica, the
#    connections split between them);
#  - alerts/s: N distinct alerts POSTed in batches of B to /v1/alerts, round-robin over the
#    replicas by C clients; counted when answered 202 (committed: the alert state on the
#    replica deciding it, the durable inbox on the others), and the time until the last one
#    is in the alert state.
# PostgreSQL is a throwaway server of the script's own (initdb in a temporary directory,
# fsync on, as the `postgres` user when run as root), on this machine.
#
#   bench/cluster.sh                 # DURATION=10 N=6000 B=100 C=4
#
# Needs: wrk, python3, PostgreSQL (Debian's postgresql), target/release/assay and
# target/test-plugins/trivial.wasm (cargo xtask test builds them).
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh

DURATION=${DURATION:-10}
CONNECTIONS=${CONNECTIONS:-16}
N=${N:-6000}
B=${B:-100}
C=${C:-4}
BIN=${ASSAY_BIN:-target/release/assay}
PLUGIN=${TRIVIAL:-target/test-plugins/trivial.wasm}
PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)

command -v wrk >/dev/null || { echo "wrk is not installed: apt-get install wrk" >&2; exit 2; }
[ -n "$PGBIN" ] || { echo "PostgreSQL is not installed: apt-get install postgresql" >&2; exit 2; }
[ -x "$BIN" ] && [ -f "$PLUGIN" ] || { echo "build first: cargo xtask test (needs $BIN and $PLUGIN)" >&2; exit 2; }

work=$(mktemp -d /tmp/assay-bench-cluster.XXXXXX)
servers=()
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
stop_servers() { kill "${servers[@]}" 2>/dev/null || true; wait "${servers[@]}" 2>/dev/null || true; servers=(); }
trap 'stop_servers; as_pg "$PGBIN/pg_ctl" -D "$work/pg" -m immediate stop >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
[ "$(id -u)" = 0 ] && chown postgres: "$work"
PGPORT=18350
as_pg "$PGBIN/initdb" -A trust -U assay -E UTF8 -D "$work/pg" >/dev/null
printf "port = $PGPORT\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '$work'\nmax_connections = 200\n" >> "$work/pg/postgresql.conf"
as_pg "$PGBIN/pg_ctl" -D "$work/pg" -l "$work/pg.log" -w start >/dev/null
mkdir "$work/plugins.d"
cp "$PLUGIN" "$work/plugins.d/trivial.wasm"
validate_lua "$work"

# config NAME PORT STORAGE-LINES: one replica's assay.toml.
config() {
    cat > "$work/$1.toml" <<TOML
[server]
listen = "127.0.0.1:$2"
max_concurrent_validations = 1024
max_body_bytes = 10485760
[plugins]
dir = "$work/plugins.d"
[validation.cache]
enabled = false
[alerting]
group_wait = "1s"
[cluster]
node = "$1"
[storage]
$3
TOML
}

# run_setup LABEL REPLICAS STORAGE-LINES: starts the replicas, measures, stops them.
run_setup() {
    local label=$1 replicas=$2 storage=$3 ports=()
    for i in $(seq 1 "$replicas"); do
        local port=$((18360 + i))
        config "$label-$i" "$port" "$storage"
        start_assay "$work/$label-$i.toml" "$port"
        servers+=("$server")
        ports+=("$port")
    done
    # Validations: one wrk per replica, the connections split between them.
    local per=$((CONNECTIONS / replicas)) wrks=()
    for port in "${ports[@]}"; do
        wrk -t1 -c"$per" -d"${DURATION}s" -s "$work/validate.lua" \
            "http://127.0.0.1:$port/v1/validate?level=minimal&name=bench.json" > "$work/wrk-$port.out" &
        wrks+=($!)
    done
    wait "${wrks[@]}"
    local vps
    vps=$(cat "$work"/wrk-*.out | awk '/^Requests\/sec/ {s += $2} END {printf "%.0f", s}')
    local errors
    errors=$(cat "$work"/wrk-*.out | grep -E 'Non-2xx|Socket errors' | tr '\n' ' ' || true)
    rm -f "$work"/wrk-*.out
    # Alerts.
    local aps
    aps=$(python3 - "$N" "$B" "$C" "${ports[@]}" <<'PY'
import json, sys, threading, time, urllib.request
n, b, c = map(int, sys.argv[1:4]); ports = sys.argv[4:]
batches = [[{"name": f"Bench{i}x{j}", "severity": "warning"} for j in range(b)] for i in range(n // b)]
lock = threading.Lock(); accepted = [0]; refused = [0]
def post(k, alerts):
    req = urllib.request.Request(f"http://127.0.0.1:{ports[k % len(ports)]}/v1/alerts",
        data=json.dumps({"alerts": alerts}).encode(), headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            ok = r.status == 202
    except Exception:
        ok = False
    with lock:
        (accepted if ok else refused)[0] += len(alerts) if ok else 1
def client(i):
    for k in range(i, len(batches), c):
        post(k, batches[k])
t0 = time.monotonic()
ts = [threading.Thread(target=client, args=(i,)) for i in range(c)]
[t.start() for t in ts]; [t.join() for t in ts]
took = time.monotonic() - t0
# Until the replica deciding alert state holds every alert.
def active():
    with urllib.request.urlopen(f"http://127.0.0.1:{ports[0]}/v1/alerts", timeout=60) as r:
        return len(json.load(r)["alerts"])
while active() < accepted[0] and time.monotonic() - t0 < 300:
    time.sleep(0.2)
settled = time.monotonic() - t0
print(f"{accepted[0] / took:.0f} {settled:.1f} {refused[0]}")
PY
)
    stop_servers
    read -r rate settled refused <<<"$aps"
    printf '%-16s %8s validations/s   %8s alerts/s accepted   all %s alerts in the state after %5s s   %s\n' \
        "$label" "$vps" "$rate" "$N" "$settled" "${errors:-no errors}${refused:+, $refused batches refused}"
}

echo "assay replicas benchmark: $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB," \
     "PostgreSQL $("$PGBIN/postgres" --version | awk '{print $3}') (fsync on), wrk -c$CONNECTIONS -d${DURATION}s, alerts N=$N B=$B C=$C"
run_setup sqlite 1 "path = \"$work/sqlite/assay.db\""
for r in 1 2 3; do
    as_pg "$PGBIN/dropdb" -h 127.0.0.1 -p "$PGPORT" -U assay --if-exists assay >/dev/null
    as_pg "$PGBIN/createdb" -h 127.0.0.1 -p "$PGPORT" -U assay assay
    run_setup "postgres-$r" "$r" "url = \"postgres://assay@127.0.0.1:$PGPORT/assay\""
done
