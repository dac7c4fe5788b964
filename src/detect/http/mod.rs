//! HTTP keep-alive: per connection, how HTTP/1.x persistence was negotiated (RFC 9112 §9.3)
//! and how the connection ended; per hop (client → proxy → upstream), the mode and reuse of
//! each hop, and the findings documented in docs/http.md.
//!
//! HTTP is recognised by content, on any port (tshark's dissector only runs on known ports).
//! `reassembly` rebuilds each direction, `parser` frames messages, `conversation` pairs them,
//! `persistence` applies the RFC rules, `hops` groups and links connections, `findings` words
//! the diagnosis. Per-connection state is dropped when the connection ends.

pub mod conversation;
pub mod findings;
pub mod hops;
pub mod parser;
pub mod persistence;
pub mod reassembly;

use super::{Context, Details, Detector, Section, Sections, Segment, Shared, SharedDetector};
use crate::config::AnalysisConfig;
use crate::flow::hash::{FastHashMap, FastHashSet, fast_hash_map, fast_hash_set};
use crate::flow::text::push_decimal;
use crate::flow::{Connection, ConnectionId, Side};
use crate::report::{Finding, epoch_seconds};
use crate::time::Timestamp;
pub use conversation::RequestNote;
use conversation::{Conversation, Exchange, Fresh, Story, Texts, Unanswered};
use findings::{Churn, Race};
pub use hops::HopKey;
use hops::{Hop, Hops, TimesKept, VersionSet};
use parser::Text;
use persistence::{Persistence, Rule};
use serde::Serialize;
use std::collections::hash_map::Entry;

/// Ports where a connection that never spoke HTTP is still worth a `connections[].http` note.
const HTTP_PORTS: [u16; 4] = [80, 8080, 8000, 3128];
/// A keep-alive connection closed by its client sooner than this after the last response was
/// closed on purpose right away (pool overflow, one-shot client), not for being idle.
const CHURN_IDLE_SECS: f64 = 1.0;
/// Idle closes shorter than this are not reported as idle timeouts.
const IDLE_CLOSE_MIN_SECS: f64 = 1.0;
/// A request this close before the server's FIN crossed it on the wire.
const MIN_RACE_MARGIN_SECS: f64 = 0.001;
/// Pool churn needs at least this many keep-alive connections closed right after a response
/// and replaced by a new connection within [`CHURN_REOPEN_SECS`] (a client that is simply done
/// closes without opening another).
const CHURN_MIN_CONNECTIONS: u64 = 3;
const CHURN_REOPEN_SECS: f64 = 5.0;

/// Each connection's conversation: requests and responses read from both directions.
pub struct HttpDetector {
    /// Boxed: a conversation is about 370 bytes, and an inline table costs up to twice that per
    /// entry (load factor) plus both tables at once while it grows.
    conversations: FastHashMap<ConnectionId, Box<Conversation>>,
    /// Connections seen from their handshake whose both directions opened with another
    /// protocol (TLS, SSH, ...), on a port that is not an HTTP port: nothing would be reported
    /// for them, so their conversation is dropped and the rest of their payload ignored. A
    /// busy load balancer's capture is mostly such long-lived TLS connections, and a
    /// conversation and its two notes saying why it is not HTTP cost about 600 bytes on each
    /// (measured when a conversation was 368 bytes; docs/performance.md, eighteenth pass).
    /// Decision: a later segment of such a connection that happens to look like an HTTP
    /// start line is not parsed (the parser would have tried to resynchronise on it).
    /// On an HTTP port the conversation stays, for the note that the traffic is not HTTP.
    other_protocol: FastHashSet<ConnectionId>,
    /// The messages the last segment completed, of whichever connection.
    fresh: Fresh,
}

impl HttpDetector {
    pub fn new(_config: &AnalysisConfig) -> HttpDetector {
        HttpDetector {
            conversations: fast_hash_map(),
            other_protocol: fast_hash_set(),
            fresh: Fresh::default(),
        }
    }
}

