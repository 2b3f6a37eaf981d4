//! `hash-chain`: ledger integrity checks, one level deeper at a time.
//!
//! Subject: `{"chain": string, "blocks": [{"index", "timestamp", "prev_hash",
//! "tx_count", "transactions": [{"id", …, "digest"}], "hash"}]}`.
//! A block's `hash` is the lowercase hex SHA-256 of the RFC 8785 (JCS)
//! canonical JSON of the block without its `hash` member; a transaction's
//! `digest` is the same over the transaction without its `digest` member.
//!
//! | level | adds |
//! |---|---|
//! | minimal | `chain.index_gap`, `chain.prev_hash_mismatch` |
//! | standard | `chain.tx_count_mismatch`, `chain.timestamp_regression` (warning) |
//! | comprehensive | `chain.hash_mismatch` |
//! | full | `chain.tx_duplicate_id`, `chain.tx_digest_mismatch` |
//!
//! Not JSON, or no `blocks` array: one `chain.malformed` at `""`. A block or
//! transaction missing a field its level needs: `chain.malformed` at its path,
//! and the checks that need the field are skipped for it.

mod check;
pub mod jcs;
pub mod seal;

use assay_plugin_sdk::{Finding, Level, NoConfig, PluginInfo, Subject, Validation, Validator};

pub use check::check;

pub struct HashChain;

impl Validator for HashChain {
    type Config = NoConfig;

    fn info() -> PluginInfo {
        assay_plugin_sdk::plugin_info!()
    }

    fn validate(subject: &Subject, level: Level, _: NoConfig) -> Result<Validation, String> {
        let findings = match subject.json() {
            Ok(doc) => check(&doc, level),
            Err(e) => vec![Finding::error("chain.malformed", format!("not JSON: {e}")).at("")],
        };
        Ok(Validation::Findings(findings))
    }
}

assay_plugin_sdk::export_validator!(HashChain);
