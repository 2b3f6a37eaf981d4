#!/usr/bin/env bash
# Load benchmark of `assay serve`: POST /v1/validate at `minimal` with the trivial validator
# against GET /health on the same server, in the same run, with wrk. Also samples the
# server's resident memory during a 60 s validate run to show it stays flat.
#
# Needs: wrk (apt-get install wrk), and `cargo xtask test` (or build) having built
# target/release/assay and target/test-plugins/trivial.wasm.
#
#   bench/load.sh                # defaults: 2 wrk threads... see the variables below
#   DURATION=10 bench/load.sh    # shorter runs
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh

DURATION=${DURATION:-20}        # seconds per throughput run
MEMORY_RUN=${MEMORY_RUN:-60}    # seconds of the memory run
CONNECTIONS=${CONNECTIONS:-16}
THREADS=${THREADS:-1}           # wrk threads: 2 cores are shared by wrk and assay
PORT=${PORT:-18181}
BIN=${ASSAY_BIN:-target/release/assay}
PLUGIN=${TRIVIAL:-target/test-plugins/trivial.wasm}

command -v wrk >/dev/null || { echo "wrk is not installed: apt-get install wrk" >&2; exit 2; }
[ -x "$BIN" ] && [ -f "$PLUGIN" ] || { echo "build first: cargo xtask test (needs $BIN and $PLUGIN)" >&2; exit 2; }

work=$(mktemp -d)
trap 'kill $server 2>/dev/null || true; wait $server 2>/dev/null || true; rm -rf "$work"' EXIT
mkdir "$work/plugins.d"
cp "$PLUGIN" "$work/plugins.d/trivial.wasm"
cat > "$work/assay.toml" <<TOML
[server]
listen = "127.0.0.1:$PORT"
max_concurrent_validations = 1024
[plugins]
dir = "$work/plugins.d"
[storage]
path = "$work/data/assay.db"
[validation.cache]
enabled = ${CACHE:-false}
TOML
cat > "$work/validate.lua" <<'LUA'
wrk.method = "POST"
wrk.body = '{"id": "a-record", "name": "benchmark"}'
wrk.headers["Content-Type"] = "application/json"
LUA

start_assay "$work/assay.toml" "$PORT"

# wrk's summary: requests/s and the 50/99th percentile latency.
run() { # name, extra wrk args...
    local name=$1; shift
    local out
    out=$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"${DURATION}s" --latency "$@")
    local rps p50 p99 errors
    rps=$(awk '/^Requests\/sec/ {print $2}' <<<"$out")
    p50=$(awk '$1 == "50%" {print $2}' <<<"$out")
    p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
    errors=$(grep -E 'Non-2xx|Socket errors' <<<"$out" | tr '\n' ' ' || true)
    printf '%-34s %12s req/s   p50 %8s   p99 %8s   %s\n' "$name" "$rps" "$p50" "$p99" "${errors:-no errors}"
    echo "$rps" > "$work/$name.rps"
}

echo "assay load benchmark: $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, wrk -t$THREADS -c$CONNECTIONS -d${DURATION}s, cache=${CACHE:-false}"
wrk -t1 -c4 -d2s "http://127.0.0.1:$PORT/health" >/dev/null   # warm-up
run health "http://127.0.0.1:$PORT/health"
run validate-minimal -s "$work/validate.lua" "http://127.0.0.1:$PORT/v1/validate?level=minimal&name=bench.json"
awk -v v="$(cat "$work/validate-minimal.rps")" -v h="$(cat "$work/health.rps")" \
    'BEGIN { printf "validate / health throughput: %.2f\n", v / h }'

echo "memory during a ${MEMORY_RUN}s validate run (RSS, MiB):"
wrk -t"$THREADS" -c"$CONNECTIONS" -d"${MEMORY_RUN}s" -s "$work/validate.lua" \
    "http://127.0.0.1:$PORT/v1/validate?level=minimal&name=bench.json" >/dev/null &
load=$!
samples=""
for _ in $(seq 0 5 "$MEMORY_RUN"); do
    rss=$(awk '/^VmRSS/ {printf "%.1f", $2 / 1024}' "/proc/$server/status")
    samples="$samples $rss"
    sleep 5
done
wait $load || true
echo " $samples"
echo "reports stored: $(curl -fs "http://127.0.0.1:$PORT/metrics" | awk '/^assay_reports_stored_total/ {print $2}')"
