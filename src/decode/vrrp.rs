//! A zero-copy view of a VRRP advertisement (IP protocol 112), smoltcp style: the length is
//! checked once in [`VrrpPacket::new_checked`], after which every accessor reads a field that
//! is known to be there.
//!
//! Follows RFC 3768 §5.1 (version 2: auth type, advert interval in seconds, 8 bytes of
//! authentication data after the addresses, checksum over the VRRP message only) and RFC 5798
//! §5.1 / RFC 9568 (version 3: 12-bit maximum advert interval in centiseconds, no
//! authentication, checksum including the IPv4 or IPv6 pseudo-header). It deliberately does
//! not reject what a diagnosis needs to see: bytes after the message (keepalived's
//! `auth_hmac` trailer, Ethernet padding) are exposed as [`VrrpPacket::trailer`], unknown
//! types and auth types are returned as numbers, and a wrong checksum is something to report,
//! not a parse failure.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Fixed header: version/type, VRID, priority, count, auth type / interval, checksum.
pub const HEADER_LEN: usize = 8;
/// Version 2 carries 8 bytes of authentication data after the addresses (RFC 3768 §5.3.10).
pub const V2_AUTH_DATA_LEN: usize = 8;
/// The only VRRP message type (RFC 5798 §5.2.2).
pub const TYPE_ADVERTISEMENT: u8 = 1;
/// RFC 2338 simple text password, kept by keepalived as `auth_type PASS`.
pub const AUTH_TYPE_PASSWORD: u8 = 1;

/// Why bytes are not a VRRP advertisement kaprobe can read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VrrpError {
    /// Shorter than the fixed header or than the addresses (and v2 auth data) it announces.
    Truncated { need: usize, have: usize },
    /// Version other than 2 or 3.
    UnknownVersion(u8),
}

impl std::fmt::Display for VrrpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            VrrpError::Truncated { need, have } => {
                write!(f, "VRRP message truncated: {have} of {need} bytes")
            }
            VrrpError::UnknownVersion(version) => write!(f, "unknown VRRP version {version}"),
        }
    }
}

/// Address family of the virtual addresses, taken from the IP header that carried the message
/// (VRRP itself does not say; RFC 5798 §5.2.9).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AddressFamily {
    Ipv4,
    Ipv6,
}

impl AddressFamily {
    pub fn of(ip: IpAddr) -> AddressFamily {
        match ip {
            IpAddr::V4(_) => AddressFamily::Ipv4,
            IpAddr::V6(_) => AddressFamily::Ipv6,
        }
    }

    pub fn address_len(self) -> usize {
        match self {
            AddressFamily::Ipv4 => 4,
            AddressFamily::Ipv6 => 16,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            AddressFamily::Ipv4 => "ipv4",
            AddressFamily::Ipv6 => "ipv6",
        }
    }
}

/// A checked view of one advertisement.
#[derive(Clone, Copy, Debug)]
pub struct VrrpPacket<'a> {
    bytes: &'a [u8],
    family: AddressFamily,
    /// Length of the VRRP message proper (header, addresses, v2 auth data).
    message_len: usize,
}

impl<'a> VrrpPacket<'a> {
    /// Checks that `bytes` (the IP payload) hold the whole message its header announces.
    pub fn new_checked(bytes: &'a [u8], family: AddressFamily) -> Result<Self, VrrpError> {
        let header = bytes.get(..HEADER_LEN).ok_or(VrrpError::Truncated {
            need: HEADER_LEN,
            have: bytes.len(),
        })?;
        let version = header[0] >> 4;
        let count = usize::from(header[3]);
        let auth_len = match version {
            2 => V2_AUTH_DATA_LEN,
            3 => 0,
            other => return Err(VrrpError::UnknownVersion(other)),
        };
        let addresses_end = HEADER_LEN + count * family.address_len();
        if bytes.len() < addresses_end {
            return Err(VrrpError::Truncated {
                need: addresses_end + auth_len,
                have: bytes.len(),
            });
        }
        // Some v2 senders omit the 8 authentication bytes when auth type is 0 (Wireshark
        // accepts that too): the message then ends after the addresses.
        let message_len = if bytes.len() >= addresses_end + auth_len {
            addresses_end + auth_len
        } else {
            addresses_end
        };
        Ok(VrrpPacket {
            bytes,
            family,
            message_len,
        })
    }

