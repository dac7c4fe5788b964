//! Writes the seed corpora into `corpus/<target>/` from the lab captures
//! (`cargo run --bin make_seeds -- ../fixtures/lab/captures`): whole files for the reader,
//! single frames re-wrapped in every link layer for the decoder, frame sequences for the
//! analysis, VRRP messages with their addresses for the VRRP parser, the TCP payloads of the
//! HTTP (nginx) captures as HTTP-target records, plus small hand-made
//! containers (pcapng with every block type, nanosecond and big-endian pcap, gzip).

use kaprobe::capture::file::CaptureReader;
use kaprobe::capture::{LinkType, RawPacket};
use kaprobe::decode::{self, IP_PROTOCOL_VRRP, Network, Transport};
use kaprobe_fuzz::http_records::{FIN_AFTER, FROM_SERVER, PAUSE_BEFORE, SECOND_CONNECTION};
use kaprobe_fuzz::{link_selector, push_http_record, push_record};
use std::collections::HashMap;
use std::collections::HashSet;
use std::io::Write;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

/// libFuzzer runs with -max_len=65536; longer seeds would only be cut.
const MAX_SEED: usize = 65536;
const FRAMES_PER_CAPTURE: usize = 40;

struct Seeds {
    root: PathBuf,
    seen: HashSet<(String, Vec<u8>)>,
}

impl Seeds {
    fn put(&mut self, target: &str, bytes: Vec<u8>) {
        let mut bytes = bytes;
        bytes.truncate(MAX_SEED);
        if !self.seen.insert((target.to_string(), bytes.clone())) {
            return;
        }
        let dir = self.root.join(target);
        std::fs::create_dir_all(&dir).expect("corpus dir");
        let name = format!("seed-{:05}", self.seen.len());
        std::fs::write(dir.join(name), bytes).expect("write seed");
    }
}

fn main() {
    let captures = std::env::args()
        .nth(1)
        .unwrap_or("../fixtures/lab/captures".into());
    let mut seeds = Seeds {
        root: PathBuf::from("corpus"),
        seen: HashSet::new(),
    };
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&captures)
        .expect("captures dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "pcap" || x == "pcapng"))
        .collect();
    paths.sort();
    for path in &paths {
        from_capture(&mut seeds, path);
    }
    hand_made(&mut seeds);
    http_hand_made(&mut seeds);
    println!("{} seeds in {}", seeds.seen.len(), seeds.root.display());
}

fn from_capture(seeds: &mut Seeds, path: &Path) {
    let bytes = std::fs::read(path).expect("read capture");
    seeds.put("capture_file", bytes.clone());
    let source = Box::new(std::io::Cursor::new(bytes));
    let Ok(mut reader) = CaptureReader::from_reader(&path.display().to_string(), 0, source) else {
        return;
    };
    let mut packet = RawPacket::default();
    let mut sequence = vec![0u8];
    let mut previous = None;
    let mut frames = 0;
    let mut http = HttpSeed::default();
    while reader.next_packet(&mut packet) {
        http.add(&packet);
        let step_ms = previous.map_or(0, |p: i64| (packet.ts.nanos() - p) / 1_000_000);
        previous = Some(packet.ts.nanos());
        push_record(
            &mut sequence,
            packet.link_type,
            i32::try_from(step_ms).unwrap_or(i32::MAX),
            &packet.data,
        );
        if frames < FRAMES_PER_CAPTURE {
            frames += 1;
            frame_seeds(seeds, &packet);
        }
    }
    if http.records > 0 {
        seeds.put("http", http.bytes);
    }
    seeds.put("analysis", sequence.clone());
    // The same sequence with timelines, a tiny connection table and secrets shown.
    if let Some(first) = sequence.first_mut() {
        *first = 0x0f;
    }
    seeds.put("analysis", sequence);
}

fn frame_seeds(seeds: &mut Seeds, packet: &RawPacket) {
    let mut seed = vec![link_selector(packet.link_type)];
    seed.extend_from_slice(&packet.data);
    seeds.put("decode_frame", seed);
    let decoded = decode::decode(&packet.frame());
    let Network::Ip(ip) = decoded.network else {
        return;
    };
    if ip.protocol == IP_PROTOCOL_VRRP {
        let mut seed = vec![u8::from(ip.version == 6)];
        seed.extend_from_slice(&address_bytes(ip.source));
        seed.extend_from_slice(&address_bytes(ip.destination));
        seed.extend_from_slice(ip.payload);
        seeds.put("vrrp", seed);
    }
    // The IP packet re-wrapped in every other link layer.
    let Some(start) = packet
        .data
        .len()
        .checked_sub(ip_total(&packet.data, ip.version))
    else {
        return;
    };
    let Some(ip_bytes) = packet.data.get(start..) else {
        return;
    };
    for (link_type, frame) in wrappings(ip_bytes, ip.version) {
        let mut seed = vec![link_selector(link_type)];
        seed.extend_from_slice(&frame);
        seeds.put("decode_frame", seed);
    }
}

