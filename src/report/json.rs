//! `--format json`: the whole report as one JSON document (schema in docs/json.md).
//!
//! The document is the same bytes `serde_json::to_writer_pretty` would write, built faster:
//! strings are escaped a word at a time ([`serializer`]), indentation goes out in one write
//! per line ([`Indented`]), and the long arrays (connection
//! records, findings, HTTP hops: nearly all of the document) are rendered on several threads
//! in chunks, then written in order.
//!
//! Memory: the report holds one record per connection until the end (docs/performance.md
//! measures it); rendering adds at most three chunks of [`CHUNK_ITEMS`] items per thread
//! (being rendered, waiting, being written; their buffers are reused). For captures with
//! millions of connections use `--format jsonl`, which streams.

use super::{Report, serializer};
use crate::detect::Section;
use serde::Serialize;
use serde_json::ser::Formatter;
use std::io::{self, Write};
use std::sync::mpsc;

/// Array items rendered per chunk: large enough that handing a chunk between threads costs
/// nothing next to rendering it, small enough to keep the rendered text in cache.
const CHUNK_ITEMS: usize = 256;

/// Writes the report. `threads` (at least 1) render the long arrays in parallel.
pub fn write_document(report: &Report, out: &mut dyn Write, threads: usize) -> io::Result<()> {
    let mut document = Document { out, first: true };
    document.out.write_all(b"{")?;
    document.field("schema_version", &report.schema_version)?;
    document.field("inputs", &report.inputs)?;
    document.field("summary", &report.summary)?;
    document.key("connections")?;
    write_array(&report.connections, document.out, threads)?;
    document.key("findings")?;
    write_array(&report.findings, document.out, threads)?;
    for (name, section) in &report.sections {
        match section {
            Section::HttpHops(hops) => {
                document.key(name)?;
                write_array(hops, document.out, threads)?;
            }
            Section::Value(_) => document.field(name, section)?,
        }
    }
    document.out.write_all(b"\n}\n")
}

/// The top-level object, written key by key at indentation level 1.
struct Document<'a> {
    out: &'a mut dyn Write,
    first: bool,
}

impl Document<'_> {
    fn key(&mut self, name: &str) -> io::Result<()> {
        let separator: &[u8] = if self.first { b"\n  " } else { b",\n  " };
        self.first = false;
        let mut text = separator.to_vec();
        serializer::append_compact(&mut text, name)?;
        text.extend_from_slice(b": ");
        self.out.write_all(&text)
    }

    fn field<T: Serialize + ?Sized>(&mut self, name: &str, value: &T) -> io::Result<()> {
        self.key(name)?;
        let mut text = Vec::new();
        render_value(&mut text, value, 1)?;
        self.out.write_all(&text)
    }
}

/// `value` laid out as at indentation `level`, appended to `text`.
fn render_value<T: Serialize + ?Sized>(
    text: &mut Vec<u8>,
    value: &T,
    level: usize,
) -> io::Result<()> {
    serializer::append(text, Indented::at(level), value).map_err(io::Error::from)
}

/// A top-level array: chunks rendered by `threads` workers (chunk `i` by worker
/// `i % threads`), received and written in order. Each worker's channel holds one finished
/// chunk, so memory stays bounded however long the array is.
fn write_array<T: Serialize + Sync>(
    items: &[T],
    out: &mut dyn Write,
    threads: usize,
) -> io::Result<()> {
    if items.is_empty() {
        return out.write_all(b"[]");
    }
    out.write_all(b"[")?;
    let chunks: Vec<&[T]> = items.chunks(CHUNK_ITEMS).collect();
    let threads = threads.clamp(1, chunks.len());
    if threads == 1 {
        let mut text = Vec::new();
        for (index, chunk) in chunks.iter().enumerate() {
            render_chunk(chunk, index == 0, &mut text)?;
            out.write_all(&text)?;
            text.clear();
        }
    } else {
        write_chunks_in_parallel(&chunks, out, threads)?;
    }
    out.write_all(b"\n  ]")
}

