//! TCP keepalive (RFC 1122 §4.2.3.6): probes and their ACKs, each sender's inferred settings
//! (keepalive time, interval, count) and the profile they match, dead peers, connections that
//! sat idle with no keepalive at all, and application heartbeats (which users confuse with
//! TCP keepalive but which also keep middlebox state alive).
//!
//! The tracker classifies probes (see `flow::connection`); this detector interprets them:
//! - keepalive time = silence before the first probe, measured from the last payload byte in
//!   either direction (the peer's probes and ACKs do not count: both ends' timers often fire
//!   together);
//! - interval = spacing of successive unanswered probes (answered probes reset the timer to
//!   the keepalive time again, so only unanswered ones show the interval);
//! - count = unanswered probes before the sender gave up with a RST.

use super::advice::keepalive_knobs;
use super::{Context, Details, Detector, Segment};
use crate::config::AnalysisConfig;
use crate::explain::code;
use crate::flow::hash::FastHashMap;
use crate::flow::{Connection, ConnectionId, ConnectionState, Side};
use crate::knowledge::keepalive_defaults::{match_profile, recommended_time_below};
use crate::report::{Event, Finding, Severity, Subject, round_micros, round_millis};
use crate::time::{Timestamp, human_duration};
use serde_json::{Map, Value, json};

/// A heartbeat is a small data segment after at least this much silence...
const HEARTBEAT_MIN_GAP_SECS: f64 = 1.0;
/// ...no larger than this...
const HEARTBEAT_MAX_BYTES: u32 = 256;
/// ...repeating at least this many times with gaps within 10 % of their mean.
const HEARTBEAT_MIN_REPEATS: u32 = 3;

#[derive(Default)]
pub struct KeepaliveDetector {
    connections: FastHashMap<ConnectionId, ConnectionKeepalive>,
}

impl KeepaliveDetector {
    pub fn new(_config: &AnalysisConfig) -> KeepaliveDetector {
        KeepaliveDetector::default()
    }
}

#[derive(Default)]
struct ConnectionKeepalive {
    /// Boxed: a connection gets an entry as soon as its data pauses for a second (a possible
    /// heartbeat), which long-lived connections all do, while few carry probes; inline, the
    /// two senders made every table slot (id and entry) 280 bytes instead of 96.
    senders: Option<Box<[Option<ProbeSender>; 2]>>,
    heartbeats: [Heartbeat; 2],
}

impl ConnectionKeepalive {
    fn sender(&self, side: Side) -> Option<&ProbeSender> {
        self.senders.as_ref()?.get(slot(side))?.as_ref()
    }

    fn sender_mut(&mut self, side: Side) -> Option<&mut ProbeSender> {
        self.senders.as_mut()?.get_mut(slot(side))?.as_mut()
    }

    /// The sender of `side`'s probes, started by `new` at its first probe.
    fn sender_or_start(
        &mut self,
        side: Side,
        new: impl FnOnce() -> ProbeSender,
    ) -> &mut ProbeSender {
        let senders = self.senders.get_or_insert_default();
        let [client, server] = &mut **senders;
        let sender = match side {
            Side::Client => client,
            Side::Server => server,
        };
        sender.get_or_insert_with(new)
    }
}

fn slot(side: Side) -> usize {
    match side {
        Side::Client => 0,
        Side::Server => 1,
    }
}

/// Everything learned about one endpoint's probes on one connection (the endpoint itself is
/// the connection's, [`Connection::endpoint`]).
struct ProbeSender {
    probe_payload: u32,
    probes: u32,
    answered: u32,
    first_probe_at: Timestamp,
    idle_before_first_probe: f64,
    last_probe_at: Timestamp,
    last_probe_answered: bool,
    /// Unanswered probes since the last answered one (or the first).
    unanswered_run: u32,
    interval_sum: f64,
    interval_count: u32,
    /// Silence before probes that followed an answered probe (re-measures the time).
    rearm_sum: f64,
    rearm_count: u32,
    rtt_sum: f64,
    rtt_max: f64,
}

impl ProbeSender {
    fn new(ts: Timestamp, idle: f64, payload: u32) -> ProbeSender {
        ProbeSender {
            probe_payload: payload,
            probes: 0,
            answered: 0,
            first_probe_at: ts,
            idle_before_first_probe: idle,
            last_probe_at: ts,
            last_probe_answered: false,
            unanswered_run: 0,
            interval_sum: 0.0,
            interval_count: 0,
            rearm_sum: 0.0,
            rearm_count: 0,
            rtt_sum: 0.0,
            rtt_max: 0.0,
        }
    }

