#!/usr/bin/env bash
# Hot-reload benchmark of `assay serve`:
#  1. reload latency — from the moment a new plugin file is in place (renamed over the old
#     one) until the new version serves — for a small plugin (the trivial test validator,
#     ~75 KB) and a large one (json-schema, ~2.8 MB), each with a cold compile and with its
#     compiled code already in the on-disk cache;
#  2. POST /v1/validate latency percentiles (wrk) with no reloads, then while the small
#     plugin is swapped every 250 ms.
# Each "new version" is the same component with a custom section appended, so its digest,
# and therefore its compilation, is new.
#
# Needs: wrk, python3, curl, and `cargo xtask test` (or build) having built
# target/release/assay, target/test-plugins/trivial.wasm and plugins.d/json-schema.wasm.
#
#   bench/reload.sh            # ROUNDS=5 DURATION=15 by default
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh

ROUNDS=${ROUNDS:-5}
DURATION=${DURATION:-15}
PORT=${PORT:-18182}
BIN=${ASSAY_BIN:-target/release/assay}
SMALL=${SMALL:-target/test-plugins/trivial.wasm}
LARGE=${LARGE:-plugins.d/json-schema.wasm}

for tool in wrk python3 curl; do
    command -v $tool >/dev/null || { echo "$tool is not installed" >&2; exit 2; }
done
[ -x "$BIN" ] && [ -f "$SMALL" ] && [ -f "$LARGE" ] || { echo "build first: cargo xtask test" >&2; exit 2; }

work=$(mktemp -d)
trap 'kill $server 2>/dev/null || true; wait $server 2>/dev/null || true; rm -rf "$work"' EXIT
mkdir "$work/plugins.d" "$work/versions"
cp "$SMALL" "$work/plugins.d/small.wasm"
cp "$LARGE" "$work/plugins.d/large.wasm"
cat > "$work/assay.toml" <<TOML
[server]
listen = "127.0.0.1:$PORT"
max_concurrent_validations = 1024
[plugins]
dir = "$work/plugins.d"
rescan_secs = 0
[runtime]
cache_dir = "$work/compiled"
[storage]
path = "$work/data/assay.db"
[validation.cache]
enabled = false
TOML

# version FILE N: FILE with a custom section "assay-bench" holding N, at $work/versions/.
version() {
    python3 - "$1" "$2" "$work/versions/$(basename "$1" .wasm)-$2.wasm" <<'PY'
import sys
def leb(n):
    out = bytearray()
    while True:
        b = n & 0x7f; n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n: return bytes(out)
src, n, dst = sys.argv[1], sys.argv[2], sys.argv[3]
name = b"assay-bench"; data = n.encode()
payload = leb(len(name)) + name + data
open(dst, "wb").write(open(src, "rb").read() + b"\x00" + leb(len(payload)) + payload)
print(dst)
PY
}

digest_of() { echo "sha256:$(sha256sum "$1" | cut -d' ' -f1)"; }
now_ms() { date +%s%3N; }

start_assay "$work/assay.toml" "$PORT"

# swap NAME FILE: rename FILE over NAME.wasm; prints ms until GET /v1/plugins/NAME shows its digest.
swap() {
    local name=$1 file=$2 want
    want=$(digest_of "$file")
    cp "$file" "$work/plugins.d/.$name.tmp"
    local t0; t0=$(now_ms)
    mv "$work/plugins.d/.$name.tmp" "$work/plugins.d/$name.wasm"
    until curl -fs "http://127.0.0.1:$PORT/v1/plugins/$name" | grep -q "\"digest\":\"$want\""; do
        sleep 0.005
        [ $(( $(now_ms) - t0 )) -lt 60000 ] || { echo "timed out waiting for $name" >&2; exit 1; }
    done
    echo $(( $(now_ms) - t0 ))
}

echo "assay reload benchmark: $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, $ROUNDS rounds"
for name in small large; do
    src=$SMALL; [ $name = large ] && src=$LARGE
    cold=""; warm=""
    for i in $(seq 1 "$ROUNDS"); do
        v=$(version "$src" "$i")
        cold="$cold $(swap $name "$v")"
        # Back to the previous version, then this one again: compiled code now cached.
        swap $name "$src" >/dev/null
        warm="$warm $(swap $name "$v")"
        swap $name "$src" >/dev/null
    done
    printf '%-6s %8s bytes  cold compile (ms):%s   cached (ms):%s\n' "$name" "$(stat -c %s "$src")" "$cold" "$warm"
done

wrk_line() { # label, wrk output
    awk -v l="$1" '/^Requests\/sec/ {r=$2} $1=="50%"{p50=$2} $1=="90%"{p90=$2} $1=="99%"{p99=$2}
        END {printf "%-22s %10s req/s   p50 %8s   p90 %8s   p99 %8s\n", l, r, p50, p90, p99}' <<<"$2"
}
cat > "$work/validate.lua" <<'LUA'
wrk.method = "POST"
wrk.body = '{"id": "a-record"}'
wrk.headers["Content-Type"] = "application/json"
LUA
url="http://127.0.0.1:$PORT/v1/validate?level=minimal&plugin=small&name=bench.json"
out=$(wrk -t1 -c4 -d"${DURATION}s" --latency -s "$work/validate.lua" "$url")
wrk_line "validate, no reloads" "$out"
a=$(version "$SMALL" a); b=$(version "$SMALL" b)
(
    end=$(( $(date +%s) + DURATION ))
    n=0
    while [ "$(date +%s)" -lt "$end" ]; do
        f=$a; [ $((n % 2)) -eq 1 ] && f=$b
        cp "$f" "$work/plugins.d/.small.tmp" && mv "$work/plugins.d/.small.tmp" "$work/plugins.d/small.wasm"
        n=$((n + 1))
        sleep 0.25
    done
    echo "$n" > "$work/swaps"
) &
churn=$!
out=$(wrk -t1 -c4 -d"${DURATION}s" --latency -s "$work/validate.lua" "$url")
wait $churn
wrk_line "validate, during churn" "$out"
errors=$(grep -E 'Non-2xx|Socket errors' <<<"$out" || true)
echo "swaps during the churn run: $(cat "$work/swaps"); ${errors:-no failed requests}"
echo "reloads: $(curl -fs "http://127.0.0.1:$PORT/metrics" | grep '^assay_plugin_reloads_total' | tr '\n' ' ')"