fn write_chunks_in_parallel<T: Serialize + Sync>(
    chunks: &[&[T]],
    out: &mut dyn Write,
    threads: usize,
) -> io::Result<()> {
    std::thread::scope(|scope| {
        let workers: Vec<RenderWorker> = (0..threads)
            .map(|worker| {
                let (sender, rendered) = mpsc::sync_channel(1);
                let (recycle, recycled) = mpsc::channel::<Vec<u8>>();
                scope.spawn(move || {
                    let mut last_length = 0;
                    for index in (worker..chunks.len()).step_by(threads) {
                        let Some(chunk) = chunks.get(index) else {
                            break;
                        };
                        // A buffer the writer is done with, or one as large as the last
                        // chunk: growing a fresh one to a chunk's size, copy after copy, cost
                        // 3 % of all instructions.
                        let mut text = recycled
                            .try_recv()
                            .unwrap_or_else(|_| Vec::with_capacity(last_length));
                        let result = render_chunk(chunk, index == 0, &mut text).map(|_| {
                            last_length = text.len();
                            text
                        });
                        // The writer stopped (an output error): nothing more to do.
                        if sender.send(result).is_err() {
                            break;
                        }
                    }
                });
                RenderWorker { rendered, recycle }
            })
            .collect();
        for index in 0..chunks.len() {
            let worker = workers.get(index % threads);
            let mut text = worker
                .and_then(|worker| worker.rendered.recv().ok())
                .unwrap_or_else(|| Err(io::Error::other("a JSON rendering thread stopped")))?;
            out.write_all(&text)?;
            text.clear();
            // The worker may have finished: then the buffer is simply dropped.
            if let Some(worker) = worker {
                let _ = worker.recycle.send(text);
            }
        }
        Ok(())
    })
}

/// The writer's ends of one rendering thread's channels: chunks in, empty buffers back.
struct RenderWorker {
    rendered: mpsc::Receiver<io::Result<Vec<u8>>>,
    recycle: mpsc::Sender<Vec<u8>>,
}

/// Items as array elements at indentation level 2, each preceded by its separator.
fn render_chunk<T: Serialize>(
    chunk: &[T],
    first_chunk: bool,
    text: &mut Vec<u8>,
) -> io::Result<()> {
    for (index, record) in chunk.iter().enumerate() {
        let separator: &[u8] = if first_chunk && index == 0 {
            b"\n    "
        } else {
            b",\n    "
        };
        text.extend_from_slice(separator);
        render_value(text, record, 2)?;
    }
    Ok(())
}

/// serde_json's pretty layout (two spaces per level), starting at any level, with each
/// line's indentation written at once rather than one write per level.
struct Indented {
    level: usize,
    has_value: bool,
}

/// `,` and a line break, then the deepest indentation written at once: a new line of up to
/// 64 levels is one slice of it (one write instead of three).
const LINE: &[u8; 130] = &{
    let mut line = [b' '; 130];
    line[0] = b',';
    line[1] = b'\n';
    line
};

/// The bytes of [`LINE`] a struct key copies at once: lines up to level 15.
const LINE_BLOCK: usize = 32;

impl Indented {
    fn at(level: usize) -> Indented {
        Indented {
            level,
            has_value: false,
        }
    }

    /// A line break (after a `,` when `comma`) and the indentation of the current level.
    fn new_line<W: ?Sized + Write>(&self, writer: &mut W, comma: bool) -> io::Result<()> {
        let start = usize::from(!comma);
        let mut width = self.level * 2;
        let whole = LINE.get(start..2 + width);
        if let Some(line) = whole {
            return writer.write_all(line);
        }
        writer.write_all(LINE.get(start..2).unwrap_or_default())?;
        let spaces = LINE.get(2..).unwrap_or_default();
        while width > 0 {
            let part = width.min(spaces.len());
            writer.write_all(spaces.get(..part).unwrap_or_default())?;
            width -= part;
        }
        Ok(())
    }

    fn open<W: ?Sized + Write>(&mut self, writer: &mut W, bracket: &[u8]) -> io::Result<()> {
        self.level += 1;
        self.has_value = false;
        writer.write_all(bracket)
    }

    fn close<W: ?Sized + Write>(&mut self, writer: &mut W, bracket: &[u8]) -> io::Result<()> {
        self.level = self.level.saturating_sub(1);
        if self.has_value {
            self.new_line(writer, false)?;
        }
        writer.write_all(bracket)
    }

    fn item<W: ?Sized + Write>(&mut self, writer: &mut W, first: bool) -> io::Result<()> {
        self.new_line(writer, !first)
    }
}

/// `,` (unless `first`), the line break and indentation, and `"key": `, in one reservation.
impl serializer::Layout for Indented {
    fn struct_key(&mut self, out: &mut Vec<u8>, first: bool, key: &'static str) -> io::Result<()> {
        let start = usize::from(first);
        let line_length = 2 + self.level * 2 - start;
        let block = LINE.get(start..start + LINE_BLOCK);
        match block.and_then(|block| <&[u8; LINE_BLOCK]>::try_from(block).ok()) {
            // A block of a known size is copied with a few moves; a slice of the line's
            // length took a `memcpy` call. The bytes past the line are cut off again.
            Some(block) if line_length <= LINE_BLOCK => {
                let at = out.len();
                out.reserve(LINE_BLOCK + key.len() + 4);
                out.extend_from_slice(block);
                out.truncate(at + line_length);
            }
            // Deeper than a block reaches (no report is): the indentation in parts.
            _ => self.new_line(out, !first)?,
        }
        out.push(b'"');
        out.extend_from_slice(key.as_bytes());
        out.extend_from_slice(b"\": ");
        Ok(())
    }
}

