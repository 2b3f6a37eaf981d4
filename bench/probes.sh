#!/usr/bin/env bash
# Probe scheduler load: N HTTP probe instances (default 2,000) at 1 s
# intervals for D seconds (default 60) against a local HTTP target, then the
# same target probed by prometheus-blackbox-exporter as fast as wrk can drive
# it. Prints probe rate, probes per CPU-second of the prober, scheduler lag
# and memory, for BENCHMARKS.md.
#
#   bench/probes.sh [N] [DURATION_S]
#
# Needs: target/release/assay and plugins.d/http.wasm (cargo xtask build),
# curl, wrk, python3, and prometheus-blackbox-exporter (apt) for the
# side-by-side figure (skipped with a message when missing).
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-2000}
DURATION=${2:-60}
BIN=${BIN:-target/release/assay}
source bench/lib.sh
work=$(mktemp -d)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null; rm -rf "$work"' EXIT

# The target: another assay's /health (fast, no store access), plugins dir empty.
mkdir -p "$work/empty" "$work/plugins"
cat > "$work/target.toml" <<TOML
[server]
listen = "127.0.0.1:18181"
[plugins]
dir = "$work/empty"
[storage]
path = "$work/target.db"
TOML
start_assay "$work/target.toml" 18181
pids+=("$server")
target="http://127.0.0.1:18181/health"

cp plugins.d/http.wasm "$work/plugins/"
{
    printf '[server]\nlisten = "127.0.0.1:18180"\n[plugins]\ndir = "%s"\n[storage]\npath = "%s"\n' "$work/plugins" "$work/assay.db"
    printf '[probes]\nmax_concurrency = 64\n'
    for i in $(seq 1 "$N"); do
        printf '[[probe]]\nname = "p%d"\nplugin = "http"\ninterval = "1s"\ntimeout = "5s"\nallow_http = ["127.0.0.1:18181"]\nconfig = %s\n' \
            "$i" "'{\"url\": \"$target\"}'"
    done
} > "$work/prober.toml"

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
rss_kib() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }
ticks=$(getconf CLK_TCK)

start_assay "$work/prober.toml" 18180
prober=$server
pids+=("$prober")
sleep 3 # every instance has been through its first slot
m0=$(curl -s 127.0.0.1:18180/metrics)
c0=$(cpu_ticks "$prober")
sleep "$DURATION"
c1=$(cpu_ticks "$prober")
m1=$(curl -s 127.0.0.1:18180/metrics)
rss=$(rss_kib "$prober")
python3 - "$DURATION" "$ticks" "$c0" "$c1" "$rss" "$N" <<PY
import sys, re
dur, ticks, c0, c1, rss, n = float(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6])
m0, m1 = """$m0""", """$m1"""
def series(text, name):
    out = {}
    for line in text.splitlines():
        if line.startswith(name):
            k, v = line.rsplit(" ", 1)
            out[k] = float(v)
    return out
def total(text, name):
    return sum(series(text, name).values())
results = total(m1, "assay_probe_results_total") - total(m0, "assay_probe_results_total")
fails = sum(v for k, v in series(m1, "assay_probe_results_total").items() if 'status="pass"' not in k) - \
        sum(v for k, v in series(m0, "assay_probe_results_total").items() if 'status="pass"' not in k)
skipped = total(m1, "assay_probe_skipped_runs_total") - total(m0, "assay_probe_skipped_runs_total")
b0, b1 = series(m0, "assay_probe_scheduler_lag_seconds_bucket"), series(m1, "assay_probe_scheduler_lag_seconds_bucket")
buckets = sorted(((float(re.search(r'le="([^"]+)"', k).group(1).replace("+Inf", "inf")), b1[k] - b0.get(k, 0)) for k in b1))
count = buckets[-1][1]
def quantile(q):
    for le, c in buckets:
        if c >= q * count:
            return le
cpu = (c1 - c0) / ticks
print(f"assay: {n} probes, {results/dur:.0f} results/s ({results:.0f} in {dur:.0f} s, {fails:.0f} not pass, {skipped:.0f} skipped)")
print(f"assay: CPU {cpu:.1f} s = {100*cpu/dur:.0f}% of one core; {results/cpu:.0f} probes per CPU-second; RSS {rss/1024:.0f} MiB")
print(f"assay: scheduler lag p50 <= {quantile(0.5)*1000:g} ms, p99 <= {quantile(0.99)*1000:g} ms (histogram bucket bounds)")
PY
kill "$prober"; wait "$prober" 2>/dev/null || true

BB=$(command -v prometheus-blackbox-exporter || true)
if [ -z "$BB" ]; then
    echo "blackbox_exporter: not installed (apt-get install prometheus-blackbox-exporter); no side-by-side figure"
    exit 0
fi
cat > "$work/blackbox.yml" <<YML
modules:
  http_2xx:
    prober: http
    timeout: 5s
    http:
      preferred_ip_protocol: ip4
YML
"$BB" --config.file="$work/blackbox.yml" --web.listen-address=127.0.0.1:18115 --log.level=error &
bb=$!
pids+=("$bb")
for _ in $(seq 1 100); do curl -fs 127.0.0.1:18115/metrics >/dev/null && break; sleep 0.1; done
url="http://127.0.0.1:18115/probe?module=http_2xx&target=$target"
curl -s "$url" | grep -q '^probe_success 1' || { echo "blackbox_exporter probe failed"; exit 1; }
c0=$(cpu_ticks "$bb")
out=$(wrk -t1 -c16 -d"${DURATION}s" "$url")
c1=$(cpu_ticks "$bb")
rss=$(rss_kib "$bb")
reqs=$(echo "$out" | awk '/requests in/ {print $1}')
python3 -c "
dur, cpu, reqs, rss = $DURATION, ($c1 - $c0) / $ticks, $reqs, $rss
print(f'blackbox_exporter: {reqs/dur:.0f} probes/s at its maximum (wrk, 16 connections); CPU {cpu:.1f} s; {reqs/cpu:.0f} probes per CPU-second; RSS {rss/1024:.0f} MiB')
"
