//! VRRP findings (codes are a contract, documented in docs/vrrp.md). Advice names the
//! keepalived knob (`advert_int`, `priority`, `nopreempt`, `unicast_peer`, `auth_type`, a
//! firewall rule for protocol 112) with values taken from the capture.

use super::Claim;
use super::group::{Group, GroupKey, Router};
use super::history::{Cause, History, MasterPeriod, Overlap, Transition};
use super::section::{REDACTED, auth_data_text, first_claim_between};
use super::timing;
use crate::detect::Context;
use crate::explain::code;
use crate::report::{Finding, Severity, Subject, epoch_seconds};
use crate::time::{Timestamp, human_duration};
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;
use std::net::IpAddr;

/// Findings of one kind per group beyond this are left to the `vrrp` section (a flapping
/// group would otherwise bury everything else).
const MAX_REPEATED_FINDINGS: usize = 10;
const FIREWALL_ADVICE: &str = "allow VRRP between the routers (`iptables -A INPUT -p vrrp -j ACCEPT`, nftables `ip protocol vrrp accept`; IPv6: `ip6tables -A INPUT -p vrrp -j ACCEPT`)";

fn evidence(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

fn finding(
    code: &'static str,
    severity: Severity,
    ts: Timestamp,
    group: &Group,
    message: String,
    advice: String,
    details: Value,
) -> Finding {
    let mut evidence = evidence(details);
    evidence.insert("version".into(), json!(group.key.version));
    evidence.insert("family".into(), json!(group.key.family.name()));
    if let Some(vlan) = group.key.vlan {
        evidence.insert("vlan".into(), json!(vlan));
    }
    Finding {
        code,
        severity,
        ts,
        subject: Subject::Vrrp(group.key.vrid),
        message,
        advice,
        evidence,
    }
}

/// Every finding about one group.
pub fn report_group(
    group: &Group,
    history: &History,
    claims: &[Claim],
    capture_end: Timestamp,
    context: &mut Context<'_>,
) {
    for transition in history.transitions.iter().take(MAX_REPEATED_FINDINGS) {
        failover(group, history, transition, claims, context);
    }
    master_silent(group, history, capture_end, context);
    for overlap in history.overlaps.iter().take(MAX_REPEATED_FINDINGS) {
        split_brain(group, history, overlap, claims, context);
    }
    for period in history
        .periods
        .iter()
        .filter(|p| p.resigned)
        .take(MAX_REPEATED_FINDINGS)
    {
        priority_zero(group, period, context);
    }
    config_mismatch(group, context);
    vrid_conflict(group, context);
    plaintext_auth(group, context);
    for router in &group.routers {
        bad_ttl(group, router, context);
        bad_checksum(group, router, context);
    }
}

fn failover(
    group: &Group,
    history: &History,
    transition: &Transition,
    claims: &[Claim],
    context: &mut Context<'_>,
) {
    let periods = &history.periods;
    let (Some(old), Some(new)) = (periods.get(transition.old), periods.get(transition.new)) else {
        return;
    };
    let claim = first_claim_between(claims, old.to, new.to);
    let verdict = if transition.within_expected {
        "within"
    } else {
        "longer than"
    };
    let handover = if transition.no_master_s > 0.0 {
        format!(
            "no master for {} ({verdict} the expected {} for a prio-{} backup at advert_int {})",
            human_duration(transition.no_master_s),
            human_duration(transition.expected_s),
            new.first_priority,
            human_duration(old.interval_s()),
        )
    } else {
        format!(
            "handover {} after the old master's last advert, no time without master",
            human_duration(transition.gap_s.max(0.0))
        )
    };
    let mut message = format!(
        "{} (prio {}) took over from {} (prio {}) at {}: {}; {handover}",
        new.router,
        new.first_priority,
        old.router,
        old.last_priority,
        new.from,
        cause_text(transition.cause, old),
    );
    match claim {
        Some(c) => message.push_str(&format!(
            "; first gratuitous ARP/NA for {} {} after the new master's first advert",
            c.claim.ip,
            signed_duration(c.ts.secs_since(new.from))
        )),
        None if !claims.is_empty() || group.key.family.name() == "ipv4" => {
            message.push_str("; no gratuitous ARP/NA for the virtual address seen")
        }
        None => {}
    }
    let details = json!({
        "from": old.router,
        "to": new.router,
        "cause": transition.cause.name(),
        "old_priority": old.last_priority,
        "new_priority": new.first_priority,
        "old_last_advert": epoch_seconds(old.to),
        "new_first_advert": epoch_seconds(new.from),
        "no_master_s": crate::report::round_micros(transition.no_master_s),
        "gap_s": crate::report::round_micros(transition.gap_s),
        "expected_s": crate::report::round_micros(transition.expected_s),
        "within_expected": transition.within_expected,
        "first_claim": claim.map(|c| epoch_seconds(c.ts)),
    });
    let advice = failover_advice(transition, old, new);
    context.finding(finding(
        code::VRRP_FAILOVER,
        Severity::Warning,
        new.from,
        group,
        message,
        advice,
        details,
    ));
}

fn signed_duration(seconds: f64) -> String {
    if seconds < 0.0 {
        format!("-{}", human_duration(-seconds))
    } else {
        human_duration(seconds)
    }
}

fn cause_text(cause: Cause, old: &MasterPeriod) -> String {
    match cause {
        Cause::Resigned => "the old master resigned with a priority-0 advert".into(),
        Cause::Preempted => "preempted by a higher priority".into(),
        Cause::PriorityLowered => format!(
            "the old master lowered its priority {} -> {} (track_script/track_interface weight)",
            old.first_priority, old.last_priority
        ),
        Cause::MasterSilent => "the old master went silent".into(),
        Cause::Contested => "both advertised and the old master gave up".into(),
    }
}

fn failover_advice(transition: &Transition, old: &MasterPeriod, new: &MasterPeriod) -> String {
    let interval = human_duration(old.interval_s());
    match transition.cause {
        Cause::Preempted | Cause::PriorityLowered => format!(
            "{} preempted {} because priority {} > {}; every preemption moves the VIP once more. If that second move hurts, configure `nopreempt` (with `state BACKUP` on both) or `preempt_delay` on {}",
            new.router, old.router, new.first_priority, old.last_priority, new.router
        ),
        Cause::Resigned => format!(
            "a planned stop of keepalived on {} (or its FAULT state); nothing to do if intended",
            old.router
        ),
        _ => format!(
            "find why {} stopped advertising at {} (keepalived stopped or crashed, host or link down: `journalctl -u keepalived` there). The group waits 3 × advert_int + skew = {} before failing over: lower `advert_int` (now {interval}) to fail over faster",
            old.router,
            old.to,
            human_duration(transition.expected_s)
        ),
    }
}

/// Gaps with no master longer than any backup would wait, and a master silent at the end.
fn master_silent(
    group: &Group,
    history: &History,
    capture_end: Timestamp,
    context: &mut Context<'_>,
) {
    let version = group.key.version;
    let mut reported = 0;
    let mut latest: Option<&MasterPeriod> = None;
    for period in &history.periods {
        if let Some(last) = latest {
            let gap = period.from.secs_since(last.to);
            let expected = expected_down(group, last, Some(period));
            if gap > expected + last.interval_s() && reported < MAX_REPEATED_FINDINGS {
                silent_finding(group, last, gap, expected, Some(period), context);
                reported += 1;
            }
        }
        if latest.is_none_or(|l| period.to >= l.to) {
            latest = Some(period);
        }
    }
    let Some(last) = latest else {
        return;
    };
    let gap = capture_end.secs_since(last.to);
    let longest = timing::longest_master_down_secs(version, last.interval_s());
    if gap > longest + last.interval_s() {
        silent_finding(group, last, gap, longest, None, context);
    }
}

/// How long a backup should wait after `last`: for the router that took over, else the
/// highest-priority other router seen, else the longest possible wait.
fn expected_down(group: &Group, last: &MasterPeriod, next: Option<&MasterPeriod>) -> f64 {
    let version = group.key.version;
    match next.filter(|n| n.router != last.router) {
        Some(next) => timing::master_down_secs(version, next.first_priority, last.interval_s()),
        None => timing::longest_master_down_secs(version, last.interval_s()),
    }
}

fn silent_finding(
    group: &Group,
    last: &MasterPeriod,
    gap: f64,
    expected: f64,
    next: Option<&MasterPeriod>,
    context: &mut Context<'_>,
) {
    let after = match next {
        Some(n) if n.router == last.router => format!("until {} came back", last.router),
        Some(n) => format!("until {} took over", n.router),
        None => "until the end of the capture".into(),
    };
    let message = format!(
        "no VRRP master for {} after {}'s last advert at {} ({after}); backups should have taken over within {}",
        human_duration(gap),
        last.router,
        last.to,
        human_duration(expected)
    );
    let advice = format!(
        "the backups did not take over: check that keepalived runs on them and is in BACKUP state (not FAULT: `journalctl -u keepalived`), that they share virtual_router_id {} and that {}",
        group.key.vrid, FIREWALL_ADVICE
    );
    let details = json!({
        "last_master": last.router,
        "last_advert": epoch_seconds(last.to),
        "silent_s": crate::report::round_micros(gap),
        "expected_master_down_s": crate::report::round_micros(expected),
        "next_master": next.map(|n| n.router),
    });
    context.finding(finding(
        code::VRRP_MASTER_SILENT,
        Severity::Error,
        last.to,
        group,
        message,
        advice,
        details,
    ));
}

fn split_brain(
    group: &Group,
    history: &History,
    overlap: &Overlap,
    claims: &[Claim],
    context: &mut Context<'_>,
) {
    let periods = &history.periods;
    let (Some(a), Some(b)) = (periods.get(overlap.first), periods.get(overlap.second)) else {
        return;
    };
    // The router that should have yielded: lower priority, or lower address on a tie
    // (RFC 3768 §6.4.3); it evidently does not receive the other's adverts.
    let (winner, loser) = if (b.last_priority, b.router) > (a.last_priority, a.router) {
        (b, a)
    } else {
        (a, b)
    };
    let peer_advice = unicast_advice(group, winner, loser);
    let mut message = format!(
        "split brain: {} (prio {}) and {} (prio {}) both advertised as master for {} from {}; {} should have yielded, so it does not receive {}'s adverts",
        a.router,
        a.last_priority,
        b.router,
        b.last_priority,
        human_duration(overlap.duration_s()),
        overlap.from,
        loser.router,
        winner.router
    );
    let mut claim_macs: Vec<String> = Vec::new();
    for claim in claims {
        let mac = claim
            .claim
            .mac
            .map_or("unknown".into(), super::section::mac_text);
        if !claim_macs.contains(&mac) {
            claim_macs.push(mac);
        }
    }
    if claim_macs.len() > 1 {
        message.push_str(&format!(
            "; gratuitous ARPs for the VIP came from {} MACs ({}): hosts switch between the nodes",
            claim_macs.len(),
            claim_macs.join(", ")
        ));
    }
    let advice = format!(
        "both nodes hold the VIP. Usual causes: VRRP (protocol 112) dropped by a firewall on {}: {FIREWALL_ADVICE}; multicast to 224.0.0.18/ff02::12 not forwarded (cloud networks, IGMP snooping): use `unicast_peer`; {peer_advice}",
        loser.router
    );
    let details = json!({
        "routers": [a.router, b.router],
        "priorities": [a.last_priority, b.last_priority],
        "from": epoch_seconds(overlap.from),
        "to": epoch_seconds(overlap.to),
        "overlap_s": crate::report::round_micros(overlap.duration_s()),
        "should_yield": loser.router,
        "claim_macs": claim_macs,
    });
    context.finding(finding(
        code::VRRP_SPLIT_BRAIN,
        Severity::Error,
        overlap.from,
        group,
        message,
        advice,
        details,
    ));
}

fn unicast_advice(group: &Group, winner: &MasterPeriod, loser: &MasterPeriod) -> String {
    let sends_to = |period: &MasterPeriod| -> Vec<IpAddr> {
        group
            .router(period.router)
            .map(|r| r.destinations.0.clone())
            .unwrap_or_default()
    };
    let winner_targets = sends_to(winner);
    if winner_targets.iter().any(|d| d.is_multicast()) {
        return "check the unicast_peer lists if unicast is configured".into();
    }
    if winner_targets.contains(&loser.router) {
        return format!(
            "{} does send unicast adverts to {}: check the firewall and `unicast_src_ip` on {}",
            winner.router, loser.router, loser.router
        );
    }
    let targets: Vec<String> = winner_targets.iter().map(IpAddr::to_string).collect();
    format!(
        "{} sends unicast adverts only to {}: add `unicast_peer {{ {} }}` on {}",
        winner.router,
        targets.join(", "),
        loser.router,
        winner.router
    )
}

fn priority_zero(group: &Group, period: &MasterPeriod, context: &mut Context<'_>) {
    let message = format!(
        "{} sent a priority-0 advert: it stopped being master (keepalived stopped or entered FAULT); backups take over after Skew_Time instead of the full master-down interval",
        period.router
    );
    let advice = "expected on a planned `systemctl stop keepalived`; otherwise check the FAULT reason (track_interface/track_script) in `journalctl -u keepalived`".to_string();
    let details = json!({ "router": period.router, "ts": epoch_seconds(period.to) });
    context.finding(finding(
        code::VRRP_PRIORITY_ZERO,
        Severity::Info,
        period.to,
        group,
        message,
        advice,
        details,
    ));
}

/// Routers of one group disagreeing on interval, addresses, auth type or auth data.
fn config_mismatch(group: &Group, context: &mut Context<'_>) {
    let routers = &group.routers;
    let Some(first) = routers.first() else {
        return;
    };
    let mut differences: Vec<String> = Vec::new();
    let mut details = Map::new();
    let intervals = distinct(routers, |r| r.interval_centis);
    if intervals.len() > 1 {
        let list = describe(routers, |r| {
            human_duration(timing::interval_secs(r.interval_centis))
        });
        differences.push(format!("advert_int ({list})"));
        details.insert(
            "advert_int_s".into(),
            per_router(routers, |r| json!(timing::interval_secs(r.interval_centis))),
        );
    }
    if !vip_sets_disjoint(routers) && distinct(routers, sorted_vips).len() > 1 {
        differences.push("virtual_ipaddress".into());
        details.insert(
            "virtual_ips".into(),
            per_router(routers, |r| json!(r.virtual_ips)),
        );
    }
    if distinct(routers, |r| r.auth_type).len() > 1 {
        differences.push(format!(
            "auth_type ({})",
            describe(routers, |r| format!("{:?}", r.auth_type.unwrap_or(0)))
        ));
        details.insert(
            "auth_type".into(),
            per_router(routers, |r| json!(r.auth_type)),
        );
    }
    let with_auth: Vec<&Router> = routers
        .iter()
        .filter(|r| r.auth_type.unwrap_or(0) != 0)
        .collect();
    if with_auth.len() > 1
        && with_auth
            .iter()
            .any(|r| r.auth_data != first_auth(&with_auth))
    {
        differences.push(format!("auth_pass (values {})", REDACTED));
        details.insert("auth_data_differs".into(), json!(true));
    }
    if differences.is_empty() {
        return;
    }
    let message = format!(
        "routers of VRID {} disagree on {}; keepalived logs e.g. \"advertisement interval mismatch\" / \"received an invalid passwd!\" and may ignore the other's adverts",
        group.key.vrid,
        differences.join(", ")
    );
    let advice = format!(
        "make the vrrp_instance with virtual_router_id {} identical on {} except `priority` and `state`",
        group.key.vrid,
        routers
            .iter()
            .map(|r| r.ip.to_string())
            .collect::<Vec<_>>()
            .join(" and ")
    );
    context.finding(finding(
        code::VRRP_CONFIG_MISMATCH,
        Severity::Error,
        first.first_seen,
        group,
        message,
        advice,
        Value::Object(details),
    ));
}

fn first_auth(routers: &[&Router]) -> Option<[u8; 8]> {
    routers.first().and_then(|r| r.auth_data)
}

fn distinct<T: PartialEq>(routers: &[Router], value: impl Fn(&Router) -> T) -> Vec<T> {
    let mut seen: Vec<T> = Vec::new();
    for router in routers {
        let v = value(router);
        if !seen.contains(&v) {
            seen.push(v);
        }
    }
    seen
}

fn sorted_vips(router: &Router) -> Vec<IpAddr> {
    let mut vips = router.virtual_ips.clone();
    vips.sort();
    vips
}

fn describe(routers: &[Router], value: impl Fn(&Router) -> String) -> String {
    routers
        .iter()
        .map(|r| format!("{}: {}", r.ip, value(r)))
        .collect::<Vec<_>>()
        .join(", ")
}

fn per_router(routers: &[Router], value: impl Fn(&Router) -> Value) -> Value {
    let map: Map<String, Value> = routers
        .iter()
        .map(|r| (r.ip.to_string(), value(r)))
        .collect();
    Value::Object(map)
}

/// Two routers with no virtual address in common: two unrelated clusters that chose the same
/// VRID (easzlab/kubeasz#126, acassen/keepalived#2444).
fn vip_sets_disjoint(routers: &[Router]) -> bool {
    routers.iter().enumerate().any(|(i, a)| {
        routers.iter().skip(i + 1).any(|b| {
            !a.virtual_ips.is_empty()
                && !b.virtual_ips.is_empty()
                && !a.virtual_ips.iter().any(|ip| b.virtual_ips.contains(ip))
        })
    })
}

fn vrid_conflict(group: &Group, context: &mut Context<'_>) {
    let routers = &group.routers;
    if !vip_sets_disjoint(routers) {
        return;
    }
    let Some(first) = routers.first() else {
        return;
    };
    let clusters = describe(routers, |r| {
        r.virtual_ips
            .iter()
            .map(IpAddr::to_string)
            .collect::<Vec<_>>()
            .join(" ")
    });
    let message = format!(
        "VRID {} is used on this segment by routers protecting unrelated virtual addresses ({clusters}): two separate keepalived clusters share the VRID; keepalived logs \"ip address associated with VRID {} not present in MASTER advert\"",
        group.key.vrid, group.key.vrid
    );
    let advice = format!(
        "give one cluster another `virtual_router_id` (an id unused here, e.g. {}), or separate them with `unicast_peer`",
        free_vrid(group.key.vrid)
    );
    context.finding(finding(
        code::VRRP_VRID_CONFLICT,
        Severity::Warning,
        first.first_seen,
        group,
        message,
        advice,
        json!({ "virtual_ips": per_router(routers, |r| json!(r.virtual_ips)) }),
    ));
}

fn free_vrid(vrid: u8) -> u8 {
    if vrid == 255 { 254 } else { vrid + 1 }
}

fn plaintext_auth(group: &Group, context: &mut Context<'_>) {
    let with_password: Vec<&Router> = group
        .routers
        .iter()
        .filter(|r| r.auth_type == Some(crate::decode::vrrp::AUTH_TYPE_PASSWORD))
        .collect();
    let Some(first) = with_password.first() else {
        return;
    };
    let show = context.config.show_secrets;
    let passwords: Map<String, Value> = with_password
        .iter()
        .filter_map(|r| {
            Some((
                r.ip.to_string(),
                json!(auth_data_text(r.auth_data.as_ref()?, show)),
            ))
        })
        .collect();
    let message = format!(
        "VRID {} uses auth_type PASS: the password is visible in clear in every advert from {} (shown here only with --show-secrets); it protects against nothing but misconfiguration",
        group.key.vrid,
        with_password
            .iter()
            .map(|r| r.ip.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    );
    let advice = "remove the `authentication { auth_type PASS }` block (RFC 3768 removed VRRP authentication; VRRPv3 has none) and protect the segment instead; if you need authentication use `auth_type AH` on all routers".to_string();
    context.finding(finding(
        code::VRRP_PLAINTEXT_AUTH,
        Severity::Warning,
        first.first_seen,
        group,
        message,
        advice,
        json!({ "auth_type": 1, "auth_data": passwords, "visible_on_wire": true }),
    ));
}

fn bad_ttl(group: &Group, router: &Router, context: &mut Context<'_>) {
    if router.bad_ttl_adverts == 0 {
        return;
    }
    let ttls: Vec<u8> = router
        .ttls
        .0
        .iter()
        .copied()
        .filter(|&t| t != 255)
        .collect();
    let message = format!(
        "{} sent {} multicast adverts with TTL/hop limit {:?} instead of 255: receivers must drop them (RFC 3768 §7.1, keepalived logs \"invalid TTL/HL\"), so backups do not see this master",
        router.ip, router.bad_ttl_adverts, ttls
    );
    let advice = "the adverts were routed or rewritten on the way (a router, a TTL-mangling firewall rule such as `iptables -t mangle ... TTL`), or the sender is not a standard VRRP implementation: keep the routers on one L2 segment; keepalived sends 255 unless `unicast_ttl` is set (unicast only)".to_string();
    context.finding(finding(
        code::VRRP_BAD_TTL,
        Severity::Error,
        router.first_seen,
        group,
        message,
        advice,
        json!({ "router": router.ip, "ttls": ttls, "adverts": router.bad_ttl_adverts }),
    ));
}

fn bad_checksum(group: &Group, router: &Router, context: &mut Context<'_>) {
    let Some((on_wire, expected)) = router.bad_checksum_example else {
        return;
    };
    let message = format!(
        "{} adverts from {} have a wrong VRRP checksum (0x{on_wire:04x}, expected 0x{expected:04x}); receivers drop them",
        router.bad_checksums, router.ip
    );
    let advice = if group.key.version == 3 && group.key.family.name() == "ipv4" {
        "VRRPv3 over IPv4: routers disagree on including the pseudo-header; set `vrrp_checksum_as_v2`/`v3_checksum_as_v2` the same on all keepalived nodes (or match the vendor's setting). If only this capture host sees it, it may be checksum offload on the capturing host".to_string()
    } else {
        "corruption on the path or a faulty implementation; if the capture was taken on the sender itself, checksum offload can explain it (capture on another host to confirm)".to_string()
    };
    context.finding(finding(
        code::VRRP_BAD_CHECKSUM,
        Severity::Error,
        router.first_seen,
        group,
        message,
        advice,
        json!({ "router": router.ip, "bad_adverts": router.bad_checksums, "checksum": on_wire, "expected": expected }),
    ));
}

/// One VRID and family on one segment spoken in two versions.
pub fn report_across_groups(groups: &BTreeMap<GroupKey, Group>, context: &mut Context<'_>) {
    let mut seen: BTreeMap<(Option<u16>, u8, &'static str), Vec<&Group>> = BTreeMap::new();
    for group in groups.values() {
        let key = (group.key.vlan, group.key.vrid, group.key.family.name());
        seen.entry(key).or_default().push(group);
    }
    for same in seen.values().filter(|list| list.len() > 1) {
        let Some(first) = same.first() else {
            continue;
        };
        let versions: Vec<String> = same
            .iter()
            .map(|g| {
                let ips: Vec<String> = g.routers.iter().map(|r| r.ip.to_string()).collect();
                format!("v{} from {}", g.key.version, ips.join(", "))
            })
            .collect();
        let start = same
            .iter()
            .flat_map(|g| g.routers.iter().map(|r| r.first_seen))
            .min()
            .unwrap_or(Timestamp::from_nanos(0));
        let message = format!(
            "VRID {} is advertised in more than one VRRP version ({}): routers ignore adverts of the other version (keepalived: \"wrong VRRP version\") and each side becomes master",
            first.key.vrid,
            versions.join("; ")
        );
        let advice = "set the same `vrrp_version` (global_defs) or `version` (vrrp_instance) on every router of the group".to_string();
        context.finding(finding(
            code::VRRP_CONFIG_MISMATCH,
            Severity::Error,
            start,
            first,
            message,
            advice,
            json!({ "versions": same.iter().map(|g| g.key.version).collect::<Vec<_>>() }),
        ));
    }
}
