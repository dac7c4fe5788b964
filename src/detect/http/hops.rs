//! HTTP hops: connections grouped by (client address, server endpoint), and requests matched
//! across hops to find which hop forwards to which (client → proxy → upstream).
//!
//! A proxy's two sides are separate connections, often from different addresses, so hops are
//! linked by their requests: a request on hop B with the same method and target as one on hop
//! A shortly before ([`MATCH_WINDOW_SECS`]), from another client address to another server,
//! or with the same `X-Request-Id`, is A's request forwarded by a proxy. Per-hop persistence
//! follows RFC 9112 §9.3 (each hop negotiates its own; RFC 9110 §7.6.1 makes `Connection`
//! hop-by-hop).
//!
//! Memory: at most [`MAX_HOPS`] hops; the match index keeps requests of the last
//! [`MATCH_WINDOW_SECS`], at most [`MAX_RECENT_REQUESTS`] (4 MiB), and a match looks at most
//! [`MAX_RECENT_PER_KEY`] of them back per match key; per hop at most [`MAX_INTERVALS`]
//! connection lifetimes (for peak concurrency), [`MAX_TIMES_KEPT`] over all hops.

use super::conversation::RequestNote;
use super::parser::{Head, StartLine, Text, version_text};
use crate::flow::hash::{FastHashMap, KeyedState};
use crate::flow::text::push_ip;
use crate::flow::{ConnectionId, Endpoint};
use crate::time::Timestamp;
use serde::{Serialize, Serializer};
use std::collections::{BTreeMap, VecDeque};
use std::hash::BuildHasher;
use std::net::IpAddr;
use std::sync::OnceLock;

/// A forwarded request follows the original within this long.
pub const MATCH_WINDOW_SECS: f64 = 2.0;
pub const MAX_HOPS: usize = 10_000;
pub const MAX_RECENT_REQUESTS: usize = 100_000;
/// Recent requests looked at per match key (same method and target, or same request id), newest
/// first: the candidates scanned for each new request. Without it, one connection pipelining
/// identical requests made every request scan up to [`MAX_RECENT_REQUESTS`] entries
/// (quadratic time).
pub const MAX_RECENT_PER_KEY: usize = 64;
pub const MAX_INTERVALS: usize = 4096;
/// Connection lifetimes (16 bytes) and churn close times (8 bytes) kept over all hops
/// together: the per-hop caps alone let 10,000 hops hold 96 KiB each, about 1 GB.
pub const MAX_TIMES_KEPT: usize = 262_144;

/// How many lifetimes and churn close times all hops keep, against [`MAX_TIMES_KEPT`].
#[derive(Default)]
pub struct TimesKept {
    intervals: usize,
    churn_closes: usize,
}

impl TimesKept {
    /// Keeps a connection's lifetime on `hop` if both caps leave room.
    pub fn add_interval(&mut self, hop: &mut Hop, interval: (Timestamp, Timestamp)) {
        if Self::take(&mut self.intervals, hop.intervals.len()) {
            hop.intervals.push(interval);
        }
    }

    /// Keeps a churned connection's close time on `hop` if both caps leave room.
    pub fn add_churn_close(&mut self, hop: &mut Hop, ts: Timestamp) {
        if Self::take(&mut self.churn_closes, hop.churn_closes.len()) {
            hop.churn_closes.push(ts);
        }
    }

