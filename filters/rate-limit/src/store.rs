//! Where buckets live. [`BucketStore`] is the seam: [`SharedTable`] keeps
//! them in Envoy's shared data, exact across the workers of one Envoy; a
//! store shared by many Envoys (Envoy's rate-limit service) can plug in
//! behind the same trait.
//!
//! # The shared table
//!
//! proxy-wasm cannot delete shared-data keys in Envoy (the ABI has no call
//! for it), so a rule's buckets live in a fixed table of `max_keys` slots,
//! `meshwasm.rl.<rule>.<slot>`, each holding a key digest and its state
//! (24 bytes). A key's slot is found by linear probing from its digest; a
//! slot whose bucket is idle (full again) is free to reuse. Every change is
//! a compare-and-swap on the slot, retried when another worker got there
//! first, and a slot that does not exist yet is created only if it is
//! still absent (a write naming a CAS number no value has), so two workers
//! can never both count the same request, nor overwrite each other's.

use crate::gcra::{Decision, Gcra};
use crate::key::KeyDigest;
use meshwasm_core::{HostError, Proxy, Written};
use std::cell::Cell;
use std::fmt;

/// Slots probed for one key.
const PROBES: u32 = 8;
/// Compare-and-swap attempts before giving up.
const ATTEMPTS: u32 = 16;
/// Bytes a slot's value takes.
pub const SLOT_BYTES: usize = 24;

/// Why a bucket could not be updated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreError {
    /// Every slot the key may use holds another live key.
    Full,
    /// Other workers kept winning the compare-and-swap.
    Contention,
    /// The host failed.
    Host(HostError),
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Full => f.write_str("no free slot for a new key"),
            Self::Contention => write!(f, "gave up after {ATTEMPTS} compare-and-swap attempts"),
            Self::Host(e) => write!(f, "shared data failed: {e}"),
        }
    }
}

impl std::error::Error for StoreError {}

impl From<HostError> for StoreError {
    fn from(e: HostError) -> Self {
        Self::Host(e)
    }
}

/// Keeps the state of a rule's buckets.
pub trait BucketStore {
    /// Decides a request for `key` at `now` (nanoseconds) and records it,
    /// atomically with respect to every other worker.
    fn update(
        &self,
        proxy: &mut dyn Proxy,
        key: &KeyDigest,
        gcra: &Gcra,
        now: u64,
    ) -> Result<Decision, StoreError>;

    /// Frees up to `budget` idle buckets' memory.
    fn sweep(&self, proxy: &mut dyn Proxy, now: u64, budget: u32);
}

/// A rule's buckets in Envoy's shared data.
#[derive(Debug)]
pub struct SharedTable {
    prefix: String,
    slots: u32,
    cursor: Cell<u32>,
}

/// A slot as found.
struct Slot {
    name: String,
    /// `None`: the slot key does not exist yet.
    cas: Option<u32>,
    /// The state, when the slot holds the key looked for.
    state: Option<u64>,
}

impl SharedTable {
    /// The table of rule `rule`, with `slots` slots.
    pub fn new(rule: &str, slots: u32) -> Self {
        Self {
            prefix: format!("meshwasm.rl.{rule}."),
            slots: slots.max(1),
            cursor: Cell::new(0),
        }
    }

    fn slot_name(&self, slot: u32) -> String {
        format!("{}{slot}", self.prefix)
    }

    /// The slot holding `key`, or the first free one on its probe path.
    fn find(&self, proxy: &dyn Proxy, key: &KeyDigest, now: u64) -> Result<Slot, StoreError> {
        let start = u32::from_le_bytes([key[0], key[1], key[2], key[3]]) % self.slots;
        let mut free = None;
        for probe in 0..PROBES.min(self.slots) {
            let name = self.slot_name((start + probe) % self.slots);
            let Some(shared) = proxy.shared_get(&name)? else {
                free.get_or_insert(Slot {
                    name,
                    cas: None,
                    state: None,
                });
                continue;
            };
            match decode(&shared.value) {
                Some((holder, tat)) if holder == *key => {
                    return Ok(Slot {
                        name,
                        cas: Some(shared.cas),
                        state: Some(tat),
                    })
                }
                Some((_, tat)) if !Gcra::idle(tat, now) => {}
                _ => {
                    free.get_or_insert(Slot {
                        name,
                        cas: Some(shared.cas),
                        state: None,
                    });
                }
            }
        }
        free.ok_or(StoreError::Full)
    }
}

impl BucketStore for SharedTable {
    fn update(
        &self,
        proxy: &mut dyn Proxy,
        key: &KeyDigest,
        gcra: &Gcra,
        now: u64,
    ) -> Result<Decision, StoreError> {
        for _ in 0..ATTEMPTS {
            let slot = self.find(proxy, key, now)?;
            let decision = gcra.decide(slot.state, now);
            if !decision.allowed {
                return Ok(decision);
            }
            match proxy.shared_replace(&slot.name, &encode(key, decision.tat), slot.cas)? {
                Written::Yes => return Ok(decision),
                Written::Conflict => {}
            }
        }
        Err(StoreError::Contention)
    }

    fn sweep(&self, proxy: &mut dyn Proxy, now: u64, budget: u32) {
        for _ in 0..budget.min(self.slots) {
            let slot = self.cursor.get();
            self.cursor.set((slot + 1) % self.slots);
            let name = self.slot_name(slot);
            if let Ok(Some(shared)) = proxy.shared_get(&name) {
                let idle = decode(&shared.value).is_some_and(|(_, tat)| Gcra::idle(tat, now));
                if idle {
                    // Lost to a worker that just used the slot: fine.
                    let _ = proxy.shared_set(&name, &[], Some(shared.cas));
                }
            }
        }
    }
}