    fn record_probe(&mut self, ts: Timestamp) {
        if self.probes > 0 {
            let gap = ts.secs_since(self.last_probe_at);
            if self.last_probe_answered {
                self.rearm_sum += gap;
                self.rearm_count += 1;
            } else {
                self.interval_sum += gap;
                self.interval_count += 1;
            }
        }
        self.probes += 1;
        self.last_probe_at = ts;
        self.last_probe_answered = false;
        self.unanswered_run += 1;
    }

    fn record_answer(&mut self, ts: Timestamp) -> f64 {
        let rtt = ts.secs_since(self.last_probe_at);
        self.answered += 1;
        self.last_probe_answered = true;
        self.unanswered_run = 0;
        self.rtt_sum += rtt;
        self.rtt_max = self.rtt_max.max(rtt);
        rtt
    }

    fn interval(&self) -> Option<f64> {
        (self.interval_count > 0).then(|| self.interval_sum / f64::from(self.interval_count))
    }

    /// The sender reset the connection after its last probe went unanswered.
    fn gave_up_with_rst(&self, connection: &Connection, side: Side) -> bool {
        self.unanswered_run > 0
            && connection
                .half(side)
                .rst_at
                .is_some_and(|rst| rst >= self.last_probe_at)
    }
}

/// Periodic small data segments from one side.
#[derive(Default)]
struct Heartbeat {
    last_at: Option<Timestamp>,
    gap_sum: f64,
    gaps: u32,
    period: Option<f64>,
}

impl Heartbeat {
    fn record(&mut self, ts: Timestamp, data_idle: f64, bytes: u32) {
        if bytes > HEARTBEAT_MAX_BYTES || data_idle < HEARTBEAT_MIN_GAP_SECS {
            self.last_at = None;
            self.gaps = 0;
            self.gap_sum = 0.0;
            return;
        }
        if let Some(previous) = self.last_at {
            let gap = ts.secs_since(previous);
            let mean = if self.gaps > 0 {
                self.gap_sum / f64::from(self.gaps)
            } else {
                gap
            };
            if (gap - mean).abs() <= mean * 0.1 {
                self.gap_sum += gap;
                self.gaps += 1;
            } else {
                self.gap_sum = gap;
                self.gaps = 1;
            }
            if self.gaps >= HEARTBEAT_MIN_REPEATS {
                self.period = Some(self.gap_sum / f64::from(self.gaps));
            }
        }
        self.last_at = Some(ts);
    }
}

impl Detector for KeepaliveDetector {
    fn on_segment(&mut self, segment: &Segment<'_, '_>, context: &mut Context<'_>) {
        let analysis = &segment.analysis;
        let Some(side) = analysis.side else {
            return;
        };
        let connection = segment.connection;
        let ts = segment.packet.ts;
        if analysis.keepalive_probe {
            self.on_probe(segment, side, context);
        } else if analysis.keepalive_ack {
            self.on_ack(connection, side, ts, context);
        } else if segment.tcp.payload_len > 0 && analysis.new_payload_bytes > 0 {
            // The tracker already counted this payload, so measure the silence before it from
            // the previous packet on the connection.
            let idle = analysis.idle_before_secs();
            if idle >= HEARTBEAT_MIN_GAP_SECS || self.connections.contains_key(&connection.id) {
                let state = self.connections.entry(connection.id).or_default();
                state.heartbeats[slot(side)].record(ts, idle, segment.tcp.payload_len);
            }
        }
    }

