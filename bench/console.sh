#!/usr/bin/env bash
# Server-side render time of each console page at scale, for BENCHMARKS.md: PROBES probes
# (http probes every 60 s of a local target, one in ten failing, each with 30 days of uptime
# counts and a day of results seeded into the store) and REPORTS stored reports. Each page is fetched RUNS times; the
# time is the page's own `Server-Timing: render;dur=` (handler and rendering, not the
# network), and the bytes are the page's size.
#
#   bench/console.sh [PROBES] [REPORTS] [RUNS]
#
# Needs target/release/assay and plugins.d/ (`cargo xtask build`), python3 and curl.
set -euo pipefail
cd "$(dirname "$0")/.."
PROBES=${1:-2000}
REPORTS=${2:-100000}
RUNS=${3:-20}
BIN=$PWD/${BIN:-target/release/assay}
. bench/lib.sh
work=$(mktemp -d)
trap 'kill $server $target 2>/dev/null || true; rm -rf "$work"' EXIT
port=18431
python3 -m http.server 18432 --bind 127.0.0.1 --directory "$work" >/dev/null 2>&1 &
target=$!
mkdir -p "$work/plugins"
cp plugins.d/http.wasm plugins.d/required-fields.wasm "$work/plugins/"
{
    printf '[server]\nlisten = "127.0.0.1:%s"\n[plugins]\ndir = "%s/plugins"\n' "$port" "$work"
    printf '[storage]\npath = "%s/data/assay.db"\n[probes]\nretention_hours = 48\n' "$work"
    # Every tenth probe's target refuses connections: 10% fail, and each raises an alert.
    for i in $(seq 0 $((PROBES - 1))); do
        t=$((i % 10 == 0 ? 18433 : 18432))
        printf '[[probe]]\nname = "p%04d"\nplugin = "http"\ninterval = "60s"\nallow_http = ["127.0.0.1:%s"]\nconfig = %s\n' \
            "$i" "$t" "'{\"url\": \"http://127.0.0.1:$t/\"}'"
    done
} > "$work/assay.toml"
start_assay "$work/assay.toml" "$port"
kill "$server"; wait "$server" 2>/dev/null || true
python3 bench/console.py "$work/data/assay.db" "$PROBES" "$REPORTS"
start_assay "$work/assay.toml" "$port"
# Every probe runs once (they start spread over their interval).
sleep 65
probe=p0000
report=$(curl -fs "127.0.0.1:$port/v1/reports?limit=1&verdict=fail" | python3 -c 'import json,sys; print(json.load(sys.stdin)["reports"][0]["id"])')
echo "machine: $(nproc) vCPU, $(date -u +%Y-%m-%dT%H:%MZ); $PROBES probes, $REPORTS reports, $RUNS runs each"
printf '%-34s %10s %10s %10s %10s\n' page median_ms p95_ms max_ms bytes
for path in / "/probes" "/probes?page=20" "/probes/$probe" "/reports" "/reports?verdict=fail" \
            "/reports/$report" /plugins /alerts /status "/badge/probe/$probe/uptime.svg?window=30d" \
            /metrics /v1/metrics; do
    for _ in $(seq 1 "$RUNS"); do
        curl -s -o "$work/body" -D - "127.0.0.1:$port$path" | tr -d '\r' \
            | sed -n 's/^server-timing: render;dur=//p'
    done > "$work/times"
    bytes=$(stat -c %s "$work/body")
    sort -n "$work/times" | python3 -c '
import sys
t = [float(x) for x in sys.stdin.read().split()]
if not t:
    print("no Server-Timing header"); sys.exit(1)
pick = lambda q: t[min(len(t) - 1, int(q * len(t)))]
print(f"{sys.argv[1]:<34} {pick(0.5):>10.1f} {pick(0.95):>10.1f} {t[-1]:>10.1f} {sys.argv[2]:>10}")' "$path" "$bytes"
done
