//! Replicas of `assay serve` on one PostgreSQL database: probes spread over
//! them, each run by one node at a time, and move when a node dies; a
//! silence made on one mutes on the others; alerts posted to any of them
//! through a kill reach the receiver, none under a second key.
//!
//! These always run on the tests' PostgreSQL (whatever `ASSAY_E2E_STORAGE` says).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::common::{Env, shipped, test_plugin};
use crate::receivers::{Mode, Receiver};
use crate::server::{FAST_ALERTING, Server, Start, eventually, json};

const TTL_SECS: u64 = 2;
const PROBES: usize = 9;

fn config(records: &std::path::Path) -> String {
    let mut c = format!(
        "[cluster]\nlease_ttl = \"{TTL_SECS}s\"\n\
         [[monitor]]\nname = \"records\"\npath = {records:?}\nglob = \"*.json\"\ninterval_secs = 3600\n"
    );
    for i in 0..PROBES {
        c.push_str(&format!(
            "[[probe]]\nname = \"clock-{i}\"\nplugin = \"clock-probe\"\ninterval = \"1s\"\n"
        ));
    }
    c
}

fn node(env: &Env, name: &str, config: &str) -> Server {
    Server::start(
        env,
        Start {
            config,
            env: &[
                ("ASSAY_STORAGE__URL", env.database_url()),
                ("ASSAY_CLUSTER__NODE", name),
            ],
            ..Start::default()
        },
    )
}

fn cluster(s: &Server) -> Value {
    let (code, v) = json(s.get("/v1/cluster").send().unwrap());
    assert_eq!(code, 200, "{v}");
    v
}

