//! The merger: applies what the shards emitted, in frame order, to one report.
//!
//! It numbers connections 1, 2, 3… in the order they opened (their provisional ids are frame
//! numbers), runs the shared detectors (VRRP, HTTP hops, resets across vantage points) on the
//! frames that are not TCP and on the shards' messages, and adds up the shards' counters at the
//! end. Its memory is one id per open connection.

use super::collector::Collector;
use super::shard::Shard;
use crate::capture::InputSummary;
use crate::config::AnalysisConfig;
use crate::decode::Decoded;
use crate::detect::outbox::{Item, Outbox, Timelines};
use crate::detect::{self, Context, SharedDetector};
use crate::flow::ConnectionId;
use crate::flow::hash::{FastHashMap, fast_hash_map};
use crate::report::lines::LineOutput;
use crate::report::{ConnectionRecord, Report, SCHEMA_VERSION, Subject, Summary};
use crate::time::Timestamp;
use std::collections::BTreeMap;

pub struct Merger {
    config: AnalysisConfig,
    detectors: Vec<Box<dyn SharedDetector>>,
    summary: Summary,
    /// What the shared detectors emit; applied right after each call.
    outbox: Outbox,
    collector: Collector,
    connections: Vec<ConnectionRecord>,
    /// Provisional id → final id, for open connections.
    ids: FastHashMap<ConnectionId, ConnectionId>,
    next_id: u64,
}

impl Merger {
    pub fn new(config: AnalysisConfig, stream: Option<LineOutput>) -> Merger {
        let timelines = config
            .keep_timelines
            .then(|| Timelines::new(config.max_timeline_events));
        let wants_events = config.keep_timelines || stream.is_some();
        Merger {
            detectors: detect::shared_detectors(&config),
            summary: Summary::default(),
            outbox: Outbox::pass_all(wants_events),
            collector: Collector::new(timelines, stream, config.findings_per_code),
            connections: Vec::new(),
            ids: fast_hash_map(),
            next_id: 1,
            config,
        }
    }

    pub fn config(&self) -> &AnalysisConfig {
        &self.config
    }

    /// The merger's own counts (the shards' are added at the end).
    pub fn summary(&self) -> &Summary {
        &self.summary
    }

    /// Connections opened and not yet ended, over all shards.
    pub fn open_connections(&self) -> usize {
        self.ids.len()
    }

    /// A write to the JSON-lines stream failed (e.g. the reader of the pipe went away).
    pub fn stream_error(&mut self) -> Option<std::io::Error> {
        self.collector.take_stream_error()
    }

    /// A frame that passed the filters.
    pub fn count_frame(&mut self, ts: Timestamp, undecoded: bool) {
        self.summary.packets += 1;
        self.summary.undecoded_packets += u64::from(undecoded);
        for detector in self.detectors.iter_mut() {
            detector.on_frame_time(ts);
        }
    }

    /// A frame that is not a TCP segment.
    pub fn packet(&mut self, packet: &Decoded<'_>) {
        let mut context = Context {
            config: &self.config,
            summary: &mut self.summary,
            output: &mut self.outbox,
        };
        for detector in self.detectors.iter_mut() {
            detector.on_packet(packet, &mut context);
        }
        self.emit_own();
    }

    /// Applies a shard's items in their order.
    pub fn apply(&mut self, items: impl Iterator<Item = Item>) {
        for item in items {
            self.apply_item(item);
        }
    }

    pub fn apply_item(&mut self, item: Item) {
        match item {
            Item::Frame(_) | Item::End { .. } => {}
            Item::Opened(provisional) => {
                self.ids.insert(provisional, ConnectionId(self.next_id));
                self.next_id += 1;
            }
            Item::Finding(mut finding) => {
                self.renumber_subject(&mut finding.subject);
                self.collector.add_finding(finding);
            }
            Item::Event(mut event) => {
                self.renumber_subject(&mut event.subject);
                self.collector.add_event(event);
            }
            Item::Shared(mut message) => {
                if let Some(id) = message.connection_id_mut() {
                    *id = self.final_id(*id);
                }
                let mut context = Context {
                    config: &self.config,
                    summary: &mut self.summary,
                    output: &mut self.outbox,
                };
                for detector in self.detectors.iter_mut() {
                    detector.on_shared(&message, &mut context);
                }
                self.emit_own();
            }
            Item::Record(record) => self.record(*record),
            Item::Unrecorded(provisional) => {
                self.ids.remove(&provisional);
            }
        }
    }

    fn record(&mut self, mut record: ConnectionRecord) {
        let provisional = record.id;
        record.id = self.final_id(provisional);
        for event in record.timeline.iter_mut() {
            event.subject = Subject::Connection(record.id);
        }
        self.ids.remove(&provisional);
        if self.collector.is_streaming() {
            self.collector.write_connection(record);
        } else {
            self.connections.push(record);
        }
    }

    fn final_id(&self, provisional: ConnectionId) -> ConnectionId {
        self.ids.get(&provisional).copied().unwrap_or(provisional)
    }

    fn renumber_subject(&self, subject: &mut Subject) {
        if let Subject::Connection(id) = subject {
            *id = self.final_id(*id);
        }
    }

    /// The shared detectors' own findings and events carry final ids already.
    fn emit_own(&mut self) {
        for item in self.outbox.drain() {
            match item {
                Item::Finding(finding) => self.collector.add_finding(finding),
                Item::Event(event) => self.collector.add_event(event),
                _ => {}
            }
        }
    }

    /// Ends the analysis: the shared detectors report, the shards' counters are added, and the
    /// report is built (or its last lines streamed). Fails only when writing the stream failed.
    pub fn finish(
        mut self,
        shards: &[Shard],
        inputs: Vec<InputSummary>,
    ) -> std::io::Result<Report> {
        let mut sections = BTreeMap::new();
        let mut context = Context {
            config: &self.config,
            summary: &mut self.summary,
            output: &mut self.outbox,
        };
        for detector in self.detectors.iter_mut() {
            detector.finish(&mut context, &mut sections);
        }
        self.emit_own();
        let mut evicted_for_capacity = 0;
        for shard in shards {
            let (summary, evicted) = shard.totals();
            self.summary.add(summary);
            evicted_for_capacity += evicted;
        }
        let other_timelines = self
            .collector
            .take_remaining_timelines(self.config.timeline_all);
        let mut connections = std::mem::take(&mut self.connections);
        crate::flow::sort_by_connection_id(&mut connections, |record| record.id);
        let (findings, not_listed) = self.collector.take_findings();
        let mut report = Report {
            schema_version: SCHEMA_VERSION,
            inputs,
            summary: self.summary,
            connections,
            findings,
            sections,
            other_timelines,
            not_listed,
        };
        if evicted_for_capacity > 0
            && let Some(first) = report.inputs.first_mut()
        {
            // Pushed past the per-input warning cap: this one must never be lost.
            first.warnings.push(format!(
                "more than {} connections were open at once: {} of the least recently active were finished early (raise --max-connections)",
                self.config.tracker.max_connections, evicted_for_capacity
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
