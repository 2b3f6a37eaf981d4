#!/usr/bin/env bash
# Load benchmark of `assay serve`: POST /v1/validate at `minimal` with the trivial validator
# against GET /health on the same server, in the same run, with wrk; then the same two over
# HTTPS (`[server.tls]`, an ECDSA P-256 certificate from a throwaway CA) against plain HTTP,
# on kept-alive connections and with a new connection for every request (the handshake's
# cost); and validate with every span exported over OTLP (`[telemetry]`, 100% sampling)
# against tracing off. Also samples the server's resident memory during a 60 s validate run.
#
# Needs: wrk and openssl (apt-get install wrk openssl), and `cargo xtask test` (or build)
# having built target/release/assay and target/test-plugins/trivial.wasm.
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
command -v openssl >/dev/null || { echo "openssl is not installed: apt-get install openssl" >&2; exit 2; }
[ -x "$BIN" ] && [ -f "$PLUGIN" ] || { echo "build first: cargo xtask test (needs $BIN and $PLUGIN)" >&2; exit 2; }

work=$(mktemp -d)
tls_server=""
trap 'kill $server $tls_server 2>/dev/null || true; wait $server $tls_server 2>/dev/null || true; rm -rf "$work"' EXIT
mkdir "$work/plugins.d"
cp "$PLUGIN" "$work/plugins.d/trivial.wasm"
validate_bench "$work" "$PORT" "${CACHE:-false}"

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

# The same over TLS: a second server with [server.tls], the plain one idle beside it.
TLS_PORT=$((PORT + 1))
( cd "$work"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key -out ca.pem \
      -days 1 -subj "/CN=bench CA" 2>/dev/null
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout server.key -out server.csr \
      -subj "/CN=localhost" 2>/dev/null
  printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' > server.ext
  openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.pem \
      -days 1 -extfile server.ext 2>/dev/null )
sed -e "s/127.0.0.1:$PORT/127.0.0.1:$TLS_PORT/" -e "s|$work/data|$work/tls-data|" "$work/assay.toml" > "$work/tls.toml"
printf '[server.tls]\ncert = "%s"\nkey = "%s"\n' "$work/server.pem" "$work/server.key" >> "$work/tls.toml"
plain_server=$server
start_assay "$work/tls.toml" "$TLS_PORT" https
tls_server=$server
server=$plain_server
wrk -t1 -c4 -d2s "https://127.0.0.1:$TLS_PORT/health" >/dev/null   # warm-up
# Plain and TLS alternate, ROUNDS times, so that drift on a shared machine hits both alike;
# the ratio reported is the median over the rounds.
ROUNDS=${ROUNDS:-3}
saved=$DURATION; DURATION=${TLS_DURATION:-10}
for round in $(seq 1 "$ROUNDS"); do
    echo "round $round of $ROUNDS (${DURATION}s a phase)"
    run "health.$round" "http://127.0.0.1:$PORT/health"
    run "health-tls.$round" "https://127.0.0.1:$TLS_PORT/health"
    run "validate-minimal.$round" -s "$work/validate.lua" "http://127.0.0.1:$PORT/v1/validate?level=minimal&name=bench.json"
    run "validate-minimal-tls.$round" -s "$work/validate.lua" "https://127.0.0.1:$TLS_PORT/v1/validate?level=minimal&name=bench.json"
    run "health-new-connection.$round" -H "Connection: close" "http://127.0.0.1:$PORT/health"
    run "health-new-connection-tls.$round" -H "Connection: close" "https://127.0.0.1:$TLS_PORT/health"
done
DURATION=$saved
# ratios NUMERATOR DENOMINATOR: "r1 r2 …; median m" of the runs NUMERATOR.N / DENOMINATOR.N.
ratios() {
    local ratios="" round
    for round in $(seq 1 "$ROUNDS"); do
        ratios="$ratios $(awk -v t="$(cat "$work/$1.$round.rps")" -v p="$(cat "$work/$2.$round.rps")" 'BEGIN { printf "%.2f", t / p }')"
    done
    echo "$ratios; median $(tr ' ' '\n' <<<"$ratios" | grep . | sort -n | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}')"
}
for pair in health validate-minimal health-new-connection; do
    echo "$pair: TLS / plain throughput per round:$(ratios "$pair-tls" "$pair")"
done
kill "$tls_server"; wait "$tls_server" 2>/dev/null || true; tls_server=""

# Tracing: a third server exporting every span (sample_ratio 1.0) over OTLP/HTTP to a local
# collector (a Python server that takes each batch and answers 200), against the plain one
# with tracing off, alternating like the TLS rounds.
TRACE_PORT=$((PORT + 2))
OTLP_PORT=$((PORT + 3))
python3 -c '
import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers.get("content-length", 0)))
        self.send_response(200); self.send_header("content-length", "0"); self.end_headers()
    def log_message(self, *a): pass
http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()' "$OTLP_PORT" &
collector=$!
trap 'kill $server $tls_server $collector ${traced:-} 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"' EXIT
sed -e "s/127.0.0.1:$PORT/127.0.0.1:$TRACE_PORT/" -e "s|$work/data|$work/traced-data|" "$work/assay.toml" > "$work/traced.toml"
printf '[telemetry]\notlp_endpoint = "http://127.0.0.1:%s"\nsample_ratio = 1.0\n' "$OTLP_PORT" >> "$work/traced.toml"
plain_server=$server
start_assay "$work/traced.toml" "$TRACE_PORT"
traced=$server
server=$plain_server
saved=$DURATION; DURATION=${TRACE_DURATION:-10}
for round in $(seq 1 "$ROUNDS"); do
    echo "round $round of $ROUNDS (${DURATION}s a phase)"
    run "validate-minimal-untraced.$round" -s "$work/validate.lua" "http://127.0.0.1:$PORT/v1/validate?level=minimal&name=bench.json"
    run "validate-minimal-traced.$round" -s "$work/validate.lua" "http://127.0.0.1:$TRACE_PORT/v1/validate?level=minimal&name=bench.json"
done
DURATION=$saved
echo "validate-minimal: traced (100% sampled) / untraced throughput per round:$(ratios validate-minimal-traced validate-minimal-untraced)"
curl -fs "http://127.0.0.1:$TRACE_PORT/metrics" | awk '/^assay_trace_spans_(exported|dropped)_total/ {print "  " $0}'
kill "$traced"; wait "$traced" 2>/dev/null || true; traced=""
kill "$collector"; wait "$collector" 2>/dev/null || true

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
