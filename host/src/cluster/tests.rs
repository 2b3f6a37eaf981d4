//! Two nodes on one store, on each backend: items spread, stay exclusive,
//! and move when a node goes silent; a stale holder's fence is refused.

use super::*;
use crate::store::testing::stores;

fn items(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("probe:p{i}")).collect()
}

async fn round(nodes: &[&Cluster], store: &Store) {
    for n in nodes {
        n.tick(store).await.unwrap();
    }
}

#[tokio::test]
async fn items_are_held_once_and_move_when_a_node_goes_silent() {
    for t in stores().await {
        let ttl = Duration::from_millis(1500);
        let a = Cluster::shared("a".into(), ttl, t.store.clone());
        let b = Cluster::shared("b".into(), ttl, t.store.clone());
        for n in [&a, &b] {
            n.want("probe:", items(40));
            n.want("alerts", ["alerts".to_owned()]);
        }
        // Two rounds: each sees the other's heartbeat, then hands back what is not its own.
        for _ in 0..3 {
            round(&[&a, &b], &t.store).await;
        }
        let all: Vec<String> = items(40).into_iter().chain(["alerts".into()]).collect();
        let mut held_by_a = Vec::new();
        for i in &all {
            match (a.holds(i), b.holds(i)) {
                (Some(_), None) => held_by_a.push(i.clone()),
                (None, Some(_)) => {}
                other => panic!("{}: {i} is held by {other:?}", t.backend),
            }
        }
        assert!(
            (5..36).contains(&held_by_a.len()),
            "{}: a holds {} of 41",
            t.backend,
            held_by_a.len()
        );
        let b_item = all.iter().find(|i| b.holds(i).is_some()).unwrap().clone();
        let stale = b.fence(&b_item).unwrap();
        assert_eq!(stale.holder, "b");

        // b goes silent (no more ticks, no goodbye): a takes everything once
        // b's heartbeat and leases are older than the TTL.
        tokio::time::sleep(ttl + Duration::from_millis(100)).await;
        b.expire();
        assert_eq!(
            b.holds(&b_item),
            None,
            "{}: b's hold outlived 80% of the TTL",
            t.backend
        );
        round(&[&a], &t.store).await;
        for i in &all {
            assert!(a.holds(i).is_some(), "{}: {i} did not move to a", t.backend);
        }
        let fresh = a.fence(&b_item).unwrap();
        assert!(
            fresh.token > stale.token,
            "{}: {fresh:?} vs {stale:?}",
            t.backend
        );

        // The stale holder's result is refused; the current holder's lands.
        let results = crate::probes::ProbeRepo::new(t.store.clone(), true);
        let row = |msg: &str| crate::probes::ProbeRow::example(&b_item, msg);
        assert_eq!(
            results
                .record_fenced(row("stale"), Some(stale))
                .await
                .unwrap(),
            0
        );
        // (Four rows: the result, the state the other replicas read, and
        // its hour's and its day's uptime counts.)
        assert_eq!(
            results
                .record_fenced(row("fresh"), Some(fresh))
                .await
                .unwrap(),
            4
        );
        // The stale result is in no uptime count either.
        let now = crate::clock::now_ms();
        let counted = results.uptime(now, None).await.unwrap();
        assert_eq!(counted[&b_item].day.total, 1, "{}", t.backend);
        let stored = results.history(&b_item, 10).await.unwrap();
        assert_eq!(stored.len(), 1, "{}", t.backend);
        assert_eq!(stored[0].message, "fresh");
        // The shared state too: only the current holder's.
        let shared = results.shared_states().await.unwrap();
        assert_eq!(shared[&b_item].state, "passing", "{}", t.backend);

        // A clean stop hands leases back at once.
        a.leave(&t.store).await;
        let status = Cluster::shared("c".into(), ttl, t.store.clone())
            .status()
            .await
            .unwrap();
        assert!(
            status.leases.iter().all(|l| !l.held),
            "{}: {:?}",
            t.backend,
            status.leases
        );
        assert!(status.nodes.iter().all(|n| n.node != "a"));
    }
}

#[test]
fn a_solo_node_holds_everything_without_fences() {
    let c = Cluster::solo("only".into());
    assert_eq!(c.holds("probe:x"), Some(0));
    assert_eq!(c.fence("probe:x"), None);
    assert!(!c.is_shared());
}

/// A guarded write lands only from the lease's current holder (PostgreSQL:
/// the guard is `assay_fence`; a solo SQLite node has no fences).
#[tokio::test]
async fn a_guarded_write_from_a_stale_holder_is_refused_whole() {
    for t in stores().await {
        if t.backend != "postgres" {
            continue;
        }
        let store = &t.store;
        let take = |node: &str, now: i64| {
            let acquire = repo::acquire("alerts", node, now, now + 1000);
            store.write(vec![acquire]).each()
        };
        let token_a = take("a", 0).await.unwrap()[0].count;
        let fence_a = Fence {
            lease: "alerts".into(),
            holder: "a".into(),
            token: token_a,
        };
        let mark = |v: &str| {
            Stmt::exec(
                "INSERT INTO live_settings (id, revision, base, body, changed_ms, change_id) VALUES (1, 1, ?1, '', 0, '')
                 ON CONFLICT (id) DO UPDATE SET base = ?1",
                crate::store::args![v],
            )
        };
        let write =
            |fence: &Fence, v: &str| store.write(Fence::guarded(Some(fence), vec![mark(v)]));
        write(&fence_a, "from a").wait().await.unwrap();
        // `a`'s lease ran out and `b` took it: `a`'s next write is refused, and changes nothing.
        let token_b = take("b", 5000).await.unwrap()[0].count;
        assert_eq!(token_b, token_a + 1);
        let e = write(&fence_a, "late from a").wait().await.unwrap_err();
        assert!(
            e.to_string()
                .contains("fenced off: a no longer holds lease alerts"),
            "{e}"
        );
        let fence_b = Fence {
            holder: "b".into(),
            token: token_b,
            ..fence_a
        };
        write(&fence_b, "from b").wait().await.unwrap();
        let row = store
            .query_opt("SELECT base FROM live_settings", crate::store::args![])
            .await
            .unwrap();
        assert_eq!(row.unwrap().take_text(0).unwrap(), "from b");
    }
}
