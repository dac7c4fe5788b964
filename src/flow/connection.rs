//! The state kept for one TCP connection: facts per direction, never judgements.
//!
//! Sequence tracking follows Wireshark's TCP analysis (packet-tcp.c): per direction the next
//! expected sequence number (highest seq + len, SYN and FIN counting one), the last ACK and
//! window sent. Each segment is classified against the state *before* it (see
//! [`SegmentAnalysis`]); the keepalive rule is Wireshark's (0 or 1 byte at next_seq − 1) with
//! two corrections documented in docs/keepalive.md: zero-window probes are told apart by the
//! peer's last window being 0, and a probe needs the connection to have been idle.

use super::key::{ConnectionId, Endpoint, FlowKey, Side};
use crate::decode::TcpSegment;
use crate::time::Timestamp;
use serde::Serialize;

/// Where a connection ended up (`connections[].state`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ConnectionState {
    /// A SYN and nothing back.
    SynSent,
    /// Data or a handshake seen, no FIN or RST.
    Open,
    /// One side sent FIN.
    HalfClosed,
    /// Both sides sent FIN.
    ClosedFin,
    /// A RST ended an established (or picked-up) connection.
    Reset,
    /// A RST answered the SYN: nothing listening, or a firewall refusing.
    Refused,
}

impl ConnectionState {
    pub fn name(self) -> &'static str {
        match self {
            ConnectionState::SynSent => "syn-sent",
            ConnectionState::Open => "open",
            ConnectionState::HalfClosed => "half-closed",
            ConnectionState::ClosedFin => "closed-fin",
            ConnectionState::Reset => "reset",
            ConnectionState::Refused => "refused",
        }
    }

    pub fn is_closed(self) -> bool {
        matches!(
            self,
            ConnectionState::ClosedFin | ConnectionState::Reset | ConnectionState::Refused
        )
    }
}

/// Facts about one direction of a connection (what one endpoint sent).
#[derive(Clone, Debug, Default)]
pub struct HalfState {
    pub packets: u64,
    /// Payload bytes on the wire, retransmissions included.
    pub payload_bytes: u64,
    pub last_seen: Option<Timestamp>,
    /// When this side last sent payload (not probes or pure ACKs).
    pub last_payload_at: Option<Timestamp>,
    /// Sequence number of stream position 0 (ISN + 1 after a SYN, else the first seq seen).
    pub base_seq: Option<u32>,
    /// Stream position just past the highest byte sent (SYN/FIN count one).
    pub next_position: u64,
    pub last_ack: Option<u32>,
    /// Last raw (unscaled) window advertised by this side.
    pub last_window: u16,
    pub window_scale: Option<u8>,
    /// This side's previous segment was a keepalive probe not yet answered.
    pub probe_outstanding: bool,
    pub keepalive_probes: u32,
    /// Keepalive ACKs this side sent (answers to the peer's probes).
    pub keepalive_acks: u32,
    pub zero_window_probes: u32,
    pub retransmissions: u32,
    pub syn_at: Option<Timestamp>,
    pub fin_at: Option<Timestamp>,
    pub rst_at: Option<Timestamp>,
    /// TTL range of this side's segments other than RSTs (the baseline a RST is judged by).
    pub ttl_range: Option<(u8, u8)>,
    /// IP ID of this side's last segment other than a RST.
    pub ordinary_ip_id: Option<u16>,
    /// Consecutive non-RST segments whose IP ID went up by 1..=1024 (a per-connection counter).
    pub ip_id_increments: u32,
    /// Segments with IP ID 0 (Linux with DF set, some stacks): an ID pattern cannot be judged.
    pub ip_id_zeros: u32,
}

impl HalfState {
    /// The next expected sequence number, once anything was seen from this side.
    pub fn next_seq(&self) -> Option<u32> {
        self.base_seq
            .map(|base| base.wrapping_add(self.next_position as u32))
    }

    /// Stream position of `seq`, unwrapped near what was already seen.
    pub fn position_of(&self, seq: u32) -> Option<u64> {
        let base = self.base_seq?;
        Some(super::seq::unwrap_near(
            seq.wrapping_sub(base),
            self.next_position,
        ))
    }

