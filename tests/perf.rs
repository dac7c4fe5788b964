//! Performance work must not change results. A capture from the benchmark generator
//! (benches/gencap.rs: short keep-alive connections, keepalive probes, RSTs, refusals, idle
//! connections, VRRP, IPv6, VLAN) is analyzed and the tracker's facts per connection are
//! compared with `tests/perf/tracker-golden.jsonl`, recorded with the build before the
//! optimizations of issue #11 (tree of 853dece, tracking as in a7c6732). Only tracker output
//! is compared (ids, roles, state, counts, idle, RTT, retransmissions, summary counters), not
//! detector details, so detector work elsewhere does not disturb this guard; a change here
//! means tracking changed.
//!
//! Regenerate only with a build whose tracking is known to be right:
//! `KAPROBE_WRITE_GOLDEN=1 cargo test --test perf`.

mod support;

#[allow(dead_code)]
#[path = "../benches/gencap.rs"]
mod gencap;

use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use support::analyze_json;

const GOLDEN: &str = "tests/perf/tracker-golden.jsonl";

/// About 400 connections over 80 s of capture time: long enough for sweeps, lingering closed
/// connections, port reuse by the load balancer, keepalive probes and idle resets.
fn generated_capture(dir: &Path) -> PathBuf {
    let path = dir.join("generated.pcap");
    let options = gencap::Options {
        bytes: 3 << 20,
        out: path.display().to_string(),
        seed: 7,
        rate: 5,
        mix: gencap::Mix::LoadBalancer,
    };
    gencap::generate(&options).expect("generate the capture");
    path
}

/// One line per connection with what the tracker decided, then the summary counters.
fn tracker_facts(report: &Value) -> Vec<String> {
    let fields = [
        "id",
        "client",
        "server",
        "vlan",
        "start",
        "end",
        "packets",
        "bytes",
        "state",
        "max_idle_s",
        "max_idle_end",
        "roles_inferred",
        "rtt_s",
        "retransmissions",
    ];
    let connections = report["connections"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let mut lines: Vec<String> = connections
        .iter()
        .map(|connection| {
            let picked: serde_json::Map<String, Value> = fields
                .iter()
                .map(|field| (field.to_string(), connection[*field].clone()))
                .collect();
            Value::Object(picked).to_string()
        })
        .collect();
    let summary = &report["summary"];
    lines.push(
        json!({
            "packets": summary["packets"],
            "tcp_connections": summary["tcp_connections"],
            "keepalive_probes": summary["keepalive_probes"],
            "keepalive_acks": summary["keepalive_acks"],
            "zero_window_probes": summary["zero_window_probes"],
            "rsts": summary["rsts"],
            "vrrp_adverts": summary["vrrp_adverts"],
        })
        .to_string(),
    );
    lines
}

#[test]
fn tracking_of_a_generated_load_balancer_capture_is_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let capture = generated_capture(dir.path());
    let facts = tracker_facts(&analyze_json(&[&capture], &[]));
    assert!(
        facts.len() > 300,
        "the capture should hold hundreds of connections"
    );
    let golden_path = Path::new(env!("CARGO_MANIFEST_DIR")).join(GOLDEN);
    if std::env::var_os("KAPROBE_WRITE_GOLDEN").is_some() {
        std::fs::write(&golden_path, facts.join("\n") + "\n").unwrap();
    }
    let golden = std::fs::read_to_string(&golden_path).expect("golden file");
    let expected: Vec<&str> = golden.lines().collect();
    assert_eq!(facts.len(), expected.len(), "number of connections changed");
    for (actual, expected) in facts.iter().zip(expected) {
        assert_eq!(actual, expected);
    }
}

