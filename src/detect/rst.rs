//! RST forensics: who really sent each reset, and was it an idle timeout in a middlebox?
//!
//! Each RST is classified when it arrives, against the claimed sender's earlier packets on
//! the same connection (RFC 9293 §3.10.7.4 and RFC 5961 for what a genuine stack sends;
//! Weaver, Sommer and Paxson, "Detecting Forged TCP Reset Packets", NDSS 2009, for what an
//! injector gives away): a TTL the sender never used, a break in its IP ID sequence, an
//! answer faster than the path's round trip, a sequence number far outside the window. An
//! idle gap before the reset is matched against known middlebox timeouts
//! (`knowledge::middleboxes`). With several inputs, a RST seen at one vantage point and absent
//! at the other proves it was injected in between.

use super::advice::keepalive_knobs;
use super::evidence::Evidence;
use super::{Context, Details, Detector, Sections, Segment, Shared, SharedDetector};
use crate::config::AnalysisConfig;
use crate::explain::code;
use crate::flow::hash::FastHashMap;
use crate::flow::{Connection, ConnectionId, ConnectionState, Endpoint, HalfState, Side};
use crate::knowledge::keepalive_defaults::recommended_time_below;
use crate::knowledge::middleboxes;
use crate::report::{Finding, Severity, Subject};
use crate::time::{Timestamp, human_duration};
use serde_json::{Map, Value, json};

/// RSTs kept per connection; a storm of resets adds to the count only.
const MAX_RSTS_PER_CONNECTION: usize = 16;
/// A reset this soon after an idle gap ended is an answer to the segment that broke it.
const RESET_AFTER_IDLE_SECS: f64 = 5.0;

#[derive(Default)]
pub struct RstDetector {
    connections: FastHashMap<ConnectionId, Vec<RstRecord>>,
    /// With several inputs each connection's resets are shared for [`RstVantage`].
    multiple_inputs: bool,
}

/// With several inputs: what each input saw of each 5-tuple, for correlation at the end.
/// The same connection seen at two vantage points is two connections (and may be tracked by
/// two shards), so this is a shared detector.
#[derive(Default)]
pub struct RstVantage {
    vantage: FastHashMap<(Endpoint, Endpoint), Vec<Observation>>,
}

/// `connections[].rsts[]`: one reset, as reported (fields in JSON key order).
#[derive(Clone, Debug, serde::Serialize)]
pub struct RstRecord {
    class: &'static str,
    evidence: Evidence,
    from: Endpoint,
    #[serde(serialize_with = "crate::report::serialize_ts")]
    ts: Timestamp,
}

#[derive(Clone, Debug)]
pub struct Observation {
    tuple: (Endpoint, Endpoint),
    input: u16,
    pub id: ConnectionId,
    start: Timestamp,
    end: Timestamp,
    rsts_from: Vec<(Endpoint, Timestamp)>,
}

impl RstDetector {
    pub fn new(config: &AnalysisConfig) -> RstDetector {
        RstDetector {
            multiple_inputs: config.input_count > 1 && !config.one_vantage,
            ..RstDetector::default()
        }
    }
}

impl Detector for RstDetector {
    fn on_segment(&mut self, segment: &Segment<'_, '_>, context: &mut Context<'_>) {
        if !segment.tcp.flags.rst() {
            return;
        }
        let Some(side) = segment.analysis.side else {
            return;
        };
        let record = classify(segment, side, context.config);
        let list = self.connections.entry(segment.connection.id).or_default();
        if list.len() < MAX_RSTS_PER_CONNECTION {
            // Most connections see one reset: room for exactly one more, not Vec's first
            // four (216 bytes wasted on every reset connection).
            list.reserve_exact(1);
            list.push(record);
        }
    }

    fn on_connection_end(
        &mut self,
        connection: &Connection,
        context: &mut Context<'_>,
        details: &mut Details,
    ) {
        let mut records = self.connections.remove(&connection.id).unwrap_or_default();
        for record in &mut records {
            recheck_with_later_packets(connection, record);
        }
        mark_resets_to_both_ends(&mut records);
        if let Some(first) = records.first() {
            report(connection, first, context);
        }
        if self.multiple_inputs {
            context.share(Shared::RstSeen(Box::new(Observation {
                tuple: (connection.key.low, connection.key.high),
                input: connection.key.input,
                id: connection.id,
                start: connection.start,
                end: connection.last_seen,
                rsts_from: records.iter().map(|r| (r.from, r.ts)).collect(),
            })));
        }
        details.rsts = Some(records);
    }
}