/// The hops between hosts, built from every connection's requests and outcome
/// (`http_hops`, hop and churn findings).
#[derive(Default)]
pub struct HttpHops {
    hops: Hops,
}

/// Counts the newly read messages and shares their requests with the hop index.
fn collect_messages(fresh: &mut Fresh, key: HopKey, context: &mut Context<'_>) {
    context.summary.http_responses += std::mem::take(&mut fresh.responses);
    for note in fresh.requests.drain(..) {
        context.summary.http_requests += 1;
        context.share(Shared::HttpRequest(key, note));
    }
}

fn is_http_port(connection: &Connection) -> bool {
    HTTP_PORTS.contains(&connection.server_endpoint().port)
}

/// Both SYNs were seen, so stream positions count from each direction's first byte.
fn handshake_seen(connection: &Connection) -> bool {
    connection.client.syn_at.is_some() && connection.server.syn_at.is_some()
}

fn hop_key(connection: &Connection) -> HopKey {
    HopKey {
        client: connection.client_endpoint().ip,
        server: connection.server_endpoint(),
    }
}

impl Detector for HttpDetector {
    fn on_segment(&mut self, segment: &Segment<'_, '_>, context: &mut Context<'_>) {
        let tcp = segment.tcp;
        let analysis = &segment.analysis;
        if tcp.payload_len == 0 || analysis.keepalive_probe || analysis.zero_window_probe {
            return;
        }
        let Some(side) = analysis.side else {
            return;
        };
        let connection = segment.connection;
        let Some(position) = analysis
            .stream_position
            .or_else(|| connection.half(side).position_of(tcp.seq))
        else {
            return;
        };
        if tcp.flags.syn() {
            return;
        }
        let conversation = match self.conversations.entry(connection.id) {
            Entry::Occupied(entry) => entry.into_mut(),
            // Looked up only here, so HTTP connections pay nothing for it.
            Entry::Vacant(_) if self.other_protocol.contains(&connection.id) => return,
            Entry::Vacant(entry) => {
                entry.insert(Box::new(Conversation::new(context.config.show_secrets)))
            }
        };
        conversation.push(
            side,
            segment.packet.ts,
            position,
            tcp.payload,
            tcp.payload_len,
            &mut self.fresh,
        );
        let another_protocol = conversation.opened_as_another_protocol();
        collect_messages(&mut self.fresh, hop_key(connection), context);
        if another_protocol && handshake_seen(connection) && !is_http_port(connection) {
            self.conversations.remove(&connection.id);
            self.other_protocol.insert(connection.id);
        }
    }

    fn on_connection_end(
        &mut self,
        connection: &Connection,
        context: &mut Context<'_>,
        details: &mut Details,
    ) {
        let Some(mut conversation) = self.conversations.remove(&connection.id) else {
            self.other_protocol.remove(&connection.id);
            return;
        };
        let closing = first_close(connection);
        conversation.finish(
            closing.map_or(connection.last_seen, |c| c.ts),
            &mut self.fresh,
        );
        let key = hop_key(connection);
        collect_messages(&mut self.fresh, key, context);
        let story = &conversation.story;
        let speaks_http = story.requests > 0 || story.responses > 0 || story.h2;
        let http_port = is_http_port(connection);
        // A connection that never completed a message (a head over the size cap, bytes that
        // are not HTTP) still gets its notes on an HTTP port, so the problem is visible.
        let worth_a_note = http_port && (story.not_http || !story.notes().is_empty());
        if !(speaks_http || worth_a_note) {
            return;
        }
        let outcome = Outcome::new(connection, story, closing);
        // With bytes missing or unreadable, requests and responses may be paired wrongly: no
        // race claim then.
        if conversation.gaps() == 0
            && story.notes().is_empty()
            && let Some(race) = outcome.race(connection, story)
        {
            context.finding(findings::reuse_race(&race));
        }
        if speaks_http {
            let hop_connection = HopConnection::new(key, &outcome, connection, story);
            context.share(Shared::HttpConnection(Box::new(hop_connection)));
        }
        details.http = Some(Box::new(HttpRecord::new(*conversation, &outcome)));
    }
}

