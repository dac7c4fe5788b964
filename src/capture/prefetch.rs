//! Reading on a thread of its own (`--threads` 2 or more): frames are read, decompressed and
//! merged ahead of the analysis and handed over in batches, so file I/O and container parsing
//! overlap with the analysis instead of adding to it.
//!
//! The analysis still sees every frame once, in the same order, on one thread: the report is
//! the same as with `--threads 1`. A batch copies its frames into one byte arena and goes back
//! to the reader to be refilled, so there is no allocation per frame, and memory stays at
//! [`BATCHES`] arenas of about [`BATCH_BYTES`] each (plus one frame) whatever the file size.

use super::merge::InputSet;
use super::{Frame, LinkType, RawPacket};
use crate::time::Timestamp;
use std::ops::ControlFlow;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};

/// Frames per batch: enough that handing a batch over costs nothing per frame.
pub const BATCH_FRAMES: usize = 512;
/// Frame bytes per batch: a batch is handed over once it holds this much.
pub const BATCH_BYTES: usize = 1 << 20;
/// Batches in circulation: one being read, one being analyzed, two waiting.
const BATCHES: usize = 4;
/// The reader reports progress every this many batches.
const PROGRESS_EVERY_BATCHES: u32 = 16;

/// A frame of a batch: its bytes are `arena[start..end]`.
struct Slot {
    ts: Timestamp,
    input: u16,
    interface: u32,
    link_type: LinkType,
    original_len: u32,
    start: usize,
    end: usize,
}

#[derive(Default)]
pub struct Batch {
    arena: Vec<u8>,
    slots: Vec<Slot>,
    /// The number of the batch's first frame (frames are numbered from 1 over all inputs).
    first_number: u64,
    /// Where each frame goes, when the analysis is sharded (`crate::analyze::parallel`).
    pub routes: Vec<u16>,
}

impl Batch {
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    pub fn first_number(&self) -> u64 {
        self.first_number
    }

    pub fn frame(&self, index: usize) -> Option<Frame<'_>> {
        self.slots.get(index).map(|slot| self.frame_of(slot))
    }

    fn frame_of(&self, slot: &Slot) -> Frame<'_> {
        Frame {
            ts: slot.ts,
            input: slot.input,
            interface: slot.interface,
            link_type: slot.link_type,
            original_len: slot.original_len,
            data: self.arena.get(slot.start..slot.end).unwrap_or_default(),
        }
    }

    /// Refills the batch, each frame's facts through `scratch` and its bytes read into the
    /// arena; returns false once every input is exhausted.
    fn fill(&mut self, inputs: &mut InputSet, scratch: &mut RawPacket) -> bool {
        self.slots.clear();
        // A batch that once held a few huge frames gives the memory back.
        if self.arena.capacity() > 4 * BATCH_BYTES {
            self.arena = Vec::new();
        }
        self.arena.clear();
        self.arena.reserve(BATCH_BYTES);
        while self.slots.len() < BATCH_FRAMES && self.arena.len() < BATCH_BYTES {
            let start = self.arena.len();
            if !inputs.next_frame_into(scratch, &mut self.arena) {
                return false;
            }
            self.slots.push(Slot {
                ts: scratch.ts,
                input: scratch.input,
                interface: scratch.interface,
                link_type: scratch.link_type,
                original_len: scratch.original_len,
                start,
                end: self.arena.len(),
            });
        }
        true
    }

    pub fn frames(&self) -> impl Iterator<Item = Frame<'_>> {
        self.slots.iter().map(|slot| self.frame_of(slot))
    }
}

/// Calls `process` on every frame of `inputs` in order, reading on another thread.
/// `report_progress` runs on the reader thread now and then. Stops early when `process`
/// breaks.
pub fn read_ahead(
    inputs: &mut InputSet,
    report_progress: &(dyn Fn(&InputSet) + Sync),
    process: &mut dyn FnMut(&Frame<'_>) -> ControlFlow<()>,
) {
    std::thread::scope(|scope| {
        let (full_sender, full_receiver) = sync_channel::<Batch>(BATCHES);
        let (empty_sender, empty_receiver) = sync_channel::<Batch>(BATCHES);
        for _ in 0..BATCHES {
            // Cannot fail: the receiver is alive and the channel has room for every batch.
            let _ = empty_sender.send(Batch::default());
        }
        scope.spawn(move || {
            let mut deliver = |batch| full_sender.send(batch).is_ok();
            read(inputs, empty_receiver, &mut deliver, report_progress);
        });
        // Owns its channel ends: when it returns, the reader's next send or receive fails and
        // the reader stops, so the scope never waits on a blocked thread.
        analyze(full_receiver, empty_sender, process);
    });
}

/// Fills the batches that come back through `empty` and hands each to `deliver` (which
/// returns false when nobody takes them any more), until the inputs are exhausted.
pub fn read(
    inputs: &mut InputSet,
    empty: Receiver<Batch>,
    deliver: &mut dyn FnMut(Batch) -> bool,
    report_progress: &(dyn Fn(&InputSet) + Sync),
) {
    let mut scratch = RawPacket::default();
    let mut batches = 0u32;
    let mut frames = 0u64;
    while let Ok(mut batch) = empty.recv() {
        let more = batch.fill(inputs, &mut scratch);
        batch.first_number = frames + 1;
        frames += batch.len() as u64;
        if !deliver(batch) || !more {
            break;
        }
        batches += 1;
        if batches.is_multiple_of(PROGRESS_EVERY_BATCHES) {
            report_progress(inputs);
        }
    }
}

fn analyze(
    full: Receiver<Batch>,
    empty: SyncSender<Batch>,
    process: &mut dyn FnMut(&Frame<'_>) -> ControlFlow<()>,
) {
    while let Ok(batch) = full.recv() {
        for frame in batch.frames() {
            if process(&frame).is_break() {
                return;
            }
        }
        // The reader may be done already: then the batch is not needed, but batches still
        // queued must be analyzed.
        let _ = empty.send(batch);
    }
}
