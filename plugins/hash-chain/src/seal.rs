//! Hashing rules of the ledger format, and a builder for well-formed ledgers
//! (used by the checks, by tests, by the benchmark and to make the examples).

use serde_json::{Map, Value, json};

/// The `prev_hash` of the genesis block.
pub const GENESIS_PREV_HASH: &str =
    "0000000000000000000000000000000000000000000000000000000000000000";

/// SHA-256 of the JCS form of `object` without its member `skip`. `buf` is
/// scratch space, reused across calls to spare an allocation per object.
pub fn digest_bytes(object: &Map<String, Value>, skip: &str, buf: &mut Vec<u8>) -> [u8; 32] {
    buf.clear();
    crate::jcs::write_object(object, Some(skip), buf);
    assay_plugin_sdk::digest::sha256(buf)
}

/// Lowercase hex SHA-256 of the JCS form of `object` without its member `skip`.
pub fn digest_without(object: &Map<String, Value>, skip: &str) -> String {
    hex::encode(digest_bytes(object, skip, &mut Vec::with_capacity(1024)))
}

/// Whether `claimed` is the lowercase hex form of `digest`, without allocating.
pub fn hex_matches(claimed: &str, digest: &[u8; 32]) -> bool {
    let mut decoded = [0u8; 32];
    claimed.len() == 64
        && !claimed.bytes().any(|b| b.is_ascii_uppercase())
        && hex::decode_to_slice(claimed, &mut decoded).is_ok()
        && &decoded == digest
}

/// The hash a block should carry.
pub fn block_hash(block: &Map<String, Value>) -> String {
    digest_without(block, "hash")
}

/// The digest a transaction should carry.
pub fn tx_digest(tx: &Map<String, Value>) -> String {
    digest_without(tx, "digest")
}

/// Builds a valid ledger, block by block.
pub struct LedgerBuilder {
    chain: String,
    blocks: Vec<Value>,
}

impl LedgerBuilder {
    pub fn new(chain: impl Into<String>) -> Self {
        LedgerBuilder {
            chain: chain.into(),
            blocks: Vec::new(),
        }
    }

    /// Appends a block holding `txs` (each a JSON object without `digest`),
    /// sealing the digests, `tx_count`, `prev_hash` and `hash`.
    pub fn block(mut self, timestamp: i64, txs: Vec<Value>) -> Self {
        let prev_hash = self
            .blocks
            .last()
            .and_then(|b| b["hash"].as_str())
            .unwrap_or(GENESIS_PREV_HASH)
            .to_owned();
        let transactions: Vec<Value> = txs
            .into_iter()
            .map(|mut tx| {
                let obj = tx.as_object_mut().expect("a transaction is a JSON object");
                let d = tx_digest(obj);
                obj.insert("digest".into(), Value::String(d));
                tx
            })
            .collect();
        let mut block = json!({
            "index": self.blocks.len(),
            "timestamp": timestamp,
            "prev_hash": prev_hash,
            "tx_count": transactions.len(),
            "transactions": transactions,
        });
        let obj = block.as_object_mut().expect("object literal");
        let h = block_hash(obj);
        obj.insert("hash".into(), Value::String(h));
        self.blocks.push(block);
        self
    }

    pub fn build(self) -> Value {
        json!({"chain": self.chain, "blocks": self.blocks})
    }
}

/// A valid ledger of `blocks` blocks with `txs_per_block` transactions each,
/// deterministic so benchmarks and tests see the same bytes every run.
pub fn sample_ledger(blocks: usize, txs_per_block: usize) -> Value {
    let mut b = LedgerBuilder::new("sample");
    let start = 1_767_225_600_000_i64; // 2026-01-01T00:00:00Z
    for i in 0..blocks {
        let txs = (0..txs_per_block)
            .map(|j| {
                json!({
                    "id": format!("tx-{i}-{j}"),
                    "from": format!("acct-{}", (i * 7 + j) % 97),
                    "to": format!("acct-{}", (i * 13 + j) % 89),
                    "amount": ((i * 31 + j * 17) % 10_000) as i64,
                    "memo": "payment",
                })
            })
            .collect();
        b = b.block(start + (i as i64) * 60_000, txs);
    }
    b.build()
}
