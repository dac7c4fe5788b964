//! VRRP / keepalived (issue 7): synthetic edge cases built in code, the public corpus behind
//! `KAPROBE_CORPUS`, and the lab's keepalived captures with their truth files.

mod support;

use serde_json::Value;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use support::*;

const MAC_A: [u8; 6] = [0x02, 0xaa, 0, 0, 0, 0x01];
const MAC_B: [u8; 6] = [0x02, 0xbb, 0, 0, 0, 0x02];

/// RFC 1071 sum, written here independently of the program's own implementation.
fn ones_complement(initial: u32, bytes: &[u8]) -> u16 {
    let mut sum = initial;
    for pair in bytes.chunks(2) {
        let word = u16::from_be_bytes([pair[0], *pair.get(1).unwrap_or(&0)]);
        sum += u32::from(word);
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

fn put_checksum(message: &mut [u8], initial: u32) {
    message[6] = 0;
    message[7] = 0;
    let sum = ones_complement(initial, message);
    message[6..8].copy_from_slice(&sum.to_be_bytes());
}

fn addresses(vips: &[&str]) -> Vec<u8> {
    vips.iter()
        .flat_map(|v| match v.parse::<IpAddr>().unwrap() {
            IpAddr::V4(a) => a.octets().to_vec(),
            IpAddr::V6(a) => a.octets().to_vec(),
        })
        .collect()
}

/// A VRRPv2 advert with a correct checksum.
fn v2(vrid: u8, priority: u8, interval_s: u8, auth: Option<&[u8; 8]>, vips: &[&str]) -> Vec<u8> {
    let auth_type = if auth.is_some() { 1 } else { 0 };
    let mut message = vec![
        0x21,
        vrid,
        priority,
        vips.len() as u8,
        auth_type,
        interval_s,
        0,
        0,
    ];
    message.extend(addresses(vips));
    message.extend_from_slice(auth.unwrap_or(&[0; 8]));
    put_checksum(&mut message, 0);
    message
}

/// A VRRPv3 advert with the RFC 5798 pseudo-header checksum.
fn v3(
    source: &str,
    destination: &str,
    vrid: u8,
    priority: u8,
    centis: u16,
    vips: &[&str],
) -> Vec<u8> {
    let [high, low] = centis.to_be_bytes();
    let mut message = vec![
        0x31,
        vrid,
        priority,
        vips.len() as u8,
        high & 0x0f,
        low,
        0,
        0,
    ];
    message.extend(addresses(vips));
    let mut pseudo = addresses(&[source, destination]);
    let length = message.len() as u32;
    let initial = match source.parse::<IpAddr>().unwrap() {
        IpAddr::V4(_) => 112 + length,
        IpAddr::V6(_) => {
            pseudo.extend_from_slice(&length.to_be_bytes());
            pseudo.extend_from_slice(&[0, 0, 0, 112]);
            0
        }
    };
    let initial = initial + u32::from(!ones_complement(0, &pseudo));
    put_checksum(&mut message, initial);
    message
}

fn ethernet(source: [u8; 6], destination: [u8; 6], ether_type: u16, payload: &[u8]) -> Vec<u8> {
    let mut frame = destination.to_vec();
    frame.extend_from_slice(&source);
    frame.extend_from_slice(&ether_type.to_be_bytes());
    frame.extend_from_slice(payload);
    frame
}

/// An IPv4 packet with protocol 112 in an Ethernet frame from `mac`.
fn advert_frame(mac: [u8; 6], source: &str, destination: &str, ttl: u8, vrrp: &[u8]) -> Vec<u8> {
    let header = etherparse::Ipv4Header::new(
        vrrp.len() as u16,
        ttl,
        etherparse::IpNumber(112),
        source.parse::<std::net::Ipv4Addr>().unwrap().octets(),
        destination.parse::<std::net::Ipv4Addr>().unwrap().octets(),
    )
    .unwrap();
    let mut packet = Vec::new();
    header.write(&mut packet).unwrap();
    packet.extend_from_slice(vrrp);
    ethernet(mac, [0x01, 0, 0x5e, 0, 0, 0x12], 0x0800, &packet)
}

fn garp_frame(mac: [u8; 6], vip: &str) -> Vec<u8> {
    let ip = vip.parse::<std::net::Ipv4Addr>().unwrap().octets();
    let mut arp = vec![0, 1, 8, 0, 6, 4, 0, 1];
    arp.extend_from_slice(&mac);
    arp.extend_from_slice(&ip);
    arp.extend_from_slice(&[0xff; 6]);
    arp.extend_from_slice(&ip);
    ethernet(mac, [0xff; 6], 0x0806, &arp)
}

/// Adverts from `router` every `interval` seconds in [from, to].
fn adverts(cap: &mut Capture, mac: [u8; 6], router: &str, times: (f64, f64, f64), vrrp: &[u8]) {
    let (from, to, interval) = times;
    let mut t = from;
    while t <= to + 1e-9 {
        cap.frame(t, advert_frame(mac, router, "224.0.0.18", 255, vrrp));
        t += interval;
    }
}

fn analyze(cap: &Capture, extra: &[&str]) -> Value {
    let dir = tempfile::tempdir().unwrap();
    let path = cap.write(dir.path(), "vrrp.pcap");
    analyze_json(&[&path], extra)
}

fn groups(report: &Value) -> &Vec<Value> {
    report["vrrp"]["groups"].as_array().expect("vrrp.groups")
}

fn codes(report: &Value) -> Vec<String> {
    let mut codes: Vec<String> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["code"].as_str().unwrap().to_string())
        .collect();
    codes.sort();
    codes.dedup();
    codes
}

fn f64_of(value: &Value) -> f64 {
    value
        .as_f64()
        .unwrap_or_else(|| panic!("not a number: {value}"))
}

#[test]
fn ipv6_v3_advert_verifies_with_the_pseudo_header() {
    let mut cap = Capture::new(Link::Ethernet);
    let advert = v3("fe80::1", "ff02::12", 7, 120, 100, &["2001:db8::7"]);
    for i in 0..5 {
        cap.ip(f64::from(i), "fe80::1", "ff02::12", 112, 255, &advert);
    }
    let report = analyze(&cap, &[]);
    assert_eq!(report["summary"]["vrrp_adverts"], 5);
    let group = &groups(&report)[0];
    assert_eq!(group["version"], 3);
    assert_eq!(group["family"], "ipv6");
    let router = &group["routers"][0];
    assert_eq!(router["ip"], "fe80::1");
    assert_eq!(router["priority"], 120);
    assert_eq!(router["advert_int_s"], 1.0);
    assert_eq!(router["virtual_ips"][0], "2001:db8::7");
    assert_eq!(router["bad_checksums"], 0);
    assert!(codes(&report).is_empty(), "{:?}", codes(&report));
}

#[test]
fn a_corrupted_checksum_is_reported_with_the_expected_value() {
    let mut cap = Capture::new(Link::Ethernet);
    let good = v2(9, 100, 1, None, &["10.0.0.254"]);
    let mut bad = good.clone();
    bad[7] ^= 0x5a;
    cap.ip(0.0, "10.0.0.1", "224.0.0.18", 112, 255, &good);
    cap.ip(1.0, "10.0.0.1", "224.0.0.18", 112, 255, &bad);
    let report = analyze(&cap, &[]);
    let found = findings(&report, "vrrp-bad-checksum");
    assert_eq!(found.len(), 1);
    assert_eq!(found[0]["subject"], "vrrp/9");
    assert_eq!(found[0]["evidence"]["bad_adverts"], 1);
    let expected = u16::from_be_bytes([good[6], good[7]]);
    assert_eq!(found[0]["evidence"]["expected"], expected);
}

#[test]
fn ttl_64_is_bad_on_multicast_but_not_on_unicast_peers() {
    let mut cap = Capture::new(Link::Ethernet);
    let advert = v2(3, 100, 1, None, &["10.0.0.254"]);
    for i in 0..3 {
        cap.ip(f64::from(i), "10.0.0.1", "224.0.0.18", 112, 64, &advert);
    }
    let report = analyze(&cap, &[]);
    let found = findings(&report, "vrrp-bad-ttl");
    assert_eq!(found.len(), 1);
    assert_eq!(found[0]["evidence"]["ttls"][0], 64);

    // keepalived skips the TTL check for unicast_peer: no finding.
    let mut cap = Capture::new(Link::Ethernet);
    for i in 0..3 {
        cap.ip(f64::from(i), "10.0.0.1", "10.0.0.2", 112, 64, &advert);
    }
    let report = analyze(&cap, &[]);
    assert!(findings(&report, "vrrp-bad-ttl").is_empty());
    assert_eq!(groups(&report)[0]["routers"][0]["unicast"], true);
}

#[test]
fn priority_zero_resignation_hands_over_after_skew_time() {
    let mut cap = Capture::new(Link::Ethernet);
    let master = v2(51, 150, 1, None, &["10.0.0.254"]);
    let backup = v2(51, 100, 1, None, &["10.0.0.254"]);
    adverts(&mut cap, MAC_A, "10.0.0.1", (0.0, 5.0, 1.0), &master);
    let resign = v2(51, 0, 1, None, &["10.0.0.254"]);
    cap.frame(
        5.4,
        advert_frame(MAC_A, "10.0.0.1", "224.0.0.18", 255, &resign),
    );
    // Skew_Time for priority 100: 156/256 s = 0.609 s.
    adverts(&mut cap, MAC_B, "10.0.0.2", (6.01, 12.01, 1.0), &backup);
    let report = analyze(&cap, &[]);
    assert_eq!(findings(&report, "vrrp-priority-zero").len(), 1);
    assert!(findings(&report, "vrrp-master-silent").is_empty());
    let failover = &groups(&report)[0]["failovers"][0];
    assert_eq!(failover["cause"], "master-resigned");
    assert_eq!(failover["within_expected"], true);
    assert!((f64_of(&failover["expected_s"]) - 0.609375).abs() < 1e-6);
    assert!((f64_of(&failover["gap_s"]) - 0.61).abs() < 1e-6);
}

#[test]
fn routers_with_different_advert_int_are_a_config_mismatch() {
    let mut cap = Capture::new(Link::Ethernet);
    let fast = v2(20, 150, 1, None, &["10.0.0.254"]);
    let slow = v2(20, 100, 3, None, &["10.0.0.254"]);
    adverts(&mut cap, MAC_A, "10.0.0.1", (0.0, 4.0, 1.0), &fast);
    adverts(&mut cap, MAC_B, "10.0.0.2", (9.0, 21.0, 3.0), &slow);
    let report = analyze(&cap, &[]);
    let found = findings(&report, "vrrp-config-mismatch");
    assert_eq!(found.len(), 1, "{:?}", codes(&report));
    assert!(found[0]["message"].as_str().unwrap().contains("advert_int"));
    assert_eq!(found[0]["evidence"]["advert_int_s"]["10.0.0.2"], 3.0);
    assert!(findings(&report, "vrrp-vrid-conflict").is_empty());
}

#[test]
fn two_clusters_with_one_vrid_are_a_vrid_conflict() {
    let mut cap = Capture::new(Link::Ethernet);
    let first = v2(1, 100, 1, None, &["10.0.0.10"]);
    let second = v2(1, 100, 1, None, &["10.0.0.20"]);
    adverts(&mut cap, MAC_A, "10.0.0.1", (0.0, 5.0, 1.0), &first);
    adverts(&mut cap, MAC_B, "10.0.0.2", (0.5, 5.5, 1.0), &second);
    let report = analyze(&cap, &[]);
    let found = findings(&report, "vrrp-vrid-conflict");
    assert_eq!(found.len(), 1);
    assert!(
        found[0]["advice"]
            .as_str()
            .unwrap()
            .contains("virtual_router_id")
    );
    // Disjoint address sets are not reported a second time as a virtual address mismatch.
    assert!(findings(&report, "vrrp-config-mismatch").is_empty());
}

#[test]
fn simultaneous_masters_are_a_split_brain_naming_who_should_yield() {
    let mut cap = Capture::new(Link::Ethernet);
    let high = v2(51, 150, 1, None, &["10.0.0.254"]);
    let low = v2(51, 100, 1, None, &["10.0.0.254"]);
    adverts(&mut cap, MAC_A, "10.0.0.1", (0.0, 10.0, 1.0), &high);
    adverts(&mut cap, MAC_B, "10.0.0.2", (0.3, 10.3, 1.0), &low);
    cap.frame(0.31, garp_frame(MAC_B, "10.0.0.254"));
    let report = analyze(&cap, &[]);
    let found = findings(&report, "vrrp-split-brain");
    assert_eq!(found.len(), 1);
    assert_eq!(found[0]["severity"], "error");
    assert_eq!(found[0]["evidence"]["should_yield"], "10.0.0.2");
    assert!((f64_of(&found[0]["evidence"]["overlap_s"]) - 9.7).abs() < 1e-6);
    assert!(
        found[0]["advice"]
            .as_str()
            .unwrap()
            .contains("-p vrrp -j ACCEPT")
    );
    // Both stopping at the end of the capture is not a failover.
    assert!(findings(&report, "vrrp-failover").is_empty());
}

#[test]
fn failover_after_silence_is_timed_against_master_down_and_first_garp() {
    let mut cap = Capture::new(Link::Ethernet);
    let master = v2(51, 150, 1, None, &["10.0.0.254"]);
    let backup = v2(51, 100, 1, None, &["10.0.0.254"]);
    adverts(&mut cap, MAC_A, "10.0.0.1", (0.0, 4.0, 1.0), &master);
    cap.frame(0.001, garp_frame(MAC_A, "10.0.0.254"));
    // Master_Down_Interval for priority 100 at 1 s: 3.609 s.
    adverts(&mut cap, MAC_B, "10.0.0.2", (7.61, 12.61, 1.0), &backup);
    for t in [7.6102, 7.6103, 8.6102, 8.6103] {
        cap.frame(t, garp_frame(MAC_B, "10.0.0.254"));
    }
    let report = analyze(&cap, &[]);
    let found = findings(&report, "vrrp-failover");
    assert_eq!(found.len(), 1);
    assert_eq!(found[0]["evidence"]["cause"], "master-silent");
    assert_eq!(found[0]["evidence"]["within_expected"], true);
    assert!((f64_of(&found[0]["evidence"]["no_master_s"]) - 3.61).abs() < 1e-6);
    let group = &groups(&report)[0];
    let masters = group["masters"].as_array().unwrap();
    assert_eq!(masters.len(), 2);
    assert_eq!(masters[0]["ip"], "10.0.0.1");
    assert_eq!(masters[1]["ip"], "10.0.0.2");
    assert!((f64_of(&masters[1]["from"]) - f64_of(&masters[0]["to"]) - 3.61).abs() < 1e-5);
    let failover = &group["failovers"][0];
    assert!((f64_of(&failover["first_claim_after_new_master_s"]) - 0.0002).abs() < 1e-5);
    let router_b = group["routers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["ip"] == "10.0.0.2")
        .unwrap();
    assert_eq!(router_b["gratuitous_arps"], 4);
    assert_eq!(group["gratuitous_arps"][0]["count"], 5);
}

#[test]
fn a_master_that_stops_with_nobody_taking_over_is_silent() {
    let mut cap = Capture::new(Link::Ethernet);
    let master = v2(8, 150, 1, None, &["10.0.0.254"]);
    adverts(&mut cap, MAC_A, "10.0.0.1", (0.0, 5.0, 1.0), &master);
    // Unrelated traffic shows the capture went on for 30 s more.
    cap.frame(35.0, garp_frame(MAC_B, "10.0.0.99"));
    let report = analyze(&cap, &[]);
    let found = findings(&report, "vrrp-master-silent");
    assert_eq!(found.len(), 1);
    assert!((f64_of(&found[0]["evidence"]["silent_s"]) - 30.0).abs() < 1e-6);

    // A capture that simply ends after the last advert says nothing about silence.
    let mut cap = Capture::new(Link::Ethernet);
    adverts(&mut cap, MAC_A, "10.0.0.1", (0.0, 5.0, 1.0), &master);
    assert!(findings(&analyze(&cap, &[]), "vrrp-master-silent").is_empty());
}

#[test]
fn a_lowered_priority_is_shown_as_the_cause_of_preemption() {
    let mut cap = Capture::new(Link::Ethernet);
    adverts(
        &mut cap,
        MAC_A,
        "10.0.0.1",
        (0.0, 3.0, 1.0),
        &v2(5, 150, 1, None, &["10.0.0.254"]),
    );
    adverts(
        &mut cap,
        MAC_A,
        "10.0.0.1",
        (4.0, 5.0, 1.0),
        &v2(5, 90, 1, None, &["10.0.0.254"]),
    );
    adverts(
        &mut cap,
        MAC_B,
        "10.0.0.2",
        (5.3, 9.3, 1.0),
        &v2(5, 100, 1, None, &["10.0.0.254"]),
    );
    let report = analyze(&cap, &["--timeline", "--all"]);
    let failover = &groups(&report)[0]["failovers"][0];
    assert_eq!(failover["cause"], "priority-lowered");
    assert_eq!(failover["no_master_s"], 0.0);
    let events = groups(&report)[0]["events"].as_array().unwrap();
    assert!(
        events
            .iter()
            .any(|e| e["kind"] == "vrrp-priority"
                && e["text"].as_str().unwrap().contains("150 -> 90"))
    );
}

#[test]
fn plaintext_password_is_redacted_unless_secrets_are_shown() {
    let mut cap = Capture::new(Link::Ethernet);
    let advert = v2(42, 100, 1, Some(b"s3cr3tpw"), &["10.0.0.254"]);
    adverts(&mut cap, MAC_A, "10.0.0.1", (0.0, 3.0, 1.0), &advert);
    let report = analyze(&cap, &[]);
    let found = findings(&report, "vrrp-plaintext-auth");
    assert_eq!(found.len(), 1);
    assert_eq!(found[0]["evidence"]["auth_data"]["10.0.0.1"], "<redacted>");
    assert_eq!(groups(&report)[0]["routers"][0]["auth_data"], "<redacted>");
    assert!(!report.to_string().contains("s3cr3tpw"));
    let shown = analyze(&cap, &["--show-secrets"]);
    assert_eq!(groups(&shown)[0]["routers"][0]["auth_data"], "s3cr3tpw");
}

#[test]
fn keepalived_auth_hmac_trailer_is_accepted() {
    let mut cap = Capture::new(Link::Ethernet);
    let mut advert = v2(51, 100, 1, None, &["10.0.0.254"]);
    advert.extend_from_slice(&[0x01; 32]);
    cap.ip(0.0, "10.0.0.1", "224.0.0.18", 112, 255, &advert);
    let report = analyze(&cap, &[]);
    assert_eq!(report["summary"]["vrrp_adverts"], 1);
    let router = &groups(&report)[0]["routers"][0];
    assert_eq!(router["trailer_adverts"], 1);
    assert_eq!(router["bad_checksums"], 0);
}

#[test]
fn vrrp_quoted_in_an_icmp_error_is_not_an_advert() {
    let mut cap = Capture::new(Link::Ethernet);
    let advert = v2(51, 100, 1, None, &["10.0.0.254"]);
    let mut inner = Vec::new();
    etherparse::Ipv4Header::new(
        advert.len() as u16,
        255,
        etherparse::IpNumber(112),
        [10, 0, 0, 1],
        [224, 0, 0, 18],
    )
    .unwrap()
    .write(&mut inner)
    .unwrap();
    inner.extend_from_slice(&advert[..8]);
    let mut icmp = vec![3, 1, 0, 0, 0, 0, 0, 0];
    icmp.extend_from_slice(&inner);
    cap.ip(0.0, "10.0.0.9", "10.0.0.1", 1, 64, &icmp);
    let report = analyze(&cap, &[]);
    assert_eq!(report["summary"]["vrrp_adverts"], 0);
    assert!(report.get("vrrp").is_none());
}

#[test]
fn timeline_collapses_adverts_into_runs() {
    let mut cap = Capture::new(Link::Ethernet);
    let master = v2(51, 150, 1, None, &["10.0.0.254"]);
    adverts(&mut cap, MAC_A, "10.0.0.1", (0.0, 41.0, 1.0), &master);
    let dir = tempfile::tempdir().unwrap();
    let path = cap.write(dir.path(), "run.pcap");
    let path = path.display().to_string();
    let (status, stdout, stderr) = kaprobe(&[
        "analyze",
        &path,
        "--timeline",
        "--all",
        "--fail-on",
        "never",
    ]);
    assert_eq!(status, 0, "{stderr}");
    assert!(stdout.contains("Timeline vrrp/51"), "{stdout}");
    assert!(
        stdout.contains("10.0.0.1 prio 150 advertising every 1.0 s, 42 adverts"),
        "{stdout}"
    );
}

// ---------------------------------------------------------------------------------------
// Real captures: the public corpus.

fn corpus_report(name: &str) -> Option<Value> {
    let Some(dir) = corpus_dir() else {
        eprintln!("KAPROBE_CORPUS not set: skipping corpus check of {name}");
        return None;
    };
    Some(analyze_json(&[&dir.join(name)], &[]))
}

#[test]
fn corpus_tcpdump_vrrp_has_six_preemptions_per_group() {
    let Some(report) = corpus_report("tcpdump__vrrp.pcap") else {
        return;
    };
    assert_eq!(report["summary"]["vrrp_adverts"], 165);
    let groups = groups(&report);
    let vrids: Vec<u64> = groups.iter().map(|g| g["vrid"].as_u64().unwrap()).collect();
    assert_eq!(vrids, vec![42, 43, 44, 45, 46]);
    let mut changes = 0;
    for group in groups {
        let masters = group["masters"].as_array().unwrap();
        assert_eq!(masters.len(), 7, "vrid {}", group["vrid"]);
        let failovers = group["failovers"].as_array().unwrap();
        assert!(failovers.iter().all(|f| f["cause"] == "preempted"));
        changes += failovers.len();
        // Priorities rise 191..197 as routers .91 .. .97 take over.
        let priorities: Vec<u64> = masters
            .iter()
            .map(|m| m["priority"].as_u64().unwrap())
            .collect();
        assert_eq!(priorities, (191..=197).collect::<Vec<u64>>());
    }
    assert_eq!(changes, 30, "tshark baseline: 30 source changes");
    assert_eq!(findings(&report, "vrrp-plaintext-auth").len(), 1);
    assert!(findings(&report, "vrrp-bad-checksum").is_empty());
    assert!(findings(&report, "vrrp-split-brain").is_empty());
}

#[test]
fn corpus_ndpi_vrrp3_takeover_in_a_vlan() {
    let Some(report) = corpus_report("ndpi__vrrp3.pcapng") else {
        return;
    };
    assert_eq!(report["summary"]["vrrp_adverts"], 10);
    let group = &groups(&report)[0];
    assert_eq!(group["vrid"], 36);
    assert_eq!(group["vlan"], 36);
    assert_eq!(group["family"], "ipv6");
    let failover = &group["failovers"][0];
    assert_eq!(failover["from"], "fe80::2");
    assert_eq!(failover["to"], "fe80::1");
    assert_eq!(failover["new_priority"], 105);
}

#[test]
fn corpus_traps_and_single_adverts() {
    let Some(dir) = corpus_dir() else {
        eprintln!("KAPROBE_CORPUS not set: skipping VRRP corpus traps");
        return;
    };
    // tshark counts 1 here (a 3-byte "VRRP" fragment of a fuzzed file); it is no advert.
    let cases = [
        ("tcpdump__icmp-icmp_print-oobr-1.pcap", 0),
        // Frame Relay is not a link type kaprobe decodes: 0 (tshark: 3).
        ("tcpdump__vrrp-vrrp_print-oobr.pcap", 0),
        ("zeek__pbb.pcap", 1),
        ("pcapplusplus__VRRP-V2.pcap", 1),
        ("pcapplusplus__VRRP-V3-IPv4.pcap", 1),
        ("pcapplusplus__VRRP-V3-IPv6.pcap", 1),
    ];
    for (name, expected) in cases {
        let report = analyze_json(&[&dir.join(name)], &[]);
        assert_eq!(report["summary"]["vrrp_adverts"], expected, "{name}");
        assert!(findings(&report, "vrrp-bad-checksum").is_empty(), "{name}");
    }
}

// ---------------------------------------------------------------------------------------
// Real captures: the lab's keepalived scenarios with truth files.

fn lab_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("KAPROBE_LAB_CAPTURES")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/lab/captures"));
    dir.is_dir().then_some(dir)
}

fn lab_truths() -> Vec<(PathBuf, Value)> {
    let Some(dir) = lab_dir() else {
        eprintln!("fixtures/lab/captures not present: skipping the lab keepalived checks");
        return Vec::new();
    };
    let mut truths: Vec<(PathBuf, Value)> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|entry| {
            let path = entry.ok()?.path();
            let name = path.file_name()?.to_str()?.to_string();
            (name.starts_with("vrrp-") && name.ends_with(".truth.json")).then_some(path)
        })
        .map(|path| {
            let truth = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
            (dir.clone(), truth)
        })
        .filter(|(_, truth): &(PathBuf, Value)| truth["skipped"] != true)
        .collect();
    truths.sort_by_key(|(_, t)| t["scenario"].as_str().unwrap_or("").to_string());
    if truths.is_empty() {
        eprintln!("no vrrp-*.truth.json in {}: skipping", dir.display());
    }
    truths
}