impl SharedDetector for HttpHops {
    fn on_shared(&mut self, message: &Shared, _context: &mut Context<'_>) {
        match message {
            Shared::HttpRequest(key, note) => self.hops.on_request(*key, note),
            Shared::HttpConnection(connection) => {
                if let Some(index) = self.hops.hop_for(connection.key, connection.start)
                    && let Some(hop) = self.hops.list.get_mut(index)
                {
                    connection.add_to(hop, &mut self.hops.times_kept);
                }
            }
            Shared::RstSeen(_) => {}
        }
    }

    fn finish(&mut self, context: &mut Context<'_>, sections: &mut Sections) {
        if self.hops.list.is_empty() {
            return;
        }
        let numbers = self.hops.chain_order();
        let mut ordered: Vec<(u32, usize)> = numbers
            .iter()
            .enumerate()
            .map(|(index, number)| (*number, index))
            .collect();
        ordered.sort_unstable();
        let threads = context.config.threads;
        let mut list = Vec::with_capacity(ordered.len());
        for (records, findings) in records_and_findings(&self.hops, &numbers, &ordered, threads) {
            list.extend(records);
            for finding in findings {
                context.finding(finding);
            }
        }
        churn_findings(&self.hops, &numbers, context);
        sections.insert("http_hops", Section::HttpHops(list));
    }
}

/// Who closed first, how and when.
#[derive(Clone, Copy, Debug)]
struct Closing {
    by: Side,
    kind: &'static str,
    ts: Timestamp,
}

fn first_close(connection: &Connection) -> Option<Closing> {
    let candidates = [
        (Side::Client, "fin", connection.client.fin_at),
        (Side::Client, "rst", connection.client.rst_at),
        (Side::Server, "fin", connection.server.fin_at),
        (Side::Server, "rst", connection.server.rst_at),
    ];
    candidates
        .iter()
        .filter_map(|(by, kind, ts)| ts.map(|ts| Closing { by: *by, kind, ts }))
        .min_by_key(|c| c.ts)
}

/// How one connection's HTTP ended, computed once for its JSON, its findings and its hop.
struct Outcome {
    closing: Option<Closing>,
    persistent: Option<bool>,
    idle_before_close_s: Option<f64>,
    request_on_closing: Option<Unanswered>,
}

impl Outcome {
    fn new(connection: &Connection, story: &Story, closing: Option<Closing>) -> Outcome {
        let persistent = match story.first_decision {
            Some((decision, _)) => Some(decision == Persistence::Kept),
            None => story.first_offer,
        };
        let unanswered = story.unanswered();
        let idle_before_close_s = match (closing, story.last_response_end) {
            (Some(close), Some(end)) if unanswered.is_empty() && close.ts >= end => {
                Some(close.ts.secs_since(end))
            }
            _ => None,
        };
        let margin = connection
            .path_rtt()
            .unwrap_or(0.0)
            .max(MIN_RACE_MARGIN_SECS);
        let request_on_closing = closing.filter(|c| c.by == Side::Server).and_then(|close| {
            unanswered
                .iter()
                .find(|u| u.ts.secs_since(close.ts) >= -margin)
                .copied()
        });
        Outcome {
            closing,
            persistent,
            idle_before_close_s,
            request_on_closing,
        }
    }

    fn race(&self, connection: &Connection, story: &Story) -> Option<Race> {
        let request = self.request_on_closing?;
        let close = self.closing?;
        if request.index == 0 {
            return None;
        }
        let answered_by_rst = connection
            .server
            .rst_at
            .is_some_and(|rst| rst >= request.ts);
        let idle_before_request_s = story
            .last_response_end
            .filter(|end| *end <= request.ts)
            .map(|end| request.ts.secs_since(end));
        Some(Race {
            connection: connection.id,
            request_index: request.index,
            request_ts: request.ts,
            close_ts: close.ts,
            close_kind: close.kind,
            answered_by_rst,
            idle_before_request_s,
        })
    }
}

