//! Capture inputs: files (pcap, pcapng, gzip of either, stdin) read as a stream of raw frames.
//!
//! This layer knows containers and link types, nothing about IP or TCP. Each frame is copied
//! into a [`RawPacket`] whose buffer is reused, so reading costs no allocation per packet.
//! Several inputs are merged by timestamp in [`merge`]. Format detection uses magic bytes only:
//! real captures named `.pcap` are often pcapng.

pub mod file;
#[cfg(feature = "capture")]
pub mod live;
pub mod merge;
pub mod prefetch;
pub mod rotate;
pub mod writer;

use crate::time::Timestamp;
use serde::Serialize;

/// The link-layer header types kaprobe decodes (numbers from the tcpdump.org LINKTYPE_ list).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LinkType {
    /// LINKTYPE_NULL (0): 4-byte address family in the capturing host's byte order.
    Null,
    /// LINKTYPE_ETHERNET (1), with 802.1Q/802.1ad tags, MPLS and PBB skipped.
    Ethernet,
    /// LINKTYPE_RAW (101) and the old DLT_RAW numbers 12 and 14: bare IPv4 or IPv6.
    Raw,
    /// LINKTYPE_LOOP (108): like NULL but always big-endian.
    Loop,
    /// LINKTYPE_LINUX_SLL (113): Linux cooked capture v1.
    LinuxSll,
    /// LINKTYPE_IPV4 (228).
    Ipv4,
    /// LINKTYPE_IPV6 (229).
    Ipv6,
    /// LINKTYPE_NFLOG (239): Linux netfilter log messages carrying the packet.
    Nflog,
    /// LINKTYPE_LINUX_SLL2 (276): what `tcpdump -i any` writes today.
    LinuxSll2,
    /// Anything else: counted and reported, never fatal.
    Unknown(u32),
}

impl LinkType {
    pub fn from_number(number: u32) -> LinkType {
        match number {
            0 => LinkType::Null,
            1 => LinkType::Ethernet,
            12 | 14 | 101 => LinkType::Raw,
            108 => LinkType::Loop,
            113 => LinkType::LinuxSll,
            228 => LinkType::Ipv4,
            229 => LinkType::Ipv6,
            239 => LinkType::Nflog,
            276 => LinkType::LinuxSll2,
            other => LinkType::Unknown(other),
        }
    }

    /// The name users know from tcpdump's `-L` / capinfos, used in `inputs[].link_types`.
    pub fn name(self) -> String {
        match self {
            LinkType::Null => "NULL".into(),
            LinkType::Ethernet => "EN10MB".into(),
            LinkType::Raw => "RAW".into(),
            LinkType::Loop => "LOOP".into(),
            LinkType::LinuxSll => "LINUX_SLL".into(),
            LinkType::Ipv4 => "IPV4".into(),
            LinkType::Ipv6 => "IPV6".into(),
            LinkType::Nflog => "NFLOG".into(),
            LinkType::LinuxSll2 => "LINUX_SLL2".into(),
            LinkType::Unknown(n) => format!("LINKTYPE_{n}"),
        }
    }
}

/// One frame as read from an input. The buffer is reused from packet to packet.
#[derive(Clone, Debug)]
pub struct RawPacket {
    pub ts: Timestamp,
    /// Index of the input (file) on the command line.
    pub input: u16,
    /// pcapng interface id (0 for classic pcap).
    pub interface: u32,
    pub link_type: LinkType,
    /// Length of the frame on the wire; `data` may be shorter (snaplen).
    pub original_len: u32,
    pub data: Vec<u8>,
}

impl Default for RawPacket {
    fn default() -> Self {
        RawPacket {
            ts: Timestamp::from_nanos(0),
            input: 0,
            interface: 0,
            link_type: LinkType::Unknown(u32::MAX),
            original_len: 0,
            data: Vec::with_capacity(2048),
        }
    }
}

impl RawPacket {
    pub fn frame(&self) -> Frame<'_> {
        self.frame_with(&self.data)
    }

    /// This packet's facts with bytes kept elsewhere (a batch's arena).
    pub fn frame_with<'a>(&self, data: &'a [u8]) -> Frame<'a> {
        Frame {
            ts: self.ts,
            input: self.input,
            interface: self.interface,
            link_type: self.link_type,
            original_len: self.original_len,
            data,
        }
    }
}

/// A frame as the analysis reads it: the bytes borrowed from wherever they were read into (a
/// [`RawPacket`], or a batch of frames handed over by the reader thread).
#[derive(Clone, Copy, Debug)]
pub struct Frame<'a> {
    pub ts: Timestamp,
    pub input: u16,
    pub interface: u32,
    pub link_type: LinkType,
    /// Length on the wire; more than `data` when the snapshot length cut the frame.
    pub original_len: u32,
    pub data: &'a [u8],
}

impl Frame<'_> {
    pub fn is_truncated(&self) -> bool {
        (self.data.len() as u64) < u64::from(self.original_len)
    }
}

/// What one input contained; serialized as `inputs[]` in the JSON report.
#[derive(Clone, Debug, Default, Serialize)]
pub struct InputSummary {
    pub path: String,
    /// `pcap`, `pcapng`, with `+gzip` when compressed.
    pub format: String,
    pub packets: u64,
    /// Sum of captured frame lengths.
    pub bytes: u64,
    pub link_types: Vec<String>,
    pub first_ts: Option<f64>,
    pub last_ts: Option<f64>,
    /// Frames cut short by the snapshot length (decoded as far as they go).
    pub truncated_packets: u64,
    /// Frames whose link type kaprobe does not decode (counted, not analyzed).
    pub unknown_link_packets: u64,
    pub warnings: Vec<String>,
    /// Time already went backwards once in this input (reported once).
    #[serde(skip)]
    pub backwards_reported: bool,
}

impl InputSummary {
    pub fn note_link_type(&mut self, link_type: LinkType) {
        let name = link_type.name();
        if !self.link_types.contains(&name) {
            self.link_types.push(name);
        }
    }

    pub fn count_packet(&mut self, frame: &Frame<'_>) {
        self.packets += 1;
        self.bytes += frame.data.len() as u64;
        let ts = frame.ts.as_secs_f64();
        if let Some(last) = self.last_ts
            && ts < last
            && !self.backwards_reported
        {
            // Kept in file order (as tshark does); durations across the step are meaningless.
            self.backwards_reported = true;
            self.warn(format!(
                "timestamps go backwards at frame {} (by {:.6} s); frames are analyzed in file order (later steps back are not listed)",
                self.packets,
                last - ts
            ));
        }
        if self.first_ts.is_none() {
            self.first_ts = Some(ts);
        }
        self.last_ts = Some(ts);
        if frame.is_truncated() {
            self.truncated_packets += 1;
        }
        if matches!(frame.link_type, LinkType::Unknown(_)) {
            self.unknown_link_packets += 1;
        }
    }

    /// Warnings are capped so that a hostile file cannot grow the report without bound.
    pub fn warn(&mut self, message: String) {
        const MAX_WARNINGS: usize = 50;
        if self.warnings.len() < MAX_WARNINGS {
            self.warnings.push(message);
        } else if self.warnings.len() == MAX_WARNINGS {
            self.warnings
                .push("further warnings for this input were suppressed".into());
        }
    }
}