    fn take(total: &mut usize, on_hop: usize) -> bool {
        let room = on_hop < MAX_INTERVALS && *total < MAX_TIMES_KEPT;
        *total += usize::from(room);
        room
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct HopKey {
    pub client: IpAddr,
    pub server: Endpoint,
}

impl HopKey {
    /// Appends `client -> server` (as `Display` writes each), from stack-built texts: hop
    /// lines and hop findings name their hop this way, serially after the analysis.
    pub fn push_to(&self, out: &mut String) {
        push_ip(out, self.client);
        out.push_str(" -> ");
        self.server.push_to(out);
    }
}

/// Idle closes of keep-alive connections by one side.
#[derive(Clone, Copy, Debug, Default)]
pub struct IdleCloses {
    pub count: u64,
    pub min_s: f64,
    pub max_s: f64,
    pub first_ts: Option<Timestamp>,
}

impl IdleCloses {
    /// Connections are added as they end, not as they closed: the earliest close is kept,
    /// whichever connection ended first.
    pub fn add(&mut self, seconds: f64, ts: Timestamp) {
        if self.count == 0 {
            self.min_s = seconds;
            self.max_s = seconds;
        }
        self.min_s = self.min_s.min(seconds);
        self.max_s = self.max_s.max(seconds);
        self.first_ts = Some(self.first_ts.map_or(ts, |first| first.min(ts)));
        self.count += 1;
    }
}

/// The HTTP versions seen, a set of the two the parser reads (1.0 and 1.1) that costs no
/// allocation: every connection adds its versions to its hop in the merger, and a `BTreeSet`
/// per hop cost 5.2 M instructions there on a capture of 11,594 connections, and more when
/// cloned into the hop's record. Iterates and serializes as the sorted set of texts did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VersionSet {
    http_1_0: bool,
    http_1_1: bool,
}

impl VersionSet {
    /// Adds the version of a message whose start line had this minor version (named as
    /// [`version_text`] names it).
    pub fn add_minor(&mut self, minor_version: u8) {
        let text = version_text(minor_version);
        self.http_1_0 |= text == version_text(0);
        self.http_1_1 |= text == version_text(1);
    }

    pub fn add_all(&mut self, other: VersionSet) {
        self.http_1_0 |= other.http_1_0;
        self.http_1_1 |= other.http_1_1;
    }

    pub fn is_empty(&self) -> bool {
        !(self.http_1_0 || self.http_1_1)
    }

    /// The texts, sorted.
    pub fn iter(&self) -> impl Iterator<Item = &'static str> {
        [
            (self.http_1_0, version_text(0)),
            (self.http_1_1, version_text(1)),
        ]
        .into_iter()
        .filter_map(|(seen, text)| seen.then_some(text))
    }
}

impl Serialize for VersionSet {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.iter())
    }
}

/// What one hop aggregates.
#[derive(Clone, Debug)]
pub struct Hop {
    pub key: HopKey,
    pub first_ts: Timestamp,
    pub connections: u64,
    pub requests: u64,
    pub responses: u64,
    pub request_versions: VersionSet,
    pub response_versions: VersionSet,
    pub persistent: u64,
    pub non_persistent: u64,
    pub closed_by_client: u64,
    pub closed_by_server: u64,
    pub still_open: u64,
    pub resets: u64,
    pub max_requests_per_connection: u64,
    pub idle_by_client: IdleCloses,
    pub idle_by_server: IdleCloses,
    /// Keep-alive connections the client closed right after a response.
    pub churned: u64,
    pub churn_examples: Vec<ConnectionId>,
    /// When those connections were closed (at most [`MAX_INTERVALS`], see [`TimesKept`]).
    pub churn_closes: Vec<Timestamp>,
    /// Connections whose first exchange was offered keep-alive and declined.
    pub declined: u64,
    pub declined_rules: BTreeMap<&'static str, u64>,
    pub declined_examples: Vec<ConnectionId>,
    pub declined_first_ts: Option<Timestamp>,
    /// Connections whose client did not offer keep-alive.
    pub not_offered: u64,
    pub not_offered_rules: BTreeMap<&'static str, u64>,
    pub not_offered_first_ts: Option<Timestamp>,
    pub server_software: Option<Text>,
    pub client_is_proxy: bool,
    /// Matched requests per hop (index) this hop's requests came from.
    pub forwarded_from: BTreeMap<usize, u64>,
    pub hop_by_hop_forwarded: u64,
    pub hop_by_hop_example: Option<(Timestamp, String)>,
    /// Connection lifetimes, at most [`MAX_INTERVALS`] (see [`TimesKept`]).
    pub intervals: Vec<(Timestamp, Timestamp)>,
    /// [`Hop::peak_concurrency`], computed once: it is asked for by the section, the findings
    /// and pool churn, all after the last connection ended, from several threads (a hop's
    /// findings read its front hop's).
    peak: OnceLock<u64>,
}

