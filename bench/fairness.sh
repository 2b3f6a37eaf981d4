#!/usr/bin/env bash
# Fair shares under hostile load: a healthy validator's latency while 50 concurrent clients
# call a validator that loops until its deadline, against the same healthy validator with no
# hostile load, in the same run; and how fast the looping plugin's excess is refused.
#
# Phases (each DURATION seconds, wrk):
#   alone        the healthy validator (trivial), 1 connection
#   burners      the same, while 1 and then 2 plain CPU burners (`yes`, no HTTP, no plugin)
#                run beside it: what any busy neighbour on these cores costs its p99 (the
#                physical limit of the machine, not of assay)
#   busy-host    the same, while 50 connections call GET /health: the cost of the request
#                load alone, with no hostile plugin (the control)
#   hostile      the same, while 50 connections call the looping validator (quarantine off,
#                so the share and the bounded wait alone protect it)
#   quarantined  the same with the default quarantine (after 5 timeouts)
#   refusal      2 connections on the looping plugin alone: one holds its slot for 2 s, the
#                other is refused again and again; the time a refusal takes with no queue
#   sockets      GET /health p99 alone, then while 8 probe instances each try to hold 5,000
#                sockets to a local listener; the process's peak fd count
#
# Needs: wrk (apt-get install wrk), and `cargo xtask test` having built target/release/assay
# and target/test-plugins/{trivial,misbehave}.wasm.
#
#   bench/fairness.sh
#   DURATION=10 bench/fairness.sh
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh

DURATION=${DURATION:-20}
HOSTILE=${HOSTILE:-50}
PORT=${PORT:-18182}
BIN=${ASSAY_BIN:-target/release/assay}
PLUGINS=${ASSAY_TEST_PLUGINS:-target/test-plugins}

command -v wrk >/dev/null || { echo "wrk is not installed: apt-get install wrk" >&2; exit 2; }
[ -x "$BIN" ] && [ -f "$PLUGINS/trivial.wasm" ] && [ -f "$PLUGINS/misbehave.wasm" ] \
    || { echo "build first: cargo xtask test" >&2; exit 2; }

work=$(mktemp -d)
server=""
trap '[ -n "$server" ] && { kill $server 2>/dev/null || true; wait $server 2>/dev/null || true; }; rm -rf "$work"' EXIT
cat > "$work/body.lua" <<'LUA'
wrk.method = "POST"
wrk.body = '{"id": "a-record"}'
wrk.headers["Content-Type"] = "application/json"
LUA

# serve QUARANTINE_AFTER: a fresh server with the healthy and the looping validator.
serve() {
    [ -n "$server" ] && { kill $server; wait $server 2>/dev/null || true; }
    rm -rf "$work/plugins.d" "$work/data"
    mkdir "$work/plugins.d"
    cp "$PLUGINS/trivial.wasm" "$work/plugins.d/healthy.wasm"
    cp "$PLUGINS/misbehave.wasm" "$work/plugins.d/looper.wasm"
    printf 'timeout_ms = 2000\n[config]\nmode = "loop"\n' > "$work/plugins.d/looper.toml"
    cat > "$work/assay.toml" <<TOML
[server]
listen = "127.0.0.1:$PORT"
max_concurrent_validations = 1024
[plugins]
dir = "$work/plugins.d"
[plugin_defaults]
quarantine_after = $1
[storage]
path = "$work/data/assay.db"
TOML
    start_assay "$work/assay.toml" "$PORT"
}