/// Holder of each probe lease that is held now.
fn holders(c: &Value) -> BTreeMap<String, String> {
    c["leases"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["held"] == true && l["name"].as_str().unwrap().starts_with("probe:"))
        .map(|l| {
            (
                l["name"].as_str().unwrap().to_owned(),
                l["holder"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// Runs so far of each probe on `s` (its in-memory count: runs it made itself).
fn runs(s: &Server) -> BTreeMap<String, u64> {
    let (_, v) = json(s.get("/v1/probes").send().unwrap());
    v["probes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["name"].as_str().unwrap().to_owned(),
                p["runs"].as_u64().unwrap(),
            )
        })
        .collect()
}

#[test]
fn probes_spread_over_three_replicas_run_once_per_interval_and_fail_over() {
    let env = Env::new();
    env.plugin(&test_plugin("clock-probe"), "clock-probe", None);
    env.plugin(&shipped("hash-chain"), "hash-chain", None);
    let records = env.work_dir().join("records");
    std::fs::create_dir_all(&records).unwrap();
    std::fs::write(records.join("a.json"), r#"{"n": 0}"#).unwrap();
    let config = config(&records);
    let names = ["n1", "n2", "n3"];
    let mut nodes: Vec<Option<Server>> =
        names.iter().map(|n| Some(node(&env, n, &config))).collect();
    let live = |nodes: &[Option<Server>]| -> Vec<usize> {
        (0..nodes.len()).filter(|i| nodes[*i].is_some()).collect()
    };

    // Every probe lease held, by three live nodes, each holding some.
    let first = nodes[0].as_ref().unwrap();
    let held = eventually(30, "every probe lease held, spread over 3 nodes", || {
        let c = cluster(first);
        let alive = c["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|n| n["alive"] == true)
            .count();
        let h = holders(&c);
        let spread: std::collections::BTreeSet<&String> = h.values().collect();
        (alive == 3 && h.len() == PROBES && spread.len() == 3).then_some(h)
    });

    // Spread: over 5 s, each probe runs on exactly one node, about once a second.
    let before: Vec<BTreeMap<String, u64>> =
        nodes.iter().map(|n| runs(n.as_ref().unwrap())).collect();
    std::thread::sleep(Duration::from_secs(5));
    let after: Vec<BTreeMap<String, u64>> =
        nodes.iter().map(|n| runs(n.as_ref().unwrap())).collect();
    for i in 0..PROBES {
        let probe = format!("clock-{i}");
        let ran: Vec<(usize, u64)> = (0..3)
            .map(|n| (n, after[n][&probe] - before[n][&probe]))
            .filter(|(_, d)| *d > 0)
            .collect();
        assert_eq!(ran.len(), 1, "{probe} ran on {ran:?} (node index, runs)");
        let (n, count) = ran[0];
        assert!(
            (4..=6).contains(&count),
            "{probe} ran {count} times in 5 s on {}",
            names[n]
        );
        assert_eq!(
            held[&format!("probe:{probe}")],
            names[n],
            "{probe} ran off its lease"
        );
    }

    // Every replica answers for every probe: its state and last result, wherever it runs.
    let views: Vec<Value> = nodes
        .iter()
        .map(|n| json(n.as_ref().unwrap().get("/v1/probes").send().unwrap()).1)
        .collect();
    for i in 0..PROBES {
        let name = format!("clock-{i}");
        let mut here = 0;
        for (n, v) in views.iter().enumerate() {
            let p = v["probes"]
                .as_array()
                .unwrap()
                .iter()
                .find(|p| p["name"] == name.as_str())
                .unwrap();
            assert_eq!(p["state"], "passing", "{name} on {}: {p}", names[n]);
            assert_eq!(
                p["last_result"]["status"], "pass",
                "{name} on {}: {p}",
                names[n]
            );
            here += usize::from(p["runs_here"] == true);
        }
        assert_eq!(here, 1, "{name} runs here on {here} replicas");
    }

    // The monitor is leased too: every replica sees the file change, one validates it.
    // (Counted by each replica's own passes: one write may wake a pass or two.)
    let change_passes = |s: &Server| -> u64 {
        let text = s.get("/metrics").send().unwrap().text().unwrap();
        text.lines()
            .filter(|l| {
                l.starts_with("assay_monitor_runs_total{")
                    && l.contains("monitor=\"records\"")
                    && l.contains("trigger=\"change\"")
            })
            .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
            .sum()
    };
    let before: Vec<u64> = nodes
        .iter()
        .map(|n| change_passes(n.as_ref().unwrap()))
        .collect();
    std::fs::write(records.join("a.json"), r#"{"n": 1}"#).unwrap();
    let passed = eventually(30, "the changed file validated", || {
        let now: Vec<u64> = nodes
            .iter()
            .map(|n| change_passes(n.as_ref().unwrap()))
            .collect();
        let grew: Vec<usize> = (0..3).filter(|i| now[*i] > before[*i]).collect();
        (!grew.is_empty()).then_some(grew)
    });
    // (Long enough for another replica's pass, were there one: debounce 200 ms + the call.)
    std::thread::sleep(Duration::from_secs(2));
    let now: Vec<u64> = nodes
        .iter()
        .map(|n| change_passes(n.as_ref().unwrap()))
        .collect();
    let grew: Vec<&str> = (0..3)
        .filter(|i| now[*i] > before[*i])
        .map(|i| names[i])
        .collect();
    assert_eq!(
        grew.len(),
        1,
        "the change was validated on {grew:?} (first seen on {passed:?})"
    );

    // Failover: kill -9 the node with the most probes; its leases move within 2 × TTL.
    let victim_name = {
        let mut counts: BTreeMap<&String, usize> = BTreeMap::new();
        for h in held.values() {
            *counts.entry(h).or_default() += 1;
        }
        counts
            .into_iter()
            .max_by_key(|(_, c)| *c)
            .unwrap()
            .0
            .clone()
    };
    let victim = names.iter().position(|n| *n == victim_name).unwrap();
    let survivor = live(&nodes).into_iter().find(|i| *i != victim).unwrap();
    let killed = Instant::now();
    nodes[victim].as_mut().unwrap().crash();
    nodes[victim] = None;
    let moved = eventually(30, "the dead node's probes to move", || {
        let h = holders(&cluster(nodes[survivor].as_ref().unwrap()));
        (h.len() == PROBES && h.values().all(|n| *n != victim_name)).then(|| killed.elapsed())
    });
    assert!(
        moved < Duration::from_secs(2 * TTL_SECS),
        "probes moved {moved:?} after the kill (lease_ttl {TTL_SECS} s)"
    );
    eprintln!("failover: the dead node's probes moved in {moved:?} (lease_ttl {TTL_SECS} s)");
    // ... and run there.
    let total = |nodes: &[Option<Server>]| -> BTreeMap<String, u64> {
        let mut sum = BTreeMap::new();
        for s in nodes.iter().flatten() {
            for (probe, n) in runs(s) {
                *sum.entry(probe).or_default() += n;
            }
        }
        sum
    };
    let before = total(&nodes);
    std::thread::sleep(Duration::from_secs(3));
    for (probe, n) in &total(&nodes) {
        assert!(
            n - before[probe] >= 2,
            "{probe} did not run after the failover"
        );
    }

    // The node comes back (a new process, the same name): the load rebalances onto it.
    nodes[victim] = Some(node(&env, &victim_name, &config));
    eventually(30, "the returning node to take its share", || {
        let h = holders(&cluster(nodes[survivor].as_ref().unwrap()));
        (h.len() == PROBES && h.values().any(|n| *n == victim_name)).then_some(())
    });
}

/// The fingerprints of every alert in `notifications`.
fn fingerprints(
    notifications: &[crate::receivers::Received],
) -> std::collections::BTreeSet<String> {
    notifications
        .iter()
        .flat_map(|n| {
            n.json()["alerts"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| a["fingerprint"].as_str().unwrap().to_owned())
                .collect::<Vec<_>>()
        })
        .collect()
}

/// Replicas with a webhook channel to `r`, fast alert timings.
fn alerting_config(r: &Receiver, extra: &str) -> String {
    format!(
        "{FAST_ALERTING}\n[cluster]\nlease_ttl = \"{TTL_SECS}s\"\n{}",
        r.channel("hook", extra)
    )
}

/// Waits until some node holds the `alerts` lease; answers its name.
fn alert_leader(s: &Server) -> String {
    eventually(30, "a replica to hold the alerts lease", || {
        let c = cluster(s);
        c["leases"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["name"] == "alerts" && l["held"] == true)
            .map(|l| l["holder"].as_str().unwrap().to_owned())
    })
}

fn view_state(s: &Server, fingerprint: &str) -> Option<String> {
    s.alerts()
        .into_iter()
        .find(|a| a["alert"]["fingerprint"] == fingerprint)
        .map(|a| a["state"].as_str().unwrap().to_owned())
}

#[test]
fn a_silence_made_on_one_replica_mutes_on_another_within_a_second() {
    let env = Env::new();
    let r = Receiver::start();
    let config = alerting_config(&r, "");
    let a = node(&env, "a", &config);
    let b = node(&env, "b", &config);
    alert_leader(&a);
    for (follower, leader_side) in [(&a, &b), (&b, &a)] {
        // An alert posted to one replica goes out once...
        let host = format!("h-{}", distinct_word(follower));
        let acc = follower.post_alerts(json!([
            {"name": "DiskFull", "severity": "warning", "labels": {"host": host}}
        ]));
        let fp = acc[0]["fingerprint"].as_str().unwrap().to_owned();
        eventually(20, "the alert delivered", || {
            r.delivered("/hook")
                .iter()
                .any(|n| n.json()["alerts"][0]["fingerprint"] == fp.as_str())
                .then_some(())
        });
        // ... and a silence made on the other mutes it, seen from both, within 1 s.
        let made = Instant::now();
        let (status, v) = json(
            leader_side
                .post("/v1/silences")
                .json(&json!({"matchers": [format!("host=\"{host}\"")], "comment": "maintenance", "duration": "1h"}))
                .send()
                .unwrap(),
        );
        assert_eq!(status, 201, "{v}");
        for s in [follower, leader_side] {
            eventually(5, "the alert silenced", || {
                (view_state(s, &fp).as_deref() == Some("silenced")).then_some(())
            });
        }
        let took = made.elapsed();
        eprintln!("shared silence: muted on both replicas {took:?} after it was made");
        assert!(
            took < Duration::from_secs(1),
            "the silence took {took:?} to mute"
        );
    }
}

/// A distinct word per call (alert names must not collide between rounds).
fn distinct_word(s: &Server) -> String {
    format!("{}", s.pid())
}

#[test]
fn ten_thousand_alerts_round_robin_through_a_kill_lose_nothing() {
    const ALERTS: usize = 10_000;
    const BATCH: usize = 50;
    let env = Env::new();
    let r = Receiver::start();
    let config = alerting_config(&r, "concurrency = 16");
    let names = ["r1", "r2", "r3"];
    let mut nodes: Vec<Option<Server>> =
        names.iter().map(|n| Some(node(&env, n, &config))).collect();
    let leader = alert_leader(nodes[0].as_ref().unwrap());
    let victim = names.iter().position(|n| *n == leader).unwrap();
    let started = Instant::now();
    let mut accepted: BTreeMap<String, String> = BTreeMap::new();
    let batches = ALERTS / BATCH;
    for b in 0..batches {
        if b == batches / 3 {
            // kill -9 the replica deciding alert state, mid-traffic.
            nodes[victim].as_mut().unwrap().crash();
            nodes[victim] = None;
        }
        if b == 2 * batches / 3 {
            nodes[victim] = Some(node(&env, names[victim], &config));
        }
        let alerts: Vec<Value> = (0..BATCH)
            .map(|i| json!({"name": format!("Load{b}x{i}"), "severity": "warning"}))
            .collect();
        // Round robin; a refused or failed request goes to the next replica.
        let mut sent = false;
        for k in 0..3 {
            let Some(s) = nodes[(b + k) % 3].as_ref() else {
                continue;
            };
            let Ok(resp) = s
                .post("/v1/alerts")
                .json(&json!({ "alerts": alerts }))
                .send()
            else {
                continue;
            };
            if resp.status().as_u16() != 202 {
                continue;
            }
            let v: Value = resp.json().unwrap();
            for (a, sent) in v["accepted"].as_array().unwrap().iter().zip(&alerts) {
                accepted.insert(
                    a["fingerprint"].as_str().unwrap().to_owned(),
                    sent["name"].as_str().unwrap().to_owned(),
                );
            }
            sent = true;
            break;
        }
        assert!(sent, "no replica took batch {b}");
    }
    let posted = started.elapsed();
    assert_eq!(accepted.len(), ALERTS);

    // Every accepted alert reaches the receiver; a duplicate keeps its key.
    let delivered = eventually(300, "every accepted alert delivered", || {
        let got = r.delivered("/hook");
        let told = fingerprints(&got);
        accepted.keys().all(|fp| told.contains(fp)).then_some(got)
    });
    let took = started.elapsed();
    let mut keys_of: BTreeMap<String, std::collections::BTreeSet<String>> = BTreeMap::new();
    let mut per_key: BTreeMap<String, usize> = BTreeMap::new();
    for n in &delivered {
        let key = n
            .header("idempotency-key")
            .expect("an Idempotency-Key")
            .to_owned();
        *per_key.entry(key.clone()).or_default() += 1;
        for a in n.json()["alerts"].as_array().unwrap() {
            keys_of
                .entry(a["fingerprint"].as_str().unwrap().to_owned())
                .or_default()
                .insert(key.clone());
        }
    }
    let new_keys: Vec<_> = keys_of.iter().filter(|(_, k)| k.len() > 1).collect();
    assert!(
        new_keys.is_empty(),
        "alerts notified under more than one key: {:?}",
        &new_keys[..new_keys.len().min(5)]
    );
    let duplicates: usize = per_key.values().map(|n| n - 1).sum();
    eprintln!(
        "no loss: {ALERTS} alerts posted round-robin to 3 replicas in {posted:?}, the alert leader \
         ({leader}) killed at a third and restarted at two thirds; all {} notifications delivered \
         {took:?} after the first post; {duplicates} duplicate deliveries (same key)",
        per_key.len()
    );
}

#[test]
fn the_database_down_for_ten_seconds_loses_nothing_acknowledged_and_recovers() {
    let pg = crate::pg::PrivateServer::start();
    let env = Env::new();
    let r = Receiver::start();
    let config = alerting_config(&r, "");
    let url = pg.url();
    let start = |name: &str| {
        Server::start(
            &env,
            Start {
                config: &config,
                env: &[("ASSAY_STORAGE__URL", &url), ("ASSAY_CLUSTER__NODE", name)],
                ..Start::default()
            },
        )
    };
    let nodes = [start("d1"), start("d2")];
    alert_leader(&nodes[0]);
    let mut accepted: BTreeMap<String, String> = BTreeMap::new();
    let mut refused = 0;
    let mut post = |s: &Server, name: String, accepted: &mut BTreeMap<String, String>| -> bool {
        let resp = s
            .post("/v1/alerts")
            .json(&json!({"alerts": [{"name": name, "severity": "warning"}]}))
            .send()
            .unwrap();
        match resp.status().as_u16() {
            202 => {
                let v: Value = resp.json().unwrap();
                accepted.insert(
                    v["accepted"][0]["fingerprint"].as_str().unwrap().to_owned(),
                    name,
                );
                true
            }
            503 => {
                refused += 1;
                false
            }
            other => panic!("POST /v1/alerts answered {other}: {}", resp.text().unwrap()),
        }
    };
    for i in 0..20 {
        assert!(post(&nodes[i % 2], format!("Before{i}"), &mut accepted));
    }
    pg.ctl("stop");
    let stopped = Instant::now();
    // Both replicas say they are not ready; what they are sent meanwhile is refused, not lost.
    for s in &nodes {
        eventually(5, "/ready to fail without the database", || {
            (s.get("/ready").send().unwrap().status().as_u16() == 503).then_some(())
        });
    }
    let mut i = 0;
    while stopped.elapsed() < Duration::from_secs(10) {
        post(&nodes[i % 2], format!("During{i}"), &mut accepted);
        i += 1;
        std::thread::sleep(Duration::from_millis(200));
    }
    pg.ctl("start");
    // They come back by themselves, and take alerts again.
    for s in &nodes {
        eventually(30, "/ready again once the database is back", || {
            (s.get("/ready").send().unwrap().status().as_u16() == 200).then_some(())
        });
    }
    let recovered = stopped.elapsed();
    let taken_after = (0..20)
        .filter(|i| post(&nodes[i % 2], format!("After{i}"), &mut accepted))
        .count();
    assert!(
        taken_after >= 18,
        "only {taken_after} of 20 alerts taken once ready again"
    );
    eventually(60, "every acknowledged alert delivered", || {
        let told = fingerprints(&r.delivered("/hook"));
        accepted.keys().all(|fp| told.contains(fp)).then_some(())
    });
    eprintln!(
        "database down: {} alerts acknowledged and all delivered; {refused} refused with 503 \
         (while it was down, and {} right after); ready again {recovered:?} after the stop (10 s down)",
        accepted.len(),
        20 - taken_after
    );
    assert!(
        refused > 0,
        "nothing was refused while the database was down"
    );
}

/// Whether `s`'s metrics say the circuit of channel `hook` is open (`1`) or closed (`0`).
fn circuit(s: &Server, open: u8) -> bool {
    let m = s.get("/metrics").send().unwrap().text().unwrap();
    m.contains(&format!(
        r#"assay_channel_circuit_open{{channel="hook"}} {open}"#
    ))
}

#[test]
fn a_channel_circuit_and_live_settings_are_shared_by_the_replicas() {
    let env = Env::new();
    let r = Receiver::start();
    let config = format!(
        "{FAST_ALERTING}breaker_failures = 2\nbreaker_cooldown = \"4s\"\n\
         [cluster]\nlease_ttl = \"{TTL_SECS}s\"\n{}",
        r.channel("hook", "concurrency = 1")
    );
    let a = node(&env, "a", &config);
    let mut b = node(&env, "b", &config);
    alert_leader(&a);

    // A live change made on `a` is followed by `b` within 1 s.
    let (status, changed) = json(
        a.put("/v1/config")
            .body(r#"{"default_level": "full"}"#)
            .send()
            .unwrap(),
    );
    assert_eq!(status, 200, "{changed}");
    let made = Instant::now();
    let revision = changed["revision"].as_u64().unwrap();
    eventually(5, "the change seen on b", || {
        let (_, seen) = json(b.get("/v1/config").send().unwrap());
        (seen["revision"] == revision && seen["default_level"] == "full").then_some(())
    });
    let took = made.elapsed();
    eprintln!("shared live change: followed by the other replica {took:?} after it was made");
    assert!(took < Duration::from_secs(1), "it took {took:?}");
    // A change made against the old revision on `b` is refused; a restart keeps the change.
    let (status, v) = json(
        b.put("/v1/config")
            .body(format!(
                r#"{{"revision": {}, "default_level": "minimal"}}"#,
                revision - 1
            ))
            .send()
            .unwrap(),
    );
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (409, Some("revision_conflict")),
        "{v}"
    );
    assert_eq!(b.signal_and_wait("TERM"), 0);
    let b = node(&env, "b", &config);
    let (_, seen) = json(b.get("/v1/config").send().unwrap());
    assert_eq!(
        (seen["revision"].as_u64(), seen["default_level"].as_str()),
        (Some(revision), Some("full"))
    );

    // Two failures anywhere open the channel's circuit on every replica.
    r.set_mode(Mode::Fail(500));
    let alerts: Vec<Value> = (0..10)
        .map(|i| json!({"name": format!("Down{i}"), "severity": "warning"}))
        .collect();
    a.post_alerts(Value::Array(alerts));
    for s in [&a, &b] {
        eventually(10, "the circuit open on both replicas", || {
            circuit(s, 1).then_some(())
        });
    }
    let attempts = r.all().len();
    assert!(
        attempts <= 3,
        "{attempts} attempts: 2 failures open the circuit for all replicas (one more may have been in flight)"
    );
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(
        r.all().len(),
        attempts,
        "no replica attempts while the circuit is open"
    );
    // After the cooldown one trial goes; it succeeds, the circuit closes everywhere, all are delivered.
    r.set_mode(Mode::Accept);
    let got = r.wait_delivered("/hook", 10, 30);
    assert_eq!(fingerprints(&got).len(), 10);
    for s in [&a, &b] {
        eventually(10, "the circuit closed on both replicas", || {
            circuit(s, 0).then_some(())
        });
    }
}