impl Hop {
    fn new(key: HopKey, ts: Timestamp) -> Hop {
        Hop {
            key,
            first_ts: ts,
            connections: 0,
            requests: 0,
            responses: 0,
            request_versions: VersionSet::default(),
            response_versions: VersionSet::default(),
            persistent: 0,
            non_persistent: 0,
            closed_by_client: 0,
            closed_by_server: 0,
            still_open: 0,
            resets: 0,
            max_requests_per_connection: 0,
            idle_by_client: IdleCloses::default(),
            idle_by_server: IdleCloses::default(),
            churned: 0,
            churn_examples: Vec::new(),
            churn_closes: Vec::new(),
            declined: 0,
            declined_rules: BTreeMap::new(),
            declined_examples: Vec::new(),
            declined_first_ts: None,
            not_offered: 0,
            not_offered_rules: BTreeMap::new(),
            not_offered_first_ts: None,
            server_software: None,
            client_is_proxy: false,
            forwarded_from: BTreeMap::new(),
            hop_by_hop_forwarded: 0,
            hop_by_hop_example: None,
            intervals: Vec::new(),
            peak: OnceLock::new(),
        }
    }

    /// `keep-alive`, `close` or `mixed` over its connections.
    pub fn mode(&self) -> &'static str {
        match (self.persistent, self.non_persistent) {
            (_, 0) => "keep-alive",
            (0, _) => "close",
            _ => "mixed",
        }
    }

    pub fn requests_per_connection(&self) -> f64 {
        if self.connections == 0 {
            return 0.0;
        }
        (self.requests as f64 / self.connections as f64 * 100.0).round() / 100.0
    }

    /// The hop whose requests this hop carries onward, by most matches.
    pub fn upstream_of(&self) -> Option<(usize, u64)> {
        self.forwarded_from
            .iter()
            .max_by_key(|(index, count)| (**count, std::cmp::Reverse(**index)))
            .map(|(index, count)| (*index, *count))
    }

    /// Most connections open at once (from the lifetimes kept). Ask only once every
    /// connection has ended: the first answer is kept.
    pub fn peak_concurrency(&self) -> u64 {
        *self.peak.get_or_init(|| self.count_peak_concurrency())
    }

    fn count_peak_concurrency(&self) -> u64 {
        if self.intervals.len() <= FEW_INTERVALS {
            peak_of_few(&self.intervals)
        } else {
            peak_by_sweep(&self.intervals)
        }
    }
}

/// Up to this many lifetimes, [`peak_of_few`] counts without a list: most hops of a capture
/// of many clients have a few connections each, and a list and a sort cost about 800
/// instructions per hop, serially after the analysis.
const FEW_INTERVALS: usize = 8;

/// Most lifetimes open at once: a sweep over their starts (+1) and ends (−1) in time order,
/// an end before a start at the same time (a connection replacing another is not both).
fn peak_by_sweep(intervals: &[(Timestamp, Timestamp)]) -> u64 {
    let mut edges: Vec<(Timestamp, i64)> = Vec::with_capacity(intervals.len() * 2);
    for (start, end) in intervals {
        edges.push((*start, 1));
        edges.push((*end, -1));
    }
    // Unstable: equal edges are equal values, so the order is the same without the
    // stable sort's buffer and merging (this runs once per hop at the end, serially).
    edges.sort_unstable();
    let (mut open, mut peak) = (0i64, 0i64);
    for (_, delta) in edges {
        open += delta;
        peak = peak.max(open);
    }
    u64::try_from(peak).unwrap_or(0)
}

/// The sweep's answer without its list: the sweep's count is highest right after the starts
/// at some time `t`, where it is the lifetimes started by `t` less those ended by `t`.
fn peak_of_few(intervals: &[(Timestamp, Timestamp)]) -> u64 {
    let open_after = |at: Timestamp| {
        let started = intervals.iter().filter(|(start, _)| *start <= at).count();
        let ended = intervals.iter().filter(|(_, end)| *end <= at).count();
        started as i64 - ended as i64
    };
    let peak = intervals.iter().map(|(start, _)| open_after(*start)).max();
    u64::try_from(peak.unwrap_or(0)).unwrap_or(0)
}

