//! Frame decoding for every link type: the first byte picks the link type, the rest is the
//! frame. What the decoder hands on (ARP bodies, ICMPv6 bodies, VRRP payloads) is parsed too,
//! and the reader thread's fast tuple must agree with the full decoder whenever it answers.
#![no_main]

use kaprobe::capture::RawPacket;
use kaprobe::decode::vrrp::{AddressFamily, VrrpPacket};
use kaprobe::decode::{self, Network, Transport, arp};
use kaprobe::time::Timestamp;
use kaprobe_fuzz::link_type;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((selector, frame)) = data.split_first() else {
        return;
    };
    let packet = RawPacket {
        ts: Timestamp::from_nanos(0),
        input: 0,
        interface: 0,
        link_type: link_type(*selector),
        // Odd selectors claim a longer frame on the wire (snaplen cut).
        original_len: u32::try_from(frame.len()).unwrap_or(u32::MAX) + u32::from(*selector & 0x80),
        data: frame.to_vec(),
    };
    let decoded = decode::decode(&packet.frame());
    if let Some(tuple) = decode::tuple::tcp_tuple(&packet.frame()) {
        let Network::Ip(ip) = decoded.network else {
            panic!("a tuple from a frame that is not IP");
        };
        let Transport::Tcp(tcp) = ip.transport else {
            panic!("a tuple from a packet that is not TCP");
        };
        assert_eq!(tuple.interface, decoded.interface);
        assert_eq!(tuple.vlan, decoded.vlan);
        assert_eq!(
            (tuple.source.ip, tuple.source.port),
            (ip.source, tcp.source_port)
        );
        assert_eq!(
            (tuple.destination.ip, tuple.destination.port),
            (ip.destination, tcp.destination_port)
        );
    }
    match decoded.network {
        Network::Arp(body) => {
            std::hint::black_box(arp::gratuitous_arp(body));
        }
        Network::Ip(ip) => {
            if let Transport::Tcp(tcp) = ip.transport {
                assert!(tcp.payload.len() as u64 <= u64::from(tcp.payload_len));
            }
            if let Transport::Icmpv6 { body, .. } = ip.transport {
                std::hint::black_box(arp::unsolicited_neighbor_advertisement(body));
            }
            if ip.protocol == decode::IP_PROTOCOL_VRRP
                && let Ok(vrrp) = VrrpPacket::new_checked(ip.payload, AddressFamily::of(ip.source))
            {
                std::hint::black_box(vrrp.addresses().count());
                std::hint::black_box(vrrp.verify_checksum(ip.source, ip.destination));
            }
        }
        Network::Other => {}
    }
});
