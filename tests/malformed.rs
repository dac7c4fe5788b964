//! Hostile and broken captures (issue 12): each gives a warning or a skip, never a panic, and
//! what the format still allows is analyzed. The good part of every capture is one small TCP
//! conversation built with the test support; the damage is written as raw bytes around it.
//! Every file kept in `fixtures/malformed/` (inputs found by fuzzing) is also run here.

mod support;

use serde_json::Value;
use std::io::Write;
use std::path::{Path, PathBuf};
use support::{Capture, Conversation, Link, kaprobe};

/// Frames in [`conversation`]: handshake (3), client data + ACK (2), server data + ACK (2).
const GOOD_FRAMES: u64 = 7;

/// A classic pcap (little-endian, microseconds) holding one complete TCP conversation.
fn conversation() -> Vec<u8> {
    let mut capture = Capture::new(Link::Ethernet);
    let mut talk = Conversation::new("10.0.0.1:40000", "10.0.0.2:80", 1000, 5000);
    talk.handshake(&mut capture, 0.0, 0.002);
    talk.client_sends(&mut capture, 1.0, b"hello", 0.001);
    talk.server_sends(&mut capture, 2.0, b"world", 0.001);
    capture.to_bytes()
}

/// Splits classic little-endian pcap bytes into the 24-byte header and whole records.
fn split_records(bytes: &[u8]) -> (Vec<u8>, Vec<Vec<u8>>) {
    let header = bytes[..24].to_vec();
    let mut records = Vec::new();
    let mut at = 24;
    while at + 16 <= bytes.len() {
        let caplen = u32::from_le_bytes(bytes[at + 8..at + 12].try_into().unwrap()) as usize;
        records.push(bytes[at..at + 16 + caplen].to_vec());
        at += 16 + caplen;
    }
    (header, records)
}

fn frame_of(record: &[u8]) -> &[u8] {
    &record[16..]
}

