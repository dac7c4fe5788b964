//! Address claims: gratuitous ARP (RFC 5227 §3 "ARP announcement", RFC 5944 §4.6) and IPv6
//! unsolicited neighbour advertisements (RFC 4861 §7.2.6). A new VRRP master sends these for
//! each virtual address so switches and hosts learn where the address now lives (RFC 3768
//! §6.4.2, RFC 5798 §6.4.2; keepalived `vrrp_garp_master_*`).
//!
//! Only claims are returned: an ARP whose sender and target protocol addresses are equal (both
//! the request and the reply form are used in the wild), or a neighbour advertisement with
//! the Solicited flag clear. ARP probes (sender address 0.0.0.0) claim nothing.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// ICMPv6 Neighbor Advertisement (RFC 4861 §4.4).
pub const ICMPV6_NEIGHBOR_ADVERTISEMENT: u8 = 136;
const ARP_HARDWARE_ETHERNET: u16 = 1;
const ARP_PROTOCOL_IPV4: u16 = 0x0800;
/// Neighbor advertisement flags byte: Router, Solicited, Override.
const NA_FLAG_SOLICITED: u8 = 0x40;
/// NDP option "Target Link-Layer Address" (RFC 4861 §4.6.1).
const NDP_OPTION_TARGET_LINK_LAYER: u8 = 2;

/// Someone announcing that `ip` is at `mac`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AddressClaim {
    pub ip: IpAddr,
    /// The announced hardware address (ARP sender hardware address, NA target link-layer
    /// option); `None` when a neighbour advertisement carries no such option.
    pub mac: Option<[u8; 6]>,
    pub kind: ClaimKind,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClaimKind {
    GratuitousArp,
    UnsolicitedNeighborAdvertisement,
}

impl ClaimKind {
    pub fn name(self) -> &'static str {
        match self {
            ClaimKind::GratuitousArp => "garp",
            ClaimKind::UnsolicitedNeighborAdvertisement => "unsolicited-na",
        }
    }
}

fn u16_at(bytes: &[u8], at: usize) -> Option<u16> {
    let pair: [u8; 2] = bytes.get(at..at + 2)?.try_into().ok()?;
    Some(u16::from_be_bytes(pair))
}

/// Reads a gratuitous ARP from the ARP message (after the link header).
pub fn gratuitous_arp(arp: &[u8]) -> Option<AddressClaim> {
    if u16_at(arp, 0)? != ARP_HARDWARE_ETHERNET || u16_at(arp, 2)? != ARP_PROTOCOL_IPV4 {
        return None;
    }
    if arp.get(4..6)? != [6, 4] {
        return None;
    }
    let sender_mac: [u8; 6] = arp.get(8..14)?.try_into().ok()?;
    let sender_ip: [u8; 4] = arp.get(14..18)?.try_into().ok()?;
    let target_ip: [u8; 4] = arp.get(24..28)?.try_into().ok()?;
    let sender_ip = Ipv4Addr::from(sender_ip);
    if sender_ip != Ipv4Addr::from(target_ip) || sender_ip.is_unspecified() {
        return None;
    }
    Some(AddressClaim {
        ip: IpAddr::V4(sender_ip),
        mac: Some(sender_mac),
        kind: ClaimKind::GratuitousArp,
    })
}

/// Reads an unsolicited neighbour advertisement from a whole ICMPv6 message.
pub fn unsolicited_neighbor_advertisement(icmp: &[u8]) -> Option<AddressClaim> {
    if *icmp.first()? != ICMPV6_NEIGHBOR_ADVERTISEMENT {
        return None;
    }
    if icmp.get(4)? & NA_FLAG_SOLICITED != 0 {
        return None;
    }
    let target: [u8; 16] = icmp.get(8..24)?.try_into().ok()?;
    Some(AddressClaim {
        ip: IpAddr::V6(Ipv6Addr::from(target)),
        mac: target_link_layer(icmp.get(24..)?),
        kind: ClaimKind::UnsolicitedNeighborAdvertisement,
    })
}

/// Walks NDP options (type, length in 8-byte units) for the target link-layer address.
fn target_link_layer(mut options: &[u8]) -> Option<[u8; 6]> {
    while options.len() >= 8 {
        let kind = options[0];
        let len = usize::from(options[1]) * 8;
        if len == 0 {
            return None;
        }
        if kind == NDP_OPTION_TARGET_LINK_LAYER {
            return options.get(2..8)?.try_into().ok();
        }
        options = options.get(len..)?;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn arp(sender_ip: [u8; 4], target_ip: [u8; 4], opcode: u8) -> Vec<u8> {
        let mut bytes = vec![0, 1, 8, 0, 6, 4, 0, opcode];
        bytes.extend_from_slice(&[2, 0, 0, 0, 0, 1]);
        bytes.extend_from_slice(&sender_ip);
        bytes.extend_from_slice(&[0xff; 6]);
        bytes.extend_from_slice(&target_ip);
        bytes
    }

    #[test]
    fn gratuitous_request_and_reply_are_claims() {
        for opcode in [1, 2] {
            let claim = gratuitous_arp(&arp([10, 0, 0, 254], [10, 0, 0, 254], opcode)).unwrap();
            assert_eq!(claim.ip, "10.0.0.254".parse::<IpAddr>().unwrap());
            assert_eq!(claim.mac, Some([2, 0, 0, 0, 0, 1]));
        }
    }

    #[test]
    fn ordinary_requests_probes_and_short_messages_are_not() {
        assert!(gratuitous_arp(&arp([10, 0, 0, 1], [10, 0, 0, 2], 1)).is_none());
        assert!(gratuitous_arp(&arp([0, 0, 0, 0], [0, 0, 0, 0], 1)).is_none());
        assert!(gratuitous_arp(&arp([10, 0, 0, 1], [10, 0, 0, 1], 1)[..20]).is_none());
    }

    #[test]
    fn unsolicited_na_with_target_link_layer_option() {
        let mut icmp = vec![136, 0, 0, 0, 0x20, 0, 0, 0];
        icmp.extend_from_slice(&"2001:db8::7".parse::<Ipv6Addr>().unwrap().octets());
        icmp.extend_from_slice(&[2, 1, 0, 0, 0x5e, 0, 2, 7]);
        let claim = unsolicited_neighbor_advertisement(&icmp).unwrap();
        assert_eq!(claim.ip, "2001:db8::7".parse::<IpAddr>().unwrap());
        assert_eq!(claim.mac, Some([0, 0, 0x5e, 0, 2, 7]));
        icmp[4] |= NA_FLAG_SOLICITED;
        assert!(unsolicited_neighbor_advertisement(&icmp).is_none());
    }
}
