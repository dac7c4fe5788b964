//! The findings a table lists: of each code, the earliest few; the rest only counted.
//!
//! A capture of a busy load balancer can hold tens of thousands of findings of one code (every
//! pooled connection closed idle, every reset by one middlebox). A table of them all is read by
//! nobody, and kept whole it made the default output's memory grow with the file. Like
//! tshark's expert summary (`-z expert`), which counts entries per message, the table lists
//! the first `limit` findings of each code in its own order (severity, then time) and one line
//! per code for the rest. JSON output lists every finding; the summary counts every finding.

use super::{Finding, Severity};
use crate::time::Timestamp;
use std::cmp::Ordering;
use std::collections::{BTreeMap, BinaryHeap};

/// Findings of one code that the table does not list.
#[derive(Clone, Debug, PartialEq)]
pub struct NotListed {
    pub severity: Severity,
    pub code: &'static str,
    pub count: u64,
    pub first: Timestamp,
    pub last: Timestamp,
}

pub struct Shortlist {
    limit: usize,
    /// Emission order, so that findings at the same time keep the order they were made in.
    next_sequence: u64,
    codes: BTreeMap<(Severity, &'static str), Earliest>,
}

/// The earliest findings of one code, the latest of them on top to be displaced.
#[derive(Default)]
struct Earliest {
    kept: BinaryHeap<Entry>,
    not_listed: Option<NotListed>,
}

struct Entry {
    sequence: u64,
    finding: Finding,
}

impl Entry {
    fn order(&self) -> (Timestamp, u64) {
        (self.finding.ts, self.sequence)
    }
}

impl PartialEq for Entry {
    fn eq(&self, other: &Self) -> bool {
        self.order() == other.order()
    }
}

impl Eq for Entry {}

impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Entry {
    fn cmp(&self, other: &Self) -> Ordering {
        self.order().cmp(&other.order())
    }
}

impl Earliest {
    fn count_out(&mut self, finding: &Finding) {
        let ts = finding.ts;
        let not_listed = self.not_listed.get_or_insert(NotListed {
            severity: finding.severity,
            code: finding.code,
            count: 0,
            first: ts,
            last: ts,
        });
        not_listed.count += 1;
        not_listed.first = not_listed.first.min(ts);
        not_listed.last = not_listed.last.max(ts);
    }
}

impl Shortlist {
    /// At most `limit` findings of each code are kept (at least one).
    pub fn new(limit: usize) -> Shortlist {
        Shortlist {
            limit: limit.max(1),
            next_sequence: 0,
            codes: BTreeMap::new(),
        }
    }

    pub fn add(&mut self, finding: Finding) {
        let entry = Entry {
            sequence: self.next_sequence,
            finding,
        };
        self.next_sequence += 1;
        let earliest = self
            .codes
            .entry((entry.finding.severity, entry.finding.code))
            .or_default();
        if earliest.kept.len() < self.limit {
            earliest.kept.push(entry);
            return;
        }
        let Some(mut latest) = earliest.kept.peek_mut() else {
            return;
        };
        let out = if entry < *latest {
            std::mem::replace(&mut *latest, entry)
        } else {
            entry
        };
        drop(latest);
        earliest.count_out(&out.finding);
    }

    /// The listed findings in the order they were made, and the counts of the others, most
    /// severe first.
    pub fn finish(self) -> (Vec<Finding>, Vec<NotListed>) {
        let mut listed = Vec::new();
        let mut not_listed = Vec::new();
        for earliest in self.codes.into_values() {
            listed.extend(earliest.kept.into_vec());
            not_listed.extend(earliest.not_listed);
        }
        listed.sort_unstable_by_key(|entry| entry.sequence);
        not_listed.sort_by(|a, b| b.severity.cmp(&a.severity).then(a.code.cmp(b.code)));
        let findings = listed.into_iter().map(|entry| entry.finding).collect();
        (findings, not_listed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::ConnectionId;
    use crate::report::Subject;

    fn finding(code: &'static str, severity: Severity, seconds: i64, id: u64) -> Finding {
        Finding {
            code,
            severity,
            ts: Timestamp::from_nanos(seconds * 1_000_000_000),
            subject: Subject::Connection(ConnectionId(id)),
            message: String::new(),
            advice: String::new(),
            evidence: serde_json::Map::new(),
        }
    }

    fn ids(findings: &[Finding]) -> Vec<String> {
        findings.iter().map(|f| f.subject.to_string()).collect()
    }

    #[test]
    fn below_the_limit_every_finding_is_listed_in_the_order_it_was_made() {
        let mut shortlist = Shortlist::new(3);
        for (id, seconds) in [(1, 9), (2, 3), (3, 3)] {
            shortlist.add(finding("a", Severity::Info, seconds, id));
        }
        shortlist.add(finding("b", Severity::Error, 1, 4));
        let (listed, not_listed) = shortlist.finish();
        assert_eq!(ids(&listed), ["tcp/1", "tcp/2", "tcp/3", "tcp/4"]);
        assert!(not_listed.is_empty());
    }

    #[test]
    fn past_the_limit_the_earliest_of_each_code_are_listed_and_the_rest_counted() {
        let mut shortlist = Shortlist::new(2);
        // Made out of time order (findings are made when connections end).
        for (id, seconds) in [(1, 50), (2, 10), (3, 40), (4, 10), (5, 70), (6, 20)] {
            shortlist.add(finding("idle", Severity::Info, seconds, id));
        }
        shortlist.add(finding("reset", Severity::Warning, 60, 7));
        let (listed, not_listed) = shortlist.finish();
        // At 10 s twice: the one made first is first in the table's order.
        assert_eq!(ids(&listed), ["tcp/2", "tcp/4", "tcp/7"]);
        let idle = NotListed {
            severity: Severity::Info,
            code: "idle",
            count: 4,
            first: Timestamp::from_nanos(20_000_000_000),
            last: Timestamp::from_nanos(70_000_000_000),
        };
        assert_eq!(not_listed, [idle]);
    }

    #[test]
    fn counts_are_most_severe_first() {
        let mut shortlist = Shortlist::new(1);
        for (code, severity) in [("x", Severity::Info), ("y", Severity::Error)] {
            for id in 0..3 {
                shortlist.add(finding(code, severity, 1, id));
            }
        }
        let (_, not_listed) = shortlist.finish();
        let order: Vec<_> = not_listed.iter().map(|n| (n.code, n.count)).collect();
        assert_eq!(order, [("y", 2), ("x", 2)]);
    }
}
