//! One shard of the per-connection analysis: connection tracking and the per-connection
//! detectors for the TCP segments whose tuple hashes to it (all of them with one thread).
//!
//! A shard writes nothing itself: what it finds goes to its [`Outbox`] under the number of
//! the frame that caused it, for the merger to put in frame order. Every shard also sees the
//! time of every other TCP segment ([`Shard::pass_time`]), so connections end (closing grace,
//! idle horizon) at the same frame whichever shard holds them.

use crate::config::AnalysisConfig;
use crate::decode::{Decoded, IpPacket, TcpSegment};
use crate::detect::outbox::{Item, Outbox, Timelines};
use crate::detect::{self, Context, Details, Detector, Segment};
use crate::flow::{
    Connection, ConnectionId, Endpoint, FlowKey, SegmentAnalysis, SegmentFacts, Tracker, Tracking,
};
use crate::report::{ConnectionRecord, Subject, Summary};
use crate::time::Timestamp;

/// The end of input, as the frame number of connections finished then.
pub const END_OF_INPUT: u64 = u64::MAX;

/// Ended connections whose room a shard keeps between frames.
const KEPT_ENDED_ROOM: usize = 64;

pub struct Shard {
    config: AnalysisConfig,
    tracker: Tracker,
    /// Room for the connections that end at one frame, reused.
    ended: Vec<Connection>,
    detectors: Vec<Box<dyn Detector>>,
    summary: Summary,
    pub outbox: Outbox,
}

impl Shard {
    /// `stream_events`: the merger streams events as JSON lines.
    pub fn new(config: AnalysisConfig, stream_events: bool) -> Shard {
        let timelines = config
            .keep_timelines
            .then(|| Timelines::new(config.max_timeline_events));
        Shard {
            tracker: Tracker::new(config.tracker),
            ended: Vec::new(),
            detectors: detect::connection_detectors(&config),
            summary: Summary::default(),
            outbox: Outbox::for_shard(timelines, stream_events),
            config,
        }
    }

    pub fn open_connections(&self) -> usize {
        self.tracker.open_connections()
    }

    /// What this shard counted, and how many connections it finished early at the cap.
    pub fn totals(&self) -> (&Summary, u64) {
        (&self.summary, self.tracker.evicted_for_capacity)
    }

    /// A TCP segment of this shard, in frame `seq`. A connection it opens is numbered `seq`
    /// until the merger renumbers it.
    pub fn segment(
        &mut self,
        seq: u64,
        packet: &Decoded<'_>,
        ip: &IpPacket<'_>,
        tcp: &TcpSegment<'_>,
    ) {
        let marker = self.outbox.len();
        self.outbox.push(Item::Frame(seq));
        self.track(seq, packet, ip, tcp);
        if self.outbox.len() == marker + 1 {
            self.outbox.pop();
        }
        self.end_connections(seq);
    }

    /// A TCP segment of another shard at `ts`, in frame `seq`: connections due to end by then
    /// end here too.
    pub fn pass_time(&mut self, seq: u64, ts: Timestamp) {
        self.tracker.advance(ts);
        self.end_connections(seq);
    }

    /// At the end of input: finishes up to `limit` of the remaining connections, oldest first.
    /// Returns false when none was left.
    pub fn finish_some(&mut self, limit: usize) -> bool {
        let batch = self.tracker.finish_batch(limit);
        if batch.is_empty() {
            return false;
        }
        for connection in batch {
            self.end_connection(END_OF_INPUT, connection);
        }
        true
    }

