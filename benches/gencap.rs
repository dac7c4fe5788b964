//! `gencap`: writes a large, deterministic capture that looks like a busy load balancer's
//! traffic, for timing kaprobe against tcpdump and tshark (benches/compare.sh).
//!
//! Run it through cargo so that it is built optimized:
//!
//! ```text
//! cargo bench --bench gencap -- --bytes 1G --out /tmp/kaprobe-bench-1g.pcap [--seed 1] [--rate 1000]
//! ```
//!
//! `--rate` is new connections per second of capture time; tests use a low rate so that a
//! small file spans minutes (sweeps, lingering closed connections, keepalive probes).
//!
//! `--mix lb` (the default) is a load balancer's day; `--mix short` is the capture the issue's
//! reference numbers were measured on (100 k short HTTP connections in 1.1 M packets and
//! 190 MB: about 11 packets of 170 bytes per connection): 96 % connections with one small
//! request and response, closed by the client, and the same 1 % keepalive, 1 % idle-reset
//! and 1 % refused connections. The default mix spends more of its bytes in
//! response bodies, which tshark reads cheaply and tcpdump copies at the same cost.
//! `--mix tls` is the front of a TLS-terminating load balancer: 90 % long-lived HTTPS sessions
//! to port 443 (a TLS handshake, then application data every 1–30 s for 1–10 minutes), the
//! rest as in the default mix; nearly every connection is open at once, which measures
//! memory per open connection that is not HTTP.
//!
//! The default mix: many short HTTP/1.1 keep-alive connections with real request and response heads
//! (closed by the server's keep-alive timeout, by the client, by a client RST, or refused),
//! long idle connections with Linux-style keepalive probes (answered, or unanswered until the
//! client resets), idle connections without keepalive that a middlebox resets, VRRPv2 adverts
//! (raw IP protocol 112) once a second, about 5 % IPv6 and 10 % on VLAN 100.
//!
//! Packets are produced connection by connection into a min-heap ordered by timestamp and
//! written as soon as nothing earlier can still appear, so memory is bounded by the
//! connections in flight (a few tens of MiB), never by `--bytes`. The same seed and size give
//! the same file, byte for byte.
//!
//! A `harness = false` bench target rather than an `xtask` crate: it needs nothing but the
//! library's `PcapWriter` and etherparse, which the package already has, and `cargo bench`
//! builds it optimized without a workspace, a second Cargo.toml or an alias.

use etherparse::{IpNumber, Ipv4Header, Ipv6FlowLabel, Ipv6Header, TcpHeader, TcpOptionElement};
use kaprobe::capture::writer::PcapWriter;
use kaprobe::time::Timestamp;
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fs::File;
use std::io::{self, BufWriter};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::process::ExitCode;

/// 2024-01-01 00:00:00 UTC, in nanoseconds.
const CAPTURE_START_NANOS: i64 = 1_704_067_200 * 1_000_000_000;
const NANOS_PER_SEC: i64 = 1_000_000_000;
const MSS: usize = 1448;
const VRRP_VRID: u8 = 51;

fn main() -> ExitCode {
    match Options::parse(std::env::args().skip(1)) {
        Ok(options) => match generate(&options) {
            Ok(stats) => {
                eprintln!(
                    "gencap: wrote {} ({} bytes, {} packets, {} connections, {:.0} s of capture time)",
                    options.out, stats.bytes, stats.packets, stats.connections, stats.seconds
                );
                ExitCode::SUCCESS
            }
            Err(error) => {
                eprintln!("gencap: writing {}: {error}", options.out);
                ExitCode::from(2)
            }
        },
        Err(message) => {
            eprintln!(
                "gencap: {message}\nusage: gencap --bytes SIZE[K|M|G] --out FILE [--seed N] [--rate CONNECTIONS_PER_SECOND] [--mix lb|short|tls]"
            );
            ExitCode::from(2)
        }
    }
}

pub struct Options {
    pub bytes: u64,
    pub out: String,
    pub seed: u64,
    /// New connections per second of capture time.
    pub rate: u64,
    pub mix: Mix,
}

/// Which traffic the capture holds (see the module comment).
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Mix {
    LoadBalancer,
    ShortHttp,
    Tls,
}

