//! Weighted splits: a stable hash of a key picks a side, so the same key
//! always lands on the same side, on every worker and every Envoy.

use crate::config::{Split, Target};
use sha2::{Digest, Sha256};

/// Picks the target for `key` by weight: the key's SHA-256, taken as a
/// number, falls in one target's share of the total weight.
pub fn pick<'a>(split: &'a Split, key: &str) -> Option<&'a Target> {
    let total: u64 = split.targets.iter().map(|t| u64::from(t.weight)).sum();
    if total == 0 {
        return None;
    }
    let digest: [u8; 32] = Sha256::digest(key.as_bytes()).into();
    let mut first = [0u8; 8];
    first.copy_from_slice(digest.get(..8)?);
    let mut point = u64::from_le_bytes(first) % total;
    for target in &split.targets {
        let weight = u64::from(target.weight);
        if point < weight {
            return Some(target);
        }
        point -= weight;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(weights: &[(&str, u32)]) -> Split {
        let targets: Vec<serde_json::Value> = weights
            .iter()
            .map(|(v, w)| serde_json::json!({"value": v, "weight": w}))
            .collect();
        serde_json::from_value(serde_json::json!({"header": "x-route-version", "targets": targets}))
            .unwrap()
    }

    fn shares(split: &Split, keys: usize) -> Vec<usize> {
        let mut counts = vec![0; split.targets.len()];
        for i in 0..keys {
            let target = pick(split, &format!("user-{i}")).unwrap();
            let at = split
                .targets
                .iter()
                .position(|t| t.value == target.value)
                .unwrap();
            counts[at] += 1;
        }
        counts
    }

    #[test]
    fn shares_follow_the_weights_within_tolerance() {
        // 10,000 keys: a 10% share lands within 10% ± 1.5 points.
        let counts = shares(&split(&[("v1", 90), ("v2", 10)]), 10_000);
        assert!((850..=1150).contains(&counts[1]), "{counts:?}");
        let counts = shares(&split(&[("a", 1), ("b", 1), ("c", 2)]), 10_000);
        assert!((2350..=2650).contains(&counts[0]), "{counts:?}");
        assert!((4850..=5150).contains(&counts[2]), "{counts:?}");
    }

    #[test]
    fn a_key_always_gets_the_same_side() {
        let s = split(&[("v1", 50), ("v2", 50)]);
        for i in 0..100 {
            let key = format!("k{i}");
            let first = pick(&s, &key).unwrap().value.clone();
            assert!((0..10).all(|_| pick(&s, &key).unwrap().value == first));
        }
    }

    #[test]
    fn zero_weights_get_nothing() {
        let s = split(&[("off", 0), ("on", 1)]);
        assert_eq!(shares(&s, 1000), [0, 1000]);
    }
}
