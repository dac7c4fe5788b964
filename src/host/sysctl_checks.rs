//! The verdicts of `kaprobe sysctl check`: does an idle connection with SO_KEEPALIVE survive
//! every device this host sits behind, how long does it take to notice a dead peer, and
//! does this host's own conntrack or IPVS forget idle connections first.
//!
//! Behaviour followed: Linux sends the first keepalive probe after `tcp_keepalive_time` of
//! idleness, then one every `tcp_keepalive_intvl`, and aborts after `tcp_keepalive_probes`
//! unanswered ones (Documentation/networking/ip-sysctl.rst), so the worst-case dead-peer
//! detection time is `time + intvl × probes`. A layer-4 device that forgets a flow after T
//! seconds idle is kept alive only when `time < T`. The recommended values (documented in
//! docs/sysctl.md) are:
//! - `time` = the current value if it is already at most `margin(T)`, else `margin(T)`, with
//!   `margin(T) = min(T × 0.5, T − 30 s)` (at least half of T, 1 s minimum), where T is the
//!   smallest idle timeout of every stated layer-4 device and of this host's own conntrack
//!   and IPVS;
//! - `intvl` ≤ (T − time) / 2, so that one lost probe is retried before the device forgets;
//! - when `time + intvl × probes` exceeds `--dead-peer-target`: probes ≤ 5, intvl ≤ 30 s and
//!   time ≤ target − intvl × probes.

use super::ipvs::IpvsTimeouts;
use super::sysctl::{self, HostSettings, ReadOutcome, Reading};
use crate::explain::code;
use crate::knowledge::middleboxes::{Layer, MIDDLEBOXES, Middlebox};
use crate::report::{Finding, FindingCounts, Severity, Subject};
use crate::time::{Timestamp, human_duration};
use serde::Serialize;
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;

/// `tcp_retries2` limits from Documentation/networking/ip-sysctl.rst: RFC 1122 asks for at
/// least 100 s, which is 8 retransmissions; the default 15 gives about 924.6 s.
pub const RETRIES2_RFC1122_MIN: u64 = 8;
pub const RETRIES2_DEFAULT: u64 = 15;

/// Where the persisted advice goes.
pub const SYSCTL_D_FILE: &str = "/etc/sysctl.d/90-keepalive.conf";

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    Warn,
    Fail,
}

impl Status {
    pub fn name(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Warn => "warn",
            Status::Fail => "fail",
        }
    }
}

/// `checks[]`: one setting (or derived figure) with its verdict.
#[derive(Clone, Debug, Serialize)]
pub struct Check {
    /// The sysctl's dotted name; derived figures use `keepalive.*`, `ipvs.*`, `middlebox.*`.
    pub name: String,
    /// The number read (null when unreadable).
    pub value: Value,
    /// The value kaprobe recommends (null when any value is fine).
    pub recommended: Value,
    pub status: Status,
    pub message: String,
    /// The file the value was read from, or how a derived value was obtained.
    pub source: String,
}

/// A device the user says the host sits behind.
#[derive(Clone, Debug, Serialize)]
pub struct StatedMiddlebox {
    /// Table name (`aws-nlb`) or `timeout-350s` for `--middlebox-timeout`.
    pub name: String,
    pub display_name: String,
    pub idle_timeout_s: f64,
    pub layer: Layer,
    pub keepalive_keeps_alive: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub knob: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<&'static str>,
}

impl StatedMiddlebox {
    pub fn from_table(middlebox: &Middlebox) -> Option<StatedMiddlebox> {
        Some(StatedMiddlebox {
            name: middlebox.name.to_string(),
            display_name: middlebox.display_name.to_string(),
            idle_timeout_s: middlebox.default_idle_secs_f64()?,
            layer: middlebox.layer,
            keepalive_keeps_alive: middlebox.keepalive_keeps_alive,
            knob: Some(middlebox.knob),
            source: Some(middlebox.source),
        })
    }

    /// `--middlebox-timeout`: an unnamed layer-4 device.
    pub fn from_timeout(seconds: f64) -> StatedMiddlebox {
        StatedMiddlebox {
            name: format!("timeout-{seconds}s"),
            display_name: format!("stated idle timeout {}", human_duration(seconds)),
            idle_timeout_s: seconds,
            layer: Layer::L4,
            keepalive_keeps_alive: true,
            knob: None,
            source: None,
        }
    }
}