fn record(ts_sec: u32, ts_usec: u32, caplen: u32, origlen: u32, data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    for word in [ts_sec, ts_usec, caplen, origlen] {
        out.extend_from_slice(&word.to_le_bytes());
    }
    out.extend_from_slice(data);
    out
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

fn analyze(path: &Path) -> Value {
    support::analyze_json(&[path], &[])
}

fn warnings(report: &Value) -> Vec<String> {
    report["inputs"][0]["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w.as_str().unwrap().to_string())
        .collect()
}

fn warning_with(report: &Value, needles: &[&str]) -> String {
    let all = warnings(report);
    all.iter()
        .find(|w| needles.iter().all(|n| w.contains(n)))
        .cloned()
        .unwrap_or_else(|| panic!("no warning containing {needles:?} in {all:?}"))
}

/// The conversation was analyzed: one connection, closed cleanly or open, with its packets.
fn assert_conversation_analyzed(report: &Value, packets: u64) {
    assert_eq!(report["summary"]["tcp_connections"], 1, "{report}");
    assert_eq!(report["connections"][0]["packets"], packets, "{report}");
    assert_eq!(report["connections"][0]["client"], "10.0.0.1:40000");
}

#[test]
fn truncated_global_header_is_an_input_error_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "short-header.pcap", &conversation()[..10]);
    let (status, stdout, stderr) = kaprobe(&["analyze", path.to_str().unwrap(), "--quiet"]);
    assert_eq!(status, 2, "stdout: {stdout}");
    assert!(stderr.contains("short-header.pcap"), "{stderr}");
    assert!(stderr.contains("header"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn truncated_record_header_keeps_every_complete_record() {
    let dir = tempfile::tempdir().unwrap();
    let mut bytes = conversation();
    let good_len = bytes.len();
    bytes.extend_from_slice(&record(1_704_067_300, 0, 60, 60, &[])[..7]);
    let report = analyze(&write(dir.path(), "cut-header.pcap", &bytes));
    assert_eq!(report["inputs"][0]["packets"], GOOD_FRAMES);
    assert_conversation_analyzed(&report, GOOD_FRAMES);
    warning_with(
        &report,
        &["middle of a record", &format!("byte {good_len}")],
    );
}

#[test]
fn truncated_record_data_keeps_every_complete_record() {
    let dir = tempfile::tempdir().unwrap();
    let mut bytes = conversation();
    let good_len = bytes.len();
    bytes.extend_from_slice(&record(1_704_067_300, 0, 100, 100, &[0u8; 20]));
    let report = analyze(&write(dir.path(), "cut-data.pcap", &bytes));
    assert_eq!(report["inputs"][0]["packets"], GOOD_FRAMES);
    assert_conversation_analyzed(&report, GOOD_FRAMES);
    warning_with(
        &report,
        &["middle of a record", &format!("byte {good_len}")],
    );
}

#[test]
fn record_longer_than_the_snaplen_is_read_with_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let (mut header, records) = split_records(&conversation());
    // Snaplen 54: shorter than the data frames (but the writer ignored it).
    header[16..20].copy_from_slice(&54u32.to_le_bytes());
    let mut bytes = header;
    for record in &records {
        bytes.extend_from_slice(record);
    }
    let report = analyze(&write(dir.path(), "over-snaplen.pcap", &bytes));
    assert_eq!(report["inputs"][0]["packets"], GOOD_FRAMES);
    assert_conversation_analyzed(&report, GOOD_FRAMES);
    // The first data frame is frame 4 (after the handshake).
    warning_with(&report, &["snaplen 54", "frame 4"]);
}

#[test]
fn record_claiming_300_mib_stops_reading_with_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let mut bytes = conversation();
    let good_len = bytes.len();
    bytes.extend_from_slice(&record(1_704_067_300, 0, 300 << 20, 300 << 20, &[]));
    let path = write(dir.path(), "huge-record.pcap", &bytes);
    // The file really goes on (sparse zeros) past the 64 MiB cap, so the reader must refuse
    // the record rather than reach the end of the file.
    let file = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
    file.set_len(70 << 20).unwrap();
    drop(file);
    let report = analyze(&path);
    assert_eq!(report["inputs"][0]["packets"], GOOD_FRAMES);
    assert_conversation_analyzed(&report, GOOD_FRAMES);
    warning_with(
        &report,
        &["larger than 64 MiB", &format!("byte {good_len}")],
    );
}

#[test]
fn record_claiming_300_mib_at_the_end_of_a_short_file_is_a_cut_record() {
    let dir = tempfile::tempdir().unwrap();
    let mut bytes = conversation();
    let good_len = bytes.len();
    bytes.extend_from_slice(&record(1_704_067_300, 0, 300 << 20, 300 << 20, &[1, 2, 3]));
    let report = analyze(&write(dir.path(), "huge-record-short.pcap", &bytes));
    assert_eq!(report["inputs"][0]["packets"], GOOD_FRAMES);
    warning_with(
        &report,
        &["middle of a record", &format!("byte {good_len}")],
    );
}

#[test]
fn zero_length_records_are_counted_and_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let (header, records) = split_records(&conversation());
    let mut bytes = header;
    for (index, good) in records.iter().enumerate() {
        bytes.extend_from_slice(good);
        if index == 2 || index == 4 {
            bytes.extend_from_slice(&record(1_704_067_201, 500_000, 0, 0, &[]));
        }
    }
    let report = analyze(&write(dir.path(), "zero-length.pcap", &bytes));
    assert_eq!(report["inputs"][0]["packets"], GOOD_FRAMES + 2);
    assert_eq!(report["summary"]["packets"], GOOD_FRAMES + 2);
    assert_eq!(report["summary"]["undecoded_packets"], 2);
    assert_conversation_analyzed(&report, GOOD_FRAMES);
}

#[test]
fn timestamps_going_backwards_are_kept_in_file_order_with_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let (header, records) = split_records(&conversation());
    let mut bytes = header;
    for (index, good) in records.iter().enumerate() {
        let mut good = good.clone();
        if index == 5 {
            // The server's data frame stamped 10 minutes earlier (a clock step).
            let seconds = u32::from_le_bytes(good[..4].try_into().unwrap()) - 600;
            good[..4].copy_from_slice(&seconds.to_le_bytes());
        }
        bytes.extend_from_slice(&good);
    }
    let report = analyze(&write(dir.path(), "backwards.pcap", &bytes));
    assert_eq!(report["inputs"][0]["packets"], GOOD_FRAMES);
    assert_conversation_analyzed(&report, GOOD_FRAMES);
    let idle = report["connections"][0]["max_idle_s"].as_f64().unwrap();
    assert!((0.0..700.0).contains(&idle), "max_idle_s {idle}");
    warning_with(&report, &["backwards", "frame 6"]);
}

