//! The TCP tuple of a frame, read straight from the IP and TCP headers: what the reader thread
//! of a sharded run needs to route a segment to its shard, which then decodes it in full.
//!
//! The reader is one thread for all the shards, so its cost per frame caps how far `--threads`
//! scales: with [`super::decode`] (etherparse's lax IP and TCP slicers, every field copied into
//! a [`super::Decoded`]) it spent about 370 instructions per frame on decoding alone, more than
//! a third of its time. Here the common case (IPv4 or IPv6 without extension headers, carrying
//! a TCP header that is all there) is read at fixed offsets.
//!
//! The contract is one-sided: [`tcp_tuple`] answers only when [`super::decode`] would read the
//! frame as a TCP segment with exactly these addresses, ports, VLAN and interface, and `None`
//! means "decode it in full to know". It follows etherparse's lax rules for the IP payload (the
//! IPv4 total length or IPv6 payload length bounds it, unless it is zero, smaller than the
//! header, or more than was captured) and leaves fragments, IPv4 `AUTH` and every IPv6
//! extension header to the full decoder. A test checks the contract on every frame of the lab
//! and corpus captures and on corrupted copies of them.

use super::link::{self, u16_at, u32_at, u128_at};
use crate::capture::Frame;
use crate::flow::Endpoint;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

const IP_PROTOCOL_TCP: u8 = super::IP_PROTOCOL_TCP;
const IPV4_MIN_HEADER: usize = 20;
const IPV6_HEADER: usize = 40;
const TCP_MIN_HEADER: usize = 20;
/// The IPv4 "more fragments" flag and fragment offset.
const IPV4_FRAGMENT_BITS: u16 = 0x3fff;

/// What routing needs of a TCP segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TcpTuple {
    /// The frame's interface, or the SLL2 interface index (as [`super::decode`] sets it).
    pub interface: u32,
    pub vlan: Option<u16>,
    pub source: Endpoint,
    pub destination: Endpoint,
}

/// The tuple of a TCP segment in the common case; `None` when the full decoder must decide.
pub fn tcp_tuple(frame: &Frame<'_>) -> Option<TcpTuple> {
    let info = link::strip(frame.link_type, frame.data)?;
    if !matches!(info.ether_type, link::ETHERTYPE_IPV4 | link::ETHERTYPE_IPV6) {
        return None;
    }
    let network = frame.data.get(info.network_offset..)?;
    // As in the full decoder, the version nibble decides, not the ether type.
    let (source, destination, tcp) = match network.first()? >> 4 {
        4 => ipv4(network)?,
        6 => ipv6(network)?,
        _ => return None,
    };
    let (source_port, destination_port) = tcp_ports(tcp)?;
    Some(TcpTuple {
        interface: info.interface_index.unwrap_or(frame.interface),
        vlan: info.vlan,
        source: Endpoint {
            ip: source,
            port: source_port,
        },
        destination: Endpoint {
            ip: destination,
            port: destination_port,
        },
    })
}

/// The addresses and the TCP bytes of an unfragmented IPv4 packet carrying TCP.
fn ipv4(packet: &[u8]) -> Option<(IpAddr, IpAddr, &[u8])> {
    let header_len = usize::from(packet.first()? & 0x0f) * 4;
    if header_len < IPV4_MIN_HEADER || packet.len() < header_len {
        return None;
    }
    if u16_at(packet, 6)? & IPV4_FRAGMENT_BITS != 0 || *packet.get(9)? != IP_PROTOCOL_TCP {
        return None;
    }
    let total_len = usize::from(u16_at(packet, 2)?);
    // A total length smaller than the header (zero under TSO) or beyond what was captured
    // does not bound the payload.
    let end = if (header_len..=packet.len()).contains(&total_len) {
        total_len
    } else {
        packet.len()
    };
    let source = Ipv4Addr::from(u32_at(packet, 12)?);
    let destination = Ipv4Addr::from(u32_at(packet, 16)?);
    Some((
        source.into(),
        destination.into(),
        packet.get(header_len..end)?,
    ))
}

/// The addresses and the TCP bytes of an IPv6 packet whose first next header is TCP.
fn ipv6(packet: &[u8]) -> Option<(IpAddr, IpAddr, &[u8])> {
    if packet.len() < IPV6_HEADER || *packet.get(6)? != IP_PROTOCOL_TCP {
        return None;
    }
    let payload_len = usize::from(u16_at(packet, 4)?);
    let captured = packet.len() - IPV6_HEADER;
    // Zero (a jumbogram, or TSO) or more than was captured: the captured bytes.
    let end = if payload_len == 0 || payload_len > captured {
        packet.len()
    } else {
        IPV6_HEADER + payload_len
    };
    let source = Ipv6Addr::from(u128_at(packet, 8)?);
    let destination = Ipv6Addr::from(u128_at(packet, 24)?);
    Some((
        source.into(),
        destination.into(),
        packet.get(IPV6_HEADER..end)?,
    ))
}

/// The ports of a TCP header whose data offset is valid and whose options were captured.
fn tcp_ports(tcp: &[u8]) -> Option<(u16, u16)> {
    if tcp.len() < TCP_MIN_HEADER {
        return None;
    }
    let header_len = usize::from(tcp.get(12)? >> 4) * 4;
    if header_len < TCP_MIN_HEADER || tcp.len() < header_len {
        return None;
    }
    Some((u16_at(tcp, 0)?, u16_at(tcp, 2)?))
}