    fn byte(&self, at: usize) -> u8 {
        // In range: new_checked guaranteed HEADER_LEN bytes.
        self.bytes.get(at).copied().unwrap_or(0)
    }

    pub fn version(&self) -> u8 {
        self.byte(0) >> 4
    }

    /// Message type; 1 is the only one defined (advertisement).
    pub fn kind(&self) -> u8 {
        self.byte(0) & 0x0f
    }

    pub fn vrid(&self) -> u8 {
        self.byte(1)
    }

    pub fn priority(&self) -> u8 {
        self.byte(2)
    }

    pub fn address_count(&self) -> u8 {
        self.byte(3)
    }

    /// Version 2 auth type (0 none, 1 simple password, 2 IP AH, 3 Cisco MD5); `None` for v3.
    pub fn auth_type(&self) -> Option<u8> {
        (self.version() == 2).then(|| self.byte(4))
    }

    /// Advertisement interval in centiseconds: v2 carries whole seconds in byte 5, v3 a
    /// 12-bit centisecond value in bytes 4–5.
    pub fn advert_interval_centis(&self) -> u16 {
        if self.version() == 2 {
            u16::from(self.byte(5)) * 100
        } else {
            u16::from_be_bytes([self.byte(4) & 0x0f, self.byte(5)])
        }
    }

    pub fn checksum(&self) -> u16 {
        u16::from_be_bytes([self.byte(6), self.byte(7)])
    }

    pub fn family(&self) -> AddressFamily {
        self.family
    }

    /// The virtual addresses.
    pub fn addresses(&self) -> impl Iterator<Item = IpAddr> + 'a {
        let family = self.family;
        let end = HEADER_LEN + usize::from(self.address_count()) * family.address_len();
        let area = self.bytes.get(HEADER_LEN..end).unwrap_or(&[]);
        area.chunks_exact(family.address_len())
            .filter_map(move |chunk| match family {
                AddressFamily::Ipv4 => <[u8; 4]>::try_from(chunk)
                    .ok()
                    .map(|octets| IpAddr::V4(Ipv4Addr::from(octets))),
                AddressFamily::Ipv6 => <[u8; 16]>::try_from(chunk)
                    .ok()
                    .map(|octets| IpAddr::V6(Ipv6Addr::from(octets))),
            })
    }

    /// Version 2 authentication data (the password for auth type 1). A secret: never print
    /// it without `--show-secrets`.
    pub fn auth_data(&self) -> Option<&'a [u8]> {
        let addresses_end =
            HEADER_LEN + usize::from(self.address_count()) * self.family.address_len();
        if self.version() != 2 || self.message_len < addresses_end + V2_AUTH_DATA_LEN {
            return None;
        }
        self.bytes.get(addresses_end..self.message_len)
    }

    /// Bytes after the message: keepalived's 32-byte `auth_hmac` trailer, or padding.
    pub fn trailer(&self) -> &'a [u8] {
        self.bytes.get(self.message_len..).unwrap_or(&[])
    }

    /// The VRRP message without trailer.
    pub fn message(&self) -> &'a [u8] {
        self.bytes.get(..self.message_len).unwrap_or(self.bytes)
    }

    /// Verifies the checksum as the version requires, given the IP addresses that carried the
    /// message. Version 3 over IPv4 is also accepted without the pseudo-header, as Cisco,
    /// Juniper and keepalived's `v3_checksum_as_v2` send it.
    pub fn verify_checksum(&self, source: IpAddr, destination: IpAddr) -> ChecksumStatus {
        let candidates = [self.message(), self.bytes];
        let lengths = if self.trailer().is_empty() {
            &candidates[..1]
        } else {
            &candidates[..]
        };
        for covered in lengths {
            if self.version() == 2 {
                if internet_checksum(0, covered) == 0 {
                    return ChecksumStatus::Valid;
                }
                continue;
            }
            let pseudo = pseudo_header_sum(source, destination, covered.len());
            if internet_checksum(pseudo, covered) == 0 {
                return ChecksumStatus::Valid;
            }
            if self.family == AddressFamily::Ipv4 && internet_checksum(0, covered) == 0 {
                return ChecksumStatus::ValidWithoutPseudoHeader;
            }
        }
        ChecksumStatus::Invalid {
            expected: self.expected_checksum(source, destination),
        }
    }

    /// The checksum the sender should have written (over the message, per the version).
    pub fn expected_checksum(&self, source: IpAddr, destination: IpAddr) -> u16 {
        let message = self.message();
        let initial = if self.version() == 3 {
            pseudo_header_sum(source, destination, message.len())
        } else {
            0
        };
        // Sum with the checksum field taken as zero: subtract it back out of the ones'
        // complement sum by summing everything except bytes 6..8.
        let before = message.get(..6).unwrap_or(&[]);
        let after = message.get(HEADER_LEN..).unwrap_or(&[]);
        let sum = add_words(add_words(initial, before), after);
        !fold(sum)
    }
}

