//! The report model: one serde structure that every output format renders.
//!
//! Field names here are a contract read by users' `jq` scripts and by acceptance checks;
//! docs/json.md documents them with the `schema_version`. Renderers (`table`, `json`) are pure
//! functions of this model and compute nothing.

pub mod decimal;
pub mod json;
pub mod lines;
pub mod serializer;
pub mod shortlist;
pub mod table;

use crate::capture::InputSummary;
use crate::flow::{ConnectionId, Endpoint};
use crate::time::Timestamp;
use serde::{Serialize, Serializer};
use serde_json::{Map, Value};
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;

/// Bumped whenever a field changes meaning or disappears (additions do not bump it).
pub const SCHEMA_VERSION: u32 = 1;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Warning,
    Error,
}

impl Severity {
    pub fn name(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }
}

/// What a finding or event is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Subject {
    Connection(ConnectionId),
    /// A VRRP group, by virtual router id: `vrrp/VRID`.
    Vrrp(u8),
    Host(IpAddr),
    Endpoint(Endpoint),
    /// A hop of HTTP connections between two hosts: `http-hop/N`.
    HttpHop(u32),
    /// The host kaprobe inspects itself (`sysctl check`, `sockets`): `host`.
    LocalHost,
}

impl fmt::Display for Subject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Subject::Connection(id) => write!(f, "{id}"),
            Subject::Vrrp(vrid) => write!(f, "vrrp/{vrid}"),
            Subject::Host(ip) => write!(f, "{ip}"),
            Subject::Endpoint(endpoint) => write!(f, "{endpoint}"),
            Subject::HttpHop(n) => write!(f, "http-hop/{n}"),
            Subject::LocalHost => f.write_str("host"),
        }
    }
}

impl Serialize for Subject {
    /// The same text as `Display`. Connections and endpoints are the subjects of nearly every
    /// event and finding line of a `--format jsonl` stream, so theirs are written the way
    /// their own `Serialize` writes them, without the formatting machinery (which was a
    /// third of the cost of an event line).
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Subject::Connection(id) => id.serialize(serializer),
            Subject::Endpoint(endpoint) => endpoint.serialize(serializer),
            _ => serializer.collect_str(self),
        }
    }
}

/// Seconds since the epoch with microsecond precision, as JSON numbers.
pub fn epoch_seconds(ts: Timestamp) -> f64 {
    (ts.nanos() as f64 / 1_000.0).round() / 1_000_000.0
}

/// Seconds rounded to milliseconds for output (idle times, intervals).
pub fn round_millis(seconds: f64) -> f64 {
    (seconds * 1e3).round() / 1e3
}

/// Seconds rounded to microseconds for output (round trips, gaps): the capture's precision.
pub fn round_micros(seconds: f64) -> f64 {
    (seconds * 1e6).round() / 1e6
}

/// Serializes a timestamp as [`epoch_seconds`].
pub fn serialize_ts<S: Serializer>(ts: &Timestamp, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_f64(epoch_seconds(*ts))
}

/// A diagnosis: what kaprobe concluded, from which evidence, and what to do about it.
#[derive(Clone, Debug, Serialize)]
pub struct Finding {
    /// Stable kebab-case code (`kaprobe explain CODE`).
    pub code: &'static str,
    pub severity: Severity,
    #[serde(serialize_with = "serialize_ts")]
    pub ts: Timestamp,
    pub subject: Subject,
    pub message: String,
    pub advice: String,
    pub evidence: Map<String, Value>,
}

/// Something that happened, for timelines and `--format jsonl`.
#[derive(Clone, Debug, Serialize)]
pub struct Event {
    #[serde(serialize_with = "serialize_ts")]
    pub ts: Timestamp,
    pub subject: Subject,
    /// kebab-case kind: `syn`, `data`, `keepalive-probe`, `rst`, `vrrp-master`, ...
    pub kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<Endpoint>,
    /// Most events say a fixed word (`SYN`, `FIN`): those are borrowed, not allocated.
    pub text: Cow<'static, str>,
    /// For data runs collapsed into one event: how many segments it stands for.
    #[serde(skip_serializing_if = "is_one")]
    pub count: u64,
    /// Payload bytes the event stands for (data runs).
    #[serde(skip_serializing_if = "is_zero")]
    pub bytes: u64,
}

impl Event {
    pub fn new(
        ts: Timestamp,
        subject: Subject,
        kind: &'static str,
        text: impl Into<Cow<'static, str>>,
    ) -> Event {
        Event {
            ts,
            subject,
            kind,
            from: None,
            text: text.into(),
            count: 1,
            bytes: 0,
        }
    }

