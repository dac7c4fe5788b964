//! Endpoints, connection keys and ids.

use super::text::ShortText;
use serde::{Serialize, Serializer};
use std::fmt;
use std::hash::{Hash, Hasher};
use std::net::IpAddr;

/// An IP address and port; printed `ip:port`, or `[ip]:port` for IPv6.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Endpoint {
    pub ip: IpAddr,
    pub port: u16,
}

impl fmt::Display for Endpoint {
    /// Built on the stack rather than through `Ipv4Addr`'s formatting: endpoints are in most
    /// finding messages and every HTTP hop's line, and formatting them dominated building those.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = self.text();
        match (text.as_str(), self.ip) {
            (Some(text), _) => f.write_str(text),
            (None, IpAddr::V4(ip)) => write!(f, "{ip}:{}", self.port),
            (None, IpAddr::V6(ip)) => write!(f, "[{ip}]:{}", self.port),
        }
    }
}

impl Serialize for Endpoint {
    /// The same text as `Display`: serde's `collect_str` goes through the formatting
    /// machinery and escapes every fragment, which made endpoints the costliest part of
    /// writing connection records.
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.text().as_str() {
            Some(text) => serializer.serialize_str(text),
            None => serializer.collect_str(self),
        }
    }
}

impl Endpoint {
    /// Appends the `Display` text to `out`.
    pub fn push_to(&self, out: &mut String) {
        match self.text().as_str() {
            Some(text) => out.push_str(text),
            None => out.push_str(&self.to_string()),
        }
    }

    /// `ip:port`, or `[ip]:port` for IPv6.
    pub fn text(&self) -> ShortText {
        let mut text = ShortText::default();
        match self.ip {
            IpAddr::V4(ip) => {
                text.push_ipv4(ip);
                text.push_byte(b':');
            }
            IpAddr::V6(ip) => {
                text.push_byte(b'[');
                text.push_ipv6(ip);
                text.push_str("]:");
            }
        }
        text.push_number(u64::from(self.port));
        text
    }
}

/// Identifies one observation point of one TCP conversation: the same 5-tuple seen in two
/// inputs, on two pcapng interfaces or on two VLANs is tracked separately (and correlated
/// later), because mixing the copies would make every segment look retransmitted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FlowKey {
    pub input: u16,
    pub interface: u32,
    pub vlan: Option<u16>,
    /// The two endpoints, lower first, so both directions map to one key.
    pub low: Endpoint,
    pub high: Endpoint,
}

impl FlowKey {
    pub fn new(input: u16, interface: u32, vlan: Option<u16>, a: Endpoint, b: Endpoint) -> Self {
        let (low, high) = if a <= b { (a, b) } else { (b, a) };
        FlowKey {
            input,
            interface,
            vlan,
            low,
            high,
        }
    }
}

/// Hashed as three or four machine words instead of field by field: the derived `Hash` made
/// about a dozen hasher calls per key (each address's family, bytes and port, the VLAN's
/// presence and value), and a key is hashed for every segment. The words are an injective
/// encoding of the fields (families and VLAN presence are flag bits), so equal keys hash
/// equally and different keys differ in what is hashed.
impl Hash for FlowKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        let vlan = self.vlan.map_or(0, |vlan| 0x1_0000 | u64::from(vlan));
        let is_v6 = |ip: IpAddr| u64::from(ip.is_ipv6());
        state.write_u64(u64::from(self.input) | u64::from(self.interface) << 16);
        state.write_u64(
            u64::from(self.low.port)
                | u64::from(self.high.port) << 16
                | vlan << 32
                | is_v6(self.low.ip) << 49
                | is_v6(self.high.ip) << 50,
        );
        match (self.low.ip, self.high.ip) {
            (IpAddr::V4(low), IpAddr::V4(high)) => {
                state.write_u64(u64::from(low.to_bits()) | u64::from(high.to_bits()) << 32)
            }
            (low, high) => {
                state.write_u128(address_bits(low));
                state.write_u128(address_bits(high));
            }
        }
    }
}

fn address_bits(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(ip) => u128::from(ip.to_bits()),
        IpAddr::V6(ip) => ip.to_bits(),
    }
}

/// Connection ids are assigned in order of first packet, so output is deterministic.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnectionId(pub u64);

impl fmt::Display for ConnectionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "tcp/{}", self.0)
    }
}

impl ConnectionId {
    /// `tcp/N`, the `Display` text.
    pub fn text(&self) -> ShortText {
        let mut text = ShortText::default();
        text.push_str("tcp/");
        text.push_number(self.0);
        text
    }
}

impl Serialize for ConnectionId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.text().as_str() {
            Some(text) => serializer.serialize_str(text),
            None => serializer.collect_str(self),
        }
    }
}

/// Puts `items` in connection-id order (any key that is unique per item) in place. The
/// elements (connections, records) are hundreds of bytes: a comparison sort moved each
/// O(log n) times, and sorting into a new list doubled their memory. Here (key, index) pairs
/// are sorted and the permutation is applied by following its cycles, at most one swap per
/// element. Keys are unique, so the result equals a stable sort.
pub fn sort_by_connection_id<T, K: Ord>(items: &mut [T], key: impl Fn(&T) -> K) {
    if items.is_sorted_by_key(&key) {
        return;
    }
    let mut order: Vec<(K, usize)> = items
        .iter()
        .enumerate()
        .map(|(index, item)| (key(item), index))
        .collect();
    order.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    // source[k]: the index of the item that belongs at position k.
    let mut source: Vec<usize> = order.into_iter().map(|(_, index)| index).collect();
    for start in 0..source.len() {
        let mut current = start;
        // Position `current` wants the item at `next`; the item carried along the cycle is
        // the one that started at `start`, which is what the cycle's last position wants.
        while let Some(next) = source.get(current).copied() {
            if let Some(done) = source.get_mut(current) {
                *done = current;
            }
            if next == start || next == current {
                break;
            }
            items.swap(current, next);
            current = next;
        }
    }
}