/// The keepalive values kaprobe recommends.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Recommended {
    pub time: u64,
    pub intvl: u64,
    pub probes: u64,
}

impl Recommended {
    pub fn dead_peer_secs(self) -> u64 {
        self.time
            .saturating_add(self.intvl.saturating_mul(self.probes))
    }
}

/// `advice`: the ready block.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Advice {
    /// `sysctl -w` lines to apply now (empty when nothing needs changing).
    pub commands: Vec<String>,
    pub file: String,
    /// The content of `file`, to persist the values across reboots.
    pub file_content: String,
}

/// The whole `sysctl check` result, as printed by `--format json`.
#[derive(Clone, Debug, Serialize)]
pub struct SysctlReport {
    pub schema_version: u32,
    pub root: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub netns: Option<String>,
    pub checks: Vec<Check>,
    pub middleboxes: Vec<StatedMiddlebox>,
    /// time + intvl × probes as configured, when all three were readable.
    pub dead_peer_detection_s: Option<u64>,
    pub recommended: Option<Recommended>,
    pub advice: Advice,
    pub notes: Vec<String>,
    pub findings: Vec<Finding>,
    pub summary: FindingCounts,
}

/// An idle-timeout limit that keepalive must stay below.
#[derive(Clone, Debug)]
struct Limit {
    name: String,
    secs: f64,
    /// Stated on the command line (not this host's own conntrack or IPVS).
    stated: bool,
}

/// The one rule, shared with `analyze`'s advice.
pub use crate::knowledge::keepalive_defaults::recommended_time_below as keepalive_time_below;

/// Computes the recommended keepalive values from the current ones, the smallest layer-4
/// idle timeout on the path and the dead-peer target (rules in the module documentation).
pub fn recommend(
    current: Recommended,
    smallest_timeout_secs: Option<f64>,
    dead_peer_target_secs: f64,
) -> Recommended {
    let mut recommended = current;
    if let Some(timeout) = smallest_timeout_secs {
        recommended.time = current.time.min(keepalive_time_below(timeout));
        let room = (timeout - recommended.time as f64) / 2.0;
        let intvl_limit = if room >= 1.0 { room.floor() as u64 } else { 1 };
        recommended.intvl = current.intvl.min(intvl_limit).max(1);
    }
    let target = if dead_peer_target_secs.is_finite() {
        dead_peer_target_secs.max(1.0) as u64
    } else {
        u64::MAX
    };
    if recommended.dead_peer_secs() > target {
        recommended.probes = recommended.probes.clamp(1, 5);
        recommended.intvl = recommended.intvl.clamp(1, 30);
        let budget = target.saturating_sub(recommended.intvl * recommended.probes);
        recommended.time = recommended.time.min(budget.max(1));
    }
    recommended
}

/// Evaluates the settings read from one host against the stated middleboxes.
pub fn evaluate(
    settings: &HostSettings,
    stated: &[StatedMiddlebox],
    dead_peer_target_secs: f64,
    netns: Option<&str>,
    now: Timestamp,
) -> SysctlReport {
    let mut checker = Checker {
        checks: Vec::new(),
        findings: Vec::new(),
        now,
    };
    let limits = limits(settings, stated);
    let smallest = limits.iter().map(|l| l.secs).reduce(f64::min);
    let current = match (
        settings.keepalive_time.number(),
        settings.keepalive_intvl.number(),
        settings.keepalive_probes.number(),
    ) {
        (Some(time), Some(intvl), Some(probes)) => Some(Recommended {
            time,
            intvl,
            probes,
        }),
        _ => None,
    };
    let recommended = current.map(|c| recommend(c, smallest, dead_peer_target_secs));
    match (current, recommended) {
        (Some(current), Some(recommended)) => {
            checker.keepalive(current, recommended, &limits, stated, dead_peer_target_secs)
        }
        _ => checker.unreadable_keepalive(settings),
    }
    checker.retries2(&settings.retries2);
    checker.informational(
        &settings.fin_timeout,
        "FIN_WAIT_2 lifetime of orphaned sockets",
    );
    checker.informational(
        &settings.tw_reuse,
        "TIME_WAIT reuse for new outgoing connections (0 off, 1 on, 2 loopback only)",
    );
    if let Some(conntrack) = &settings.conntrack {
        checker.conntrack(conntrack, current, recommended);
    }
    if let Some(ipvs) = &settings.ipvs {
        checker.ipvs(ipvs, current, recommended);
    }
    for check in checker.checks.iter_mut().filter(|c| c.source.is_empty()) {
        for reading in [
            &settings.keepalive_time,
            &settings.keepalive_intvl,
            &settings.keepalive_probes,
        ] {
            if check.name == reading.name {
                check.source = reading.path.display().to_string();
            }
        }
    }
    let advice = advice(current, recommended, netns, smallest_name(&limits));
    let mut summary = FindingCounts::default();
    for finding in &checker.findings {
        summary.add(finding.severity);
    }
    SysctlReport {
        schema_version: crate::report::SCHEMA_VERSION,
        root: settings.root.root.display().to_string(),
        netns: netns.map(str::to_string),
        checks: checker.checks,
        middleboxes: stated.to_vec(),
        dead_peer_detection_s: current.map(Recommended::dead_peer_secs),
        recommended,
        advice,
        notes: notes(netns),
        findings: checker.findings,
        summary,
    }
}

