//! The analysis pipeline: raw frames → decoded views → connection tracking → detectors →
//! report. One pass, state bounded by open connections; connections are handed to the
//! detectors and turned into records as soon as they are over.
//!
//! The work is split so that it can run on several threads with the same result
//! ([`parallel`]): [`shard::Shard`] tracks connections and runs the per-connection detectors,
//! [`merge::Merger`] applies what shards emit in frame order and runs the shared detectors.
//! [`Analysis`] drives one shard and the merger on the calling thread (`--threads 1`, live
//! capture, fuzzing).

pub mod collector;
pub mod merge;
pub mod parallel;
pub mod shard;

use crate::capture::{Frame, InputSummary};
use crate::config::AnalysisConfig;
use crate::decode::{self, Decoded, Network, Transport};
use crate::report::lines::LineOutput;
use crate::report::{Report, Summary};
use merge::Merger;
use shard::Shard;

/// Connections finished per step at the end of input: their records wait in the outbox (and,
/// sharded, in the channel to the merger) until the merger applies them, so a step bounds that
/// transient memory (4,096 records of HTTP connections held 6 MiB at once).
pub const FINISH_BATCH: usize = 128;

pub struct Analysis {
    shard: Shard,
    merger: Merger,
    /// Frames read so far: the number of the current frame.
    frames: u64,
}

impl Analysis {
    /// `stream`: write JSON lines as the analysis goes (`--format jsonl`) instead of keeping
    /// findings and connections for one document.
    pub fn new(config: AnalysisConfig, stream: Option<LineOutput>) -> Analysis {
        let streaming = stream.is_some();
        Analysis {
            shard: Shard::new(config.clone(), streaming),
            merger: Merger::new(config, stream),
            frames: 0,
        }
    }

    /// A write to the JSON-lines stream failed (e.g. the reader of the pipe went away).
    pub fn stream_error(&mut self) -> Option<std::io::Error> {
        self.merger.stream_error()
    }

    pub fn open_connections(&self) -> usize {
        self.shard.open_connections()
    }

    /// The counts so far (for live capture's status line).
    pub fn summary(&self) -> Summary {
        let mut summary = self.merger.summary().clone();
        summary.add(self.shard.totals().0);
        summary
    }

    /// Analyzes one frame.
    pub fn process(&mut self, frame: &Frame<'_>) {
        self.frames += 1;
        let packet = decode::decode(frame);
        if !passes_filters(self.merger.config(), &packet) {
            return;
        }
        self.merger
            .count_frame(packet.ts, matches!(packet.network, Network::Other));
        if let Network::Ip(ip) = &packet.network
            && let Transport::Tcp(tcp) = &ip.transport
        {
            self.shard.segment(self.frames, &packet, ip, tcp);
            self.merger.apply(self.shard.outbox.drain());
        } else {
            self.merger.packet(&packet);
        }
    }

    /// The input is over: finishes every open connection, unless writing the stream already
    /// failed (`stream_error`).
    pub fn end(mut self, stream_error: Option<std::io::Error>) -> Finished {
        if stream_error.is_none() {
            while self.shard.finish_some(FINISH_BATCH) {
                self.merger.apply(self.shard.outbox.drain());
            }
        }
        Finished {
            merger: self.merger,
            shards: vec![self.shard],
            stream_error,
        }
    }

    /// Ends the analysis: finishes every open connection and builds the report. Fails only
    /// when writing the JSON-lines stream failed.
    pub fn finish(self, inputs: Vec<InputSummary>) -> std::io::Result<Report> {
        self.end(None).report(inputs)
    }
}

/// An analysis at the end of input, on one thread or sharded: every connection ended (unless
/// the stream failed), the report not built yet.
pub struct Finished {
    pub merger: Merger,
    pub shards: Vec<Shard>,
    pub stream_error: Option<std::io::Error>,
}

impl Finished {
    /// Builds the report. Fails when writing the JSON-lines stream failed, before or now.
    pub fn report(self, inputs: Vec<InputSummary>) -> std::io::Result<Report> {
        match self.stream_error {
            Some(error) => Err(error),
            None => self.merger.finish(&self.shards, inputs),
        }
    }
}

/// `--host` and `--port`: whether the frame is analyzed at all.
pub fn passes_filters(config: &AnalysisConfig, packet: &Decoded<'_>) -> bool {
    if !config.filters_frames() {
        return true;
    }
    let Network::Ip(ip) = &packet.network else {
        return false;
    };
    let host_ok = config.hosts.is_empty()
        || config.hosts.contains(&ip.source)
        || config.hosts.contains(&ip.destination);
    let port_ok = config.ports.is_empty()
        || match &ip.transport {
            Transport::Tcp(tcp) => {
                config.ports.contains(&tcp.source_port)
                    || config.ports.contains(&tcp.destination_port)
            }
            _ => false,
        };
    host_ok && port_ok
}