// ---- pcapng ----

fn block(kind: u32, body: &[u8]) -> Vec<u8> {
    let padded = body.len().div_ceil(4) * 4;
    let total = (padded + 12) as u32;
    let mut out = Vec::new();
    out.extend_from_slice(&kind.to_le_bytes());
    out.extend_from_slice(&total.to_le_bytes());
    out.extend_from_slice(body);
    out.resize(padded + 8, 0);
    out.extend_from_slice(&total.to_le_bytes());
    out
}

fn section_header() -> Vec<u8> {
    let mut body = 0x1a2b_3c4du32.to_le_bytes().to_vec();
    body.extend_from_slice(&[1, 0, 0, 0]);
    body.extend_from_slice(&[0xff; 8]);
    block(0x0a0d_0d0a, &body)
}

/// An Ethernet interface with microsecond timestamps (the default resolution).
fn interface() -> Vec<u8> {
    let mut body = vec![1, 0, 0, 0];
    body.extend_from_slice(&65535u32.to_le_bytes());
    block(1, &body)
}

fn enhanced_packet(interface_id: u32, micros: u64, frame: &[u8]) -> Vec<u8> {
    let mut body = interface_id.to_le_bytes().to_vec();
    body.extend_from_slice(&((micros >> 32) as u32).to_le_bytes());
    body.extend_from_slice(&(micros as u32).to_le_bytes());
    body.extend_from_slice(&(frame.len() as u32).to_le_bytes());
    body.extend_from_slice(&(frame.len() as u32).to_le_bytes());
    body.extend_from_slice(frame);
    block(6, &body)
}

/// The conversation as pcapng blocks (without the section header), one EPB per frame;
/// `damage(index, block)` may rewrite each.
fn pcapng_conversation(mut damage: impl FnMut(usize, Vec<u8>) -> Vec<u8>) -> Vec<u8> {
    let (_, records) = split_records(&conversation());
    let mut bytes = section_header();
    bytes.extend_from_slice(&interface());
    for (index, good) in records.iter().enumerate() {
        let micros = 1_704_067_200_000_000 + index as u64 * 1000;
        bytes.extend_from_slice(&damage(index, enhanced_packet(0, micros, frame_of(good))));
    }
    bytes
}

#[test]
fn pcapng_control_is_read_in_full() {
    let dir = tempfile::tempdir().unwrap();
    let report = analyze(&write(
        dir.path(),
        "good.pcapng",
        &pcapng_conversation(|_, b| b),
    ));
    assert_eq!(report["inputs"][0]["format"], "pcapng");
    assert_eq!(report["inputs"][0]["packets"], GOOD_FRAMES);
    assert_conversation_analyzed(&report, GOOD_FRAMES);
    assert_eq!(warnings(&report), Vec::<String>::new());
}

#[test]
fn pcapng_unknown_block_types_are_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = pcapng_conversation(|index, good| {
        if index == 3 {
            let mut both = block(0x0000_0bad, &[1, 2, 3, 4, 5]);
            both.extend_from_slice(&good);
            both
        } else {
            good
        }
    });
    let report = analyze(&write(dir.path(), "unknown-block.pcapng", &bytes));
    assert_eq!(report["inputs"][0]["packets"], GOOD_FRAMES);
    assert_conversation_analyzed(&report, GOOD_FRAMES);
}

#[test]
fn pcapng_block_with_a_bad_length_stops_reading_with_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let mut offset_of_bad = 0;
    let mut at = section_header().len() + interface().len();
    let bytes = pcapng_conversation(|index, mut good| {
        if index == 4 {
            offset_of_bad = at;
            // Total length 13: below the 12-byte minimum plus body, not a multiple of 4.
            good[4..8].copy_from_slice(&13u32.to_le_bytes());
        }
        at += good.len();
        good
    });
    let report = analyze(&write(dir.path(), "bad-length.pcapng", &bytes));
    assert_eq!(report["inputs"][0]["packets"], 4);
    assert_conversation_analyzed(&report, 4);
    warning_with(&report, &[&format!("byte {offset_of_bad}")]);
}

