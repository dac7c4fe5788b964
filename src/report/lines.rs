//! `--format jsonl`: one JSON object per line, written as the analysis goes.
//!
//! Every line is `{"type": KIND, ...fields}`. Connection records are most of the output and
//! most of its cost (about 1.5 KiB and 20,000 instructions each), so with `--threads` 2 or
//! more they are rendered on a writer thread of their own: the analysis hands over the record
//! and goes on. Small lines (events, findings) are rendered where they happen, into the same
//! batch, so the writer emits every line in the order the analysis produced it and the output
//! is byte-identical to rendering inline. Batches are bounded ([`BATCH_LINES`] lines, at most
//! [`BATCHES_IN_FLIGHT`] queued), so memory does not follow the output's size.

use super::{ConnectionRecord, Event, Subject, epoch_seconds, serializer};
use crate::flow::text::ShortText;
use serde::Serialize;
use std::io::{self, Write};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::JoinHandle;

/// Lines per batch handed to the writer thread.
const BATCH_LINES: usize = 64;
/// Batches queued for the writer before the analysis waits for it.
const BATCHES_IN_FLIGHT: usize = 2;
/// The most room for rendered lines a new batch reserves: a batch of 64 event lines is about
/// 7 KiB, while one line (the `http_hops` section of a busy capture) can be megabytes.
const ROOM_KEPT_BYTES: usize = 64 << 10;

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
        self.write_rendered(|buffer| append_line(buffer, kind, value));
    }

    /// Writes an event's line ([`append_event_line`]).
    pub fn write_event(&mut self, event: &Event) {
        self.write_rendered(|buffer| append_event_line(buffer, event));
    }

    /// Writes the line `append` renders: inline, or into the writer's batch.
    fn write_rendered(&mut self, append: impl FnOnce(&mut Vec<u8>) -> io::Result<()>) {
        if self.error.is_some() {
            return;
        }
        let result = match &mut self.target {
            Target::Inline(out) => {
                self.line.clear();
                append(&mut self.line).and_then(|()| out.write_all(&self.line))
            }
            Target::Threaded(writer) => append(&mut writer.batch.rendered).and_then(|()| {
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
        // The next batch starts with room for as much as this one held (up to
        // [`ROOM_KEPT_BYTES`]): grown from nothing batch after batch, the reallocations cost
        // a tenth of rendering the event lines.
        let room = self.batch.rendered.len().min(ROOM_KEPT_BYTES);
        let batch = std::mem::replace(
            &mut self.batch,
            Batch {
                rendered: Vec::with_capacity(room),
                items: Vec::with_capacity(BATCH_LINES),
            },
        );
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
    whole_or_nothing(buffer, |buffer| append_line_unchecked(buffer, kind, value))
}

/// Runs `append`, and if it fails takes back what it appended: a batch must not keep half a
/// line.
fn whole_or_nothing(
    buffer: &mut Vec<u8>,
    append: impl FnOnce(&mut Vec<u8>) -> io::Result<()>,
) -> io::Result<()> {
    let start = buffer.len();
    let result = append(buffer);
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

/// Appends an event's line: the bytes `append_line(buffer, "event", event)` writes (a test
/// compares them), field by field in the order `Event` declares them. Events are most lines
/// of a stream (600,000 of 755,000 on the short benchmark capture), rendered on the merger,
/// the one thread every shard waits for; through the derived `Serialize` and the general
/// line framing (and a batch buffer grown anew every 64 lines) each cost about 2,100
/// instructions; about 1,100 this way.
fn append_event_line(buffer: &mut Vec<u8>, event: &Event) -> io::Result<()> {
    whole_or_nothing(buffer, |buffer| append_event_fields(buffer, event))
}

fn append_event_fields(buffer: &mut Vec<u8>, event: &Event) -> io::Result<()> {
    buffer.extend_from_slice(b"{\"type\":\"event\"");
    append_field(buffer, b",\"ts\":", &epoch_seconds(event.ts))?;
    let subject = match &event.subject {
        Subject::Connection(id) => Some(id.text()),
        Subject::Endpoint(endpoint) => Some(endpoint.text()),
        _ => None,
    };
    append_plain(buffer, b",\"subject\":", subject, &event.subject)?;
    append_field(buffer, b",\"kind\":", event.kind)?;
    if let Some(from) = &event.from {
        append_plain(buffer, b",\"from\":", Some(from.text()), from)?;
    }
    append_field(buffer, b",\"text\":", event.text.as_ref())?;
    if event.count != 1 {
        append_field(buffer, b",\"count\":", &event.count)?;
    }
    if event.bytes != 0 {
        append_field(buffer, b",\"bytes\":", &event.bytes)?;
    }
    buffer.extend_from_slice(b"}\n");
    Ok(())
}

/// `key` (its separator, quotes and colon included) and `value` as compact JSON.
fn append_field<T: Serialize + ?Sized>(
    buffer: &mut Vec<u8>,
    key: &[u8],
    value: &T,
) -> io::Result<()> {
    buffer.extend_from_slice(key);
    serializer::append_compact(buffer, value).map_err(io::Error::other)
}

/// `key` and `text` as a JSON string: connection ids and endpoints (`tcp/7`, `10.0.0.1:80`,
/// `[2001:db8::1]:443`) hold nothing JSON escapes, so they are quoted as they are. Without a
/// text (or one that did not fit), `value` is serialized.
fn append_plain<T: Serialize + ?Sized>(
    buffer: &mut Vec<u8>,
    key: &[u8],
    text: Option<ShortText>,
    value: &T,
) -> io::Result<()> {
    let Some(bytes) = text.as_ref().and_then(ShortText::as_bytes) else {
        return append_field(buffer, key, value);
    };
    buffer.extend_from_slice(key);
    buffer.push(b'"');
    buffer.extend_from_slice(bytes);
    buffer.push(b'"');
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::{ConnectionId, Endpoint};
    use crate::time::Timestamp;
    use std::net::IpAddr;

    fn endpoint(ip: &str, port: u16) -> Endpoint {
        Endpoint {
            ip: ip.parse::<IpAddr>().unwrap_or(IpAddr::from([0, 0, 0, 0])),
            port,
        }
    }

    /// The event line written field by field is the line the derived `Serialize` gives, for
    /// every kind of subject, with and without the fields that are left out by default, and
    /// with texts that need escaping.
    #[test]
    fn event_lines_are_the_serialized_events() {
        let subjects = [
            Subject::Connection(ConnectionId(7)),
            Subject::Connection(ConnectionId(u64::MAX)),
            Subject::Vrrp(51),
            Subject::Host("10.0.0.1".parse().unwrap_or(IpAddr::from([0, 0, 0, 0]))),
            Subject::Endpoint(endpoint("2001:db8::1", 443)),
            Subject::Endpoint(endpoint("255.255.255.255", 65535)),
            Subject::HttpHop(3),
            Subject::LocalHost,
        ];
        let froms = [
            None,
            Some(endpoint("192.168.1.20", 80)),
            Some(endpoint("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 65535)),
            Some(endpoint("fe80::", 0)),
        ];
        let texts = ["SYN", "", "a \"quoted\" \\ path\nwith é and \u{1}"];
        let times = [0, 1_704_067_200_000_659_123, -1_500_000_000, i64::MAX];
        let mut checked = 0;
        for subject in subjects {
            for from in froms {
                for text in texts {
                    for (count, bytes) in [(1, 0), (3, 1500)] {
                        for nanos in times {
                            let mut event = Event::new(
                                Timestamp::from_nanos(nanos),
                                subject,
                                "keepalive-probe",
                                text.to_string(),
                            );
                            event.from = from;
                            event.count = count;
                            event.bytes = bytes;
                            let (mut fast, mut general) = (Vec::new(), Vec::new());
                            assert!(append_event_line(&mut fast, &event).is_ok());
                            assert!(append_line(&mut general, "event", &event).is_ok());
                            assert_eq!(
                                String::from_utf8_lossy(&fast),
                                String::from_utf8_lossy(&general)
                            );
                            checked += 1;
                        }
                    }
                }
            }
        }
        assert_eq!(checked, 8 * 4 * 3 * 2 * 4);
    }
}
