//! The reader thread of a sharded run routes TCP segments by a tuple read at fixed offsets
//! (`decode::tuple`) instead of the full decoder. Its contract: when it answers, the full
//! decoder reads the frame as a TCP segment with the same addresses, ports, VLAN and
//! interface (otherwise a segment would reach a shard that drops it, or the wrong shard).
//! Checked on every frame of the lab captures (and the corpus with `KAPROBE_CORPUS`), on
//! corrupted and cut copies of them, and on built frames of each shape it must refuse.

mod support;

use kaprobe::capture::RawPacket;
use kaprobe::capture::file::CaptureReader;
use kaprobe::decode::tuple::tcp_tuple;
use kaprobe::decode::{self, Network, Transport};
use kaprobe::flow::Endpoint;
use std::path::{Path, PathBuf};
use support::{Capture, Link, seg};

/// Checks the contract on one frame; returns whether the fast tuple answered.
fn agrees(packet: &RawPacket) -> bool {
    let frame = packet.frame();
    let Some(tuple) = tcp_tuple(&frame) else {
        return false;
    };
    let decoded = decode::decode(&frame);
    let (Network::Ip(ip), Some(tcp)) = (decoded.network, tcp_of(&decoded)) else {
        panic!("the tuple {tuple:?} was read from a frame that is not a TCP segment: {packet:?}");
    };
    let source = Endpoint {
        ip: ip.source,
        port: tcp.source_port,
    };
    let destination = Endpoint {
        ip: ip.destination,
        port: tcp.destination_port,
    };
    assert_eq!(
        (tuple.interface, tuple.vlan, tuple.source, tuple.destination),
        (decoded.interface, decoded.vlan, source, destination),
        "frame {packet:?}"
    );
    true
}

fn tcp_of<'a>(decoded: &decode::Decoded<'a>) -> Option<decode::TcpSegment<'a>> {
    match decoded.network {
        Network::Ip(ip) => match ip.transport {
            Transport::Tcp(tcp) => Some(tcp),
            _ => None,
        },
        _ => None,
    }
}

fn is_tcp(packet: &RawPacket) -> bool {
    tcp_of(&decode::decode(&packet.frame())).is_some()
}

fn frames_of(path: &Path) -> Vec<RawPacket> {
    let mut reader = CaptureReader::open(&path.display().to_string(), 0)
        .unwrap_or_else(|error| panic!("open {}: {error:#}", path.display()));
    let mut frames = Vec::new();
    let mut packet = RawPacket::default();
    while reader.next_packet(&mut packet) {
        frames.push(packet.clone());
    }
    frames
}

fn captures_in(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return found;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            found.extend(captures_in(&path));
        } else if path.file_name().is_some_and(|name| {
            let name = name.to_string_lossy();
            [".pcap", ".pcapng", ".cap", ".pcap.gz"]
                .iter()
                .any(|extension| name.ends_with(extension))
        }) {
            found.push(path);
        }
    }
    found.sort();
    found
}

#[test]
fn the_fast_tuple_agrees_with_the_full_decoder_on_every_real_frame() {
    let mut files = captures_in(&support::lab_dir());
    assert!(!files.is_empty(), "no lab captures");
    if let Some(corpus) = support::corpus_dir() {
        files.extend(captures_in(&corpus));
    }
    let (mut segments, mut answered) = (0u64, 0u64);
    for file in &files {
        for packet in frames_of(file) {
            segments += u64::from(is_tcp(&packet));
            answered += u64::from(agrees(&packet));
        }
    }
    // Nearly every real segment must take the fast path, or routing gained nothing.
    assert!(
        answered * 10 >= segments * 9,
        "the fast tuple answered for {answered} of {segments} TCP segments"
    );
}

/// Every header byte of real frames set to values that break length, version, fragment and
/// protocol fields, and every frame cut short: the tuple answers only where decoding agrees.
#[test]
fn the_fast_tuple_agrees_with_the_full_decoder_on_corrupted_and_cut_frames() {
    let files = captures_in(&support::lab_dir());
    for file in files.iter().take(12) {
        for packet in frames_of(file).into_iter().filter(is_tcp).take(20) {
            let header_bytes = packet.data.len().min(96);
            for position in 0..header_bytes {
                let original = packet.data[position];
                for value in [0x00, 0xff, 0x45, 0x60, original ^ 0x01, original ^ 0x20] {
                    let mut corrupted = packet.clone();
                    corrupted.data[position] = value;
                    agrees(&corrupted);
                }
            }
            for length in 0..header_bytes {
                let mut cut = packet.clone();
                cut.data.truncate(length);
                agrees(&cut);
            }
        }
    }
}

/// Frames of one shape each, built rather than recorded.
fn built(link: Link, build: impl FnOnce(&mut Capture)) -> RawPacket {
    let dir = tempfile::tempdir().unwrap();
    let mut capture = Capture::new(link);
    build(&mut capture);
    let path = capture.write(dir.path(), "one.pcap");
    frames_of(&path).into_iter().next().expect("one frame")
}

#[test]
fn the_fast_tuple_reads_ipv4_ipv6_vlan_and_raw_ip_and_refuses_fragments_and_extensions() {
    let ipv4 = built(Link::Ethernet, |c| {
        c.tcp(0.0, seg("10.0.0.1:40000", "10.0.0.2:80").payload(b"GET"));
    });
    let tagged = built(Link::Vlan(42), |c| {
        c.tcp(0.0, seg("10.0.0.1:40000", "10.0.0.2:80"));
    });
    let ipv6 = built(Link::Ethernet, |c| {
        c.tcp(0.0, seg("[2001:db8::1]:40000", "[2001:db8::2]:443"));
    });
    let raw = built(Link::Raw, |c| {
        c.tcp(0.0, seg("10.0.0.1:40000", "10.0.0.2:80"));
    });
    for packet in [&ipv4, &tagged, &ipv6, &raw] {
        assert!(agrees(packet), "the fast tuple refused {packet:?}");
    }
    assert_eq!(tcp_tuple(&tagged.frame()).unwrap().vlan, Some(42));

    // Ethernet header (14 bytes), then IP.
    let mut fragment = ipv4.clone();
    fragment.data[14 + 6] |= 0x20; // more fragments
    assert!(tcp_tuple(&fragment.frame()).is_none());
    assert!(
        !is_tcp(&fragment),
        "the full decoder does not read a fragment's TCP header"
    );

    let mut offset_fragment = ipv4.clone();
    offset_fragment.data[14 + 7] = 0x10;
    assert!(tcp_tuple(&offset_fragment.frame()).is_none());

    // IPv6 with a hop-by-hop header first: left to the full decoder.
    let mut extension = ipv6.clone();
    extension.data[14 + 6] = 0;
    assert!(tcp_tuple(&extension.frame()).is_none());

    // A TCP data offset beyond the captured bytes.
    let mut long_header = ipv4.clone();
    long_header.data[14 + 20 + 12] = 0xf0;
    assert!(tcp_tuple(&long_header.frame()).is_none());
    assert!(!is_tcp(&long_header));

    // A zero total length (TSO) leaves the captured bytes as the payload: still routed.
    let mut offloaded = ipv4.clone();
    offloaded.data[14 + 2] = 0;
    offloaded.data[14 + 3] = 0;
    assert!(agrees(&offloaded));
}
