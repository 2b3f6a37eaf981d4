#!/usr/bin/env bash
# A/B: POST /v1/validate throughput (level minimal, the trivial validator, no cache,
# wrk -t1 -c16) of two assay binaries, alternating runs so that drift hits both alike.
#
#   OLD=/tmp/assay-old NEW=target/release/assay bench/ab-validate.sh
#   ROUNDS=5 DURATION=15 (the defaults)
#
# Build the old binary from a worktree sharing the target directory, then copy it out:
#   git worktree add /tmp/prev REV && (cd /tmp/prev && CARGO_TARGET_DIR=$PWD/target cargo build --release -p assay-host)
set -euo pipefail
cd "$(dirname "$0")/.."
OLD=${OLD:?the old binary}
NEW=${NEW:-target/release/assay}
. bench/lib.sh
PORT=18281
work=$(mktemp -d)
mkdir "$work/plugins.d"
cp ${TRIVIAL:-target/test-plugins/trivial.wasm} "$work/plugins.d/"
validate_bench "$work" "$PORT" false
for round in $(seq 1 ${ROUNDS:-5}); do
  for v in old new; do
    rm -rf "$work/data"
    if [ $v = old ]; then BIN=$OLD; else BIN=$NEW; fi
    start_assay "$work/assay.toml" "$PORT"
    rps=$(wrk -t1 -c16 -d${DURATION:-15}s -s "$work/validate.lua" "http://127.0.0.1:$PORT/v1/validate?level=minimal&name=bench.json" | awk '/^Requests\/sec/ {print $2}')
    kill $server; wait $server 2>/dev/null || true
    echo "$round $v $rps"
  done
done
rm -rf "$work"