    /// The advertised window in bytes, when the handshake told us the scale.
    pub fn window_bytes(&self) -> u64 {
        u64::from(self.last_window) << self.window_scale.unwrap_or(0).min(14)
    }
}

/// How one segment relates to the connection's state before it.
#[derive(Clone, Copy, Debug, Default)]
pub struct SegmentAnalysis {
    pub side: Option<Side>,
    /// Silence on the whole connection before this segment, in nanoseconds.
    pub idle_before_nanos: i64,
    pub keepalive_probe: bool,
    pub keepalive_ack: bool,
    pub zero_window_probe: bool,
    pub retransmission: bool,
    /// This segment starts past the next expected byte.
    pub gap_before: bool,
    /// Stream position of the first payload byte (for reassembly by detectors).
    pub stream_position: Option<u64>,
    /// Payload bytes of this segment that extend the stream (not seen before).
    pub new_payload_bytes: u32,
    /// This segment opened the connection record.
    pub opened: bool,
}

impl SegmentAnalysis {
    pub fn idle_before_secs(&self) -> f64 {
        self.idle_before_nanos as f64 / 1e9
    }
}

/// One tracked TCP connection as seen from one observation point.
#[derive(Clone, Debug)]
pub struct Connection {
    pub id: ConnectionId,
    pub key: FlowKey,
    pub client: HalfState,
    pub server: HalfState,
    /// The client is the key's lower endpoint (each endpoint is kept once, in the key).
    pub client_is_low: bool,
    /// Roles were guessed (no SYN seen); see `tracker::guess_roles`.
    pub roles_inferred: bool,
    pub start: Timestamp,
    pub last_seen: Timestamp,
    pub state: ConnectionState,
    pub max_idle_nanos: i64,
    /// When the longest idle gap ended (the packet that broke the silence).
    pub max_idle_end: Option<Timestamp>,
    pub synack_at: Option<Timestamp>,
    /// The SYN was seen before the first SYN-ACK (so SYN to SYN-ACK is a round trip).
    pub syn_before_synack: bool,
    /// The client's first ACK after the SYN-ACK. The handshake's round trips are derived
    /// from the three times instead of kept (16 bytes less on every connection).
    pub handshake_ack_at: Option<Timestamp>,
}

impl Connection {
    /// Segments of both directions (each half counts its own; the sum is not kept twice).
    pub fn packets(&self) -> u64 {
        self.client.packets + self.server.packets
    }

    /// Payload bytes on the wire of both directions, retransmissions included.
    pub fn bytes(&self) -> u64 {
        self.client.payload_bytes + self.server.payload_bytes
    }

    pub fn half(&self, side: Side) -> &HalfState {
        match side {
            Side::Client => &self.client,
            Side::Server => &self.server,
        }
    }

    pub fn half_mut(&mut self, side: Side) -> &mut HalfState {
        match side {
            Side::Client => &mut self.client,
            Side::Server => &mut self.server,
        }
    }

    /// The address and port of one side.
    pub fn endpoint(&self, side: Side) -> Endpoint {
        if (side == Side::Client) == self.client_is_low {
            self.key.low
        } else {
            self.key.high
        }
    }

    pub fn client_endpoint(&self) -> Endpoint {
        self.endpoint(Side::Client)
    }

    pub fn server_endpoint(&self) -> Endpoint {
        self.endpoint(Side::Server)
    }

    /// Which side sent a segment from `source`.
    pub fn side_of(&self, source: Endpoint) -> Side {
        if source == self.client_endpoint() {
            Side::Client
        } else {
            Side::Server
        }
    }

