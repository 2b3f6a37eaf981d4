# Shared by the bench/ scripts: start `assay serve` and wait until it is ready.
# start_assay CONFIG PORT [SCHEME]: sets $server to its pid; exits 1 if it never becomes ready.
start_assay() {
    ASSAY_LOG=${ASSAY_LOG:-warn} "$BIN" --config "$1" serve &
    server=$!
    for _ in $(seq 1 600); do
        curl -fsk "${3:-http}://127.0.0.1:$2/ready" >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    echo "assay did not become ready" >&2
    exit 1
}

# await_snapshots PORT [PLUGIN]: waits until no prepared snapshot of PLUGIN (of any plugin
# when none is named) is still building, and at least one exists. They build in the
# background after /ready; calls meanwhile take the plain path.
await_snapshots() {
    for _ in $(seq 1 2400); do
        if curl -fs "127.0.0.1:$1/v1/plugins" | python3 -c '
import json, sys
want = sys.argv[1] if len(sys.argv) > 1 else None
ps = [p for p in json.load(sys.stdin)["plugins"] if want in (None, p["name"])]
s = [x for p in ps for x in (p.get("snapshots") or [])]
sys.exit(0 if s and all(x["state"] != "building" for x in s) else 1)' ${2:+"$2"} 2>/dev/null; then
            return 0
        fi
        sleep 0.05
    done
    echo "the snapshots${2:+ of $2} did not finish building" >&2
    exit 1
}

# validate_bench WORK PORT CACHE: the set-up of the validate throughput benches (load.sh,
# ab-validate.sh): WORK/assay.toml serving WORK/plugins.d on PORT with its store in
# WORK/data and the result cache on or off (CACHE = true|false), and WORK/validate.lua,
# the request wrk sends (a small JSON record).
validate_bench() {
    cat > "$1/assay.toml" <<TOML
[server]
listen = "127.0.0.1:$2"
max_concurrent_validations = 1024
[plugins]
dir = "$1/plugins.d"
[storage]
path = "$1/data/assay.db"
[validation.cache]
enabled = $3
TOML
    validate_lua "$1"
}

# validate_lua WORK: WORK/validate.lua, the request wrk sends to POST /v1/validate (a small JSON record).
validate_lua() {
    cat > "$1/validate.lua" <<'LUA'
wrk.method = "POST"
wrk.body = '{"id": "a-record", "name": "benchmark"}'
wrk.headers["Content-Type"] = "application/json"
LUA
}