impl Formatter for Indented {
    fn begin_array<W: ?Sized + Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.open(writer, b"[")
    }

    fn end_array<W: ?Sized + Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.close(writer, b"]")
    }

    fn begin_array_value<W: ?Sized + Write>(
        &mut self,
        writer: &mut W,
        first: bool,
    ) -> io::Result<()> {
        self.item(writer, first)
    }

    fn end_array_value<W: ?Sized + Write>(&mut self, _writer: &mut W) -> io::Result<()> {
        self.has_value = true;
        Ok(())
    }

    fn begin_object<W: ?Sized + Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.open(writer, b"{")
    }

    fn end_object<W: ?Sized + Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.close(writer, b"}")
    }

    fn begin_object_key<W: ?Sized + Write>(
        &mut self,
        writer: &mut W,
        first: bool,
    ) -> io::Result<()> {
        self.item(writer, first)
    }

    fn begin_object_value<W: ?Sized + Write>(&mut self, writer: &mut W) -> io::Result<()> {
        writer.write_all(b": ")
    }

    fn end_object_value<W: ?Sized + Write>(&mut self, _writer: &mut W) -> io::Result<()> {
        self.has_value = true;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The layout must stay byte-identical to serde_json's own pretty printer at level 0.
    #[test]
    fn indented_writes_what_the_pretty_printer_writes() {
        let mut deep = json!(1);
        for _ in 0..70 {
            deep = json!([deep]);
        }
        let value = json!({
            "a": [], "b": {}, "c": [1, [2, []], {"d": {"e": [{}]}}], "f": "x\ny", "g": null,
            "deep": deep,
        });
        let mut ours = Vec::new();
        render_value(&mut ours, &value, 0).unwrap();
        assert_eq!(
            String::from_utf8(ours).unwrap(),
            serde_json::to_string_pretty(&value).unwrap()
        );
    }

    /// Struct keys take their own path (`struct_key`): at every level from the first to
    /// past what one block of indentation reaches and past `LINE` itself, first and later
    /// fields alike.
    #[test]
    fn struct_keys_are_the_pretty_printers_bytes_at_every_depth() {
        #[derive(Serialize)]
        struct Level {
            name: &'static str,
            inner: Option<Box<Level>>,
            list: Vec<u8>,
        }
        let mut nested: Option<Box<Level>> = None;
        for _ in 0..LINE.len() {
            nested = Some(Box::new(Level {
                name: "x",
                inner: nested,
                list: vec![1],
            }));
        }
        for level in [0, 1, 7, 15, 16, 70] {
            let mut ours = Vec::new();
            render_value(&mut ours, &nested, level).unwrap();
            let mut expected = Vec::new();
            let indent = "  ".repeat(level);
            let formatter = serde_json::ser::PrettyFormatter::new();
            let mut serializer = serde_json::Serializer::with_formatter(&mut expected, formatter);
            nested.serialize(&mut serializer).unwrap();
            // serde_json starts at level 0: its lines get the deeper level's indentation.
            let expected = String::from_utf8(expected)
                .unwrap()
                .replace('\n', &format!("\n{indent}"));
            assert_eq!(String::from_utf8(ours).unwrap(), expected, "level {level}");
        }
    }

    /// Arrays longer than a chunk, rendered on several threads, are written in order with
    /// the pretty printer's separators at chunk edges.
    #[test]
    fn long_arrays_are_the_pretty_printers_bytes_whatever_the_threads() {
        let items: Vec<serde_json::Value> = (0..CHUNK_ITEMS * 3 + 5)
            .map(|i| json!({"id": i, "list": [i, "x\ny"], "empty": {}}))
            .collect();
        let expected = serde_json::to_string_pretty(&json!({"empty": [], "items": items})).unwrap();
        for threads in [1, 2, 5] {
            let mut out = Vec::new();
            let mut document = Document {
                out: &mut out,
                first: true,
            };
            document.out.write_all(b"{").unwrap();
            document.key("empty").unwrap();
            write_array::<serde_json::Value>(&[], document.out, threads).unwrap();
            document.key("items").unwrap();
            write_array(&items, document.out, threads).unwrap();
            document.out.write_all(b"\n}").unwrap();
            assert_eq!(
                String::from_utf8(out).unwrap(),
                expected,
                "threads {threads}"
            );
        }
    }
}
