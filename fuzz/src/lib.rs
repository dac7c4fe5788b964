//! Shared by the fuzz targets and the seed maker: how a fuzz input stands for a link type and
//! for a sequence of frames, so seeds written by `make_seeds` mean the same to the targets.
//!
//! A frame sequence is: one settings byte, then records of
//! `[link selector u8][time step i32 LE, ms][length u16 LE][frame bytes]`; a length past the
//! end takes what is left. Time steps may be negative (clocks go backwards in real captures).

use kaprobe::capture::{LinkType, RawPacket};
use kaprobe::config::{AnalysisConfig, RecordsKept};
use kaprobe::report::{Report, json, table};
use kaprobe::time::Timestamp;

/// The LINKTYPE_ numbers the decoder knows, plus one it does not (the selector wraps).
pub const LINK_NUMBERS: [u32; 10] = [0, 1, 101, 108, 113, 228, 229, 239, 276, 147];

pub fn link_type(selector: u8) -> LinkType {
    let index = usize::from(selector) % LINK_NUMBERS.len();
    LinkType::from_number(LINK_NUMBERS.get(index).copied().unwrap_or(1))
}

pub fn link_selector(link_type: LinkType) -> u8 {
    let number = kaprobe::capture::writer::link_number(link_type);
    LINK_NUMBERS
        .iter()
        .position(|n| *n == number)
        .and_then(|i| u8::try_from(i).ok())
        .unwrap_or(9)
}

/// Both renderers over a report, output discarded: neither may panic on any report.
pub fn render_everything(report: &Report, color: bool) {
    let mut sink = std::io::sink();
    let _ = json::write_document(report, &mut sink, 1);
    let options = table::TableOptions {
        color,
        width: Some(80),
        timeline: true,
        findings_per_code: 1,
    };
    let _ = table::write_report(report, &options, &mut sink);
}

/// Settings byte of a frame sequence.
pub struct Settings {
    pub keep_timelines: bool,
    pub timeline_all: bool,
    /// A tiny connection cap, so eviction is exercised.
    pub small_table: bool,
    pub show_secrets: bool,
    /// What the table keeps: records only with a timeline, one finding of each code.
    pub table_only: bool,
}

impl Settings {
    pub fn from_byte(byte: u8) -> Settings {
        Settings {
            keep_timelines: byte & 1 != 0,
            timeline_all: byte & 2 != 0,
            small_table: byte & 4 != 0,
            show_secrets: byte & 8 != 0,
            table_only: byte & 16 != 0,
        }
    }

    /// The analysis settings the byte stands for (the connection cap aside).
    pub fn config(&self) -> AnalysisConfig {
        AnalysisConfig {
            keep_timelines: self.keep_timelines,
            timeline_all: self.timeline_all,
            show_secrets: self.show_secrets,
            records: if self.table_only {
                RecordsKept::WithTimeline
            } else {
                RecordsKept::All
            },
            findings_per_code: self.table_only.then_some(1),
            ..AnalysisConfig::default()
        }
    }
}

/// Iterates the frames of a sequence, filling one reused [`RawPacket`].
pub struct Frames<'a> {
    rest: &'a [u8],
    now: Timestamp,
}