impl SharedDetector for RstVantage {
    fn on_shared(&mut self, message: &Shared, _context: &mut Context<'_>) {
        if let Shared::RstSeen(observation) = message {
            let list = self.vantage.entry(observation.tuple).or_default();
            list.push(Observation::clone(observation));
        }
    }

    fn finish(&mut self, context: &mut Context<'_>, _sections: &mut Sections) {
        // In tuple order: the table's own order depends on its per-process hash seed, and two
        // runs must report the same findings in the same order.
        let mut tuples: Vec<&(Endpoint, Endpoint)> = self.vantage.keys().collect();
        tuples.sort_unstable();
        for tuple in tuples {
            if let Some(observations) = self.vantage.get(tuple) {
                correlate(observations, context);
            }
        }
    }
}

fn classify(segment: &Segment<'_, '_>, side: Side, config: &AnalysisConfig) -> RstRecord {
    let connection = segment.connection;
    let sender = connection.half(side);
    let peer = connection.half(side.other());
    let ts = segment.packet.ts;
    let mut evidence = Evidence::default();
    evidence.insert("ttl", json!(segment.ip.ttl));
    evidence.insert("seq", json!(segment.tcp.seq));
    if let Some(id) = segment.ip.ip_id {
        evidence.insert("ip_id", json!(id));
    }
    let injected = injection_evidence(segment, side, connection, &mut evidence);
    let idle = idle_before(connection, ts, config, &mut evidence);
    let class = if connection.state == ConnectionState::Refused {
        "refused"
    } else if sender.keepalive_probes > 0 && sender.probe_outstanding {
        evidence.insert("unanswered_keepalive_probes", json!(true));
        "keepalive-exhausted"
    } else if idle {
        "idle-timeout"
    } else if injected {
        "middlebox"
    } else if out_of_window(segment, sender, peer, &mut evidence) {
        "out-of-window"
    } else if sender.ttl_range.is_none() {
        evidence.insert(
            "reason",
            json!("no earlier packet from this endpoint to compare with"),
        );
        "unknown"
    } else {
        "peer-abort"
    };
    RstRecord {
        ts,
        from: connection.endpoint(side),
        class,
        evidence,
    }
}

/// A reset classified before its claimed sender was heard from (e.g. a RST "answering" a SYN
/// that the real server then answers with a SYN-ACK) is judged again against everything the
/// sender sent: a TTL it never used means an injector won a race (Weaver et al.).
fn recheck_with_later_packets(connection: &Connection, record: &mut RstRecord) {
    if !matches!(record.class, "refused" | "unknown" | "peer-abort") {
        return;
    }
    let sender = connection.half(connection.side_of(record.from));
    let Some(rst_ttl) = record.evidence.get("ttl").and_then(Value::as_u64) else {
        return;
    };
    let Some((low, high)) = sender.ttl_range else {
        return;
    };
    let rst_ttl = u8::try_from(rst_ttl).unwrap_or(u8::MAX);
    if rst_ttl >= low && rst_ttl <= high {
        return;
    }
    record
        .evidence
        .insert("ttl_mismatch", ttl_mismatch(rst_ttl, (low, high)));
    record.evidence.insert(
        "race",
        json!("the claimed sender kept sending with another TTL"),
    );
    record.class = "middlebox";
}

/// A device that expires a flow and resets it (Azure Load Balancer with TCP reset on idle,
/// Cisco ASA `set connection timeout idle ... reset`, F5 `reset-on-timeout`) sends a RST to
/// each end at once, each claiming to come from the other: two RSTs from opposite ends
/// within a millisecond. Real peers never reset each other simultaneously.
fn mark_resets_to_both_ends(records: &mut [RstRecord]) {
    const SIMULTANEOUS_SECS: f64 = 0.001;
    let pairs: Vec<(usize, usize)> = records
        .iter()
        .enumerate()
        .flat_map(|(i, a)| {
            records
                .iter()
                .enumerate()
                .skip(i + 1)
                .filter_map(move |(j, b)| {
                    (a.from != b.from && b.ts.secs_since(a.ts).abs() <= SIMULTANEOUS_SECS)
                        .then_some((i, j))
                })
        })
        .collect();
    for (i, j) in pairs {
        for index in [i, j] {
            if let Some(record) = records.get_mut(index) {
                record
                    .evidence
                    .insert("both_ends", json!("RSTs to both ends within 1 ms"));
                if record.class != "idle-timeout" {
                    record.class = "middlebox";
                }
            }
        }
    }
}