/// A request remembered for matching: 40 bytes, up to [`MAX_RECENT_REQUESTS`] of them. The
/// hop's index stands for its client and server (the hop key), and same-key requests are
/// chained by distance instead of each key owning a list: with unique request ids most keys
/// have one request, and a list per key cost four slots of 64 bytes each (25 MiB at the cap).
struct Recent {
    ts: Timestamp,
    match_key: u64,
    hop: u32,
    /// How many requests back the previous one with the same match key is (0: none).
    back: u32,
    taken: bool,
    /// Hop-by-hop fields of the original, to spot them on the forwarded copy.
    hop_by_hop: Option<Box<HopByHop>>,
}

struct HopByHop {
    connection: Option<Text>,
    /// The `Connection` value has an option other than the standard ones.
    custom_option: bool,
    keep_alive: Option<Text>,
    proxy_connection: bool,
    named: Vec<Text>,
}

/// All hops of the analysis.
#[derive(Default)]
pub struct Hops {
    pub list: Vec<Hop>,
    index: FastHashMap<HopKey, usize>,
    /// Requests of the last [`MATCH_WINDOW_SECS`], oldest first; `recent[i]` is request number
    /// `first_recent + i`.
    recent: VecDeque<Recent>,
    first_recent: u64,
    /// The number of the latest request under each match key (the head of its chain).
    latest: FastHashMap<u64, u64>,
    /// Hashes requests into match keys (keyed per process, like the connection table).
    key_hasher: KeyedState,
    /// Hops not tracked because [`MAX_HOPS`] was reached.
    pub untracked: u64,
    pub times_kept: TimesKept,
}

impl Hops {
    pub fn hop_for(&mut self, key: HopKey, ts: Timestamp) -> Option<usize> {
        if let Some(index) = self.index.get(&key) {
            return Some(*index);
        }
        if self.list.len() >= MAX_HOPS {
            self.untracked += 1;
            return None;
        }
        self.list.push(Hop::new(key, ts));
        self.index.insert(key, self.list.len() - 1);
        Some(self.list.len() - 1)
    }

    /// A request was read on a connection of hop `key`.
    pub fn on_request(&mut self, key: HopKey, note: &RequestNote) {
        let Some(hop) = self.hop_for(key, note.ts) else {
            return;
        };
        self.expire(note.ts);
        let keys = match_keys(&self.key_hasher, &note.head);
        let found = keys
            .iter()
            .flatten()
            .find_map(|k| self.take_match(*k, hop, key, note.ts));
        if let Some((origin, hop_by_hop)) = found {
            let forwarded = hop_by_hop.and_then(|h| forwarded_hop_by_hop(&h, &note.head));
            if let Some(hop_state) = self.list.get_mut(hop) {
                *hop_state.forwarded_from.entry(origin).or_insert(0) += 1;
                if let Some(what) = forwarded {
                    hop_state.hop_by_hop_forwarded += 1;
                    hop_state.hop_by_hop_example.get_or_insert((note.ts, what));
                }
            }
        }
        for match_key in keys.iter().flatten() {
            self.remember(*match_key, hop, note);
        }
    }

    /// The newest request under `match_key` that came from another client to another server
    /// shortly before: the original of this forwarded request. Walks at most
    /// [`MAX_RECENT_PER_KEY`] requests of the chain, so identical requests (health checks from
    /// many clients) cost bounded time each.
    fn take_match(
        &mut self,
        match_key: u64,
        hop: usize,
        key: HopKey,
        ts: Timestamp,
    ) -> Option<(usize, Option<Box<HopByHop>>)> {
        let mut number = *self.latest.get(&match_key)?;
        for _ in 0..MAX_RECENT_PER_KEY {
            let offset = usize::try_from(number.checked_sub(self.first_recent)?).ok()?;
            let entry = self.recent.get(offset)?;
            let origin = entry.hop as usize;
            let other_ends = self
                .list
                .get(origin)
                .is_some_and(|h| h.key.server != key.server && h.key.client != key.client);
            if !entry.taken
                && origin != hop
                && other_ends
                && entry.ts <= ts
                && ts.secs_since(entry.ts) <= MATCH_WINDOW_SECS
            {
                let entry = self.recent.get_mut(offset)?;
                entry.taken = true;
                return Some((origin, entry.hop_by_hop.take()));
            }
            if entry.back == 0 {
                return None;
            }
            number = number.checked_sub(u64::from(entry.back))?;
        }
        None
    }

