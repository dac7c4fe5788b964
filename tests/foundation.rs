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

fn minimal_capture() -> Capture {
    let mut cap = Capture::new(Link::Ethernet);
    let mut conv = Conversation::new("10.0.0.1:40000", "10.0.0.2:80", 1000, 5000);
    conv.handshake(&mut cap, 0.0, 0.002);
    conv.client_sends(&mut cap, 0.01, b"hello", 0.001);
    cap
}

#[test]
fn gzip_and_stdin_inputs_are_read_like_files() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let bytes = minimal_capture().to_bytes();
    let gz_path = dir.path().join("capture.pcap.gz");
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(&bytes).unwrap();
    std::fs::write(&gz_path, encoder.finish().unwrap()).unwrap();
    let report = analyze_json(&[&gz_path], &[]);
    assert_eq!(report["inputs"][0]["packets"], 5);
    assert_eq!(report["inputs"][0]["format"], "pcap+gzip");

    let output = assert_cmd::Command::cargo_bin("kaprobe")
        .unwrap()
        .args(["analyze", "-", "--format", "json"])
        .write_stdin(bytes)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0));
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["inputs"][0]["packets"], 5);
}

/// A pcapng file with two interfaces of different link types and timestamp resolutions.
fn pcapng_two_interfaces(frame: &[u8]) -> Vec<u8> {
    fn block(kind: u32, body: &[u8]) -> Vec<u8> {
        let padded = body.len().div_ceil(4) * 4;
        let total = (12 + padded) as u32;
        let mut out = Vec::new();
        out.extend_from_slice(&kind.to_le_bytes());
        out.extend_from_slice(&total.to_le_bytes());
        out.extend_from_slice(body);
        out.resize(8 + padded, 0);
        out.extend_from_slice(&total.to_le_bytes());
        out
    }
    let mut file = Vec::new();
    let mut shb = vec![];
    shb.extend_from_slice(&0x1a2b3c4du32.to_le_bytes());
    shb.extend_from_slice(&1u16.to_le_bytes());
    shb.extend_from_slice(&0u16.to_le_bytes());
    shb.extend_from_slice(&(-1i64).to_le_bytes());
    file.extend(block(0x0a0d0d0a, &shb));
    // Interface 0: Ethernet, microseconds. Interface 1: raw IP, nanoseconds (if_tsresol 9).
    let mut idb0 = vec![];
    idb0.extend_from_slice(&1u16.to_le_bytes());
    idb0.extend_from_slice(&0u16.to_le_bytes());
    idb0.extend_from_slice(&0u32.to_le_bytes());
    file.extend(block(1, &idb0));
    let mut idb1 = vec![];
    idb1.extend_from_slice(&101u16.to_le_bytes());
    idb1.extend_from_slice(&0u16.to_le_bytes());
    idb1.extend_from_slice(&0u32.to_le_bytes());
    idb1.extend_from_slice(&[9, 0, 1, 0, 9, 0, 0, 0, 0, 0, 0, 0]); // if_tsresol = 9, opt_endofopt
    file.extend(block(1, &idb1));
    let epb = |interface: u32, ts: u64, data: &[u8]| {
        let mut body = vec![];
        body.extend_from_slice(&interface.to_le_bytes());
        body.extend_from_slice(&((ts >> 32) as u32).to_le_bytes());
        body.extend_from_slice(&(ts as u32).to_le_bytes());
        body.extend_from_slice(&(data.len() as u32).to_le_bytes());
        body.extend_from_slice(&(data.len() as u32).to_le_bytes());
        body.extend_from_slice(data);
        block(6, &body)
    };
    file.extend(epb(0, 1_704_067_200_000_000, frame));
    let ip_only = &frame[14..];
    file.extend(epb(1, 1_704_067_200_500_000_000, ip_only));
    file
}