/// Which side sent a segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Side {
    Client,
    Server,
}

impl Side {
    pub fn other(self) -> Side {
        match self {
            Side::Client => Side::Server,
            Side::Server => Side::Client,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Side::Client => "client",
            Side::Server => "server",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv6Addr;

    /// Every pattern of zero and non-zero groups (so every placement and tie of zero runs),
    /// with group values of every digit count, and the addresses std prints specially.
    #[test]
    fn ipv6_endpoints_read_as_std_writes_them() {
        let values = [0x1, 0xa, 0xff, 0x100, 0xabc, 0x1000, 0xffff, 0x0f0f];
        let mut addresses = vec![
            Ipv6Addr::UNSPECIFIED,
            Ipv6Addr::LOCALHOST,
            "::ffff:10.0.0.1".parse().unwrap(),
            "::ffff:0.0.0.0".parse().unwrap(),
            "::10.0.0.1".parse().unwrap(),
            "64:ff9b::192.0.2.33".parse().unwrap(),
            "::ffff:0:1.2.3.4".parse().unwrap(),
        ];
        for mask in 0u32..256 {
            for shift in 0..values.len() {
                let groups: [u16; 8] = std::array::from_fn(|index| {
                    let nonzero = mask & (1 << index) != 0;
                    if nonzero {
                        values[(index + shift) % values.len()]
                    } else {
                        0
                    }
                });
                addresses.push(Ipv6Addr::from(groups));
            }
        }
        for ip in addresses {
            let endpoint = Endpoint {
                ip: IpAddr::V6(ip),
                port: 8080,
            };
            assert_eq!(
                endpoint.text().as_str(),
                Some(format!("[{ip}]:8080").as_str())
            );
        }
    }

    #[test]
    fn endpoints_and_ids_serialize_as_they_display() {
        let endpoints = [
            "0.0.0.0:0",
            "9.10.99.100:9",
            "10.1.2.3:80",
            "255.255.255.255:65535",
            "[::1]:443",
            "[2001:db8::10]:8080",
            "[::ffff:10.0.0.1]:1",
            "[fe80::1:2:3:4:5]:22",
        ];
        for text in endpoints {
            let (ip, port) = text.rsplit_once(':').unwrap();
            let endpoint = Endpoint {
                ip: ip.trim_matches(['[', ']']).parse().unwrap(),
                port: port.parse().unwrap(),
            };
            let json = serde_json::to_string(&endpoint).unwrap();
            assert_eq!(json, format!("\"{endpoint}\""));
            let by_std = match endpoint.ip {
                IpAddr::V4(ip) => format!("{ip}:{}", endpoint.port),
                IpAddr::V6(ip) => format!("[{ip}]:{}", endpoint.port),
            };
            assert_eq!(endpoint.to_string(), by_std);
            assert_eq!(json, format!("\"{text}\""));
        }
        for id in [0, 7, 10, 1234567890, u64::MAX] {
            let json = serde_json::to_string(&ConnectionId(id)).unwrap();
            assert_eq!(json, format!("\"tcp/{id}\""));
        }
    }

    #[test]
    fn sorting_by_connection_id_keeps_every_item_in_id_order() {
        let mut items = vec![(5, 'e'), (1, 'a'), (4, 'd'), (2, 'b'), (3, 'c'), (6, 'f')];
        sort_by_connection_id(&mut items, |(id, _)| ConnectionId(*id));
        let expected = vec![(1, 'a'), (2, 'b'), (3, 'c'), (4, 'd'), (5, 'e'), (6, 'f')];
        assert_eq!(items, expected);
        // Every permutation of five items: several cycles, fixed points, reversals.
        let sorted: Vec<(u64, u64)> = (0..5).map(|id| (id, id * 10)).collect();
        let mut permutation: Vec<u64> = (0..5).collect();
        for round in 0..120 {
            let mut shuffled: Vec<(u64, u64)> =
                permutation.iter().map(|&id| (id, id * 10)).collect();
            sort_by_connection_id(&mut shuffled, |(id, _)| *id);
            assert_eq!(shuffled, sorted, "round {round}");
            next_permutation(&mut permutation);
        }
        let mut empty: Vec<(u64, char)> = Vec::new();
        sort_by_connection_id(&mut empty, |(id, _)| *id);
        assert!(empty.is_empty());
    }

    /// Lexicographic next permutation (wraps around to the first).
    fn next_permutation(items: &mut [u64]) {
        let Some(pivot) = (1..items.len()).rev().find(|&i| items[i - 1] < items[i]) else {
            items.reverse();
            return;
        };
        let swap_with = (pivot..items.len())
            .rev()
            .find(|&j| items[j] > items[pivot - 1])
            .unwrap();
        items.swap(pivot - 1, swap_with);
        items[pivot..].reverse();
    }
}