fn limits(settings: &HostSettings, stated: &[StatedMiddlebox]) -> Vec<Limit> {
    let mut limits: Vec<Limit> = stated
        .iter()
        .filter(|m| m.keepalive_keeps_alive)
        .map(|m| Limit {
            name: m.name.clone(),
            secs: m.idle_timeout_s,
            stated: true,
        })
        .collect();
    if let Some(secs) = settings
        .conntrack
        .as_ref()
        .and_then(|c| c.established.number())
    {
        limits.push(Limit {
            name: "this host's conntrack".into(),
            secs: secs as f64,
            stated: false,
        });
    }
    if let Some(ipvs) = &settings.ipvs {
        limits.push(Limit {
            name: "this host's IPVS".into(),
            secs: ipvs.tcp_secs as f64,
            stated: false,
        });
    }
    limits
}

fn smallest_name(limits: &[Limit]) -> Option<String> {
    limits
        .iter()
        .min_by(|a, b| a.secs.total_cmp(&b.secs))
        .map(|l| format!("{} ({})", l.name, human_duration(l.secs)))
}

struct Checker {
    checks: Vec<Check>,
    findings: Vec<Finding>,
    now: Timestamp,
}

fn number_value(reading: &Reading) -> Value {
    reading.number().map_or(Value::Null, Value::from)
}

fn reading_problem(reading: &Reading) -> Option<String> {
    match &reading.outcome {
        ReadOutcome::Number(_) => None,
        ReadOutcome::Missing => Some(format!("{} does not exist", reading.path.display())),
        ReadOutcome::NotANumber(text) => Some(format!(
            "{} holds '{text}', not a number",
            reading.path.display()
        )),
        ReadOutcome::Unreadable(error) => Some(error.clone()),
    }
}

impl Checker {
    fn push(
        &mut self,
        name: &str,
        value: Value,
        recommended: Value,
        status: Status,
        message: String,
        source: String,
    ) {
        self.checks.push(Check {
            name: name.to_string(),
            value,
            recommended,
            status,
            message,
            source,
        });
    }

    fn finding(
        &mut self,
        code: &'static str,
        severity: Severity,
        message: String,
        advice: String,
        evidence: Value,
    ) {
        let evidence = match evidence {
            Value::Object(map) => map,
            _ => Map::new(),
        };
        self.findings.push(Finding {
            code,
            severity,
            ts: self.now,
            subject: Subject::LocalHost,
            message,
            advice,
            evidence,
        });
    }

    fn unreadable_keepalive(&mut self, settings: &HostSettings) {
        for reading in [
            &settings.keepalive_time,
            &settings.keepalive_intvl,
            &settings.keepalive_probes,
        ] {
            let problem = reading_problem(reading);
            let message = problem
                .clone()
                .unwrap_or_else(|| "read, but its siblings were not".into());
            self.push(
                reading.name,
                number_value(reading),
                Value::Null,
                Status::Warn,
                message,
                reading.path.display().to_string(),
            );
            if let Some(problem) = problem {
                self.finding(
                    code::SYSCTL_UNREADABLE,
                    Severity::Warning,
                    format!("{} could not be read: {problem}", reading.name),
                    "Run as a user who can read /proc/sys, or check the --root tree.".into(),
                    json!({"name": reading.name, "path": reading.path.display().to_string()}),
                );
            }
        }
    }

