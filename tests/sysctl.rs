//! `kaprobe sysctl check`: verdicts on the procfs fixture trees (fixtures/procfs/*), exit
//! statuses, the advice block, and the live host (values printed = files read).

mod support;

use serde_json::Value;
use std::path::{Path, PathBuf};
use support::{findings, kaprobe};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/procfs")
        .join(name)
}

/// Runs `sysctl check --root FIXTURE --format json EXTRA`; returns the exit status and JSON.
fn check(root: &Path, extra: &[&str]) -> (i32, Value) {
    let root = root.display().to_string();
    let mut args = vec!["sysctl", "check", "--root", &root, "--format", "json"];
    args.extend_from_slice(extra);
    let (status, stdout, stderr) = kaprobe(&args);
    assert!(status == 0 || status == 1, "status {status}: {stderr}");
    let json = serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"));
    (status, json)
}

fn check_named<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["checks"]
        .as_array()
        .and_then(|checks| checks.iter().find(|c| c["name"] == name))
        .unwrap_or_else(|| panic!("no check {name} in {report:#}"))
}

fn file_number(root: &Path, relative: &str) -> u64 {
    std::fs::read_to_string(root.join(relative))
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

#[test]
fn linux_defaults_with_nothing_stated_warn_but_exit_zero() {
    let root = fixture("linux-defaults");
    let (status, report) = check(&root, &[]);
    assert_eq!(
        status, 0,
        "warnings do not reach the default --fail-on error"
    );
    let time = check_named(&report, "net.ipv4.tcp_keepalive_time");
    assert_eq!(
        time["value"],
        file_number(&root, "proc/sys/net/ipv4/tcp_keepalive_time")
    );
    assert_eq!(time["status"], "warn");
    let dead_peer = check_named(&report, "keepalive.dead_peer_detection");
    assert_eq!(dead_peer["value"], 7200 + 75 * 9);
    assert_eq!(findings(&report, "sysctl-dead-peer-slow").len(), 1);
    assert_eq!(
        findings(&report, "sysctl-keepalive-longer-than-common-middleboxes").len(),
        1
    );
    assert!(findings(&report, "sysctl-keepalive-too-long").is_empty());
    assert!(
        report["checks"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| !c["name"].as_str().unwrap().starts_with("net.netfilter")),
        "no conntrack sysctls in this tree, so no conntrack checks"
    );
    let (status, _) = check(&root, &["--fail-on", "warning"]);
    assert_eq!(status, 1);
}

#[test]
fn linux_defaults_behind_an_nlb_fail_with_a_ready_advice_block() {
    let (status, report) = check(&fixture("linux-defaults"), &["--middlebox", "aws-nlb"]);
    assert_eq!(status, 1);
    let too_long = findings(&report, "sysctl-keepalive-too-long");
    assert_eq!(too_long.len(), 1);
    assert_eq!(too_long[0]["severity"], "error");
    assert_eq!(too_long[0]["subject"], "host");
    assert_eq!(too_long[0]["evidence"]["idle_timeout_s"], 350.0);
    // 350 s: min(350 × 0.5, 350 − 30) = 175.
    let time = check_named(&report, "net.ipv4.tcp_keepalive_time");
    assert_eq!(time["status"], "fail");
    assert_eq!(time["recommended"], 175);
    assert_eq!(check_named(&report, "middlebox.aws-nlb")["status"], "fail");
    let commands: Vec<&str> = report["advice"]["commands"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    assert!(commands.contains(&"sysctl -w net.ipv4.tcp_keepalive_time=175"));
    assert_eq!(report["advice"]["file"], "/etc/sysctl.d/90-keepalive.conf");
    let content = report["advice"]["file_content"].as_str().unwrap();
    assert!(content.contains("net.ipv4.tcp_keepalive_time = 175\n"));
    assert!(content.contains("SO_KEEPALIVE"));
    // The recommended values must themselves survive the NLB and meet the target.
    let recommended = &report["recommended"];
    let time = recommended["time"].as_u64().unwrap();
    let intvl = recommended["intvl"].as_u64().unwrap();
    assert!(time + intvl < 350, "a lost first probe is retried in time");
    assert!(time + intvl * recommended["probes"].as_u64().unwrap() <= 900);
    let notes = report["notes"].to_string();
    assert!(notes.contains("SO_KEEPALIVE") && notes.contains("TCP_KEEPIDLE"));
}

#[test]
fn a_tuned_host_passes_behind_an_nlb_and_lvs() {
    let (status, report) = check(
        &fixture("tuned"),
        &[
            "--middlebox",
            "aws-nlb",
            "--middlebox",
            "lvs",
            "--fail-on",
            "info",
        ],
    );
    assert_eq!(status, 0, "{report:#}");
    assert_eq!(report["findings"], Value::Array(vec![]));
    for check in report["checks"].as_array().unwrap() {
        assert_eq!(check["status"], "ok", "{check}");
    }
    assert_eq!(report["dead_peer_detection_s"], 120 + 30 * 5);
    assert_eq!(report["advice"]["commands"], Value::Array(vec![]));
}

#[test]
fn stated_timeouts_decide_between_fail_no_margin_and_ok() {
    let tuned = fixture("tuned"); // keepalive_time 120
    let (status, report) = check(&tuned, &["--middlebox-timeout", "100s"]);
    assert_eq!(status, 1);
    assert_eq!(findings(&report, "sysctl-keepalive-too-long").len(), 1);
    // 200 s: the margin rule wants ≤ min(100, 170) = 100, 120 is below 200 but too close.
    let (status, report) = check(&tuned, &["--middlebox-timeout", "200s"]);
    assert_eq!(status, 0);
    assert_eq!(findings(&report, "sysctl-keepalive-no-margin").len(), 1);
    assert_eq!(
        check_named(&report, "net.ipv4.tcp_keepalive_time")["recommended"],
        100
    );
    let (status, _) = check(
        &tuned,
        &["--middlebox-timeout", "200s", "--fail-on", "warning"],
    );
    assert_eq!(status, 1);
    let (status, report) = check(&tuned, &["--middlebox-timeout", "10m"]);
    assert_eq!(status, 0);
    assert!(report["findings"].as_array().unwrap().is_empty());
}

#[test]
fn an_intvl_that_overshoots_the_timeout_after_one_lost_probe_is_reported() {
    // tuned: 120 s + 30 s; a device forgetting after 140 s is reached before the second probe.
    let (_, report) = check(&fixture("tuned"), &["--middlebox-timeout", "140s"]);
    assert_eq!(
        findings(&report, "sysctl-keepalive-intvl-too-long").len(),
        1
    );
}

#[test]
fn conntrack_shorter_than_keepalive_is_an_error() {
    let root = fixture("conntrack-shorter");
    let (status, report) = check(&root, &[]);
    assert_eq!(status, 1);
    let shorter = findings(&report, "sysctl-conntrack-shorter-than-keepalive");
    assert_eq!(shorter.len(), 1);
    assert_eq!(shorter[0]["severity"], "error");
    assert_eq!(shorter[0]["evidence"]["nf_conntrack_tcp_loose"], 0);
    assert!(shorter[0]["message"].as_str().unwrap().contains("INVALID"));
    let established = check_named(
        &report,
        "net.netfilter.nf_conntrack_tcp_timeout_established",
    );
    assert_eq!(
        established["value"],
        file_number(
            &root,
            "proc/sys/net/netfilter/nf_conntrack_tcp_timeout_established"
        )
    );
    assert_eq!(established["status"], "fail");
    assert!(
        findings(&report, "sysctl-keepalive-too-long").is_empty(),
        "this host's conntrack has its own code"
    );
    // The advice brings keepalive below the host's own conntrack timeout (3600 s).
    assert!(report["recommended"]["time"].as_u64().unwrap() < 3600);
}

#[test]
fn ipvs_timeouts_come_from_the_saved_ipvsadm_output() {
    let (status, report) = check(&fixture("ipvs-loaded"), &[]);
    assert_eq!(status, 1);
    let tcp = check_named(&report, "ipvs.timeout.tcp");
    assert_eq!(tcp["value"], 900);
    assert_eq!(tcp["status"], "fail");
    assert!(
        tcp["source"]
            .as_str()
            .unwrap()
            .ends_with("sos_commands/ipvs/ipvsadm_-Ln_--timeout")
    );
    assert_eq!(check_named(&report, "ipvs.timeout.tcpfin")["value"], 120);
    assert_eq!(check_named(&report, "ipvs.timeout.udp")["value"], 300);
    let shorter = findings(&report, "sysctl-ipvs-shorter-than-keepalive");
    assert_eq!(shorter.len(), 1);
    assert!(
        shorter[0]["advice"]
            .as_str()
            .unwrap()
            .contains("ipvsadm --set")
    );
}

#[test]
fn ipvs_loaded_without_saved_timeouts_says_the_defaults_were_assumed() {
    let dir = tempfile::tempdir().unwrap();
    copy_tree(&fixture("tuned"), dir.path());
    std::fs::create_dir_all(dir.path().join("proc/net")).unwrap();
    std::fs::write(dir.path().join("proc/net/ip_vs"), "IP Virtual Server\n").unwrap();
    let (_, report) = check(dir.path(), &[]);
    let tcp = check_named(&report, "ipvs.timeout.tcp");
    assert_eq!(tcp["value"], 900);
    assert!(tcp["source"].as_str().unwrap().contains("assumed"));
}

#[test]
fn layer7_proxies_are_flagged_as_not_kept_alive_by_keepalive() {
    let (status, report) = check(&fixture("tuned"), &["--middlebox", "aws-alb"]);
    assert_eq!(status, 0);
    assert_eq!(check_named(&report, "middlebox.aws-alb")["status"], "warn");
    let l7 = findings(&report, "sysctl-keepalive-cannot-keep-l7-alive");
    assert_eq!(l7.len(), 1);
    assert_eq!(l7[0]["severity"], "info");
    let (status, _) = check(
        &fixture("tuned"),
        &["--middlebox", "aws-alb", "--fail-on", "info"],
    );
    assert_eq!(status, 1);
}

#[test]
fn unreadable_values_are_reported_not_trusted() {
    let dir = tempfile::tempdir().unwrap();
    copy_tree(&fixture("tuned"), dir.path());
    std::fs::write(
        dir.path().join("proc/sys/net/ipv4/tcp_keepalive_time"),
        "lots\n",
    )
    .unwrap();
    let (status, report) = check(dir.path(), &[]);
    assert_eq!(status, 0);
    let time = check_named(&report, "net.ipv4.tcp_keepalive_time");
    assert_eq!(time["value"], Value::Null);
    assert_eq!(time["status"], "warn");
    assert!(time["message"].as_str().unwrap().contains("'lots'"));
    assert_eq!(findings(&report, "sysctl-unreadable").len(), 1);
}

#[test]
fn bad_input_exits_with_status_two_and_names_the_problem() {
    let (status, _, stderr) = kaprobe(&["sysctl", "check", "--root", "/nonexistent/kaprobe"]);
    assert_eq!(status, 2);
    assert!(
        stderr.contains("/nonexistent/kaprobe/proc/sys/net/ipv4"),
        "{stderr}"
    );
    let (status, _, stderr) = kaprobe(&["sysctl", "check", "--middlebox", "moon-lb"]);
    assert_eq!(status, 2);
    assert!(
        stderr.contains("aws-nlb"),
        "lists the known names: {stderr}"
    );
    let (status, _, stderr) = kaprobe(&["sysctl", "check", "--middlebox", "haproxy"]);
    assert_eq!(status, 2);
    assert!(stderr.contains("--middlebox-timeout"), "{stderr}");
    let (status, _, _) = kaprobe(&["sysctl", "check", "--middlebox-timeout", "5 parsecs"]);
    assert_eq!(status, 2);
}

#[test]
fn the_middlebox_list_prints_every_device_with_its_source() {
    let (status, stdout, _) =
        kaprobe(&["sysctl", "check", "--list-middleboxes", "--format", "json"]);
    assert_eq!(status, 0);
    let list: Value = serde_json::from_str(&stdout).unwrap();
    let rows = list["middleboxes"].as_array().unwrap();
    let nlb = rows.iter().find(|m| m["name"] == "aws-nlb").unwrap();
    assert_eq!(nlb["default_idle_secs"], 350);
    assert_eq!(nlb["keepalive_keeps_alive"], true);
    assert!(nlb["source"].as_str().unwrap().starts_with("https://"));
    let alb = rows.iter().find(|m| m["name"] == "aws-alb").unwrap();
    assert_eq!(alb["keepalive_keeps_alive"], false);
    let (status, table, _) = kaprobe(&["sysctl", "check", "--list-middleboxes"]);
    assert_eq!(status, 0);
    for name in ["lvs", "f5", "azure-lb", "conntrack", "cisco-asa", "envoy"] {
        assert!(table.contains(name), "{name} missing from the table");
    }
}

#[test]
fn the_table_output_has_the_verdicts_and_the_ready_block() {
    let root = fixture("linux-defaults").display().to_string();
    let (status, stdout, _) = kaprobe(&[
        "sysctl",
        "check",
        "--root",
        &root,
        "--middlebox",
        "azure-lb",
    ]);
    assert_eq!(status, 1);
    assert!(stdout.contains("recommended") && stdout.contains("verdict"));
    assert!(
        stdout.contains("sysctl -w net.ipv4.tcp_keepalive_time=120"),
        "{stdout}"
    );
    assert!(stdout.contains("/etc/sysctl.d/90-keepalive.conf"));
}

/// Runs on whatever kernel runs the tests: every value printed must equal the file read.
#[test]
fn live_host_values_equal_the_files_read() {
    let (status, stdout, stderr) = kaprobe(&["sysctl", "check", "--format", "json"]);
    assert!(status == 0 || status == 1, "{stderr}");
    let report: Value = serde_json::from_str(&stdout).unwrap();
    let mut compared = 0;
    for check in report["checks"].as_array().unwrap() {
        let source = check["source"].as_str().unwrap();
        if !source.starts_with("/proc/sys/") {
            continue;
        }
        let expected: u64 = std::fs::read_to_string(source)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        let dotted = source.trim_start_matches("/proc/sys/").replace('/', ".");
        assert_eq!(check["name"], dotted.as_str());
        assert_eq!(check["value"], expected, "{dotted}");
        compared += 1;
    }
    assert!(compared >= 6, "only {compared} values compared");
}

/// `--netns`: a namespace of our own with a distinctive value (needs root and iproute2).
#[test]
fn netns_values_are_read_inside_the_namespace() {
    let is_root = std::fs::read_to_string("/proc/self/status")
        .map(|s| {
            s.lines()
                .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0"))
        })
        .unwrap_or(false);
    let ip_works = std::process::Command::new("ip")
        .args(["netns", "list"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !is_root || !ip_works {
        eprintln!("skipping: --netns needs root and iproute2");
        return;
    }
    let name = format!("kaprobe-test-{}", std::process::id());
    let run = |args: &[&str]| {
        std::process::Command::new("ip")
            .args(args)
            .status()
            .is_ok_and(|s| s.success())
    };
    assert!(run(&["netns", "add", &name]));
    let set = run(&[
        "netns",
        "exec",
        &name,
        "sh",
        "-c",
        "echo 321 > /proc/sys/net/ipv4/tcp_keepalive_time",
    ]);
    let result = kaprobe(&[
        "sysctl",
        "check",
        "--netns",
        &name,
        "--format",
        "json",
        "--middlebox",
        "aws-nlb",
    ]);
    run(&["netns", "delete", &name]);
    assert!(set);
    let (status, stdout, stderr) = result;
    assert_eq!(
        status, 0,
        "321 s < 350 s but without margin: a warning only; {stderr}"
    );
    let report: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(
        check_named(&report, "net.ipv4.tcp_keepalive_time")["value"],
        321
    );
    assert_eq!(report["netns"], name.as_str());
    assert!(
        report["advice"]["commands"][0]
            .as_str()
            .unwrap()
            .starts_with(&format!("ip netns exec {name} sysctl -w"))
    );
}

fn copy_tree(from: &Path, to: &Path) {
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            std::fs::create_dir_all(&target).unwrap();
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}
