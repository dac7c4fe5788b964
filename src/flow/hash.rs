//! The hasher of the per-packet tables (the connection table is looked up for every segment).
//!
//! std's SipHash-1-3 cost about a third of all instructions of a full analysis (callgrind,
//! docs/performance.md). foldhash is several times faster on small keys. Its resistance to
//! hash flooding rests on the seed being unknown to whoever crafts the input; foldhash's own
//! global seed comes from address-space layout and the clock, so kaprobe keys it instead with
//! 64 bits drawn from std's `RandomState`, which the standard library seeds from the operating
//! system's random source. A capture is written before kaprobe runs and kaprobe never reveals
//! hash values, so a hostile capture cannot be tuned to collide.

use foldhash::SharedSeed;
use foldhash::fast::SeedableRandomState;
use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasher, Hasher};
use std::sync::OnceLock;

/// A `HashMap` keyed with [`random_state`].
pub type FastHashMap<K, V> = HashMap<K, V, KeyedState>;
/// A `HashSet` keyed with [`random_state`].
pub type FastHashSet<T> = HashSet<T, KeyedState>;

/// A new empty [`FastHashMap`].
pub fn fast_hash_map<K, V>() -> FastHashMap<K, V> {
    HashMap::with_hasher(KeyedState::default())
}

/// A new empty [`FastHashSet`].
pub fn fast_hash_set<T>() -> FastHashSet<T> {
    HashSet::with_hasher(KeyedState::default())
}

/// foldhash keyed from OS randomness. A type of its own so that `#[derive(Default)]` on a
/// detector's state builds its tables with this seed, never with foldhash's own global one.
#[derive(Clone)]
pub struct KeyedState(SeedableRandomState);

impl Default for KeyedState {
    fn default() -> KeyedState {
        KeyedState(random_state())
    }
}

impl BuildHasher for KeyedState {
    type Hasher = <SeedableRandomState as BuildHasher>::Hasher;

    fn build_hasher(&self) -> Self::Hasher {
        self.0.build_hasher()
    }
}

/// foldhash with a shared seed from OS randomness, drawn once per process.
pub fn random_state() -> SeedableRandomState {
    static SHARED: OnceLock<SharedSeed> = OnceLock::new();
    let shared = SHARED.get_or_init(|| SharedSeed::from_u64(os_random_u64()));
    SeedableRandomState::with_seed(os_random_u64(), shared)
}

/// 64 random bits: std's `RandomState` keys are drawn from the OS (getrandom) once per
/// thread and then incremented, so hashing through a fresh one yields an unpredictable value.
fn os_random_u64() -> u64 {
    let mut hasher = std::hash::RandomState::new().build_hasher();
    hasher.write_u64(0x6b61_7072_6f62_6531);
    hasher.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_hash_the_same_key_alike_within_one_map_but_differ_across_maps() {
        let first = random_state();
        let second = random_state();
        let key = (12345u64, 80u16);
        assert_eq!(first.hash_one(key), first.hash_one(key));
        assert_ne!(first.hash_one(key), second.hash_one(key));
    }
}
