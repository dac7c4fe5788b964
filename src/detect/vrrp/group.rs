//! State of one VRRP group (VLAN, VRID, version, address family) while the capture is read:
//! per-router facts and a bounded run-length history of adverts.
//!
//! Only the master sends advertisements (RFC 3768 §6.4.3, RFC 5798 §6.4.3), so a run of
//! adverts from one router is a period in which that router acted as master. A run ends when
//! the router's priority or interval changes, or when it is silent for longer than any backup
//! would wait (the Master_Down_Interval of a priority-1 backup). Memory per group is bounded by
//! [`MAX_ROUTERS`], [`MAX_RUNS`] and the small per-router caps below; nothing grows per advert.

use super::timing;
use crate::decode::vrrp::{ChecksumStatus, VrrpPacket};
use crate::time::Timestamp;
use std::net::IpAddr;

/// Routers tracked per group; more than this on one VRID is an attack or a fuzzed file.
pub const MAX_ROUTERS: usize = 32;
/// Closed runs kept per group; later runs are counted in `runs_dropped`.
pub const MAX_RUNS: usize = 4096;
/// Distinct values remembered per router for lists such as TTLs, MACs, priorities.
const MAX_DISTINCT: usize = 8;
/// Virtual addresses remembered per router (keepalived allows 20 per advert by default).
const MAX_VIRTUAL_IPS: usize = 64;
/// A repeat of the same advert within this fraction of the interval is the same frame seen
/// twice (`tcpdump -i any` on a bridge), not a second advert.
const DUPLICATE_FRACTION: f64 = 0.1;

/// Identifies a group; VRIDs are only unique per segment (VLAN) and address family.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GroupKey {
    pub vlan: Option<u16>,
    pub vrid: u8,
    pub family: crate::decode::vrrp::AddressFamily,
    pub version: u8,
}

/// One advertisement with the facts of the IP and link headers that carried it.
pub struct Advert<'a> {
    pub ts: Timestamp,
    pub packet: VrrpPacket<'a>,
    pub source: IpAddr,
    pub destination: IpAddr,
    pub ttl: u8,
    pub source_mac: Option<[u8; 6]>,
    pub checksum: ChecksumStatus,
}

/// Adverts of one router with one priority and interval, without a silence in between.
#[derive(Clone, Copy, Debug)]
pub struct Run {
    pub router: IpAddr,
    pub priority: u8,
    pub interval_centis: u16,
    pub from: Timestamp,
    pub to: Timestamp,
    pub adverts: u64,
}

impl Run {
    fn start(advert: &Advert<'_>) -> Run {
        Run {
            router: advert.source,
            priority: advert.packet.priority(),
            interval_centis: advert.packet.advert_interval_centis(),
            from: advert.ts,
            to: advert.ts,
            adverts: 1,
        }
    }

    pub fn interval_s(&self) -> f64 {
        timing::interval_secs(self.interval_centis)
    }
}

/// A small set kept in first-seen order, capped.
#[derive(Clone, Debug)]
pub struct Distinct<T>(pub Vec<T>);

impl<T> Default for Distinct<T> {
    fn default() -> Self {
        Distinct(Vec::new())
    }
}

impl<T: PartialEq + Copy> Distinct<T> {
    pub fn add(&mut self, value: T) {
        if self.0.len() < MAX_DISTINCT && !self.0.contains(&value) {
            self.0.push(value);
        }
    }
}

