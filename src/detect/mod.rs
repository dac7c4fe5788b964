//! Detectors turn tracked facts into events and findings.
//!
//! Each detector implements [`Detector`] and is listed once in [`all_detectors`]: adding one
//! touches its own file and one line there. Detectors see every decoded frame, every TCP
//! segment with the tracker's analysis, and each connection when it ends; they keep whatever
//! per-connection state they need and must drop it in `on_connection_end`, so memory stays
//! bounded by open connections.

pub mod advice;
pub mod blackhole;
pub mod http;
pub mod keepalive;
pub mod rst;
pub mod tcp_events;
pub mod vrrp;

use crate::config::AnalysisConfig;
use crate::decode::{Decoded, IpPacket, TcpSegment};
use crate::flow::hash::{FastHashMap, FastHashSet, fast_hash_map, fast_hash_set};
use crate::flow::{Connection, SegmentAnalysis};
use crate::report::lines::LineOutput;
use crate::report::{Event, Finding, Subject, Summary};
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
/// slot per detector that reports on connections. Typed records rather than `Value` maps
/// because one is built for every connection: a map with allocated keys per connection was the
/// largest cost of a run and of `--format json`'s memory. Fields are in alphabetical order,
/// the order of the JSON keys (docs/json.md).
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct Details {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http: Option<Box<http::HttpRecord>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keepalive: Option<keepalive::KeepaliveRecord>,
    #[serde(skip_serializing_if = "Option::is_none")]
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

pub trait Detector {
    /// Every decoded frame (VRRP and ARP are seen here).
    fn on_packet(&mut self, _packet: &Decoded<'_>, _context: &mut Context<'_>) {}
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
    /// End of all input: report-level findings and sections (`vrrp`, `http_hops`).
    fn finish(&mut self, _context: &mut Context<'_>, _sections: &mut Sections) {}
}

/// The detectors, in the order they run. Later ones may read what earlier ones recorded on
/// the connection (the tracker's facts are shared by all).
pub fn all_detectors(config: &AnalysisConfig) -> Vec<Box<dyn Detector>> {
    vec![
        Box::new(tcp_events::TcpEvents::new(config)),
        Box::new(keepalive::KeepaliveDetector::new(config)),
        Box::new(rst::RstDetector::new(config)),
        Box::new(blackhole::BlackHoleDetector),
        Box::new(vrrp::Vrrp::new(config)),
        Box::new(http::HttpDetector::new(config)),
    ]
}

/// Where detectors put what they find.
pub struct Context<'a> {
    pub config: &'a AnalysisConfig,
    pub summary: &'a mut Summary,
    pub output: &'a mut Collector,
}

impl Context<'_> {
    pub fn finding(&mut self, finding: Finding) {
        self.summary.findings.add(finding.severity);
        self.output.add_finding(finding);
    }

    pub fn event(&mut self, event: Event) {
        self.output
            .add_event(event, self.config.max_timeline_events);
    }
}

/// Collects findings and timelines, or streams them as JSON lines.
pub struct Collector {
    pub findings: Vec<Finding>,
    timelines: FastHashMap<Subject, Timeline>,
    flagged: FastHashSet<Subject>,
    keep_timelines: bool,
    stream: Option<LineOutput>,
}

#[derive(Default)]
struct Timeline {
    events: Vec<Event>,
    dropped: u64,
}

impl Collector {
    pub fn new(keep_timelines: bool, stream: Option<LineOutput>) -> Collector {
        Collector {
            findings: Vec::new(),
            timelines: fast_hash_map(),
            flagged: fast_hash_set(),
            keep_timelines,
            stream,
        }
    }

    /// The first error writing the stream (e.g. a closed pipe); the run stops on it.
    pub fn take_stream_error(&mut self) -> Option<std::io::Error> {
        self.stream.as_mut().and_then(LineOutput::take_error)
    }

    pub fn is_streaming(&self) -> bool {
        self.stream.is_some()
    }

    fn add_finding(&mut self, finding: Finding) {
        // Only timelines need to know which subjects were flagged; without them the set would
        // grow with every finding of a long capture.
        if self.keep_timelines {
            self.flagged.insert(finding.subject);
        }
        if self.stream.is_some() {
            self.write_line("finding", &finding);
        } else {
            self.findings.push(finding);
        }
    }

    fn add_event(&mut self, event: Event, max_events: usize) {
        // Data runs are summarized in the connection record, not streamed one by one.
        if self.stream.is_some() && event.kind != "data" {
            self.write_line("event", &event);
        }
        if !self.keep_timelines {
            return;
        }
        let timeline = self.timelines.entry(event.subject).or_default();
        if let Some(last) = timeline.events.last_mut()
            && event.kind == "data"
            && last.kind == "data"
            && last.from == event.from
        {
            last.count += 1;
            last.bytes += event.bytes;
            return;
        }
        if timeline.events.len() < max_events {
            timeline.events.push(event);
        } else {
            timeline.dropped += 1;
        }
    }

    /// Removes and returns a subject's timeline when it should be printed (it has a finding,
    /// or `all` is set); otherwise just drops it.
    pub fn take_timeline(&mut self, subject: Subject, all: bool) -> Vec<Event> {
        let timeline = self.timelines.remove(&subject).unwrap_or_default();
        if !(all || self.flagged.contains(&subject)) {
            return Vec::new();
        }
        let mut events = timeline.events;
        if timeline.dropped > 0
            && let Some(last) = events.last()
        {
            let note = Event::new(
                last.ts,
                subject,
                "timeline-truncated",
                format!("{} more events not kept", timeline.dropped),
            );
            events.push(note);
        }
        events
    }

    /// Timelines of subjects other than connections (VRRP groups, hops), at the end.
    pub fn take_remaining_timelines(&mut self, all: bool) -> BTreeMap<Subject, Vec<Event>> {
        let subjects: Vec<Subject> = self.timelines.keys().copied().collect();
        subjects
            .into_iter()
            .map(|subject| (subject, self.take_timeline(subject, all)))
            .filter(|(_, events)| !events.is_empty())
            .collect()
    }

    /// Writes one JSON line `{"type": kind, ...value}` when streaming.
    pub fn write_line<T: serde::Serialize>(&mut self, kind: &str, value: &T) {
        if let Some(stream) = self.stream.as_mut() {
            stream.write_line(kind, value);
        }
    }

    /// Streams a connection's record (rendered on the writer thread when there is one).
    pub fn write_connection(&mut self, record: crate::report::ConnectionRecord) {
        if let Some(stream) = self.stream.as_mut() {
            stream.write_connection(record);
        }
    }

    /// Writes what is pending and ends the stream (waits for its writer thread).
    pub fn finish_stream(&mut self) {
        if let Some(stream) = self.stream.as_mut() {
            stream.finish();
        }
    }
}
