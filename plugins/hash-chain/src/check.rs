//! The ledger checks, level by level, in one pass over the blocks.
//!
//! Written to allocate little per block and transaction (strings are
//! borrowed from the document, one scratch buffer serves every hash, paths
//! are formatted only for findings): inside WebAssembly allocation is
//! dearer than natively, and a large ledger has tens of thousands of both.

use std::collections::HashSet;

use assay_plugin_sdk::{Finding, Level};
use serde_json::{Map, Value};

use crate::seal::{GENESIS_PREV_HASH, digest_bytes, hex_matches};

/// What the next block is compared with.
struct Prev<'a> {
    index: Option<i64>,
    hash: Option<&'a str>,
    timestamp: Option<i64>,
}

fn block_path(i: usize) -> String {
    format!("/blocks/{i}")
}

/// Runs every check up to `level` on a parsed ledger.
pub fn check(doc: &Value, level: Level) -> Vec<Finding> {
    let Some(blocks) = doc.get("blocks").and_then(Value::as_array) else {
        return vec![
            Finding::error("chain.malformed", "the document has no `blocks` array").at(""),
        ];
    };
    let mut findings = Vec::new();
    let mut seen_ids: HashSet<&str> = HashSet::new();
    let mut prev: Option<Prev<'_>> = None;
    let mut buf = Vec::with_capacity(4096);

    for (i, block) in blocks.iter().enumerate() {
        let Some(obj) = block.as_object() else {
            findings.push(
                Finding::error("chain.malformed", "block is not a JSON object").at(block_path(i)),
            );
            prev = None;
            continue;
        };
        let index = obj.get("index").and_then(Value::as_i64);
        let prev_hash = obj.get("prev_hash").and_then(Value::as_str);
        let hash = obj.get("hash").and_then(Value::as_str);
        let timestamp = obj.get("timestamp").and_then(Value::as_i64);
        let tx_count = obj.get("tx_count").and_then(Value::as_i64);
        let txs = obj.get("transactions").and_then(Value::as_array);

        let mut missing = Vec::new();
        let required: &[(&str, bool)] = &[
            ("index", index.is_some()),
            ("prev_hash", prev_hash.is_some()),
            ("hash", hash.is_some()),
        ];
        let deeper: &[(&str, bool)] = &[
            ("timestamp", timestamp.is_some()),
            ("tx_count", tx_count.is_some()),
            ("transactions", txs.is_some()),
        ];
        for (name, present) in required.iter().chain(if level >= Level::Standard {
            deeper
        } else {
            &[]
        }) {
            if !present {
                missing.push(*name);
            }
        }
        if !missing.is_empty() {
            findings.push(
                Finding::error(
                    "chain.malformed",
                    format!(
                        "block is missing, or has a mistyped, `{}`",
                        missing.join("`, `")
                    ),
                )
                .at(block_path(i)),
            );
        }

        // minimal
        let expected_index = if i == 0 {
            Some(0)
        } else {
            prev.as_ref().and_then(|p| p.index).map(|p| p + 1)
        };
        if let (Some(want), Some(got)) = (expected_index, index)
            && want != got
        {
            findings.push(
                Finding::error(
                    "chain.index_gap",
                    format!("block has index {got}, expected {want}"),
                )
                .at(block_path(i)),
            );
        }
        let expected_prev = if i == 0 {
            Some(GENESIS_PREV_HASH)
        } else {
            prev.as_ref().and_then(|p| p.hash)
        };
        if let (Some(want), Some(got)) = (expected_prev, prev_hash)
            && want != got
        {
            let what = if i == 0 {
                "the genesis value (64 zeros)".to_owned()
            } else {
                format!("block {}'s hash {want}", i - 1)
            };
            findings.push(
                Finding::error(
                    "chain.prev_hash_mismatch",
                    format!("prev_hash {got} does not match {what}"),
                )
                .at(block_path(i)),
            );
        }

        // standard
        if level >= Level::Standard {
            if let (Some(count), Some(txs)) = (tx_count, txs)
                && count != txs.len() as i64
            {
                findings.push(
                    Finding::error(
                        "chain.tx_count_mismatch",
                        format!(
                            "tx_count is {count} but the block holds {} transactions",
                            txs.len()
                        ),
                    )
                    .at(block_path(i)),
                );
            }
            if let (Some(before), Some(now)) = (prev.as_ref().and_then(|p| p.timestamp), timestamp)
                && now < before
            {
                findings.push(
                    Finding::warning(
                        "chain.timestamp_regression",
                        format!("timestamp {now} is earlier than the previous block's {before}"),
                    )
                    .at(block_path(i)),
                );
            }
        }

        // full
        if level >= Level::Full
            && let Some(txs) = txs
        {
            check_transactions(txs, i, &mut seen_ids, &mut buf, &mut findings);
        }

        // comprehensive
        if level >= Level::Comprehensive
            && let Some(claimed) = hash
        {
            let actual = digest_bytes(obj, "hash", &mut buf);
            if !hex_matches(claimed, &actual) {
                findings.push(
                    Finding::error(
                        "chain.hash_mismatch",
                        format!(
                            "hash field is {claimed} but the block hashes to {}",
                            hex::encode(actual)
                        ),
                    )
                    .at(block_path(i)),
                );
            }
        }

        prev = Some(Prev {
            index,
            hash,
            timestamp,
        });
    }
    findings
}