    fn on_connection_end(
        &mut self,
        connection: &Connection,
        context: &mut Context<'_>,
        details: &mut Details,
    ) {
        let state = self.connections.remove(&connection.id).unwrap_or_default();
        let senders: Vec<(Side, &ProbeSender)> = [Side::Client, Side::Server]
            .into_iter()
            .filter_map(|side| state.sender(side).map(|s| (side, s)))
            .collect();
        let heartbeats = heartbeat_list(connection, &state);
        let sender_json: Vec<Value> = senders
            .iter()
            .map(|(side, s)| sender_json(connection, *side, s))
            .collect();
        if !senders.is_empty() {
            settings_finding(connection, &sender_json, context);
        }
        for (side, sender) in &senders {
            dead_peer_finding(connection, *side, sender, context);
        }
        idle_finding(connection, senders.is_empty(), &heartbeats, context);
        let (client, server) = (&connection.client, &connection.server);
        details.keepalive = Some(KeepaliveRecord {
            acks: client.keepalive_acks + server.keepalive_acks,
            heartbeats,
            probes: client.keepalive_probes + server.keepalive_probes,
            senders: sender_json,
            zero_window_probes: client.zero_window_probes + server.zero_window_probes,
        });
    }
}

/// `connections[].keepalive` (fields in JSON key order). Senders and heartbeats stay JSON
/// values: they are rare, and findings quote them as evidence.
#[derive(Clone, Debug, serde::Serialize)]
pub struct KeepaliveRecord {
    acks: u32,
    heartbeats: Vec<Value>,
    probes: u32,
    senders: Vec<Value>,
    zero_window_probes: u32,
}

impl KeepaliveDetector {
    fn on_probe(&mut self, segment: &Segment<'_, '_>, side: Side, context: &mut Context<'_>) {
        let connection = segment.connection;
        let ts = segment.packet.ts;
        let idle = connection.data_idle_nanos(ts) as f64 / 1e9;
        let endpoint = connection.endpoint(side);
        let state = self.connections.entry(connection.id).or_default();
        let sender =
            state.sender_or_start(side, || ProbeSender::new(ts, idle, segment.tcp.payload_len));
        sender.record_probe(ts);
        let text = format!(
            "keepalive probe #{} ({} byte{}) after {} without data",
            sender.probes,
            segment.tcp.payload_len,
            if segment.tcp.payload_len == 1 {
                ""
            } else {
                "s"
            },
            human_duration(idle)
        );
        context.event(
            Event::new(
                ts,
                Subject::Connection(connection.id),
                "keepalive-probe",
                text,
            )
            .from(endpoint),
        );
    }

    fn on_ack(
        &mut self,
        connection: &Connection,
        side: Side,
        ts: Timestamp,
        context: &mut Context<'_>,
    ) {
        let prober = side.other();
        let Some(state) = self.connections.get_mut(&connection.id) else {
            return;
        };
        let Some(sender) = state.sender_mut(prober) else {
            return;
        };
        let rtt = sender.record_answer(ts);
        let text = format!("keepalive ACK after {}", human_duration(rtt));
        let from = connection.endpoint(side);
        context.event(
            Event::new(
                ts,
                Subject::Connection(connection.id),
                "keepalive-ack",
                text,
            )
            .from(from),
        );
    }
}

fn sender_json(connection: &Connection, side: Side, sender: &ProbeSender) -> Value {
    let aborted = sender.gave_up_with_rst(connection, side);
    let unanswered_before_abort = aborted.then_some(sender.unanswered_run);
    let time = (sender.rearm_count > 0)
        .then(|| sender.rearm_sum / f64::from(sender.rearm_count))
        .filter(|rearm| *rearm > sender.idle_before_first_probe * 0.9)
        .unwrap_or(sender.idle_before_first_probe);
    let interval = sender.interval();
    json!({
        "endpoint": connection.endpoint(side),
        "role": side.name(),
        "probes": sender.probes,
        "answered": sender.answered,
        "idle_before_first_probe_s": round_millis(sender.idle_before_first_probe),
        "keepalive_time_s": round_millis(time),
        "probe_interval_s": interval.map(round_millis),
        "unanswered_probes": sender.unanswered_run,
        "gave_up": if aborted { Value::from("rst") } else { Value::Null },
        "probe_payload_bytes": sender.probe_payload,
        "ack_rtt_s": (sender.answered > 0).then(|| round_micros(sender.rtt_sum / f64::from(sender.answered))),
        "first_probe": crate::report::epoch_seconds(sender.first_probe_at),
        "last_probe": crate::report::epoch_seconds(sender.last_probe_at),
        "profile": match_profile(Some(time), interval, unanswered_before_abort, sender.probe_payload),
    })
}