/// `--threads` changes how the work is spread (a reader thread, JSON rendered in chunks on
/// several threads, connections sharded from 3 threads on), never the report. The generated
/// capture spans many read batches (512 frames) and rendering chunks (256 connections), so
/// batch and chunk edges are crossed, and it has what shards must agree on: connections ending
/// by closing grace and idle horizon, HTTP hops, VRRP between TCP segments.
#[test]
fn reports_are_identical_whatever_the_thread_count() {
    let dir = tempfile::tempdir().expect("temp dir");
    let capture = generated_capture(dir.path());
    let path = capture.to_str().expect("utf-8 path");
    for format in [
        &["--format", "json"][..],
        &["--format", "jsonl"],
        &["--timeline", "--color", "never"],
    ] {
        let run = |threads: &str| {
            let mut args = vec!["analyze", path, "--quiet", "--threads", threads];
            args.extend_from_slice(format);
            let (status, stdout, stderr) = support::kaprobe(&args);
            assert!(status == 0 || status == 1, "threads {threads}: {stderr}");
            stdout
        };
        let single = run("1");
        let connections = single.matches("\"id\": \"tcp/").count();
        assert!(
            format[1] != "json" || connections > 300,
            "the capture should cross rendering chunks ({connections} connections)"
        );
        for threads in ["2", "3", "8"] {
            assert!(
                single == run(threads),
                "{format:?}: --threads {threads} differs from --threads 1"
            );
        }
    }
}

/// Two vantage points of the same traffic: the same connection is two connections, usually on
/// two shards, and the cross-connection judgments (resets seen at one point only, HTTP hops
/// from client to upstream) are made by the merger from what both shards shared.
#[test]
fn two_vantage_points_are_identical_when_sharded() {
    let lab = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/lab/captures");
    for scenario in [
        "conntrack-idle-reset",
        "nginx-pool-churn",
        "rst-peer-killed",
    ] {
        let mut inputs: Vec<String> = std::fs::read_dir(&lab)
            .expect("lab captures")
            .filter_map(|entry| entry.ok().map(|e| e.path()))
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with(&format!("{scenario}.")) && n.ends_with(".pcap"))
            })
            .map(|p| p.to_string_lossy().into_owned())
            .collect();
        inputs.sort();
        assert_eq!(inputs.len(), 2, "{scenario}: two vantage points");
        for format in [
            &["--format", "json"][..],
            &["--format", "jsonl", "--timeline"],
        ] {
            let run = |threads: &str| {
                let mut args = vec!["analyze", "--quiet", "--threads", threads];
                args.extend(inputs.iter().map(String::as_str));
                args.extend_from_slice(format);
                support::kaprobe(&args).1
            };
            let single = run("1");
            assert!(single.contains("\"http_hops\"") || !scenario.starts_with("nginx"));
            for threads in ["3", "5"] {
                assert!(
                    single == run(threads),
                    "{scenario} {format:?}: --threads {threads} differs from --threads 1"
                );
            }
        }
    }
}

/// The same on real captures of the corpus (KAPROBE_CORPUS), the largest ones first.
#[test]
fn corpus_reports_are_identical_whatever_the_thread_count() {
    let Some(corpus) = support::corpus_dir() else {
        eprintln!("KAPROBE_CORPUS not set: skipped");
        return;
    };
    let mut files: Vec<(u64, PathBuf)> = std::fs::read_dir(&corpus)
        .expect("corpus dir")
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "pcap" || e == "pcapng"))
        .map(|p| (std::fs::metadata(&p).map_or(0, |m| m.len()), p))
        .collect();
    files.sort_by(|a, b| b.cmp(a));
    for (_, file) in files.iter().take(12) {
        let path = file.to_str().expect("utf-8 path");
        let run = |threads: &str| {
            support::kaprobe(&["analyze", path, "--format", "json", "--threads", threads]).1
        };
        assert!(
            run("1") == run("4"),
            "{path}: --threads 4 differs from --threads 1"
        );
    }
}

