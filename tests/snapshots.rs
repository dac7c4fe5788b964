//! Human output, checked with snapshots (insta): the findings table, the summary, the HTTP
//! hop chain, VRRP master periods and timelines, on committed real lab captures. Review
//! changes with `cargo insta review`.

mod support;

use std::path::PathBuf;

fn committed_lab(name: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/lab/captures")
        .join(name)
        .display()
        .to_string()
}

fn table(args: &[&str]) -> String {
    let mut full = vec!["analyze"];
    full.extend_from_slice(args);
    full.extend_from_slice(&["--color", "never", "--fail-on", "never"]);
    let (status, stdout, stderr) = support::kaprobe(&full);
    assert_eq!(status, 0, "{stderr}");
    // Paths differ between checkouts; the rest must not.
    stdout.replace(&format!("{}/", env!("CARGO_MANIFEST_DIR")), "")
}

#[test]
fn idle_reset_seen_from_both_sides() {
    let client = committed_lab("conntrack-idle-reset.client.pcap");
    let server = committed_lab("conntrack-idle-reset.server.pcap");
    insta::assert_snapshot!(table(&[
        &client,
        &server,
        "--idle-threshold",
        "5s",
        "--timeline"
    ]));
}

#[test]
fn dead_peer_keepalive_timeline() {
    let capture = committed_lab("tcp-keepalive-dead-peer.client.pcap");
    insta::assert_snapshot!(table(&[&capture, "--timeline"]));
}

#[test]
fn nginx_hop_without_upstream_keepalive() {
    let client = committed_lab("nginx-default-upstream.client.pcap");
    let upstream = committed_lab("nginx-default-upstream.upstream.pcap");
    insta::assert_snapshot!(table(&[&client, &upstream]));
}

#[test]
fn keepalived_failover_and_preemption() {
    let capture = committed_lab("vrrp-failover-v2.observer.pcap");
    insta::assert_snapshot!(table(&[&capture, "--timeline"]));
}
