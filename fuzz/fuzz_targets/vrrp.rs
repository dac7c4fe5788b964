//! VRRP decoding: byte 0 picks the address family, then 16 bytes of source and 16 of
//! destination address (IPv4 uses the first 4 of each), then the VRRP message.
#![no_main]

use kaprobe::decode::vrrp::{AddressFamily, VrrpPacket};
use libfuzzer_sys::fuzz_target;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

fn address(bytes: [u8; 16], family: AddressFamily) -> IpAddr {
    match family {
        AddressFamily::Ipv4 => IpAddr::V4(Ipv4Addr::new(bytes[0], bytes[1], bytes[2], bytes[3])),
        AddressFamily::Ipv6 => IpAddr::V6(Ipv6Addr::from(bytes)),
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((selector, rest)) = data.split_first() else {
        return;
    };
    let Some((addresses, message)) = rest.split_first_chunk::<32>() else {
        return;
    };
    let family = if selector & 1 == 0 {
        AddressFamily::Ipv4
    } else {
        AddressFamily::Ipv6
    };
    let (source, destination) = addresses.split_at(16);
    let source = address(source.try_into().unwrap_or([0; 16]), family);
    let destination = address(destination.try_into().unwrap_or([0; 16]), family);
    let Ok(packet) = VrrpPacket::new_checked(message, family) else {
        return;
    };
    let listed = packet.addresses().count();
    assert_eq!(listed, usize::from(packet.address_count()));
    assert!(packet.message().len() <= message.len());
    assert_eq!(
        packet.message().len() + packet.trailer().len(),
        message.len()
    );
    std::hint::black_box((
        packet.version(),
        packet.kind(),
        packet.vrid(),
        packet.priority(),
        packet.auth_type(),
        packet.auth_data(),
        packet.advert_interval_centis(),
        packet.checksum(),
        packet.verify_checksum(source, destination),
        packet.expected_checksum(source, destination),
    ));
});
