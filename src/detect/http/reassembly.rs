//! One direction of a TCP connection as an in-order byte stream, for the HTTP parser.
//!
//! Input is what the tracker says about each segment: the stream position of its first byte
//! (`SegmentAnalysis::stream_position`), the bytes captured and the payload length on the
//! wire. Bytes already delivered (retransmissions, overlaps) are dropped; bytes past the next
//! expected position (reordering) wait in a small buffer until the hole fills; bytes never
//! captured (snaplen cuts, losses at the capture point) become `gap` calls, so the parser can
//! skip them inside a body and resynchronise when they hit a message head.
//!
//! Memory: at most [`MAX_PENDING_BYTES`] and [`MAX_PENDING_SEGMENTS`] per direction wait for a
//! hole to fill; past either cap the hole is declared a gap. Nothing else is stored here: the
//! parser keeps only message heads, and bodies are skipped by counting.

/// Out-of-order bytes kept per direction while waiting for the missing ones.
pub const MAX_PENDING_BYTES: usize = 64 * 1024;
/// Out-of-order segments kept per direction.
pub const MAX_PENDING_SEGMENTS: usize = 32;

/// Where the reassembled stream goes.
pub trait StreamSink {
    /// The next bytes of the stream, in order.
    fn data(&mut self, bytes: &[u8]);
    /// `length` bytes of the stream that were not captured.
    fn gap(&mut self, length: u64);
}

struct PendingSegment {
    position: u64,
    captured: Vec<u8>,
    wire_length: u64,
}

/// Segments waiting for a hole to fill. Boxed in [`Reassembler::held`]: almost every
/// stream holds none almost all the time, and there is one stream per direction of every
/// open HTTP connection.
#[derive(Default)]
struct Held {
    segments: Vec<PendingSegment>,
    bytes: usize,
}

/// The in-order stream of one direction: 32 bytes, two in every open HTTP connection.
#[derive(Default)]
pub struct Reassembler {
    /// Stream position of the next byte to deliver, once `started` (see [`Reassembler::next`]:
    /// an `Option<u64>` here would take 16 bytes).
    next_position: u64,
    /// `None` whenever nothing waits.
    held: Option<Box<Held>>,
    pub gap_bytes: u64,
    /// Holes declared (bytes that were never captured).
    pub gaps: u32,
    /// The first bytes delivered were the stream's first (position 0).
    pub from_stream_start: bool,
    /// A payload was seen: `next_position` is set.
    started: bool,
}

impl Reassembler {
    /// Stream position of the next byte to deliver; `None` before the first payload.
    fn next(&self) -> Option<u64> {
        self.started.then_some(self.next_position)
    }

    fn set_next(&mut self, position: u64) {
        self.next_position = position;
        self.started = true;
    }

    /// Adds one segment: `captured` bytes starting at stream `position`, `wire_length` bytes
    /// on the wire (more than captured when the snapshot length cut the frame).
    pub fn push(
        &mut self,
        position: u64,
        captured: &[u8],
        wire_length: u32,
        sink: &mut dyn StreamSink,
    ) {
        let wire_length = u64::from(wire_length).max(captured.len() as u64);
        if wire_length == 0 {
            return;
        }
        let next = match self.next() {
            Some(next) => next,
            None => {
                self.from_stream_start = position == 0;
                self.set_next(position);
                position
            }
        };
        if position > next {
            self.hold(position, captured, wire_length, sink);
            return;
        }
        self.deliver(position, captured, wire_length, sink);
        self.drain(sink);
    }

    /// End of the connection: whatever still waits behind a hole is delivered after a gap.
    pub fn finish(&mut self, sink: &mut dyn StreamSink) {
        while self.held_segments() > 0 {
            self.skip_to_first_pending(sink);
            self.drain(sink);
        }
    }

    fn deliver(
        &mut self,
        position: u64,
        captured: &[u8],
        wire_length: u64,
        sink: &mut dyn StreamSink,
    ) {
        let Some(next) = self.next() else {
            return;
        };
        let end = position.saturating_add(wire_length);
        if end <= next {
            return;
        }
        let skip = next.saturating_sub(position);
        let captured_end = position.saturating_add(captured.len() as u64);
        if let Ok(offset) = usize::try_from(skip)
            && let Some(fresh) = captured.get(offset..)
            && !fresh.is_empty()
        {
            sink.data(fresh);
        }
        let uncaptured_from = captured_end.max(next);
        if end > uncaptured_from {
            self.note_gap(end - uncaptured_from, sink);
        }
        self.set_next(end);
    }