/// What a connection that spoke HTTP adds to its hop: computed when it ends (on its shard),
/// added to the hop by [`HttpHops`] in the order connections end.
pub struct HopConnection {
    pub id: ConnectionId,
    key: HopKey,
    start: Timestamp,
    last_seen: Timestamp,
    requests: u64,
    responses: u64,
    client_is_proxy: bool,
    server_software: Option<Text>,
    request_versions: VersionSet,
    response_versions: VersionSet,
    persistent: Option<bool>,
    first_decision: Option<(Persistence, Rule)>,
    /// The last decision kept the connection open.
    still_persistent: bool,
    first_exchange_ts: Option<Timestamp>,
    closing: Option<Closing>,
    idle_before_close_s: Option<f64>,
}

impl HopConnection {
    fn new(key: HopKey, outcome: &Outcome, connection: &Connection, story: &Story) -> Self {
        let mut request_versions = VersionSet::default();
        let mut response_versions = VersionSet::default();
        for exchange in &story.exchanges {
            if let Some(minor) = exchange.request_minor_version {
                request_versions.add_minor(minor);
            }
            if let Some(minor) = exchange.response_minor_version {
                response_versions.add_minor(minor);
            }
        }
        HopConnection {
            id: connection.id,
            key,
            start: connection.start,
            last_seen: connection.last_seen,
            requests: story.requests,
            responses: story.responses,
            client_is_proxy: story.client_is_proxy,
            server_software: story.server_software.clone(),
            request_versions,
            response_versions,
            persistent: outcome.persistent,
            first_decision: story.first_decision,
            still_persistent: matches!(story.last_decision, Some((Persistence::Kept, _))),
            first_exchange_ts: story.exchanges.first().and_then(|e| e.ts),
            closing: outcome.closing,
            idle_before_close_s: outcome.idle_before_close_s,
        }
    }

    fn add_to(&self, hop: &mut Hop, times_kept: &mut TimesKept) {
        hop.connections += 1;
        hop.requests += self.requests;
        hop.responses += self.responses;
        hop.max_requests_per_connection = hop.max_requests_per_connection.max(self.requests);
        hop.client_is_proxy |= self.client_is_proxy;
        if hop.server_software.is_none() {
            hop.server_software = self.server_software.clone();
        }
        hop.request_versions.add_all(self.request_versions);
        hop.response_versions.add_all(self.response_versions);
        match self.persistent {
            Some(true) => hop.persistent += 1,
            Some(false) => hop.non_persistent += 1,
            None => {}
        }
        times_kept.add_interval(hop, (self.start, self.last_seen));
        self.add_decisions(hop);
        self.add_closing(hop, times_kept);
    }

    fn add_decisions(&self, hop: &mut Hop) {
        let first_ts = self.first_exchange_ts;
        match self.first_decision {
            Some((Persistence::Declined, rule)) => {
                hop.declined += 1;
                *hop.declined_rules.entry(rule.name()).or_insert(0) += 1;
                if hop.declined_examples.len() < 5 {
                    hop.declined_examples.push(self.id);
                }
                hop.declined_first_ts = hop.declined_first_ts.min(first_ts).or(first_ts);
            }
            Some((Persistence::NotOffered, rule)) => {
                hop.not_offered += 1;
                *hop.not_offered_rules.entry(rule.name()).or_insert(0) += 1;
                hop.not_offered_first_ts = hop.not_offered_first_ts.min(first_ts).or(first_ts);
            }
            _ => {}
        }
    }