/// The initial TTL a stack most likely used: the next of 32, 64, 128, 255 at or above `ttl`.
fn initial_ttl(ttl: u8) -> u8 {
    [32u8, 64, 128, 255]
        .into_iter()
        .find(|initial| *initial >= ttl)
        .unwrap_or(255)
}

/// The `ttl_mismatch` evidence: a RST with TTL `rst_ttl` from a sender whose other segments
/// came with TTLs in `sender_range`, and the hop counts both imply.
fn ttl_mismatch(rst_ttl: u8, sender_range: (u8, u8)) -> Value {
    let (low, high) = sender_range;
    let usual_hops = i32::from(initial_ttl(high)) - i32::from(high);
    let rst_hops = i32::from(initial_ttl(rst_ttl)) - i32::from(rst_ttl);
    json!({"rst_ttl": rst_ttl, "sender_ttl_range": [low, high], "sender_hops": usual_hops, "rst_hops": rst_hops,
           "meaning": format!("the RST travelled {rst_hops} hop(s), the sender's packets {usual_hops}")})
}

/// Collects signs that the RST did not come from the endpoint it claims; true if any.
fn injection_evidence(
    segment: &Segment<'_, '_>,
    side: Side,
    connection: &Connection,
    evidence: &mut Evidence,
) -> bool {
    let (sender, peer) = (connection.half(side), connection.half(side.other()));
    let mut injected = false;
    let ttl = segment.ip.ttl;
    if let Some((low, high)) = sender.ttl_range
        && (ttl < low || ttl > high)
    {
        evidence.insert("ttl_mismatch", ttl_mismatch(ttl, (low, high)));
        injected = true;
    }
    // Once the sender closed or reset, its socket is gone and the stack answers statelessly
    // with an unrelated IP ID: a genuine second RST, not an injection.
    let socket_gone =
        sender.fin_at.is_some() || sender.rst_at.is_some_and(|first| first < segment.packet.ts);
    if let (Some(id), Some(previous)) = (segment.ip.ip_id, sender.ordinary_ip_id)
        && !socket_gone
        && sender.ip_id_increments >= 2
        && sender.ip_id_zeros == 0
        && !(1..=1024).contains(&id.wrapping_sub(previous))
    {
        evidence.insert(
            "ip_id_break",
            json!({"rst_ip_id": id, "sender_last_ip_id": previous}),
        );
        injected = true;
    }
    if let (Some(rtt), Some(trigger)) = (connection.path_rtt(), peer.last_seen) {
        let delay = segment.packet.ts.secs_since(trigger);
        let sender_is_far = connection
            .handshake_server_rtt()
            .is_some_and(|far| far > rtt * 0.5)
            == (side == Side::Server);
        if rtt >= 0.002 && sender_is_far && delay >= 0.0 && delay < rtt * 0.5 {
            evidence.insert("too_fast", json!({"delay_s": delay, "path_rtt_s": rtt}));
            injected = true;
        }
    }
    injected
}

fn out_of_window(
    segment: &Segment<'_, '_>,
    sender: &HalfState,
    peer: &HalfState,
    evidence: &mut Evidence,
) -> bool {
    let Some(next) = sender.next_seq() else {
        return false;
    };
    let distance = crate::flow::seq::distance(segment.tcp.seq, next).unsigned_abs();
    let window = peer.window_bytes().max(65_535);
    if distance > window {
        evidence.insert("seq_distance", json!(distance));
        evidence.insert("receive_window", json!(window));
        return true;
    }
    false
}