fn lab_report(dir: &Path, truth: &Value) -> Value {
    let files: Vec<PathBuf> = truth["captures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| dir.join(c["file"].as_str().unwrap()))
        .collect();
    let refs: Vec<&Path> = files.iter().map(PathBuf::as_path).collect();
    analyze_json(&refs, &[])
}

#[test]
fn lab_master_periods_and_failovers_match_the_truth() {
    for (dir, truth) in lab_truths() {
        let scenario = truth["scenario"].as_str().unwrap();
        let observed = &truth["expect"]["observed"];
        let interval = f64_of(&truth["expect"]["advert_int_s"]);
        let report = lab_report(&dir, &truth);
        assert_eq!(
            report["summary"]["vrrp_adverts"], observed["advert_count"],
            "{scenario}"
        );
        let group = &groups(&report)[0];
        let masters = group["masters"].as_array().unwrap();
        let expected = observed["master_periods"].as_array().unwrap();
        assert_eq!(masters.len(), expected.len(), "{scenario}: {masters:?}");
        for (got, want) in masters.iter().zip(expected) {
            assert_eq!(got["ip"], want["ip"], "{scenario}");
            assert!(
                (f64_of(&got["from"]) - f64_of(&want["from"])).abs() <= interval,
                "{scenario}"
            );
            assert!(
                (f64_of(&got["to"]) - f64_of(&want["to"])).abs() <= interval,
                "{scenario}"
            );
        }
        let split = observed["split_brain"] == true;
        assert_eq!(
            !findings(&report, "vrrp-split-brain").is_empty(),
            split,
            "{scenario}"
        );
        if !split {
            let failovers = group["failovers"].as_array().unwrap();
            let transitions = observed["transitions"].as_array().unwrap();
            assert_eq!(failovers.len(), transitions.len(), "{scenario}");
            for (got, want) in failovers.iter().zip(transitions) {
                assert_eq!(got["from"], want["from"], "{scenario}");
                assert_eq!(got["to"], want["to"], "{scenario}");
                assert!(
                    (f64_of(&got["gap_s"]) - f64_of(&want["gap_s"])).abs() <= interval,
                    "{scenario}"
                );
            }
        }
        let prio0 = observed["priority_zero_adverts"].as_u64().unwrap_or(0) as usize;
        assert_eq!(
            findings(&report, "vrrp-priority-zero").len(),
            prio0.min(1),
            "{scenario}"
        );
        let plaintext = observed["auth_types"]
            .as_array()
            .is_some_and(|a| a.contains(&Value::from(1)));
        assert_eq!(
            !findings(&report, "vrrp-plaintext-auth").is_empty(),
            plaintext,
            "{scenario}"
        );
        for secret in observed["auth_strings_on_wire"]
            .as_array()
            .into_iter()
            .flatten()
        {
            assert!(
                !report.to_string().contains(secret.as_str().unwrap()),
                "{scenario} leaks"
            );
        }
        check_claims_by_router(scenario, &truth, group);
    }
}

/// Gratuitous ARPs per router, matched through the routers' MACs in the truth's host list.
fn check_claims_by_router(scenario: &str, truth: &Value, group: &Value) {
    let Some(by_router) = truth["expect"]["observed"]["gratuitous_arp_by_router"].as_object()
    else {
        return;
    };
    for host in truth["hosts"].as_array().unwrap() {
        let Some(name) = host["name"].as_str() else {
            continue;
        };
        let Some(want) = by_router.get(name) else {
            continue;
        };
        // IPv6 groups advertise from the link-local address.
        let addresses = ["ip", "ip6", "ip6_link_local"].map(|k| host[k].clone());
        let router = group["routers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| addresses.contains(&r["ip"]));
        let got = router.map_or(Value::from(0), |r| r["gratuitous_arps"].clone());
        assert_eq!(&got, want, "{scenario}: gratuitous ARPs from {name}");
    }
}
