//! `--format jsonl`: one JSON object per line, written as the analysis goes.
//!
//! Every line is `{"type": KIND, ...fields}`. Connection records are most of the output and
//! most of its cost (about 1.5 KiB and 20,000 instructions each), so with `--threads` 2 or
//! more they are rendered on a writer thread of their own: the analysis hands over the record
//! and goes on. Small lines (events, findings) are rendered where they happen, into the same
//! batch, so the writer emits every line in the order the analysis produced it and the output
//! is byte-identical to rendering inline. Batches are bounded ([`BATCH_LINES`] lines, at most
//! [`BATCHES_IN_FLIGHT`] queued), so memory does not follow the output's size.

use super::{ConnectionRecord, serializer};
use serde::Serialize;
use std::io::{self, Write};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::JoinHandle;

/// Lines per batch handed to the writer thread.
const BATCH_LINES: usize = 64;
/// Batches queued for the writer before the analysis waits for it.
const BATCHES_IN_FLIGHT: usize = 2;

/// Where JSON lines go.
pub struct LineOutput {
    target: Target,
    /// One line rendered inline, reused.
    line: Vec<u8>,
    /// The first error writing (e.g. a closed pipe); the run stops on it.
    error: Option<io::Error>,
}

enum Target {
    Inline(Box<dyn Write>),
    Threaded(Writer),
}

/// The writer thread and the batch being filled for it.
struct Writer {
    batch: Batch,
    sender: Option<SyncSender<Batch>>,
    thread: Option<JoinHandle<io::Result<()>>>,
}

/// Lines in order: each item is either bytes already rendered (ending at an offset of
/// `rendered`) or a connection record for the writer to render.
#[derive(Default)]
struct Batch {
    rendered: Vec<u8>,
    items: Vec<Item>,
}

enum Item {
    Rendered { end: usize },
    Connection(Box<ConnectionRecord>),
}

impl LineOutput {
    /// Renders and writes on the calling thread (`--threads 1`, live capture).
    pub fn inline(out: Box<dyn Write>) -> LineOutput {
        LineOutput {
            target: Target::Inline(out),
            line: Vec::new(),
            error: None,
        }
    }

    /// Renders connection records and writes on a thread of its own.
    pub fn threaded(out: Box<dyn Write + Send>) -> LineOutput {
        let (sender, receiver) = sync_channel::<Batch>(BATCHES_IN_FLIGHT);
        let thread = std::thread::spawn(move || write_batches(receiver, out));
        LineOutput {
            target: Target::Threaded(Writer {
                batch: Batch::default(),
                sender: Some(sender),
                thread: Some(thread),
            }),
            line: Vec::new(),
            error: None,
        }
    }

    /// Writes `{"type": kind, ...value}`.
    pub fn write_line<T: Serialize>(&mut self, kind: &str, value: &T) {
        if self.error.is_some() {
            return;
        }
        let result = match &mut self.target {
            Target::Inline(out) => {
                self.line.clear();
                append_line(&mut self.line, kind, value).and_then(|()| out.write_all(&self.line))
            }
            Target::Threaded(writer) => append_line(&mut writer.batch.rendered, kind, value)
                .and_then(|()| {
                    let end = writer.batch.rendered.len();
                    writer.batch.items.push(Item::Rendered { end });
                    writer.send_when_full()
                }),
        };
        self.keep_error(result);
    }

    /// Writes a connection record's line; on the writer thread when there is one.
    pub fn write_connection(&mut self, record: ConnectionRecord) {
        if self.error.is_some() {
            return;
        }
        let result = match &mut self.target {
            Target::Inline(_) => return self.write_line("connection", &record),
            Target::Threaded(writer) => {
                writer.batch.items.push(Item::Connection(Box::new(record)));
                writer.send_when_full()
            }
        };
        self.keep_error(result);
    }

