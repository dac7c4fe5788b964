//! The connection table: finds or creates the connection of each segment, applies it, and
//! retires connections that are over so that memory follows open connections, not file size.
//!
//! Roles: the sender of a SYN (without ACK) is the client, the sender of a SYN-ACK the server.
//! For a connection picked up mid-stream the roles are guessed (see [`guess_client`]) and the
//! connection is marked `roles_inferred`. A SYN on a tuple whose connection is closed, or idle
//! past the horizon, starts a new connection (port reuse).
//!
//! A closed connection (both FINs, or a RST) keeps its full state for a short grace period, so
//! that the final ACK, retransmitted FINs and segments racing a RST are still analyzed as part
//! of it (Zeek's `tcp_close_delay` and `tcp_reset_delay` are the same 5 s). A connection whose
//! two FINs were both acknowledged keeps it 1 s only: TCP has nothing left to send on it, and
//! what can still come (frames duplicated or reordered on the way) comes within milliseconds,
//! while at tens of thousands of connections per second the 5 s of closed connections doubled
//! the connections held (docs/performance.md, tenth pass). A FIN left unacknowledged keeps the
//! 5 s, so its retransmissions are still counted on the connection. Then it is
//! finished and only a tombstone (src/flow/tombstones.rs) stays for the linger time: a
//! straggler that arrives later is counted as late rather than starting a phantom mid-stream
//! connection, and full state follows open connections instead of the connection rate (at
//! 1,000 connections per second, a full 60 s linger held nine closed connections for every
//! open one).

use super::connection::{Connection, ConnectionState, HalfState, SegmentAnalysis, SegmentFacts};
use super::key::{ConnectionId, Endpoint, FlowKey};
use super::table::ConnectionTable;
use super::tombstones::Tombstones;
use crate::time::Timestamp;
use std::cmp::Ordering;
use std::collections::BinaryHeap;

/// Tunables of the tracker.
#[derive(Clone, Copy, Debug)]
pub struct TrackerConfig {
    /// A connection silent this long is finished (its state dropped). Default: longer than
    /// Linux's whole default keepalive cycle (7200 s + 9 × 75 s), so no probe is ever missed.
    pub idle_horizon_secs: f64,
    /// A closed connection keeps its full state this long after its last segment: segments in
    /// this window are analyzed as part of it.
    pub closed_grace_secs: f64,
    /// The same for a connection whose FINs were both acknowledged ([`Connection::close_acknowledged`]).
    pub acknowledged_close_grace_secs: f64,
    /// A closed connection's tuple is remembered between half this and this long after it was
    /// finished (renewed by stragglers): segments then are counted as late, not taken for a
    /// new connection.
    pub closed_linger_secs: f64,
    /// Minimum silence before a 0/1-byte segment at next_seq − 1 counts as a probe.
    pub min_probe_idle_secs: f64,
    /// At most this many connections are tracked at once; past it the least recently active
    /// is finished early (and the input gets a warning).
    pub max_connections: usize,
}

impl Default for TrackerConfig {
    fn default() -> Self {
        TrackerConfig {
            idle_horizon_secs: 9000.0,
            closed_grace_secs: 5.0,
            acknowledged_close_grace_secs: 1.0,
            closed_linger_secs: 60.0,
            min_probe_idle_secs: 0.5,
            max_connections: 1_000_000,
        }
    }
}

/// What the tracker says about one segment.
pub struct Tracked<'t> {
    pub connection: &'t Connection,
    pub analysis: SegmentAnalysis,
}

/// Where a segment went.
pub enum Tracking<'t> {
    Connection(Tracked<'t>),
    /// A straggler on the tuple of a connection already finished (closed, past its grace).
    Late,
}

/// A closed connection to look at again once `due` has passed. Ordered by `due` (then id),
/// reversed, so that std's max-heap pops the earliest first.
struct Due {
    due: Timestamp,
    id: ConnectionId,
    /// The hash of the connection's key ([`ConnectionTable::hash_of`]).
    hash: u64,
}

impl Ord for Due {
    fn cmp(&self, other: &Self) -> Ordering {
        (other.due, other.id).cmp(&(self.due, self.id))
    }
}

