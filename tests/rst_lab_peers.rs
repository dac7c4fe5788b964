//! Genuine resets from the real peer, recorded by the lab through a plain forwarding router
//! (`fixtures/lab/scenarios/rst-*.sh`): the server process SIGKILLed with unread data, an
//! `SO_LINGER {on, 0}` close, and a SYN to a port nothing listens on. Each capture alone and
//! both together must give the RST the class its truth file names, never `middlebox`, and no
//! `rst-middlebox` finding (the RST is present at both vantage points, with the sender's TTL).

mod support;

use serde_json::Value;
use std::path::PathBuf;
use support::*;

/// The truth file of a lab scenario, or None when the recording machine skipped it.
fn truth(name: &str) -> Option<Value> {
    let path = lab_dir().join(format!("{name}.truth.json"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let truth: Value = serde_json::from_str(&text).expect("truth JSON");
    (truth["skipped"] != true).then_some(truth)
}

fn capture(truth: &Value, vantage: &str) -> PathBuf {
    let file = truth["captures"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["vantage"] == vantage)
        .unwrap_or_else(|| panic!("no {vantage} capture in the truth file"))["file"]
        .as_str()
        .unwrap();
    lab_dir().join(file)
}

/// Analyzes the scenario's captures: client alone, server alone, both together; checks every
/// RST kaprobe reports against the truth file.
fn check_genuine_reset(name: &str) {
    let Some(truth) = truth(name) else {
        eprintln!("{name}: skipped on the recording machine");
        return;
    };
    let expect = &truth["expect"];
    assert_eq!(
        expect["rst_genuine"], true,
        "{name}: truth says the RST is genuine"
    );
    let class = expect["rst_class"].as_str().unwrap();
    assert_ne!(class, "middlebox");
    let from = expect["rst_from"].as_str().unwrap();
    let per_side = expect["rst_count_per_side"].as_u64().unwrap() as usize;
    let finding_code = format!("rst-{class}");
    let client = capture(&truth, "client");
    let server = capture(&truth, "server");
    // (label, inputs in order, vantage of each input)
    let runs: [(&str, Vec<&PathBuf>, Vec<&str>); 3] = [
        ("client side", vec![&client], vec!["client"]),
        ("server side", vec![&server], vec!["server"]),
        (
            "both sides",
            vec![&client, &server],
            vec!["client", "server"],
        ),
    ];
    for (label, files, vantages) in runs {
        let paths: Vec<&std::path::Path> = files.iter().map(|p| p.as_path()).collect();
        let report = analyze_json(&paths, &[]);
        let context = format!("{name} ({label})");
        let mut seen = 0;
        for connection in report["connections"].as_array().unwrap() {
            for rst in connection["rsts"].as_array().unwrap() {
                seen += 1;
                let input = connection["input"].as_u64().unwrap() as usize;
                let vantage = vantages[input];
                assert_eq!(
                    connection["client"], expect["client"],
                    "{context}: {connection}"
                );
                assert_eq!(
                    connection["server"], expect["server"],
                    "{context}: {connection}"
                );
                assert_eq!(rst["from"], from, "{context}: RST sender: {connection}");
                assert_ne!(
                    rst["class"], "middlebox",
                    "{context}: a reset from the real peer was called injected: {connection}"
                );
                assert_eq!(rst["class"], class, "{context}: RST class: {connection}");
                // The RST carries the sender's own TTL at this vantage point (63 behind the router).
                let ttl_key = format!("rst_ttl_{vantage}_side");
                assert_eq!(
                    rst["evidence"]["ttl"],
                    expect["observed"][ttl_key.as_str()],
                    "{context}: RST TTL at the {vantage} side: {connection}"
                );
                assert_eq!(
                    rst["evidence"]["ttl"],
                    expect[ttl_key.as_str()],
                    "{context}"
                );
                for sign in ["ttl_mismatch", "ip_id_break", "too_fast", "race"] {
                    assert!(
                        rst["evidence"].get(sign).is_none(),
                        "{context}: injection sign {sign} on a genuine reset: {connection}"
                    );
                }
            }
        }
        assert_eq!(
            seen,
            per_side * files.len(),
            "{context}: one RST per capture expected: {}",
            report["connections"]
        );
        assert!(
            findings(&report, "rst-middlebox").is_empty(),
            "{context}: rst-middlebox finding for a genuine reset: {:?}",
            findings(&report, "rst-middlebox")
        );
        assert_eq!(
            findings(&report, &finding_code).len(),
            files.len(),
            "{context}: one {finding_code} finding per capture: {}",
            report["findings"]
        );
    }
}

#[test]
fn server_killed_with_unread_data_is_a_peer_abort() {
    check_genuine_reset("rst-peer-killed");
}

#[test]
fn linger_zero_close_is_a_peer_abort() {
    check_genuine_reset("rst-linger-zero");
}

#[test]
fn refused_port_is_refused_not_injected() {
    check_genuine_reset("rst-refused-port");
}

/// The designed TTLs of the truth files hold in the captures: the router is one hop.
#[test]
fn truth_ttls_show_one_router_hop() {
    for name in ["rst-peer-killed", "rst-linger-zero", "rst-refused-port"] {
        let Some(truth) = truth(name) else { continue };
        let expect = &truth["expect"];
        let observed = &expect["observed"];
        assert_eq!(expect["rst_ttl_client_side"], 63, "{name}");
        assert_eq!(expect["rst_ttl_server_side"], 64, "{name}");
        assert_eq!(observed["rst_ttl_client_side"], 63, "{name}");
        assert_eq!(observed["rst_ttl_server_side"], 64, "{name}");
        assert_eq!(observed["rst_src"], expect["rst_from"], "{name}");
        if name != "rst-refused-port" {
            assert_eq!(
                observed["server_packet_ttl_on_client_side"],
                serde_json::json!([63]),
                "{name}"
            );
        }
    }
}