#[test]
fn pcapng_interfaces_keep_their_own_link_type_and_clock() {
    let dir = tempfile::tempdir().unwrap();
    let ethernet = minimal_capture().to_bytes();
    // The first frame of the classic capture: skip the 24-byte header and 16-byte record header.
    let first_len = u32::from_le_bytes(ethernet[32..36].try_into().unwrap()) as usize;
    let frame = &ethernet[40..40 + first_len];
    let path = dir.path().join("two.pcap"); // a pcapng named .pcap: recognized by magic
    std::fs::write(&path, pcapng_two_interfaces(frame)).unwrap();
    let report = analyze_json(&[&path], &[]);
    let input = &report["inputs"][0];
    assert_eq!(input["format"], "pcapng");
    assert_eq!(input["packets"], 2);
    assert_eq!(input["link_types"], serde_json::json!(["EN10MB", "RAW"]));
    assert_eq!(input["first_ts"], 1_704_067_200.0);
    assert_eq!(input["last_ts"], 1_704_067_200.5);
    // Two interfaces: two observations of the SYN, not one connection with a retransmission.
    assert_eq!(report["summary"]["tcp_connections"], 2);
}

#[test]
fn a_capture_cut_mid_packet_is_analyzed_with_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let mut bytes = minimal_capture().to_bytes();
    bytes.truncate(bytes.len() - 10);
    let path = dir.path().join("cut.pcap");
    std::fs::write(&path, &bytes).unwrap();
    let (status, stdout, _) = kaprobe(&["analyze", path.to_str().unwrap(), "--format", "json"]);
    assert_eq!(status, 0);
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(report["inputs"][0]["packets"], 4);
    let warning = report["inputs"][0]["warnings"][0].as_str().unwrap();
    assert!(
        warning.contains("ends in the middle of a record"),
        "{warning}"
    );
}

#[test]
fn missing_empty_and_non_capture_files_are_input_errors() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty.pcap");
    std::fs::write(&empty, b"").unwrap();
    let text = dir.path().join("notes.pcap");
    std::fs::write(&text, b"GET / HTTP/1.1\r\n").unwrap();
    let missing = dir.path().join("missing.pcap");
    for (path, expected) in [
        (&empty, "is empty"),
        (&text, "47 45 54 20"),
        (&missing, "cannot open"),
    ] {
        let (status, stdout, stderr) = kaprobe(&["analyze", path.to_str().unwrap()]);
        assert_eq!(status, 2, "{stderr}");
        assert!(stdout.is_empty());
        assert!(stderr.contains(expected), "{stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "one-line error: {stderr}");
    }
}

#[test]
fn fail_on_decides_the_exit_status() {
    let dir = tempfile::tempdir().unwrap();
    let mut cap = Capture::new(Link::Ethernet);
    let mut conv = Conversation::new("10.0.0.1:40000", "10.0.0.2:80", 1000, 5000);
    conv.handshake(&mut cap, 0.0, 0.002);
    conv.client_sends(&mut cap, 0.01, b"hello", 0.001);
    conv.client_sends(&mut cap, 100.0, b"again", 0.001);
    let path = cap.write(dir.path(), "idle.pcap");
    let file = path.to_str().unwrap();
    assert_eq!(
        kaprobe(&["analyze", file]).0,
        0,
        "a warning does not fail by default"
    );
    assert_eq!(kaprobe(&["analyze", file, "--fail-on", "warning"]).0, 1);
    assert_eq!(kaprobe(&["analyze", file, "--fail-on", "never"]).0, 0);
    assert_eq!(kaprobe(&["analyze", file, "--bogus"]).0, 2);
}

#[test]
fn jsonl_streams_one_object_per_line_ending_with_a_summary() {
    let dir = tempfile::tempdir().unwrap();
    let path = minimal_capture().write(dir.path(), "s.pcap");
    let (status, stdout, _) = kaprobe(&["analyze", path.to_str().unwrap(), "--format", "jsonl"]);
    assert_eq!(status, 0);
    let lines: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.last().unwrap()["type"], "summary");
    assert!(lines.iter().any(|l| l["type"] == "connection"));
    assert_eq!(lines.last().unwrap()["summary"]["packets"], 5);
}

#[test]
fn vlan_tagged_and_raw_ip_captures_decode() {
    let dir = tempfile::tempdir().unwrap();
    for (link, name) in [(Link::Vlan(42), "vlan.pcap"), (Link::Raw, "raw.pcap")] {
        let mut cap = Capture::new(link);
        let mut conv = Conversation::new("[2001:db8::1]:40000", "[2001:db8::2]:443", 1, 2);
        conv.handshake(&mut cap, 0.0, 0.002);
        let path = cap.write(dir.path(), name);
        let report = analyze_json(&[&path], &[]);
        assert_eq!(
            report["connections"][0]["client"], "[2001:db8::1]:40000",
            "{name}"
        );
        assert_eq!(report["summary"]["undecoded_packets"], 0, "{name}");
    }
}