impl PartialOrd for Due {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Due {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Due {}

pub struct Tracker {
    config: TrackerConfig,
    /// Boxed: a connection is over 400 bytes, and the table keeps its buckets at a power of
    /// two at most 7/8 full, so inline entries cost up to twice their size, and every growth
    /// moved them all. Boxed, a bucket is 8 bytes and growth moves pointers.
    connections: ConnectionTable,
    /// One check per closed connection in the table, earliest due first: memory follows
    /// closed connections, not the segments they get (a queue entry per segment grew with a
    /// flood of packets on a reset connection).
    closing: BinaryHeap<Due>,
    /// Tuples of finished closed connections, for the rest of the linger.
    tombstones: Tombstones,
    next_sweep: Option<Timestamp>,
    /// Before this time [`advance`](Self::advance) has nothing to do: no closed connection's
    /// check, tombstone turn or sweep is due. With several shards every shard is advanced by
    /// every segment of the capture, and looking at each of those three for each was a tenth
    /// of a shard's work with 8 shards.
    quiet_until: Timestamp,
    /// Connections finished and waiting to be handed to the detectors.
    ended: Vec<Connection>,
    /// How many connections were finished early because of `max_connections`.
    pub evicted_for_capacity: u64,
    /// At the end of input: the remaining connections' ids and key hashes, last to finish
    /// first.
    closing_order: Option<Vec<(ConnectionId, u64)>>,
}

/// At the connection cap, 1/EVICTION_FRACTION of the table is finished at once.
const EVICTION_FRACTION: usize = 64;

/// Sweeps run at most this often in capture time.
const SWEEP_INTERVAL_SECS: f64 = 10.0;

impl Tracker {
    pub fn new(config: TrackerConfig) -> Tracker {
        Tracker {
            config,
            connections: ConnectionTable::new(),
            closing: BinaryHeap::new(),
            tombstones: Tombstones::new(config.closed_linger_secs),
            next_sweep: None,
            quiet_until: Timestamp::from_nanos(i64::MIN),
            ended: Vec::new(),
            evicted_for_capacity: 0,
            closing_order: None,
        }
    }

    pub fn open_connections(&self) -> usize {
        self.connections.len()
    }

    /// Applies one segment; a connection it opens gets `new_id` (ids must grow with the
    /// segments that open them: ended connections are handed over in id order).
    pub fn track(
        &mut self,
        ts: Timestamp,
        key: FlowKey,
        source: Endpoint,
        destination: Endpoint,
        segment: SegmentFacts<'_, '_>,
        new_id: ConnectionId,
    ) -> Tracking<'_> {
        self.advance(ts);
        // One hash per segment; two lookups: one to decide, one (the entry) to borrow.
        let hash = self.connections.hash_of(&key);
        let current = self
            .connections
            .get(hash, &key)
            .map(|existing| !self.starts_new_generation(existing, ts, &segment));
        if current.is_none() && self.absorb_late(ts, hash, &segment) {
            return Tracking::Late;
        }
        if current == Some(false)
            && let Some(old) = self.connections.remove(hash, &key)
        {
            self.ended.push(*old);
        }
        if current != Some(true) {
            self.make_room();
        }
        let min_idle = (self.config.min_probe_idle_secs * 1e9) as i64;
        let first_check = self.shortest_grace();
        let connection = self.connections.get_or_insert_with(hash, &key, || {
            new_connection(new_id, ts, key, source, destination, &segment)
        });
        let opened = connection.packets() == 0;
        let was_closed = connection.state.is_closed();
        let side = connection.side_of(source);
        let mut analysis = connection.apply(side, ts, &segment, min_idle);
        analysis.opened = opened;
        if !was_closed && connection.state.is_closed() {
            // Checked first at the shortest grace: the final ACK that makes it the short one
            // usually comes after the segment that closed it. The check queues it again if its
            // own grace runs longer.
            let due = ts.plus_secs(first_check);
            self.closing.push(Due {
                due,
                id: connection.id,
                hash,
            });
            self.quiet_until = self.quiet_until.min(due);
        }
        Tracking::Connection(Tracked {
            connection,
            analysis,
        })
    }