    fn keepalive(
        &mut self,
        current: Recommended,
        recommended: Recommended,
        limits: &[Limit],
        stated: &[StatedMiddlebox],
        dead_peer_target_secs: f64,
    ) {
        self.keepalive_time(current, recommended, limits);
        self.keepalive_intvl(current, recommended, limits);
        let probes_status = if current.probes > recommended.probes {
            Status::Warn
        } else {
            Status::Ok
        };
        self.push(
            sysctl::KEEPALIVE_PROBES,
            current.probes.into(),
            recommended.probes.into(),
            probes_status,
            format!(
                "unanswered probes before the connection is aborted; {} × {} s = {} of probing",
                current.probes,
                current.intvl,
                human_duration((current.probes * current.intvl) as f64)
            ),
            String::new(),
        );
        self.dead_peer(current, recommended, dead_peer_target_secs);
        self.stated_middleboxes(current, stated);
    }

    fn keepalive_time(&mut self, current: Recommended, recommended: Recommended, limits: &[Limit]) {
        let time = current.time as f64;
        let cut_by: Vec<&Limit> = limits.iter().filter(|l| time >= l.secs).collect();
        let smallest = limits.iter().map(|l| l.secs).reduce(f64::min);
        let without_margin =
            smallest.is_some_and(|smallest| current.time > keepalive_time_below(smallest));
        let (status, message) = if !cut_by.is_empty() {
            let names: Vec<String> = cut_by
                .iter()
                .map(|l| format!("{} ({})", l.name, human_duration(l.secs)))
                .collect();
            (
                Status::Fail,
                format!(
                    "first probe after {} of idleness comes too late for {}",
                    human_duration(time),
                    names.join(", ")
                ),
            )
        } else if without_margin {
            (
                Status::Warn,
                format!(
                    "below every idle timeout on the path, but without margin (recommended ≤ {} s)",
                    recommended.time
                ),
            )
        } else if !limits.iter().any(|l| l.stated) {
            self.common_middleboxes(current.time)
        } else if current.time > recommended.time {
            (
                Status::Warn,
                format!(
                    "below every idle timeout on the path; {} s meets the dead-peer target",
                    recommended.time
                ),
            )
        } else {
            (
                Status::Ok,
                format!(
                    "first probe after {}, below every idle timeout on the path with margin",
                    human_duration(time)
                ),
            )
        };
        self.push(
            sysctl::KEEPALIVE_TIME,
            current.time.into(),
            recommended.time.into(),
            status,
            message,
            String::new(),
        );
        // This host's own conntrack and IPVS have their own findings.
        for limit in cut_by.into_iter().filter(|limit| limit.stated) {
            self.finding(
                code::SYSCTL_KEEPALIVE_TOO_LONG,
                Severity::Error,
                format!(
                    "Idle connections are cut by {} after {}: net.ipv4.tcp_keepalive_time is {} s, so the first keepalive probe comes too late even for sockets with SO_KEEPALIVE.",
                    limit.name,
                    human_duration(limit.secs),
                    current.time
                ),
                format!(
                    "Set net.ipv4.tcp_keepalive_time={} (below {} s with margin); see the advice block.",
                    recommended.time, limit.secs
                ),
                json!({"keepalive_time_s": current.time, "middlebox": limit.name, "idle_timeout_s": limit.secs}),
            );
        }
        if without_margin && status == Status::Warn {
            self.finding(
                code::SYSCTL_KEEPALIVE_NO_MARGIN,
                Severity::Warning,
                format!(
                    "net.ipv4.tcp_keepalive_time {} s is below the smallest idle timeout on the path but leaves little margin for delay or a lost probe.",
                    current.time
                ),
                format!(
                    "Set net.ipv4.tcp_keepalive_time={}.",
                    recommended.time
                ),
                json!({"keepalive_time_s": current.time, "recommended_s": recommended.time}),
            );
        }
    }