    fn add_closing(&self, hop: &mut Hop, times_kept: &mut TimesKept) {
        let Some(close) = self.closing else {
            hop.still_open += 1;
            return;
        };
        match close.by {
            Side::Client => hop.closed_by_client += 1,
            Side::Server => hop.closed_by_server += 1,
        }
        if close.kind == "rst" {
            hop.resets += 1;
        }
        let Some(idle) = self.idle_before_close_s.filter(|_| self.still_persistent) else {
            return;
        };
        if idle >= IDLE_CLOSE_MIN_SECS {
            match close.by {
                Side::Client => hop.idle_by_client.add(idle, close.ts),
                Side::Server => hop.idle_by_server.add(idle, close.ts),
            }
        } else if close.by == Side::Client && idle < CHURN_IDLE_SECS {
            hop.churned += 1;
            times_kept.add_churn_close(hop, close.ts);
            if hop.churn_examples.len() < 5 {
                hop.churn_examples.push(self.id);
            }
        }
    }
}

fn side_name(side: Side) -> &'static str {
    conversation::side_name(side)
}

/// `connections[].http` (fields in JSON key order).
#[derive(Clone, Debug, Serialize)]
pub struct HttpRecord {
    close_kind: Option<&'static str>,
    closed_by: Option<&'static str>,
    exchanges: Exchanges,
    exchanges_omitted: u64,
    gaps: u32,
    h2: bool,
    idle_before_close_s: Option<f64>,
    not_http: bool,
    notes: Vec<conversation::Note>,
    persistent: Option<bool>,
    request_on_closing_connection: bool,
    requests: u64,
    responses: u64,
    reused: u64,
    server_software: Option<Text>,
    tunnel: Option<String>,
}

impl HttpRecord {
    fn new(conversation: Conversation, outcome: &Outcome) -> HttpRecord {
        let gaps = conversation.gaps();
        let story = conversation.story;
        let uncommon = story.uncommon.map(|uncommon| *uncommon).unwrap_or_default();
        HttpRecord {
            close_kind: outcome.closing.map(|c| c.kind),
            closed_by: outcome.closing.map(|c| side_name(c.by)),
            exchanges: Exchanges {
                list: story.exchanges,
                texts: story.texts,
            },
            exchanges_omitted: uncommon.exchanges_omitted,
            gaps,
            h2: story.h2,
            idle_before_close_s: outcome.idle_before_close_s.map(crate::report::round_micros),
            not_http: story.not_http,
            notes: uncommon.notes,
            persistent: outcome.persistent,
            request_on_closing_connection: outcome.request_on_closing.is_some(),
            requests: story.requests,
            responses: story.responses,
            reused: story.requests.saturating_sub(1),
            server_software: story.server_software,
            tunnel: uncommon.tunnel,
        }
    }
}

/// `connections[].http.exchanges`: a connection's compact exchanges and the texts they refer
/// to, moved from its conversation as they are. Each exchange is written out through
/// [`ExchangeView`] when the record is: building a record per exchange (with a copy of each
/// text) cost an allocation per connection and kept three times the memory per exchange
/// until the end of a `--format json` run.
#[derive(Clone, Debug)]
pub struct Exchanges {
    list: Vec<Exchange>,
    texts: Texts,
}

impl Serialize for Exchanges {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let texts = &self.texts;
        serializer.collect_seq(
            self.list
                .iter()
                .map(|exchange| ExchangeView { exchange, texts }),
        )
    }
}

/// `connections[].http.exchanges[]`, fields in JSON key order. The target was redacted when
/// it was kept, unless `--show-secrets` ([`conversation::redacted_target`]).
struct ExchangeView<'a> {
    exchange: &'a Exchange,
    texts: &'a Texts,
}

impl Serialize for ExchangeView<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let (exchange, texts) = (self.exchange, self.texts);
        let persistence = exchange.persistence;
        let ts = exchange.ts;
        let mut record = serializer.serialize_struct("ExchangeRecord", 13)?;
        record.serialize_field("interim", &exchange.interim)?;
        record.serialize_field("method", &texts.get(exchange.method))?;
        record.serialize_field("persistence", &persistence.map(|(p, _)| p.name()))?;
        record.serialize_field(
            "request_connection",
            &texts.get(exchange.request_connection),
        )?;
        record.serialize_field(
            "request_keep_alive",
            &texts.get(exchange.request_keep_alive),
        )?;
        record.serialize_field("request_version", &exchange.request_version())?;
        record.serialize_field(
            "response_connection",
            &texts.get(exchange.response_connection),
        )?;
        record.serialize_field(
            "response_keep_alive",
            &texts.get(exchange.response_keep_alive),
        )?;
        record.serialize_field("response_version", &exchange.response_version())?;
        record.serialize_field("rule", &persistence.map(|(_, r)| r.name()))?;
        record.serialize_field("status", &exchange.status)?;
        record.serialize_field("target", &exchange.target)?;
        record.serialize_field("ts", &ts.map(epoch_seconds))?;
        record.end()
    }
}