/// The table (the default output) prints findings, sections, the summary and, with
/// `--timeline`, the timelines of some connections: it keeps only the records it prints, so
/// its memory does not grow with the connections in the file. What it prints must not change.
#[test]
fn the_table_keeps_only_the_records_it_prints() {
    use kaprobe::capture::file::CaptureReader;
    use kaprobe::config::{AnalysisConfig, RecordsKept};
    let dir = tempfile::tempdir().expect("temp dir");
    let capture = generated_capture(dir.path());
    let path = capture.to_str().expect("utf-8 path");
    let run = |records: RecordsKept, threads: usize| {
        let config = AnalysisConfig {
            keep_timelines: true,
            records,
            ..AnalysisConfig::default()
        };
        let reader = CaptureReader::open(path, 0).expect("open the capture");
        kaprobe::run::analyze_inputs(vec![reader], config, None, true, threads)
            .expect("analyze the capture")
    };
    let printed = |report: &kaprobe::report::Report| json!({"summary": report.summary, "findings": report.findings, "sections": report.sections});
    for threads in [1, 3] {
        let all = run(RecordsKept::All, threads);
        let with_timeline = run(RecordsKept::WithTimeline, threads);
        let none = run(RecordsKept::None, threads);
        assert!(
            all.connections.len() > 300,
            "{} records",
            all.connections.len()
        );
        let timelined: Vec<_> = all
            .connections
            .iter()
            .filter(|record| !record.timeline.is_empty())
            .map(|record| record.id)
            .collect();
        assert!(!timelined.is_empty() && timelined.len() < all.connections.len());
        let kept: Vec<_> = with_timeline.connections.iter().map(|r| r.id).collect();
        assert_eq!(
            kept, timelined,
            "threads {threads}: records with a timeline"
        );
        assert!(none.connections.is_empty(), "threads {threads}: no records");
        assert_eq!(printed(&all), printed(&with_timeline), "threads {threads}");
        assert_eq!(printed(&all), printed(&none), "threads {threads}");
    }
}

/// Of each finding code the table lists the earliest few (in its own order: severity, then
/// time, then the order findings were made) and counts the others; nothing else changes.
#[test]
fn the_table_lists_the_earliest_findings_of_each_code_and_counts_the_rest() {
    use kaprobe::capture::file::CaptureReader;
    use kaprobe::config::AnalysisConfig;
    use std::collections::BTreeMap;
    let dir = tempfile::tempdir().expect("temp dir");
    let capture = generated_capture(dir.path());
    let path = capture.to_str().expect("utf-8 path");
    let run = |findings_per_code: Option<usize>| {
        let config = AnalysisConfig {
            findings_per_code,
            ..AnalysisConfig::default()
        };
        let reader = CaptureReader::open(path, 0).expect("open the capture");
        kaprobe::run::analyze_inputs(vec![reader], config, None, true, 3)
            .expect("analyze the capture")
    };
    let all = run(None);
    let short = run(Some(2));
    let mut expected_listed: Vec<&kaprobe::report::Finding> = Vec::new();
    let mut expected_counts: BTreeMap<(&str, &str), u64> = BTreeMap::new();
    for finding in all.sorted_findings() {
        let seen = expected_listed
            .iter()
            .filter(|f| (f.severity, f.code) == (finding.severity, finding.code))
            .count();
        if seen < 2 {
            expected_listed.push(finding);
        } else {
            let key = (finding.severity.name(), finding.code);
            *expected_counts.entry(key).or_default() += 1;
        }
    }
    assert!(
        !expected_counts.is_empty(),
        "some code has more than two findings"
    );
    let listed = serde_json::to_value(short.sorted_findings()).expect("findings");
    assert_eq!(
        listed,
        serde_json::to_value(&expected_listed).expect("findings")
    );
    let counts: BTreeMap<(&str, &str), u64> = short
        .not_listed
        .iter()
        .map(|n| ((n.severity.name(), n.code), n.count))
        .collect();
    assert_eq!(counts, expected_counts);
    assert_eq!(
        serde_json::to_value(&short.summary).expect("summary"),
        serde_json::to_value(&all.summary).expect("summary")
    );
    assert!(all.not_listed.is_empty());
}