/// Outcome of checking a VRRP checksum.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChecksumStatus {
    Valid,
    /// v3 over IPv4 computed like v2 (no pseudo-header): interoperable only with peers that
    /// do the same.
    ValidWithoutPseudoHeader,
    Invalid {
        expected: u16,
    },
}

fn pseudo_header_sum(source: IpAddr, destination: IpAddr, length: usize) -> u32 {
    let protocol = u32::from(super::IP_PROTOCOL_VRRP);
    let length = u32::try_from(length).unwrap_or(u32::MAX);
    match (source, destination) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            let sum = add_words(add_words(0, &s.octets()), &d.octets());
            sum + protocol + (length & 0xffff)
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            let sum = add_words(add_words(0, &s.octets()), &d.octets());
            sum + (length >> 16) + (length & 0xffff) + protocol
        }
        _ => 0,
    }
}

fn add_words(mut sum: u32, bytes: &[u8]) -> u32 {
    let mut chunks = bytes.chunks_exact(2);
    for pair in &mut chunks {
        sum = fold_once(sum + u32::from(u16::from_be_bytes([pair[0], pair[1]])));
    }
    if let [last] = chunks.remainder() {
        sum = fold_once(sum + (u32::from(*last) << 8));
    }
    sum
}

fn fold_once(sum: u32) -> u32 {
    (sum & 0xffff) + (sum >> 16)
}

fn fold(mut sum: u32) -> u16 {
    while sum > 0xffff {
        sum = fold_once(sum);
    }
    sum as u16
}