/// Length of the IP packet at the end of an Ethernet frame (padding aside, close enough for
/// seeds): the frame minus 14 bytes of Ethernet header.
fn ip_total(frame: &[u8], _version: u8) -> usize {
    frame.len().saturating_sub(14)
}

fn address_bytes(ip: IpAddr) -> [u8; 16] {
    match ip {
        IpAddr::V4(v4) => {
            let mut out = [0u8; 16];
            out[..4].copy_from_slice(&v4.octets());
            out
        }
        IpAddr::V6(v6) => v6.octets(),
    }
}

fn wrappings(ip: &[u8], version: u8) -> Vec<(LinkType, Vec<u8>)> {
    let ether_type: [u8; 2] = if version == 6 {
        [0x86, 0xdd]
    } else {
        [0x08, 0x00]
    };
    let family: u32 = if version == 6 { 24 } else { 2 };
    let macs = [2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1];
    let join = |parts: &[&[u8]]| parts.concat();
    let mut sll = vec![0, 0, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0];
    sll.extend_from_slice(&ether_type);
    let mut sll2 = ether_type.to_vec();
    sll2.extend_from_slice(&[0, 0, 0, 0, 0, 2, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0]);
    vec![
        (LinkType::Raw, ip.to_vec()),
        (LinkType::Null, join(&[&family.to_le_bytes(), ip])),
        (LinkType::Loop, join(&[&family.to_be_bytes(), ip])),
        (LinkType::LinuxSll, join(&[&sll, ip])),
        (LinkType::LinuxSll2, join(&[&sll2, ip])),
        (
            LinkType::Ethernet,
            join(&[&macs, &[0x81, 0, 0, 7, 0x88, 0xa8, 0, 9], &ether_type, ip]),
        ),
        (
            LinkType::Ethernet,
            join(&[&macs, &[0x88, 0x47, 0, 1, 0x01, 0x40], ip]),
        ),
        (
            LinkType::Ethernet,
            join(&[
                &macs,
                &[0x88, 0x64, 0x11, 0, 0, 1, 0, 0],
                if version == 6 { &[0, 0x57] } else { &[0, 0x21] },
                ip,
            ]),
        ),
    ]
}

/// Small containers written by hand: every pcapng block kaprobe reads, other pcap variants.
fn hand_made(seeds: &mut Seeds) {
    let frame: Vec<u8> = [
        &[2u8, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00][..],
        &[
            0x45, 0, 0, 40, 0, 1, 0x40, 0, 64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
        ],
        &[
            0x9c, 0x40, 0, 80, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x02, 0xff, 0xff, 0, 0, 0, 0,
        ],
    ]
    .concat();
    seeds.put("capture_file", pcapng(&frame));
    for magic in [0xa1b2_3c4du32, 0xa1b2_c3d4] {
        seeds.put("capture_file", classic(magic, &frame, false));
        seeds.put("capture_file", classic(magic, &frame, true));
    }
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&pcapng(&frame)).expect("gzip");
    seeds.put("capture_file", gz.finish().expect("gzip"));
}

fn classic(magic: u32, frame: &[u8], big_endian: bool) -> Vec<u8> {
    let word = |v: u32| {
        if big_endian {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        }
    };
    let half = |v: u16| {
        if big_endian {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        }
    };
    let length = u32::try_from(frame.len()).unwrap_or(0);
    [
        &word(magic)[..],
        &half(2),
        &half(4),
        &word(0),
        &word(0),
        &word(65535),
        &word(1),
        &word(1_704_067_200),
        &word(5),
        &word(length),
        &word(length),
        frame,
    ]
    .concat()
}

fn block(kind: u32, body: &[u8]) -> Vec<u8> {
    let padded = body.len().div_ceil(4) * 4;
    let total = u32::try_from(padded + 12).unwrap_or(0);
    let mut out = Vec::new();
    out.extend_from_slice(&kind.to_le_bytes());
    out.extend_from_slice(&total.to_le_bytes());
    out.extend_from_slice(body);
    out.resize(padded + 8, 0);
    out.extend_from_slice(&total.to_le_bytes());
    out
}

