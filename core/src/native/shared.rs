//! Shared data for the native build: process memory, behind locks, with
//! the contract of Envoy's proxy-wasm shared data ([`Proxy::shared_get`],
//! [`Proxy::shared_set`]), so the rate-limit buckets and the metrics
//! filter's label sets work unchanged and stay exact across workers.
//!
//! What differs from the Wasm build, and why: Envoy's shared data is one
//! map per VM id, every read and write a host call that copies the value
//! and takes Envoy's lock. Here a store is one per filter name (the
//! `filter_name` of the `DynamicModuleFilter`, as the VM id is in the Wasm
//! build: filters that share it share data), split into shards by key so
//! two workers rarely wait on one lock, and a read or a write costs a
//! hash and a short critical section, with no crossing into Envoy.
//!
//! [`Proxy::shared_get`]: crate::Proxy::shared_get
//! [`Proxy::shared_set`]: crate::Proxy::shared_set

use crate::stage::{Shared, Written, CREATE_ONLY};
use std::collections::hash_map::DefaultHasher;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, LazyLock, Mutex, MutexGuard, PoisonError};

/// Shards of a store: each key lives in one, by its hash.
const SHARDS: usize = 16;

/// One shard: values and their versions, by key.
type Shard = Mutex<HashMap<String, (Vec<u8>, u32)>>;

/// One filter name's shared data.
#[derive(Debug)]
pub struct SharedStore {
    shards: [Shard; SHARDS],
    /// The last version number given out.
    versions: AtomicU32,
}

/// Locks a mutex; a panic elsewhere while it was held (caught at the
/// module's boundary) leaves a map whose every entry is whole, as each
/// update is a single insert, so it is used as it is.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Default for SharedStore {
    fn default() -> Self {
        Self {
            shards: std::array::from_fn(|_| Mutex::new(HashMap::new())),
            versions: AtomicU32::new(0),
        }
    }
}

impl SharedStore {
    /// The store of filters named `name`, shared by every configuration
    /// of that name in this process (and kept across reconfigurations,
    /// as Envoy keeps a VM id's shared data).
    pub fn named(name: &str) -> Arc<Self> {
        static STORES: LazyLock<Mutex<HashMap<String, Arc<SharedStore>>>> =
            LazyLock::new(Mutex::default);
        Arc::clone(lock(&STORES).entry(name.to_owned()).or_default())
    }

    fn shard(&self, key: &str) -> &Shard {
        let mut hasher = DefaultHasher::new();
        key.hash(&mut hasher);
        let at = usize::try_from(hasher.finish() % SHARDS as u64).unwrap_or(0);
        // `at` is below SHARDS.
        self.shards.get(at).unwrap_or(&self.shards[0])
    }

    /// A new version number: never 0 (no version) nor [`CREATE_ONLY`].
    fn next_version(&self) -> u32 {
        loop {
            let v = self
                .versions
                .fetch_add(1, Ordering::Relaxed)
                .wrapping_add(1);
            if v != 0 && v != CREATE_ONLY {
                return v;
            }
        }
    }

    /// The value and version of `key`; `None` when never written.
    pub fn get(&self, key: &str) -> Option<Shared> {
        lock(self.shard(key)).get(key).map(|(value, cas)| Shared {
            value: value.clone(),
            cas: *cas,
        })
    }

    /// Writes `key` if its version is still `cas` (`None` or 0: whatever
    /// it is). A key that does not exist yet is written whatever `cas`
    /// says, as Envoy does.
    pub fn set(&self, key: &str, value: &[u8], cas: Option<u32>) -> Written {
        let mut shard = lock(self.shard(key));
        match (shard.get_mut(key), cas) {
            (Some((_, current)), Some(expected)) if expected != 0 && expected != *current => {
                Written::Conflict
            }
            (Some(entry), _) => {
                *entry = (value.to_vec(), self.next_version());
                Written::Yes
            }
            (None, _) => {
                shard.insert(key.to_owned(), (value.to_vec(), self.next_version()));
                Written::Yes
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_are_compare_and_swap() {
        let store = SharedStore::default();
        assert_eq!(store.get("k"), None);
        assert_eq!(store.set("k", b"a", None), Written::Yes);
        let first = store.get("k").unwrap();
        assert_eq!(first.value, b"a");
        assert_eq!(store.set("k", b"b", Some(first.cas)), Written::Yes);
        assert_eq!(store.set("k", b"c", Some(first.cas)), Written::Conflict);
        let second = store.get("k").unwrap();
        assert_eq!(second.value, b"b");
        assert_ne!(second.cas, first.cas);
        assert_eq!(store.set("k", b"d", Some(0)), Written::Yes);
    }

    #[test]
    fn create_only_creates_once() {
        let store = SharedStore::default();
        assert_eq!(store.set("k", b"a", Some(CREATE_ONLY)), Written::Yes);
        assert_eq!(store.set("k", b"b", Some(CREATE_ONLY)), Written::Conflict);
        assert_eq!(store.get("k").unwrap().value, b"a");
    }

    #[test]
    fn stores_are_shared_by_name() {
        let a = SharedStore::named("test-shared-a");
        assert_eq!(a.set("k", b"1", None), Written::Yes);
        assert_eq!(
            SharedStore::named("test-shared-a").get("k").unwrap().value,
            b"1"
        );
        assert_eq!(SharedStore::named("test-shared-b").get("k"), None);
    }

    #[test]
    fn concurrent_increments_are_exact() {
        let store = Arc::new(SharedStore::default());
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let store = Arc::clone(&store);
                std::thread::spawn(move || {
                    for _ in 0..500 {
                        loop {
                            let read = store.get("n");
                            let n = read.as_ref().map_or(0, |s| {
                                u32::from_le_bytes(s.value[..4].try_into().unwrap())
                            });
                            let cas = read.map_or(CREATE_ONLY, |s| s.cas);
                            if store.set("n", &(n + 1).to_le_bytes(), Some(cas)) == Written::Yes {
                                break;
                            }
                        }
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let n = store.get("n").unwrap().value;
        assert_eq!(u32::from_le_bytes(n[..4].try_into().unwrap()), 2000);
    }
}