    /// No device stated: compare with the layer-4 defaults of the table.
    fn common_middleboxes(&mut self, time: u64) -> (Status, String) {
        let shorter: Vec<String> = MIDDLEBOXES
            .iter()
            .filter(|m| m.layer == Layer::L4)
            .filter_map(|m| {
                let secs = m.default_idle_secs?;
                (u64::from(secs) <= time).then(|| format!("{} {} s", m.name, secs))
            })
            .collect();
        if shorter.is_empty() {
            return (
                Status::Ok,
                "no middlebox stated; below every layer-4 default idle timeout kaprobe knows"
                    .into(),
            );
        }
        self.finding(
            code::SYSCTL_KEEPALIVE_LONGER_THAN_COMMON_MIDDLEBOXES,
            Severity::Info,
            format!(
                "No middlebox stated; net.ipv4.tcp_keepalive_time {time} s is longer than the default idle timeout of {}.",
                shorter.join(", ")
            ),
            "Say what the host sits behind with --middlebox NAME or --middlebox-timeout DURATION to get computed values.".into(),
            json!({"keepalive_time_s": time}),
        );
        (
            Status::Warn,
            format!(
                "no middlebox stated; longer than the defaults of {}",
                shorter.join(", ")
            ),
        )
    }

    fn keepalive_intvl(
        &mut self,
        current: Recommended,
        recommended: Recommended,
        limits: &[Limit],
    ) {
        let status = if current.intvl > recommended.intvl {
            Status::Warn
        } else {
            Status::Ok
        };
        let retry_late: Vec<&Limit> = limits
            .iter()
            .filter(|l| {
                (current.time as f64) < l.secs
                    && (current.time.saturating_add(current.intvl)) as f64 >= l.secs
            })
            .collect();
        self.push(
            sysctl::KEEPALIVE_INTVL,
            current.intvl.into(),
            recommended.intvl.into(),
            status,
            format!("{} s between unanswered probes", current.intvl),
            String::new(),
        );
        for limit in retry_late {
            self.finding(
                code::SYSCTL_KEEPALIVE_INTVL_TOO_LONG,
                Severity::Warning,
                format!(
                    "If one keepalive probe is lost, the next comes {} s later, after {} has forgotten the flow ({}).",
                    current.intvl,
                    limit.name,
                    human_duration(limit.secs)
                ),
                format!(
                    "Set net.ipv4.tcp_keepalive_intvl={}.",
                    recommended.intvl
                ),
                json!({"keepalive_time_s": current.time, "keepalive_intvl_s": current.intvl, "middlebox": limit.name, "idle_timeout_s": limit.secs}),
            );
        }
    }

    fn dead_peer(&mut self, current: Recommended, recommended: Recommended, target: f64) {
        let detection = current.dead_peer_secs();
        let slow = detection as f64 > target;
        self.push(
            "keepalive.dead_peer_detection",
            detection.into(),
            recommended.dead_peer_secs().into(),
            if slow { Status::Warn } else { Status::Ok },
            format!(
                "an idle peer that vanished silently is noticed after {} (time + intvl × probes; target {})",
                human_duration(detection as f64),
                human_duration(target)
            ),
            "derived: tcp_keepalive_time + tcp_keepalive_intvl × tcp_keepalive_probes".into(),
        );
        if slow {
            self.finding(
                code::SYSCTL_DEAD_PEER_SLOW,
                Severity::Warning,
                format!(
                    "An idle connection to a peer that died silently is noticed only after {} ({} + {} × {} s), longer than the target {}.",
                    human_duration(detection as f64),
                    current.time,
                    current.probes,
                    current.intvl,
                    human_duration(target)
                ),
                format!(
                    "Set tcp_keepalive_time={}, tcp_keepalive_intvl={}, tcp_keepalive_probes={} ({} s worst case); applications can also set TCP_USER_TIMEOUT.",
                    recommended.time,
                    recommended.intvl,
                    recommended.probes,
                    recommended.dead_peer_secs()
                ),
                json!({"dead_peer_detection_s": detection, "target_s": target}),
            );
        }
    }

