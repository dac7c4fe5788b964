//! Detectors turn tracked facts into events and findings.
//!
//! Per-connection detectors implement [`Detector`] and are listed once in
//! [`connection_detectors`]; those whose judgment spans connections implement
//! [`SharedDetector`] and are listed in [`shared_detectors`]: adding one touches its own file
//! and one line there. Per-connection detectors see every TCP segment with the tracker's
//! analysis and each connection when it ends; they keep whatever per-connection state they
//! need and must drop it in `on_connection_end`, so memory stays bounded by open connections.
//! That split is what lets connections be analyzed on several threads (`crate::analyze`): a
//! connection's segments all go to one shard, and only [`Shared`] messages cross shards.

pub mod advice;
pub mod blackhole;
pub mod evidence;
pub mod http;
pub mod keepalive;
pub mod outbox;
pub mod rst;
pub mod tcp_events;
pub mod vrrp;

use crate::config::AnalysisConfig;
use crate::decode::{Decoded, IpPacket, TcpSegment};
use crate::flow::{Connection, ConnectionId, SegmentAnalysis};
use crate::report::{Event, Finding, Summary};
use crate::time::Timestamp;
use outbox::{Item, Outbox};
use serde_json::Value;
use std::collections::BTreeMap;

/// One TCP segment, after the tracker applied it.
pub struct Segment<'a, 'p> {
    pub packet: &'a Decoded<'p>,
    pub ip: &'a IpPacket<'p>,
    pub tcp: &'a TcpSegment<'p>,
    /// The connection's state including this segment.
    pub connection: &'a Connection,
    pub analysis: SegmentAnalysis,
}

/// Per-detector output attached to a connection (`connections[].keepalive`, ...): one typed
/// slot per detector that reports on connections, moved into the
/// [`ConnectionRecord`](crate::report::ConnectionRecord) of the same names. Typed records
/// rather than `Value` maps because one is built for every connection: a map with allocated
/// keys per connection was the largest cost of a run and of `--format json`'s memory.
#[derive(Clone, Debug, Default)]
pub struct Details {
    pub http: Option<Box<http::HttpRecord>>,
    pub keepalive: Option<keepalive::KeepaliveRecord>,
    pub rsts: Option<Vec<rst::RstRecord>>,
}

/// Report-level sections from detectors (`vrrp`, `http_hops`), by JSON key.
pub type Sections = BTreeMap<&'static str, Section>;

/// One report-level section, serialized as its content. Most are one small `Value`; the HTTP
/// hops are a typed list (one record per client address and server on a load balancer).
#[derive(Clone, Debug, serde::Serialize)]
#[serde(untagged)]
pub enum Section {
    Value(Value),
    HttpHops(Vec<http::HopRecord>),
}

/// A per-connection detector. Each connection is seen by one instance only (with several
/// shards, the one of its shard), so state that spans connections goes to a
/// [`SharedDetector`] through [`Context::share`].
pub trait Detector: Send {
    /// Every TCP segment, after connection tracking.
    fn on_segment(&mut self, _segment: &Segment<'_, '_>, _context: &mut Context<'_>) {}
    /// The connection is over: emit final findings, add its details, drop its state.
    fn on_connection_end(
        &mut self,
        _connection: &Connection,
        _context: &mut Context<'_>,
        _details: &mut Details,
    ) {
    }
}

/// A detector whose judgment spans connections or is not about TCP (VRRP groups, HTTP hops,
/// resets seen at two vantage points). One instance sees everything, in frame order.
pub trait SharedDetector: Send {
    /// The time of every frame that passed the filters.
    fn on_frame_time(&mut self, _ts: Timestamp) {}
    /// Every frame that is not a TCP segment (VRRP, ARP, ICMPv6 are seen here).
    fn on_packet(&mut self, _packet: &Decoded<'_>, _context: &mut Context<'_>) {}
    /// A message from a per-connection detector.
    fn on_shared(&mut self, _message: &Shared, _context: &mut Context<'_>) {}
    /// End of all input: report-level findings and sections (`vrrp`, `http_hops`).
    fn finish(&mut self, _context: &mut Context<'_>, _sections: &mut Sections) {}
}

/// What per-connection detectors tell the shared ones. Connection ids in them are renumbered
/// by the merger like those of findings.
pub enum Shared {
    /// A request read on a connection of this hop, in the order requests were read.
    HttpRequest(http::HopKey, http::RequestNote),
    /// A connection that spoke HTTP ended.
    HttpConnection(Box<http::HopConnection>),
    /// With several inputs: what one input saw of a connection's resets.
    RstSeen(Box<rst::Observation>),
}

impl Shared {
    /// The connection id the message carries, for renumbering.
    pub fn connection_id_mut(&mut self) -> Option<&mut ConnectionId> {
        match self {
            Shared::HttpRequest(..) => None,
            Shared::HttpConnection(connection) => Some(&mut connection.id),
            Shared::RstSeen(observation) => Some(&mut observation.id),
        }
    }
}

/// The per-connection detectors, in the order they run. Later ones may read what earlier ones
/// recorded on the connection (the tracker's facts are shared by all).
pub fn connection_detectors(config: &AnalysisConfig) -> Vec<Box<dyn Detector>> {
    vec![
        Box::new(tcp_events::TcpEvents::new(config)),
        Box::new(keepalive::KeepaliveDetector::new(config)),
        Box::new(rst::RstDetector::new(config)),
        Box::new(blackhole::BlackHoleDetector),
        Box::new(http::HttpDetector::new(config)),
    ]
}

/// The shared detectors, in the order they report at the end.
pub fn shared_detectors(config: &AnalysisConfig) -> Vec<Box<dyn SharedDetector>> {
    vec![
        Box::new(rst::RstVantage::default()),
        Box::new(vrrp::Vrrp::new(config)),
        Box::new(http::HttpHops::default()),
    ]
}

/// Where detectors put what they find.
pub struct Context<'a> {
    pub config: &'a AnalysisConfig,
    pub summary: &'a mut Summary,
    pub output: &'a mut Outbox,
}

impl Context<'_> {
    pub fn finding(&mut self, finding: Finding) {
        self.summary.findings.add(finding.severity);
        self.output.finding(finding);
    }

    pub fn event(&mut self, event: Event) {
        self.output.event(event);
    }

    /// Hands a message to the shared detectors (in frame order, possibly on another thread).
    pub fn share(&mut self, message: Shared) {
        self.output.push(Item::Shared(message));
    }
}
