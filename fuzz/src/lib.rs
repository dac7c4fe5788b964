//! Shared by the fuzz targets and the seed maker: how a fuzz input stands for a link type and
//! for a sequence of frames, so seeds written by `make_seeds` mean the same to the targets.
//!
//! A frame sequence is: one settings byte, then records of
//! `[link selector u8][time step i32 LE, ms][length u16 LE][frame bytes]`; a length past the
//! end takes what is left. Time steps may be negative (clocks go backwards in real captures).

use kaprobe::capture::{LinkType, RawPacket};
use kaprobe::time::Timestamp;

/// The LINKTYPE_ numbers the decoder knows, plus one it does not (the selector wraps).
pub const LINK_NUMBERS: [u32; 10] = [0, 1, 101, 108, 113, 228, 229, 239, 276, 147];

pub fn link_type(selector: u8) -> LinkType {
    let index = usize::from(selector) % LINK_NUMBERS.len();
    LinkType::from_number(LINK_NUMBERS.get(index).copied().unwrap_or(1))
}

pub fn link_selector(link_type: LinkType) -> u8 {
    let number = kaprobe::capture::writer::link_number(link_type);
    LINK_NUMBERS
        .iter()
        .position(|n| *n == number)
        .and_then(|i| u8::try_from(i).ok())
        .unwrap_or(9)
}

/// Settings byte of a frame sequence.
pub struct Settings {
    pub keep_timelines: bool,
    pub timeline_all: bool,
    /// A tiny connection cap, so eviction is exercised.
    pub small_table: bool,
    pub show_secrets: bool,
}

impl Settings {
    pub fn from_byte(byte: u8) -> Settings {
        Settings {
            keep_timelines: byte & 1 != 0,
            timeline_all: byte & 2 != 0,
            small_table: byte & 4 != 0,
            show_secrets: byte & 8 != 0,
        }
    }
}

/// Iterates the frames of a sequence, filling one reused [`RawPacket`].
pub struct Frames<'a> {
    rest: &'a [u8],
    now: Timestamp,
}

impl<'a> Frames<'a> {
    pub fn new(records: &'a [u8]) -> Frames<'a> {
        Frames {
            rest: records,
            // 2024-01-01, as the test captures.
            now: Timestamp(1_704_067_200 * 1_000_000_000),
        }
    }

    pub fn next_into(&mut self, out: &mut RawPacket) -> bool {
        let Some((head, body)) = self.rest.split_first_chunk::<7>() else {
            return false;
        };
        let [selector, s0, s1, s2, s3, l0, l1] = *head;
        let step_ms = i64::from(i32::from_le_bytes([s0, s1, s2, s3]));
        let length = usize::from(u16::from_le_bytes([l0, l1])).min(body.len());
        let (data, rest) = body.split_at(length);
        self.rest = rest;
        self.now = Timestamp(self.now.0.saturating_add(step_ms.saturating_mul(1_000_000)));
        out.ts = self.now;
        out.input = 0;
        out.interface = 0;
        out.link_type = link_type(selector);
        out.original_len = u32::try_from(length).unwrap_or(u32::MAX);
        out.data.clear();
        out.data.extend_from_slice(data);
        true
    }
}

/// Appends one record to a frame sequence (used to write seeds).
pub fn push_record(out: &mut Vec<u8>, link_type: LinkType, step_ms: i32, frame: &[u8]) {
    let length = u16::try_from(frame.len()).unwrap_or(u16::MAX);
    out.push(link_selector(link_type));
    out.extend_from_slice(&step_ms.to_le_bytes());
    out.extend_from_slice(&length.to_le_bytes());
    out.extend_from_slice(frame.get(..usize::from(length)).unwrap_or(frame));
}