/// True when the reset came right after a long silence; records the idle and the devices
/// whose default timeout it matches.
fn idle_before(
    connection: &Connection,
    ts: Timestamp,
    config: &AnalysisConfig,
    evidence: &mut Evidence,
) -> bool {
    let Some(idle_end) = connection.max_idle_end else {
        return false;
    };
    let idle = connection.max_idle_nanos as f64 / 1e9;
    let closing = [connection.client.fin_at, connection.server.fin_at]
        .into_iter()
        .flatten()
        .any(|fin| fin <= ts);
    if closing {
        // A reset after a FIN is the end of an orderly close, not a forgotten connection.
        return false;
    }
    let stated = config.smallest_middlebox_timeout();
    let threshold = stated.map_or(config.idle_threshold_secs, |t| {
        (t * 0.9).min(config.idle_threshold_secs)
    });
    if idle < threshold || ts.secs_since(idle_end) > RESET_AFTER_IDLE_SECS || ts < idle_end {
        return false;
    }
    evidence.insert("idle_s", json!(crate::report::round_millis(idle)));
    let matches: Vec<Value> = middleboxes::matching(idle, (idle * 0.05).max(2.0))
        .into_iter()
        .map(|m| json!({"name": m.name, "display_name": m.display_name, "default_idle_s": m.default_idle_secs, "knob": m.knob}))
        .collect();
    evidence.insert("matching_middleboxes", Value::Array(matches));
    if let Some(stated) = stated {
        evidence.insert("stated_middlebox_timeout_s", json!(stated));
    }
    true
}

fn report(connection: &Connection, rst: &RstRecord, context: &mut Context<'_>) {
    let (code, severity) = match rst.class {
        "refused" => (code::RST_REFUSED, Severity::Info),
        "peer-abort" => (code::RST_PEER_ABORT, Severity::Info),
        "keepalive-exhausted" => (code::RST_KEEPALIVE_EXHAUSTED, Severity::Info),
        "middlebox" => (code::RST_MIDDLEBOX, Severity::Error),
        "idle-timeout" => (code::RST_IDLE_TIMEOUT, Severity::Error),
        "out-of-window" => (code::RST_OUT_OF_WINDOW, Severity::Warning),
        _ => return,
    };
    let (message, advice) = explain(connection, rst, context.config);
    context.finding(Finding {
        code,
        severity,
        ts: rst.ts,
        subject: Subject::Connection(connection.id),
        message,
        advice,
        evidence: rst.evidence.to_map(),
    });
}

fn explain(connection: &Connection, rst: &RstRecord, config: &AnalysisConfig) -> (String, String) {
    let route = format!(
        "{} -> {}",
        connection.client_endpoint(),
        connection.server_endpoint()
    );
    match rst.class {
        "refused" => (
            format!("{} refused the connection {route}: nothing listening, or a firewall rejecting.", rst.from),
            "Check that the service listens on that port (ss -ltn) and that no firewall REJECTs it.".into(),
        ),
        "peer-abort" => (
            format!("{} aborted {route}; TTL and IP ID match its earlier packets, so the peer itself sent it (closed with unread data, SO_LINGER 0, or the process died).", rst.from),
            "Look at the application on that host at that time (logs, restarts); a reset from the real peer is not a network problem.".into(),
        ),
        "keepalive-exhausted" => (
            format!("{} reset {route} after its keepalive probes went unanswered: the peer was unreachable.", rst.from),
            "See keepalive-dead-peer for how long detection took and how to shorten it.".into(),
        ),
        "out-of-window" => (
            format!("A RST claiming to be from {} on {route} carries a sequence number far outside the window (blind or spoofed reset, or a broken stack).", rst.from),
            "A genuine stack resets at its next sequence number; RFC 5961 receivers ignore such resets. Capture on both sides to see where it comes from.".into(),
        ),
        "idle-timeout" => explain_idle(rst, config, &route),
        _ => explain_injected(rst, &route),
    }
}

fn explain_injected(rst: &RstRecord, route: &str) -> (String, String) {
    let mut signs = Vec::new();
    if let Some(ttl) = rst.evidence.get("ttl_mismatch") {
        signs.push(
            ttl["meaning"]
                .as_str()
                .unwrap_or("TTL unlike the sender's")
                .to_string(),
        );
    }
    if rst.evidence.contains_key("ip_id_break") {
        signs.push("its IP ID breaks the sender's sequence".to_string());
    }
    if rst.evidence.contains_key("too_fast") {
        signs.push("it arrived faster than the path round trip allows".to_string());
    }
    if rst.evidence.contains_key("both_ends") {
        signs.push("both ends were reset within a millisecond".to_string());
    }
    if rst.evidence.contains_key("race") {
        signs.push("the claimed sender kept sending with another TTL".to_string());
    }
    (
        format!("A RST claiming to be from {} on {route} was injected by a device in the path: {}.", rst.from, signs.join("; ")),
        "Find the device between this capture point and the claimed sender (firewall, IPS, load balancer, NAT) whose TTL matches; its logs name the rule. Capturing on both sides proves where it is added.".into(),
    )
}

