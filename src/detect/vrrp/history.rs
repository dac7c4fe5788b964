//! From a group's runs to its story: master periods, master changes with their cause, gaps
//! without a master, and overlaps (two masters at once).
//!
//! A master period is a router's consecutive runs with no silence longer than any backup
//! would wait; a priority-0 advert ends it (the master resigned, RFC 3768 §6.4.3). Causes
//! follow the election rules (RFC 3768 §6.4.2, RFC 5798 §6.4.2): a backup replaces a master
//! early only when the master resigns or when it has a higher priority and preempts;
//! otherwise it waits Master_Down_Interval after the master's last advert.

use super::group::{Group, Run};
use super::timing;
use crate::time::Timestamp;
use std::net::IpAddr;

/// One router's time as master.
#[derive(Clone, Debug)]
pub struct MasterPeriod {
    pub router: IpAddr,
    pub from: Timestamp,
    pub to: Timestamp,
    pub adverts: u64,
    /// Priority of its first and last non-zero run.
    pub first_priority: u8,
    pub last_priority: u8,
    pub interval_centis: u16,
    /// It ended with a priority-0 advert.
    pub resigned: bool,
    /// (when, old, new) for priority changes while master (tracked scripts).
    pub priority_changes: Vec<(Timestamp, u8, u8)>,
}

impl MasterPeriod {
    fn start(run: &Run) -> MasterPeriod {
        MasterPeriod {
            router: run.router,
            from: run.from,
            to: run.to,
            adverts: run.adverts,
            first_priority: run.priority,
            last_priority: run.priority,
            interval_centis: run.interval_centis,
            resigned: run.priority == 0,
            priority_changes: Vec::new(),
        }
    }

    fn absorb(&mut self, run: &Run) {
        self.to = run.to;
        self.adverts += run.adverts;
        self.interval_centis = run.interval_centis;
        if run.priority == 0 {
            self.resigned = true;
            return;
        }
        if run.priority != self.last_priority && self.priority_changes.len() < 16 {
            self.priority_changes
                .push((run.from, self.last_priority, run.priority));
        }
        self.last_priority = run.priority;
    }

    pub fn interval_s(&self) -> f64 {
        timing::interval_secs(self.interval_centis)
    }
}

/// Why mastership moved.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cause {
    /// The old master sent priority 0.
    Resigned,
    /// A higher-priority router took over while the old master was alive.
    Preempted,
    /// The old master lowered its priority below the new one's first (track_script).
    PriorityLowered,
    /// The old master stopped advertising; the new one took over after the down timer.
    MasterSilent,
    /// Both advertised at once and the old one gave up without being outranked.
    Contested,
}

impl Cause {
    pub fn name(self) -> &'static str {
        match self {
            Cause::Resigned => "master-resigned",
            Cause::Preempted => "preempted",
            Cause::PriorityLowered => "priority-lowered",
            Cause::MasterSilent => "master-silent",
            Cause::Contested => "contested",
        }
    }
}

/// A change of master: `old` period → `new` period.
#[derive(Clone, Debug)]
pub struct Transition {
    pub old: usize,
    pub new: usize,
    pub cause: Cause,
    /// From the old master's last advert to the new master's first (negative: overlap).
    pub gap_s: f64,
    /// How long the new master was expected to wait: Skew_Time after a resignation,
    /// Master_Down_Interval otherwise, both for the new master's priority.
    pub expected_s: f64,
    pub within_expected: bool,
    /// How long the group had no master: 0 when the old master handed over on seeing a
    /// better advert (preemption), else the gap.
    pub no_master_s: f64,
}

/// Two routers advertising as master at once.
#[derive(Clone, Debug)]
pub struct Overlap {
    pub first: usize,
    pub second: usize,
    pub from: Timestamp,
    pub to: Timestamp,
}

impl Overlap {
    pub fn duration_s(&self) -> f64 {
        self.to.secs_since(self.from)
    }
}

