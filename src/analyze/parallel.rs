//! `--threads 3` and more: connections analyzed on several shards at once, with the report of
//! `--threads 1`.
//!
//! * The **reader** thread reads and merges the inputs into batches of frames
//!   (`capture::prefetch`), numbers every frame and routes it: a TCP segment to the shard
//!   `hash(flow key) % shards`, anything else to the merger. It reads a segment's tuple at
//!   fixed offsets (`decode::tuple`) and runs the full decoder only on the frames that reader
//!   leaves to it or when `--host`/`--port` filter: it is one thread for all the shards, so
//!   its cost per frame caps how far they scale. The shard decodes its segments in full (a
//!   decoded view borrows the frame and does not cross threads). Every batch is shared,
//!   read-only, with every shard and the merger.
//! * Each **shard** thread tracks the connections of its segments and runs the per-connection
//!   detectors on them ([`Shard`]). It also advances its clock with every other TCP segment,
//!   so that its connections end at the very frame they end at with one thread. What it emits
//!   goes back to the merger, one chunk per batch, tagged with frame numbers.
//! * The **merger** (the calling thread) takes the chunks of each batch from every shard and
//!   applies them in frame order, a frame's own items before the connections it ended, those
//!   by id: the order of `--threads 1`. It also runs the shared detectors on the frames routed
//!   to it and on the shards' messages, and numbers connections in the order they opened.
//!
//! At most [`BATCHES_IN_FLIGHT`] batches circulate, so memory stays bounded whatever the file
//! size. Tuples never cross shards, so no state is locked. The one difference from one thread:
//! `--max-connections` applies per shard (each gets an equal part of it), so which connections
//! are finished early when it is reached can differ.

use super::merge::Merger;
use super::shard::{END_OF_INPUT, Shard, flow_of};
use super::{FINISH_BATCH, Finished, passes_filters};
use crate::capture::merge::InputSet;
use crate::capture::prefetch::{self, Batch};
use crate::config::AnalysisConfig;
use crate::decode::{self, Network, Transport};
use crate::detect::outbox::Item;
use crate::flow::Endpoint;
use crate::flow::hash::KeyedState;
use crate::report::lines::LineOutput;
use std::hash::BuildHasher;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};

/// Routes above the shard numbers.
const ROUTE_FILTERED: u16 = u16::MAX;
const ROUTE_MERGER: u16 = u16::MAX - 1;
/// A frame of no known network layer: the merger's too, and counted as undecoded.
const ROUTE_UNDECODED: u16 = u16::MAX - 2;
/// More shards than this would not pay for themselves (and routes are 16 bits).
pub const MAX_SHARDS: usize = 256;

/// Batches circulating, whatever the number of shards: one being read, one being analyzed (by
/// every shard at once: each takes its own segments from it), one being merged. A shard's
/// chunk of items for a batch waits for the merger, so memory grows with the batches in
/// flight: with `shards + 2`, one connection of pipelined requests (every request head a
/// message to the merger) peaked at 70 MiB with 2 shards and 146 MiB with 7; with 3 in flight,
/// 56 MiB with either (tests/limits.rs holds it under 64 MiB).
const BATCHES_IN_FLIGHT: usize = 3;

