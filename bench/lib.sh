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