    fn remember(&mut self, match_key: u64, hop: usize, note: &RequestNote) {
        while self.recent.len() >= MAX_RECENT_REQUESTS {
            self.forget_oldest();
        }
        let head = &note.head;
        let has_hop_by_hop = head.keep_alive.is_some()
            || head.proxy_connection.is_some()
            || !head.named_hop_by_hop.is_empty()
            || head.connection_options.custom;
        let hop_by_hop = has_hop_by_hop.then(|| {
            Box::new(HopByHop {
                connection: head.connection.clone(),
                custom_option: head.connection_options.custom,
                keep_alive: head.keep_alive.clone(),
                proxy_connection: head.proxy_connection.is_some(),
                named: head.named_hop_by_hop.clone(),
            })
        });
        let number = self.first_recent + self.recent.len() as u64;
        // `latest` only names requests still in the ring (`forget_oldest` drops a key whose
        // latest request leaves), so the distance is under MAX_RECENT_REQUESTS.
        let back = self
            .latest
            .insert(match_key, number)
            .and_then(|previous| u32::try_from(number - previous).ok())
            .unwrap_or(0);
        self.recent.push_back(Recent {
            ts: note.ts,
            match_key,
            hop: u32::try_from(hop).unwrap_or(u32::MAX),
            back,
            taken: false,
            hop_by_hop,
        });
    }

    fn expire(&mut self, now: Timestamp) {
        while let Some(oldest) = self.recent.front() {
            if now.secs_since(oldest.ts) <= MATCH_WINDOW_SECS {
                break;
            }
            self.forget_oldest();
        }
    }

    fn forget_oldest(&mut self) {
        let Some(oldest) = self.recent.pop_front() else {
            return;
        };
        let number = self.first_recent;
        self.first_recent += 1;
        // The key's chain ends here: drop it unless a newer request heads it.
        if self.latest.get(&oldest.match_key) == Some(&number) {
            self.latest.remove(&oldest.match_key);
        }
    }

    /// Hop numbers in chain order: each front hop, then the hops it forwards to. Returns
    /// `numbers[index]` = 1-based hop number.
    pub fn chain_order(&self) -> Vec<u32> {
        let mut children: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
        let mut roots = Vec::new();
        for (index, hop) in self.list.iter().enumerate() {
            match hop.upstream_of() {
                Some((parent, _)) if parent != index => {
                    children.entry(parent).or_default().push(index)
                }
                _ => roots.push(index),
            }
        }
        let mut numbers = vec![0u32; self.list.len()];
        let mut next = 1u32;
        let mut stack: Vec<usize> = roots.into_iter().rev().collect();
        let visit = |index: usize, numbers: &mut Vec<u32>, next: &mut u32| -> bool {
            match numbers.get_mut(index) {
                Some(slot) if *slot == 0 => {
                    *slot = *next;
                    *next += 1;
                    true
                }
                _ => false,
            }
        };
        while let Some(index) = stack.pop() {
            if visit(index, &mut numbers, &mut next)
                && let Some(kids) = children.get(&index)
            {
                stack.extend(kids.iter().rev());
            }
        }
        // Hops only reachable through a cycle of matches.
        for index in 0..self.list.len() {
            visit(index, &mut numbers, &mut next);
        }
        numbers
    }
}

/// Keys under which a request is found again on the next hop.
fn match_keys(hasher: &KeyedState, head: &Head) -> [Option<u64>; 2] {
    let by_target = match &head.start {
        StartLine::Request { method, target } => {
            Some(hasher.hash_one(("target", method.as_str(), origin_form(target))))
        }
        StartLine::Response { .. } => None,
    };
    let by_id = head
        .request_id
        .as_ref()
        .map(|id| hasher.hash_one(("id", id.as_str())));
    [by_id, by_target]
}

