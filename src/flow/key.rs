//! Endpoints, connection keys and ids.

use serde::{Serialize, Serializer};
use std::fmt;
use std::net::IpAddr;

/// An IP address and port; printed `ip:port`, or `[ip]:port` for IPv6.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Endpoint {
    pub ip: IpAddr,
    pub port: u16,
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.ip {
            IpAddr::V4(ip) => write!(f, "{ip}:{}", self.port),
            IpAddr::V6(ip) => write!(f, "[{ip}]:{}", self.port),
        }
    }
}

impl Serialize for Endpoint {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// Identifies one observation point of one TCP conversation: the same 5-tuple seen in two
/// inputs, on two pcapng interfaces or on two VLANs is tracked separately (and correlated
/// later), because mixing the copies would make every segment look retransmitted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
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

/// Connection ids are assigned in order of first packet, so output is deterministic.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnectionId(pub u64);

impl fmt::Display for ConnectionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "tcp/{}", self.0)
    }
}

impl Serialize for ConnectionId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// Puts `items` in connection-id order, moving each element twice at most: the elements
/// (connections, records) are hundreds of bytes, so a comparison sort that moves them
/// O(n log n) times cost more than the analysis of their packets. Ids are unique, so the
/// result equals a stable sort by id.
pub fn sort_by_connection_id<T>(items: Vec<T>, id: impl Fn(&T) -> ConnectionId) -> Vec<T> {
    if items.is_sorted_by_key(&id) {
        return items;
    }
    let mut order: Vec<(ConnectionId, usize)> = items
        .iter()
        .enumerate()
        .map(|(index, item)| (id(item), index))
        .collect();
    order.sort_unstable();
    let mut slots: Vec<Option<T>> = items.into_iter().map(Some).collect();
    order
        .into_iter()
        .filter_map(|(_, index)| slots.get_mut(index).and_then(Option::take))
        .collect()
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

    #[test]
    fn sorting_by_connection_id_keeps_every_item_in_id_order() {
        let items = vec![(5, 'e'), (1, 'a'), (4, 'd'), (2, 'b'), (3, 'c')];
        let sorted = sort_by_connection_id(items, |(id, _)| ConnectionId(*id));
        assert_eq!(
            sorted,
            vec![(1, 'a'), (2, 'b'), (3, 'c'), (4, 'd'), (5, 'e')]
        );
        let empty: Vec<(u64, char)> = Vec::new();
        assert!(sort_by_connection_id(empty, |(id, _)| ConnectionId(*id)).is_empty());
    }
}