fn pcapng(frame: &[u8]) -> Vec<u8> {
    let length = u32::try_from(frame.len()).unwrap_or(0);
    let section = [&0x1a2b_3c4du32.to_le_bytes()[..], &[1, 0, 0, 0], &[0xff; 8]].concat();
    // if_tsresol = 9 (nanoseconds), then opt_endofopt.
    let interface = [
        &[1u8, 0, 0, 0][..],
        &65535u32.to_le_bytes(),
        &[9, 0, 1, 0, 9, 0, 0, 0, 0, 0, 0, 0],
    ]
    .concat();
    let enhanced = [
        &0u32.to_le_bytes()[..],
        &1u32.to_le_bytes(),
        &7u32.to_le_bytes(),
        &length.to_le_bytes(),
        &length.to_le_bytes(),
        frame,
    ]
    .concat();
    let simple = [&length.to_le_bytes()[..], frame].concat();
    let obsolete = [
        &0u32.to_le_bytes()[..],
        &1u32.to_le_bytes(),
        &9u32.to_le_bytes(),
        &length.to_le_bytes(),
        &length.to_le_bytes(),
        frame,
    ]
    .concat();
    [
        block(0x0a0d_0d0a, &section),
        block(1, &interface),
        block(6, &enhanced),
        block(3, &simple),
        block(2, &obsolete),
        block(0x0bad, &[1, 2, 3, 4]),
    ]
    .concat()
}

/// The TCP payloads of one capture as HTTP-target records: the side that sent the SYN is the
/// client; the first two connections seen map to the target's two connections.
struct HttpSeed {
    bytes: Vec<u8>,
    records: usize,
    /// (client address, client port) → connection number.
    clients: HashMap<(IpAddr, u16), u8>,
    last_ts: i64,
}

impl Default for HttpSeed {
    fn default() -> HttpSeed {
        HttpSeed {
            bytes: vec![0x03],
            records: 0,
            clients: HashMap::new(),
            last_ts: 0,
        }
    }
}

impl HttpSeed {
    fn add(&mut self, packet: &RawPacket) {
        let decoded = decode::decode(&packet.frame());
        let Network::Ip(ip) = decoded.network else {
            return;
        };
        let Transport::Tcp(tcp) = ip.transport else {
            return;
        };
        if tcp.flags.syn() && !tcp.flags.ack() && self.clients.len() < 2 {
            let number = u8::try_from(self.clients.len()).unwrap_or(0);
            self.clients
                .entry((ip.source, tcp.source_port))
                .or_insert(number);
        }
        if tcp.payload.is_empty() || self.bytes.len() >= MAX_SEED {
            return;
        }
        let (number, from_server) = match (
            self.clients.get(&(ip.source, tcp.source_port)),
            self.clients.get(&(ip.destination, tcp.destination_port)),
        ) {
            (Some(number), _) => (*number, false),
            (None, Some(number)) => (*number, true),
            (None, None) => return,
        };
        let mut control = 0;
        if number == 1 {
            control |= SECOND_CONNECTION;
        }
        if from_server {
            control |= FROM_SERVER;
        }
        if self.records > 0 && packet.ts.nanos() - self.last_ts > 2_000_000_000 {
            control |= PAUSE_BEFORE;
        }
        if tcp.flags.fin() {
            control |= FIN_AFTER;
        }
        self.last_ts = packet.ts.nanos();
        push_http_record(&mut self.bytes, control, tcp.payload);
        self.records += 1;
    }
}

/// HTTP-target seeds written by hand: pipelining, chunked bodies, 1xx, a tunnel.
fn http_hand_made(seeds: &mut Seeds) {
    let exchanges: [(&[u8], &[u8]); 4] = [
        (
            b"GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\naHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4;x=y\r\nWiki\r\n0\r\nT: 1\r\n\r\n",
        ),
        (
            b"POST /u HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\nabc",
            b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.0 200 OK\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5\r\n\r\nbody",
        ),
        (
            b"GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n",
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n\x81\x00",
        ),
        (
            b"HEAD / HTTP/1.0\r\nVia: 1.1 p\r\nConnection: keep-alive, X-Custom\r\nX-Custom: 1\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Length: 99\r\nConnection: close\r\n\r\n",
        ),
    ];
    for (index, (request, response)) in exchanges.iter().enumerate() {
        let mut seed = vec![u8::try_from(index).unwrap_or(0)];
        push_http_record(&mut seed, 0, request);
        push_http_record(&mut seed, FROM_SERVER, response);
        push_http_record(&mut seed, SECOND_CONNECTION, request);
        push_http_record(
            &mut seed,
            SECOND_CONNECTION | FROM_SERVER | FIN_AFTER,
            response,
        );
        push_http_record(&mut seed, PAUSE_BEFORE | FROM_SERVER | FIN_AFTER, b"");
        seeds.put("http", seed);
    }
}