    pub fn from(mut self, endpoint: Endpoint) -> Event {
        self.from = Some(endpoint);
        self
    }
}

fn is_zero(value: &u64) -> bool {
    *value == 0
}

fn is_one(count: &u64) -> bool {
    *count == 1
}

/// `connections[]`: one TCP connection as seen from one input.
#[derive(Clone, Debug, Serialize)]
pub struct ConnectionRecord {
    pub id: ConnectionId,
    pub client: Endpoint,
    pub server: Endpoint,
    /// Index into `inputs[]` of the capture this connection was seen in.
    pub input: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vlan: Option<u16>,
    #[serde(serialize_with = "serialize_ts")]
    pub start: Timestamp,
    #[serde(serialize_with = "serialize_ts")]
    pub end: Timestamp,
    pub packets: u64,
    pub bytes: u64,
    pub state: &'static str,
    pub max_idle_s: f64,
    /// When the longest idle gap ended.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_idle_end: Option<f64>,
    /// No SYN was seen: client and server were guessed from the ports.
    pub roles_inferred: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rtt_s: Option<f64>,
    pub retransmissions: u32,
    // The detectors' objects ([`crate::detect::Details`], filled at the end of the
    // connection), as fields of the record itself rather than a `#[serde(flatten)]`ed
    // `Details`: flattening serializes the whole record as a map, whose keys are escaped
    // and written one call at a time (about 1 % of `--format json`'s instructions).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http: Option<Box<crate::detect::http::HttpRecord>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keepalive: Option<crate::detect::keepalive::KeepaliveRecord>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rsts: Option<Vec<crate::detect::rst::RstRecord>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub timeline: Vec<Event>,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct FindingCounts {
    pub error: u64,
    pub warning: u64,
    pub info: u64,
}

impl FindingCounts {
    pub fn add(&mut self, severity: Severity) {
        match severity {
            Severity::Error => self.error += 1,
            Severity::Warning => self.warning += 1,
            Severity::Info => self.info += 1,
        }
    }
}

/// `summary`: totals over every input.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Summary {
    pub packets: u64,
    pub tcp_connections: u64,
    /// Segments on the tuple of a closed connection past its grace (5 s after its last
    /// segment, 1 s once both FINs were acknowledged; `TrackerConfig`): counted here, not
    /// analyzed (see src/flow/tracker.rs).
    pub late_segments: u64,
    pub keepalive_probes: u64,
    pub keepalive_acks: u64,
    pub zero_window_probes: u64,
    pub rsts: u64,
    pub http_requests: u64,
    pub http_responses: u64,
    pub vrrp_adverts: u64,
    /// Frames that were not IP, ARP or of a decoded link type.
    pub undecoded_packets: u64,
    pub findings: FindingCounts,
}

impl Summary {
    /// Adds another shard's counts.
    pub fn add(&mut self, other: &Summary) {
        self.packets += other.packets;
        self.tcp_connections += other.tcp_connections;
        self.late_segments += other.late_segments;
        self.keepalive_probes += other.keepalive_probes;
        self.keepalive_acks += other.keepalive_acks;
        self.zero_window_probes += other.zero_window_probes;
        self.rsts += other.rsts;
        self.http_requests += other.http_requests;
        self.http_responses += other.http_responses;
        self.vrrp_adverts += other.vrrp_adverts;
        self.undecoded_packets += other.undecoded_packets;
        self.findings.error += other.findings.error;
        self.findings.warning += other.findings.warning;
        self.findings.info += other.findings.info;
    }
}

/// The whole report.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub schema_version: u32,
    pub inputs: Vec<InputSummary>,
    pub summary: Summary,
    pub connections: Vec<ConnectionRecord>,
    pub findings: Vec<Finding>,
    /// Report-level sections from detectors (`vrrp`, `http_hops`).
    #[serde(flatten)]
    pub sections: crate::detect::Sections,
    /// Timelines of subjects that are not connections (VRRP groups), for `--timeline`.
    #[serde(skip)]
    pub other_timelines: BTreeMap<Subject, Vec<Event>>,
    /// Findings counted but not kept (the table's `--findings-per-code`).
    #[serde(skip)]
    pub not_listed: Vec<shortlist::NotListed>,
}

impl Report {
    /// Findings sorted for people: most severe first, then by time.
    pub fn sorted_findings(&self) -> Vec<&Finding> {
        let mut sorted: Vec<&Finding> = self.findings.iter().collect();
        sorted.sort_by(|a, b| b.severity.cmp(&a.severity).then(a.ts.cmp(&b.ts)));
        sorted
    }

    pub fn worst_severity(&self) -> Option<Severity> {
        self.findings.iter().map(|f| f.severity).max()
    }
}