#[test]
fn pcapng_trailing_length_mismatch_stops_reading_with_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = pcapng_conversation(|index, mut good| {
        if index == 5 {
            let end = good.len();
            good[end - 4..].copy_from_slice(&4000u32.to_le_bytes());
        }
        good
    });
    let report = analyze(&write(dir.path(), "bad-trailer.pcapng", &bytes));
    let packets = report["inputs"][0]["packets"].as_u64().unwrap();
    assert!(packets >= 5, "{report}");
    assert!(!warnings(&report).is_empty(), "{report}");
}

#[test]
fn pcapng_block_claiming_gigabytes_stops_reading_with_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = pcapng_conversation(|index, mut good| {
        if index == 6 {
            good[4..8].copy_from_slice(&0xffff_fff0u32.to_le_bytes());
        }
        good
    });
    let report = analyze(&write(dir.path(), "huge-block.pcapng", &bytes));
    assert_eq!(report["inputs"][0]["packets"], 6);
    assert!(!warnings(&report).is_empty(), "{report}");
}

#[test]
fn pcapng_packet_on_an_undeclared_interface_is_skipped_with_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = pcapng_conversation(|index, good| {
        if index == 2 {
            let mut both = good.clone();
            let mut stray = good;
            stray[8..12].copy_from_slice(&5u32.to_le_bytes());
            both.extend_from_slice(&stray);
            both
        } else {
            good
        }
    });
    let report = analyze(&write(dir.path(), "bad-interface.pcapng", &bytes));
    assert_eq!(report["inputs"][0]["packets"], GOOD_FRAMES);
    assert_conversation_analyzed(&report, GOOD_FRAMES);
    warning_with(&report, &["interface 5"]);
}

// ---- broken headers inside good frames ----

const ETHERNET_IPV4: [u8; 14] = [2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00];

/// The conversation with `extra` frames added at 1.5 s (between client and server data).
fn conversation_with(extra: &[Vec<u8>]) -> Vec<u8> {
    let mut capture = Capture::new(Link::Ethernet);
    let mut talk = Conversation::new("10.0.0.1:40000", "10.0.0.2:80", 1000, 5000);
    talk.handshake(&mut capture, 0.0, 0.002);
    talk.client_sends(&mut capture, 1.0, b"hello", 0.001);
    for (index, frame) in extra.iter().enumerate() {
        capture.frame(1.5 + index as f64 * 0.01, frame.clone());
    }
    talk.server_sends(&mut capture, 2.0, b"world", 0.001);
    capture.to_bytes()
}

fn ipv4_tcp(ihl: u8, tcp: &[u8]) -> Vec<u8> {
    let total = (20 + tcp.len()) as u16;
    let mut frame = ETHERNET_IPV4.to_vec();
    frame.extend_from_slice(&[0x40 | ihl, 0]);
    frame.extend_from_slice(&total.to_be_bytes());
    frame.extend_from_slice(&[0, 1, 0x40, 0, 64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2]);
    frame.extend_from_slice(tcp);
    frame
}

fn tcp_header(data_offset_words: u8) -> Vec<u8> {
    let mut tcp = vec![0x9c, 0x40, 0, 80, 0, 0, 0x03, 0xee, 0, 0, 0x13, 0x8e];
    tcp.push(data_offset_words << 4);
    tcp.extend_from_slice(&[0x10, 0xff, 0xff, 0, 0, 0, 0]);
    tcp
}

#[test]
fn ipv4_header_length_below_20_is_skipped_as_undecoded() {
    let dir = tempfile::tempdir().unwrap();
    let frames = vec![ipv4_tcp(4, &tcp_header(5)), ipv4_tcp(0, &tcp_header(5))];
    let report = analyze(&write(
        dir.path(),
        "short-ihl.pcap",
        &conversation_with(&frames),
    ));
    assert_eq!(report["summary"]["packets"], GOOD_FRAMES + 2);
    assert_eq!(report["summary"]["undecoded_packets"], 2);
    assert_conversation_analyzed(&report, GOOD_FRAMES);
}

#[test]
fn tcp_data_offset_beyond_the_packet_is_not_a_segment() {
    let dir = tempfile::tempdir().unwrap();
    // Same 4-tuple as the conversation: a misread would add packets to the connection.
    let frames = vec![
        ipv4_tcp(5, &tcp_header(15)),
        ipv4_tcp(5, &tcp_header(2)),
        ipv4_tcp(5, &tcp_header(5)[..12]),
    ];
    let report = analyze(&write(
        dir.path(),
        "bad-data-offset.pcap",
        &conversation_with(&frames),
    ));
    assert_eq!(report["summary"]["packets"], GOOD_FRAMES + 3);
    assert_conversation_analyzed(&report, GOOD_FRAMES);
}

