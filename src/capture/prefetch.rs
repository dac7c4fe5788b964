//! Reading on a thread of its own (`--threads` 2 or more): frames are read, decompressed and
//! merged ahead of the analysis and handed over in batches, so file I/O and container parsing
//! overlap with the analysis instead of adding to it.
//!
//! The analysis still sees every frame once, in the same order, on one thread: the report is
//! the same as with `--threads 1`. Batches travel back to the reader to be refilled, so frame
//! buffers are allocated once and at most [`BATCHES`] × [`BATCH_FRAMES`] frames are in flight
//! (a few MiB, whatever the file size).

use super::RawPacket;
use super::merge::InputSet;
use std::ops::ControlFlow;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};

/// Frames per batch: enough that handing a batch over costs nothing per frame.
pub const BATCH_FRAMES: usize = 512;
/// Batches in circulation: one being read, one being analyzed, two waiting.
const BATCHES: usize = 4;
/// The reader reports progress every this many batches.
const PROGRESS_EVERY_BATCHES: u32 = 16;

#[derive(Default)]
struct Batch {
    frames: Vec<RawPacket>,
    len: usize,
}

impl Batch {
    /// Refills the batch; returns false once every input is exhausted.
    fn fill(&mut self, inputs: &mut InputSet) -> bool {
        self.len = 0;
        while self.len < BATCH_FRAMES {
            if self.frames.len() == self.len {
                self.frames.push(RawPacket::default());
            }
            let Some(frame) = self.frames.get_mut(self.len) else {
                return true;
            };
            if !inputs.next_packet(frame) {
                return false;
            }
            self.len += 1;
        }
        true
    }
}

/// Calls `process` on every frame of `inputs` in order, reading on another thread.
/// `report_progress` runs on the reader thread now and then. Stops early when `process`
/// breaks.
pub fn read_ahead(
    inputs: &mut InputSet,
    report_progress: &(dyn Fn(&InputSet) + Sync),
    process: &mut dyn FnMut(&RawPacket) -> ControlFlow<()>,
) {
    std::thread::scope(|scope| {
        let (full_sender, full_receiver) = sync_channel::<Batch>(BATCHES);
        let (empty_sender, empty_receiver) = sync_channel::<Batch>(BATCHES);
        for _ in 0..BATCHES {
            // Cannot fail: the receiver is alive and the channel has room for every batch.
            let _ = empty_sender.send(Batch::default());
        }
        scope.spawn(move || read(inputs, empty_receiver, full_sender, report_progress));
        // Owns its channel ends: when it returns, the reader's next send or receive fails and
        // the reader stops, so the scope never waits on a blocked thread.
        analyze(full_receiver, empty_sender, process);
    });
}

fn read(
    inputs: &mut InputSet,
    empty: Receiver<Batch>,
    full: SyncSender<Batch>,
    report_progress: &(dyn Fn(&InputSet) + Sync),
) {
    let mut batches = 0u32;
    while let Ok(mut batch) = empty.recv() {
        let more = batch.fill(inputs);
        if full.send(batch).is_err() || !more {
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
    process: &mut dyn FnMut(&RawPacket) -> ControlFlow<()>,
) {
    while let Ok(batch) = full.recv() {
        for frame in batch.frames.iter().take(batch.len) {
            if process(frame).is_break() {
                return;
            }
        }
        // The reader may be done already: then the batch is not needed, but batches still
        // queued must be analyzed.
        let _ = empty.send(batch);
    }
}
