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
        }
    }
}
