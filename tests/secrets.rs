//! Secrets never reach any output without `--show-secrets` (issue 12): a VRRP PASS password
//! planted in a synthetic capture, and the lab's recorded one, are searched for in every
//! output format (table, json, jsonl, each with --timeline --all) of every lab fixture.
//! HTTP secrets (Authorization, Cookie, query strings) join once the HTTP detector lands.

mod support;

use std::path::{Path, PathBuf};
use support::{Capture, Link, kaprobe};

const PLANTED: &str = "Pl4nt3d!";
/// keepalived's `auth_pass` in the lab scenario vrrp-auth-pass (see its truth.json).
const LAB_PASSWORD: &str = "s3cr3tpw";

fn vrrp_pass_advert(password: &str) -> Vec<u8> {
    let mut advert = vec![0x21, 51, 150, 1, 1, 1, 0, 0, 10, 0, 0, 254];
    let mut auth = password.as_bytes().to_vec();
    auth.resize(8, 0);
    advert.extend_from_slice(&auth);
    let mut sum: u32 = advert
        .chunks(2)
        .map(|p| u32::from(u16::from_be_bytes([p[0], p[1]])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    advert[6..8].copy_from_slice(&(!(sum as u16)).to_be_bytes());
    advert
}

fn outputs(path: &Path, extra: &[&str]) -> Vec<(String, String)> {
    ["table", "json", "jsonl"]
        .iter()
        .map(|format| {
            let mut args = vec![
                "analyze",
                path.to_str().unwrap(),
                "--format",
                format,
                "--timeline",
                "--all",
                "--fail-on",
                "never",
                "--quiet",
            ];
            args.extend_from_slice(extra);
            let (status, stdout, stderr) = kaprobe(&args);
            assert_eq!(status, 0, "{}: {stderr}", path.display());
            (format.to_string(), stdout + &stderr)
        })
        .collect()
}

fn planted_capture(dir: &Path) -> PathBuf {
    let mut capture = Capture::new(Link::Ethernet);
    for second in 0..5 {
        capture.ip(
            f64::from(second),
            "10.0.0.5",
            "224.0.0.18",
            112,
            255,
            &vrrp_pass_advert(PLANTED),
        );
    }
    capture.write(dir, "vrrp-pass.pcap")
}

#[test]
fn planted_vrrp_password_is_shown_only_with_show_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let path = planted_capture(dir.path());
    for (format, text) in outputs(&path, &[]) {
        assert!(
            text.contains("vrrp"),
            "{format}: nothing about VRRP: {text}"
        );
        assert!(
            !text.contains(PLANTED),
            "{format} leaks the password: {text}"
        );
    }
    // The control: the finder works, the secret is in the capture.
    let shown = outputs(&path, &["--show-secrets"]);
    assert!(shown.iter().any(|(_, text)| text.contains(PLANTED)));
}

#[test]
fn no_lab_fixture_output_contains_a_secret() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/lab/captures");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "pcap" || x == "pcapng"))
        .collect();
    files.sort();
    assert!(!files.is_empty());
    for file in &files {
        for (format, text) in outputs(file, &[]) {
            for secret in [PLANTED, LAB_PASSWORD] {
                assert!(
                    !text.contains(secret),
                    "{} ({format}) leaks {secret}",
                    file.display()
                );
            }
        }
    }
}