fn heartbeat_list(connection: &Connection, state: &ConnectionKeepalive) -> Vec<Value> {
    [Side::Client, Side::Server]
        .into_iter()
        .filter_map(|side| {
            let heartbeat = &state.heartbeats[slot(side)];
            heartbeat.period.map(|period| {
                json!({
                    "endpoint": connection.endpoint(side),
                    "period_s": round_millis(period),
                    "repeats": heartbeat.gaps + 1,
                })
            })
        })
        .collect()
}

fn settings_finding(connection: &Connection, senders: &[Value], context: &mut Context<'_>) {
    let described: Vec<String> = senders.iter().map(describe_sender).collect();
    let smallest_timeout = context.config.smallest_middlebox_timeout();
    let mut severity = Severity::Info;
    let mut advice = "Nothing to change if these timings are what you configured.".to_string();
    if let Some(timeout) = smallest_timeout {
        let too_long = senders
            .iter()
            .filter_map(|s| s["keepalive_time_s"].as_f64())
            .any(|time| time >= timeout);
        if too_long {
            severity = Severity::Warning;
            advice = format!(
                "The keepalive time is not below the stated middlebox idle timeout ({}): idle connections will be cut. Set:\n{}",
                human_duration(timeout),
                keepalive_knobs(recommended_time_below(timeout))
            );
        }
    }
    let mut evidence = Map::new();
    evidence.insert("senders".into(), Value::Array(senders.to_vec()));
    context.finding(Finding {
        code: code::KEEPALIVE_SETTINGS,
        severity,
        ts: connection.start,
        subject: Subject::Connection(connection.id),
        message: format!(
            "TCP keepalive on {} -> {}: {}",
            connection.client_endpoint(),
            connection.server_endpoint(),
            described.join("; ")
        ),
        advice,
        evidence,
    });
}

fn describe_sender(sender: &Value) -> String {
    let interval = sender["probe_interval_s"].as_f64().map_or(
        "interval not observed (every probe answered)".to_string(),
        |i| format!("every {}", human_duration(i)),
    );
    format!(
        "{} probes after {} idle, {}, {} probes ({} answered), profile {}",
        sender["endpoint"].as_str().unwrap_or("?"),
        human_duration(sender["keepalive_time_s"].as_f64().unwrap_or(0.0)),
        interval,
        sender["probes"],
        sender["answered"],
        sender["profile"].as_str().unwrap_or("custom")
    )
}

fn dead_peer_finding(
    connection: &Connection,
    side: Side,
    sender: &ProbeSender,
    context: &mut Context<'_>,
) {
    let aborted = sender.gave_up_with_rst(connection, side);
    let silent_end =
        sender.unanswered_run >= 2 && connection.last_seen <= sender.last_probe_at.plus_secs(0.001);
    if !(aborted || (silent_end && sender.answered == 0)) {
        return;
    }
    let interval = sender.interval().unwrap_or(0.0);
    let ended_at = connection.half(side).rst_at.unwrap_or(sender.last_probe_at);
    let detection = ended_at.secs_since(sender.first_probe_at) + sender.idle_before_first_probe;
    let how = if aborted {
        "then reset the connection"
    } else {
        "and the capture ends in silence"
    };
    let message = format!(
        "{} sent {} keepalive probes that {} answered (the first after {} idle, then every {}) {how}: the peer {} is gone. Detection took {} (time {} + interval {} x {} probes).",
        connection.endpoint(side),
        sender.unanswered_run,
        if sender.answered == 0 {
            "nobody"
        } else {
            "were not"
        },
        human_duration(sender.idle_before_first_probe),
        human_duration(interval),
        connection.endpoint(side.other()),
        human_duration(detection),
        human_duration(sender.idle_before_first_probe),
        human_duration(interval),
        sender.unanswered_run
    );
    let mut evidence = Map::new();
    evidence.insert("endpoint".into(), json!(connection.endpoint(side)));
    evidence.insert("unanswered_probes".into(), json!(sender.unanswered_run));
    evidence.insert(
        "idle_before_first_probe_s".into(),
        json!(round_millis(sender.idle_before_first_probe)),
    );
    evidence.insert(
        "probe_interval_s".into(),
        json!(sender.interval().map(round_millis)),
    );
    evidence.insert("detection_s".into(), json!(round_millis(detection)));
    evidence.insert(
        "gave_up".into(),
        json!(if aborted { "rst" } else { "silence" }),
    );
    context.finding(Finding {
        code: code::KEEPALIVE_DEAD_PEER,
        severity: Severity::Warning,
        ts: ended_at,
        subject: Subject::Connection(connection.id),
        message,
        advice: format!(
            "To notice dead peers sooner, shorten the interval and count (dead-peer time = time + interval x probes), e.g. sysctl -w net.ipv4.tcp_keepalive_intvl=5 net.ipv4.tcp_keepalive_probes=3, or per socket TCP_KEEPINTVL/TCP_KEEPCNT; TCP_USER_TIMEOUT bounds it when data is in flight. Currently about {}.",
            human_duration(detection)
        ),
        evidence,
    });
}

