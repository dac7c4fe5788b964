//! Several inputs read side by side and handed on in timestamp order.
//!
//! Each input keeps one frame read ahead; the earliest head goes next. Within one file the
//! file's own order is kept even when its timestamps go backwards (as tshark does), so a
//! clock step in one capture never reorders that capture's packets. A single input (the
//! usual case) needs no look-ahead: its frames are read straight into the caller's buffer.

use super::RawPacket;
use super::file::CaptureReader;

pub struct InputSet {
    readers: Vec<CaptureReader>,
    /// Each input's frame read ahead, when there are several to merge (`None`: exhausted);
    /// empty for a single input.
    heads: Vec<Option<RawPacket>>,
}

impl InputSet {
    pub fn new(mut readers: Vec<CaptureReader>) -> InputSet {
        let heads = if readers.len() > 1 {
            readers
                .iter_mut()
                .map(|reader| {
                    let mut packet = RawPacket::default();
                    reader.next_packet(&mut packet).then_some(packet)
                })
                .collect()
        } else {
            Vec::new()
        };
        InputSet { readers, heads }
    }

    /// Moves the earliest pending frame into `out` (swapping buffers, no copy) and reads ahead
    /// in the input it came from; a single input's next frame is read into `out` directly.
    /// Returns false when every input is exhausted.
    pub fn next_packet(&mut self, out: &mut RawPacket) -> bool {
        if let [reader] = self.readers.as_mut_slice() {
            return reader.next_packet(out);
        }
        let Some(index) = self.earliest() else {
            return false;
        };
        let (Some(head), Some(reader)) = (self.heads.get_mut(index), self.readers.get_mut(index))
        else {
            return false;
        };
        let Some(packet) = head.as_mut() else {
            return false;
        };
        std::mem::swap(packet, out);
        if !reader.next_packet(packet) {
            *head = None;
        }
        true
    }

    /// The next frame as [`next_packet`](Self::next_packet) gives it, with its bytes appended
    /// to `bytes` (a batch's arena) and the rest in `meta`. With one input the frame is read
    /// straight into `bytes`; with several it comes through `meta`'s buffer, the merge's
    /// look-ahead. Returns false, with nothing appended, when every input is exhausted.
    pub fn next_frame_into(&mut self, meta: &mut RawPacket, bytes: &mut Vec<u8>) -> bool {
        if let [reader] = self.readers.as_mut_slice() {
            return reader.next_frame_into(meta, bytes);
        }
        if !self.next_packet(meta) {
            return false;
        }
        bytes.extend_from_slice(&meta.data);
        true
    }

    fn earliest(&self) -> Option<usize> {
        self.heads
            .iter()
            .enumerate()
            .filter_map(|(index, head)| head.as_ref().map(|p| (p.ts, index)))
            .min()
            .map(|(_, index)| index)
    }

    pub fn readers(&self) -> &[CaptureReader] {
        &self.readers
    }

    pub fn into_readers(self) -> Vec<CaptureReader> {
        self.readers
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A classic little-endian pcap (Ethernet, microseconds) of `frames` (seconds, bytes),
    /// with `tail` appended (a cut record, to end on a truncation).
    fn pcap(frames: &[(u32, &[u8])], tail: &[u8]) -> Vec<u8> {
        let mut file = Vec::new();
        for word in [0xa1b2_c3d4u32, 0x0004_0002, 0, 0, 65535, 1] {
            file.extend_from_slice(&word.to_le_bytes());
        }
        for (seconds, bytes) in frames {
            let length = bytes.len() as u32;
            for word in [*seconds, 0, length, length] {
                file.extend_from_slice(&word.to_le_bytes());
            }
            file.extend_from_slice(bytes);
        }
        file.extend_from_slice(tail);
        file
    }

    fn inputs(files: &[Vec<u8>]) -> InputSet {
        let readers = files
            .iter()
            .enumerate()
            .filter_map(|(index, file)| {
                let source = Box::new(std::io::Cursor::new(file.clone()));
                CaptureReader::from_reader("test.pcap", index as u16, source).ok()
            })
            .collect();
        InputSet::new(readers)
    }

    /// (input, seconds, bytes) of every frame, read one packet at a time.
    fn by_packet(set: &mut InputSet) -> Vec<(u16, i64, Vec<u8>)> {
        let mut packet = RawPacket::default();
        let mut frames = Vec::new();
        while set.next_packet(&mut packet) {
            frames.push((packet.input, packet.ts.nanos(), packet.data.clone()));
        }
        frames
    }

    /// The same, read into one arena as the reader thread's batches are.
    fn into_arena(set: &mut InputSet) -> Vec<(u16, i64, Vec<u8>)> {
        let mut meta = RawPacket::default();
        let mut arena = b"earlier frames".to_vec();
        let mut frames = Vec::new();
        loop {
            let start = arena.len();
            if !set.next_frame_into(&mut meta, &mut arena) {
                assert_eq!(arena.len(), start, "nothing is appended at the end");
                break;
            }
            let bytes = arena.get(start..).unwrap_or_default().to_vec();
            frames.push((meta.input, meta.ts.nanos(), bytes));
        }
        assert!(arena.starts_with(b"earlier frames"));
        frames
    }

    #[test]
    fn frames_read_into_an_arena_are_the_frames_read_one_by_one() {
        let one = pcap(&[(1, b"first"), (3, b"third"), (4, b"")], &[1, 2, 3]);
        let two = pcap(&[(2, b"second"), (5, b"fifth")], &[]);
        let seconds = |s: i64| s * 1_000_000_000;
        assert_eq!(
            by_packet(&mut inputs(std::slice::from_ref(&one))),
            vec![
                (0, seconds(1), b"first".to_vec()),
                (0, seconds(3), b"third".to_vec()),
                (0, seconds(4), Vec::new()),
            ]
        );
        for files in [vec![one.clone()], vec![one, two]] {
            let expected = by_packet(&mut inputs(&files));
            let mut set = inputs(&files);
            assert_eq!(into_arena(&mut set), expected);
            // The cut record at the end of the first input is reported either way.
            let warnings = &set.readers().first().map(|r| r.summary.warnings.clone());
            assert!(
                warnings.as_ref().is_some_and(|w| w.len() == 1),
                "{warnings:?}"
            );
        }
        let merged = by_packet(&mut inputs(&[
            pcap(&[(1, b"a"), (3, b"c")], &[]),
            pcap(&[(2, b"b")], &[]),
        ]));
        let order: Vec<(u16, i64)> = merged.iter().map(|(input, ts, _)| (*input, *ts)).collect();
        assert_eq!(
            order,
            vec![(0, seconds(1)), (1, seconds(2)), (0, seconds(3))],
            "two inputs are merged by time"
        );
    }
}