/// `http_hops[]` (fields in JSON key order): typed, because a busy load balancer has a hop per
/// client address and a map built per hop cost more than the rest of the hop analysis.
#[derive(Clone, Debug, Serialize)]
pub struct HopRecord {
    client: std::net::IpAddr,
    client_is_proxy: bool,
    closed_by: ClosedBy,
    connections: u64,
    forwarded_from: Option<u32>,
    hop: u32,
    pub line: String,
    matched_requests: u64,
    max_requests_per_connection: u64,
    mode: &'static str,
    peak_concurrent_connections: u64,
    persistent_connections: u64,
    requests: u64,
    requests_per_connection: f64,
    resets: u64,
    responses: u64,
    server: crate::flow::Endpoint,
    server_software: Option<Text>,
    versions: Versions,
}

#[derive(Clone, Debug, Serialize)]
struct ClosedBy {
    client: u64,
    open: u64,
    server: u64,
}

#[derive(Clone, Debug, Serialize)]
struct Versions {
    request: VersionSet,
    response: VersionSet,
}

impl HopRecord {
    fn new(number: u32, hop: &Hop, numbers: &[u32]) -> HopRecord {
        let upstream_of = hop.upstream_of();
        HopRecord {
            client: hop.key.client,
            client_is_proxy: hop.client_is_proxy || upstream_of.is_some(),
            closed_by: ClosedBy {
                client: hop.closed_by_client,
                open: hop.still_open,
                server: hop.closed_by_server,
            },
            connections: hop.connections,
            forwarded_from: upstream_of.and_then(|(index, _)| numbers.get(index).copied()),
            hop: number,
            line: hop_line(number, hop),
            matched_requests: upstream_of.map_or(0, |(_, count)| count),
            max_requests_per_connection: hop.max_requests_per_connection,
            mode: hop.mode(),
            peak_concurrent_connections: hop.peak_concurrency(),
            persistent_connections: hop.persistent,
            requests: hop.requests,
            requests_per_connection: hop.requests_per_connection(),
            resets: hop.resets,
            responses: hop.responses,
            server: hop.key.server,
            server_software: hop.server_software.clone(),
            versions: Versions {
                request: hop.request_versions,
                response: hop.response_versions,
            },
        }
    }
}

/// `hop 1  10.0.0.5 -> 10.0.0.10:80  HTTP/1.1 keep-alive  12 requests on 1 connection`
///
/// Appended piece by piece: one `format!` with the addresses' `Display` cost about 3,700
/// instructions a line, and a capture of short connections from many clients has as many
/// hops as a third of its connections, each built serially after the analysis.
pub fn hop_line(number: u32, hop: &Hop) -> String {
    let mut line = String::with_capacity(96);
    line.push_str("hop ");
    push_decimal(&mut line, u64::from(number));
    line.push_str("  ");
    hop.key.push_to(&mut line);
    line.push_str("  ");
    if hop.request_versions.is_empty() {
        line.push_str("HTTP/?");
    }
    for (index, version) in hop.request_versions.iter().enumerate() {
        if index > 0 {
            line.push('+');
        }
        line.push_str(version);
    }
    line.push(' ');
    line.push_str(hop.mode());
    line.push_str("  ");
    push_decimal(&mut line, hop.requests);
    line.push_str(" requests on ");
    push_decimal(&mut line, hop.connections);
    line.push_str(if hop.connections == 1 {
        " connection"
    } else {
        " connections"
    });
    line
}