    fn stated_middleboxes(&mut self, current: Recommended, stated: &[StatedMiddlebox]) {
        for middlebox in stated {
            let survives = (current.time as f64) < middlebox.idle_timeout_s;
            let (status, message) = match (middlebox.keepalive_keeps_alive, survives) {
                (true, true) => (
                    Status::Ok,
                    format!(
                        "idle connections with SO_KEEPALIVE survive: first probe after {} s < {}",
                        current.time,
                        human_duration(middlebox.idle_timeout_s)
                    ),
                ),
                (true, false) => (
                    Status::Fail,
                    format!(
                        "idle connections are forgotten after {}, before the first probe at {} s",
                        human_duration(middlebox.idle_timeout_s),
                        current.time
                    ),
                ),
                (false, _) => (
                    Status::Warn,
                    format!(
                        "layer-7 proxy: TCP keepalive does not reset its {} idle timer",
                        human_duration(middlebox.idle_timeout_s)
                    ),
                ),
            };
            self.push(
                &format!("middlebox.{}", middlebox.name),
                middlebox.idle_timeout_s.into(),
                Value::Null,
                status,
                message,
                middlebox
                    .source
                    .map_or_else(|| "--middlebox-timeout".into(), str::to_string),
            );
            if !middlebox.keepalive_keeps_alive {
                self.finding(
                    code::SYSCTL_KEEPALIVE_CANNOT_KEEP_L7_ALIVE,
                    Severity::Info,
                    format!(
                        "{} closes connections idle for {} whatever the keepalive settings: its kernel answers TCP keepalive probes without resetting the proxy's idle timer.",
                        middlebox.display_name,
                        human_duration(middlebox.idle_timeout_s)
                    ),
                    format!(
                        "Send application data (requests, WebSocket pings) more often than that, or change {}; a server behind it must keep idle connections open longer than the proxy does.",
                        middlebox.knob.unwrap_or("its idle timeout")
                    ),
                    json!({"middlebox": middlebox.name, "idle_timeout_s": middlebox.idle_timeout_s}),
                );
            }
        }
    }

    fn retries2(&mut self, reading: &Reading) {
        let Some(value) = reading.number() else {
            self.missing(
                reading,
                "retransmissions of unacknowledged data before giving up",
            );
            return;
        };
        let seconds = retries2_timeout_secs(value);
        let (status, message) = if value < RETRIES2_RFC1122_MIN {
            (
                Status::Warn,
                format!(
                    "gives up on unacknowledged data after about {}, below the 100 s RFC 1122 asks for",
                    human_duration(seconds)
                ),
            )
        } else {
            (
                Status::Ok,
                format!(
                    "a peer that stops acknowledging data is given up after about {}",
                    human_duration(seconds)
                ),
            )
        };
        self.push(
            sysctl::RETRIES2,
            value.into(),
            RETRIES2_DEFAULT.into(),
            status,
            message,
            reading.path.display().to_string(),
        );
        if status == Status::Warn {
            self.finding(
                code::SYSCTL_RETRIES2_BELOW_RFC1122,
                Severity::Warning,
                format!(
                    "net.ipv4.tcp_retries2={value} abandons connections after about {} of unacknowledged data; short network hiccups will break connections.",
                    human_duration(seconds)
                ),
                format!(
                    "Set net.ipv4.tcp_retries2 to at least {RETRIES2_RFC1122_MIN} (default {RETRIES2_DEFAULT}); use TCP_USER_TIMEOUT per socket for faster failure."
                ),
                json!({"tcp_retries2": value, "timeout_s": seconds}),
            );
        }
    }

    fn informational(&mut self, reading: &Reading, meaning: &str) {
        match reading.number() {
            Some(value) => self.push(
                reading.name,
                value.into(),
                Value::Null,
                Status::Ok,
                meaning.to_string(),
                reading.path.display().to_string(),
            ),
            None => self.missing(reading, meaning),
        }
    }

    fn missing(&mut self, reading: &Reading, meaning: &str) {
        let problem = reading_problem(reading).unwrap_or_default();
        self.push(
            reading.name,
            Value::Null,
            Value::Null,
            Status::Warn,
            format!("{meaning}: {problem}"),
            reading.path.display().to_string(),
        );
    }