#[test]
fn port_reuse_after_close_starts_a_new_connection() {
    let dir = tempfile::tempdir().unwrap();
    let mut cap = Capture::new(Link::Ethernet);
    let mut first = Conversation::new("10.0.0.1:40000", "10.0.0.2:80", 1000, 5000);
    first.handshake(&mut cap, 0.0, 0.002);
    cap.tcp(
        0.1,
        seg("10.0.0.1:40000", "10.0.0.2:80")
            .flags(RST | ACK)
            .seq(first.client_seq)
            .ack(first.server_seq),
    );
    let mut second = Conversation::new("10.0.0.1:40000", "10.0.0.2:80", 90_000, 7000);
    second.handshake(&mut cap, 1.0, 0.002);
    let path = cap.write(dir.path(), "reuse.pcap");
    let report = analyze_json(&[&path], &[]);
    assert_eq!(report["summary"]["tcp_connections"], 2);
    assert_eq!(report["connections"][0]["state"], "reset");
    assert_eq!(report["connections"][1]["state"], "open");
}

#[test]
fn mid_stream_pickup_guesses_the_server_by_port() {
    let dir = tempfile::tempdir().unwrap();
    let mut cap = Capture::new(Link::Ethernet);
    cap.tcp(
        0.0,
        seg("10.0.0.2:443", "10.0.0.1:51000")
            .seq(10)
            .ack(20)
            .payload(b"abc"),
    );
    let path = cap.write(dir.path(), "mid.pcap");
    let report = analyze_json(&[&path], &[]);
    assert_eq!(report["connections"][0]["server"], "10.0.0.2:443");
    assert_eq!(report["connections"][0]["roles_inferred"], true);
}

/// Every capture of the real-world corpus reads without an error and with tshark's count.
#[test]
fn corpus_packet_counts_equal_tshark() {
    let Some(corpus) = corpus_dir() else {
        eprintln!("KAPROBE_CORPUS not set: skipping the corpus packet-count check");
        return;
    };
    let baseline = std::fs::read_to_string(corpus.join("baseline.tsv")).unwrap();
    let mut lines = baseline.lines();
    let header: Vec<&str> = lines.next().unwrap().split('\t').collect();
    let file_column = header.iter().position(|h| *h == "file").unwrap();
    let packets_column = header.iter().position(|h| *h == "packets").unwrap();
    let mut checked = 0;
    for line in lines {
        let fields: Vec<&str> = line.split('\t').collect();
        let path = corpus.join(fields[file_column]);
        let report = analyze_json(&[&path], &[]);
        let expected: u64 = fields[packets_column].parse().unwrap();
        assert_eq!(
            report["inputs"][0]["packets"].as_u64(),
            Some(expected),
            "{}",
            fields[file_column]
        );
        checked += 1;
    }
    assert!(checked >= 60);
}

#[test]
fn consecutive_parts_of_one_capture_continue_connections_with_one_vantage() {
    let dir = tempfile::tempdir().unwrap();
    let mut first = Capture::new(Link::Ethernet);
    let mut conv = Conversation::new("10.0.0.1:40000", "10.0.0.2:80", 1000, 5000);
    conv.handshake(&mut first, 0.0, 0.002);
    let mut second = Capture::new(Link::Ethernet);
    conv.client_sends(&mut second, 1.0, b"later", 0.001);
    let a = first.write(dir.path(), "part0.pcap");
    let b = second.write(dir.path(), "part1.pcap");
    let separate = analyze_json(&[&a, &b], &[]);
    assert_eq!(separate["summary"]["tcp_connections"], 2);
    let joined = analyze_json(&[&a, &b], &["--one-vantage"]);
    assert_eq!(joined["summary"]["tcp_connections"], 1);
    assert_eq!(joined["connections"][0]["packets"], 5);
    assert_eq!(joined["connections"][0]["roles_inferred"], false);
}