    /// After the longest idle gap, the side that broke the silence was never answered again
    /// and kept retransmitting: the connection fell into a black hole (a middlebox forgot it
    /// and drops its packets). Returns the silent side and how long it kept trying.
    pub fn black_hole_after_idle(&self) -> Option<(Side, f64)> {
        let idle_end = self.max_idle_end?;
        let idle_start =
            Timestamp::from_nanos(idle_end.nanos().saturating_sub(self.max_idle_nanos));
        if self.client.rst_at.is_some() || self.server.rst_at.is_some() {
            return None;
        }
        [Side::Client, Side::Server].into_iter().find_map(|side| {
            let sender = self.half(side);
            let peer = self.half(side.other());
            let sender_broke_silence = sender.last_seen.is_some_and(|last| last >= idle_end);
            let peer_silent = peer.last_seen.is_none_or(|last| last <= idle_start);
            (sender_broke_silence && peer_silent && sender.retransmissions >= 2).then(|| {
                (
                    side,
                    sender
                        .last_seen
                        .map_or(0.0, |last| last.secs_since(idle_end)),
                )
            })
        })
    }

    /// Both sides sent FIN (the state says so) and each FIN was acknowledged by the peer: TCP
    /// has nothing left to send on this connection (RFC 9293 §3.6), only duplicated or
    /// reordered frames can follow.
    pub fn close_acknowledged(&self) -> bool {
        self.state == ConnectionState::ClosedFin
            && [Side::Client, Side::Server].into_iter().all(|side| {
                let after_fin = self.half(side).next_seq();
                let ack = self.half(side.other()).last_ack;
                // Sequence arithmetic: the ACK is at or past the byte after the FIN.
                after_fin
                    .zip(ack)
                    .is_some_and(|(after_fin, ack)| (ack.wrapping_sub(after_fin) as i32) >= 0)
            })
    }

    /// SYN to SYN-ACK as seen here (the server-side part of the path RTT).
    pub fn handshake_server_rtt(&self) -> Option<f64> {
        let synack = self.synack_at.filter(|_| self.syn_before_synack)?;
        Some(synack.secs_since(self.client.syn_at?))
    }

    /// SYN-ACK to the client's ACK (the client-side part).
    pub fn handshake_client_rtt(&self) -> Option<f64> {
        Some(self.handshake_ack_at?.secs_since(self.synack_at?))
    }

    /// Round-trip time of the path as seen here, when the handshake was captured.
    pub fn path_rtt(&self) -> Option<f64> {
        match (self.handshake_server_rtt(), self.handshake_client_rtt()) {
            (Some(a), Some(b)) => Some(a + b),
            (Some(a), None) | (None, Some(a)) => Some(a),
            _ => None,
        }
    }

    /// Applies one segment from `side` and returns how it relates to the state before it.
    pub fn apply(
        &mut self,
        side: Side,
        ts: Timestamp,
        segment: &SegmentFacts<'_, '_>,
        min_probe_idle_nanos: i64,
    ) -> SegmentAnalysis {
        let tcp = segment.tcp;
        let mut analysis = SegmentAnalysis {
            side: Some(side),
            idle_before_nanos: if self.packets() == 0 {
                0
            } else {
                ts.nanos_since(self.last_seen)
            },
            ..SegmentAnalysis::default()
        };
        self.note_idle(&analysis, ts);
        let peer_window_zero = {
            let peer = self.half(side.other());
            peer.packets > 0 && peer.last_window == 0
        };
        self.classify(side, ts, tcp, peer_window_zero, &mut analysis);
        let sender_closing = self.half(side).fin_at.is_some();
        if (analysis.keepalive_probe || analysis.zero_window_probe)
            && (self.data_idle_nanos(ts) < min_probe_idle_nanos || sender_closing)
        {
            // Too soon after data to be a timer-driven probe (a retransmitted last byte), or
            // the ACK that follows our own FIN: Wireshark calls both keep-alives; kaprobe does
            // not (docs/keepalive.md). Probes themselves do not reset this clock, because both
            // ends' keepalive timers may fire within milliseconds of each other.
            analysis.keepalive_probe = false;
            analysis.zero_window_probe = false;
            analysis.retransmission = tcp.payload_len > 0;
        }
        self.update_half(side, ts, tcp, segment.ttl, segment.ip_id, &analysis);
        self.update_state(side, ts, tcp);
        self.last_seen = ts;
        analysis
    }