    /// A segment on the tuple (of hash `tuple_hash`) of a finished closed connection is late,
    /// unless it is a SYN (the tuple reused).
    fn absorb_late(
        &mut self,
        ts: Timestamp,
        tuple_hash: u64,
        segment: &SegmentFacts<'_, '_>,
    ) -> bool {
        if self.tombstones.is_empty() {
            return false;
        }
        let flags = segment.tcp.flags;
        if flags.syn() && !flags.ack() {
            self.tombstones.remove(tuple_hash);
            return false;
        }
        self.tombstones.hit(tuple_hash, ts)
    }

    fn starts_new_generation(
        &self,
        existing: &Connection,
        ts: Timestamp,
        segment: &SegmentFacts<'_, '_>,
    ) -> bool {
        let flags = segment.tcp.flags;
        let idle = ts.secs_since(existing.last_seen);
        if idle > self.config.idle_horizon_secs {
            return true;
        }
        let is_new_syn = flags.syn() && !flags.ack();
        is_new_syn
            && existing.state.is_closed()
            && existing
                .client
                .syn_at
                .is_none_or(|_| existing.client.base_seq != Some(segment.tcp.seq.wrapping_add(1)))
    }

    /// At the cap, finishes the least recently active connections: a batch of them, so that
    /// the scan over the table (needed to find them) is paid once per [`EVICTION_FRACTION`]
    /// of the cap rather than once per new connection, which made a SYN flood quadratic.
    fn make_room(&mut self) {
        if self.connections.len() < self.config.max_connections {
            return;
        }
        let batch = (self.connections.len() / EVICTION_FRACTION).max(1);
        let mut last_seen: Vec<Timestamp> = self.connections.iter().map(|c| c.last_seen).collect();
        if last_seen.len() < batch {
            return; // only with a cap of 0 and an empty table
        }
        let cutoff = *last_seen.select_nth_unstable(batch - 1).1;
        drop(last_seen);
        let mut taken = 0;
        let evicted = self.connections.extract_if(|connection| {
            let take = taken < batch && connection.last_seen <= cutoff;
            taken += usize::from(take);
            take
        });
        self.ended.extend(evicted.map(|connection| *connection));
        self.evicted_for_capacity += taken as u64;
    }

    /// Capture time reached `now` (a TCP segment, of this tracker or, with several shards, of
    /// another): connections due to end by then end, and tombstones age. Every shard is
    /// advanced by every segment, so each connection ends at the same segment whichever shard
    /// holds it, and tombstone generations turn at the same times.
    pub fn advance(&mut self, now: Timestamp) {
        if now < self.quiet_until {
            return;
        }
        self.tombstones.rotate(now);
        self.finish_closed(now);
        match self.next_sweep {
            Some(due) if now < due => {}
            _ => {
                self.next_sweep = Some(now.plus_secs(SWEEP_INTERVAL_SECS));
                self.sweep(now);
            }
        }
        self.quiet_until = self.next_due();
    }

    /// The earliest time anything in [`advance`](Self::advance) is due. The tombstones and
    /// the sweep have their next time once advanced; a closed connection's check is queued
    /// with its time.
    fn next_due(&self) -> Timestamp {
        let never = Timestamp::from_nanos(i64::MAX);
        let rotation = self.tombstones.next_rotation().unwrap_or(never);
        let sweep = self.next_sweep.unwrap_or(never);
        let check = self.closing.peek().map_or(never, |next| next.due);
        rotation.min(sweep).min(check)
    }

    /// Finishes the closed connections whose grace is over and leaves a tombstone for each; a
    /// connection that got a segment since its check was queued (the last ACK after the
    /// FINs) is checked again at the end of its new grace.
    fn finish_closed(&mut self, now: Timestamp) {
        while let Some(next) = self.closing.peek()
            && next.due <= now
            && let Some(Due { id, hash, .. }) = self.closing.pop()
        {
            let Some(connection) = self.connections.get_by_id(hash, id) else {
                continue; // finished otherwise
            };
            // Still closed: a closed state never reopens (`Connection::apply`).
            let due = connection.last_seen.plus_secs(self.grace_of(connection));
            if due > now {
                self.closing.push(Due { due, id, hash });
                continue;
            }
            if let Some(connection) = self.connections.remove_by_id(hash, id) {
                self.bury(hash, now);
                self.ended.push(*connection);
            }
        }
    }

