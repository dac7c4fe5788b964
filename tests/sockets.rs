//! `kaprobe sockets`: keepalive timers, states and owners from /proc/net/tcp{,6}, checked
//! against what the script that opened the sockets knows (fixtures/procfs/loopback_sockets.py):
//! on the recorded fixture and on the live kernel.

mod support;

use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use support::kaprobe;

fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/procfs")
}

fn sockets_json(extra: &[&str]) -> Value {
    let mut args = vec!["sockets", "--format", "json"];
    args.extend_from_slice(extra);
    let (status, stdout, stderr) = kaprobe(&args);
    assert_eq!(status, 0, "{stderr}");
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"))
}

fn socket_with_local<'a>(listing: &'a Value, local: &Value) -> Option<&'a Value> {
    listing["sockets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| &s["local"] == local)
}

/// Every client socket the script opened is listed with the keepalive state it set.
fn assert_matches_truth(listing: &Value, truth: &Value, expect_owner: bool) {
    for client in truth["clients"].as_array().unwrap() {
        let socket = socket_with_local(listing, &client["local"])
            .unwrap_or_else(|| panic!("{} not listed", client["local"]));
        assert_eq!(socket["remote"], client["remote"]);
        assert_eq!(socket["state"], "established");
        assert_eq!(socket["inode"], client["inode"]);
        assert_eq!(socket["keepalive"], client["keepalive"], "{socket}");
        if client["keepalive"] == true {
            assert_eq!(socket["timer"], "keepalive");
            let expires = socket["timer_expires_s"].as_f64().unwrap();
            let idle = client["keepidle_s"].as_f64().unwrap_or(7200.0);
            assert!(
                expires <= idle && expires > idle - 30.0,
                "{expires} vs {idle}"
            );
        } else {
            assert_eq!(socket["timer"], "none");
            assert_eq!(socket["timer_expires_s"], Value::Null);
        }
        if expect_owner {
            assert_eq!(socket["process"]["pid"], truth["pid"], "{socket}");
        }
    }
    let time_wait = socket_with_local(listing, &truth["time_wait"]).expect("TIME_WAIT socket");
    assert_eq!(time_wait["state"], "time-wait");
    assert_eq!(time_wait["timer"], "time-wait");
    assert_eq!(time_wait["keepalive"], false);
}

#[test]
fn the_recorded_loopback_sample_matches_what_the_script_set() {
    let root = fixture_dir().join("sockets-loopback");
    let truth: Value =
        serde_json::from_str(&std::fs::read_to_string(root.join("truth.json")).unwrap()).unwrap();
    let listing = sockets_json(&["--root", &root.display().to_string()]);
    assert_matches_truth(&listing, &truth, true);
    let owner = socket_with_local(&listing, &truth["clients"][0]["local"]).unwrap();
    let comm = std::fs::read_to_string(root.join(format!("proc/{}/comm", truth["pid"]))).unwrap();
    assert_eq!(owner["process"]["name"], comm.trim());
    let listeners: Vec<&Value> = listing["sockets"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["state"] == "listen")
        .collect();
    assert_eq!(listeners.len(), 2, "one IPv4 and one IPv6 listener");
    assert_eq!(listing["summary"]["established_with_keepalive"], 2);
}

#[test]
fn established_no_keepalive_lists_what_an_idle_timeout_would_kill() {
    let root = fixture_dir().join("sockets-loopback");
    let truth: Value =
        serde_json::from_str(&std::fs::read_to_string(root.join("truth.json")).unwrap()).unwrap();
    let listing = sockets_json(&[
        "--root",
        &root.display().to_string(),
        "--established",
        "--no-keepalive",
    ]);
    let sockets = listing["sockets"].as_array().unwrap();
    assert!(!sockets.is_empty());
    for socket in sockets {
        assert_eq!(socket["state"], "established");
        assert_eq!(socket["keepalive"], false);
    }
    for client in truth["clients"].as_array().unwrap() {
        let listed = socket_with_local(&listing, &client["local"]).is_some();
        assert_eq!(listed, client["keepalive"] == false, "{client}");
    }
}

#[test]
fn the_table_names_timers_and_owners() {
    let root = fixture_dir().join("sockets-loopback").display().to_string();
    let (status, stdout, _) = kaprobe(&["sockets", "--root", &root, "--established"]);
    assert_eq!(status, 0);
    assert!(
        stdout.contains("keepalive") && stdout.contains("python"),
        "{stdout}"
    );
    assert!(stdout.contains("with a keepalive timer"));
}

#[test]
fn a_root_without_tcp_tables_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().display().to_string();
    let (status, _, stderr) = kaprobe(&["sockets", "--root", &root]);
    assert_eq!(status, 2);
    assert!(stderr.contains("proc/net/tcp"), "{stderr}");
}

/// Real sockets on the running kernel, opened by the same script and held open.
#[test]
fn live_loopback_sockets_show_their_keepalive_timers() {
    let script = fixture_dir().join("loopback_sockets.py");
    let child = Command::new("python3")
        .arg(&script)
        .arg("hold")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn();
    let Ok(mut child) = child else {
        eprintln!("skipping: python3 is not available");
        return;
    };
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let listing = sockets_json(&[]);
    drop(child.stdin.take());
    let _ = child.wait();
    let truth: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}"));
    // Owners are visible only to root or the same user; the script runs as our user.
    assert_matches_truth(&listing, &truth, true);
}
