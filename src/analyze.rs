//! The analysis pipeline: raw frames → decoded views → connection tracking → detectors →
//! report. One pass, state bounded by open connections; connections are handed to the
//! detectors and turned into records as soon as they are over.

use crate::capture::{Frame, InputSummary};
use crate::config::AnalysisConfig;
use crate::decode::{self, Decoded, IpPacket, Network, TcpSegment, Transport};
use crate::detect::{self, Collector, Context, Details, Detector, Segment};
use crate::flow::{Connection, Endpoint, FlowKey, SegmentFacts, Tracker, Tracking};
use crate::report::lines::LineOutput;
use crate::report::{ConnectionRecord, Report, SCHEMA_VERSION, Subject, Summary};
use std::collections::BTreeMap;

/// Connections finished per step at the end of input (bounds the transient list).
const FINISH_BATCH: usize = 4096;

pub struct Analysis {
    config: AnalysisConfig,
    tracker: Tracker,
    detectors: Vec<Box<dyn Detector>>,
    summary: Summary,
    collector: Collector,
    connections: Vec<ConnectionRecord>,
}

impl Analysis {
    /// `stream`: write JSON lines as the analysis goes (`--format jsonl`) instead of keeping
    /// findings and connections for one document.
    pub fn new(config: AnalysisConfig, stream: Option<LineOutput>) -> Analysis {
        Analysis {
            tracker: Tracker::new(config.tracker),
            detectors: detect::all_detectors(&config),
            summary: Summary::default(),
            collector: Collector::new(config.keep_timelines, stream),
            connections: Vec::new(),
            config,
        }
    }

    /// A write to the JSON-lines stream failed (e.g. the reader of the pipe went away).
    pub fn stream_error(&mut self) -> Option<std::io::Error> {
        self.collector.take_stream_error()
    }

    pub fn open_connections(&self) -> usize {
        self.tracker.open_connections()
    }

    pub fn summary(&self) -> &Summary {
        &self.summary
    }

    /// Analyzes one frame.
    pub fn process(&mut self, frame: &Frame<'_>) {
        let packet = decode::decode(frame);
        if !self.passes_filters(&packet) {
            return;
        }
        self.summary.packets += 1;
        if matches!(packet.network, Network::Other) {
            self.summary.undecoded_packets += 1;
        }
        let mut context = Context {
            config: &self.config,
            summary: &mut self.summary,
            output: &mut self.collector,
        };
        for detector in self.detectors.iter_mut() {
            detector.on_packet(&packet, &mut context);
        }
        if let Network::Ip(ip) = &packet.network
            && let Transport::Tcp(tcp) = &ip.transport
        {
            self.process_tcp(&packet, ip, tcp);
        }
        if self.tracker.has_ended() {
            let ended = self.tracker.take_ended();
            self.end_connections(ended);
        }
    }

    fn process_tcp(&mut self, packet: &Decoded<'_>, ip: &IpPacket<'_>, tcp: &TcpSegment<'_>) {
        let source = Endpoint {
            ip: ip.source,
            port: tcp.source_port,
        };
        let destination = Endpoint {
            ip: ip.destination,
            port: tcp.destination_port,
        };
        // Several inputs are several vantage points unless they are parts of one capture.
        let vantage = if self.config.one_vantage {
            0
        } else {
            packet.input
        };
        let key = FlowKey::new(vantage, packet.interface, packet.vlan, source, destination);
        let facts = SegmentFacts {
            tcp,
            ttl: ip.ttl,
            ip_id: ip.ip_id,
        };
        let tracked = match self
            .tracker
            .track(packet.ts, key, source, destination, facts)
        {
            Tracking::Connection(tracked) => tracked,
            Tracking::Late => {
                self.summary.late_segments += 1;
                self.summary.rsts += u64::from(tcp.flags.rst());
                return;
            }
        };
        let analysis = tracked.analysis;
        count_segment(&mut self.summary, tcp, &analysis);
        let segment = Segment {
            packet,
            ip,
            tcp,
            connection: tracked.connection,
            analysis,
        };
        let mut context = Context {
            config: &self.config,
            summary: &mut self.summary,
            output: &mut self.collector,
        };
        for detector in self.detectors.iter_mut() {
            detector.on_segment(&segment, &mut context);
        }
    }

    fn passes_filters(&self, packet: &Decoded<'_>) -> bool {
        if self.config.hosts.is_empty() && self.config.ports.is_empty() {
            return true;
        }
        let Network::Ip(ip) = &packet.network else {
            return false;
        };
        let host_ok = self.config.hosts.is_empty()
            || self.config.hosts.contains(&ip.source)
            || self.config.hosts.contains(&ip.destination);
        let port_ok = self.config.ports.is_empty()
            || match &ip.transport {
                Transport::Tcp(tcp) => {
                    self.config.ports.contains(&tcp.source_port)
                        || self.config.ports.contains(&tcp.destination_port)
                }
                _ => false,
            };
        host_ok && port_ok
    }