    /// The grace of a connection whose FINs end up acknowledged, or of any other, whichever
    /// is shorter: what a closing check is first queued for.
    fn shortest_grace(&self) -> f64 {
        self.config
            .acknowledged_close_grace_secs
            .min(self.config.closed_grace_secs)
    }

    /// How long a closed connection keeps its full state after its last segment.
    fn grace_of(&self, connection: &Connection) -> f64 {
        if connection.close_acknowledged() {
            self.config.acknowledged_close_grace_secs
        } else {
            self.config.closed_grace_secs
        }
    }

    fn bury(&mut self, tuple_hash: u64, now: Timestamp) {
        if self.config.closed_linger_secs > self.shortest_grace() {
            self.tombstones.bury(tuple_hash, now);
        }
    }

    /// Finishes connections idle past the horizon (closed ones are finished by
    /// [`Self::finish_closed`]). They are taken out in id order, so `take_ended_into` finds them
    /// sorted.
    fn sweep(&mut self, now: Timestamp) {
        let horizon = self.config.idle_horizon_secs;
        let mut done: Vec<(ConnectionId, u64)> = self
            .connections
            .iter()
            .filter(|c| now.secs_since(c.last_seen) > horizon)
            .map(|c| (c.id, self.connections.hash_of(&c.key)))
            .collect();
        done.sort_unstable_by_key(|(id, _)| *id);
        for (id, hash) in done {
            if let Some(connection) = self.connections.remove_by_id(hash, id) {
                if connection.state.is_closed() {
                    self.bury(hash, now);
                }
                self.ended.push(*connection);
            }
        }
    }

    /// Connections finished since the last call, oldest id first, swapped into `ended`
    /// (empty), whose room the tracker keeps for the next ones: a fresh list for every few
    /// connections ended cost an allocation and its growth each.
    pub fn take_ended_into(&mut self, ended: &mut Vec<Connection>) {
        std::mem::swap(&mut self.ended, ended);
        super::key::sort_by_connection_id(ended, |c| c.id);
    }

    pub fn has_ended(&self) -> bool {
        !self.ended.is_empty()
    }