#[test]
fn ipv6_extension_header_chains_are_bounded() {
    let dir = tempfile::tempdir().unwrap();
    // 300 hop-by-hop headers chained one after the other (each says "another follows"),
    // then TCP: a decoder that follows chains without bound would spin or recurse here.
    const HOP_BY_HOP: u8 = 0;
    let mut extensions = Vec::new();
    for _ in 0..300 {
        extensions.extend_from_slice(&[HOP_BY_HOP, 0, 1, 4, 0, 0, 0, 0]);
    }
    let last = extensions.len() - 8;
    extensions[last] = 6;
    let tcp = tcp_header(5);
    let payload_length = (extensions.len() + tcp.len()) as u16;
    let mut frame = vec![2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x86, 0xdd];
    frame.extend_from_slice(&[0x60, 0, 0, 0]);
    frame.extend_from_slice(&payload_length.to_be_bytes());
    frame.extend_from_slice(&[HOP_BY_HOP, 64]);
    frame.extend_from_slice(&[0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
    frame.extend_from_slice(&[0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]);
    frame.extend_from_slice(&extensions);
    frame.extend_from_slice(&tcp);
    let report = analyze(&write(
        dir.path(),
        "ipv6-chain.pcap",
        &conversation_with(&[frame]),
    ));
    assert_eq!(report["summary"]["packets"], GOOD_FRAMES + 1);
    assert_conversation_analyzed(&report, GOOD_FRAMES);
}

#[test]
fn vrrp_address_count_larger_than_the_packet_is_counted_as_malformed() {
    let dir = tempfile::tempdir().unwrap();
    let mut capture = Capture::new(Link::Ethernet);
    // Count 255 but one address and 8 bytes of auth data.
    let lying = [
        0x21, 51, 100, 255, 0, 1, 0, 0, 10, 0, 0, 254, 0, 0, 0, 0, 0, 0, 0, 0,
    ];
    capture.ip(0.0, "10.0.0.5", "224.0.0.18", 112, 255, &lying);
    let mut good = lying;
    good[3] = 1;
    let checksum = !fold_sum(&good);
    good[6..8].copy_from_slice(&checksum.to_be_bytes());
    capture.ip(1.0, "10.0.0.5", "224.0.0.18", 112, 255, &good);
    let report = analyze(&capture.write(dir.path(), "vrrp-count.pcap"));
    assert_eq!(report["summary"]["packets"], 2);
    assert_eq!(report["summary"]["vrrp_adverts"], 1);
    assert_eq!(report["vrrp"]["malformed"], 1, "{}", report["vrrp"]);
}

fn fold_sum(bytes: &[u8]) -> u16 {
    let mut sum: u32 = bytes
        .chunks(2)
        .map(|pair| u32::from(u16::from_be_bytes([pair[0], *pair.get(1).unwrap_or(&0)])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    sum as u16
}

// ---- inputs found by fuzzing ----

/// Every file in `fixtures/malformed/` (see its README for what each one found) is analyzed
/// in every output format without a crash: exit status 0 with `--fail-on never`, or 2 with a
/// message naming the file when it is not a readable capture at all.
#[test]
fn every_kept_fuzz_input_is_analyzed_without_a_crash() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/malformed");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_none_or(|x| x != "md"))
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    assert!(!files.is_empty(), "no inputs in {}", dir.display());
    for file in &files {
        let path = file.to_str().unwrap();
        for format in ["json", "jsonl", "table"] {
            let (status, stdout, stderr) = kaprobe(&[
                "analyze",
                path,
                "--format",
                format,
                "--timeline",
                "--all",
                "--fail-on",
                "never",
                "--quiet",
            ]);
            assert!(!stderr.contains("panicked"), "{path}: {stderr}");
            match status {
                0 => assert!(!stdout.is_empty(), "{path} ({format}): no output"),
                2 => {
                    let name = file.file_name().unwrap().to_str().unwrap();
                    assert!(stderr.contains(name), "{path}: {stderr}");
                }
                other => panic!("{path} ({format}): exit status {other}: {stderr}"),
            }
        }
    }
    let _ = std::io::stderr().flush();
}

/// A capture of two HTTP connections: the first one's client and server send `request` and
/// `response` (in segments of at most 60,000 bytes), the second is a clean GET and 200.
fn http_connections(request: &[u8], response: &[u8]) -> Vec<u8> {
    let mut capture = Capture::new(Link::Ethernet);
    let mut hostile = Conversation::new("10.0.0.1:40000", "10.0.0.2:80", 1000, 5000);
    hostile.handshake(&mut capture, 0.0, 0.002);
    let mut t = 1.0;
    for piece in request.chunks(60_000) {
        hostile.client_sends(&mut capture, t, piece, 0.001);
        t += 0.01;
    }
    for piece in response.chunks(60_000) {
        hostile.server_sends(&mut capture, t, piece, 0.001);
        t += 0.01;
    }
    let mut clean = Conversation::new("10.0.0.1:40001", "10.0.0.2:80", 7000, 9000);
    clean.handshake(&mut capture, 5.0, 0.002);
    clean.client_sends(
        &mut capture,
        6.0,
        b"GET /next HTTP/1.1\r\nHost: a\r\n\r\n",
        0.001,
    );
    clean.server_sends(
        &mut capture,
        6.1,
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
        0.001,
    );
    capture.to_bytes()
}

fn http_of<'a>(report: &'a Value, client: &str) -> &'a Value {
    let connections = report["connections"].as_array().unwrap();
    let connection = connections
        .iter()
        .find(|c| c["client"] == client)
        .unwrap_or_else(|| panic!("no connection from {client}: {report}"));
    &connection["http"]
}

/// The damaged connection notes `problem`, and the clean connection after it is read in full.
fn assert_http_problem_noted_and_rest_analyzed(report: &Value, problem: &str) {
    assert_eq!(report["summary"]["tcp_connections"], 2, "{report}");
    let notes = http_of(report, "10.0.0.1:40000")["notes"].to_string();
    assert!(notes.contains(problem), "no note {problem:?} in {notes}");
    let clean = http_of(report, "10.0.0.1:40001");
    assert_eq!(clean["requests"], 1, "{clean}");
    assert_eq!(clean["responses"], 1, "{clean}");
    assert_eq!(clean["exchanges"][0]["target"], "/next", "{clean}");
    assert_eq!(clean["exchanges"][0]["status"], 200, "{clean}");
}

#[test]
fn http_head_of_one_mib_without_a_line_end_is_noted_and_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let mut request = b"GET /".to_vec();
    request.resize(1024 * 1024, b'a');
    let path = write(
        dir.path(),
        "http-huge-head.pcap",
        &http_connections(&request, b""),
    );
    let report = analyze(&path);
    assert_http_problem_noted_and_rest_analyzed(&report, "client: a message head exceeded 64 KiB");
    assert_eq!(http_of(&report, "10.0.0.1:40000")["requests"], 0);
}

