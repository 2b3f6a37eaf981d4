#!/usr/bin/env bash
# Prepared snapshots in `assay serve`, for BENCHMARKS.md:
#  1. memory: N copies of json-schema, each with its own schema, served with snapshots off
#     and then on; resident memory (VmRSS) after /ready and after every snapshot is ready,
#     and the difference per prepared plugin. A burst of validations through each copy
#     follows, so that the instances' memory is counted too.
#  2. build: how long the N snapshots took to build in the background (one at a time).
#  3. restart: the same server restarted with the snapshots in the on-disk cache; the time
#     from the start of the process to /ready, and to every snapshot ready; memory again,
#     now that nothing was compiled in the process (the steady state).
#
#   bench/prepared.sh [N]
#
# Needs: target/release/assay and plugins.d/json-schema.wasm (cargo xtask build), curl, python3.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-8}
BIN=${BIN:-target/release/assay}
PORT=18290
source bench/lib.sh
work=$(mktemp -d)
server=""
trap '[ -n "$server" ] && kill "$server" 2>/dev/null; rm -rf "$work"' EXIT
mkdir -p "$work/plugins" "$work/cache"
for i in $(seq 1 "$N"); do
    cp plugins.d/json-schema.wasm "$work/plugins/schema-$i.wasm"
    cat > "$work/plugins/schema-$i.toml" <<TOML
[config]
schema = { type = "object", required = ["id"], properties = { id = { type = "string", pattern = "^[A-Z]{3}-[0-9]{$i}\$" }, tags = { type = "array", uniqueItems = true } } }
TOML
done
config() { # config SNAPSHOTS
    cat > "$work/assay.toml" <<TOML
[server]
listen = "127.0.0.1:$PORT"
[plugins]
dir = "$work/plugins"
[storage]
path = "$work/assay.db"
[runtime]
cache_dir = "$work/cache"
snapshots = $1
[validation.cache]
enabled = false
TOML
}
rss() { awk '/VmRSS/ {printf "%.1f", $2 / 1024}' "/proc/$server/status"; }
now() { date +%s.%N; }
since() { python3 -c "print(f'{$(now) - $1:.2f}')"; }
burst() { # 20 validations through each copy
    for i in $(seq 1 "$N"); do
        for _ in $(seq 1 20); do
            curl -fs -X POST "127.0.0.1:$PORT/v1/validate?plugin=schema-$i" -d '{"id": "ABC-1", "tags": [1, 2]}' >/dev/null
        done
    done
}
stop() { kill "$server"; wait "$server" 2>/dev/null || true; server=""; }

echo "prepared snapshots: $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, $N json-schema plugins"
config false
# Compile the plugin once, so that both runs below map it from the cache alike.
start_assay "$work/assay.toml" "$PORT"
stop
start_assay "$work/assay.toml" "$PORT"
plain_ready=$(rss)
burst
plain_after=$(rss)
stop
echo "== 1. snapshots off: RSS $plain_ready MiB at /ready, $plain_after MiB after the burst"

config true
t0=$(now)
start_assay "$work/assay.toml" "$PORT"
ready=$(since "$t0")
await_snapshots "$PORT"
built=$(since "$t0")
snap_ready=$(rss)
burst
snap_after=$(rss)
stop
echo "== 2. snapshots on, cold cache: /ready after $ready s, all $N snapshots built after $built s"
echo "   RSS $snap_ready MiB with every snapshot ready, $snap_after MiB after the burst"
python3 -c "print(f'   per prepared plugin: {($snap_after - $plain_after) / $N:.2f} MiB more than unprepared (after the burst), {($snap_ready - $plain_ready) / $N:.2f} MiB (idle)')"
echo "   snapshot artifacts on disk: $(du -sk "$work/cache" | cut -f1) KiB for $N snapshots and the plugin"

t0=$(now)
start_assay "$work/assay.toml" "$PORT"
ready=$(since "$t0")
await_snapshots "$PORT"
echo "== 3. restart, snapshots cached: /ready after $ready s, all $N snapshots ready after $(since "$t0") s"
warm_ready=$(rss)
burst
warm_after=$(rss)
stop
echo "   RSS $warm_ready MiB with every snapshot ready, $warm_after MiB after the burst"
python3 -c "print(f'   per prepared plugin: {($warm_after - $plain_after) / $N:.2f} MiB more than unprepared (after the burst), {($warm_ready - $plain_ready) / $N:.2f} MiB (idle)')"
