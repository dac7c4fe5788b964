//! Link-layer headers stripped down to the network-layer payload.
//!
//! Handles Ethernet II with any stack of 802.1Q / 802.1ad / QinQ tags, MPLS label stacks,
//! PPPoE sessions and 802.1ah PBB (MAC-in-MAC); Linux cooked capture v1 (SLL) and v2 (SLL2); BSD NULL and LOOP;
//! raw IP; and NFLOG. Written here rather than taken from etherparse because etherparse has no
//! SLL2, MPLS, PBB or NFLOG, and kaprobe needs the MAC addresses and the SLL2 interface index
//! (the same packet crosses several interfaces under `tcpdump -i any`).

use crate::capture::LinkType;

pub const ETHERTYPE_IPV4: u16 = 0x0800;
pub const ETHERTYPE_ARP: u16 = 0x0806;
pub const ETHERTYPE_IPV6: u16 = 0x86dd;
const ETHERTYPE_VLAN: u16 = 0x8100;
const ETHERTYPE_QINQ: u16 = 0x88a8;
/// Pre-standard QinQ outer tags still seen on older switches.
const ETHERTYPE_QINQ_OLD_1: u16 = 0x9100;
const ETHERTYPE_QINQ_OLD_2: u16 = 0x9200;
const ETHERTYPE_MPLS_UNICAST: u16 = 0x8847;
const ETHERTYPE_MPLS_MULTICAST: u16 = 0x8848;
const ETHERTYPE_PBB: u16 = 0x88e7;
const ETHERTYPE_PPPOE_SESSION: u16 = 0x8864;
/// Bound on stacked tags and labels, so a hostile frame cannot loop us for long.
const MAX_ENCAPSULATIONS: usize = 8;

/// What the link layer told us, and where the network layer starts.
#[derive(Clone, Copy, Debug, Default)]
pub struct LinkInfo {
    pub ether_type: u16,
    pub network_offset: usize,
    /// Where the sender's MAC address is in the frame, when the link layer has one: read only
    /// by whoever needs it (VRRP), not copied out of every frame.
    pub source_mac_at: Option<usize>,
    /// The outermost VLAN id, part of the connection key (the same segment seen on two VLANs
    /// is two observations, not a retransmission).
    pub vlan: Option<u16>,
    /// Interface index from SLL2, also part of the key.
    pub interface_index: Option<u32>,
}

/// Strips the link layer; `None` when the frame is too short or not IP/ARP-bearing.
pub fn strip(link_type: LinkType, frame: &[u8]) -> Option<LinkInfo> {
    match link_type {
        LinkType::Ethernet => ethernet(frame, 0),
        LinkType::LinuxSll => linux_sll(frame),
        LinkType::LinuxSll2 => linux_sll2(frame),
        LinkType::Null => null(frame, false),
        LinkType::Loop => null(frame, true),
        LinkType::Raw | LinkType::Ipv4 | LinkType::Ipv6 => raw_ip(frame, 0),
        LinkType::Nflog => nflog(frame),
        LinkType::Unknown(_) => None,
    }
}

pub(super) fn u16_at(bytes: &[u8], at: usize) -> Option<u16> {
    bytes
        .get(at..at.checked_add(2)?)
        .map(|b| u16::from_be_bytes([b[0], b[1]]))
}

pub(super) fn u32_at(bytes: &[u8], at: usize) -> Option<u32> {
    bytes
        .get(at..at.checked_add(4)?)
        .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}

pub(super) fn u128_at(bytes: &[u8], at: usize) -> Option<u128> {
    let array: [u8; 16] = bytes.get(at..at.checked_add(16)?)?.try_into().ok()?;
    Some(u128::from_be_bytes(array))
}

/// The six bytes at `at` (a MAC address), if the frame holds them.
pub fn mac_at(bytes: &[u8], at: usize) -> Option<[u8; 6]> {
    bytes.get(at..at.checked_add(6)?)?.try_into().ok()
}