impl Options {
    pub fn parse(mut args: impl Iterator<Item = String>) -> Result<Options, String> {
        let mut options = Options {
            bytes: 256 << 20,
            out: "/tmp/kaprobe-bench.pcap".into(),
            seed: 1,
            rate: 1000,
            mix: Mix::LoadBalancer,
        };
        while let Some(arg) = args.next() {
            match arg.as_str() {
                "--bytes" => options.bytes = parse_size(&value(&mut args, &arg)?)?,
                "--out" => options.out = value(&mut args, &arg)?,
                "--seed" => {
                    let text = value(&mut args, &arg)?;
                    options.seed = text.parse().map_err(|_| format!("bad --seed '{text}'"))?;
                }
                "--rate" => {
                    let text = value(&mut args, &arg)?;
                    options.rate = text
                        .parse()
                        .ok()
                        .filter(|rate| *rate > 0)
                        .ok_or_else(|| format!("bad --rate '{text}'"))?;
                }
                "--mix" => {
                    options.mix = match value(&mut args, &arg)?.as_str() {
                        "lb" => Mix::LoadBalancer,
                        "short" => Mix::ShortHttp,
                        "tls" => Mix::Tls,
                        other => return Err(format!("bad --mix '{other}' (lb, short or tls)")),
                    }
                }
                // `cargo bench` passes --bench to every bench target.
                "--bench" => {}
                other => return Err(format!("unknown argument '{other}'")),
            }
        }
        Ok(options)
    }
}

fn value(args: &mut impl Iterator<Item = String>, flag: &str) -> Result<String, String> {
    args.next().ok_or_else(|| format!("{flag} needs a value"))
}

/// `1G`, `256M`, `500K`, `1GiB` or plain bytes; binary units.
fn parse_size(text: &str) -> Result<u64, String> {
    let trimmed = text.trim_end_matches("iB").trim_end_matches('B');
    let (number, shift) = match trimmed.chars().last() {
        Some('K' | 'k') => (&trimmed[..trimmed.len() - 1], 10),
        Some('M' | 'm') => (&trimmed[..trimmed.len() - 1], 20),
        Some('G' | 'g') => (&trimmed[..trimmed.len() - 1], 30),
        _ => (trimmed, 0),
    };
    let value: f64 = number.parse().map_err(|_| format!("bad size '{text}'"))?;
    Ok((value * (1u64 << shift) as f64) as u64)
}

/// splitmix64: small, fast and fully deterministic across platforms.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `low..=high`.
    fn range(&mut self, low: u64, high: u64) -> u64 {
        low + self.next() % (high - low + 1)
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }

    fn millis(&mut self, low: u64, high: u64) -> i64 {
        self.range(low * 1000, high * 1000) as i64 * 1000
    }
}

/// One frame waiting in the heap; ordered by time, then by creation so output is stable.
#[derive(PartialEq, Eq, PartialOrd, Ord)]
struct Pending {
    ts: i64,
    order: u64,
    frame: Vec<u8>,
}

#[derive(Default)]
pub struct Stats {
    pub bytes: u64,
    pub packets: u64,
    pub connections: u64,
    pub seconds: f64,
}

pub fn generate(options: &Options) -> io::Result<Stats> {
    let file = BufWriter::with_capacity(1 << 20, File::create(&options.out)?);
    let mut writer = PcapWriter::new(file, 1, 262_144, false)?;
    let mut generator = Generator::new(options.seed, options.rate, options.mix);
    let mut stats = Stats {
        bytes: 24,
        ..Stats::default()
    };
    while stats.bytes < options.bytes {
        let Some(Reverse(pending)) = generator.next_frame() else {
            break;
        };
        writer.write_packet(
            Timestamp::from_nanos(pending.ts),
            &pending.frame,
            pending.frame.len() as u32,
        )?;
        stats.bytes += 16 + pending.frame.len() as u64;
        stats.packets += 1;
        stats.seconds = (pending.ts - CAPTURE_START_NANOS) as f64 / 1e9;
    }
    writer.flush()?;
    stats.connections = generator.connections;
    Ok(stats)
}

struct Generator {
    rng: Rng,
    heap: BinaryHeap<Reverse<Pending>>,
    order: u64,
    next_arrival: i64,
    next_vrrp: i64,
    next_client: u32,
    connections: u64,
    /// Mean gap between new connections.
    mean_arrival_gap_nanos: u64,
    mix: Mix,
}

