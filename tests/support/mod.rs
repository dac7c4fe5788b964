//! Test support: a deterministic builder of synthetic captures, and helpers that run the
//! kaprobe binary and parse its JSON. Edge cases are written as code here, not binary blobs.
#![allow(dead_code)]

use etherparse::{IpNumber, Ipv4Header, Ipv6FlowLabel, Ipv6Header, TcpHeader};
use kaprobe::capture::writer::PcapWriter;
use kaprobe::time::Timestamp;
use serde_json::Value;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

pub const FIN: u8 = 0x01;
pub const SYN: u8 = 0x02;
pub const RST: u8 = 0x04;
pub const PSH: u8 = 0x08;
pub const ACK: u8 = 0x10;

/// Link layer of a synthetic capture.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Link {
    Ethernet,
    /// Ethernet with one 802.1Q tag.
    Vlan(u16),
    Raw,
}

/// A capture under construction: frames with their times, written as classic pcap.
pub struct Capture {
    link: Link,
    frames: Vec<(Timestamp, Vec<u8>, u32)>,
    /// Start of the capture: 2024-01-01 00:00:00 UTC.
    base: i64,
}

/// One TCP segment to add.
#[derive(Clone, Debug)]
pub struct Seg {
    pub from: (IpAddr, u16),
    pub to: (IpAddr, u16),
    pub seq: u32,
    pub ack: u32,
    pub flags: u8,
    pub window: u16,
    pub payload: Vec<u8>,
    pub ttl: u8,
    pub ip_id: u16,
    pub window_scale: Option<u8>,
}

/// `seg("10.0.0.1:40000", "10.0.0.2:80")`, then builder methods.
pub fn seg(from: &str, to: &str) -> Seg {
    Seg {
        from: endpoint(from),
        to: endpoint(to),
        seq: 0,
        ack: 0,
        flags: ACK,
        window: 65535,
        payload: Vec::new(),
        ttl: 64,
        ip_id: 1,
        window_scale: None,
    }
}

fn endpoint(text: &str) -> (IpAddr, u16) {
    let (ip, port) = text.rsplit_once(':').expect("endpoint ip:port");
    let ip = ip.trim_start_matches('[').trim_end_matches(']');
    (ip.parse().expect("ip"), port.parse().expect("port"))
}

impl Seg {
    pub fn seq(mut self, seq: u32) -> Self {
        self.seq = seq;
        self
    }
    pub fn ack(mut self, ack: u32) -> Self {
        self.ack = ack;
        self.flags |= ACK;
        self
    }
    pub fn flags(mut self, flags: u8) -> Self {
        self.flags = flags;
        self
    }
    pub fn payload(mut self, payload: &[u8]) -> Self {
        self.payload = payload.to_vec();
        self
    }
    pub fn window(mut self, window: u16) -> Self {
        self.window = window;
        self
    }
    pub fn ttl(mut self, ttl: u8) -> Self {
        self.ttl = ttl;
        self
    }
    pub fn ip_id(mut self, ip_id: u16) -> Self {
        self.ip_id = ip_id;
        self
    }
    pub fn window_scale(mut self, scale: u8) -> Self {
        self.window_scale = Some(scale);
        self
    }
}

impl Capture {
    pub fn new(link: Link) -> Capture {
        Capture {
            link,
            frames: Vec::new(),
            base: 1_704_067_200,
        }
    }

    fn ts(&self, seconds: f64) -> Timestamp {
        Timestamp::from_nanos(self.base * 1_000_000_000 + (seconds * 1e9).round() as i64)
    }

    /// Adds a TCP segment at `seconds` after the capture start.
    pub fn tcp(&mut self, seconds: f64, segment: Seg) -> &mut Self {
        let ip_packet = build_tcp(&segment);
        self.push_ip(seconds, ip_packet)
    }

    /// Adds an IP packet with any protocol and raw payload (VRRP, ...).
    pub fn ip(
        &mut self,
        seconds: f64,
        source: &str,
        destination: &str,
        protocol: u8,
        ttl: u8,
        payload: &[u8],
    ) -> &mut Self {
        let source: IpAddr = source.parse().expect("ip");
        let destination: IpAddr = destination.parse().expect("ip");
        let mut packet = ip_header(source, destination, protocol, ttl, 1, payload.len());
        packet.extend_from_slice(payload);
        self.push_ip(seconds, packet)
    }

