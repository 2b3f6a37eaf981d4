#!/usr/bin/env bash
# The whole process, as an operator runs it: `assay validate --plugin json-schema` over 1,000
# small JSON files (about 150 bytes each) against a schema with patterns, nested items and
# uniqueItems, against Python's `jsonschema` with a prebuilt Draft202012Validator on the same
# files, in the same run; start-up included for both. ROUNDS alternations, each timed.
#
# Needs: `cargo xtask build` (target/release/assay, plugins.d/json-schema.wasm) and Python's
# jsonschema (pip install jsonschema).
#
#   bench/json-schema-batch.sh
#   FILES=200 ROUNDS=5 bench/json-schema-batch.sh
set -euo pipefail
cd "$(dirname "$0")/.."

FILES=${FILES:-1000}
ROUNDS=${ROUNDS:-3}
BIN=${ASSAY_BIN:-target/release/assay}
PLUGIN=${JSON_SCHEMA:-plugins.d/json-schema.wasm}
PYTHON=${PYTHON:-python3}

[ -x "$BIN" ] && [ -f "$PLUGIN" ] || { echo "build first: cargo xtask build" >&2; exit 2; }
"$PYTHON" -c 'import jsonschema' 2>/dev/null || { echo "Python's jsonschema is missing: pip install jsonschema" >&2; exit 2; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/plugins.d" "$work/docs"
cp "$PLUGIN" "$work/plugins.d/json-schema.wasm"
cat > "$work/schema.json" <<'JSON'
{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "type": "object",
  "required": ["id", "email", "tags", "items"],
  "properties": {
    "id": {"type": "string", "pattern": "^[A-Z]{3}-[0-9]{4}$"},
    "email": {"type": "string", "pattern": "^[^@ ]+@[^@ ]+\\.[a-z]{2,}$"},
    "tags": {"type": "array", "items": {"type": "string", "minLength": 1}, "uniqueItems": true},
    "items": {"type": "array", "items": {"type": "object", "required": ["sku", "qty"],
      "properties": {"sku": {"type": "string", "pattern": "^[a-z0-9-]+$"},
                     "qty": {"type": "integer", "minimum": 1}}}}
  }
}
JSON
"$PYTHON" - "$work" "$FILES" <<'PY'
import json, sys
work, n = sys.argv[1], int(sys.argv[2])
for i in range(n):
    doc = {"id": f"ABC-{i % 10000:04d}", "email": f"user{i}@example.com",
           "tags": ["a", "b"] if i % 7 else ["a", "a"],
           "items": [{"sku": f"sku-{i}", "qty": 1 + i % 3}]}
    json.dump(doc, open(f"{work}/docs/{i:04d}.json", "w"))
PY
# The sidecar holds the schema as a TOML table (converted here from JSON).
"$PYTHON" - "$work" <<'PY'
import json, sys
work = sys.argv[1]
schema = json.load(open(f"{work}/schema.json"))
def toml(v):
    if isinstance(v, bool): return "true" if v else "false"
    if isinstance(v, (int, float)): return json.dumps(v)
    if isinstance(v, str): return json.dumps(v)
    if isinstance(v, list): return "[" + ", ".join(toml(x) for x in v) + "]"
    return "{ " + ", ".join(f"{json.dumps(k)} = {toml(x)}" for k, x in v.items()) + " }"
open(f"{work}/plugins.d/json-schema.toml", "w").write("[config]\nschema = " + toml(schema) + "\n")
PY
cat > "$work/py_validate.py" <<'PY'
import json, sys
from jsonschema import Draft202012Validator
validator = Draft202012Validator(json.load(open(sys.argv[1])))
bad = 0
for path in sys.argv[2:]:
    with open(path) as f:
        if any(True for _ in validator.iter_errors(json.load(f))):
            bad += 1
print(bad)
PY

secs() { local t0 t1; t0=$(date +%s.%N); "$@" > "$work/out" 2>"$work/err" || true; t1=$(date +%s.%N); awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }'; }
echo "json-schema batch: $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, $FILES files"
# Warm the caches once, timed apart: the compiled plugin and, since the batch is large, the
# prepared snapshot (seconds, once per plugin and config; later runs load it from disk).
cold=$(secs "$BIN" validate --plugins-dir "$work/plugins.d" --plugin json-schema "$work"/docs/*.json)
echo "first run (compiles the plugin and builds its prepared snapshot, unless cached): $cold s"
for round in $(seq 1 "$ROUNDS"); do
    a=$(secs "$BIN" validate --plugins-dir "$work/plugins.d" --plugin json-schema --format json "$work"/docs/*.json)
    failed_assay=$(grep -c '"verdict":"fail"' "$work/out" || true)
    p=$(secs "$PYTHON" "$work/py_validate.py" "$work/schema.json" "$work"/docs/*.json)
    failed_py=$(cat "$work/out")
    printf 'round %s: assay %6s s (%s failing)   python jsonschema %6s s (%s failing)\n' "$round" "$a" "$failed_assay" "$p" "$failed_py"
done