/// The analyzed history of one group.
pub struct History {
    pub periods: Vec<MasterPeriod>,
    pub transitions: Vec<Transition>,
    /// Overlaps longer than one advert interval (split brain).
    pub overlaps: Vec<Overlap>,
}

/// Builds master periods from runs (sorted by start).
pub fn master_periods(group: &Group) -> Vec<MasterPeriod> {
    let version = group.key.version;
    let mut by_router = group.all_runs();
    by_router.sort_by_key(|run| (run.router, run.from));
    let mut periods: Vec<MasterPeriod> = Vec::new();
    for run in &by_router {
        match periods.last_mut() {
            Some(period)
                if period.router == run.router
                    && !period.resigned
                    && run.from.secs_since(period.to)
                        <= timing::longest_master_down_secs(version, period.interval_s()) =>
            {
                period.absorb(run)
            }
            _ => periods.push(MasterPeriod::start(run)),
        }
    }
    periods.sort_by_key(|p| (p.from, p.router));
    periods
}

pub fn analyze(group: &Group) -> History {
    let periods = master_periods(group);
    let version = group.key.version;
    let mut transitions = Vec::new();
    let mut overlaps = Vec::new();
    // The period that reaches furthest so far stands for "the current master".
    let mut current: Option<usize> = None;
    for (index, period) in periods.iter().enumerate() {
        let Some(previous) = current.and_then(|i| periods.get(i).map(|p| (i, p))) else {
            current = Some(index);
            continue;
        };
        let (previous_index, previous_period) = previous;
        if previous_period.router != period.router {
            let overlap_end = previous_period.to.min(period.to);
            let tolerance = previous_period.interval_s().max(period.interval_s());
            if overlap_end.secs_since(period.from) > tolerance {
                overlaps.push(Overlap {
                    first: previous_index,
                    second: index,
                    from: period.from,
                    to: overlap_end,
                });
            }
            // A router that started while the master was still advertising only replaced
            // it if it outlived it by more than an interval (else both just stopped).
            let outlived = period.to.secs_since(previous_period.to);
            let replaced = if period.from < previous_period.to {
                outlived > tolerance
            } else {
                outlived > 0.0
            };
            if replaced {
                let mut change = transition(version, previous_period, period);
                change.old = previous_index;
                change.new = index;
                transitions.push(change);
            }
        }
        if period.to >= previous_period.to {
            current = Some(index);
        }
    }
    History {
        periods,
        transitions,
        overlaps,
    }
}

/// Classifies the change from `old_period` to `new_period` (indices filled by the caller).
fn transition(version: u8, old_period: &MasterPeriod, new_period: &MasterPeriod) -> Transition {
    let gap_s = new_period.from.secs_since(old_period.to);
    let interval = old_period.interval_s();
    let new_priority = new_period.first_priority;
    let down = timing::master_down_secs(version, new_priority, interval);
    let old_priority = old_period.last_priority;
    let cause = if old_period.resigned {
        Cause::Resigned
    } else if new_priority > old_priority && gap_s < down {
        if old_period.first_priority > new_priority {
            Cause::PriorityLowered
        } else {
            Cause::Preempted
        }
    } else if gap_s < 0.0 {
        Cause::Contested
    } else {
        Cause::MasterSilent
    };
    let expected_s = match cause {
        Cause::Resigned => timing::skew_secs(version, new_priority, interval),
        _ => down,
    };
    Transition {
        old: 0,
        new: 0,
        cause,
        gap_s,
        expected_s,
        // Timers fire on the backup's clock after its last received advert: allow one
        // interval of scheduling and capture-point difference.
        within_expected: gap_s <= expected_s + interval,
        no_master_s: match cause {
            Cause::Preempted | Cause::PriorityLowered | Cause::Contested => 0.0,
            Cause::Resigned | Cause::MasterSilent => gap_s.max(0.0),
        },
    }
}
