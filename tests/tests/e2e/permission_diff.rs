//! Permission diff on upgrade: a new version of a running probe that asks
//! for an HTTP authority its running version did not (and the operator's
//! sidecar grants) waits for approval; the old version keeps probing.
//!
//! The versions are the shipped `http` probe with different `assay:manifest`
//! sections appended, as each SDK's build writes them.

use serde_json::Value;

use crate::common::{Env, shipped, with_manifest};
use crate::server::{Server, Start, eventually, json};
use crate::targets::HttpTarget;

/// The probe's manifest at `version`, asking for HTTP to each of `authorities`.
fn version(version: &str, authorities: &[&str]) -> Vec<u8> {
    let mut toml = format!("name = \"web\"\nversion = \"{version}\"\nkind = \"probe\"\n");
    for a in authorities {
        toml.push_str(&format!(
            "[[grant]]\nkind = \"http\"\ntarget = \"{a}\"\nreason = \"checks {a}\"\n"
        ));
    }
    with_manifest(&std::fs::read(shipped("http")).unwrap(), &toml)
}

/// Writes `bytes` as `web.wasm` the way deploys do: a hidden file renamed over.
fn deploy(env: &Env, bytes: &[u8]) {
    let tmp = env.plugins_dir().join(".web.wasm.tmp");
    std::fs::write(&tmp, bytes).unwrap();
    std::fs::rename(&tmp, env.plugins_dir().join("web.wasm")).unwrap();
}

fn sidecar(env: &Env, target: &HttpTarget, allow: &[String]) {
    sidecar_every(env, target, allow, "200ms");
}

fn sidecar_every(env: &Env, target: &HttpTarget, allow: &[String], interval: &str) {
    let allow: Vec<String> = allow.iter().map(|a| format!("{a:?}")).collect();
    let text = format!(
        "[[probe]]\nname = \"web\"\ninterval = \"{interval}\"\nallow_http = [{}]\nconfig = '{{\"url\": \"{}\"}}'\n",
        allow.join(", "),
        target.url("/")
    );
    let tmp = env.plugins_dir().join(".web.toml.tmp");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, env.plugins_dir().join("web.toml")).unwrap();
}

fn plugin(s: &Server) -> Value {
    let (status, v) = json(s.get("/v1/plugins/web").send().unwrap());
    assert_eq!(status, 200, "{v}");
    v
}

fn digest(bytes: &[u8]) -> String {
    use sha2::Digest;
    format!("sha256:{}", hex::encode(sha2::Sha256::digest(bytes)))
}

fn pending_alert(s: &Server) -> Option<Value> {
    s.alerts()
        .into_iter()
        .find(|a| a["alert"]["name"] == "PluginUpgradePending")
}

fn probe_runs(s: &Server) -> u64 {
    let (_, v) = json(s.get("/v1/probes/web").send().unwrap());
    v["runs"]
        .as_u64()
        .unwrap_or_else(|| panic!("no runs in {v}"))
}