/// What one router advertised.
#[derive(Debug)]
pub struct Router {
    pub ip: IpAddr,
    pub priority: u8,
    pub priorities: Distinct<u8>,
    pub adverts: u64,
    pub duplicates: u64,
    pub interval_centis: u16,
    pub intervals: Distinct<u16>,
    pub auth_type: Option<u8>,
    pub auth_types: Distinct<u8>,
    /// v2 authentication data of the last advert (a secret).
    pub auth_data: Option<[u8; 8]>,
    pub auth_data_changed: bool,
    pub virtual_ips: Vec<IpAddr>,
    pub virtual_ips_changed: u64,
    pub source_macs: Distinct<[u8; 6]>,
    pub ttls: Distinct<u8>,
    /// Adverts to a multicast address with TTL/hop limit other than 255.
    pub bad_ttl_adverts: u64,
    pub destinations: Distinct<IpAddr>,
    pub unicast_adverts: u64,
    pub bad_checksums: u64,
    /// (on the wire, expected) of the first bad checksum.
    pub bad_checksum_example: Option<(u16, u16)>,
    pub checksums_without_pseudo_header: u64,
    pub priority_zero_adverts: u64,
    pub trailer_adverts: u64,
    pub trailer_len: usize,
    pub first_seen: Timestamp,
    pub last_seen: Timestamp,
    last_checksum: u16,
    pub open_run: Option<Run>,
}

impl Router {
    fn new(advert: &Advert<'_>) -> Router {
        Router {
            ip: advert.source,
            priority: advert.packet.priority(),
            priorities: Distinct::default(),
            adverts: 0,
            duplicates: 0,
            interval_centis: advert.packet.advert_interval_centis(),
            intervals: Distinct::default(),
            auth_type: advert.packet.auth_type(),
            auth_types: Distinct::default(),
            auth_data: None,
            auth_data_changed: false,
            virtual_ips: Vec::new(),
            virtual_ips_changed: 0,
            source_macs: Distinct::default(),
            ttls: Distinct::default(),
            bad_ttl_adverts: 0,
            destinations: Distinct::default(),
            unicast_adverts: 0,
            bad_checksums: 0,
            bad_checksum_example: None,
            checksums_without_pseudo_header: 0,
            priority_zero_adverts: 0,
            trailer_adverts: 0,
            trailer_len: 0,
            first_seen: advert.ts,
            last_seen: advert.ts,
            last_checksum: advert.packet.checksum().wrapping_add(1),
            open_run: None,
        }
    }

    fn is_duplicate(&self, advert: &Advert<'_>) -> bool {
        let interval = timing::interval_secs(advert.packet.advert_interval_centis());
        self.adverts > 0
            && advert.packet.checksum() == self.last_checksum
            && advert.ts.secs_since(self.last_seen) < interval * DUPLICATE_FRACTION
    }

    fn record(&mut self, advert: &Advert<'_>) {
        let packet = &advert.packet;
        self.adverts += 1;
        self.last_seen = advert.ts;
        self.last_checksum = packet.checksum();
        self.priority = packet.priority();
        self.priorities.add(packet.priority());
        self.interval_centis = packet.advert_interval_centis();
        self.intervals.add(self.interval_centis);
        self.record_auth(packet);
        self.record_virtual_ips(packet);
        self.record_path(advert);
        self.record_checksum(advert);
        if packet.priority() == 0 {
            self.priority_zero_adverts += 1;
        }
        if !packet.trailer().is_empty() {
            self.trailer_adverts += 1;
            self.trailer_len = packet.trailer().len();
        }
    }

    fn record_auth(&mut self, packet: &VrrpPacket<'_>) {
        self.auth_type = packet.auth_type();
        if let Some(auth_type) = packet.auth_type() {
            self.auth_types.add(auth_type);
        }
        let data: Option<[u8; 8]> = packet.auth_data().and_then(|d| d.try_into().ok());
        if self.adverts > 1 && data != self.auth_data {
            self.auth_data_changed = true;
        }
        self.auth_data = data;
    }

    fn record_virtual_ips(&mut self, packet: &VrrpPacket<'_>) {
        // Compare without collecting, so the usual unchanged advert allocates nothing.
        if packet.addresses().eq(self.virtual_ips.iter().copied()) {
            return;
        }
        if self.adverts > 1 {
            self.virtual_ips_changed += 1;
        }
        self.virtual_ips.clear();
        self.virtual_ips
            .extend(packet.addresses().take(MAX_VIRTUAL_IPS));
    }

