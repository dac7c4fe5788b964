//! The `vrrp.groups[]` report section and the per-group timeline (docs/vrrp.md documents
//! both). Pure formatting of what [`super::group`] and [`super::history`] established, except
//! for matching address claims to master changes.

use super::Claim;
use super::group::{Group, Router, Run};
use super::history::{History, MasterPeriod, Transition};
use super::timing;
use crate::report::round_micros;
use crate::report::{Event, Subject, epoch_seconds};
use crate::time::{Timestamp, human_duration};
use serde_json::{Map, Value, json};
use std::net::IpAddr;

/// Claims this close together from one MAC are one burst in the timeline.
const CLAIM_BURST_GAP_S: f64 = 1.0;
/// What replaces authentication data without `--show-secrets`.
pub const REDACTED: &str = "<redacted>";

/// Claims for the group's virtual addresses on its VLAN, in time order.
pub fn claims_for(group: &Group, claims: &[Claim]) -> Vec<Claim> {
    claims
        .iter()
        .filter(|c| c.vlan == group.key.vlan)
        .filter(|c| {
            group
                .routers
                .iter()
                .any(|r| r.virtual_ips.contains(&c.claim.ip))
        })
        .copied()
        .collect()
}

pub fn mac_text(mac: [u8; 6]) -> String {
    let [a, b, c, d, e, f] = mac;
    format!("{a:02x}:{b:02x}:{c:02x}:{d:02x}:{e:02x}:{f:02x}")
}

pub fn auth_type_name(auth_type: u8) -> &'static str {
    match auth_type {
        0 => "none",
        1 => "simple-text-password",
        2 => "ip-ah",
        3 => "cisco-md5",
        _ => "unknown",
    }
}

/// How an auth string is shown: redacted unless the user asked for secrets.
pub fn auth_data_text(data: &[u8; 8], show_secrets: bool) -> String {
    if !show_secrets {
        return REDACTED.into();
    }
    let end = data.iter().position(|&b| b == 0).unwrap_or(data.len());
    String::from_utf8_lossy(data.get(..end).unwrap_or(data)).into_owned()
}

/// The first claim for the group's addresses after `after` (the old master's last advert)
/// and no later than `until`.
pub fn first_claim_between(claims: &[Claim], after: Timestamp, until: Timestamp) -> Option<&Claim> {
    let start = claims.partition_point(|c| c.ts < after);
    claims
        .get(start..)?
        .iter()
        .take_while(|c| c.ts <= until)
        .next()
}

fn round(seconds: f64) -> f64 {
    round_micros(seconds)
}

/// One group ready to be rendered.
pub struct GroupView<'a> {
    pub group: &'a Group,
    pub history: &'a History,
    pub claims: &'a [Claim],
    pub show_secrets: bool,
}