impl Generator {
    fn new(seed: u64, rate: u64, mix: Mix) -> Generator {
        Generator {
            mix,
            mean_arrival_gap_nanos: (NANOS_PER_SEC as u64 / rate.max(1)).max(1),
            rng: Rng(seed),
            heap: BinaryHeap::new(),
            order: 0,
            next_arrival: CAPTURE_START_NANOS,
            next_vrrp: CAPTURE_START_NANOS,
            next_client: 0,
            connections: 0,
        }
    }

    /// The earliest frame, after starting every connection (and advert) due before it.
    fn next_frame(&mut self) -> Option<Reverse<Pending>> {
        loop {
            let earliest = self.heap.peek().map_or(i64::MAX, |Reverse(p)| p.ts);
            let due = self.next_arrival.min(self.next_vrrp);
            if due > earliest {
                return self.heap.pop();
            }
            if self.next_vrrp <= self.next_arrival {
                let frame = vrrp_advert();
                self.push(self.next_vrrp, frame);
                self.next_vrrp += NANOS_PER_SEC;
            } else {
                self.start_connection(self.next_arrival);
                let gap = self.rng.range(1, 2 * self.mean_arrival_gap_nanos) as i64;
                self.next_arrival += gap;
            }
        }
    }

    fn push(&mut self, ts: i64, frame: Vec<u8>) {
        self.order += 1;
        self.heap.push(Reverse(Pending {
            ts,
            order: self.order,
            frame,
        }));
    }

    fn start_connection(&mut self, start: i64) {
        self.connections += 1;
        let flow = self.new_flow();
        let roll = self.rng.range(0, 999);
        let mut conversation = Conversation {
            flow,
            now: start,
            frames: Vec::new(),
        };
        match roll {
            _ if self.mix == Mix::ShortHttp && roll >= 40 => {
                one_request_http(&mut conversation, &mut self.rng)
            }
            _ if self.mix == Mix::Tls && roll >= 100 => {
                tls_session(&mut conversation, &mut self.rng)
            }
            0..=9 => keepalive_connection(&mut conversation, &mut self.rng, true),
            10..=19 => keepalive_connection(&mut conversation, &mut self.rng, false),
            20..=29 => idle_without_keepalive(&mut conversation, &mut self.rng),
            30..=59 => refused(&mut conversation, &mut self.rng),
            _ => short_http(&mut conversation, &mut self.rng),
        }
        for (ts, frame) in conversation.frames {
            self.push(ts, frame);
        }
    }

    fn new_flow(&mut self) -> Flow {
        self.next_client = self.next_client.wrapping_add(1);
        let client_number = self.next_client % 4096;
        // Each client cycles through the Linux ephemeral range, so ports are reused only
        // long after the previous connection on them ended.
        let port = 32768 + ((self.next_client / 4096) % 28232) as u16;
        let ipv6 = self.rng.chance(5);
        let backend_hop = !ipv6 && self.rng.chance(50);
        let (client, server) = if ipv6 {
            (
                (
                    IpAddr::V6(Ipv6Addr::new(
                        0x2001,
                        0xdb8,
                        1,
                        0,
                        0,
                        0,
                        0,
                        client_number as u16,
                    )),
                    port,
                ),
                (
                    IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x10)),
                    80,
                ),
            )
        } else if backend_hop {
            // The load balancer's own connections to 16 backends: one source address, so its
            // ports cycle per connection and a tuple comes back only every 451,712 connections.
            let backend = 10 + (self.next_client % 16) as u8;
            let port = 32768 + ((self.next_client / 16) % 28232) as u16;
            (
                (IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)), port),
                (IpAddr::V4(Ipv4Addr::new(10, 2, 0, backend)), 8080),
            )
        } else {
            (
                (
                    IpAddr::V4(Ipv4Addr::from(0x0a01_0000 | client_number)),
                    port,
                ),
                (IpAddr::V4(Ipv4Addr::new(10, 0, 0, 10)), 80),
            )
        };
        Flow {
            client,
            server,
            vlan: self.rng.chance(10).then_some(100),
            client_seq: self.rng.next() as u32,
            server_seq: self.rng.next() as u32,
            client_ip_id: self.rng.next() as u16,
            server_ip_id: self.rng.next() as u16,
        }
    }
}

