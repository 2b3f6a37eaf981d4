#!/usr/bin/env python3
"""Peer for the hash-chain benchmark: the ad-hoc script an operator would write instead.

Same checks as the `hash-chain` plugin at level `full`, with the standard library
(`json`, and `hashlib`, which is OpenSSL and uses the CPU's SHA instructions).
Canonical JSON is `json.dumps(sort_keys=True, separators=(",", ":"), ensure_ascii=False)`,
which equals RFC 8785 only for integers and keys below U+10000: true of the benchmark
ledger, not in general (the plugin implements RFC 8785 fully).

Usage: hash_chain.py LEDGER.json        -> prints the number of findings and the seconds taken
       hash_chain.py --generate N > F    -> writes a sound N-block ledger (3 transactions a block),
                                            the shape of the Rust benchmark's `sample_ledger`
"""
import hashlib
import json
import sys
import time


def digest(obj, skip):
    body = {k: v for k, v in obj.items() if k != skip}
    data = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    return hashlib.sha256(data).hexdigest()


def check(doc):
    findings = []
    seen = set()
    prev = None
    for i, b in enumerate(doc["blocks"]):
        want_index = 0 if i == 0 else prev["index"] + 1
        if b["index"] != want_index:
            findings.append(("chain.index_gap", i))
        want_prev = "0" * 64 if i == 0 else prev["hash"]
        if b["prev_hash"] != want_prev:
            findings.append(("chain.prev_hash_mismatch", i))
        if b["tx_count"] != len(b["transactions"]):
            findings.append(("chain.tx_count_mismatch", i))
        if prev is not None and b["timestamp"] < prev["timestamp"]:
            findings.append(("chain.timestamp_regression", i))
        for j, tx in enumerate(b["transactions"]):
            if tx["id"] in seen:
                findings.append(("chain.tx_duplicate_id", i, j))
            seen.add(tx["id"])
            if digest(tx, "digest") != tx["digest"]:
                findings.append(("chain.tx_digest_mismatch", i, j))
        if digest(b, "hash") != b["hash"]:
            findings.append(("chain.hash_mismatch", i))
        prev = b
    return findings


def generate(n):
    blocks, prev, start = [], "0" * 64, 1767225600000
    for i in range(n):
        txs = []
        for j in range(3):
            tx = {"id": f"tx-{i}-{j}", "from": f"acct-{(i * 7 + j) % 97}", "to": f"acct-{(i * 13 + j) % 89}",
                  "amount": (i * 31 + j * 17) % 10000, "memo": "payment"}
            tx["digest"] = digest(tx, "digest")
            txs.append(tx)
        block = {"index": i, "timestamp": start + i * 60000, "prev_hash": prev, "tx_count": 3, "transactions": txs}
        block["hash"] = digest(block, "hash")
        prev = block["hash"]
        blocks.append(block)
    return {"chain": "sample", "blocks": blocks}


if __name__ == "__main__":
    if sys.argv[1] == "--generate":
        json.dump(generate(int(sys.argv[2])), sys.stdout)
        sys.exit(0)
    raw = open(sys.argv[1], "rb").read()
    start = time.perf_counter()
    found = check(json.loads(raw))
    print(f"{len(found)} findings in {time.perf_counter() - start:.3f} s")