impl GroupView<'_> {
    fn subject(&self) -> Subject {
        Subject::Vrrp(self.group.key.vrid)
    }

    pub fn to_json(&self) -> Value {
        let key = self.group.key;
        let mut object = Map::new();
        object.insert("vrid".into(), json!(key.vrid));
        object.insert("version".into(), json!(key.version));
        object.insert("family".into(), json!(key.family.name()));
        if let Some(vlan) = key.vlan {
            object.insert("vlan".into(), json!(vlan));
        }
        object.insert("adverts".into(), json!(self.group.adverts));
        object.insert("duplicates".into(), json!(self.group.duplicates));
        object.insert("virtual_ips".into(), json!(self.virtual_ips()));
        let routers: Vec<Value> = self
            .group
            .routers
            .iter()
            .map(|r| self.router_json(r))
            .collect();
        object.insert("routers".into(), Value::Array(routers));
        let masters: Vec<Value> = self.history.periods.iter().map(period_json).collect();
        object.insert("masters".into(), Value::Array(masters));
        let transitions: Vec<Value> = self
            .history
            .transitions
            .iter()
            .map(|t| self.transition_json(t))
            .collect();
        object.insert("failovers".into(), Value::Array(transitions));
        object.insert("split_brain".into(), self.overlaps_json());
        object.insert("gratuitous_arps".into(), self.claims_json());
        let events: Vec<Value> = self
            .timeline()
            .iter()
            .filter_map(|e| serde_json::to_value(e).ok())
            .collect();
        object.insert("events".into(), Value::Array(events));
        object.insert("runs_dropped".into(), json!(self.group.runs_dropped));
        object.insert("routers_dropped".into(), json!(self.group.routers_dropped));
        Value::Object(object)
    }

    fn virtual_ips(&self) -> Vec<IpAddr> {
        let mut all: Vec<IpAddr> = self
            .group
            .routers
            .iter()
            .flat_map(|r| r.virtual_ips.iter().copied())
            .collect();
        all.sort();
        all.dedup();
        all
    }

    /// The interval this router, as a backup, would learn from the others (v3 backups use the
    /// master's interval; v2 routers must all be configured alike, so use its own).
    fn master_interval_for(&self, router: &Router) -> f64 {
        let others = self.group.routers.iter().filter(|r| r.ip != router.ip);
        let learned = others.max_by_key(|r| r.adverts).map(|r| r.interval_centis);
        timing::interval_secs(match (self.group.key.version, learned) {
            (3, Some(centis)) => centis,
            _ => router.interval_centis,
        })
    }

    fn router_json(&self, router: &Router) -> Value {
        let key = self.group.key;
        let master_s: f64 = self
            .history
            .periods
            .iter()
            .filter(|p| p.router == router.ip)
            .map(|p| p.to.secs_since(p.from))
            .sum();
        let down = timing::master_down_secs(
            key.version,
            router.working_priority(),
            self.master_interval_for(router),
        );
        let claims = self
            .claims
            .iter()
            .filter(|c| {
                c.claim
                    .mac
                    .is_some_and(|m| router.source_macs.0.contains(&m))
            })
            .count();
        let mut object = json!({
            "ip": router.ip,
            "priority": router.working_priority(),
            "priorities": router.priorities.0,
            "adverts": router.adverts,
            "advert_int_s": timing::interval_secs(router.interval_centis),
            "advert_ints_s": router.intervals.0.iter().map(|&c| timing::interval_secs(c)).collect::<Vec<_>>(),
            "auth_type": router.auth_type,
            "virtual_ips": router.virtual_ips,
            "source_macs": router.source_macs.0.iter().map(|&m| mac_text(m)).collect::<Vec<_>>(),
            "virtual_mac": router.uses_virtual_mac(key.vrid),
            "ttls": router.ttls.0,
            "destinations": router.destinations.0,
            "unicast": router.unicast_adverts > 0,
            "bad_ttl_adverts": router.bad_ttl_adverts,
            "bad_checksums": router.bad_checksums,
            "checksums_without_pseudo_header": router.checksums_without_pseudo_header,
            "priority_zero_adverts": router.priority_zero_adverts,
            "trailer_adverts": router.trailer_adverts,
            "duplicates": router.duplicates,
            "first_seen": epoch_seconds(router.first_seen),
            "last_seen": epoch_seconds(router.last_seen),
            "master_s": round(master_s),
            "master_down_interval_s": round(down),
            "gratuitous_arps": claims,
        });
        if let (Some(auth_type), Some(map)) = (router.auth_type, object.as_object_mut()) {
            map.insert("auth_type_name".into(), json!(auth_type_name(auth_type)));
            if auth_type != 0
                && let Some(data) = &router.auth_data
            {
                map.insert(
                    "auth_data".into(),
                    json!(auth_data_text(data, self.show_secrets)),
                );
            }
        }
        object
    }

    fn transition_json(&self, transition: &Transition) -> Value {
        let periods = &self.history.periods;
        let (Some(old), Some(new)) = (periods.get(transition.old), periods.get(transition.new))
        else {
            return Value::Null;
        };
        let claim = first_claim_between(self.claims, old.to, new.to);
        json!({
            "ts": epoch_seconds(new.from),
            "from": old.router,
            "to": new.router,
            "cause": transition.cause.name(),
            "old_priority": old.last_priority,
            "new_priority": new.first_priority,
            "old_last_advert": epoch_seconds(old.to),
            "new_first_advert": epoch_seconds(new.from),
            "gap_s": round(transition.gap_s),
            "no_master_s": round(transition.no_master_s),
            "expected_s": round(transition.expected_s),
            "within_expected": transition.within_expected,
            "first_claim": claim.map(|c| epoch_seconds(c.ts)),
            "first_claim_after_old_master_s": claim.map(|c| round(c.ts.secs_since(old.to))),
            "first_claim_after_new_master_s": claim.map(|c| round(c.ts.secs_since(new.from))),
        })
    }

    fn overlaps_json(&self) -> Value {
        let periods = &self.history.periods;
        let overlaps: Vec<Value> = self
            .history
            .overlaps
            .iter()
            .filter_map(|o| {
                let (first, second) = (periods.get(o.first)?, periods.get(o.second)?);
                Some(json!({
                    "routers": [first.router, second.router],
                    "priorities": [first.last_priority, second.last_priority],
                    "from": epoch_seconds(o.from),
                    "to": epoch_seconds(o.to),
                    "duration_s": round(o.duration_s()),
                }))
            })
            .collect();
        Value::Array(overlaps)
    }

    fn claims_json(&self) -> Value {
        let mut per_ip: Vec<(IpAddr, Vec<&Claim>)> = Vec::new();
        for claim in self.claims {
            match per_ip.iter_mut().find(|(ip, _)| *ip == claim.claim.ip) {
                Some((_, list)) => list.push(claim),
                None => per_ip.push((claim.claim.ip, vec![claim])),
            }
        }
        let entries: Vec<Value> = per_ip
            .iter()
            .map(|(ip, list)| {
                let mut by_mac: Map<String, Value> = Map::new();
                for claim in list {
                    let mac = claim.claim.mac.map_or("unknown".into(), mac_text);
                    let count = by_mac.get(&mac).and_then(Value::as_u64).unwrap_or(0);
                    by_mac.insert(mac, json!(count + 1));
                }
                json!({
                    "ip": ip,
                    "count": list.len(),
                    "kind": list.first().map(|c| c.claim.kind.name()),
                    "first": list.first().map(|c| epoch_seconds(c.ts)),
                    "last": list.last().map(|c| epoch_seconds(c.ts)),
                    "by_mac": by_mac,
                })
            })
            .collect();
        Value::Array(entries)
    }

    /// The group's story as timeline events, in time order: runs of adverts, gaps, master
    /// changes, priority changes, resignations, address-claim bursts, overlaps.
    pub fn timeline(&self) -> Vec<Event> {
        // Changes first, so that at equal times a master change precedes the run it starts.
        let mut events: Vec<Event> = Vec::new();
        for transition in &self.history.transitions {
            self.transition_events(transition, &mut events);
        }
        events.extend(self.group.all_runs().iter().map(|run| self.run_event(run)));
        for period in &self.history.periods {
            self.period_events(period, &mut events);
        }
        self.claim_events(&mut events);
        for overlap in &self.history.overlaps {
            events.push(Event::new(
                overlap.from,
                self.subject(),
                "vrrp-split-brain",
                format!(
                    "two masters for {}: {} and {} both advertising",
                    human_duration(overlap.duration_s()),
                    self.router_ip(overlap.first),
                    self.router_ip(overlap.second)
                ),
            ));
        }
        events.sort_by_key(|e| e.ts);
        events
    }

    fn router_ip(&self, period: usize) -> String {
        self.history
            .periods
            .get(period)
            .map_or_else(String::new, |p| p.router.to_string())
    }

    fn run_event(&self, run: &Run) -> Event {
        let adverts = if run.adverts == 1 {
            "1 advert".to_string()
        } else {
            format!(
                "{} adverts over {}",
                run.adverts,
                human_duration(run.to.secs_since(run.from))
            )
        };
        let mut event = Event::new(
            run.from,
            self.subject(),
            "vrrp-adverts",
            format!(
                "{} prio {} advertising every {}, {adverts}",
                run.router,
                run.priority,
                human_duration(run.interval_s())
            ),
        );
        event.count = run.adverts;
        event
    }

    fn transition_events(&self, transition: &Transition, events: &mut Vec<Event>) {
        let periods = &self.history.periods;
        let (Some(old), Some(new)) = (periods.get(transition.old), periods.get(transition.new))
        else {
            return;
        };
        if transition.gap_s > old.interval_s() {
            events.push(Event::new(
                old.to,
                self.subject(),
                "vrrp-gap",
                format!(
                    "last advert from {}; no master for {}",
                    old.router,
                    human_duration(transition.gap_s)
                ),
            ));
        }
        let timing = if transition.no_master_s > 0.0 {
            format!(
                "; no master for {} (expected at most {})",
                human_duration(transition.no_master_s),
                human_duration(transition.expected_s)
            )
        } else {
            String::new()
        };
        events.push(Event::new(
            new.from,
            self.subject(),
            "vrrp-master",
            format!(
                "{} (prio {}) is master, replacing {} (prio {}): {}{timing}",
                new.router,
                new.first_priority,
                old.router,
                old.last_priority,
                transition.cause.name(),
            ),
        ));
    }

    fn period_events(&self, period: &MasterPeriod, events: &mut Vec<Event>) {
        for &(ts, old, new) in &period.priority_changes {
            events.push(Event::new(
                ts,
                self.subject(),
                "vrrp-priority",
                format!("{} changed its priority {old} -> {new}", period.router),
            ));
        }
        if period.resigned {
            events.push(Event::new(
                period.to,
                self.subject(),
                "vrrp-resign",
                format!("{} resigned (priority 0 advert)", period.router),
            ));
        }
    }

    fn claim_events(&self, events: &mut Vec<Event>) {
        let mut index = 0;
        while let Some(first) = self.claims.get(index) {
            let mut last = first;
            let mut count = 1;
            while let Some(next) = self.claims.get(index + count)
                && next.claim.mac == first.claim.mac
                && next.claim.ip == first.claim.ip
                && next.ts.secs_since(last.ts) <= CLAIM_BURST_GAP_S
            {
                last = next;
                count += 1;
            }
            let who = first.claim.mac.map_or("unknown MAC".into(), mac_text);
            let mut event = Event::new(
                first.ts,
                self.subject(),
                "vrrp-claim",
                format!(
                    "{count} {} for {} from {who}",
                    if first.claim.kind.name() == "garp" {
                        "gratuitous ARP(s)"
                    } else {
                        "unsolicited NA(s)"
                    },
                    first.claim.ip
                ),
            );
            event.count = count as u64;
            events.push(event);
            index += count;
        }
    }
}

fn period_json(period: &MasterPeriod) -> Value {
    json!({
        "ip": period.router,
        "from": epoch_seconds(period.from),
        "to": epoch_seconds(period.to),
        "duration_s": round(period.to.secs_since(period.from)),
        "adverts": period.adverts,
        "priority": period.last_priority,
        "resigned": period.resigned,
    })
}
