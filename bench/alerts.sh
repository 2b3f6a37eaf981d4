#!/usr/bin/env bash
# Alerting throughput, for BENCHMARKS.md:
#  1. routed and persisted: N distinct alerts POSTed to /v1/alerts (batches of B, C
#     clients at once), each routed through the shipped `severity-routes` router plugin
#     and committed to SQLite before the answer; then the time until every alert's
#     notification is in the durable outbox (the channel's receiver is down).
#  2. delivered: assay restarted with the receiver up (a keep-alive HTTP/1.1 responder
#     in Python asyncio); the time until the N stored notifications are delivered.
#  3. Alertmanager's API: the same N alerts, in Alertmanager's JSON and in batches of
#     AM_BATCH (Prometheus sends at most 64 per request), POSTed to assay's /api/v2/alerts
#     (a fresh database), routed and committed before each answer as in 1.
#  4. the peer: the same batches POSTed to a real Prometheus Alertmanager's
#     /api/v2/alerts (in memory, no plugin), when it is installed: at BATCH as in 1, and
#     at AM_BATCH as in 3.
#
#   bench/alerts.sh [N] [BATCH] [CLIENTS]      # AM_BATCH=64
#   DUMP_METRICS=1 bench/alerts.sh     # also prints the plugin call and refusal metrics
#
# Needs: target/release/assay and plugins.d/severity-routes.wasm (cargo xtask build),
# curl, python3; prometheus-alertmanager (apt) for the peer figure.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-20000}
BATCH=${2:-200}
CLIENTS=${3:-8}
AM_BATCH=${AM_BATCH:-64}
BIN=${BIN:-target/release/assay}
source bench/lib.sh
work=$(mktemp -d)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null; rm -rf "$work"' EXIT
mkdir -p "$work/plugins"
cp plugins.d/severity-routes.wasm "$work/plugins/"
RECEIVER_PORT=18191

cat > "$work/assay.toml" <<TOML
[server]
listen = "127.0.0.1:18190"
max_body_bytes = 10485760
[plugins]
dir = "$work/plugins"
[storage]
path = "$work/assay.db"
[alerting]
group_wait = "1s"
group_interval = "5m"
breaker_failures = 1
breaker_cooldown = "1h"
[[channel]]
name = "hook"
type = "webhook"
url = "http://127.0.0.1:$RECEIVER_PORT/hook"
concurrency = 64
[[router]]
plugin = "severity-routes"
[router.config]
default = ["hook"]
[[router.config.rules]]
matchers = ['team="db"', 'env!~"dev|test"']
channels = ["hook"]
[[router.config.rules]]
min_severity = "critical"
channels = ["hook"]
repeat_interval = "30m"
TOML

# The driver: POST N distinct alerts in batches from CLIENTS threads; prints alerts/s.
cat > "$work/post.py" <<'PY'
import http.client, json, sys, threading, time
host, port, path, n, batch, clients, prefix = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6]), sys.argv[7]
am = path.startswith("/api/v2")
def body(start):
    alerts = []
    for i in range(start, min(start + batch, n)):
        labels = {"host": f"h{i}", "team": "db" if i % 3 == 0 else "web", "env": "prod"}
        if am:
            labels["alertname"] = f"{prefix}{i}"
            alerts.append({"labels": labels, "annotations": {"summary": f"alert {i}"}})
        else:
            alerts.append({"name": f"{prefix}{i}", "severity": "critical" if i % 10 == 0 else "warning",
                           "summary": f"alert {i}", "labels": labels})
    return json.dumps(alerts if am else {"alerts": alerts})
starts = list(range(0, n, batch))
lock = threading.Lock()
errors = []
def work():
    c = http.client.HTTPConnection(host, port, timeout=120)
    while True:
        with lock:
            if not starts:
                return
            s = starts.pop()
        c.request("POST", path, body(s), {"content-type": "application/json"})
        r = c.getresponse()
        r.read()
        if r.status not in (200, 202):
            errors.append(r.status)
t0 = time.perf_counter()
ts = [threading.Thread(target=work) for _ in range(clients)]
for t in ts: t.start()
for t in ts: t.join()
dt = time.perf_counter() - t0
if errors:
    sys.exit(f"{len(errors)} requests failed: {errors[:5]}")
print(f"{n / dt:.0f} {dt:.2f}")
PY

# The receiver: HTTP/1.1 keep-alive, answers 200 {} to everything, counts requests.
cat > "$work/receiver.py" <<'PY'
import asyncio, sys
count = 0
async def handle(reader, writer):
    global count
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            if length:
                await reader.readexactly(length)
            count += 1
            writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\ncontent-type: application/json\r\n\r\n{}")
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    writer.close()
async def report():
    while True:
        await asyncio.sleep(0.2)
        with open(sys.argv[2], "w") as f:
            f.write(str(count))
async def main():
    server = await asyncio.start_server(handle, "127.0.0.1", int(sys.argv[1]), backlog=1024)
    asyncio.get_running_loop().create_task(report())
    async with server:
        await server.serve_forever()
asyncio.run(main())
PY

metric() { # metric NAME_WITH_LABELS: its value (0 if absent)
    curl -s 127.0.0.1:18190/metrics | awk -v m="$1" '$1 == m {print $2; found=1} END {if (!found) print 0}'
}
now() { date +%s.%N; }

