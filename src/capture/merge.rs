//! Several inputs read side by side and handed on in timestamp order.
//!
//! Each input keeps one frame read ahead; the earliest head goes next. Within one file the
//! file's own order is kept even when its timestamps go backwards (as tshark does), so a
//! clock step in one capture never reorders that capture's packets.

use super::RawPacket;
use super::file::CaptureReader;

pub struct InputSet {
    readers: Vec<CaptureReader>,
    heads: Vec<Option<RawPacket>>,
}

impl InputSet {
    pub fn new(mut readers: Vec<CaptureReader>) -> InputSet {
        let heads = readers
            .iter_mut()
            .map(|reader| {
                let mut packet = RawPacket::default();
                reader.next_packet(&mut packet).then_some(packet)
            })
            .collect();
        InputSet { readers, heads }
    }

    /// Moves the earliest pending frame into `out` (swapping buffers, no copy) and reads ahead
    /// in the input it came from. Returns false when every input is exhausted.
    pub fn next_packet(&mut self, out: &mut RawPacket) -> bool {
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
