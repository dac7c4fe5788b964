//! VRRP / keepalived: who was master when, how failovers went, and what is misconfigured.
//!
//! Reads VRRP v2 (RFC 3768) and v3 (RFC 5798) advertisements carried directly by IP (protocol
//! 112 in the outer header only: a VRRP header quoted inside an ICMP error is not an advert),
//! gratuitous ARPs and unsolicited IPv6 neighbour advertisements (address claims). Per group it
//! keeps bounded run-length state ([`group`]); at the end it derives master periods and
//! changes ([`history`]), findings ([`findings`]) and the `vrrp` report section and timeline
//! ([`section`]).
//!
//! keepalived differs from the RFCs in ways the checks respect: it skips the TTL check for
//! unicast peers, sends adverts from the real MAC unless `use_vmac`, and may append a 32-byte
//! `auth_hmac` trailer.

pub mod findings;
pub mod group;
pub mod history;
pub mod section;
pub mod timing;

use super::{Context, Section, Sections, SharedDetector};
use crate::config::AnalysisConfig;
use crate::decode::arp::{self, AddressClaim};
use crate::decode::vrrp::{AddressFamily, TYPE_ADVERTISEMENT, VrrpPacket};
use crate::decode::{Decoded, IP_PROTOCOL_VRRP, IpPacket, Network, Transport};
use crate::time::Timestamp;
use group::{Advert, Group, GroupKey};
use std::collections::BTreeMap;

/// Groups tracked at once (255 VRIDs × 2 versions × 2 families on a few VLANs).
const MAX_GROUPS: usize = 1024;
/// Address claims kept for matching with master changes; later ones are only counted.
const MAX_CLAIMS: usize = 4096;

/// A gratuitous ARP or unsolicited NA seen at `ts`.
#[derive(Clone, Copy, Debug)]
pub struct Claim {
    pub ts: Timestamp,
    pub vlan: Option<u16>,
    pub claim: AddressClaim,
}

pub struct Vrrp {
    groups: BTreeMap<GroupKey, Group>,
    groups_dropped: u64,
    /// Protocol-112 packets that are not readable advertisements.
    malformed: u64,
    claims: Vec<Claim>,
    claims_dropped: u64,
    /// Latest timestamp of any packet: how long after a master's last advert we still looked.
    capture_end: Option<Timestamp>,
}

impl Vrrp {
    pub fn new(_config: &AnalysisConfig) -> Vrrp {
        Vrrp {
            groups: BTreeMap::new(),
            groups_dropped: 0,
            malformed: 0,
            claims: Vec::new(),
            claims_dropped: 0,
            capture_end: None,
        }
    }

    fn on_ip(&mut self, packet: &Decoded<'_>, ip: &IpPacket<'_>, context: &mut Context<'_>) {
        if let Transport::Icmpv6 {
            icmp_type: arp::ICMPV6_NEIGHBOR_ADVERTISEMENT,
            body,
        } = ip.transport
            && let Some(claim) = arp::unsolicited_neighbor_advertisement(body)
        {
            self.keep_claim(packet, claim);
        }
        if ip.protocol != IP_PROTOCOL_VRRP || ip.fragmented {
            return;
        }
        let family = AddressFamily::of(ip.source);
        let parsed = VrrpPacket::new_checked(ip.payload, family)
            .ok()
            .filter(|p| p.kind() == TYPE_ADVERTISEMENT);
        let Some(vrrp) = parsed else {
            self.malformed += 1;
            return;
        };
        context.summary.vrrp_adverts += 1;
        let advert = Advert {
            ts: packet.ts,
            packet: vrrp,
            source: ip.source,
            destination: ip.destination,
            ttl: ip.ttl,
            source_mac: packet.source_mac,
            checksum: vrrp.verify_checksum(ip.source, ip.destination),
        };
        let key = GroupKey {
            vlan: packet.vlan,
            vrid: vrrp.vrid(),
            family,
            version: vrrp.version(),
        };
        if let Some(group) = self.group(key) {
            group.observe(&advert);
        }
    }

    fn group(&mut self, key: GroupKey) -> Option<&mut Group> {
        if !self.groups.contains_key(&key) && self.groups.len() >= MAX_GROUPS {
            self.groups_dropped += 1;
            return None;
        }
        Some(self.groups.entry(key).or_insert_with(|| Group::new(key)))
    }

    fn keep_claim(&mut self, packet: &Decoded<'_>, claim: AddressClaim) {
        if self.claims.len() >= MAX_CLAIMS {
            self.claims_dropped += 1;
            return;
        }
        self.claims.push(Claim {
            ts: packet.ts,
            vlan: packet.vlan,
            claim,
        });
    }
}

impl SharedDetector for Vrrp {
    fn on_frame_time(&mut self, ts: Timestamp) {
        self.capture_end = Some(self.capture_end.map_or(ts, |end| end.max(ts)));
    }

    fn on_packet(&mut self, packet: &Decoded<'_>, context: &mut Context<'_>) {
        match &packet.network {
            Network::Ip(ip) => self.on_ip(packet, ip, context),
            Network::Arp(bytes) => {
                if let Some(claim) = arp::gratuitous_arp(bytes) {
                    self.keep_claim(packet, claim);
                }
            }
            Network::Other => {}
        }
    }

    fn finish(&mut self, context: &mut Context<'_>, sections: &mut Sections) {
        if self.groups.is_empty() && self.malformed == 0 {
            return;
        }
        self.claims.sort_by_key(|claim| claim.ts);
        let end = self.capture_end.unwrap_or(Timestamp::from_nanos(0));
        let mut groups = Vec::new();
        let mut events = Vec::new();
        for group in self.groups.values() {
            let history = history::analyze(group);
            let claims = section::claims_for(group, &self.claims);
            findings::report_group(group, &history, &claims, end, context);
            let view = section::GroupView {
                group,
                history: &history,
                claims: &claims,
                show_secrets: context.config.show_secrets,
            };
            groups.push(view.to_json());
            events.extend(view.timeline());
        }
        findings::report_across_groups(&self.groups, context);
        if context.output.wants_events() {
            events.sort_by_key(|event| (event.subject, event.ts));
            for event in events {
                context.event(event);
            }
        }
        sections.insert(
            "vrrp",
            Section::Value(serde_json::json!({
                "groups": groups,
                "malformed": self.malformed,
                "groups_dropped": self.groups_dropped,
                "address_claims": self.claims.len() as u64 + self.claims_dropped,
            })),
        );
    }
}