    /// Writes everything still pending and flushes; with a writer thread, waits for it.
    pub fn finish(&mut self) {
        let result = match &mut self.target {
            Target::Inline(out) => out.flush(),
            Target::Threaded(writer) => writer.finish(),
        };
        self.keep_error(result);
    }

    /// The first write error so far, if any (taken: reported once).
    pub fn take_error(&mut self) -> Option<io::Error> {
        self.error.take()
    }

    fn keep_error(&mut self, result: io::Result<()>) {
        if let Err(error) = result
            && self.error.is_none()
        {
            self.error = Some(error);
        }
    }
}

impl Writer {
    fn send_when_full(&mut self) -> io::Result<()> {
        if self.batch.items.len() < BATCH_LINES {
            return Ok(());
        }
        self.send()
    }

    fn send(&mut self) -> io::Result<()> {
        let batch = std::mem::take(&mut self.batch);
        let sent = self
            .sender
            .as_ref()
            .is_some_and(|sender| sender.send(batch).is_ok());
        if sent {
            return Ok(());
        }
        // The writer thread stopped: it failed to write, and its result says why.
        self.sender = None;
        self.join()
    }

    fn finish(&mut self) -> io::Result<()> {
        if !self.batch.items.is_empty() {
            self.send()?;
        }
        self.sender = None; // closes the channel: the writer drains it and returns
        self.join()
    }

    fn join(&mut self) -> io::Result<()> {
        match self.thread.take().map(JoinHandle::join) {
            None => Ok(()),
            Some(Ok(result)) => result,
            Some(Err(_)) => Err(io::Error::other("the JSON lines writer thread panicked")),
        }
    }
}

fn write_batches(batches: Receiver<Batch>, mut out: Box<dyn Write + Send>) -> io::Result<()> {
    let mut line = Vec::new();
    while let Ok(batch) = batches.recv() {
        let mut start = 0;
        for item in &batch.items {
            match item {
                Item::Rendered { end } => {
                    out.write_all(batch.rendered.get(start..*end).unwrap_or_default())?;
                    start = *end;
                }
                Item::Connection(record) => {
                    line.clear();
                    append_line(&mut line, "connection", record.as_ref())?;
                    out.write_all(&line)?;
                }
            }
        }
    }
    out.flush()
}

/// Appends one line `{"type": kind, ...value}` to `buffer`. The value's fields follow the
/// `type` key as serialized (no intermediate `Value`: building one per line cost more than
/// the rest of the streaming output), so keys keep the struct's order. The value is
/// serialized in place: through a scratch copy, a large line (the `http_hops` section of a
/// busy capture is megabytes) was held twice. A value that is not an object (the
/// `http_hops` list) goes under its own name, so that every line is an object with a `type`
/// and `select(.type == ...)` works on the whole stream.
fn append_line<T: Serialize>(buffer: &mut Vec<u8>, kind: &str, value: &T) -> io::Result<()> {
    let start = buffer.len();
    let result = append_line_unchecked(buffer, kind, value);
    if result.is_err() {
        buffer.truncate(start);
    }
    result
}

fn append_line_unchecked<T: Serialize>(
    buffer: &mut Vec<u8>,
    kind: &str,
    value: &T,
) -> io::Result<()> {
    buffer.extend_from_slice(b"{\"type\":");
    serializer::append_compact(buffer, kind).map_err(io::Error::other)?;
    let comma_at = buffer.len();
    buffer.push(b',');
    let value_at = buffer.len();
    serializer::append_compact(buffer, value).map_err(io::Error::other)?;
    if buffer.get(value_at) == Some(&b'{') {
        buffer.remove(value_at);
        if buffer.get(value_at) == Some(&b'}') {
            buffer.remove(comma_at); // an empty object: `{"type":KIND}`
        }
    } else {
        let mut name = Vec::with_capacity(kind.len() + 3);
        serializer::append_compact(&mut name, kind).map_err(io::Error::other)?;
        name.push(b':');
        buffer.splice(value_at..value_at, name);
        buffer.push(b'}');
    }
    buffer.push(b'\n');
    Ok(())
}