fn explain_idle(rst: &RstRecord, config: &AnalysisConfig, route: &str) -> (String, String) {
    let idle = rst
        .evidence
        .get("idle_s")
        .and_then(Value::as_f64)
        .unwrap_or(0.0);
    let devices: Vec<String> = rst
        .evidence
        .get("matching_middleboxes")
        .and_then(Value::as_array)
        .map(|list| {
            list.iter()
                .filter_map(|m| m["display_name"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    let stated = config.smallest_middlebox_timeout();
    // The device expired the flow at most `idle` after the last packet; a matching default
    // is the better estimate of its timeout.
    let matched_default = rst
        .evidence
        .get("matching_middleboxes")
        .and_then(Value::as_array)
        .and_then(|list| {
            list.iter()
                .filter_map(|m| m["default_idle_s"].as_f64())
                .reduce(f64::min)
        });
    let timeout = stated.or(matched_default).unwrap_or(idle);
    let injected =
        rst.evidence.contains_key("ttl_mismatch") || rst.evidence.contains_key("ip_id_break");
    let who = if injected {
        format!(
            "a device in the path answered for {} (TTL/IP ID unlike it)",
            rst.from
        )
    } else {
        format!("{} answered", rst.from)
    };
    let likely = if devices.is_empty() {
        "length matches no known default (a custom timeout)".to_string()
    } else {
        format!("matches the default of {}", devices.join(", "))
    };
    let device_knobs: Vec<String> = rst
        .evidence
        .get("matching_middleboxes")
        .and_then(Value::as_array)
        .map(|list| {
            list.iter()
                .filter_map(|m| {
                    m["knob"]
                        .as_str()
                        .map(|k| format!("{}: {k}", m["display_name"].as_str().unwrap_or("?")))
                })
                .collect()
        })
        .unwrap_or_default();
    let knobs = keepalive_knobs(recommended_time_below(timeout));
    let alternative = if device_knobs.is_empty() {
        "Or raise the idle timeout of the device on the path.".to_string()
    } else {
        format!(
            "Or raise the device's idle timeout ({}).",
            device_knobs.join("; ")
        )
    };
    (
        format!(
            "{route} was idle {} and the next segment was reset: {who}. The idle {likely}.",
            human_duration(idle)
        ),
        format!(
            "Keep the connection's keepalive time below {} so probes refresh the device's state:\n{knobs}\n{alternative}",
            human_duration(timeout)
        ),
    )
}

/// A RST seen at one vantage point whose claimed sender never sent it at the other.
fn correlate(observations: &[Observation], context: &mut Context<'_>) {
    for seen in observations {
        for (from, ts) in &seen.rsts_from {
            let absent_at = observations.iter().find(|other| {
                other.input != seen.input
                    && other.start.secs_since(*ts) < 60.0
                    && ts.secs_since(other.end) < 60.0
                    && other
                        .rsts_from
                        .iter()
                        .all(|(other_from, _)| other_from != from)
            });
            let Some(other) = absent_at else {
                continue;
            };
            let mut evidence = Map::new();
            evidence.insert("seen_at_input".into(), json!(seen.input));
            evidence.insert("absent_at_input".into(), json!(other.input));
            evidence.insert("other_connection".into(), json!(other.id.to_string()));
            context.finding(Finding {
                code: code::RST_MIDDLEBOX,
                severity: Severity::Error,
                ts: *ts,
                subject: Subject::Connection(seen.id),
                message: format!(
                    "A RST from {from} appears in input {} but {from} never sent it in input {} ({}): it was injected between the two capture points.",
                    seen.input, other.input, other.id
                ),
                advice: "The device between the two capture points that holds connection state (firewall, NAT, load balancer, conntrack with REJECT) generated it; check its idle timeout and reset-on-expiry settings.".into(),
                evidence,
            });
        }
    }
}