/// RFC 1071 checksum of `bytes` on top of `initial`; 0 when the data (including its own
/// checksum field) is intact.
fn internet_checksum(initial: u32, bytes: &[u8]) -> u16 {
    !fold(add_words(initial, bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// VRRPv2, VRID 51, priority 150, one address 10.77.5.254, no auth, interval 1 s.
    const V2: [u8; 20] = [
        0x21, 51, 150, 1, 0, 1, 0x00, 0x00, 10, 77, 5, 254, 0, 0, 0, 0, 0, 0, 0, 0,
    ];

    fn with_v2_checksum(mut bytes: Vec<u8>) -> Vec<u8> {
        bytes[6] = 0;
        bytes[7] = 0;
        let sum = internet_checksum(0, &bytes);
        bytes[6..8].copy_from_slice(&sum.to_be_bytes());
        bytes
    }

    #[test]
    fn deconstruct_v2() {
        let bytes = with_v2_checksum(V2.to_vec());
        let packet = VrrpPacket::new_checked(&bytes, AddressFamily::Ipv4).unwrap();
        assert_eq!(packet.version(), 2);
        assert_eq!(packet.kind(), TYPE_ADVERTISEMENT);
        assert_eq!(packet.vrid(), 51);
        assert_eq!(packet.priority(), 150);
        assert_eq!(packet.auth_type(), Some(0));
        assert_eq!(packet.advert_interval_centis(), 100);
        let addresses: Vec<IpAddr> = packet.addresses().collect();
        assert_eq!(addresses, vec!["10.77.5.254".parse::<IpAddr>().unwrap()]);
        assert_eq!(packet.auth_data(), Some(&[0u8; 8][..]));
        assert!(packet.trailer().is_empty());
        let any: IpAddr = "10.0.0.1".parse().unwrap();
        assert_eq!(packet.verify_checksum(any, any), ChecksumStatus::Valid);
    }

    #[test]
    fn truncated_addresses_are_rejected() {
        let error = VrrpPacket::new_checked(&V2[..10], AddressFamily::Ipv4).unwrap_err();
        assert_eq!(error, VrrpError::Truncated { need: 20, have: 10 });
        assert!(VrrpPacket::new_checked(&V2[..3], AddressFamily::Ipv4).is_err());
    }

    #[test]
    fn v2_without_auth_data_is_accepted() {
        let bytes = with_v2_checksum(V2[..12].to_vec());
        let packet = VrrpPacket::new_checked(&bytes, AddressFamily::Ipv4).unwrap();
        assert_eq!(packet.auth_data(), None);
        assert_eq!(packet.addresses().count(), 1);
        let any: IpAddr = "10.0.0.1".parse().unwrap();
        assert_eq!(packet.verify_checksum(any, any), ChecksumStatus::Valid);
    }

    #[test]
    fn trailer_is_tolerated_and_checksum_still_verifies() {
        let mut bytes = with_v2_checksum(V2.to_vec());
        bytes.extend_from_slice(&[0xaa; 32]);
        let packet = VrrpPacket::new_checked(&bytes, AddressFamily::Ipv4).unwrap();
        assert_eq!(packet.trailer().len(), 32);
        let any: IpAddr = "10.0.0.1".parse().unwrap();
        assert_eq!(packet.verify_checksum(any, any), ChecksumStatus::Valid);
    }

    #[test]
    fn bad_checksum_reports_the_expected_value() {
        let good = with_v2_checksum(V2.to_vec());
        let mut bad = good.clone();
        bad[6] ^= 0xff;
        let any: IpAddr = "10.0.0.1".parse().unwrap();
        let packet = VrrpPacket::new_checked(&bad, AddressFamily::Ipv4).unwrap();
        let expected = u16::from_be_bytes([good[6], good[7]]);
        assert_eq!(
            packet.verify_checksum(any, any),
            ChecksumStatus::Invalid { expected }
        );
    }

    #[test]
    fn v3_ipv6_uses_the_pseudo_header() {
        let source: IpAddr = "fe80::1".parse().unwrap();
        let destination: IpAddr = "ff02::12".parse().unwrap();
        let mut bytes = vec![0x31, 7, 100, 1, 0x00, 100, 0, 0];
        bytes.extend_from_slice(&"2001:db8::7".parse::<Ipv6Addr>().unwrap().octets());
        let packet = VrrpPacket::new_checked(&bytes, AddressFamily::Ipv6).unwrap();
        let checksum = packet.expected_checksum(source, destination);
        bytes[6..8].copy_from_slice(&checksum.to_be_bytes());
        let packet = VrrpPacket::new_checked(&bytes, AddressFamily::Ipv6).unwrap();
        assert_eq!(packet.advert_interval_centis(), 100);
        assert_eq!(packet.auth_type(), None);
        assert_eq!(
            packet.verify_checksum(source, destination),
            ChecksumStatus::Valid
        );
        // Same bytes from another sender: the pseudo-header no longer matches.
        let other: IpAddr = "fe80::2".parse().unwrap();
        assert!(matches!(
            packet.verify_checksum(other, destination),
            ChecksumStatus::Invalid { .. }
        ));
    }
}