/// The two ends of one TCP connection and their sequence state.
struct Flow {
    client: (IpAddr, u16),
    server: (IpAddr, u16),
    vlan: Option<u16>,
    client_seq: u32,
    server_seq: u32,
    client_ip_id: u16,
    server_ip_id: u16,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Sender {
    Client,
    Server,
}

const FIN: u8 = 0x01;
const SYN: u8 = 0x02;
const RST: u8 = 0x04;
const PSH: u8 = 0x08;
const ACK: u8 = 0x10;

/// A connection being written: its flow, its clock, and its frames so far.
struct Conversation {
    flow: Flow,
    now: i64,
    frames: Vec<(i64, Vec<u8>)>,
}

impl Conversation {
    fn after(&mut self, nanos: i64) -> &mut Self {
        self.now += nanos;
        self
    }

    /// Sends one segment at the current time; payload and SYN/FIN advance the sender's seq.
    fn send(&mut self, from: Sender, flags: u8, payload: &[u8]) {
        let frame = self.flow.segment(from, flags, payload, None);
        self.frames.push((self.now, frame));
    }

    /// Sends a segment whose sequence number is one below the sender's next (a keepalive probe).
    fn probe(&mut self, from: Sender) {
        let frame = self.flow.segment(from, ACK, &[], Some(1));
        self.frames.push((self.now, frame));
    }

    /// `closer` sends FIN, the peer answers FIN after half an RTT, `closer` ACKs it.
    fn close(&mut self, closer: Sender, rtt: i64) {
        let peer = match closer {
            Sender::Client => Sender::Server,
            Sender::Server => Sender::Client,
        };
        self.send(closer, FIN | ACK, &[]);
        self.after(rtt / 2).send(peer, FIN | ACK, &[]);
        self.after(rtt / 2).send(closer, ACK, &[]);
    }

    fn handshake(&mut self, rng: &mut Rng, rtt: i64) {
        self.send(Sender::Client, SYN, &[]);
        self.after(rtt / 2).send(Sender::Server, SYN | ACK, &[]);
        self.after(rtt / 2).send(Sender::Client, ACK, &[]);
        self.after(rng.millis(0, 2));
    }

    /// `data` in MSS-sized segments 20 µs apart, the last one pushed.
    fn send_in_segments(&mut self, from: Sender, data: &[u8]) {
        let mut chunks = data.chunks(MSS).peekable();
        while let Some(chunk) = chunks.next() {
            let flags = if chunks.peek().is_none() {
                PSH | ACK
            } else {
                ACK
            };
            self.send(from, flags, chunk);
            self.after(20_000);
        }
    }

    /// One request and its response, ACKed; the body goes out in MSS-sized segments.
    fn exchange(&mut self, rng: &mut Rng, rtt: i64, request_number: u64, close: bool) {
        self.exchange_with_body(rng, rtt, request_number, close, (80, 2500));
    }

