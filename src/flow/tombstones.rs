//! Tombstones: the tuples of closed connections already finished, remembered for a while so
//! that a straggler (a retransmission from the side that never got the RST, a last ACK after a
//! long delay) is recognised as late instead of starting a phantom mid-stream connection.
//!
//! Their number follows the connection *rate* (every closed connection leaves one), not the
//! open connections, so each costs as little as possible: a 64-bit keyed hash of the tuple in
//! one of two hash sets, with no per-entry time. The sets are generations: every half linger
//! of capture time the older one is dropped and the newer one becomes older, so a tombstone
//! lives between a half and a whole linger after the connection was finished, and a straggler
//! that hits one renews it. About 10 to 20 bytes per tombstone (the sets' load factor); a
//! queue with an expiry time per entry was 56.
//!
//! Keying by hash instead of the tuple: two live tuples share a hash with odds of about one in
//! 2^64 / n. The seed is random per run and never shown (src/flow/hash.rs), so a capture cannot
//! aim at it, and a collision only makes a new connection's first non-SYN segment count as late.

use super::hash::{FastHashSet, fast_hash_set};
use crate::time::Timestamp;

pub struct Tombstones {
    newer: FastHashSet<u64>,
    older: FastHashSet<u64>,
    /// Half the linger, in seconds of capture time.
    generation_secs: f64,
    next_rotation: Option<Timestamp>,
}

impl Tombstones {
    /// Tombstones that last between `linger_secs / 2` and `linger_secs`.
    pub fn new(linger_secs: f64) -> Tombstones {
        Tombstones {
            newer: fast_hash_set(),
            older: fast_hash_set(),
            generation_secs: linger_secs / 2.0,
            next_rotation: None,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.newer.is_empty() && self.older.is_empty()
    }

    pub fn len(&self) -> usize {
        self.newer.len() + self.older.len()
    }

    pub fn bury(&mut self, tuple_hash: u64, now: Timestamp) {
        self.rotate(now);
        self.newer.insert(tuple_hash);
    }

    /// Whether `tuple_hash` is buried; if it is, it is renewed (it lingers from `now`).
    pub fn hit(&mut self, tuple_hash: u64, now: Timestamp) -> bool {
        self.rotate(now);
        if self.newer.contains(&tuple_hash) {
            return true;
        }
        if self.older.remove(&tuple_hash) {
            self.newer.insert(tuple_hash);
            return true;
        }
        false
    }

    /// The tuple was reused by a new connection.
    pub fn remove(&mut self, tuple_hash: u64) {
        self.newer.remove(&tuple_hash);
        self.older.remove(&tuple_hash);
    }

    /// When the generations turn next; `None` before the first [`rotate`](Self::rotate).
    pub fn next_rotation(&self) -> Option<Timestamp> {
        self.next_rotation
    }

    /// Turns the generations when `now` has reached the next turn.
    pub fn rotate(&mut self, now: Timestamp) {
        let due = *self
            .next_rotation
            .get_or_insert_with(|| now.plus_secs(self.generation_secs));
        if now < due {
            return;
        }
        // Both sets keep their capacity: the older one is emptied and reused as the newer.
        std::mem::swap(&mut self.newer, &mut self.older);
        self.newer.clear();
        // After a long gap in the capture both generations are over.
        if now >= due.plus_secs(self.generation_secs) {
            self.older.clear();
        }
        self.next_rotation = Some(now.plus_secs(self.generation_secs));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(second: i64) -> Timestamp {
        Timestamp::from_nanos(second * 1_000_000_000)
    }

    #[test]
    fn a_tombstone_lasts_between_half_and_a_whole_linger() {
        let mut tombstones = Tombstones::new(60.0);
        tombstones.bury(1, at(0));
        tombstones.bury(2, at(29));
        assert!(tombstones.hit(1, at(29)) && tombstones.hit(2, at(29)));
        // At 30 s both move to the older generation; at 60 s the older one is dropped.
        tombstones.bury(3, at(30));
        assert_eq!(tombstones.len(), 3);
        tombstones.bury(4, at(60));
        assert!(!tombstones.hit(1, at(60)), "1 was buried at 0: gone at 60");
        assert!(tombstones.hit(3, at(61)), "3 was buried at 30: still there");
    }

    #[test]
    fn a_hit_renews_the_tombstone_and_a_long_gap_clears_everything() {
        let mut tombstones = Tombstones::new(60.0);
        tombstones.bury(1, at(0));
        tombstones.bury(2, at(0));
        assert!(
            tombstones.hit(1, at(45)),
            "in the older generation, renewed"
        );
        assert!(tombstones.hit(1, at(80)));
        assert!(!tombstones.hit(2, at(80)));
        tombstones.remove(1);
        assert!(!tombstones.hit(1, at(81)));
        tombstones.bury(5, at(81));
        assert!(!tombstones.hit(5, at(1000)), "a gap longer than the linger");
        assert!(tombstones.is_empty());
    }
}