fn chunked_response_with_size(size_line: &str) -> Vec<u8> {
    format!("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n{size_line}\r\nabcd\r\n0\r\n\r\n")
        .into_bytes()
}

#[test]
fn http_chunk_size_of_two_to_the_64_is_noted_as_invalid() {
    let dir = tempfile::tempdir().unwrap();
    // 2^64: one more than a u64 holds.
    let response = chunked_response_with_size("10000000000000000");
    let request = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n";
    let path = write(
        dir.path(),
        "http-chunk-2-64.pcap",
        &http_connections(request, &response),
    );
    let report = analyze(&path);
    assert_http_problem_noted_and_rest_analyzed(&report, "server: invalid chunk size line");
    let hostile = http_of(&report, "10.0.0.1:40000");
    assert_eq!(hostile["responses"], 1, "{hostile}");
}

#[test]
fn http_chunk_size_of_forty_hex_digits_is_noted_as_invalid() {
    let dir = tempfile::tempdir().unwrap();
    let response = chunked_response_with_size(&"f".repeat(40));
    let request = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n";
    let path = write(
        dir.path(),
        "http-chunk-40-digits.pcap",
        &http_connections(request, &response),
    );
    let report = analyze(&path);
    assert_http_problem_noted_and_rest_analyzed(&report, "server: invalid chunk size line");
}