    fn exchange_with_body(
        &mut self,
        rng: &mut Rng,
        rtt: i64,
        request_number: u64,
        close: bool,
        (body_min, body_max): (u64, u64),
    ) {
        let request = http_request(rng, request_number, close);
        self.send(Sender::Client, PSH | ACK, request.as_bytes());
        self.after(rtt / 2).send(Sender::Server, ACK, &[]);
        self.after(rng.millis(1, 20));
        let body_len = rng.range(body_min, body_max) as usize;
        let mut response = http_response_head(body_len, close).into_bytes();
        response.extend(std::iter::repeat_n(b'x', body_len));
        self.send_in_segments(Sender::Server, &response);
        self.after(rtt / 2).send(Sender::Client, ACK, &[]);
    }
}

impl Flow {
    fn segment(&mut self, from: Sender, flags: u8, payload: &[u8], back: Option<u32>) -> Vec<u8> {
        let (source, destination) = match from {
            Sender::Client => (self.client, self.server),
            Sender::Server => (self.server, self.client),
        };
        let (seq, ack, ip_id) = match from {
            Sender::Client => (self.client_seq, self.server_seq, &mut self.client_ip_id),
            Sender::Server => (self.server_seq, self.client_seq, &mut self.server_ip_id),
        };
        *ip_id = ip_id.wrapping_add(1);
        let ip_id = *ip_id;
        let seq = seq.wrapping_sub(back.unwrap_or(0));
        let mut tcp = TcpHeader::new(source.1, destination.1, seq, 64240);
        tcp.acknowledgment_number = if flags & ACK != 0 { ack } else { 0 };
        tcp.fin = flags & FIN != 0;
        tcp.syn = flags & SYN != 0;
        tcp.rst = flags & RST != 0;
        tcp.psh = flags & PSH != 0;
        tcp.ack = flags & ACK != 0;
        if tcp.syn {
            let _ = tcp.set_options(&[
                TcpOptionElement::MaximumSegmentSize(MSS as u16),
                TcpOptionElement::SelectiveAcknowledgementPermitted,
                TcpOptionElement::WindowScale(7),
            ]);
        }
        let advance = payload.len() as u32 + u32::from(tcp.syn) + u32::from(tcp.fin);
        match from {
            Sender::Client => self.client_seq = self.client_seq.wrapping_add(advance),
            Sender::Server => self.server_seq = self.server_seq.wrapping_add(advance),
        }
        let ttl = if from == Sender::Client { 64 } else { 63 };
        let ip = IpFields {
            source: source.0,
            destination: destination.0,
            ttl,
            ip_id,
            protocol: 6,
        };
        let transport_len = tcp.header_len() + payload.len();
        ethernet_frame(self.vlan, ip, transport_len, |ip, out| {
            tcp.checksum = match ip {
                IpHeaderRef::V4(header) => tcp.calc_checksum_ipv4(header, payload),
                IpHeaderRef::V6(header) => tcp.calc_checksum_ipv6(header, payload),
            }
            .unwrap_or(0);
            let _ = tcp.write(out);
            out.extend_from_slice(payload);
        })
    }
}

/// What the IP header of a generated frame says.
struct IpFields {
    source: IpAddr,
    destination: IpAddr,
    ttl: u8,
    ip_id: u16,
    protocol: u8,
}

enum IpHeaderRef<'a> {
    V4(&'a Ipv4Header),
    V6(&'a Ipv6Header),
}

/// Ethernet (optionally 802.1Q-tagged) + IP header, then `transport` writes the rest.
fn ethernet_frame(
    vlan: Option<u16>,
    ip: IpFields,
    transport_len: usize,
    transport: impl FnOnce(IpHeaderRef<'_>, &mut Vec<u8>),
) -> Vec<u8> {
    let IpFields {
        source,
        destination,
        ttl,
        ip_id,
        protocol,
    } = ip;
    let mut frame = Vec::with_capacity(transport_len + 62);
    frame.extend_from_slice(&[0x02, 0, 0, 0, 0, 0x01, 0x02, 0, 0, 0, 0, 0x02]);
    if let Some(id) = vlan {
        frame.extend_from_slice(&[0x81, 0x00]);
        frame.extend_from_slice(&id.to_be_bytes());
    }
    match (source, destination) {
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            frame.extend_from_slice(&[0x86, 0xdd]);
            let header = Ipv6Header {
                traffic_class: 0,
                flow_label: Ipv6FlowLabel::ZERO,
                payload_length: transport_len as u16,
                next_header: IpNumber(protocol),
                hop_limit: ttl,
                source: s.octets(),
                destination: d.octets(),
            };
            let _ = header.write(&mut frame);
            transport(IpHeaderRef::V6(&header), &mut frame);
        }
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            frame.extend_from_slice(&[0x08, 0x00]);
            let mut header = Ipv4Header::new(
                transport_len as u16,
                ttl,
                IpNumber(protocol),
                s.octets(),
                d.octets(),
            )
            .unwrap_or_default();
            header.identification = ip_id;
            header.dont_fragment = true;
            header.header_checksum = header.calc_header_checksum();
            let _ = header.write(&mut frame);
            transport(IpHeaderRef::V4(&header), &mut frame);
        }
        _ => {}
    }
    frame
}

const PATHS: [&str; 6] = [
    "/api/v1/items",
    "/api/v1/cart",
    "/static/app.js",
    "/healthz",
    "/api/v2/search",
    "/images/logo.png",
];

/// A browser-like request head; the query string and cookie are secrets kaprobe must redact.
fn http_request(rng: &mut Rng, number: u64, close: bool) -> String {
    let path = PATHS[(rng.next() % PATHS.len() as u64) as usize];
    let connection = if close { "close" } else { "keep-alive" };
    format!(
        "GET {path}/{number}?session={:016x} HTTP/1.1\r\nHost: shop.example.com\r\nUser-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0\r\nAccept: */*\r\nAccept-Encoding: gzip, deflate\r\nCookie: sid={:016x}\r\nConnection: {connection}\r\n\r\n",
        rng.next(),
        rng.next()
    )
}

fn http_response_head(body_len: usize, close: bool) -> String {
    let connection = if close {
        "close"
    } else {
        "keep-alive\r\nKeep-Alive: timeout=5"
    };
    format!(
        "HTTP/1.1 200 OK\r\nServer: nginx/1.24.0\r\nDate: Mon, 01 Jan 2024 00:00:00 GMT\r\nContent-Type: application/octet-stream\r\nContent-Length: {body_len}\r\nConnection: {connection}\r\n\r\n"
    )
}

/// Handshake, one to six requests, then one of: the server's keep-alive timeout (FIN after
/// 5 s idle), the client closing, or the client resetting.
fn short_http(conversation: &mut Conversation, rng: &mut Rng) {
    let rtt = rng.range(200_000, 3_000_000) as i64;
    conversation.handshake(rng, rtt);
    let requests = rng.range(1, 6);
    let ending = rng.range(0, 99);
    for number in 1..=requests {
        let client_closes = number == requests && (60..90).contains(&ending);
        conversation.exchange(rng, rtt, number, client_closes);
        conversation.after(rng.millis(5, 300));
    }
    match ending {
        0..=59 => {
            conversation.after(5 * NANOS_PER_SEC);
            conversation.close(Sender::Server, rtt);
        }
        60..=89 => {
            conversation.close(Sender::Client, rtt);
        }
        _ => conversation.send(Sender::Client, RST | ACK, &[]),
    }
}

/// Handshake, one small request and response (body 250–1000 bytes, one segment), and the
/// client closing: 10 packets.
fn one_request_http(conversation: &mut Conversation, rng: &mut Rng) {
    let rtt = rng.range(200_000, 3_000_000) as i64;
    conversation.handshake(rng, rtt);
    conversation.exchange_with_body(rng, rtt, 1, false, (250, 1000));
    conversation.after(rng.millis(0, 50));
    conversation.close(Sender::Client, rtt);
}

/// An HTTPS session to port 443: the TLS handshake's records, then a request and a response
/// as application data every 1–30 s for 1–10 minutes, and the client closing.
fn tls_session(conversation: &mut Conversation, rng: &mut Rng) {
    const HANDSHAKE: u8 = 0x16;
    const APPLICATION_DATA: u8 = 0x17;
    conversation.flow.server.1 = 443;
    let rtt = rng.range(200_000, 3_000_000) as i64;
    conversation.handshake(rng, rtt);
    conversation.send(Sender::Client, PSH | ACK, &tls_record(HANDSHAKE, 300));
    conversation.after(rtt / 2);
    conversation.send_in_segments(Sender::Server, &tls_record(HANDSHAKE, 3200));
    conversation.after(rtt / 2);
    conversation.send(Sender::Client, PSH | ACK, &tls_record(HANDSHAKE, 120));
    conversation.after(rtt / 2);
    conversation.send(Sender::Server, PSH | ACK, &tls_record(HANDSHAKE, 60));
    let end = conversation.now + rng.range(60, 600) as i64 * NANOS_PER_SEC;
    while conversation.now < end {
        conversation.after(rng.millis(1_000, 30_000));
        let request = tls_record(APPLICATION_DATA, rng.range(200, 700) as usize);
        conversation.send(Sender::Client, PSH | ACK, &request);
        conversation.after(rtt / 2 + rng.millis(1, 20));
        let response = tls_record(APPLICATION_DATA, rng.range(300, 3000) as usize);
        conversation.send_in_segments(Sender::Server, &response);
        conversation.after(rtt / 2).send(Sender::Client, ACK, &[]);
    }
    conversation.close(Sender::Client, rtt);
}

/// A TLS 1.2 record header (RFC 5246 §6.2.1) and `length` bytes standing for its payload.
fn tls_record(content_type: u8, length: usize) -> Vec<u8> {
    let mut record = vec![content_type, 0x03, 0x03];
    record.extend_from_slice(&(length as u16).to_be_bytes());
    record.extend((0..length).map(|index| (index * 31 % 251) as u8));
    record
}

/// A SYN answered by a RST: nothing listening on the backend.
fn refused(conversation: &mut Conversation, rng: &mut Rng) {
    conversation.send(Sender::Client, SYN, &[]);
    conversation.after(rng.range(100_000, 1_000_000) as i64);
    conversation.send(Sender::Server, RST | ACK, &[]);
}

/// A pooled connection left idle with SO_KEEPALIVE (time 20 s, interval 5 s, 9 probes).
/// `answered`: the peer ACKs every probe and the connection closes after a few minutes;
/// otherwise a middlebox forgot it after the second probe and the client gives up with a RST.
fn keepalive_connection(conversation: &mut Conversation, rng: &mut Rng, answered: bool) {
    let rtt = rng.range(200_000, 2_000_000) as i64;
    conversation.handshake(rng, rtt);
    conversation.exchange(rng, rtt, 1, false);
    let probes = if answered { rng.range(5, 20) } else { 2 };
    for _ in 0..probes {
        conversation.after(20 * NANOS_PER_SEC);
        conversation.probe(Sender::Client);
        conversation.after(rtt).send(Sender::Server, ACK, &[]);
    }
    if answered {
        conversation.after(rng.millis(100, 5000));
        conversation.close(Sender::Client, rtt);
        return;
    }
    conversation.after(20 * NANOS_PER_SEC);
    for _ in 0..9 {
        conversation.probe(Sender::Client);
        conversation.after(5 * NANOS_PER_SEC);
    }
    conversation.send(Sender::Client, RST | ACK, &[]);
}

/// A connection idle for 70–400 s without keepalive; the next request is answered by a RST
/// (the server, or a middlebox that forgot the connection, speaking for it).
fn idle_without_keepalive(conversation: &mut Conversation, rng: &mut Rng) {
    let rtt = rng.range(200_000, 2_000_000) as i64;
    conversation.handshake(rng, rtt);
    conversation.exchange(rng, rtt, 1, false);
    conversation.after(rng.range(70, 400) as i64 * NANOS_PER_SEC);
    let request = http_request(rng, 2, false);
    conversation.send(Sender::Client, PSH | ACK, request.as_bytes());
    conversation.after(rtt / 4);
    let frame = conversation.flow.segment(Sender::Server, RST, &[], None);
    let now = conversation.now;
    conversation.frames.push((now, frame));
}

/// A VRRPv2 advertisement (RFC 3768 §5.1) from the master, priority 100, for 10.0.0.10.
fn vrrp_advert() -> Vec<u8> {
    let mut message = vec![
        0x21, VRRP_VRID, 100, 1, 0, 1, 0, 0, 10, 0, 0, 10, 0, 0, 0, 0, 0, 0, 0, 0,
    ];
    let checksum = ones_complement_checksum(&message);
    message[6..8].copy_from_slice(&checksum.to_be_bytes());
    let ip = IpFields {
        source: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)),
        destination: IpAddr::V4(Ipv4Addr::new(224, 0, 0, 18)),
        ttl: 255,
        ip_id: 0,
        protocol: 112,
    };
    let mut frame = ethernet_frame(None, ip, message.len(), |_, out| {
        out.extend_from_slice(&message)
    });
    // VRRP's own virtual MAC and the multicast destination (RFC 3768 §7.3).
    frame[..6].copy_from_slice(&[0x01, 0x00, 0x5e, 0x00, 0x00, 0x12]);
    frame[6..12].copy_from_slice(&[0x00, 0x00, 0x5e, 0x00, 0x01, VRRP_VRID]);
    frame
}

fn ones_complement_checksum(bytes: &[u8]) -> u16 {
    let mut sum: u32 = bytes
        .chunks(2)
        .map(|pair| u32::from(u16::from_be_bytes([pair[0], *pair.get(1).unwrap_or(&0)])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}