    /// Time since the last payload byte in either direction (or the start of the record).
    pub fn data_idle_nanos(&self, ts: Timestamp) -> i64 {
        let last_data = [self.client.last_payload_at, self.server.last_payload_at]
            .into_iter()
            .flatten()
            .max()
            .unwrap_or(self.start);
        ts.nanos_since(last_data)
    }

    fn note_idle(&mut self, analysis: &SegmentAnalysis, ts: Timestamp) {
        if analysis.idle_before_nanos > self.max_idle_nanos {
            self.max_idle_nanos = analysis.idle_before_nanos;
            self.max_idle_end = Some(ts);
        }
    }

    /// Wireshark's order of checks, against the state before this segment.
    fn classify(
        &mut self,
        side: Side,
        ts: Timestamp,
        tcp: &TcpSegment<'_>,
        peer_window_zero: bool,
        analysis: &mut SegmentAnalysis,
    ) {
        let flags = tcp.flags;
        let control = flags.syn() || flags.fin() || flags.rst();
        let half = self.half(side);
        let Some(next_seq) = half.next_seq() else {
            return;
        };
        let offset = super::seq::distance(tcp.seq, next_seq);
        let length = tcp.payload_len;
        analysis.stream_position = half.position_of(tcp.seq);
        // The peer already acknowledged the byte this segment starts at. This also catches
        // probes when the capture began during the idle period and the first probe seen set
        // our idea of next_seq one too low (Wireshark then calls later probes "Dup ACK").
        let below_peer_ack = self
            .half(side.other())
            .last_ack
            .is_some_and(|acked| acked == tcp.seq.wrapping_add(1));
        if !control
            && flags.ack()
            && length <= 1
            && (offset == -1 || (offset == 0 && below_peer_ack))
        {
            if peer_window_zero {
                analysis.zero_window_probe = true;
            } else {
                analysis.keepalive_probe = true;
            }
        } else if !control && length == 1 && offset == 0 && peer_window_zero {
            analysis.zero_window_probe = true;
        } else if offset > 0 && !flags.rst() {
            analysis.gap_before = true;
        } else if offset < 0 && (length > 0 || flags.syn() || flags.fin()) {
            let end = offset + i64::from(length);
            analysis.retransmission = end <= 0;
        }
        if length > 0 && !analysis.keepalive_probe && !analysis.zero_window_probe {
            let end = offset + i64::from(length);
            analysis.new_payload_bytes =
                u32::try_from(end.clamp(0, i64::from(length))).unwrap_or(0);
        }
        let peer = self.half(side.other());
        analysis.keepalive_ack = !control
            && length == 0
            && offset == 0
            && peer.probe_outstanding
            && peer
                .next_seq()
                .is_some_and(|peer_next| tcp.ack == peer_next)
            && peer
                .last_seen
                .is_some_and(|probe_at| ts.secs_since(probe_at) <= KEEPALIVE_ACK_MAX_DELAY_SECS);
    }

    fn update_half(
        &mut self,
        side: Side,
        ts: Timestamp,
        tcp: &TcpSegment<'_>,
        ttl: u8,
        ip_id: Option<u16>,
        analysis: &SegmentAnalysis,
    ) {
        let flags = tcp.flags;
        if analysis.keepalive_ack {
            let peer = self.half_mut(side.other());
            peer.probe_outstanding = false;
        }
        let half = self.half_mut(side);
        half.packets += 1;
        half.payload_bytes += u64::from(tcp.payload_len);
        half.last_seen = Some(ts);
        if flags.syn() {
            half.syn_at.get_or_insert(ts);
            half.window_scale = tcp.options.window_scale;
        }
        if flags.fin() {
            half.fin_at.get_or_insert(ts);
        }
        if flags.rst() {
            half.rst_at.get_or_insert(ts);
        }
        if flags.ack() {
            half.last_ack = Some(tcp.ack);
        }
        if !flags.rst() {
            half.last_window = tcp.window;
            half.ttl_range = Some(match half.ttl_range {
                Some((low, high)) => (low.min(ttl), high.max(ttl)),
                None => (ttl, ttl),
            });
            if let Some(id) = ip_id {
                if id == 0 {
                    half.ip_id_zeros += 1;
                } else if half
                    .ordinary_ip_id
                    .is_some_and(|previous| (1..=1024).contains(&id.wrapping_sub(previous)))
                {
                    half.ip_id_increments += 1;
                }
                half.ordinary_ip_id = Some(id);
            }
        }
        if half.base_seq.is_none() && !flags.rst() {
            half.base_seq = Some(if flags.syn() {
                tcp.seq.wrapping_add(1)
            } else {
                tcp.seq
            });
            half.next_position = 0;
        }
        if analysis.keepalive_probe {
            half.keepalive_probes += 1;
            half.probe_outstanding = true;
        } else if !flags.rst() {
            half.probe_outstanding = false;
        }
        if analysis.keepalive_ack {
            half.keepalive_acks += 1;
        }
        if analysis.zero_window_probe {
            half.zero_window_probes += 1;
        }
        if analysis.retransmission {
            half.retransmissions += 1;
        }
        if tcp.payload_len > 0 && !analysis.keepalive_probe && !analysis.zero_window_probe {
            half.last_payload_at = Some(ts);
        }
        if !analysis.zero_window_probe && !flags.rst() {
            advance_next_position(half, tcp);
        }
    }