impl<'a> Frames<'a> {
    pub fn new(records: &'a [u8]) -> Frames<'a> {
        Frames {
            rest: records,
            // 2024-01-01, as the test captures.
            now: Timestamp::from_nanos(1_704_067_200 * 1_000_000_000),
        }
    }

    pub fn next_into(&mut self, out: &mut RawPacket) -> bool {
        let Some((head, body)) = self.rest.split_first_chunk::<7>() else {
            return false;
        };
        let [selector, s0, s1, s2, s3, l0, l1] = *head;
        let step_ms = i64::from(i32::from_le_bytes([s0, s1, s2, s3]));
        let length = usize::from(u16::from_le_bytes([l0, l1])).min(body.len());
        let (data, rest) = body.split_at(length);
        self.rest = rest;
        self.now = Timestamp::from_nanos(
            self.now
                .nanos()
                .saturating_add(step_ms.saturating_mul(1_000_000)),
        );
        out.ts = self.now;
        out.input = 0;
        out.interface = 0;
        out.link_type = link_type(selector);
        out.original_len = u32::try_from(length).unwrap_or(u32::MAX);
        out.data.clear();
        out.data.extend_from_slice(data);
        true
    }
}

/// Appends one record to a frame sequence (used to write seeds).
pub fn push_record(out: &mut Vec<u8>, link_type: LinkType, step_ms: i32, frame: &[u8]) {
    let length = u16::try_from(frame.len()).unwrap_or(u16::MAX);
    out.push(link_selector(link_type));
    out.extend_from_slice(&step_ms.to_le_bytes());
    out.extend_from_slice(&length.to_le_bytes());
    out.extend_from_slice(frame.get(..usize::from(length)).unwrap_or(frame));
}

/// HTTP target: after the settings byte, records `[control u8][length u16 LE][bytes]`, each
/// the next bytes of one direction of a TCP connection. Control bits: see the constants.
/// Connection 0 is 10.0.0.1:40000 → 10.0.0.2:80, connection 1 is 10.0.0.2:40001 →
/// 10.0.0.3:8080 (a proxy's upstream, so hop linking runs); each starts with a handshake.
pub mod http_records {
    /// The bytes go server → client.
    pub const FROM_SERVER: u8 = 1;
    /// 1000 bytes of the stream before these were not captured (a gap).
    pub const GAP_BEFORE: u8 = 2;
    /// 5 s of silence before (idle closes, reuse races), else 1 ms.
    pub const PAUSE_BEFORE: u8 = 4;
    /// The sender closes with FIN after the bytes.
    pub const FIN_AFTER: u8 = 8;
    /// The sender resets after the bytes.
    pub const RST_AFTER: u8 = 16;
    /// The record belongs to connection 1.
    pub const SECOND_CONNECTION: u8 = 32;
    /// Longest TCP payload per frame; longer records become several frames.
    pub const MAX_PAYLOAD: usize = 1460;
}

/// Appends one HTTP record (used to write seeds).
pub fn push_http_record(out: &mut Vec<u8>, control: u8, bytes: &[u8]) {
    let length = u16::try_from(bytes.len()).unwrap_or(u16::MAX);
    out.push(control);
    out.extend_from_slice(&length.to_le_bytes());
    out.extend_from_slice(bytes.get(..usize::from(length)).unwrap_or(bytes));
}

struct Endpoints {
    client: ([u8; 4], u16),
    server: ([u8; 4], u16),
    client_seq: u32,
    server_seq: u32,
    opened: bool,
}

/// Turns an HTTP-target input (without its settings byte) into Ethernet frames.
pub fn http_packets(records: &[u8]) -> Vec<RawPacket> {
    use http_records::*;
    let mut connections = [
        Endpoints {
            client: ([10, 0, 0, 1], 40000),
            server: ([10, 0, 0, 2], 80),
            client_seq: 1000,
            server_seq: 5000,
            opened: false,
        },
        Endpoints {
            client: ([10, 0, 0, 2], 40001),
            server: ([10, 0, 0, 3], 8080),
            client_seq: 0xffff_ff00,
            server_seq: 7000,
            opened: false,
        },
    ];
    let mut packets = Vec::new();
    let mut now = 1_704_067_200i64 * 1_000_000_000;
    let mut rest = records;
    while let Some((&[control, l0, l1], body)) = rest.split_first_chunk::<3>() {
        let length = usize::from(u16::from_le_bytes([l0, l1])).min(body.len());
        let (bytes, after) = body.split_at(length);
        rest = after;
        let connection = &mut connections[usize::from(control & SECOND_CONNECTION != 0)];
        now += if control & PAUSE_BEFORE != 0 {
            5_000_000_000
        } else {
            1_000_000
        };
        let mut emit = |from_server: bool, flags: u8, seq: u32, ack: u32, payload: &[u8]| {
            let (from, to) = if from_server {
                (connection.server, connection.client)
            } else {
                (connection.client, connection.server)
            };
            now += 10_000;
            packets.push(tcp_frame(now, from, to, (seq, ack, flags), payload));
        };
        if !connection.opened {
            connection.opened = true;
            emit(false, 0x02, connection.client_seq, 0, &[]);
            connection.client_seq = connection.client_seq.wrapping_add(1);
            emit(
                true,
                0x12,
                connection.server_seq,
                connection.client_seq,
                &[],
            );
            connection.server_seq = connection.server_seq.wrapping_add(1);
            emit(
                false,
                0x10,
                connection.client_seq,
                connection.server_seq,
                &[],
            );
        }
        let from_server = control & FROM_SERVER != 0;
        let (mut seq, ack) = if from_server {
            (connection.server_seq, connection.client_seq)
        } else {
            (connection.client_seq, connection.server_seq)
        };
        if control & GAP_BEFORE != 0 {
            seq = seq.wrapping_add(1000);
        }
        for piece in bytes.chunks(MAX_PAYLOAD) {
            emit(from_server, 0x18, seq, ack, piece);
            seq = seq.wrapping_add(u32::try_from(piece.len()).unwrap_or(0));
        }
        if control & FIN_AFTER != 0 {
            emit(from_server, 0x11, seq, ack, &[]);
            seq = seq.wrapping_add(1);
        } else if control & RST_AFTER != 0 {
            emit(from_server, 0x14, seq, ack, &[]);
        }
        if from_server {
            connection.server_seq = seq;
        } else {
            connection.client_seq = seq;
        }
    }
    packets
}

fn tcp_frame(
    ts: i64,
    (source, source_port): ([u8; 4], u16),
    (destination, destination_port): ([u8; 4], u16),
    (seq, ack, flags): (u32, u32, u8),
    payload: &[u8],
) -> RawPacket {
    let total = u16::try_from(40 + payload.len()).unwrap_or(u16::MAX);
    let mut data = vec![2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00, 0x45, 0];
    data.extend_from_slice(&total.to_be_bytes());
    data.extend_from_slice(&[0, 1, 0x40, 0, 64, 6, 0, 0]);
    data.extend_from_slice(&source);
    data.extend_from_slice(&destination);
    data.extend_from_slice(&source_port.to_be_bytes());
    data.extend_from_slice(&destination_port.to_be_bytes());
    data.extend_from_slice(&seq.to_be_bytes());
    data.extend_from_slice(&ack.to_be_bytes());
    data.extend_from_slice(&[0x50, flags, 0xff, 0xff, 0, 0, 0, 0]);
    data.extend_from_slice(payload);
    RawPacket {
        ts: Timestamp::from_nanos(ts),
        input: 0,
        interface: 0,
        link_type: LinkType::Ethernet,
        original_len: u32::try_from(data.len()).unwrap_or(u32::MAX),
        data,
    }
}
