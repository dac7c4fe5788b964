//! End-to-end checks of the foundation: inputs, formats, exit statuses, tracking basics.

mod support;

use support::*;

#[test]
fn a_simple_connection_is_tracked_with_roles_and_state() {
    let dir = tempfile::tempdir().unwrap();
    let mut cap = Capture::new(Link::Ethernet);
    let mut conv = Conversation::new("10.0.0.1:40000", "10.0.0.2:80", 1000, 5000);
    conv.handshake(&mut cap, 0.0, 0.002);
    conv.client_sends(&mut cap, 0.01, b"hello", 0.001);
    conv.server_sends(&mut cap, 95.0, b"world!", 0.001);
    let path = cap.write(dir.path(), "simple.pcap");
    let report = analyze_json(&[&path], &[]);
    let connection = &report["connections"][0];
    assert_eq!(connection["client"], "10.0.0.1:40000");
    assert_eq!(connection["server"], "10.0.0.2:80");
    assert_eq!(connection["state"], "open");
    assert_eq!(connection["roles_inferred"], false);
    assert!((connection["max_idle_s"].as_f64().unwrap() - 94.989).abs() < 0.01);
    assert_eq!(report["inputs"][0]["packets"], 7);
    assert_eq!(report["summary"]["tcp_connections"], 1);
    assert_eq!(report["schema_version"], 1);
}
