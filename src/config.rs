//! The validated settings of one analysis, built from the command line (or by tests).

use crate::flow::TrackerConfig;
use std::net::IpAddr;

#[derive(Clone, Debug)]
pub struct AnalysisConfig {
    pub tracker: TrackerConfig,
    /// `--idle-threshold`: an idle gap at least this long, with no keepalive, is reported.
    pub idle_threshold_secs: f64,
    /// `--middlebox-timeout`: idle timeouts of devices on the path, as stated by the user.
    pub middlebox_timeouts_secs: Vec<f64>,
    /// `--show-secrets`: print Authorization, Cookie, query strings and VRRP passwords.
    pub show_secrets: bool,
    /// Keep per-connection event lists for `--timeline`.
    pub keep_timelines: bool,
    /// `--all`: timelines for every connection, not only those with findings.
    pub timeline_all: bool,
    /// `--host`: analyze only packets from or to these addresses (empty: all).
    pub hosts: Vec<IpAddr>,
    /// `--port`: analyze only TCP/UDP packets from or to these ports (empty: all).
    pub ports: Vec<u16>,
    /// Most events kept per timeline; older detail past this is summarized as a count.
    pub max_timeline_events: usize,
    /// How many inputs are analyzed together (several enable vantage-point correlation).
    pub input_count: usize,
    /// `--one-vantage`: the inputs are consecutive parts of one capture (`-w` rotation,
    /// `tcpdump -C`), so a connection continues across them instead of being a second copy.
    pub one_vantage: bool,
    /// Which connection records the output needs.
    pub records: RecordsKept,
    /// Keep at most this many findings of each code, the earliest (the table's
    /// `--findings-per-code`); None keeps all (JSON). The summary counts every finding.
    pub findings_per_code: Option<usize>,
    /// Threads the analysis runs on (`--threads`): the report-wide work left after the last
    /// frame (the HTTP hops' records and findings) is split over them too.
    pub threads: usize,
}

/// Which connection records are built when a connection ends.
///
/// The table, kaprobe's default output, shows findings, sections and the summary; of a
/// connection's record it reads only the timeline. Keeping every record for it made the
/// default output's memory grow with the number of connections in the file (about 1 KiB
/// each: gigabytes on a long capture of a busy load balancer), which the streaming analysis
/// otherwise avoids. `--format json` needs them all, by design; `--format jsonl` streams them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecordsKept {
    All,
    /// Only records with a timeline (`--format table --timeline`).
    WithTimeline,
    None,
}

impl RecordsKept {
    /// The records `format` prints.
    pub fn for_output(format: crate::cli::Format, timeline: bool) -> RecordsKept {
        match format {
            crate::cli::Format::Json | crate::cli::Format::Jsonl => RecordsKept::All,
            crate::cli::Format::Table if timeline => RecordsKept::WithTimeline,
            crate::cli::Format::Table => RecordsKept::None,
        }
    }

    /// Whether a connection whose timeline is `timeline` gets a record.
    pub fn wants(self, timeline: &[crate::report::Event]) -> bool {
        match self {
            RecordsKept::All => true,
            RecordsKept::WithTimeline => !timeline.is_empty(),
            RecordsKept::None => false,
        }
    }
}

impl AnalysisConfig {
    /// `--host` or `--port` was given: frames are decoded to be filtered.
    pub fn filters_frames(&self) -> bool {
        !(self.hosts.is_empty() && self.ports.is_empty())
    }

    /// The shortest idle timeout the user stated for the path: advice must keep below it.
    pub fn smallest_middlebox_timeout(&self) -> Option<f64> {
        self.middlebox_timeouts_secs
            .iter()
            .copied()
            .reduce(f64::min)
    }
}

impl Default for AnalysisConfig {
    fn default() -> Self {
        AnalysisConfig {
            tracker: TrackerConfig::default(),
            idle_threshold_secs: 60.0,
            middlebox_timeouts_secs: Vec::new(),
            show_secrets: false,
            keep_timelines: false,
            timeline_all: false,
            hosts: Vec::new(),
            ports: Vec::new(),
            max_timeline_events: 400,
            input_count: 1,
            one_vantage: false,
            records: RecordsKept::All,
            findings_per_code: None,
            threads: 1,
        }
    }
}