fn front_of<'a>(hop: &Hop, hops: &'a Hops, numbers: &[u32]) -> Option<(u32, &'a Hop)> {
    let (index, _) = hop.upstream_of()?;
    Some((*numbers.get(index)?, hops.list.get(index)?))
}

/// Fewer hops than this per thread are built on the calling thread: starting a thread costs
/// about as much as the records and findings of a few dozen hops.
const MIN_HOPS_PER_THREAD: usize = 256;

/// Each hop's record and findings, in `ordered` order, in runs built on up to `threads`
/// threads. They are built after the last frame, while every other thread waits: on the 1 GiB
/// benchmark capture (7,528 hops, 6,969 `http-idle-close` findings) that was 126 M
/// instructions on one thread, two thirds of the report's serial work.
fn records_and_findings(
    hops: &Hops,
    numbers: &[u32],
    ordered: &[(u32, usize)],
    threads: usize,
) -> Vec<(Vec<HopRecord>, Vec<Finding>)> {
    let build = |run: &[(u32, usize)]| {
        let (mut records, mut findings) = (Vec::with_capacity(run.len()), Vec::new());
        for (number, index) in run {
            if let Some(hop) = hops.list.get(*index) {
                records.push(HopRecord::new(*number, hop, numbers));
                hop_findings(*number, hop, hops, numbers, &mut findings);
            }
        }
        (records, findings)
    };
    let run_length = ordered
        .len()
        .div_ceil(threads.max(1))
        .max(MIN_HOPS_PER_THREAD);
    if ordered.len() <= run_length {
        return vec![build(ordered)];
    }
    std::thread::scope(|scope| {
        let runs: Vec<_> = ordered
            .chunks(run_length)
            .map(|run| scope.spawn(move || build(run)))
            .collect();
        runs.into_iter()
            .map(|run| {
                run.join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            })
            .collect()
    })
}

fn hop_findings(number: u32, hop: &Hop, hops: &Hops, numbers: &[u32], findings: &mut Vec<Finding>) {
    let front = front_of(hop, hops, numbers);
    if hop.declined > 0 {
        findings.push(findings::keepalive_declined(number, hop));
    }
    let front_keeps = front.is_some_and(|(_, f)| f.persistent > 0);
    let is_proxy_without_front = front.is_none() && hop.client_is_proxy;
    if hop.not_offered > 0 && (front_keeps || is_proxy_without_front) {
        let peak = front
            .map_or(0, |(_, f)| f.peak_concurrency())
            .max(hop.peak_concurrency());
        findings.push(findings::upstream_no_keepalive(number, hop, front, peak));
    }
    if hop.hop_by_hop_forwarded > 0 {
        findings.push(findings::hop_by_hop_forwarded(
            number,
            hop,
            front.map(|(n, _)| n),
        ));
    }
    for (closer, closes) in [
        ("server", &hop.idle_by_server),
        ("client", &hop.idle_by_client),
    ] {
        if closes.count > 0 {
            findings.push(findings::idle_close(number, hop, closer, closes));
        }
    }
}

/// Churned closes followed by a new connection of the same group soon after.
fn replaced_closes(members: &[(u32, &Hop)]) -> u64 {
    let mut starts: Vec<Timestamp> = members
        .iter()
        .flat_map(|(_, h)| h.intervals.iter().map(|(start, _)| *start))
        .collect();
    starts.sort_unstable();
    let replaced = members
        .iter()
        .flat_map(|(_, h)| h.churn_closes.iter())
        .filter(|close| {
            let after = starts.partition_point(|start| start <= *close);
            starts
                .get(after)
                .is_some_and(|start| start.secs_since(**close) <= CHURN_REOPEN_SECS)
        })
        .count();
    replaced as u64
}

