//! `assay serve`: every endpoint, bad input, the cache, live configuration, overload.

use std::time::Duration;

use serde_json::Value;

use crate::common::{Env, shipped, test_plugin};
use crate::server::{Server, Start, code, json};

const REQUIRED_ID: &str = "[config]\nfields = [{ pointer = \"/id\", type = \"string\" }]\n";

fn env_with_plugins() -> Env {
    let env = Env::new();
    env.plugin(&test_plugin("trivial"), "trivial", None);
    env.plugin(
        &shipped("required-fields"),
        "required-fields",
        Some(REQUIRED_ID),
    );
    env
}

#[test]
fn every_endpoint_answers_json_and_history_is_kept() {
    let env = env_with_plugins();
    let s = Server::start(&env, Start::default());

    let health = s.get("/health").send().unwrap();
    assert_eq!(health.status(), 200);
    assert_eq!(health.headers()["content-type"], "application/health+json");
    let (_, h) = json(health);
    assert_eq!(h["status"], "pass", "{h}");
    assert_eq!(h["checks"]["plugins:loaded"][0]["observedValue"], 2);
    assert_eq!(h["checks"]["store:writable"][0]["status"], "pass");
    assert_eq!(
        json(s.get("/ready").send().unwrap()),
        (200, serde_json::json!({"status": "pass"}))
    );

    let (st, good) = s.validate("?level=minimal&name=good.json", r#"{"id": "a"}"#);
    assert_eq!(st, 200, "{good}");
    assert_eq!(good["verdict"], "pass");
    assert_eq!(good["subject"], "good.json");
    assert_eq!(good["level"], "minimal");
    assert_eq!(good["source"], "api");
    let (st, bad) = s.validate("?plugin=required-fields&name=bad.json", r#"{"id": 7}"#);
    assert_eq!(st, 200);
    assert_eq!(bad["verdict"], "fail");
    assert_eq!(bad["level"], "standard", "the default level");
    assert_eq!(bad["plugins"].as_array().unwrap().len(), 1, "{bad}");

    // The content type reaches the plugin's subject; the default name is `request`.
    let (_, r) = json(
        s.post("/v1/validate?plugin=trivial")
            .header("content-type", "text/csv")
            .body("a,b\n")
            .send()
            .unwrap(),
    );
    assert_eq!(r["subject"], "request");

    let (st, list) = json(s.get("/v1/reports").send().unwrap());
    assert_eq!(st, 200);
    assert_eq!(list["reports"].as_array().unwrap().len(), 3);
    let (_, fails) = json(s.get("/v1/reports?verdict=fail&since=1h").send().unwrap());
    assert_eq!(fails["reports"].as_array().unwrap().len(), 1);
    assert_eq!(fails["reports"][0]["subject"], "bad.json");
    let (_, by_subject) = json(
        s.get("/v1/reports?subject=good.json&limit=1")
            .send()
            .unwrap(),
    );
    assert_eq!(by_subject["reports"][0]["id"], good["id"]);
    let (st, full) = json(s.get(&format!("/v1/reports/{}", bad["id"])).send().unwrap());
    assert_eq!(st, 200);
    assert_eq!(full["findings"], bad["findings"]);

    let (st, plugins) = json(s.get("/v1/plugins").send().unwrap());
    assert_eq!(st, 200);
    let names: Vec<&str> = plugins["plugins"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["required-fields", "trivial"]);
    let (st, rf) = json(s.get("/v1/plugins/required-fields").send().unwrap());
    assert_eq!(st, 200);
    assert_eq!(rf["kind"], "validator");
    assert_eq!(rf["calls"]["ok"], 2, "{rf}");
    assert!(rf["digest"].as_str().unwrap().starts_with("sha256:"));

    let (st, cfg) = json(s.get("/v1/config").send().unwrap());
    assert_eq!(st, 200);
    assert_eq!(cfg["default_level"], "standard");
    let (st, monitors) = json(s.get("/v1/monitors").send().unwrap());
    assert_eq!(
        (st, monitors["monitors"].as_array().unwrap().len()),
        (200, 0)
    );

    let metrics = s.get("/metrics").send().unwrap();
    assert_eq!(metrics.status(), 200);
    let text = metrics.text().unwrap();
    for line in [
        "assay_validations_total{level=\"minimal\",source=\"api\",verdict=\"pass\"} 1",
        "assay_plugin_calls_total{kind=\"validator\",outcome=\"ok\",plugin=\"required-fields\"} 2",
        "assay_plugins_loaded{kind=\"validator\"} 2",
        "assay_http_requests_total{method=\"POST\",route=\"/v1/validate\",status=\"200\"} 3",
        "assay_reports_stored_total 3",
    ] {
        assert!(text.contains(line), "missing {line:?} in\n{text}");
    }
    assert!(text.contains("process_resident_memory_bytes"));
}

#[test]
fn the_second_identical_request_is_a_cache_hit_and_the_cache_clears() {
    let env = env_with_plugins();
    let s = Server::start(&env, Start::default());
    let (_, first) = s.validate("?name=a.json", r#"{"id": "x"}"#);
    let (_, second) = s.validate("?name=a.json", r#"{"id": "x"}"#);
    assert_eq!(first["cached"], false);
    assert_eq!(second["cached"], true);
    assert_eq!(second["findings"], first["findings"]);
    assert_ne!(second["id"], first["id"], "both are in the history");
    let (_, stats) = json(s.get("/v1/cache/stats").send().unwrap());
    assert_eq!(
        (stats["hits"].as_u64(), stats["entries"].as_u64()),
        (Some(1), Some(1)),
        "{stats}"
    );
    let (st, cleared) = json(s.post("/v1/cache/clear").send().unwrap());
    assert_eq!((st, cleared["cleared"].as_u64()), (200, Some(1)));
    let (_, third) = s.validate("?name=a.json", r#"{"id": "x"}"#);
    assert_eq!(third["cached"], false);
}

#[test]
fn bad_input_is_a_clear_4xx_and_changes_nothing() {
    let env = env_with_plugins();
    let s = Server::start(
        &env,
        Start {
            config: "[server]\nmax_body_bytes = 1000\n",
            ..Start::default()
        },
    );
    let cases: Vec<(reqwest::blocking::RequestBuilder, u16, &str)> = vec![
        (
            s.post("/v1/validate?level=deep").body("{}"),
            400,
            "unknown_level",
        ),
        (
            s.post("/v1/validate?plugin=nope").body("{}"),
            400,
            "unknown_plugin",
        ),
        (
            s.post("/v1/validate?levle=full").body("{}"),
            400,
            "unknown_parameter",
        ),
        (
            s.post("/v1/validate").body(vec![b' '; 5000]),
            413,
            "body_too_large",
        ),
        (s.get("/v1/plugins/nope"), 404, "unknown_plugin"),
        (s.get("/v1/reports/abc"), 400, "bad_report_id"),
        (s.get("/v1/reports/12345"), 404, "unknown_report"),
        (s.get("/v1/reports?verdict=maybe"), 400, "bad_verdict"),
        (s.get("/v1/reports?since=yesterday-ish"), 400, "bad_since"),
        (s.get("/v1/reports?limit=0"), 400, "bad_limit"),
        (s.get("/v1/nothing-here"), 404, "not_found"),
        (s.delete("/v1/config"), 405, "method_not_allowed"),
        (s.put("/v1/config").body("{not json"), 400, "invalid_json"),
        (
            s.put("/v1/config").body(r#"{"default_level": "deep"}"#),
            400,
            "invalid_json",
        ),
        (
            s.put("/v1/config").body(r#"{"cache": {"ttl": 5}}"#),
            400,
            "invalid_json",
        ),
        (
            s.put("/v1/config")
                .body(r#"{"default_level": "full", "cache": {"ttl_secs": 0}}"#),
            422,
            "invalid_config",
        ),
        (
            s.put("/v1/config")
                .body(r#"{"monitors": {"ghost": {"interval_secs": 5}}}"#),
            422,
            "invalid_config",
        ),
        (
            s.put("/v1/config")
                .body(r#"{"revision": 99, "default_level": "full"}"#),
            409,
            "revision_conflict",
        ),
    ];
    for (req, status, expected) in cases {
        let (st, body) = json(req.send().unwrap());
        assert_eq!((st, code(&body)), (status, expected), "{body}");
        assert!(!body["error"]["message"].as_str().unwrap().is_empty());
    }
    let (_, cfg) = json(s.get("/v1/config").send().unwrap());
    assert_eq!(
        (cfg["revision"].as_u64(), cfg["default_level"].as_str()),
        (Some(1), Some("standard")),
        "nothing changed: {cfg}"
    );
    let (_, reports) = json(s.get("/v1/reports").send().unwrap());
    assert_eq!(reports["reports"].as_array().unwrap().len(), 0);
    // Every refusal of a config change is in the audit log.
    let (_, audit) = json(s.get("/v1/audit").send().unwrap());
    let entries = audit["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 6);
    assert!(
        entries
            .iter()
            .all(|e| e["result"].as_str().unwrap().starts_with("rejected: "))
    );
}

#[test]
fn live_config_changes_take_effect_without_a_restart() {
    let env = env_with_plugins();
    env.plugin(
        &test_plugin("misbehave"),
        "sleepy",
        Some("subjects = [\"*.slow\"]\ntimeout_ms = 10000\n[config]\nmode = \"sleep\"\nsleep_ms = 3000\n"),
    );
    let s = Server::start(&env, Start::default());
    let (_, before) = s.validate("?name=a.json", r#"{"id": "x"}"#);
    assert_eq!(before["level"], "standard");

    let change = r#"{"revision": 1, "default_level": "comprehensive", "cache": {"enabled": false}, "budget_ms": {"minimal": 200}}"#;
    let (st, cfg) = json(s.put("/v1/config").body(change).send().unwrap());
    assert_eq!(st, 200, "{cfg}");
    assert_eq!(cfg["revision"], 2);
    assert_eq!(cfg["budget_ms"]["minimal"], 200);

    let (_, after) = s.validate("?name=a.json", r#"{"id": "x"}"#);
    assert_eq!(after["level"], "comprehensive");
    let (_, again) = s.validate("?name=a.json", r#"{"id": "x"}"#);
    assert_eq!(again["cached"], false, "the cache is off");
    // The minimal budget (200 ms) cuts the 3 s sleeper short; standard has no budget.
    let (_, cut) = s.validate("?level=minimal&name=x.slow&plugin=sleepy", "z");
    assert_eq!(cut["plugins"][0]["outcome"], "timeout", "{cut}");
    assert!(cut["duration_us"].as_u64().unwrap() < 2_000_000, "{cut}");

    let (_, audit) = json(s.get("/v1/audit").send().unwrap());
    assert_eq!(audit["entries"][0]["action"], "config.update");
    assert_eq!(audit["entries"][0]["result"], "ok");
    let metrics = s.get("/metrics").send().unwrap().text().unwrap();
    assert!(metrics.contains("assay_config_changes_total{result=\"applied\"} 1"));
}

#[test]
fn beyond_max_concurrent_validations_the_answer_is_503_with_retry_after() {
    let env = Env::new();
    env.plugin(
        &test_plugin("misbehave"),
        "sleepy",
        Some("timeout_ms = 10000\n[config]\nmode = \"sleep\"\nsleep_ms = 1500\n"),
    );
    let s = Server::start(
        &env,
        Start {
            config: "[server]\nmax_concurrent_validations = 1\n",
            ..Start::default()
        },
    );
    let url = s.url("/v1/validate");
    let slow = std::thread::spawn(move || {
        reqwest::blocking::Client::new()
            .post(url)
            .body("a")
            .send()
            .unwrap()
            .status()
            .as_u16()
    });
    std::thread::sleep(Duration::from_millis(400));
    let resp = s.post("/v1/validate").body("b").send().unwrap();
    assert_eq!(resp.status(), 503);
    assert_eq!(resp.headers()["retry-after"], "1");
    let (_, body): (u16, Value) = json(resp);
    assert_eq!(code(&body), "overloaded");
    assert_eq!(slow.join().unwrap(), 200);
}

#[test]
fn environment_overrides_apply_to_serve() {
    let env = env_with_plugins();
    let s = Server::start(
        &env,
        Start {
            env: &[("ASSAY_VALIDATION__DEFAULT_LEVEL", "full")],
            ..Start::default()
        },
    );
    let (_, cfg) = json(s.get("/v1/config").send().unwrap());
    assert_eq!(cfg["default_level"], "full");
    assert!(
        s.log()
            .contains("validation.default_level set from ASSAY_VALIDATION__DEFAULT_LEVEL"),
        "{}",
        s.log()
    );
}

/// `name{k="v",…}` → value, of the text format's samples.
fn text_samples(text: &str) -> std::collections::BTreeMap<String, f64> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| {
            let (key, value) = l.rsplit_once(' ')?;
            Some((key.to_owned(), value.parse().ok()?))
        })
        .collect()
}

/// The same keys from `/v1/metrics`: counters, gauges, and histograms' `_count` and `_sum`.
fn json_samples(v: &Value) -> std::collections::BTreeMap<String, f64> {
    let mut out = std::collections::BTreeMap::new();
    for f in v["families"].as_array().unwrap() {
        let name = f["name"].as_str().unwrap();
        for m in f["metrics"].as_array().unwrap() {
            let labels: Vec<String> = m["labels"]
                .as_object()
                .unwrap()
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            let key = |suffix: &str| {
                if labels.is_empty() {
                    format!("{name}{suffix}")
                } else {
                    format!("{name}{suffix}{{{}}}", labels.join(","))
                }
            };
            assert!(
                m["timestamp_ms"].as_i64().unwrap() > 1_700_000_000_000,
                "{m}"
            );
            match f["type"].as_str().unwrap() {
                "histogram" => {
                    out.insert(key("_count"), m["count"].as_f64().unwrap());
                    out.insert(key("_sum"), m["sum"].as_f64().unwrap());
                }
                _ => {
                    out.insert(key(""), m["value"].as_f64().unwrap());
                }
            }
        }
    }
    out
}

#[test]
fn json_metrics_carry_the_same_values_and_large_answers_are_gzipped() {
    let env = env_with_plugins();
    let s = Server::start(&env, Start::default());
    for i in 0..3 {
        let (code, _) = s.validate("", format!("{{\"n\": {i}}}"));
        assert_eq!(code, 200);
    }
    // Families that change with every request (the requests themselves,
    // the process) are compared by name only; the rest by value.
    let moving = |k: &str| k.starts_with("assay_http_") || k.starts_with("process_");
    let text = s.get("/metrics").send().unwrap().text().unwrap();
    let (code, v) = json(s.get("/v1/metrics").send().unwrap());
    assert_eq!(code, 200);
    assert!(
        v["timestamp"].as_str().unwrap().ends_with('Z'),
        "{}",
        v["timestamp"]
    );
    let (from_text, from_json) = (text_samples(&text), json_samples(&v));
    let compared: Vec<&String> = from_text
        .keys()
        .filter(|k| !k.contains("_bucket") && !moving(k))
        .collect();
    assert!(compared.len() > 20, "{compared:?}");
    for k in compared {
        assert_eq!(from_json.get(k), Some(&from_text[k]), "{k}");
    }
    assert!(
        from_text
            .keys()
            .filter(|k| moving(k) && !k.contains("_bucket"))
            .all(|k| from_json.contains_key(k))
    );
    let validations = from_text
        .keys()
        .find(|k| k.starts_with("assay_validations_total"))
        .expect("validations counted");
    assert!(from_json[validations] >= 3.0);

    // gzip when asked, plain otherwise, the same JSON either way.
    let gz = s
        .get("/v1/metrics")
        .header("accept-encoding", "gzip")
        .send()
        .unwrap();
    assert_eq!(gz.headers()["content-encoding"], "gzip");
    let packed = gz.bytes().unwrap();
    let mut plain = String::new();
    std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&packed[..]), &mut plain)
        .unwrap();
    let unpacked: Value = serde_json::from_str(&plain).unwrap();
    assert!(
        packed.len() * 3 < plain.len(),
        "{} bytes gzipped from {}",
        packed.len(),
        plain.len()
    );
    assert_eq!(
        unpacked["families"].as_array().unwrap().len(),
        v["families"].as_array().unwrap().len()
    );
    let plain_resp = s.get("/v1/metrics").send().unwrap();
    assert!(plain_resp.headers().get("content-encoding").is_none());
    let scraped = s
        .get("/metrics")
        .header("accept-encoding", "gzip")
        .send()
        .unwrap();
    assert_eq!(
        scraped.headers()["content-encoding"],
        "gzip",
        "Prometheus scrapes gzipped too"
    );
}