# wrk's p50/p99 and request count: name, connections, path
measure() {
    local name=$1 conns=$2 path=$3
    wrk -t1 -c"$conns" -d"${DURATION}s" --timeout 10s --latency -s "$work/body.lua" \
        "http://127.0.0.1:$PORT$path" > "$work/$name.out"
}
summary() {
    local name=$1 out="$work/$1.out"
    printf '%-26s p50 %9s  p90 %9s  p99 %9s  %8s requests  %s\n' "$name" \
        "$(awk '$1 == "50%" {print $2}' "$out")" "$(awk '$1 == "90%" {print $2}' "$out")" \
        "$(awk '$1 == "99%" {print $2}' "$out")" "$(awk '/requests in/ {print $1}' "$out")" \
        "$(grep -E 'Non-2xx' "$out" | xargs || true)"
}
outcomes() {
    local m
    m=$(curl -fs "http://127.0.0.1:$PORT/metrics")
    grep -E '^assay_plugin_(rejected_total|calls_total)\{plugin="looper"|^assay_validations_rejected_total\{reason="plugin_busy"' <<<"$m" | sed 's/^/    /'
    # The host's own time to refuse (gate arrival to refusal), from its histogram.
    awk '/^assay_plugin_refusal_seconds_bucket\{.*plugin="looper"/ {
            match($0, /le="[^"]+"/); le = substr($0, RSTART + 4, RLENGTH - 5); b[le] = $2 }
         /^assay_plugin_refusal_seconds_count\{plugin="looper"/ { n = $2 }
         END { if (n > 0) printf "    refusals decided within 50 us: %.2f%%, 1 ms: %.2f%%, 250 ms: %.2f%% (of %d)\n",
                   100 * b["0.00005"] / n, 100 * b["0.001"] / n, 100 * b["0.25"] / n, n }' <<<"$m"
}

echo "fairness benchmark: $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, ${DURATION}s a phase, $HOSTILE hostile connections"
serve 0
wrk -t1 -c1 -d2s -s "$work/body.lua" "http://127.0.0.1:$PORT/v1/validate?plugin=healthy" >/dev/null
measure alone 1 "/v1/validate?plugin=healthy"
summary alone

yes >/dev/null & burner1=$!
measure healthy-1-burner 1 "/v1/validate?plugin=healthy"
yes >/dev/null & burner2=$!
measure healthy-2-burners 1 "/v1/validate?plugin=healthy"
kill $burner1 $burner2
summary healthy-1-burner
summary healthy-2-burners

wrk -t1 -c"$HOSTILE" -d"${DURATION}s" --timeout 10s "http://127.0.0.1:$PORT/health" > /dev/null &
load=$!
sleep 1
measure healthy-busy-host 1 "/v1/validate?plugin=healthy"
wait $load
summary healthy-busy-host

measure looper-hostile "$HOSTILE" "/v1/validate?plugin=looper" &
hostile=$!
sleep 1
measure healthy-hostile 1 "/v1/validate?plugin=healthy"
wait $hostile
summary healthy-hostile
summary looper-hostile
outcomes

measure refusal 2 "/v1/validate?plugin=looper"
summary refusal

serve 5
measure looper-quarantined "$HOSTILE" "/v1/validate?plugin=looper" &
hostile=$!
sleep 1
measure healthy-quarantined 1 "/v1/validate?plugin=healthy"
wait $hostile
summary healthy-quarantined
summary looper-quarantined
outcomes

# Sockets: /health while probe plugins try to hold thousands of sockets each.
python3 -c '
import socket, sys, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(4096); held = []
while True:
    c, _ = s.accept(); held.append(c)
' $((PORT + 1)) &
listener=$!
trap '[ -n "$server" ] && { kill $server 2>/dev/null || true; wait $server 2>/dev/null || true; }; kill $listener 2>/dev/null || true; rm -rf "$work"' EXIT
serve 5
healthreq() { wrk -t1 -c1 -d"${DURATION}s" --latency "http://127.0.0.1:$PORT/health" > "$work/$1.out"; }
healthreq health-alone
summary health-alone
cp "$PLUGINS/misbehave-probe.wasm" "$work/plugins.d/hog.wasm"
{
    for i in 1 2 3 4 5 6 7 8; do
        printf '[[probe]]\nname = "hog-%s"\ninterval = "1s"\ntimeout = "3s"\nallow_tcp = ["127.0.0.1:%s"]\n' "$i" $((PORT + 1))
        printf "config = '{\"mode\": \"sockets\", \"target\": \"127.0.0.1:%s\", \"n\": 5000, \"hold_ms\": 2000}'\n" $((PORT + 1))
    done
} > "$work/plugins.d/hog.toml"
sleep 3   # the reload picks the probes up
( for _ in $(seq 1 $((DURATION * 10))); do ls /proc/$server/fd | wc -l; sleep 0.1; done ) > "$work/fds" &
sampler=$!
healthreq health-sockets
wait $sampler
summary health-sockets
echo "    peak open fds of assay: $(sort -n "$work/fds" | tail -1) (RLIMIT_NOFILE $(awk '/Max open files/ {print $4}' /proc/$server/limits))"
curl -fs "http://127.0.0.1:$PORT/metrics" | grep -E '^assay_plugin_rejected_total\{plugin="hog"' | sed 's/^/    /'