    fn update_state(&mut self, side: Side, ts: Timestamp, tcp: &TcpSegment<'_>) {
        let flags = tcp.flags;
        if flags.syn() && flags.ack() && side == Side::Server && self.synack_at.is_none() {
            self.synack_at = Some(ts);
            self.syn_before_synack = self.client.syn_at.is_some();
        } else if side == Side::Client
            && flags.ack()
            && !flags.syn()
            && self.handshake_ack_at.is_none()
            && self.synack_at.is_some()
        {
            self.handshake_ack_at = Some(ts);
        }
        self.state = if flags.rst() {
            let answered_syn = self.synack_at.is_none()
                && self.client.syn_at.is_some()
                && self.client.payload_bytes == 0;
            if (side == Side::Server && answered_syn) || self.state == ConnectionState::Refused {
                ConnectionState::Refused
            } else {
                ConnectionState::Reset
            }
        } else if matches!(
            self.state,
            ConnectionState::Reset | ConnectionState::Refused
        ) {
            self.state
        } else if self.client.fin_at.is_some() && self.server.fin_at.is_some() {
            ConnectionState::ClosedFin
        } else if self.client.fin_at.is_some() || self.server.fin_at.is_some() {
            ConnectionState::HalfClosed
        } else if self.synack_at.is_none()
            && self.client.syn_at.is_some()
            && self.server.packets == 0
        {
            ConnectionState::SynSent
        } else {
            ConnectionState::Open
        };
    }
}

/// What the tracker needs from a decoded TCP segment and its IP header.
#[derive(Clone, Copy, Debug)]
pub struct SegmentFacts<'a, 'p> {
    pub tcp: &'a TcpSegment<'p>,
    pub ttl: u8,
    pub ip_id: Option<u16>,
}

/// A keepalive ACK must follow its probe within this long (a round trip on any real path).
const KEEPALIVE_ACK_MAX_DELAY_SECS: f64 = 30.0;

fn advance_next_position(half: &mut HalfState, tcp: &TcpSegment<'_>) {
    let Some(position) = half.position_of(tcp.seq) else {
        return;
    };
    // A SYN's own sequence number sits at position -1 (base is ISN + 1).
    let start = if tcp.flags.syn() {
        position.wrapping_add(1)
    } else {
        position
    };
    let end = start
        .wrapping_add(u64::from(tcp.payload_len))
        .wrapping_add(u64::from(tcp.flags.fin()));
    // Positions are unwrapped near next_position, so "later" is a plain comparison once the
    // distance is sane (below 2^31).
    let ahead = end.wrapping_sub(half.next_position);
    if ahead > 0 && ahead < (1 << 31) {
        half.next_position = end;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_connection_stays_small() {
        // One per tracked connection: each endpoint is kept once (in the key), and the
        // handshake's round trips are derived from its times (docs/performance.md, Memory).
        assert!(std::mem::size_of::<Connection>() <= 352);
    }
}