/// A proxy turns `http://host/path` into `/path`; compare the path.
fn origin_form(target: &str) -> &str {
    let Some(rest) = target
        .strip_prefix("http://")
        .or_else(|| target.strip_prefix("https://"))
    else {
        return target;
    };
    rest.find('/').and_then(|at| rest.get(at..)).unwrap_or("/")
}

/// What of the original's hop-by-hop fields reappears on the forwarded request.
fn forwarded_hop_by_hop(original: &HopByHop, forwarded: &Head) -> Option<String> {
    if let Some(name) = original.named.iter().find(|name| forwarded.has_field(name)) {
        return Some(format!(
            "`{name}` (named in the client's Connection header)"
        ));
    }
    if let (Some(a), Some(b)) = (&original.connection, &forwarded.connection)
        && original.custom_option
        && a.eq_ignore_ascii_case(b)
    {
        return Some(format!(
            "`Connection: {b}` copied from the client's request"
        ));
    }
    if let (Some(a), Some(b)) = (&original.keep_alive, &forwarded.keep_alive)
        && a == b
    {
        return Some(format!(
            "`Keep-Alive: {b}` copied from the client's request"
        ));
    }
    if original.proxy_connection && forwarded.proxy_connection.is_some() {
        return Some("`Proxy-Connection` copied from the client's request".to_string());
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hop(port: u16) -> Hop {
        let key = HopKey {
            client: IpAddr::from([10, 0, 0, 1]),
            server: Endpoint {
                ip: IpAddr::from([10, 0, 0, 2]),
                port,
            },
        };
        Hop::new(key, Timestamp::from_nanos(0))
    }

    fn hop_key(client: u8, server: u8) -> HopKey {
        HopKey {
            client: IpAddr::from([10, 0, 0, client]),
            server: Endpoint {
                ip: IpAddr::from([10, 0, 0, server]),
                port: 80,
            },
        }
    }

    fn get(at_millis: i64) -> RequestNote {
        let start = StartLine::Request {
            method: "GET".into(),
            target: "/health".into(),
        };
        RequestNote {
            ts: Timestamp::from_nanos(at_millis * 1_000_000),
            head: std::sync::Arc::new(Head::new(start, 1)),
        }
    }

    fn forwarded_from(hops: &mut Hops, key: HopKey) -> Vec<(usize, u64)> {
        let index = hops
            .hop_for(key, Timestamp::from_nanos(0))
            .unwrap_or(usize::MAX);
        hops.list.get(index).map_or(Vec::new(), |hop| {
            hop.forwarded_from.iter().map(|(k, v)| (*k, *v)).collect()
        })
    }

    /// The set serializes as the sorted set of version texts it replaced, whatever order the
    /// versions came in, and a union adds what either side saw.
    #[test]
    fn versions_serialize_as_a_sorted_set_of_their_texts() {
        let json = |set: VersionSet| serde_json::to_string(&set).unwrap_or_default();
        let mut set = VersionSet::default();
        assert_eq!((json(set), set.is_empty()), ("[]".to_string(), true));
        set.add_minor(1);
        assert_eq!(json(set), r#"["HTTP/1.1"]"#);
        let mut other = VersionSet::default();
        other.add_minor(0);
        other.add_minor(0);
        assert_eq!(json(other), r#"["HTTP/1.0"]"#);
        set.add_all(other);
        let sorted: std::collections::BTreeSet<&str> = ["HTTP/1.1", "HTTP/1.0"].into();
        assert_eq!(
            json(set),
            serde_json::to_string(&sorted).unwrap_or_default()
        );
        assert!(!set.is_empty());
    }

    #[test]
    fn hop_lines_name_the_hop_its_versions_mode_and_counts() {
        let mut one = hop(80);
        one.request_versions.add_minor(1);
        one.request_versions.add_minor(0);
        (one.requests, one.connections, one.persistent) = (12, 1, 1);
        assert_eq!(
            crate::detect::http::hop_line(3, &one),
            "hop 3  10.0.0.1 -> 10.0.0.2:80  HTTP/1.0+HTTP/1.1 keep-alive  12 requests on 1 connection"
        );
        let mut none = hop(8080);
        none.key.client = "2001:db8::1".parse().unwrap_or(none.key.client);
        (none.connections, none.non_persistent) = (2, 2);
        assert_eq!(
            crate::detect::http::hop_line(10_000, &none),
            "hop 10000  2001:db8::1 -> 10.0.0.2:8080  HTTP/? close  0 requests on 2 connections"
        );
    }

    /// Every few-lifetime input the counting path takes gives the sweep's answer: ties between
    /// starts and ends, empty lifetimes, and ends before starts (from out-of-order captures).
    #[test]
    fn few_lifetimes_peak_as_the_sweep_counts_them() {
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = |limit: u64| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            i64::try_from(state % limit).unwrap_or(0)
        };
        for round in 0..20_000 {
            let count = usize::try_from(next(FEW_INTERVALS as u64 + 1)).unwrap_or(0);
            let spread: u64 = if round % 2 == 0 { 4 } else { 1_000 };
            let intervals: Vec<(Timestamp, Timestamp)> = (0..count)
                .map(|_| {
                    let start = next(spread);
                    let end = start + next(spread) - next(spread / 4 + 1);
                    (Timestamp::from_nanos(start), Timestamp::from_nanos(end))
                })
                .collect();
            assert_eq!(
                peak_of_few(&intervals),
                peak_by_sweep(&intervals),
                "{intervals:?}"
            );
        }
    }

    #[test]
    fn a_request_on_the_next_hop_matches_the_original_once_within_the_window() {
        let (front, upstream) = (hop_key(1, 2), hop_key(2, 3));
        let mut hops = Hops::default();
        hops.on_request(front, &get(0));
        hops.on_request(upstream, &get(100));
        hops.on_request(upstream, &get(200));
        assert_eq!(forwarded_from(&mut hops, upstream), vec![(0, 1)]);
        hops.on_request(front, &get(1_000));
        hops.on_request(upstream, &get(3_500));
        assert_eq!(
            forwarded_from(&mut hops, upstream),
            vec![(0, 1)],
            "2.5 s later is not the same request"
        );
    }

    #[test]
    fn a_match_looks_back_over_a_bounded_number_of_same_key_requests() {
        let (front, upstream) = (hop_key(1, 2), hop_key(2, 3));
        // The front's client, the upstream's server: neither forwards nor is forwarded.
        let beside = hop_key(1, 3);
        for newer in [MAX_RECENT_PER_KEY - 1, MAX_RECENT_PER_KEY] {
            let mut hops = Hops::default();
            hops.on_request(front, &get(0));
            for _ in 0..newer {
                hops.on_request(beside, &get(10));
            }
            hops.on_request(upstream, &get(20));
            let found = forwarded_from(&mut hops, upstream);
            assert_eq!(found.is_empty(), newer == MAX_RECENT_PER_KEY, "{newer}");
        }
    }

    #[test]
    fn lifetimes_are_capped_per_hop_and_over_all_hops() {
        let lifetime = (Timestamp::from_nanos(0), Timestamp::from_nanos(1));
        let mut kept = TimesKept::default();
        // Each hop is offered one lifetime more than its own cap.
        let mut fill = |hop: &mut Hop| {
            for _ in 0..=MAX_INTERVALS {
                kept.add_interval(hop, lifetime);
            }
        };
        let mut first = hop(80);
        fill(&mut first);
        assert_eq!(first.intervals.len(), MAX_INTERVALS);
        let mut hops_filled = 1;
        let mut last = hop(81);
        for port in 81..=u16::MAX {
            last = hop(port);
            fill(&mut last);
            if last.intervals.is_empty() {
                break;
            }
            hops_filled += 1;
        }
        assert_eq!(hops_filled, MAX_TIMES_KEPT / MAX_INTERVALS);
        assert!(last.intervals.is_empty());
        kept.add_churn_close(&mut last, Timestamp::from_nanos(1));
        assert_eq!(
            last.churn_closes.len(),
            1,
            "churn close times have their own budget"
        );
    }
}