    fn track(&mut self, seq: u64, packet: &Decoded<'_>, ip: &IpPacket<'_>, tcp: &TcpSegment<'_>) {
        let (key, source, destination) = flow_of(&self.config, packet, ip, tcp);
        let facts = SegmentFacts {
            tcp,
            ttl: ip.ttl,
            ip_id: ip.ip_id,
        };
        let new_id = ConnectionId(seq);
        let tracked = match self
            .tracker
            .track(packet.ts, key, source, destination, facts, new_id)
        {
            Tracking::Connection(tracked) => tracked,
            Tracking::Late => {
                self.summary.late_segments += 1;
                self.summary.rsts += u64::from(tcp.flags.rst());
                return;
            }
        };
        let analysis = tracked.analysis;
        if analysis.opened {
            self.outbox.push(Item::Opened(tracked.connection.id));
        }
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
            output: &mut self.outbox,
        };
        for detector in self.detectors.iter_mut() {
            detector.on_segment(&segment, &mut context);
        }
    }

    fn end_connections(&mut self, seq: u64) {
        if self.tracker.has_ended() {
            let mut ended = std::mem::take(&mut self.ended);
            self.tracker.take_ended_into(&mut ended);
            for connection in ended.drain(..) {
                self.end_connection(seq, connection);
            }
            // A burst (a sweep of idle connections) does not keep its room for good.
            if ended.capacity() <= KEPT_ENDED_ROOM {
                self.ended = ended;
            }
        }
    }

    fn end_connection(&mut self, seq: u64, connection: Connection) {
        self.outbox.push(Item::End {
            seq,
            id: connection.id,
        });
        self.summary.tcp_connections += 1;
        let mut details = Details::default();
        let mut context = Context {
            config: &self.config,
            summary: &mut self.summary,
            output: &mut self.outbox,
        };
        for detector in self.detectors.iter_mut() {
            detector.on_connection_end(&connection, &mut context, &mut details);
        }
        let timeline = self
            .outbox
            .take_timeline(Subject::Connection(connection.id), self.config.timeline_all);
        if self.config.records.wants(&timeline) {
            let record = connection_record(&connection, details, timeline);
            self.outbox.push(Item::Record(Box::new(record)));
        } else {
            self.outbox.push(Item::Unrecorded(connection.id));
        }
    }
}

/// The key a segment is tracked under (also what the parallel reader shards by), and its
/// source and destination.
pub fn flow_of(
    config: &AnalysisConfig,
    packet: &Decoded<'_>,
    ip: &IpPacket<'_>,
    tcp: &TcpSegment<'_>,
) -> (FlowKey, Endpoint, Endpoint) {
    let source = Endpoint {
        ip: ip.source,
        port: tcp.source_port,
    };
    let destination = Endpoint {
        ip: ip.destination,
        port: tcp.destination_port,
    };
    let key = flow_key(
        config,
        packet.input,
        packet.interface,
        packet.vlan,
        source,
        destination,
    );
    (key, source, destination)
}

/// The key of a segment between `source` and `destination` read from `input`.
pub fn flow_key(
    config: &AnalysisConfig,
    input: u16,
    interface: u32,
    vlan: Option<u16>,
    source: Endpoint,
    destination: Endpoint,
) -> FlowKey {
    // Several inputs are several vantage points unless they are parts of one capture.
    let vantage = if config.one_vantage { 0 } else { input };
    FlowKey::new(vantage, interface, vlan, source, destination)
}

fn count_segment(summary: &mut Summary, tcp: &TcpSegment<'_>, analysis: &SegmentAnalysis) {
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
        client: connection.client_endpoint(),
        server: connection.server_endpoint(),
        input: connection.key.input,
        vlan: connection.key.vlan,
        start: connection.start,
        end: connection.last_seen,
        packets: connection.packets(),
        bytes: connection.bytes(),
        state: connection.state.name(),
        max_idle_s: crate::report::round_micros(connection.max_idle_nanos as f64 / 1e9),
        max_idle_end: connection.max_idle_end.map(crate::report::epoch_seconds),
        roles_inferred: connection.roles_inferred,
        rtt_s: connection.path_rtt().map(crate::report::round_micros),
        retransmissions: connection.client.retransmissions + connection.server.retransmissions,
        http: details.http,
        keepalive: details.keepalive,
        rsts: details.rsts,
        timeline,
    }
}