fn idle_finding(
    connection: &Connection,
    no_probes: bool,
    heartbeats: &[Value],
    context: &mut Context<'_>,
) {
    let idle = connection.max_idle_nanos as f64 / 1e9;
    let threshold = context.config.idle_threshold_secs;
    if !no_probes || !heartbeats.is_empty() || idle < threshold {
        return;
    }
    let Some(idle_end) = connection.max_idle_end else {
        return;
    };
    let reset_after_idle = connection.state == ConnectionState::Reset
        && [connection.client.rst_at, connection.server.rst_at]
            .into_iter()
            .flatten()
            .any(|rst| rst >= idle_end && rst.secs_since(idle_end) <= 5.0);
    let stated = context.config.smallest_middlebox_timeout();
    let black_hole = connection.black_hole_after_idle();
    let died = reset_after_idle || black_hole.is_some();
    let target = stated.unwrap_or(if died { idle } else { threshold });
    let recommended = recommended_time_below(target);
    let idle_start =
        Timestamp::from_nanos(idle_end.nanos().saturating_sub(connection.max_idle_nanos));
    let mut evidence = Map::new();
    evidence.insert("idle_s".into(), json!(round_millis(idle)));
    evidence.insert(
        "idle_from".into(),
        json!(crate::report::epoch_seconds(idle_start)),
    );
    evidence.insert(
        "idle_to".into(),
        json!(crate::report::epoch_seconds(idle_end)),
    );
    evidence.insert("threshold_s".into(), json!(threshold));
    evidence.insert("ended_in_reset".into(), json!(reset_after_idle));
    evidence.insert("ended_in_black_hole".into(), json!(black_hole.is_some()));
    evidence.insert("recommended_keepalive_time_s".into(), json!(recommended));
    let consequence = if reset_after_idle {
        "and the first packet after it drew a reset: something on the path had forgotten the connection"
    } else if black_hole.is_some() {
        "and what was sent after it was never answered: something on the path had forgotten the connection and drops it"
    } else {
        "long enough for load balancers, NAT and firewalls to forget it (many cut at 60-350 s)"
    };
    context.finding(Finding {
        code: code::IDLE_WITHOUT_KEEPALIVE,
        severity: if died { Severity::Error } else { Severity::Warning },
        ts: idle_end,
        subject: Subject::Connection(connection.id),
        message: format!(
            "{} -> {} sat idle {} with no TCP keepalive probes or heartbeats from either side, {consequence}.",
            connection.client_endpoint(),
            connection.server_endpoint(),
            human_duration(idle)
        ),
        advice: format!(
            "Keep the keepalive time below the shortest idle timeout on the path ({}{}):\n{}",
            human_duration(target),
            if stated.is_some() { ", as stated" } else { ", from this capture; state it with --middlebox-timeout" },
            keepalive_knobs(recommended)
        ),
        evidence,
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_heartbeat_entry_stays_small() {
        // Every long-lived connection whose data pauses gets one (docs/performance.md, Memory).
        assert!(std::mem::size_of::<ConnectionKeepalive>() <= 88);
    }

    #[test]
    fn each_side_has_its_own_probe_sender() {
        let mut state = ConnectionKeepalive::default();
        assert!(state.sender(Side::Client).is_none());
        let ts = Timestamp::from_nanos(0);
        state.sender_or_start(Side::Server, || ProbeSender::new(ts, 75.0, 0));
        assert!(state.sender(Side::Client).is_none());
        assert!(state.sender_mut(Side::Server).is_some());
        let again = state.sender_or_start(Side::Server, || ProbeSender::new(ts, 1.0, 1));
        assert_eq!(again.idle_before_first_probe, 75.0);
    }
}
