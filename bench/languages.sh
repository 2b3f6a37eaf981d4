#!/usr/bin/env bash
# The same check in Rust, Python and JavaScript, for BENCHMARKS.md: `assay plugin new`
# scaffolds a validator and a router in each language into a temporary directory, each
# is built with its own build, and `assay plugin bench` measures it (the trivial
# validator is measured in the same run, on each line's "for scale").
#
#   bench/languages.sh [CALLS]
#
# Needs what `cargo xtask build` installs: target/release/assay, the wasm32-wasip2 target,
# target/toolchains/python (componentize-py), node and npm (componentize-js comes from npm).
set -euo pipefail
cd "$(dirname "$0")/.."
CALLS=${1:-500}
BIN=$PWD/${BIN:-target/release/assay}
TOOLCHAIN=$PWD/target/toolchains/python
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# A 40-line text subject, and a critical alert for the routers.
for i in $(seq 1 40); do echo "line $i of the subject, short enough"; done > "$work/subject.txt"
ALERT='{"name": "DiskFull", "severity": "critical", "labels": {"team": "db"}}'

build() { # LANG DIR -> prints the component's path
    case $1 in
        rust) (cd "$2" && CARGO_TARGET_DIR="$work/target" cargo build --quiet --release --target wasm32-wasip2)
              echo "$work/target/wasm32-wasip2/release/$(basename "$2" | tr - _).wasm" ;;
        python) (cd "$2" && PYTHONPATH=$TOOLCHAIN make --quiet >/dev/null); echo "$2/$(basename "$2").wasm" ;;
        js) (cd "$2" && npm install --no-audit --no-fund --loglevel=error >/dev/null && npm run build --silent >/dev/null)
            echo "$2/$(basename "$2").wasm" ;;
    esac
}

for kind in validator router; do
    for lang in rust python js; do
        dir="$work/$kind-$lang"
        "$BIN" plugin new "$kind-$lang" --kind "$kind" --lang "$lang" "$dir" >/dev/null
        wasm=$(build "$lang" "$dir")
        echo "== $kind in $lang"
        if [ "$kind" = validator ]; then
            "$BIN" plugin bench "$wasm" --calls "$CALLS" --subject "$work/subject.txt" --level standard
        else
            "$BIN" plugin bench "$wasm" --calls "$CALLS" --alert "$ALERT"
        fi
    done
done