#[test]
fn an_upgrade_asking_for_a_new_authority_waits_for_approval() {
    let env = Env::new();
    let target = HttpTarget::start();
    let a = target.addr.to_string();
    // Granted by the operator, asked for by no version yet.
    let (b, c) = ("127.0.0.1:9".to_owned(), "127.0.0.1:10".to_owned());
    let v1 = version("1.0.0", &[&a]);
    let v2 = version("2.0.0", &[&a, &b]);
    deploy(&env, &v1);
    sidecar(&env, &target, &[a.clone(), b.clone(), c.clone()]);
    let s = Server::start(
        &env,
        Start {
            config: "[plugins]\nrescan_secs = 0\n",
            ..Start::default()
        },
    );
    eventually(20, "web passing", || {
        let (_, v) = json(s.get("/v1/probes/web").send().unwrap());
        (v["state"] == "passing").then_some(())
    });
    assert_eq!(plugin(&s)["digest"], digest(&v1));

    // v2 asks for b as well, which the sidecar grants: it waits.
    deploy(&env, &v2);
    let p = eventually(20, "v2 pending", || {
        let p = plugin(&s);
        (p["state"] == "pending").then_some(p)
    });
    assert_eq!(p["digest"], digest(&v1), "v1 keeps serving: {p}");
    assert_eq!(p["pending"]["digest"], digest(&v2), "{p}");
    assert_eq!(p["pending"]["version"], "2.0.0", "{p}");
    let asked = &p["pending"]["new_grants"];
    assert_eq!(asked.as_array().unwrap().len(), 1, "only b is new: {p}");
    assert_eq!(asked[0]["kind"], "http");
    assert_eq!(asked[0]["target"], b.as_str());
    assert_eq!(asked[0]["reason"], format!("checks {b}"));
    let (_, events) = json(s.get("/v1/plugins/events").send().unwrap());
    let event = &events["events"][0];
    assert_eq!(event["outcome"], "pending", "{events}");
    assert_eq!(event["new_grants"][0]["target"], b.as_str(), "{event}");
    let message = event["error"].as_str().unwrap();
    assert!(
        message.contains(&format!("http {b} (checks {b})")),
        "{message}"
    );
    assert!(
        message.contains("POST /v1/plugins/web/approve"),
        "{message}"
    );
    let alert = eventually(10, "PluginUpgradePending", || pending_alert(&s));
    assert_eq!(alert["alert"]["status"], "firing", "{alert}");
    assert_eq!(alert["alert"]["severity"], "warning", "{alert}");

    // The old version keeps probing, and keeps waiting through a forced rescan.
    let runs = probe_runs(&s);
    eventually(10, "more runs on v1", || {
        (probe_runs(&s) > runs + 2).then_some(())
    });
    let (status, v) = json(s.post("/v1/plugins/reload").send().unwrap());
    assert_eq!(status, 200, "{v}");
    // A sidecar change that leaves the grants alone applies to v1, and approves nothing.
    sidecar_every(&env, &target, &[a.clone(), b.clone(), c.clone()], "300ms");
    eventually(20, "v1 probing every 300 ms", || {
        let (_, v) = json(s.get("/v1/probes/web").send().unwrap());
        (v["interval_ms"] == 300).then_some(())
    });
    let p = plugin(&s);
    assert_eq!(
        (p["state"].as_str(), p["digest"].as_str()),
        (Some("pending"), Some(&*digest(&v1))),
        "{p}"
    );

    // Approving another digest is refused; approving this one switches.
    let (status, v) = json(
        s.post("/v1/plugins/web/approve?digest=sha256:00")
            .send()
            .unwrap(),
    );
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (409, Some("other_digest")),
        "{v}"
    );
    let (status, v) = json(
        s.post(&format!("/v1/plugins/web/approve?digest={}", digest(&v2)))
            .send()
            .unwrap(),
    );
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["live"], true, "{v}");
    assert_eq!(v["approval"]["event"]["outcome"], "ok", "{v}");
    let p = plugin(&s);
    assert_eq!(
        (p["state"].as_str(), p["digest"].as_str()),
        (Some("loaded"), Some(&*digest(&v2))),
        "{p}"
    );
    assert!(p.get("pending").is_none(), "{p}");
    eventually(10, "PluginUpgradePending resolved", || {
        pending_alert(&s)
            .is_none_or(|a| a["alert"]["status"] == "resolved")
            .then_some(())
    });
    let (_, audit) = json(s.get("/v1/audit").send().unwrap());
    let text = audit.to_string();
    assert!(text.contains("plugins.approve"), "{audit}");
    assert!(text.contains(&format!("new grants: http {b}")), "{audit}");
    let (status, v) = json(s.post("/v1/plugins/web/approve").send().unwrap());
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (404, Some("not_pending")),
        "{v}"
    );
    let runs = probe_runs(&s);
    eventually(10, "runs on v2", || {
        (probe_runs(&s) > runs + 2).then_some(())
    });

    // v3 asks for c too: it waits, until the operator changes its grants.
    let v3 = version("3.0.0", &[&a, &b, &c]);
    deploy(&env, &v3);
    eventually(20, "v3 pending", || {
        (plugin(&s)["state"] == "pending").then_some(())
    });
    sidecar(&env, &target, &[a.clone(), c.clone()]);
    let p = eventually(20, "v3 live after the sidecar changed", || {
        let p = plugin(&s);
        (p["digest"] == digest(&v3)).then_some(p)
    });
    assert_eq!(p["state"], "loaded", "{p}");

    // v4 asks for an authority nobody grants: nothing to approve, it switches.
    let v4 = version("4.0.0", &[&a, &c, "127.0.0.1:11"]);
    deploy(&env, &v4);
    eventually(20, "v4 live", || {
        (plugin(&s)["digest"] == digest(&v4)).then_some(())
    });
    let (_, events) = json(s.get("/v1/plugins/events").send().unwrap());
    let pending = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["outcome"] == "pending")
        .count();
    assert_eq!(pending, 2, "v2 and v3 waited, v4 did not: {events}");
}