    /// Adds a frame as is (already including the link header of this capture's link type).
    pub fn frame(&mut self, seconds: f64, frame: Vec<u8>) -> &mut Self {
        let len = frame.len() as u32;
        let ts = self.ts(seconds);
        self.frames.push((ts, frame, len));
        self
    }

    fn push_ip(&mut self, seconds: f64, ip_packet: Vec<u8>) -> &mut Self {
        let ether_type: [u8; 2] = if ip_packet.first().map(|b| b >> 4) == Some(6) {
            [0x86, 0xdd]
        } else {
            [0x08, 0x00]
        };
        let frame = match self.link {
            Link::Raw => ip_packet,
            Link::Ethernet | Link::Vlan(_) => {
                let mut frame = vec![0x02, 0, 0, 0, 0, 0x02, 0x02, 0, 0, 0, 0, 0x01];
                if let Link::Vlan(id) = self.link {
                    frame.extend_from_slice(&[0x81, 0x00]);
                    frame.extend_from_slice(&id.to_be_bytes());
                }
                frame.extend_from_slice(&ether_type);
                frame.extend_from_slice(&ip_packet);
                frame
            }
        };
        self.frame(seconds, frame)
    }

    pub fn link_number(&self) -> u32 {
        match self.link {
            Link::Ethernet | Link::Vlan(_) => 1,
            Link::Raw => 101,
        }
    }

    /// The capture as classic pcap bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut writer =
            PcapWriter::new(Vec::new(), self.link_number(), 262_144, false).expect("header");
        for (ts, frame, len) in &self.frames {
            writer.write_packet(*ts, frame, *len).expect("record");
        }
        writer.into_inner()
    }

    /// Writes the capture to `dir/name` and returns the path.
    pub fn write(&self, dir: &Path, name: &str) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, self.to_bytes()).expect("write capture");
        path
    }
}

fn ip_header(
    source: IpAddr,
    destination: IpAddr,
    protocol: u8,
    ttl: u8,
    ip_id: u16,
    payload_len: usize,
) -> Vec<u8> {
    let mut out = Vec::new();
    match (source, destination) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            let mut header = Ipv4Header::new(
                payload_len as u16,
                ttl,
                IpNumber(protocol),
                s.octets(),
                d.octets(),
            )
            .expect("ipv4 header");
            header.identification = ip_id;
            header.header_checksum = header.calc_header_checksum();
            header.write(&mut out).expect("write ipv4");
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            let header = Ipv6Header {
                traffic_class: 0,
                flow_label: Ipv6FlowLabel::ZERO,
                payload_length: payload_len as u16,
                next_header: IpNumber(protocol),
                hop_limit: ttl,
                source: s.octets(),
                destination: d.octets(),
            };
            header.write(&mut out).expect("write ipv6");
        }
        _ => panic!("mixed address families"),
    }
    out
}

fn build_tcp(segment: &Seg) -> Vec<u8> {
    let mut tcp = TcpHeader::new(segment.from.1, segment.to.1, segment.seq, segment.window);
    tcp.acknowledgment_number = segment.ack;
    tcp.fin = segment.flags & FIN != 0;
    tcp.syn = segment.flags & SYN != 0;
    tcp.rst = segment.flags & RST != 0;
    tcp.psh = segment.flags & PSH != 0;
    tcp.ack = segment.flags & ACK != 0;
    if let Some(scale) = segment.window_scale {
        tcp.set_options(&[etherparse::TcpOptionElement::WindowScale(scale)])
            .expect("options");
    }
    let tcp_len = tcp.header_len() + segment.payload.len();
    let mut packet = ip_header(
        segment.from.0,
        segment.to.0,
        6,
        segment.ttl,
        segment.ip_id,
        tcp_len,
    );
    tcp.write(&mut packet).expect("write tcp");
    packet.extend_from_slice(&segment.payload);
    packet
}

/// A TCP conversation helper that keeps sequence numbers: `Conversation::new(cap, client, server)`.
pub struct Conversation {
    pub client: String,
    pub server: String,
    pub client_seq: u32,
    pub server_seq: u32,
}

impl Conversation {
    pub fn new(client: &str, server: &str, client_isn: u32, server_isn: u32) -> Conversation {
        Conversation {
            client: client.into(),
            server: server.into(),
            client_seq: client_isn,
            server_seq: server_isn,
        }
    }

