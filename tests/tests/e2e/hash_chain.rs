//! `hash-chain` through the binary: every check code at the level it starts, and scale.

use hash_chain::seal::{block_hash, sample_ledger, tx_digest};
use serde_json::Value;

use crate::common::{Env, assert_levels, findings, shipped};

fn env() -> Env {
    let env = Env::new();
    env.plugin(&shipped("hash-chain"), "hash-chain", None);
    env
}

/// Recomputes block `i`'s hash, then relinks and rehashes every later block,
/// so that a test's tampering shows up only as the fault it means.
fn reseal(doc: &mut Value, i: usize) {
    let n = doc["blocks"].as_array().unwrap().len();
    for j in i..n {
        if j > i {
            let prev = doc["blocks"][j - 1]["hash"].clone();
            doc["blocks"][j]["prev_hash"] = prev;
        }
        let h = block_hash(doc["blocks"][j].as_object().unwrap());
        doc["blocks"][j]["hash"] = h.into();
    }
}

fn write(env: &Env, name: &str, doc: &Value) -> std::path::PathBuf {
    env.subject(name, serde_json::to_vec(doc).unwrap())
}

#[test]
fn every_check_code_appears_from_its_level_on() {
    let env = env();
    let base = sample_ledger(8, 3);

    let mut d = base.clone();
    d["blocks"][3]["index"] = 7.into();
    reseal(&mut d, 3);
    let index_gap = write(&env, "index-gap.json", &d);

    let mut d = base.clone();
    d["blocks"][2]["prev_hash"] = "11".repeat(32).into();
    reseal(&mut d, 2);
    let prev_hash = write(&env, "prev-hash.json", &d);

    let mut d = base.clone();
    d["blocks"][0]["prev_hash"] = "ff".repeat(32).into();
    reseal(&mut d, 0);
    let genesis = write(&env, "genesis.json", &d);

    let mut d = base.clone();
    d["blocks"][4]["tx_count"] = 99.into();
    reseal(&mut d, 4);
    let tx_count = write(&env, "tx-count.json", &d);

    let mut d = base.clone();
    let earlier = d["blocks"][4]["timestamp"].as_i64().unwrap() - 1;
    d["blocks"][5]["timestamp"] = earlier.into();
    reseal(&mut d, 5);
    let regression = write(&env, "regression.json", &d);

    let mut d = base.clone();
    let forged = "ab".repeat(32);
    d["blocks"][4]["hash"] = forged.clone().into();
    d["blocks"][5]["prev_hash"] = forged.into();
    reseal(&mut d, 5);
    let hash = write(&env, "hash.json", &d);

    let mut d = base.clone();
    let reused = d["blocks"][1]["transactions"][0]["id"].clone();
    d["blocks"][3]["transactions"][1]["id"] = reused;
    let digest = tx_digest(d["blocks"][3]["transactions"][1].as_object().unwrap());
    d["blocks"][3]["transactions"][1]["digest"] = digest.into();
    reseal(&mut d, 3);
    let dup_id = write(&env, "dup-id.json", &d);

    let mut d = base.clone();
    d["blocks"][2]["transactions"][0]["amount"] = 123456.into();
    reseal(&mut d, 2);
    let tx_digest_file = write(&env, "tx-digest.json", &d);

    let not_json = env.subject("not-json.json", "this is not JSON");
    let no_blocks = env.subject("no-blocks.json", r#"{"chain": "x"}"#);

    assert_levels(
        &env,
        &[
            (&index_gap, "chain.index_gap", "/blocks/3", "minimal"),
            (
                &prev_hash,
                "chain.prev_hash_mismatch",
                "/blocks/2",
                "minimal",
            ),
            (&genesis, "chain.prev_hash_mismatch", "/blocks/0", "minimal"),
            (
                &tx_count,
                "chain.tx_count_mismatch",
                "/blocks/4",
                "standard",
            ),
            (
                &regression,
                "chain.timestamp_regression",
                "/blocks/5",
                "standard",
            ),
            (&hash, "chain.hash_mismatch", "/blocks/4", "comprehensive"),
            (
                &dup_id,
                "chain.tx_duplicate_id",
                "/blocks/3/transactions/1",
                "full",
            ),
            (
                &tx_digest_file,
                "chain.tx_digest_mismatch",
                "/blocks/2/transactions/0",
                "full",
            ),
            (&not_json, "chain.malformed", "", "minimal"),
            (&no_blocks, "chain.malformed", "", "minimal"),
        ],
    );
}

#[test]
fn a_tampered_transaction_shows_only_its_own_fault() {
    let env = env();
    let mut d = sample_ledger(5, 2);
    d["blocks"][2]["transactions"][0]["amount"] = 1.into();
    reseal(&mut d, 2);
    let f = write(&env, "t.json", &d);
    let reports = env
        .validate_json(&["--level", "full", f.to_str().unwrap()])
        .reports();
    assert_eq!(
        findings(&reports[0]),
        vec![(
            "chain.tx_digest_mismatch".into(),
            "/blocks/2/transactions/0".into()
        )]
    );
}

#[test]
fn a_timestamp_regression_alone_is_a_warning_that_passes_the_default_bar() {
    let env = env();
    let mut d = sample_ledger(3, 1);
    let earlier = d["blocks"][0]["timestamp"].as_i64().unwrap() - 5;
    d["blocks"][1]["timestamp"] = earlier.into();
    reseal(&mut d, 1);
    let f = write(&env, "warn.json", &d);
    let f = f.to_str().unwrap();
    let run = env.validate_json(&["--level", "standard", f]);
    assert_eq!(run.code, 0);
    assert_eq!(run.reports()[0]["verdict"], "warn");
    assert_eq!(run.reports()[0]["findings"][0]["severity"], "warning");
    let strict = env.validate_json(&["--level", "standard", "--fail-on", "warning", f]);
    assert_eq!(strict.code, 1);
}

#[test]
fn a_sound_ten_thousand_block_ledger_passes_at_full() {
    let env = env();
    let f = write(&env, "big.json", &sample_ledger(10_000, 3));
    let run = env.validate_json(&["--level", "full", f.to_str().unwrap()]);
    let report = &run.reports()[0];
    assert_eq!(report["verdict"], "pass", "{report}");
    assert_eq!(report["plugins"][0]["outcome"], "ok");
    assert_eq!(run.code, 0);
}