/// Analyzes every frame of `inputs` on `shard_count` shards. `open_connections` is kept up to
/// date for the progress bar, which `report_progress` draws on the reader thread.
pub fn analyze(
    inputs: &mut InputSet,
    config: AnalysisConfig,
    stream: Option<LineOutput>,
    shard_count: usize,
    open_connections: &AtomicUsize,
    report_progress: &(dyn Fn(&InputSet) + Sync),
) -> Finished {
    let shard_count = shard_count.clamp(1, MAX_SHARDS);
    let streaming = stream.is_some();
    let shard_config = AnalysisConfig {
        tracker: crate::flow::TrackerConfig {
            max_connections: config.tracker.max_connections.div_ceil(shard_count),
            ..config.tracker
        },
        ..config.clone()
    };
    let mut merger = Merger::new(config.clone(), stream);
    let in_flight = BATCHES_IN_FLIGHT;
    std::thread::scope(|scope| {
        let (empty_sender, empty_receiver) = sync_channel::<Batch>(in_flight);
        for _ in 0..in_flight {
            // Cannot fail: the receiver is alive and the channel has room for every batch.
            let _ = empty_sender.send(Batch::default());
        }
        let (merger_sender, merger_receiver) = sync_channel::<Arc<Batch>>(in_flight);
        let mut shard_senders = Vec::new();
        let mut chunk_receivers = Vec::new();
        let mut handles = Vec::new();
        for index in 0..shard_count {
            let (batch_sender, batch_receiver) = sync_channel::<Arc<Batch>>(in_flight);
            let (chunk_sender, chunk_receiver) = sync_channel::<Vec<Item>>(in_flight);
            shard_senders.push(batch_sender);
            chunk_receivers.push(chunk_receiver);
            let shard = Shard::new(shard_config.clone(), streaming);
            handles.push(
                scope.spawn(move || run_shard(shard, index as u16, batch_receiver, chunk_sender)),
            );
        }
        let router = Router::new(&config, shard_count);
        scope.spawn(move || {
            let mut deliver = |mut batch: Batch| {
                router.route(&mut batch);
                let batch = Arc::new(batch);
                shard_senders
                    .iter()
                    .all(|sender| sender.send(Arc::clone(&batch)).is_ok())
                    && merger_sender.send(batch).is_ok()
            };
            prefetch::read(inputs, empty_receiver, &mut deliver, report_progress);
        });
        let stream_error = merge_batches(
            &mut merger,
            merger_receiver,
            &chunk_receivers,
            empty_sender,
            open_connections,
        );
        if stream_error.is_none() {
            merge_final(&mut merger, &chunk_receivers);
        }
        drop(chunk_receivers);
        let shards = handles
            .into_iter()
            .filter_map(|handle| handle.join().ok())
            .collect();
        let stream_error = stream_error.or_else(|| merger.stream_error());
        Finished {
            merger,
            shards,
            stream_error,
        }
    })
}

/// Decides where each frame goes; runs on the reader thread.
struct Router {
    config: AnalysisConfig,
    shards: u64,
    /// Mixed into every route, so that a capture cannot be crafted to load one shard only.
    seed: u64,
}

impl Router {
    fn new(config: &AnalysisConfig, shards: usize) -> Router {
        Router {
            config: config.clone(),
            shards: shards as u64,
            seed: KeyedState::default().hash_one(shards),
        }
    }

    fn route(&self, batch: &mut Batch) {
        let mut routes = std::mem::take(&mut batch.routes);
        routes.clear();
        routes.extend(batch.frames().map(|frame| {
            // Filtering (`--host`, `--port`) needs the full decoder.
            if !self.config.filters_frames()
                && let Some(tuple) = decode::tuple::tcp_tuple(&frame)
            {
                return self.shard_of(tuple.source, tuple.destination);
            }
            let packet = decode::decode(&frame);
            if !passes_filters(&self.config, &packet) {
                return ROUTE_FILTERED;
            }
            let ip = match &packet.network {
                Network::Ip(ip) => ip,
                Network::Other => return ROUTE_UNDECODED,
                _ => return ROUTE_MERGER,
            };
            let Transport::Tcp(tcp) = &ip.transport else {
                return ROUTE_MERGER;
            };
            let (key, ..) = flow_of(&self.config, &packet, ip, tcp);
            self.shard_of(key.low, key.high)
        }));
        batch.routes = routes;
    }

