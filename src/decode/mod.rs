//! A decoded frame: one small borrowed view with the fields every detector needs.
//!
//! `link` strips the link layer; etherparse's lax IP slicer then reads IP (skipping IPv6
//! extension headers) and its TCP or ICMPv6 slicer the transport, decoding a frame cut by the
//! snapshot length as far as it goes. The IP and transport slicers are called directly rather
//! than through `LaxSlicedPacket`, which copies its large result struct at every layer (a
//! fifth of the decoding cost) for layers kaprobe has already stripped itself.
//! Nothing here allocates: the view borrows the frame buffer and copies only small fixed
//! fields. The TCP payload length on the wire comes from the IP length, not from what was
//! captured, because keepalive detection must not be fooled by snaplen.

pub mod arp;
pub mod link;
pub mod tuple;
pub mod vrrp;

use crate::capture::Frame;
use crate::time::Timestamp;
use etherparse::{Icmpv6Slice, IpNumber, LaxIpSlice, TcpOptionElement, TcpSlice};
use std::net::IpAddr;

pub const IP_PROTOCOL_TCP: u8 = 6;
pub const IP_PROTOCOL_VRRP: u8 = 112;

/// One frame, decoded.
#[derive(Clone, Copy, Debug)]
pub struct Decoded<'a> {
    pub ts: Timestamp,
    pub input: u16,
    /// pcapng interface id, or the SLL2 interface index when present.
    pub interface: u32,
    pub vlan: Option<u16>,
    pub source_mac: Option<[u8; 6]>,
    /// The frame was cut by the snapshot length.
    pub truncated: bool,
    pub network: Network<'a>,
}

#[derive(Clone, Copy, Debug)]
pub enum Network<'a> {
    Ip(IpPacket<'a>),
    /// The ARP message body (after the Ethernet header), for gratuitous ARP detection.
    Arp(&'a [u8]),
    /// Not IP or ARP, or too broken to read.
    Other,
}

#[derive(Clone, Copy, Debug)]
pub struct IpPacket<'a> {
    pub version: u8,
    pub source: IpAddr,
    pub destination: IpAddr,
    /// TTL (IPv4) or hop limit (IPv6).
    pub ttl: u8,
    /// IPv4 identification; `None` for IPv6.
    pub ip_id: Option<u16>,
    pub dont_fragment: bool,
    /// A non-first fragment or a fragment with more to come: transport headers unreliable.
    pub fragmented: bool,
    /// The final protocol number after IPv6 extension headers.
    pub protocol: u8,
    /// The IP payload as captured (may be shorter than on the wire).
    pub payload: &'a [u8],
    pub transport: Transport<'a>,
}

#[derive(Clone, Copy, Debug)]
pub enum Transport<'a> {
    Tcp(TcpSegment<'a>),
    /// ICMPv6 type and body (for neighbour advertisements of virtual addresses).
    Icmpv6 {
        icmp_type: u8,
        body: &'a [u8],
    },
    Other,
}

/// TCP flag bits as on the wire (FIN = 0x01 ... CWR = 0x80).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TcpFlags(pub u8);

impl TcpFlags {
    pub const FIN: u8 = 0x01;
    pub const SYN: u8 = 0x02;
    pub const RST: u8 = 0x04;
    pub const PSH: u8 = 0x08;
    pub const ACK: u8 = 0x10;

    pub fn fin(self) -> bool {
        self.0 & Self::FIN != 0
    }
    pub fn syn(self) -> bool {
        self.0 & Self::SYN != 0
    }
    pub fn rst(self) -> bool {
        self.0 & Self::RST != 0
    }
    pub fn ack(self) -> bool {
        self.0 & Self::ACK != 0
    }
}

/// The TCP options kaprobe reads.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TcpOptions {
    pub mss: Option<u16>,
    pub window_scale: Option<u8>,
    pub sack_permitted: bool,
    /// (TSval, TSecr)
    pub timestamps: Option<(u32, u32)>,
}

#[derive(Clone, Copy, Debug)]
pub struct TcpSegment<'a> {
    pub source_port: u16,
    pub destination_port: u16,
    pub seq: u32,
    pub ack: u32,
    pub flags: TcpFlags,
    /// Raw (unscaled) window.
    pub window: u16,
    pub options: TcpOptions,
    /// Payload bytes as captured.
    pub payload: &'a [u8],
    /// Payload length on the wire, from the IP length.
    pub payload_len: u32,
}