    /// SYN, SYN-ACK, ACK at `t`, `t + rtt/2`, `t + rtt`.
    pub fn handshake(&mut self, cap: &mut Capture, t: f64, rtt: f64) {
        cap.tcp(
            t,
            seg(&self.client, &self.server)
                .flags(SYN)
                .seq(self.client_seq),
        );
        self.client_seq = self.client_seq.wrapping_add(1);
        cap.tcp(
            t + rtt / 2.0,
            seg(&self.server, &self.client)
                .flags(SYN | ACK)
                .seq(self.server_seq)
                .ack(self.client_seq),
        );
        self.server_seq = self.server_seq.wrapping_add(1);
        cap.tcp(
            t + rtt,
            seg(&self.client, &self.server)
                .seq(self.client_seq)
                .ack(self.server_seq),
        );
    }

    /// The client sends `data` at `t`; the server ACKs it at `t + delay`.
    pub fn client_sends(&mut self, cap: &mut Capture, t: f64, data: &[u8], delay: f64) {
        cap.tcp(
            t,
            seg(&self.client, &self.server)
                .flags(ACK | PSH)
                .seq(self.client_seq)
                .ack(self.server_seq)
                .payload(data),
        );
        self.client_seq = self.client_seq.wrapping_add(data.len() as u32);
        cap.tcp(
            t + delay,
            seg(&self.server, &self.client)
                .seq(self.server_seq)
                .ack(self.client_seq),
        );
    }

    /// The server sends `data` at `t`; the client ACKs it at `t + delay`.
    pub fn server_sends(&mut self, cap: &mut Capture, t: f64, data: &[u8], delay: f64) {
        cap.tcp(
            t,
            seg(&self.server, &self.client)
                .flags(ACK | PSH)
                .seq(self.server_seq)
                .ack(self.client_seq)
                .payload(data),
        );
        self.server_seq = self.server_seq.wrapping_add(data.len() as u32);
        cap.tcp(
            t + delay,
            seg(&self.client, &self.server)
                .seq(self.client_seq)
                .ack(self.server_seq),
        );
    }

    /// A Linux keepalive probe from the client (0 bytes at SND.UNA − 1) and, when `answered`,
    /// the server's ACK.
    pub fn client_probe(&mut self, cap: &mut Capture, t: f64, answered: bool) {
        cap.tcp(
            t,
            seg(&self.client, &self.server)
                .seq(self.client_seq.wrapping_sub(1))
                .ack(self.server_seq),
        );
        if answered {
            cap.tcp(
                t + 0.0002,
                seg(&self.server, &self.client)
                    .seq(self.server_seq)
                    .ack(self.client_seq),
            );
        }
    }
}

/// Runs `kaprobe` with `args` and returns (exit status, stdout, stderr).
pub fn kaprobe(args: &[&str]) -> (i32, String, String) {
    let output = assert_cmd::Command::cargo_bin("kaprobe")
        .expect("binary")
        .args(args)
        .output()
        .expect("run kaprobe");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// Runs `kaprobe analyze FILES --format json --fail-on never` and parses the document.
pub fn analyze_json(files: &[&Path], extra: &[&str]) -> Value {
    let mut args: Vec<String> = vec!["analyze".into()];
    args.extend(files.iter().map(|p| p.display().to_string()));
    args.extend(["--format", "json", "--fail-on", "never", "--quiet"].map(String::from));
    args.extend(extra.iter().map(|s| s.to_string()));
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let (status, stdout, stderr) = kaprobe(&refs);
    assert_eq!(status, 0, "kaprobe failed: {stderr}");
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("invalid JSON ({e}): {stdout}"))
}

/// The real-capture corpus from ../shared, when `KAPROBE_CORPUS` points at it.
pub fn corpus_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("KAPROBE_CORPUS").map(PathBuf::from)?;
    dir.is_dir().then_some(dir)
}

/// Findings with `code` in a report.
pub fn findings<'a>(report: &'a Value, code: &str) -> Vec<&'a Value> {
    report["findings"]
        .as_array()
        .map(|all| all.iter().filter(|f| f["code"] == code).collect())
        .unwrap_or_default()
}

pub fn tshark_available() -> bool {
    std::process::Command::new("tshark")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// The lab's captures: `KAPROBE_LAB_CAPTURES` (a fresh recording, set by `.ci/run`) or the
/// committed ones under `fixtures/lab/captures`.
pub fn lab_dir() -> PathBuf {
    std::env::var_os("KAPROBE_LAB_CAPTURES")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/lab/captures"))
}