    /// The shard of the connection between `a` and `b`, in either order. It depends on the
    /// endpoints alone, which every connection key holds (with its input, interface and VLAN,
    /// left out here): the same key always gets the same shard, and the reader need not build
    /// and hash a whole key, which cost it about 130 instructions per frame.
    fn shard_of(&self, a: Endpoint, b: Endpoint) -> u16 {
        let (a, b) = (endpoint_word(a), endpoint_word(b));
        let (low, high) = (a.min(b), a.max(b));
        // Multiply-xorshift mixing (as in SplitMix64): every input bit reaches the high bits
        // the remainder is taken from.
        let mut mixed = (low ^ self.seed).wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ high;
        mixed = (mixed ^ (mixed >> 31)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        mixed ^= mixed >> 29;
        // The remainder is below the shard count, at most MAX_SHARDS.
        (mixed % self.shards) as u16
    }
}

/// An endpoint as one word for routing: the address (an IPv6 one folded to 64 bits) and the
/// port.
fn endpoint_word(endpoint: Endpoint) -> u64 {
    let address = match endpoint.ip {
        IpAddr::V4(ip) => u64::from(ip.to_bits()),
        IpAddr::V6(ip) => {
            let bits = ip.to_bits();
            (bits >> 64) as u64 ^ bits as u64
        }
    };
    address.rotate_left(16) ^ u64::from(endpoint.port)
}

/// A shard thread: its segments analyzed, the others' times passed, one chunk back per batch;
/// at the end of input its remaining connections, in chunks. Returns the shard for its totals.
fn run_shard(
    mut shard: Shard,
    index: u16,
    batches: Receiver<Arc<Batch>>,
    chunks: SyncSender<Vec<Item>>,
) -> Shard {
    while let Ok(batch) = batches.recv() {
        let first = batch.first_number();
        for (offset, (frame, route)) in batch.frames().zip(&batch.routes).enumerate() {
            let number = first + offset as u64;
            if *route == index {
                let packet = decode::decode(&frame);
                if let Network::Ip(ip) = &packet.network
                    && let Transport::Tcp(tcp) = &ip.transport
                {
                    shard.segment(number, &packet, ip, tcp);
                }
            } else if usize::from(*route) < MAX_SHARDS {
                shard.pass_time(number, frame.ts);
            }
        }
        // Dropped before the chunk goes: once the merger has every chunk of a batch, it holds
        // the batch alone and can give it back to the reader.
        drop(batch);
        if chunks.send(shard.outbox.take()).is_err() {
            return shard;
        }
    }
    while shard.finish_some(FINISH_BATCH) {
        if chunks.send(shard.outbox.take()).is_err() {
            break;
        }
    }
    shard
}

/// Applies every batch's chunks in frame order; returns the stream's error if it failed.
fn merge_batches(
    merger: &mut Merger,
    batches: Receiver<Arc<Batch>>,
    chunks: &[Receiver<Vec<Item>>],
    empty: SyncSender<Batch>,
    open_connections: &AtomicUsize,
) -> Option<std::io::Error> {
    let mut merged_batches = 0u32;
    while let Ok(batch) = batches.recv() {
        let mut groups = Vec::with_capacity(chunks.len());
        for receiver in chunks {
            match receiver.recv() {
                Ok(items) => groups.push(Groups::new(items)),
                // A shard is gone (it panicked): stop; the scope reports the panic.
                Err(_) => return None,
            }
        }
        merge_batch(merger, &batch, &mut groups);
        let batch = Arc::try_unwrap(batch).unwrap_or_default();
        // The reader may be done already: then the batch is not needed.
        let _ = empty.send(batch);
        merged_batches += 1;
        if merged_batches.is_multiple_of(16) {
            open_connections.store(merger.open_connections(), Ordering::Relaxed);
            if let Some(error) = merger.stream_error() {
                return Some(error);
            }
        }
    }
    None
}

/// One batch: the shards' groups and the merger's own frames, by frame number. Frames are
/// counted in order up to each of the merger's own, as with one thread (the VRRP detector
/// reads the capture's time so far).
fn merge_batch(merger: &mut Merger, batch: &Batch, groups: &mut [Groups]) {
    let first = batch.first_number();
    let mut counted = 0;
    let mut own = batch
        .routes
        .iter()
        .enumerate()
        .filter(|(_, route)| is_own(**route))
        .map(|(offset, _)| offset)
        .peekable();
    loop {
        let group = smallest(groups);
        let own_first = match (own.peek(), group) {
            (Some(offset), Some((_, key))) => (first + *offset as u64, 0, 0) < key,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (None, None) => break,
        };
        if !own_first {
            if let Some((index, _)) = group
                && let Some(source) = groups.get_mut(index)
            {
                source.apply_group(merger);
            }
        } else if let Some(offset) = own.next() {
            counted = count_frames(merger, batch, counted, offset + 1);
            if let Some(frame) = batch.frame(offset) {
                merger.packet(&decode::decode(&frame));
            }
        }
    }
    count_frames(merger, batch, counted, batch.len());
}

fn is_own(route: u16) -> bool {
    route == ROUTE_MERGER || route == ROUTE_UNDECODED
}

/// Counts the frames `from..to` of the batch that passed the filters; returns `to`. Indexed,
/// not skipped to: a batch of the merger's own frames calls this once per frame.
fn count_frames(merger: &mut Merger, batch: &Batch, from: usize, to: usize) -> usize {
    for offset in from..to {
        if let (Some(frame), Some(route)) = (batch.frame(offset), batch.routes.get(offset))
            && *route != ROUTE_FILTERED
        {
            merger.count_frame(frame.ts, *route == ROUTE_UNDECODED);
        }
    }
    to
}

/// At the end of input: the shards' remaining connections, by id over all shards.
fn merge_final(merger: &mut Merger, chunks: &[Receiver<Vec<Item>>]) {
    let mut groups: Vec<Groups> = chunks
        .iter()
        .map(|receiver| Groups::new(receiver.recv().unwrap_or_default()))
        .collect();
    loop {
        // A shard's chunk ran out: its next one continues its (sorted) sequence.
        for (source, receiver) in groups.iter_mut().zip(chunks) {
            while source.is_empty() {
                match receiver.recv() {
                    Ok(items) => *source = Groups::new(items),
                    Err(_) => break,
                }
            }
        }
        let Some((index, key)) = smallest(&groups) else {
            break;
        };
        debug_assert_eq!(key.0, END_OF_INPUT);
        if let Some(source) = groups.get_mut(index) {
            source.apply_group(merger);
        }
    }
}

/// The index and key of the source whose next group comes first.
fn smallest(groups: &[Groups]) -> Option<(usize, GroupKey)> {
    let mut first: Option<(usize, GroupKey)> = None;
    for (index, source) in groups.iter().enumerate() {
        if let Some(key) = source.next_key
            && first.is_none_or(|(_, smallest)| key < smallest)
        {
            first = Some((index, key));
        }
    }
    first
}

/// A shard's chunk, read one group (a marker and the items after it) at a time. The merger,
/// the one thread every shard waits for, picks the next group among all shards' chunks for
/// each group: the key of each chunk's next group is kept, not looked up again on every pick,
/// and items are looked at where they lie and moved out only to be applied (a `Peekable`
/// moves each into a slot of its own to show it). Finding the next group that way was a
/// fifth of the merger's work with 8 shards.
struct Groups {
    items: std::vec::IntoIter<Item>,
    /// The key of the group `items` starts with; `None` when they are all applied.
    next_key: Option<GroupKey>,
}

type GroupKey = (u64, u8, u64);

impl Groups {
    fn new(items: Vec<Item>) -> Groups {
        let mut groups = Groups {
            items: items.into_iter(),
            next_key: None,
        };
        groups.next_key = groups.first_key();
        groups
    }