    /// At the end of input every remaining connection is finished, oldest id first, at most
    /// `limit` per call (empty when all are done). Batches keep the connections from being
    /// out of the table and in a list all at once, which doubled peak memory at the end.
    pub fn finish_batch(&mut self, limit: usize) -> Vec<Connection> {
        let order = self.closing_order.get_or_insert_with(|| {
            let mut keys: Vec<(ConnectionId, u64)> = self
                .connections
                .iter()
                .map(|c| (c.id, self.connections.hash_of(&c.key)))
                .collect();
            // Descending, so that the next one is popped from the end.
            keys.sort_unstable_by_key(|(id, _)| std::cmp::Reverse(*id));
            keys
        });
        // Connections ended before the end of input (normally none) join in id order.
        let mut pending = std::mem::take(&mut self.ended);
        super::key::sort_by_connection_id(&mut pending, |c| std::cmp::Reverse(c.id));
        let mut batch = Vec::with_capacity(limit.min(order.len() + pending.len()));
        while batch.len() < limit {
            let from_table = order.last().map(|(id, _)| *id);
            let from_pending = pending.last().map(|c| c.id);
            let next = match (from_table, from_pending) {
                (Some(table), Some(ended)) if ended < table => pending.pop(),
                (Some(_), _) => order
                    .pop()
                    .and_then(|(id, hash)| self.connections.remove_by_id(hash, id))
                    .map(|boxed| *boxed),
                (None, Some(_)) => pending.pop(),
                (None, None) => break,
            };
            batch.extend(next);
        }
        pending.reverse();
        self.ended = pending;
        batch
    }
}

fn new_connection(
    id: ConnectionId,
    ts: Timestamp,
    key: FlowKey,
    source: Endpoint,
    destination: Endpoint,
    segment: &SegmentFacts<'_, '_>,
) -> Connection {
    let flags = segment.tcp.flags;
    let (client, roles_inferred) = if flags.syn() && !flags.ack() {
        (source, false)
    } else if flags.syn() && flags.ack() {
        (destination, false)
    } else {
        (guess_client(source, destination), true)
    };
    Connection {
        id,
        client_is_low: client == key.low,
        key,
        client: HalfState::default(),
        server: HalfState::default(),
        roles_inferred,
        start: ts,
        last_seen: ts,
        state: ConnectionState::Open,
        max_idle_nanos: 0,
        max_idle_end: None,
        synack_at: None,
        syn_before_synack: false,
        handshake_ack_at: None,
    }
}

/// Mid-stream pickup: the endpoint on a well-known port (below 1024) facing an ephemeral one is
/// the server; otherwise the lower port is; on a tie the destination of the first packet seen.
/// This matches how tshark and Zeek pick a responder for partial connections.
pub fn guess_client(source: Endpoint, destination: Endpoint) -> Endpoint {
    let source_is_service = source.port < destination.port;
    if source_is_service {
        destination
    } else {
        source
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::{TcpFlags, TcpOptions, TcpSegment};
    use std::net::{IpAddr, Ipv4Addr};

    fn endpoint(host: u8, port: u16) -> Endpoint {
        Endpoint {
            ip: IpAddr::V4(Ipv4Addr::new(10, 0, 0, host)),
            port,
        }
    }

    /// Ids that grow with every segment sent, as frame numbers do.
    fn next_id() -> ConnectionId {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        ConnectionId(NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed))
    }

    /// One segment from `source` to `destination` at `second`; the sequence number follows
    /// the time, so a later SYN on the same tuple is a new connection, not a retransmission.
    fn send(
        tracker: &mut Tracker,
        second: i64,
        source: Endpoint,
        destination: Endpoint,
        flags: u8,
    ) -> (ConnectionId, bool) {
        let seq = 1000 + second as u32 * 100;
        send_at(tracker, second * 1000, source, destination, flags, (seq, 0))
    }

    /// One segment at `millis` with its own sequence and acknowledgment numbers.
    fn send_at(
        tracker: &mut Tracker,
        millis: i64,
        source: Endpoint,
        destination: Endpoint,
        flags: u8,
        (seq, ack): (u32, u32),
    ) -> (ConnectionId, bool) {
        let tcp = TcpSegment {
            source_port: source.port,
            destination_port: destination.port,
            seq,
            ack,
            flags: TcpFlags(flags),
            window: 65535,
            options: TcpOptions::default(),
            payload: &[],
            payload_len: 0,
        };
        let facts = SegmentFacts {
            tcp: &tcp,
            ttl: 64,
            ip_id: None,
        };
        let key = FlowKey::new(0, 0, None, source, destination);
        match tracker.track(
            Timestamp::from_nanos(millis * 1_000_000),
            key,
            source,
            destination,
            facts,
            next_id(),
        ) {
            Tracking::Connection(tracked) => (tracked.connection.id, false),
            Tracking::Late => (ConnectionId(0), true),
        }
    }

    /// A connection opened at 0 s and reset by the server at 1 s.
    fn open_and_reset(tracker: &mut Tracker, client: Endpoint, server: Endpoint) -> ConnectionId {
        let (id, _) = send(tracker, 0, client, server, TcpFlags::SYN);
        send(tracker, 1, server, client, TcpFlags::RST | TcpFlags::ACK);
        id
    }

    fn ended_ids(tracker: &mut Tracker) -> Vec<u64> {
        let mut ended = Vec::new();
        tracker.take_ended_into(&mut ended);
        ended.iter().map(|c| c.id.0).collect()
    }

    #[test]
    fn a_closed_connection_is_whole_for_its_grace_then_a_tombstone_absorbs_stragglers() {
        let mut tracker = Tracker::new(TrackerConfig::default());
        let (client, server) = (endpoint(2, 40000), endpoint(1, 80));
        let (other_client, other_port) = (endpoint(3, 40000), endpoint(1, 81));
        let first = open_and_reset(&mut tracker, client, server);
        // Inside the grace (5 s after the last segment) a straggler is part of the connection.
        assert_eq!(
            send(&mut tracker, 3, client, server, TcpFlags::ACK),
            (first, false)
        );
        send(&mut tracker, 7, other_client, other_port, TcpFlags::SYN);
        assert!(
            ended_ids(&mut tracker).is_empty(),
            "grace runs from the last segment"
        );
        // Past it the connection is finished; its tuple lingers as a tombstone.
        send(&mut tracker, 9, other_client, other_port, TcpFlags::SYN);
        assert_eq!(ended_ids(&mut tracker), vec![first.0]);
        assert_eq!(tracker.open_connections(), 1);
        assert!(send(&mut tracker, 40, client, server, TcpFlags::ACK).1);
        assert_eq!(tracker.open_connections(), 1, "no phantom connection");
        // The linger (30 to 60 s) runs from the last straggler; then the tuple is forgotten.
        send(&mut tracker, 65, other_client, other_port, TcpFlags::ACK);
        assert!(send(&mut tracker, 69, client, server, TcpFlags::ACK).1);
        send(&mut tracker, 160, other_client, other_port, TcpFlags::ACK);
        let (picked_up, late) = send(&mut tracker, 161, client, server, TcpFlags::ACK);
        assert!(!late && picked_up != first);
    }

    /// A handshake at 0 s, then both FINs at 1 s (the server's first); `last_ack` says
    /// whether the client's FIN gets its ACK.
    fn open_and_close(
        tracker: &mut Tracker,
        client: Endpoint,
        server: Endpoint,
        last_ack: bool,
    ) -> ConnectionId {
        let ack = TcpFlags::ACK;
        let (id, _) = send_at(tracker, 0, client, server, TcpFlags::SYN, (100, 0));
        send_at(tracker, 1, server, client, TcpFlags::SYN | ack, (500, 101));
        send_at(tracker, 2, client, server, ack, (101, 501));
        send_at(
            tracker,
            1000,
            server,
            client,
            TcpFlags::FIN | ack,
            (501, 101),
        );
        send_at(
            tracker,
            1001,
            client,
            server,
            TcpFlags::FIN | ack,
            (101, 502),
        );
        if last_ack {
            send_at(tracker, 1002, server, client, ack, (502, 102));
        }
        id
    }

    #[test]
    fn a_close_with_both_fins_acknowledged_keeps_a_short_grace() {
        let mut tracker = Tracker::new(TrackerConfig::default());
        let (client, server, other) = (endpoint(2, 40000), endpoint(1, 80), endpoint(3, 40000));
        let closed = open_and_close(&mut tracker, client, server, true);
        send_at(&mut tracker, 1900, other, server, TcpFlags::SYN, (1, 0));
        assert!(ended_ids(&mut tracker).is_empty(), "within 1 s of the ACK");
        send_at(&mut tracker, 2100, other, server, TcpFlags::ACK, (2, 0));
        assert_eq!(ended_ids(&mut tracker), vec![closed.0]);
        // A duplicate after that is counted as late, not taken for a new connection.
        let (_, late) = send_at(
            &mut tracker,
            2500,
            client,
            server,
            TcpFlags::ACK,
            (102, 502),
        );
        assert!(late);
    }

    #[test]
    fn a_fin_never_acknowledged_keeps_the_full_grace_for_its_retransmissions() {
        let mut tracker = Tracker::new(TrackerConfig::default());
        let (client, server, other) = (endpoint(2, 40000), endpoint(1, 80), endpoint(3, 40000));
        let closed = open_and_close(&mut tracker, client, server, false);
        send_at(&mut tracker, 3000, other, server, TcpFlags::SYN, (1, 0));
        assert!(ended_ids(&mut tracker).is_empty());
        let retransmitted_fin = (101, 502);
        let fin = TcpFlags::FIN | TcpFlags::ACK;
        let resent = send_at(&mut tracker, 4000, client, server, fin, retransmitted_fin);
        assert_eq!(resent, (closed, false), "part of the connection");
        send_at(&mut tracker, 8900, other, server, TcpFlags::ACK, (2, 0));
        assert!(
            ended_ids(&mut tracker).is_empty(),
            "5 s from the last segment"
        );
        send_at(&mut tracker, 9100, other, server, TcpFlags::ACK, (2, 0));
        assert_eq!(ended_ids(&mut tracker), vec![closed.0]);
    }

    #[test]
    fn a_flood_on_a_reset_connection_keeps_one_closing_check() {
        let mut tracker = Tracker::new(TrackerConfig::default());
        let (client, server) = (endpoint(2, 40000), endpoint(1, 80));
        let first = open_and_reset(&mut tracker, client, server);
        for _ in 0..1000 {
            send(&mut tracker, 2, client, server, TcpFlags::ACK);
        }
        assert_eq!(tracker.closing.len(), 1);
        send(&mut tracker, 8, endpoint(3, 40000), server, TcpFlags::SYN);
        assert_eq!(
            ended_ids(&mut tracker),
            vec![first.0],
            "5 s after the flood"
        );
        assert!(tracker.closing.is_empty());
    }

    /// With several shards, a shard learns the time from the other shards' segments: that
    /// alone must end its closed connections at the same moment one tracker would.
    #[test]
    fn time_from_other_segments_ends_a_closed_connection_after_its_grace() {
        let mut tracker = Tracker::new(TrackerConfig::default());
        let first = open_and_reset(&mut tracker, endpoint(2, 40000), endpoint(1, 80));
        tracker.advance(Timestamp::from_nanos(5_000_000_000));
        assert!(ended_ids(&mut tracker).is_empty(), "still within its grace");
        tracker.advance(Timestamp::from_nanos(7_000_000_000));
        assert_eq!(ended_ids(&mut tracker), vec![first.0]);
        assert_eq!(tracker.open_connections(), 0);
    }

    #[test]
    fn a_syn_on_a_tombstoned_tuple_is_a_new_connection() {
        let mut tracker = Tracker::new(TrackerConfig::default());
        let (client, server) = (endpoint(2, 40000), endpoint(1, 80));
        let first = open_and_reset(&mut tracker, client, server);
        send(&mut tracker, 10, endpoint(3, 40000), server, TcpFlags::SYN);
        assert_eq!(ended_ids(&mut tracker), vec![first.0]);
        let (reused, late) = send(&mut tracker, 20, client, server, TcpFlags::SYN);
        assert!(!late && reused != first);
        assert_eq!(
            send(&mut tracker, 21, client, server, TcpFlags::ACK),
            (reused, false)
        );
    }

    #[test]
    fn the_end_of_input_finishes_every_connection_once_in_id_order_in_batches() {
        let mut tracker = Tracker::new(TrackerConfig::default());
        let server = endpoint(1, 80);
        // Ports chosen so that hash-table order is unlikely to match id order.
        let ports = [40007, 40001, 40005, 40003, 40002, 40006, 40004];
        let mut opened = Vec::new();
        for (second, port) in ports.iter().enumerate() {
            let (id, _) = send(
                &mut tracker,
                second as i64,
                endpoint(2, *port),
                server,
                TcpFlags::SYN,
            );
            opened.push(id.0);
        }
        // A RST closes the first connection; a new SYN on its tuple starts a new one and
        // leaves the old one pending among the ended, not in the table.
        send(&mut tracker, 10, server, endpoint(2, 40007), TcpFlags::RST);
        let (reused, _) = send(&mut tracker, 11, endpoint(2, 40007), server, TcpFlags::SYN);
        opened.push(reused.0);
        assert!(tracker.has_ended());
        let mut ids = Vec::new();
        loop {
            let batch = tracker.finish_batch(3);
            if batch.is_empty() {
                break;
            }
            assert!(batch.len() <= 3);
            ids.extend(batch.iter().map(|c| c.id.0));
        }
        assert!(opened.is_sorted() && opened.len() == 8);
        assert_eq!(ids, opened);
        assert_eq!(tracker.open_connections(), 0);
        assert!(!tracker.has_ended());
    }
}