fn encode(key: &KeyDigest, tat: u64) -> [u8; SLOT_BYTES] {
    let mut value = [0u8; SLOT_BYTES];
    let (k, t) = value.split_at_mut(16);
    k.copy_from_slice(key);
    t.copy_from_slice(&tat.to_le_bytes());
    value
}

fn decode(value: &[u8]) -> Option<(KeyDigest, u64)> {
    let (key, tat) = value.split_at_checked(16)?;
    Some((
        key.try_into().ok()?,
        u64::from_le_bytes(tat.try_into().ok()?),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Limit, Period};
    use meshwasm_core::testing::FakeHost;

    const NOW: u64 = 1_700_000_000_000_000_000;

    fn gcra(requests: u32) -> Gcra {
        Gcra::new(&Limit {
            requests,
            per: Period::Minute,
            burst: 0,
        })
    }

    fn key(n: u8) -> KeyDigest {
        [n; 16]
    }

    fn allowed(
        table: &SharedTable,
        host: &mut FakeHost,
        k: &KeyDigest,
        g: &Gcra,
        n: usize,
    ) -> usize {
        (0..n)
            .filter(|_| table.update(host, k, g, NOW).unwrap().allowed)
            .count()
    }

    #[test]
    fn each_key_gets_its_own_bucket() {
        let table = SharedTable::new("r", 100);
        let mut host = FakeHost::new();
        let g = gcra(3);
        assert_eq!(allowed(&table, &mut host, &key(1), &g, 10), 3);
        assert_eq!(allowed(&table, &mut host, &key(2), &g, 10), 3);
        assert_eq!(host.process.borrow().keys(), 2);
    }

    #[test]
    fn workers_share_buckets() {
        let table = SharedTable::new("r", 100);
        let worker_a = FakeHost::new();
        let mut worker_b = worker_a.sharing(&[]);
        let mut worker_a = worker_a;
        let g = gcra(4);
        assert_eq!(allowed(&table, &mut worker_a, &key(1), &g, 2), 2);
        assert_eq!(allowed(&table, &mut worker_b, &key(1), &g, 5), 2);
    }

    #[test]
    fn a_race_to_create_a_key_loses_no_count() {
        // Worker B creates the key and counts a request between worker A's
        // read (absent) and A's write: A's create must fail, not overwrite.
        let table = SharedTable::new("r", 1);
        let mut host = FakeHost::new();
        let g = gcra(2);
        let name = table.slot_name(0);
        let b_state = encode(&key(1), g.decide(None, NOW).tat);
        host.process.borrow_mut().before_next_write = Some(Box::new(move |p| {
            p.set(&name, &b_state, Some(meshwasm_core::stage::CREATE_ONLY));
        }));
        assert!(table.update(&mut host, &key(1), &g, NOW).unwrap().allowed);
        // B's request and A's: the bucket of 2 is empty now.
        assert!(!table.update(&mut host, &key(1), &g, NOW).unwrap().allowed);
    }

    #[test]
    fn a_conflicting_write_is_retried_not_lost() {
        let table = SharedTable::new("r", 4);
        let mut host = FakeHost::new();
        let g = gcra(2);
        assert!(table.update(&mut host, &key(1), &g, NOW).unwrap().allowed);
        let slot = table.find(&host, &key(1), NOW).unwrap();
        let interval = g.decide(None, NOW).tat - NOW;
        let (name, counted) = (slot.name, encode(&key(1), slot.state.unwrap() + interval));
        // Between this worker's read and write, another counts the last
        // request: the write conflicts, the retry sees an empty bucket.
        host.process.borrow_mut().before_next_write = Some(Box::new(move |p| {
            p.set(&name, &counted, None);
        }));
        assert!(!table.update(&mut host, &key(1), &g, NOW).unwrap().allowed);
    }

    #[test]
    fn a_full_table_says_so_and_idle_slots_are_reused() {
        let table = SharedTable::new("r", 2);
        let mut host = FakeHost::new();
        let g = gcra(5);
        for k in [1, 2] {
            assert!(table.update(&mut host, &key(k), &g, NOW).unwrap().allowed);
        }
        assert_eq!(
            table.update(&mut host, &key(3), &g, NOW),
            Err(StoreError::Full)
        );
        // A minute on, both buckets are full again: their slots are free.
        let later = NOW + 60_000_000_000;
        assert!(table.update(&mut host, &key(3), &g, later).unwrap().allowed);
        assert_eq!(host.process.borrow().keys(), 2, "memory stays bounded");
    }

    #[test]
    fn sweeping_frees_idle_buckets_only() {
        let table = SharedTable::new("r", 4);
        let mut host = FakeHost::new();
        let (slow, fast) = (gcra(1), gcra(1000));
        table.update(&mut host, &key(1), &slow, NOW).unwrap();
        table.update(&mut host, &key(2), &fast, NOW).unwrap();
        table.sweep(&mut host, NOW + 1_000_000_000, 4);
        let values: Vec<usize> = (0..4)
            .filter_map(|s| host.process.borrow().get(&table.slot_name(s)))
            .map(|v| v.value.len())
            .collect();
        assert_eq!(
            values.iter().filter(|l| **l == SLOT_BYTES).count(),
            1,
            "{values:?}"
        );
        assert_eq!(values.iter().filter(|l| **l == 0).count(), 1, "{values:?}");
    }

    #[test]
    fn host_failures_are_errors() {
        let table = SharedTable::new("r", 4);
        let mut host = FakeHost::new();
        host.process.borrow_mut().fail_shared_data = true;
        assert!(matches!(
            table.update(&mut host, &key(1), &gcra(1), NOW),
            Err(StoreError::Host(_))
        ));
    }
}