    fn is_empty(&self) -> bool {
        self.next_key.is_none()
    }

    fn first_key(&self) -> Option<GroupKey> {
        let item = self.items.as_slice().first()?;
        // Items before any marker (none are emitted) would go first.
        Some(item.group_key().unwrap_or((0, 0, 0)))
    }

    fn apply_group(&mut self, merger: &mut Merger) {
        let Some(marker) = self.items.next() else {
            return;
        };
        merger.apply_item(marker);
        while self
            .items
            .as_slice()
            .first()
            .is_some_and(|item| item.group_key().is_none())
        {
            if let Some(item) = self.items.next() {
                merger.apply_item(item);
            }
        }
        self.next_key = self.first_key();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    fn endpoints(n: u32) -> (Endpoint, Endpoint) {
        let client = Endpoint {
            ip: IpAddr::V4(Ipv4Addr::from_bits(0x0a00_0000 | (n % 500))),
            port: 32768 + (n / 500) as u16,
        };
        let server = if n.is_multiple_of(3) {
            Endpoint {
                ip: IpAddr::V6(Ipv6Addr::from_bits(0x2001_0db8 << 96 | u128::from(n % 7))),
                port: 443,
            }
        } else {
            Endpoint {
                ip: IpAddr::V4(Ipv4Addr::new(10, 2, 0, (n % 7) as u8)),
                port: 80,
            }
        };
        (client, server)
    }

    #[test]
    fn both_directions_of_a_connection_go_to_one_shard_and_connections_spread() {
        let router = Router::new(&AnalysisConfig::default(), 4);
        let mut per_shard = [0u32; 4];
        for n in 0..20_000 {
            let (client, server) = endpoints(n);
            let route = router.shard_of(client, server);
            assert_eq!(route, router.shard_of(server, client));
            if let Some(count) = per_shard.get_mut(usize::from(route)) {
                *count += 1;
            }
        }
        // A fair split is 5,000 each.
        assert!(
            per_shard.iter().all(|count| (4_500..5_500).contains(count)),
            "{per_shard:?}"
        );
    }
}