/// Decodes a raw frame. Never panics and never allocates; anything unreadable becomes
/// `Network::Other` or `Transport::Other`.
pub fn decode<'p>(packet: &Frame<'p>) -> Decoded<'p> {
    let mut decoded = Decoded {
        ts: packet.ts,
        input: packet.input,
        interface: packet.interface,
        vlan: None,
        source_mac: None,
        truncated: packet.is_truncated(),
        network: Network::Other,
    };
    let Some(info) = link::strip(packet.link_type, packet.data) else {
        return decoded;
    };
    decoded.vlan = info.vlan;
    decoded.source_mac = info
        .source_mac_at
        .and_then(|at| link::mac_at(packet.data, at));
    if let Some(index) = info.interface_index {
        decoded.interface = index;
    }
    let Some(network_bytes) = packet.data.get(info.network_offset..) else {
        return decoded;
    };
    decoded.network = match info.ether_type {
        link::ETHERTYPE_ARP => Network::Arp(network_bytes),
        link::ETHERTYPE_IPV4 | link::ETHERTYPE_IPV6 => {
            decode_ip(network_bytes).map_or(Network::Other, Network::Ip)
        }
        _ => Network::Other,
    };
    decoded
}

/// The IP version nibble decides how the bytes are read, whichever of the IPv4 and IPv6
/// ether types carried them (as etherparse's ether-type slicer does).
fn decode_ip(bytes: &[u8]) -> Option<IpPacket<'_>> {
    let (sliced, extension_error) = LaxIpSlice::from_slice(bytes).ok()?;
    let (mut ip, header_wire_len, total_wire_len) = match &sliced {
        LaxIpSlice::Ipv4(v4) => {
            let header = v4.header();
            let payload = v4.payload();
            let ip = IpPacket {
                version: 4,
                source: IpAddr::V4(header.source_addr()),
                destination: IpAddr::V4(header.destination_addr()),
                ttl: header.ttl(),
                ip_id: Some(header.identification()),
                dont_fragment: header.dont_fragment(),
                fragmented: payload.fragmented,
                protocol: payload.ip_number.0,
                payload: payload.payload,
                transport: Transport::Other,
            };
            let header_len = usize::from(header.ihl()) * 4;
            (ip, header_len, usize::from(header.total_len()))
        }
        LaxIpSlice::Ipv6(v6) => {
            let header = v6.header();
            let payload = v6.payload();
            let ip = IpPacket {
                version: 6,
                source: IpAddr::V6(header.source_addr()),
                destination: IpAddr::V6(header.destination_addr()),
                ttl: header.hop_limit(),
                ip_id: None,
                dont_fragment: false,
                fragmented: payload.fragmented,
                protocol: payload.ip_number.0,
                payload: payload.payload,
                transport: Transport::Other,
            };
            // Wire length of everything after the fixed header; extension headers are
            // subtracted below through the payload offset.
            let extensions_len = v6.extensions().slice().len();
            (
                ip,
                40 + extensions_len,
                40 + usize::from(header.payload_length()),
            )
        }
    };
    // A jumbogram or a zero IP length (TSO captures) gives no usable wire length.
    let payload_wire_len =
        (total_wire_len > header_wire_len).then(|| total_wire_len.saturating_sub(header_wire_len));
    // A fragment, or an IPv6 extension header that could not be read, stops decoding at IP
    // (as LaxSlicedPacket does).
    let readable = !ip.fragmented && extension_error.is_none();
    ip.transport = match IpNumber(ip.protocol) {
        IpNumber::TCP if readable => TcpSlice::from_slice(ip.payload)
            .map_or(Transport::Other, |tcp| tcp_segment(&tcp, payload_wire_len)),
        IpNumber::IPV6_ICMP if readable => {
            Icmpv6Slice::from_slice(ip.payload).map_or(Transport::Other, |icmp| Transport::Icmpv6 {
                icmp_type: icmp.type_u8(),
                body: icmp.slice(),
            })
        }
        _ => Transport::Other,
    };
    Some(ip)
}

/// `payload_wire_len`: the IP payload length on the wire, when the IP header gives one.
fn tcp_segment<'a>(tcp: &TcpSlice<'a>, payload_wire_len: Option<usize>) -> Transport<'a> {
    let header_len = tcp.header_slice().len();
    let captured = tcp.payload().len();
    // Without a usable wire length, what was captured is all we know.
    let on_wire = payload_wire_len
        .and_then(|len| len.checked_sub(header_len))
        .unwrap_or(captured)
        .max(captured);
    Transport::Tcp(TcpSegment {
        source_port: tcp.source_port(),
        destination_port: tcp.destination_port(),
        seq: tcp.sequence_number(),
        ack: tcp.acknowledgment_number(),
        flags: TcpFlags(tcp.header_slice().get(13).copied().unwrap_or(0)),
        window: tcp.window_size(),
        options: read_options(tcp),
        payload: tcp.payload(),
        payload_len: u32::try_from(on_wire).unwrap_or(u32::MAX),
    })
}

fn read_options(tcp: &etherparse::TcpSlice<'_>) -> TcpOptions {
    let mut options = TcpOptions::default();
    for element in tcp.options_iterator().flatten() {
        match element {
            TcpOptionElement::MaximumSegmentSize(mss) => options.mss = Some(mss),
            TcpOptionElement::WindowScale(scale) => options.window_scale = Some(scale),
            TcpOptionElement::SelectiveAcknowledgementPermitted => options.sack_permitted = true,
            TcpOptionElement::Timestamp(value, echo) => options.timestamps = Some((value, echo)),
            _ => {}
        }
    }
    options
}