fn ethernet(frame: &[u8], start: usize) -> Option<LinkInfo> {
    let mut info = LinkInfo {
        source_mac_at: Some(start + 6),
        ..LinkInfo::default()
    };
    let mut offset = start + 12;
    for _ in 0..MAX_ENCAPSULATIONS {
        let ether_type = u16_at(frame, offset)?;
        offset += 2;
        // Plain patterns, so the common IPv4 and IPv6 cases cost one jump rather than a chain
        // of guards.
        match ether_type {
            ETHERTYPE_VLAN | ETHERTYPE_QINQ | ETHERTYPE_QINQ_OLD_1 | ETHERTYPE_QINQ_OLD_2 => {
                let tag = u16_at(frame, offset)?;
                info.vlan.get_or_insert(tag & 0x0fff);
                offset += 2;
            }
            ETHERTYPE_PBB => {
                // I-TAG (4 bytes), then the customer's destination and source MACs.
                info.source_mac_at = Some(offset + 10);
                offset += 16;
            }
            ETHERTYPE_MPLS_UNICAST | ETHERTYPE_MPLS_MULTICAST => return mpls(frame, offset, info),
            ETHERTYPE_PPPOE_SESSION => return pppoe(frame, offset, info),
            _ => {
                info.ether_type = ether_type;
                info.network_offset = offset;
                return Some(info);
            }
        }
    }
    None
}

/// Skips MPLS labels up to the bottom of stack, then guesses IPv4/IPv6 by the version nibble
/// (MPLS does not say what it carries; this is what tcpdump and Wireshark do by default).
fn mpls(frame: &[u8], mut offset: usize, info: LinkInfo) -> Option<LinkInfo> {
    for _ in 0..MAX_ENCAPSULATIONS {
        let label = u32_at(frame, offset)?;
        offset += 4;
        if label & 0x100 != 0 {
            return raw_ip(frame, offset).map(|ip| LinkInfo {
                ether_type: ip.ether_type,
                network_offset: ip.network_offset,
                ..info
            });
        }
    }
    None
}

/// PPPoE session (RFC 2516): a 6-byte header, then the PPP protocol number (0x0021 IPv4,
/// 0x0057 IPv6) before the IP packet. Seen on DSL access links.
fn pppoe(frame: &[u8], offset: usize, info: LinkInfo) -> Option<LinkInfo> {
    let ether_type = match u16_at(frame, offset + 6)? {
        0x0021 => ETHERTYPE_IPV4,
        0x0057 => ETHERTYPE_IPV6,
        _ => return None,
    };
    Some(LinkInfo {
        ether_type,
        network_offset: offset + 8,
        ..info
    })
}

fn linux_sll(frame: &[u8]) -> Option<LinkInfo> {
    let address_len = usize::from(u16_at(frame, 4)?);
    Some(LinkInfo {
        ether_type: u16_at(frame, 14)?,
        network_offset: 16,
        source_mac_at: (address_len == 6).then_some(6),
        ..LinkInfo::default()
    })
}

fn linux_sll2(frame: &[u8]) -> Option<LinkInfo> {
    let address_len = usize::from(*frame.get(11)?);
    Some(LinkInfo {
        ether_type: u16_at(frame, 0)?,
        network_offset: 20,
        source_mac_at: (address_len == 6).then_some(12),
        interface_index: u32_at(frame, 4),
        ..LinkInfo::default()
    })
}

/// NULL carries the address family in the capturing host's byte order, LOOP in network order.
/// IPv6 has several values depending on the BSD (24, 28, 30).
fn null(frame: &[u8], big_endian: bool) -> Option<LinkInfo> {
    let bytes: [u8; 4] = frame.get(0..4)?.try_into().ok()?;
    let family = if big_endian {
        u32::from_be_bytes(bytes)
    } else {
        let little = u32::from_le_bytes(bytes);
        if little > 0xffff {
            u32::from_be_bytes(bytes)
        } else {
            little
        }
    };
    let ether_type = match family {
        2 => ETHERTYPE_IPV4,
        24 | 28 | 30 => ETHERTYPE_IPV6,
        _ => return None,
    };
    Some(LinkInfo {
        ether_type,
        network_offset: 4,
        ..LinkInfo::default()
    })
}

fn raw_ip(frame: &[u8], offset: usize) -> Option<LinkInfo> {
    let ether_type = match frame.get(offset)? >> 4 {
        4 => ETHERTYPE_IPV4,
        6 => ETHERTYPE_IPV6,
        _ => return None,
    };
    Some(LinkInfo {
        ether_type,
        network_offset: offset,
        ..LinkInfo::default()
    })
}