    fn hold(
        &mut self,
        position: u64,
        captured: &[u8],
        wire_length: u64,
        sink: &mut dyn StreamSink,
    ) {
        let held_bytes = self.held.as_ref().map_or(0, |held| held.bytes);
        if self.held_segments() >= MAX_PENDING_SEGMENTS
            || held_bytes.saturating_add(captured.len()) > MAX_PENDING_BYTES
        {
            // Too much waits behind the hole: it is a loss, not a reordering.
            self.skip_to_first_pending(sink);
            self.drain(sink);
            if self.next().is_some_and(|next| position > next) && self.held_segments() > 0 {
                self.skip_to_first_pending(sink);
                self.drain(sink);
            }
            if self.next().is_some_and(|next| position > next) {
                let next = self.next().unwrap_or(position);
                self.note_gap(position - next, sink);
                self.set_next(position);
            }
            self.deliver(position, captured, wire_length, sink);
            self.drain(sink);
            return;
        }
        let held = self.held.get_or_insert_default();
        held.bytes += captured.len();
        held.segments.push(PendingSegment {
            position,
            captured: captured.to_vec(),
            wire_length,
        });
    }

    fn held_segments(&self) -> usize {
        self.held.as_ref().map_or(0, |held| held.segments.len())
    }

    /// Declares the hole before the earliest waiting segment a gap.
    fn skip_to_first_pending(&mut self, sink: &mut dyn StreamSink) {
        let Some(next) = self.next() else {
            return;
        };
        let Some(held) = self.held.as_ref() else {
            return;
        };
        let Some(first) = held.segments.iter().map(|p| p.position).min() else {
            return;
        };
        if first > next {
            self.note_gap(first - next, sink);
            self.set_next(first);
        }
    }

    /// Delivers waiting segments that now touch the stream.
    fn drain(&mut self, sink: &mut dyn StreamSink) {
        loop {
            let Some(next) = self.next() else {
                return;
            };
            let Some(held) = self.held.as_mut() else {
                return;
            };
            let Some(index) = held.segments.iter().position(|p| p.position <= next) else {
                return;
            };
            let segment = held.segments.swap_remove(index);
            held.bytes = held.bytes.saturating_sub(segment.captured.len());
            if held.segments.is_empty() {
                // The hole filled: an open connection keeps nothing for it.
                self.held = None;
            }
            self.deliver(
                segment.position,
                &segment.captured,
                segment.wire_length,
                sink,
            );
        }
    }

    fn note_gap(&mut self, length: u64, sink: &mut dyn StreamSink) {
        self.gaps += 1;
        self.gap_bytes = self.gap_bytes.saturating_add(length);
        sink.gap(length);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Default)]
    struct Collect {
        bytes: Vec<u8>,
        gaps: Vec<u64>,
    }

    impl StreamSink for Collect {
        fn data(&mut self, bytes: &[u8]) {
            self.bytes.extend_from_slice(bytes);
        }
        fn gap(&mut self, length: u64) {
            self.gaps.push(length);
            self.bytes
                .extend(std::iter::repeat_n(b'?', length as usize));
        }
    }

    #[test]
    fn retransmissions_and_overlaps_are_delivered_once() {
        let mut stream = Reassembler::default();
        let mut out = Collect::default();
        stream.push(0, b"hello", 5, &mut out);
        stream.push(0, b"hello", 5, &mut out);
        stream.push(3, b"lo wor", 6, &mut out);
        stream.push(9, b"ld", 2, &mut out);
        assert_eq!(out.bytes, b"hello world");
        assert!(out.gaps.is_empty());
    }

    #[test]
    fn reordered_segments_wait_for_the_hole() {
        let mut stream = Reassembler::default();
        let mut out = Collect::default();
        stream.push(0, b"ab", 2, &mut out);
        stream.push(4, b"ef", 2, &mut out);
        assert_eq!(out.bytes, b"ab");
        stream.push(2, b"cd", 2, &mut out);
        assert_eq!(out.bytes, b"abcdef");
        assert_eq!(stream.gaps, 0);
        assert!(
            stream.held.is_none(),
            "nothing is kept once the hole filled"
        );
    }

    #[test]
    fn snaplen_cuts_and_losses_become_gaps() {
        let mut stream = Reassembler::default();
        let mut out = Collect::default();
        stream.push(0, b"ab", 4, &mut out);
        stream.push(10, b"xy", 2, &mut out);
        stream.finish(&mut out);
        assert_eq!(out.gaps, vec![2, 6]);
        assert_eq!(out.bytes, b"ab????????xy");
    }

    #[test]
    fn the_pending_buffer_is_bounded() {
        let mut stream = Reassembler::default();
        let mut out = Collect::default();
        stream.push(0, b"a", 1, &mut out);
        for index in 0..(MAX_PENDING_SEGMENTS as u64 + 5) {
            stream.push(10 + index, b"z", 1, &mut out);
        }
        assert!(stream.held_segments() <= MAX_PENDING_SEGMENTS);
        assert_eq!(stream.gaps, 1);
    }
}
