//! Who should hold what: rendezvous hashing of work items over the live nodes.
//!
//! Every node computes the same answer from the same list of live nodes, so
//! they agree without talking; a node joining or leaving moves only the
//! items it gains or held (about 1/N of them). The hash is our own (FNV-1a
//! then a 64-bit finaliser), so nodes built by different compilers agree.

/// The node among `nodes` that should hold `item` (`None` if there are none).
pub(crate) fn owner<'a>(item: &str, nodes: &'a [String]) -> Option<&'a str> {
    nodes
        .iter()
        .max_by_key(|n| (score(item, n), n.as_str()))
        .map(String::as_str)
}

fn score(item: &str, node: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in item.bytes().chain([0xff]).chain(node.bytes()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    // splitmix64's finaliser: FNV's low bits alone spread poorly.
    h = (h ^ (h >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h = (h ^ (h >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^ (h >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nodes(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn items_spread_evenly_and_move_only_when_their_node_goes() {
        let three = nodes(&["a", "b", "c"]);
        let items: Vec<String> = (0..3000).map(|i| format!("probe:p{i}")).collect();
        let mut counts = std::collections::BTreeMap::new();
        for i in &items {
            *counts.entry(owner(i, &three).unwrap()).or_insert(0) += 1;
        }
        for (n, c) in &counts {
            assert!(
                (850..=1150).contains(c),
                "{n} holds {c} of 3000: {counts:?}"
            );
        }
        // "c" leaves: only its items move.
        let two = nodes(&["a", "b"]);
        for i in &items {
            let before = owner(i, &three).unwrap();
            if before != "c" {
                assert_eq!(owner(i, &two).unwrap(), before, "{i} moved needlessly");
            }
        }
        assert_eq!(owner("x", &[]), None);
        assert_eq!(owner("x", &nodes(&["solo"])), Some("solo"));
    }
}