/// NFLOG: a 4-byte header (family, version, resource id) then TLVs whose length and type are
/// in host byte order (little-endian on every capture seen in practice); type 9 is the packet.
fn nflog(frame: &[u8]) -> Option<LinkInfo> {
    const NFULA_PAYLOAD: u16 = 9;
    let mut offset = 4;
    for _ in 0..64 {
        let length = u16::from_le_bytes(frame.get(offset..offset + 2)?.try_into().ok()?);
        let kind = u16::from_le_bytes(frame.get(offset + 2..offset + 4)?.try_into().ok()?) & 0x7fff;
        if length < 4 {
            return None;
        }
        if kind == NFULA_PAYLOAD {
            return raw_ip(frame, offset + 4);
        }
        offset += (usize::from(length) + 3) & !3;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ethernet_with_two_vlan_tags_reaches_ipv4() {
        let mut frame = vec![0u8; 12];
        frame.extend_from_slice(&[0x88, 0xa8, 0x00, 0x0a, 0x81, 0x00, 0x00, 0x14, 0x08, 0x00]);
        frame.push(0x45);
        let info = strip(LinkType::Ethernet, &frame).expect("decodes");
        assert_eq!(info.ether_type, ETHERTYPE_IPV4);
        assert_eq!(info.vlan, Some(10));
        assert_eq!(info.network_offset, 22);
    }

    /// VRRP reads the sender's MAC; behind a PBB tag it is the customer's, not the backbone's.
    #[test]
    fn the_source_mac_is_the_innermost_one() {
        let backbone = [0xb0, 0, 0, 0, 0, 1, 0xb0, 0, 0, 0, 0, 2];
        let customer = [0xc0, 0, 0, 0, 0, 3, 0xc0, 0, 0, 0, 0, 4];
        let mut frame = backbone.to_vec();
        frame.extend_from_slice(&[0x88, 0xe7, 0, 0, 0, 0]);
        frame.extend_from_slice(&customer);
        frame.extend_from_slice(&[0x08, 0x00, 0x45]);
        let info = strip(LinkType::Ethernet, &frame).expect("decodes");
        let mac = info.source_mac_at.and_then(|at| mac_at(&frame, at));
        assert_eq!(mac, Some([0xc0, 0, 0, 0, 0, 4]));
        let plain = [&backbone[..], &[0x08, 0x00, 0x45]].concat();
        let info = strip(LinkType::Ethernet, &plain).expect("decodes");
        let mac = info.source_mac_at.and_then(|at| mac_at(&plain, at));
        assert_eq!(mac, Some([0xb0, 0, 0, 0, 0, 2]));
        // SLL with an address that is not 6 bytes long has no MAC.
        let mut sll = vec![0, 0, 1, 0, 0, 4, 1, 2, 3, 4, 0, 0, 0, 0, 0x08, 0x00, 0x45];
        assert!(
            strip(LinkType::LinuxSll, &sll)
                .expect("decodes")
                .source_mac_at
                .is_none()
        );
        sll[5] = 6;
        let info = strip(LinkType::LinuxSll, &sll).expect("decodes");
        assert_eq!(
            info.source_mac_at.and_then(|at| mac_at(&sll, at)),
            Some([1, 2, 3, 4, 0, 0])
        );
    }

    #[test]
    fn truncated_frames_are_refused_not_panicking() {
        for len in 0..14 {
            assert!(strip(LinkType::Ethernet, &vec![0x81; len]).is_none());
        }
        assert!(strip(LinkType::LinuxSll2, &[0u8; 3]).is_none());
        assert!(strip(LinkType::Nflog, &[2, 0, 0, 0, 0, 0]).is_none());
    }

    #[test]
    fn endless_vlan_tags_stop_at_the_bound() {
        let mut frame = vec![0u8; 12];
        for _ in 0..100 {
            frame.extend_from_slice(&[0x81, 0x00, 0x00, 0x01]);
        }
        assert!(strip(LinkType::Ethernet, &frame).is_none());
    }
}