    fn record_path(&mut self, advert: &Advert<'_>) {
        self.ttls.add(advert.ttl);
        self.destinations.add(advert.destination);
        if let Some(mac) = advert.source_mac {
            self.source_macs.add(mac);
        }
        if advert.destination.is_multicast() {
            if advert.ttl != 255 {
                self.bad_ttl_adverts += 1;
            }
        } else {
            self.unicast_adverts += 1;
        }
    }

    fn record_checksum(&mut self, advert: &Advert<'_>) {
        match advert.checksum {
            ChecksumStatus::Valid => {}
            ChecksumStatus::ValidWithoutPseudoHeader => self.checksums_without_pseudo_header += 1,
            ChecksumStatus::Invalid { expected } => {
                self.bad_checksums += 1;
                self.bad_checksum_example
                    .get_or_insert((advert.packet.checksum(), expected));
            }
        }
    }

    /// The priority it advertised as master, ignoring a final resignation (0).
    pub fn working_priority(&self) -> u8 {
        self.priorities
            .0
            .iter()
            .rev()
            .copied()
            .find(|&p| p != 0)
            .unwrap_or(self.priority)
    }

    pub fn uses_virtual_mac(&self, vrid: u8) -> bool {
        self.source_macs
            .0
            .iter()
            .any(|mac| mac[..4] == [0, 0, 0x5e, 0] && mac[5] == vrid)
    }
}

/// One group's state.
#[derive(Debug)]
pub struct Group {
    pub key: GroupKey,
    pub routers: Vec<Router>,
    pub routers_dropped: u64,
    pub runs: Vec<Run>,
    pub runs_dropped: u64,
    pub adverts: u64,
    pub duplicates: u64,
}

impl Group {
    pub fn new(key: GroupKey) -> Group {
        Group {
            key,
            routers: Vec::new(),
            routers_dropped: 0,
            runs: Vec::new(),
            runs_dropped: 0,
            adverts: 0,
            duplicates: 0,
        }
    }

    /// Records one advert of this group.
    pub fn observe(&mut self, advert: &Advert<'_>) {
        let index = match self.routers.iter().position(|r| r.ip == advert.source) {
            Some(index) => index,
            None if self.routers.len() < MAX_ROUTERS => {
                self.routers.push(Router::new(advert));
                self.routers.len() - 1
            }
            None => {
                self.routers_dropped += 1;
                return;
            }
        };
        let Some(router) = self.routers.get_mut(index) else {
            return;
        };
        if router.is_duplicate(advert) {
            router.duplicates += 1;
            self.duplicates += 1;
            return;
        }
        self.adverts += 1;
        let closed = extend_run(router, advert, self.key.version);
        router.record(advert);
        if let Some(run) = closed {
            self.keep_run(run);
        }
    }

    fn keep_run(&mut self, run: Run) {
        if self.runs.len() < MAX_RUNS {
            self.runs.push(run);
        } else {
            self.runs_dropped += 1;
        }
    }

    /// Every run, the open ones included, in order of start.
    pub fn all_runs(&self) -> Vec<Run> {
        let mut runs = self.runs.clone();
        runs.extend(self.routers.iter().filter_map(|r| r.open_run));
        runs.sort_by_key(|run| (run.from, run.router));
        runs
    }

    pub fn router(&self, ip: IpAddr) -> Option<&Router> {
        self.routers.iter().find(|r| r.ip == ip)
    }
}

/// Adds the advert to the router's open run, or closes that run and opens a new one.
/// Returns the closed run.
fn extend_run(router: &mut Router, advert: &Advert<'_>, version: u8) -> Option<Run> {
    let packet = &advert.packet;
    let Some(run) = router.open_run.as_mut() else {
        router.open_run = Some(Run::start(advert));
        return None;
    };
    let silence = advert.ts.secs_since(run.to);
    let same = run.priority == packet.priority()
        && run.interval_centis == packet.advert_interval_centis()
        && silence <= timing::longest_master_down_secs(version, run.interval_s());
    if same {
        run.to = advert.ts;
        run.adverts += 1;
        return None;
    }
    router.open_run.replace(Run::start(advert))
}
