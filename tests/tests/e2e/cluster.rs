//! Three replicas of `assay serve` on one PostgreSQL database: probes spread
//! over them, each run by one node at a time, and move when a node dies.
//!
//! These always run on the tests' PostgreSQL (whatever `ASSAY_E2E_STORAGE` says).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::{Env, test_plugin};
use crate::server::{Server, Start, eventually, json};

const TTL_SECS: u64 = 2;
const PROBES: usize = 9;

fn config() -> String {
    let mut c = format!("[cluster]\nlease_ttl = \"{TTL_SECS}s\"\n");
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
    let config = config();
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