    fn conntrack(
        &mut self,
        conntrack: &sysctl::Conntrack,
        current: Option<Recommended>,
        recommended: Option<Recommended>,
    ) {
        let Some(established) = conntrack.established.number() else {
            self.missing(&conntrack.established, "conntrack established timeout");
            return;
        };
        let tracking = conntrack.count.number().map_or(String::new(), |count| {
            format!("; {count} flows tracked now")
        });
        let shorter = current.is_some_and(|c| established <= c.time);
        self.push(
            sysctl::CONNTRACK_ESTABLISHED,
            established.into(),
            Value::Null,
            if shorter { Status::Fail } else { Status::Ok },
            format!(
                "this host's conntrack forgets idle established flows after {}{tracking}",
                human_duration(established as f64)
            ),
            conntrack.established.path.display().to_string(),
        );
        let loose = conntrack.loose.number();
        match loose {
            Some(value) => self.push(
                sysctl::CONNTRACK_LOOSE,
                value.into(),
                Value::Null,
                Status::Ok,
                if value == 0 {
                    "0: a flow whose entry expired is not picked up again; its packets are INVALID"
                        .into()
                } else {
                    "mid-stream packets of a forgotten flow create a new entry".into()
                },
                conntrack.loose.path.display().to_string(),
            ),
            None => self.missing(&conntrack.loose, "conntrack mid-stream pickup"),
        }
        if let (true, Some(current), Some(recommended)) = (shorter, current, recommended) {
            let consequence = if loose == Some(0) {
                "with nf_conntrack_tcp_loose=0 its next packets are INVALID and usually dropped by the firewall"
            } else {
                "NAT mappings and stateful rules are lost; mid-stream pickup may not restore them"
            };
            self.finding(
                code::SYSCTL_CONNTRACK_SHORTER_THAN_KEEPALIVE,
                Severity::Error,
                format!(
                    "This host's conntrack forgets idle connections after {} s, before the first keepalive probe at {} s; {consequence}.",
                    established, current.time
                ),
                format!(
                    "Raise it (sysctl -w {}={}) or set net.ipv4.tcp_keepalive_time={}.",
                    sysctl::CONNTRACK_ESTABLISHED,
                    current.time.saturating_mul(2).max(432_000),
                    recommended.time
                ),
                json!({"conntrack_established_s": established, "keepalive_time_s": current.time, "nf_conntrack_tcp_loose": loose}),
            );
        }
    }

    fn ipvs(
        &mut self,
        ipvs: &IpvsTimeouts,
        current: Option<Recommended>,
        recommended: Option<Recommended>,
    ) {
        let shorter = current.is_some_and(|c| ipvs.tcp_secs <= c.time);
        self.push(
            "ipvs.timeout.tcp",
            ipvs.tcp_secs.into(),
            Value::Null,
            if shorter { Status::Fail } else { Status::Ok },
            format!(
                "IPVS forgets idle established connections after {}",
                human_duration(ipvs.tcp_secs as f64)
            ),
            ipvs.source.clone(),
        );
        self.push(
            "ipvs.timeout.tcpfin",
            ipvs.tcpfin_secs.into(),
            Value::Null,
            Status::Ok,
            "IPVS timeout after a FIN".into(),
            ipvs.source.clone(),
        );
        self.push(
            "ipvs.timeout.udp",
            ipvs.udp_secs.into(),
            Value::Null,
            Status::Ok,
            "IPVS UDP timeout".into(),
            ipvs.source.clone(),
        );
        if let (true, Some(current), Some(recommended)) = (shorter, current, recommended) {
            self.finding(
                code::SYSCTL_IPVS_SHORTER_THAN_KEEPALIVE,
                Severity::Error,
                format!(
                    "IPVS on this host forgets idle connections after {} s, before the first keepalive probe at {} s; the next packet is dropped or sent to another real server, which answers RST.",
                    ipvs.tcp_secs, current.time
                ),
                format!(
                    "Raise it (ipvsadm --set {} {} {}) or set net.ipv4.tcp_keepalive_time={} on the clients and real servers.",
                    current.time.saturating_mul(2),
                    ipvs.tcpfin_secs,
                    ipvs.udp_secs,
                    recommended.time
                ),
                json!({"ipvs_tcp_s": ipvs.tcp_secs, "keepalive_time_s": current.time, "source": ipvs.source}),
            );
        }
    }
}

/// Hypothetical timeout of `tcp_retries2` retransmissions (tcp_model_timeout in
/// net/ipv4/tcp_timer.c): RTO doubles from 200 ms up to 120 s.
pub fn retries2_timeout_secs(retries: u64) -> f64 {
    const RTO_MIN: f64 = 0.2;
    const RTO_MAX: f64 = 120.0;
    // ilog2(RTO_MAX / RTO_MIN) = ilog2(600) = 9 doublings before the RTO is capped.
    const LINEAR_BACKOFF_THRESHOLD: u64 = 9;
    if retries <= LINEAR_BACKOFF_THRESHOLD {
        ((2u64 << retries) - 1) as f64 * RTO_MIN
    } else {
        ((2u64 << LINEAR_BACKOFF_THRESHOLD) - 1) as f64 * RTO_MIN
            + (retries - LINEAR_BACKOFF_THRESHOLD) as f64 * RTO_MAX
    }
}

