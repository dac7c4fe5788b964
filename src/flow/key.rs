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
