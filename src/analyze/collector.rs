//! The report as it is being built: findings kept for one document or streamed as JSON lines,
//! and the timelines of subjects that are not connections (VRRP groups, hops). Written only
//! by the merger, in frame order.

use crate::detect::outbox::Timelines;
use crate::report::lines::LineOutput;
use crate::report::shortlist::{NotListed, Shortlist};
use crate::report::{ConnectionRecord, Event, Finding, Subject};
use std::collections::BTreeMap;

pub struct Collector {
    findings: Findings,
    /// With `--timeline`: subjects other than connections (theirs travel in their records).
    timelines: Option<Timelines>,
    stream: Option<LineOutput>,
}

/// Findings kept for the end: all of them for one document, the earliest of each code for a
/// table (`--findings-per-code`).
enum Findings {
    All(Vec<Finding>),
    Shortlist(Shortlist),
}

impl Collector {
    /// `findings_per_code`: keep only this many findings of each code (None: all).
    pub fn new(
        timelines: Option<Timelines>,
        stream: Option<LineOutput>,
        findings_per_code: Option<usize>,
    ) -> Collector {
        let findings = match findings_per_code {
            Some(limit) => Findings::Shortlist(Shortlist::new(limit)),
            None => Findings::All(Vec::new()),
        };
        Collector {
            findings,
            timelines,
            stream,
        }
    }

    /// The findings kept, in the order they were made, and counts of those not kept.
    pub fn take_findings(&mut self) -> (Vec<Finding>, Vec<NotListed>) {
        match std::mem::replace(&mut self.findings, Findings::All(Vec::new())) {
            Findings::All(findings) => (findings, Vec::new()),
            Findings::Shortlist(shortlist) => shortlist.finish(),
        }
    }

    /// The first error writing the stream (e.g. a closed pipe); the run stops on it.
    pub fn take_stream_error(&mut self) -> Option<std::io::Error> {
        self.stream.as_mut().and_then(LineOutput::take_error)
    }

    pub fn is_streaming(&self) -> bool {
        self.stream.is_some()
    }

    pub fn add_finding(&mut self, finding: Finding) {
        if let Some(timelines) = self.timelines.as_mut()
            && !matches!(finding.subject, Subject::Connection(_))
        {
            timelines.flag(finding.subject);
        }
        if self.stream.is_some() {
            self.write_line("finding", &finding);
            return;
        }
        match &mut self.findings {
            Findings::All(findings) => findings.push(finding),
            Findings::Shortlist(shortlist) => shortlist.add(finding),
        }
    }

    pub fn add_event(&mut self, event: Event) {
        // Data runs are summarized in the connection record, not streamed one by one.
        if event.kind != "data"
            && let Some(stream) = self.stream.as_mut()
        {
            stream.write_event(&event);
        }
        if let Some(timelines) = self.timelines.as_mut()
            && !matches!(event.subject, Subject::Connection(_))
        {
            timelines.add(event);
        }
    }

    /// Timelines of subjects other than connections, at the end.
    pub fn take_remaining_timelines(&mut self, all: bool) -> BTreeMap<Subject, Vec<Event>> {
        self.timelines
            .as_mut()
            .map(|timelines| timelines.take_remaining(all))
            .unwrap_or_default()
    }

    /// Writes one JSON line `{"type": kind, ...value}` when streaming.
    pub fn write_line<T: serde::Serialize>(&mut self, kind: &str, value: &T) {
        if let Some(stream) = self.stream.as_mut() {
            stream.write_line(kind, value);
        }
    }

    /// Streams a connection's record (rendered on the writer thread when there is one).
    pub fn write_connection(&mut self, record: ConnectionRecord) {
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