fn advice(
    current: Option<Recommended>,
    recommended: Option<Recommended>,
    netns: Option<&str>,
    smallest: Option<String>,
) -> Advice {
    let (Some(current), Some(recommended)) = (current, recommended) else {
        return Advice::default();
    };
    if current == recommended {
        return Advice {
            file: SYSCTL_D_FILE.into(),
            ..Advice::default()
        };
    }
    let prefix = netns.map_or(String::new(), |name| format!("ip netns exec {name} "));
    let values = [
        (sysctl::KEEPALIVE_TIME, recommended.time),
        (sysctl::KEEPALIVE_INTVL, recommended.intvl),
        (sysctl::KEEPALIVE_PROBES, recommended.probes),
    ];
    let commands = values
        .iter()
        .map(|(name, value)| format!("{prefix}sysctl -w {name}={value}"))
        .collect();
    let mut file_content = String::from("# Written from kaprobe sysctl check advice.\n");
    if let Some(smallest) = smallest {
        file_content.push_str(&format!(
            "# Keepalive below the smallest idle timeout on the path: {smallest}.\n"
        ));
    }
    file_content.push_str("# Applications must still enable SO_KEEPALIVE on their sockets.\n");
    for (name, value) in values {
        file_content.push_str(&format!("{name} = {value}\n"));
    }
    Advice {
        commands,
        file: SYSCTL_D_FILE.into(),
        file_content,
    }
}

fn notes(netns: Option<&str>) -> Vec<String> {
    let mut notes = vec![
        "These sysctls are only defaults: an application gets keepalive probes only if it sets SO_KEEPALIVE on the socket (kaprobe sockets --established --no-keepalive lists those that did not).".to_string(),
        "Per-socket options TCP_KEEPIDLE, TCP_KEEPINTVL and TCP_KEEPCNT override these sysctls; TCP_USER_TIMEOUT, when set, decides when an unanswered connection is closed.".to_string(),
    ];
    if netns.is_some() {
        notes.push("Keepalive sysctls are per network namespace and /etc/sysctl.d is applied only to the initial one: apply the commands inside the namespace (e.g. from the unit that creates it).".into());
    }
    notes
}

/// `checks` by name, for tests and renderers.
pub fn checks_by_name(report: &SysctlReport) -> BTreeMap<&str, &Check> {
    report
        .checks
        .iter()
        .map(|check| (check.name.as_str(), check))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const LINUX: Recommended = Recommended {
        time: 7200,
        intvl: 75,
        probes: 9,
    };

    #[test]
    fn margin_rule_keeps_half_the_timeout() {
        assert_eq!(keepalive_time_below(350.0), 175);
        assert_eq!(keepalive_time_below(240.0), 120);
        assert_eq!(keepalive_time_below(60.0), 30);
        assert_eq!(keepalive_time_below(45.0), 15);
        assert_eq!(keepalive_time_below(20.0), 10);
        assert_eq!(keepalive_time_below(1.0), 1);
    }

    #[test]
    fn recommendation_stays_below_the_smallest_timeout_and_the_target() {
        let nlb = recommend(LINUX, Some(350.0), 900.0);
        assert_eq!(
            nlb,
            Recommended {
                time: 175,
                intvl: 75,
                probes: 9
            }
        );
        let azure = recommend(LINUX, Some(240.0), 900.0);
        assert_eq!(
            azure,
            Recommended {
                time: 120,
                intvl: 60,
                probes: 9
            }
        );
        let nothing_stated = recommend(LINUX, None, 900.0);
        assert_eq!(
            nothing_stated,
            Recommended {
                time: 750,
                intvl: 30,
                probes: 5
            }
        );
        assert!(nothing_stated.dead_peer_secs() <= 900);
        let tuned = Recommended {
            time: 60,
            intvl: 10,
            probes: 6,
        };
        assert_eq!(recommend(tuned, Some(350.0), 900.0), tuned);
    }

    #[test]
    fn retries2_matches_the_kernel_documentation() {
        assert!((retries2_timeout_secs(15) - 924.6).abs() < 0.01);
        assert!((retries2_timeout_secs(8) - 102.2).abs() < 0.01);
    }
}