echo "== 1. $N alerts routed through severity-routes and persisted ($BATCH per request, $CLIENTS clients)"
start_assay "$work/assay.toml" 18190
pids+=("$server")
# The router runs from its prepared snapshot once that is built (seconds, in the background);
# ASSAY_RUNTIME__SNAPSHOTS=false measures the plain path instead.
[ "${ASSAY_RUNTIME__SNAPSHOTS:-true}" = false ] || await_snapshots 18190 severity-routes
t0=$(now)
read -r rate secs < <(python3 "$work/post.py" 127.0.0.1 18190 /v1/alerts "$N" "$BATCH" "$CLIENTS" Bench)
echo "   accepted (routed, alert state committed): $rate alerts/s ($secs s)"
# group_wait (1 s) later, each alert's notification goes to the outbox.
for _ in $(seq 1 600); do
    depth=$(metric 'assay_outbox_depth{channel="hook"}')
    [ "${depth%.*}" -ge "$N" ] && break
    sleep 0.1
done
t1=$(now)
echo "   in the outbox: $depth notifications, $(python3 -c "print(f'{$N / ($t1 - $t0):.0f}')") alerts/s from the first POST to the last outbox row (includes group_wait 1 s)"
calls=$(metric 'assay_router_calls_total{outcome="ok",router="severity-routes"}')
failed=$(metric 'assay_router_calls_total{outcome="failed",router="severity-routes"}')
echo "   router calls: $calls ok, $failed failed (refused when the router's slots were all busy; the default routing took those); RSS $(awk '/VmRSS/ {print $2 / 1024 " MiB"}' /proc/$server/status)"
[ -n "${DUMP_METRICS:-}" ] && curl -s 127.0.0.1:18190/metrics | grep -E "^assay_plugin_(rejected|refusal|calls)" | head -20
kill "$server"; wait "$server" 2>/dev/null || true

echo "== 2. the $N stored notifications delivered to a local webhook receiver after a restart"
python3 "$work/receiver.py" "$RECEIVER_PORT" "$work/received" &
pids+=($!)
sleep 0.5
start_assay "$work/assay.toml" 18190
pids+=("$server")
t0=$(now)
for _ in $(seq 1 1200); do
    got=$(cat "$work/received" 2>/dev/null || true); got=${got:-0}
    [ "$got" -ge "$N" ] && break
    sleep 0.05
done
t1=$(now)
delivered=$(metric 'assay_notifications_total{channel="hook",outcome="delivered"}')
echo "   $got requests received, $delivered marked delivered: $(python3 -c "print(f'{$got / ($t1 - $t0):.0f}')") notifications/s (from ready to the last received)"
[ -n "${DUMP_METRICS:-}" ] && curl -s 127.0.0.1:18190/metrics | grep -E "^assay_plugin_(rejected|refusal|calls)" | head -20
kill "$server"; wait "$server" 2>/dev/null || true

echo "== 3. the same $N alerts through assay's Alertmanager API (/api/v2/alerts, $AM_BATCH per request, $CLIENTS clients)"
sed "s|$work/assay.db|$work/assay-am.db|" "$work/assay.toml" > "$work/assay-am.toml"
start_assay "$work/assay-am.toml" 18190
pids+=("$server")
[ "${ASSAY_RUNTIME__SNAPSHOTS:-true}" = false ] || await_snapshots 18190 severity-routes
read -r rate secs < <(python3 "$work/post.py" 127.0.0.1 18190 /api/v2/alerts "$N" "$AM_BATCH" "$CLIENTS" Bench)
echo "   assay /api/v2/alerts (routed, alert state committed): $rate alerts/s ($secs s)"
kill "$server"; wait "$server" 2>/dev/null || true

echo "== 4. peer: the same alerts POSTed to Prometheus Alertmanager's /api/v2/alerts"
if command -v prometheus-alertmanager >/dev/null 2>&1; then
    cat > "$work/am.yml" <<YML
route:
  receiver: none
receivers:
  - name: none
YML
    prometheus-alertmanager --config.file="$work/am.yml" --storage.path="$work/am" \
        --web.listen-address=127.0.0.1:18192 --cluster.listen-address= >/dev/null 2>&1 &
    pids+=($!)
    for _ in $(seq 1 100); do curl -fs 127.0.0.1:18192/-/ready >/dev/null 2>&1 && break; sleep 0.1; done
    version=$(prometheus-alertmanager --version 2>&1 | head -1 | awk '{print $3}')
    read -r rate secs < <(python3 "$work/post.py" 127.0.0.1 18192 /api/v2/alerts "$N" "$BATCH" "$CLIENTS" Bench)
    echo "   Alertmanager $version, $BATCH per request: $rate alerts/s ($secs s)"
    read -r rate secs < <(python3 "$work/post.py" 127.0.0.1 18192 /api/v2/alerts "$N" "$AM_BATCH" "$CLIENTS" Other)
    echo "   Alertmanager $version, $AM_BATCH per request: $rate alerts/s ($secs s)"
else
    echo "   skipped: prometheus-alertmanager is not installed (apt-get install prometheus-alertmanager)"
fi