/// Pool churn is judged per client address and server port: a proxy's pool spans all the
/// servers of its upstream group.
///
/// The groups are runs of one sorted list rather than a map of lists, and a group's churned
/// closes are matched with new connections only if they could reach the thresholds: most
/// groups are a single client's hop that cannot churn, and each paid for a list, a sort and
/// the matching.
fn churn_findings(hops: &Hops, numbers: &[u32], context: &mut Context<'_>) {
    let mut order: Vec<(std::net::IpAddr, u16, u32, usize)> = hops
        .list
        .iter()
        .zip(numbers)
        .enumerate()
        .map(|(index, (hop, number))| (hop.key.client, hop.key.server.port, *number, index))
        .collect();
    order.sort_unstable();
    let too_few = |churned: u64, connections: u64, persistent: u64| {
        churned < CHURN_MIN_CONNECTIONS || churned * 3 < connections || persistent * 2 < connections
    };
    for group in order.chunk_by(|a, b| (a.0, a.1) == (b.0, b.1)) {
        let members = || {
            group
                .iter()
                .filter_map(|(_, _, number, index)| Some((*number, hops.list.get(*index)?)))
        };
        let connections: u64 = members().map(|(_, h)| h.connections).sum();
        let persistent: u64 = members().map(|(_, h)| h.persistent).sum();
        // `replaced_closes` counts some of the churned closes kept, at most all of them.
        let closes_kept: usize = members().map(|(_, h)| h.churn_closes.len()).sum();
        if too_few(closes_kept as u64, connections, persistent) {
            continue;
        }
        let members: Vec<(u32, &Hop)> = members().collect();
        let churned = replaced_closes(&members);
        if too_few(churned, connections, persistent) {
            continue;
        }
        let Some((number, first)) = members.first().copied() else {
            continue;
        };
        let churn = Churn {
            number,
            connections,
            requests: members.iter().map(|(_, h)| h.requests).sum(),
            churned,
            peak: members.iter().map(|(_, h)| h.peak_concurrency()).sum(),
            is_proxy: members
                .iter()
                .any(|(_, h)| h.client_is_proxy || h.upstream_of().is_some()),
            examples: members
                .iter()
                .flat_map(|(_, h)| h.churn_examples.iter().copied())
                .take(5)
                .collect(),
            ts: first.first_ts,
            hops: members,
        };
        context.finding(findings::pool_churn(&churn));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::Endpoint;
    use std::net::IpAddr;

    /// Enough hops for several runs: the records and findings built on several threads are
    /// those built on one, in the same order.
    #[test]
    fn hop_records_and_findings_are_the_same_on_several_threads() {
        let mut hops = Hops::default();
        for n in 0..1_000u32 {
            let key = HopKey {
                client: IpAddr::from([10, 0, (n >> 8) as u8, n as u8]),
                server: Endpoint {
                    ip: IpAddr::from([10, 9, 0, (n % 7) as u8]),
                    port: 80,
                },
            };
            let ts = Timestamp::from_nanos(i64::from(n) * 1_000_000);
            let Some(hop) = hops.hop_for(key, ts).and_then(|at| hops.list.get_mut(at)) else {
                continue;
            };
            hop.connections = 1 + u64::from(n % 5);
            hop.persistent = u64::from(n % 2);
            hop.declined = u64::from(n % 3);
            if n % 4 == 0 {
                hop.idle_by_server.add(f64::from(n % 60) + 0.5, ts);
            }
        }
        let numbers = hops.chain_order();
        let mut ordered: Vec<(u32, usize)> = numbers.iter().copied().zip(0..).collect();
        ordered.sort_unstable();
        let text = |built: Vec<(Vec<HopRecord>, Vec<Finding>)>| {
            let (records, findings): (Vec<_>, Vec<_>) = built.into_iter().unzip();
            let records: Vec<HopRecord> = records.into_iter().flatten().collect();
            let findings: Vec<Finding> = findings.into_iter().flatten().collect();
            assert!(!findings.is_empty());
            serde_json::to_string(&(records, findings)).unwrap_or_default()
        };
        let one = records_and_findings(&hops, &numbers, &ordered, 1);
        let four = records_and_findings(&hops, &numbers, &ordered, 4);
        assert_eq!((one.len(), four.len()), (1, 4));
        assert_eq!(text(one), text(four));
    }
}