fn check_transactions<'a>(
    txs: &'a [Value],
    block: usize,
    seen_ids: &mut HashSet<&'a str>,
    buf: &mut Vec<u8>,
    findings: &mut Vec<Finding>,
) {
    let path = |j: usize| format!("/blocks/{block}/transactions/{j}");
    for (j, tx) in txs.iter().enumerate() {
        let Some(obj): Option<&Map<String, Value>> = tx.as_object() else {
            findings.push(
                Finding::error("chain.malformed", "transaction is not a JSON object").at(path(j)),
            );
            continue;
        };
        let id = obj.get("id").and_then(Value::as_str);
        let digest = obj.get("digest").and_then(Value::as_str);
        if id.is_none() || digest.is_none() {
            let missing: Vec<&str> = [("id", id.is_none()), ("digest", digest.is_none())]
                .into_iter()
                .filter_map(|(n, m)| m.then_some(n))
                .collect();
            findings.push(
                Finding::error(
                    "chain.malformed",
                    format!(
                        "transaction is missing, or has a mistyped, `{}`",
                        missing.join("`, `")
                    ),
                )
                .at(path(j)),
            );
        }
        if let Some(id) = id
            && !seen_ids.insert(id)
        {
            findings.push(
                Finding::error(
                    "chain.tx_duplicate_id",
                    format!("transaction id {id:?} was already used earlier in the ledger"),
                )
                .at(path(j)),
            );
        }
        if let Some(claimed) = digest {
            let actual = digest_bytes(obj, "digest", buf);
            if !hex_matches(claimed, &actual) {
                findings.push(
                    Finding::error(
                        "chain.tx_digest_mismatch",
                        format!(
                            "digest field is {claimed} but the transaction hashes to {}",
                            hex::encode(actual)
                        ),
                    )
                    .at(path(j)),
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::seal::sample_ledger;

    fn codes(doc: &Value, level: Level) -> Vec<(String, String)> {
        check(doc, level)
            .into_iter()
            .map(|f| (f.code, f.path.unwrap_or_default()))
            .collect()
    }

    #[test]
    fn a_sealed_ledger_is_clean_at_every_level() {
        let doc = sample_ledger(20, 3);
        for &level in Level::ALL {
            assert_eq!(codes(&doc, level), vec![], "{level}");
        }
    }

    #[test]
    fn each_level_adds_its_checks() {
        let mut doc = sample_ledger(4, 2);
        doc["blocks"][1]["tx_count"] = 5.into(); // standard (and breaks the hash: comprehensive)
        doc["blocks"][2]["transactions"][0]["amount"] = 1.into(); // full digest (and block hash)
        let min = codes(&doc, Level::Minimal);
        assert_eq!(min, vec![]);
        let std = codes(&doc, Level::Standard);
        assert_eq!(
            std,
            vec![("chain.tx_count_mismatch".into(), "/blocks/1".into())]
        );
        let comp = codes(&doc, Level::Comprehensive);
        assert_eq!(
            comp,
            vec![
                ("chain.tx_count_mismatch".into(), "/blocks/1".into()),
                ("chain.hash_mismatch".into(), "/blocks/1".into()),
                ("chain.hash_mismatch".into(), "/blocks/2".into()),
            ]
        );
        let full = codes(&doc, Level::Full);
        assert!(full.contains(&(
            "chain.tx_digest_mismatch".into(),
            "/blocks/2/transactions/0".into()
        )));
    }

    #[test]
    fn a_document_without_blocks_is_malformed_at_the_root() {
        let doc = serde_json::json!({"chain": "x"});
        assert_eq!(
            codes(&doc, Level::Full),
            vec![("chain.malformed".into(), String::new())]
        );
    }
}