    fn end_connections(&mut self, ended: Vec<Connection>) {
        for connection in ended {
            self.end_connection(connection);
        }
    }

    fn end_connection(&mut self, connection: Connection) {
        self.summary.tcp_connections += 1;
        let mut details = Details::default();
        let mut context = Context {
            config: &self.config,
            summary: &mut self.summary,
            output: &mut self.collector,
        };
        for detector in self.detectors.iter_mut() {
            detector.on_connection_end(&connection, &mut context, &mut details);
        }
        let subject = Subject::Connection(connection.id);
        let timeline = if self.config.keep_timelines {
            self.collector
                .take_timeline(subject, self.config.timeline_all)
        } else {
            Vec::new()
        };
        let record = connection_record(&connection, details, timeline);
        if self.collector.is_streaming() {
            self.collector.write_connection(record);
        } else {
            self.connections.push(record);
        }
    }

    /// Ends the analysis: finishes every open connection and builds the report. Fails only
    /// when writing the JSON-lines stream failed.
    pub fn finish(mut self, inputs: Vec<InputSummary>) -> std::io::Result<Report> {
        loop {
            let batch = self.tracker.finish_batch(FINISH_BATCH);
            if batch.is_empty() {
                break;
            }
            self.end_connections(batch);
        }
        let mut sections = BTreeMap::new();
        let mut context = Context {
            config: &self.config,
            summary: &mut self.summary,
            output: &mut self.collector,
        };
        for detector in self.detectors.iter_mut() {
            detector.finish(&mut context, &mut sections);
        }
        let other_timelines = if self.config.keep_timelines {
            self.collector
                .take_remaining_timelines(self.config.timeline_all)
        } else {
            BTreeMap::new()
        };
        let mut connections = std::mem::take(&mut self.connections);
        crate::flow::sort_by_connection_id(&mut connections, |record| record.id);
        let mut report = Report {
            schema_version: SCHEMA_VERSION,
            inputs,
            summary: self.summary,
            connections,
            findings: std::mem::take(&mut self.collector.findings),
            sections,
            other_timelines,
        };
        if self.tracker.evicted_for_capacity > 0
            && let Some(first) = report.inputs.first_mut()
        {
            // Pushed past the per-input warning cap: this one must never be lost.
            first.warnings.push(format!(
                "more than {} connections were open at once: {} of the least recently active were finished early (raise --max-connections)",
                self.config.tracker.max_connections, self.tracker.evicted_for_capacity
            ));
        }
        if self.collector.is_streaming() {
            for (name, section) in &report.sections {
                self.collector.write_line(name, section);
            }
            let closing = serde_json::json!({
                "schema_version": SCHEMA_VERSION,
                "inputs": report.inputs,
                "summary": report.summary,
            });
            self.collector.write_line("summary", &closing);
            self.collector.finish_stream();
        }
        match self.collector.take_stream_error() {
            Some(error) => Err(error),
            None => Ok(report),
        }
    }
}

fn count_segment(
    summary: &mut Summary,
    tcp: &TcpSegment<'_>,
    analysis: &crate::flow::SegmentAnalysis,
) {
    if tcp.flags.rst() {
        summary.rsts += 1;
    }
    if analysis.keepalive_probe {
        summary.keepalive_probes += 1;
    }
    if analysis.keepalive_ack {
        summary.keepalive_acks += 1;
    }
    if analysis.zero_window_probe {
        summary.zero_window_probes += 1;
    }
}

fn connection_record(
    connection: &Connection,
    details: Details,
    timeline: Vec<crate::report::Event>,
) -> ConnectionRecord {
    ConnectionRecord {
        id: connection.id,
        client: connection.client.endpoint,
        server: connection.server.endpoint,
        input: connection.key.input,
        vlan: connection.key.vlan,
        start: connection.start,
        end: connection.last_seen,
        packets: connection.packets,
        bytes: connection.bytes,
        state: connection.state.name(),
        max_idle_s: crate::report::round_micros(connection.max_idle_nanos as f64 / 1e9),
        max_idle_end: connection.max_idle_end.map(crate::report::epoch_seconds),
        roles_inferred: connection.roles_inferred,
        rtt_s: connection.path_rtt().map(crate::report::round_micros),
        retransmissions: connection.client.retransmissions + connection.server.retransmissions,
        details,
        timeline,
    }
}
